//! `continuum bench intake`: the end-to-end load benchmark. A Rust gRPC client (so the load generator is
//! not the bottleneck) submits routine intakes, each with its own idempotency key, to a running stack at a
//! fixed number of requests in flight, and reports throughput, latency percentiles and how the intakes were
//! routed. With `--pgbench-url` it measures, in the same run and at the same concurrency, PostgreSQL's own
//! one-row insert through `pgbench`: the reference the results are read against (machines here are noisy,
//! so only a ratio measured in one run means anything).
//!
//! The intakes carry no real person: a synthetic name, a fixed birth date, PHQ-9 answers that score
//! moderate (routine routing), consent to share with the recipient. They are referred while the directory
//! has open slots and waitlisted after; the report counts both. Nothing of them is printed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

/// The `authorization` header value every call carries.
pub type Bearer = tonic::metadata::MetadataValue<tonic::metadata::Ascii>;

/// `continuum bench intake` options.
#[derive(Clone, Debug, Args)]
pub struct IntakeBenchArgs {
    /// The intake service.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub addr: String,
    /// Bearer token of an intake clerk of `--org` (`continuum token mint ... --role intake_clerk`).
    #[arg(long, env = "CONTINUUM_BENCH_TOKEN")]
    pub token: String,
    /// The submitting organization (UUID).
    #[arg(long, default_value = "0190d5a0-0000-7000-8000-000000000001")]
    pub org: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Intakes to submit in all.
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Unmeasured intakes sent first (connection set-up, caches, JIT of the database's plans).
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    /// PostgreSQL URL for the reference: `pgbench` one-row inserts at the same concurrency, in this run.
    #[arg(long)]
    pub pgbench_url: Option<String>,
    /// Seconds the pgbench reference runs.
    #[arg(long, default_value_t = 10)]
    pub pgbench_secs: u64,
    /// Times a call answered UNAVAILABLE is sent again with the same idempotency key (after 200 ms), as
    /// a clinic's client does: for runs where a dependency blinks. The latency counts every attempt.
    #[arg(long, default_value_t = 0)]
    pub retries: usize,
}

/// Latency percentiles and throughput of one measured run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Calls answered OK.
    pub ok: usize,
    /// Calls answered with an error, by gRPC code name (after any retries).
    pub errors: BTreeMap<String, usize>,
    /// Calls sent again after an UNAVAILABLE answer (`--retries`).
    pub retried: usize,
    /// Intakes by routing status.
    pub routed: BTreeMap<String, usize>,
    /// Completed calls per second over the run.
    pub throughput: f64,
    /// Median latency (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Slowest call (ms).
    pub max_ms: f64,
}

/// The `q`-quantile (0..=1) of sorted latencies, nearest rank; 0 when there are none.
pub fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// One synthetic intake with its own idempotency key.
fn intake(args: &IntakeBenchArgs, run: &str, n: usize) -> pb::SubmitIntakeRequest {
    pb::SubmitIntakeRequest {
        idempotency_key: format!("bench-{run}-{n}"),
        organization_id: args.org.clone(),
        client: Some(pb::ClientDetails {
            given_name: "Bench".into(),
            family_name: format!("Client{n}"),
            date_of_birth: Some(common::Date { year: 1990, month: 4, day: 12 }),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
            ..Default::default()
        }),
        screeners: Some(pb::Screeners {
            phq9: Some(pb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }),
            ..Default::default()
        }),
        consent: Some(pb::Consent { share_with_referral_recipient: true }),
        ..Default::default()
    }
}

/// Submits `count` intakes numbered from `first` with `concurrency` in flight; returns the latencies of
/// the successful calls, the outcome counts and the wall time.
async fn drive(
    channel: Channel,
    bearer: &Bearer,
    args: &IntakeBenchArgs,
    run: &str,
    first: usize,
    count: usize,
    progress: bool,
) -> (Vec<Duration>, Summary, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::with_capacity(count), Summary::empty())));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (channel, next, done, results, bearer, args, run) = (
            channel.clone(),
            next.clone(),
            done.clone(),
            results.clone(),
            bearer.clone(),
            args.clone(),
            run.to_owned(),
        );
        workers.spawn(async move {
            let mut client = IntakeServiceClient::new(channel);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                let mut attempts = 0;
                let reply = loop {
                    let mut req = tonic::Request::new(intake(&args, &run, first + i));
                    req.metadata_mut().insert("authorization", bearer.clone());
                    match client.submit_intake(req).await {
                        Err(e)
                            if e.code() == tonic::Code::Unavailable && attempts < args.retries =>
                        {
                            attempts += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        reply => break reply,
                    }
                };
                let took = t.elapsed();
                let mut r = results.lock().await;
                r.1.retried += usize::from(attempts > 0);
                match reply {
                    Ok(reply) => {
                        r.0.push(took);
                        r.1.ok += 1;
                        let status = reply
                            .into_inner()
                            .intake
                            .and_then(|i| i.routing)
                            .and_then(|d| pb::RoutingStatus::try_from(d.status).ok())
                            .map_or("UNKNOWN", |s| s.as_str_name());
                        *r.1.routed
                            .entry(status.trim_start_matches("ROUTING_STATUS_").to_owned())
                            .or_default() += 1;
                    }
                    Err(e) => *r.1.errors.entry(format!("{:?}", e.code())).or_default() += 1,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    if progress {
        let ticker = {
            let done = done.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let d = done.load(Ordering::Relaxed);
                    let secs = started.elapsed().as_secs_f64().max(1e-9);
                    let width = 30;
                    let filled = (d * width / count.max(1)).min(width);
                    eprint!(
                        "\r[{}{}] {d}/{count}  {:.0}/s   ",
                        "#".repeat(filled),
                        " ".repeat(width - filled),
                        d as f64 / secs
                    );
                    let _ = std::io::stderr().flush();
                }
            })
        };
        while workers.join_next().await.is_some() {}
        ticker.abort();
        eprintln!();
    } else {
        while workers.join_next().await.is_some() {}
    }
    let wall = started.elapsed();
    let (mut latencies, mut summary) = std::mem::take(&mut *results.lock().await);
    latencies.sort_unstable();
    summary.throughput =
        (summary.ok + summary.errors.values().sum::<usize>()) as f64 / wall.as_secs_f64().max(1e-9);
    summary.p50_ms = quantile(&latencies, 0.50);
    summary.p90_ms = quantile(&latencies, 0.90);
    summary.p99_ms = quantile(&latencies, 0.99);
    summary.max_ms = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    (latencies, summary, wall)
}

