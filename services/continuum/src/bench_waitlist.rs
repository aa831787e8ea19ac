//! `continuum bench waitlist`: what a coordinator's screens ask of a long waitlist, timed against a running
//! stack — the board's first page (`ListWaitlist`, 200 entries in fair-aging order), a wait estimate
//! (`EstimateWait` of an entry on that page) and the wait metrics with 12 weeks of the length series
//! (`GetWaitlistMetrics`, which reads every entry the organization ever enqueued). Run with
//! `scripts/bench-memory.sh` beside a 100,000-entry list and intake load, so its answers and the process's
//! RSS are measured under the load the issue names. Prints one markdown row per call.

use std::time::{Duration, Instant};

use clap::Args;
use continuum_proto::waitlist::v1 as pb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;

use crate::bench::{Bearer, quantile};

/// `continuum bench waitlist` options.
#[derive(Clone, Debug, Args)]
pub struct WaitlistBenchArgs {
    /// The waitlist service.
    #[arg(long, default_value = "http://127.0.0.1:50054")]
    pub addr: String,
    /// Bearer token of a coordinator of the organization (`continuum token mint ... --role coordinator`).
    #[arg(long, env = "CONTINUUM_BENCH_TOKEN")]
    pub token: String,
    /// Times each call is made (one at a time).
    #[arg(long, default_value_t = 10)]
    pub rounds: usize,
}

/// The latencies of one call, and what its last answer held.
struct Timed {
    latencies: Vec<Duration>,
    held: String,
}

impl Timed {
    fn row(mut self, call: &str) -> String {
        self.latencies.sort();
        format!(
            "| {call} | {} | {:.1} | {:.1} | {} |",
            self.latencies.len(),
            quantile(&self.latencies, 0.5),
            quantile(&self.latencies, 1.0),
            self.held
        )
    }
}

/// `msg` with the bearer token.
fn request<T>(bearer: &Bearer, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", bearer.clone());
    r
}

/// Runs the reads and prints their table.
pub async fn waitlist_bench(args: WaitlistBenchArgs) -> anyhow::Result<()> {
    let (channel, bearer) = crate::bench::connect(&args.addr, &args.token).await?;
    let mut client =
        WaitlistServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
    let rounds = args.rounds.max(1);

    let mut page = Timed { latencies: Vec::new(), held: String::new() };
    let mut first_entry = None;
    for _ in 0..rounds {
        let t = Instant::now();
        let got = client
            .list_waitlist(request(
                &bearer,
                pb::ListWaitlistRequest { page_size: 200, ..Default::default() },
            ))
            .await?
            .into_inner();
        page.latencies.push(t.elapsed());
        page.held = format!("{} entries", got.entries.len());
        first_entry = got.entries.last().map(|e| e.id.clone());
    }
    let entry_id =
        first_entry.ok_or_else(|| anyhow::anyhow!("the waitlist is empty: nothing to measure"))?;

    let mut estimate = Timed { latencies: Vec::new(), held: String::new() };
    for _ in 0..rounds {
        let t = Instant::now();
        let got = client
            .estimate_wait(request(&bearer, pb::EstimateWaitRequest { entry_id: entry_id.clone() }))
            .await?
            .into_inner();
        estimate.latencies.push(t.elapsed());
        estimate.held = format!("{} ahead", got.position);
    }

    let mut metrics = Timed { latencies: Vec::new(), held: String::new() };
    for _ in 0..rounds {
        let t = Instant::now();
        let got = client
            .get_waitlist_metrics(request(
                &bearer,
                pb::GetWaitlistMetricsRequest { length_weeks: 12, ..Default::default() },
            ))
            .await?
            .into_inner();
        metrics.latencies.push(t.elapsed());
        let row = got.organizations.into_iter().next().unwrap_or_default();
        let today = row.length_by_band.last().map_or(0, |p| p.urgent + p.soon + p.routine);
        metrics.held =
            format!("{} waiting, {} placed; series today {today}", row.waiting, row.placed);
    }

    println!("| call (one at a time) | calls | p50 ms | max ms | last answer |");
    println!("|---|---|---|---|---|");
    println!("{}", page.row("ListWaitlist, first page of 200"));
    println!("{}", estimate.row("EstimateWait, the 200th entry"));
    println!("{}", metrics.row("GetWaitlistMetrics, 12 weeks of length"));
    Ok(())
}