impl Summary {
    fn empty() -> Self {
        Self {
            ok: 0,
            errors: BTreeMap::new(),
            retried: 0,
            routed: BTreeMap::new(),
            throughput: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

impl Default for Summary {
    fn default() -> Self {
        Self::empty()
    }
}

/// PostgreSQL's one-row insert through pgbench at `clients` connections for `secs` seconds:
/// (transactions per second, average latency in ms).
pub fn pgbench_reference(url: &str, clients: usize, secs: u64) -> anyhow::Result<(f64, f64)> {
    let psql = |sql: &str| -> anyhow::Result<()> {
        let out = Command::new("psql").args([url, "-qtAc", sql]).output()?;
        anyhow::ensure!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    psql(
        "create table if not exists continuum_bench_reference (id bigserial primary key, key text not null, at timestamptz not null default now())",
    )?;
    let script = std::env::temp_dir().join(format!("continuum-pgbench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        "insert into continuum_bench_reference (key) values (md5(random()::text));\n",
    )?;
    let threads = clients.clamp(1, 2).to_string();
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.max(1).to_string(),
            "-j",
            &threads,
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output();
    let _ = std::fs::remove_file(&script);
    let _ = psql("drop table if exists continuum_bench_reference");
    let out = out?;
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let number_after = |label: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
        line.split('=').nth(1)?.split_whitespace().next()?.parse().ok()
    };
    let tps = number_after("tps").ok_or_else(|| anyhow::anyhow!("no tps in pgbench output"))?;
    let latency = number_after("latency average").unwrap_or(0.0);
    Ok((tps, latency))
}

/// A channel to `addr` (no Nagle delay) and the `authorization` value of `token`: what every `continuum
/// bench` subcommand starts with.
pub async fn connect(addr: &str, token: &str) -> anyhow::Result<(Channel, Bearer)> {
    let channel = Endpoint::from_shared(addr.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {addr}: {e}"))?;
    let bearer: Bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| anyhow::anyhow!("the token is not a valid header value"))?;
    Ok((channel, bearer))
}

/// Runs the intake benchmark and prints its table (markdown, for docs/benchmarks.md).
pub async fn intake_bench(args: IntakeBenchArgs) -> anyhow::Result<()> {
    let (channel, bearer) = connect(&args.addr, &args.token).await?;
    let run = uuid_like_run_id();
    if args.warmup > 0 {
        let warm =
            IntakeBenchArgs { concurrency: args.concurrency.min(args.warmup), ..args.clone() };
        let (_, s, _) = drive(channel.clone(), &bearer, &warm, &run, 0, args.warmup, false).await;
        anyhow::ensure!(s.ok > 0, "every warm-up call failed: {:?}", s.errors);
    }
    let (_, summary, wall) =
        drive(channel, &bearer, &args, &run, args.warmup, args.count, true).await;
    let reference = match &args.pgbench_url {
        Some(url) => Some(pgbench_reference(url, args.concurrency, args.pgbench_secs)?),
        None => None,
    };
    println!(
        "| in flight | intakes | wall (s) | intakes/s | p50 ms | p90 ms | p99 ms | max ms | routed | errors | pgbench insert/s (same run) | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let routed =
        summary.routed.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let mut errors = if summary.errors.is_empty() {
        "0".to_owned()
    } else {
        summary.errors.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    };
    if summary.retried > 0 {
        errors.push_str(&format!(" ({} retried)", summary.retried));
    }
    let (reference, ratio) = match reference {
        Some((tps, lat)) => {
            (format!("{tps:.0} ({lat:.2} ms avg)"), format!("{:.3}", summary.throughput / tps))
        }
        None => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "| {} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {routed} | {errors} | {reference} | {ratio} |",
        args.concurrency,
        args.count,
        wall.as_secs_f64(),
        summary.throughput,
        summary.p50_ms,
        summary.p90_ms,
        summary.p99_ms,
        summary.max_ms,
    );
    Ok(())
}

/// A run id for idempotency keys: distinct per run, so a second run never replays the first.
fn uuid_like_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        let sorted = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(quantile(&sorted, 0.5), 5.0);
        assert_eq!(quantile(&sorted, 0.9), 9.0);
        assert_eq!(quantile(&sorted, 0.99), 10.0);
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn every_intake_has_its_own_key() {
        let args = IntakeBenchArgs {
            addr: String::new(),
            token: String::new(),
            org: "0190d5a0-0000-7000-8000-000000000001".into(),
            concurrency: 1,
            count: 1,
            warmup: 0,
            pgbench_url: None,
            pgbench_secs: 1,
            retries: 0,
        };
        let (a, b) = (intake(&args, "r", 1), intake(&args, "r", 2));
        assert_ne!(a.idempotency_key, b.idempotency_key);
        assert_eq!(a.organization_id, args.org);
    }
}
