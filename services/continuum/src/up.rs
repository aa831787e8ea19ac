//! `continuum up`: the four services in one process, each on its own port with its own health and
//! reflection and on a runtime of its own thread (`--service-threads`), and the HTTP gateway (FHIR R4 at
//! /fhir, the coordinator console at /) in front of them, sharing one shutdown signal. Under `--demo` the
//! console offers a development sign-in as demo users. Storage is the embedded default unless the
//! environment names a PostgreSQL or Redis URL.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::Parser;
use continuum_runtime::{CommonSettings, Shutdown};
use tokio::sync::oneshot;

/// Arguments of `continuum up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Seed a demo directory (two organizations) when the directory is empty, and print example calls.
    #[arg(long)]
    pub demo: bool,
    /// Address to bind every service on.
    #[arg(long, default_value = "127.0.0.1", env = "CONTINUUM_HOST")]
    pub host: IpAddr,
    /// Intake port.
    #[arg(long, default_value_t = 50051)]
    pub intake_port: u16,
    /// Matching port.
    #[arg(long, default_value_t = 50052)]
    pub matching_port: u16,
    /// Referral port.
    #[arg(long, default_value_t = 50053)]
    pub referral_port: u16,
    /// Waitlist port.
    #[arg(long, default_value_t = 50054)]
    pub waitlist_port: u16,
    /// Gateway (HTTP, FHIR R4 at /fhir) port; 0 picks a free one (printed).
    #[arg(long, default_value_t = 8080)]
    pub gateway_port: u16,
    /// Worker threads of each service's own runtime. Each of the four services runs on a runtime of its
    /// own thread, as if it were its own process: with 1 (the default) a single-threaded one, which
    /// spends least per call (no work stealing, no waking of idle workers between the services' hops);
    /// more lets one service use more than one core.
    #[arg(long, default_value_t = 1, env = "CONTINUUM_SERVICE_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub service_threads: u16,
    /// Storage and shutdown settings shared by the four services.
    #[command(flatten)]
    pub common: CommonSettings,
}

/// Addresses the four services listen on.
#[derive(Clone, Debug)]
pub struct Addresses {
    /// Intake.
    pub intake: SocketAddr,
    /// Matching.
    pub matching: SocketAddr,
    /// Referral.
    pub referral: SocketAddr,
    /// Waitlist.
    pub waitlist: SocketAddr,
}

/// Peer address as a client dials it (a wildcard bind is dialled on loopback).
fn dial(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() }
}

/// The runtime a service runs on under `up`: single-threaded for one worker, else multi-threaded with
/// that many workers (named after the service).
fn service_runtime(name: &str, workers: u16) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.into())
            .thread_name(format!("{name}-worker"))
            .enable_all()
            .build()
    }
}

/// Builds a service and runs it on a runtime of its own thread (`workers` as [`UpArgs::service_threads`]):
/// answers once it is built, or with why it could not be, and hands back the receiver of what its run
/// ends with (closed without a value if the service thread panicked).
async fn start_on_own_runtime<A, B, BF, R, RF>(
    name: &'static str,
    workers: u16,
    build: B,
    run: R,
    shutdown: Shutdown,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<()>>>
where
    B: FnOnce() -> BF + Send + 'static,
    BF: Future<Output = anyhow::Result<A>>,
    R: FnOnce(A, Shutdown) -> RF + Send + 'static,
    RF: Future<Output = anyhow::Result<()>>,
{
    let (built_tx, built_rx) = oneshot::channel::<anyhow::Result<()>>();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = match service_runtime(name, workers) {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = built_tx.send(Err(anyhow::Error::new(e).context("runtime")));
                    return;
                }
            };
            runtime.block_on(async move {
                match build().await {
                    Ok(app) => {
                        let _ = built_tx.send(Ok(()));
                        let _ = done_tx.send(run(app, shutdown).await);
                    }
                    Err(e) => {
                        let _ = built_tx.send(Err(e));
                    }
                }
            });
        })
        .with_context(|| format!("starting the {name} thread"))?;
    built_rx.await.map_err(|_| anyhow::anyhow!("the {name} thread ended while starting"))??;
    Ok(done_rx)
}

/// Runs the four services until SIGINT/SIGTERM.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
    // A service that fails to start stops the ones already running on their threads.
    let stop_on_early_return = shutdown.clone().drop_guard();
    let addrs = Addresses {
        intake: SocketAddr::new(args.host, args.intake_port),
        matching: SocketAddr::new(args.host, args.matching_port),
        referral: SocketAddr::new(args.host, args.referral_port),
        waitlist: SocketAddr::new(args.host, args.waitlist_port),
    };
    let mut common = args.common.clone();
    crate::dev_auth::ensure_dev_secret(&mut common)?;
    if common.auth.dev_secret.is_some() {
        // The development setup serves the demo organizations (the token printed below is one of theirs).
        crate::dev_auth::ensure_demo_organizations(&common)?;
    }

    let mut matching_settings = matching::config::Settings::new(addrs.matching, common.clone());
    // Capacity rising in matching makes waitlist offers (the capacity-event worker).
    matching_settings.waitlist_addr = Some(dial(addrs.waitlist));
    let matching = start_on_own_runtime(
        "matching",
        args.service_threads,
        move || matching::startup::Application::build(matching_settings),
        matching::startup::Application::run,
        shutdown.clone(),
    )
    .await
    .context("starting matching")?;

    let mut referral_settings = referral::config::Settings::try_parse_from(["referral"])?;
    referral_settings.listen_addr = addrs.referral;
    referral_settings.matching_addr = dial(addrs.matching);
    referral_settings.intake_addr = dial(addrs.intake);
    referral_settings.waitlist_addr = dial(addrs.waitlist);
    referral_settings.common = common.clone();
    let referral = start_on_own_runtime(
        "referral",
        args.service_threads,
        move || referral::startup::Application::build(referral_settings),
        referral::startup::Application::run,
        shutdown.clone(),
    )
    .await
    .context("starting referral")?;

    let mut waitlist_settings = waitlist::config::Settings::try_parse_from(["waitlist"])?;
    waitlist_settings.listen_addr = addrs.waitlist;
    waitlist_settings.referral_addr = dial(addrs.referral);
    waitlist_settings.intake_addr = dial(addrs.intake);
    waitlist_settings.matching_addr = dial(addrs.matching);
    waitlist_settings.common = common.clone();
    let waitlist = start_on_own_runtime(
        "waitlist",
        args.service_threads,
        move || waitlist::startup::Application::build(waitlist_settings),
        waitlist::startup::Application::run,
        shutdown.clone(),
    )
    .await
    .context("starting waitlist")?;

    let intake_settings = intake::config::Settings::new(
        addrs.intake,
        [dial(addrs.matching), dial(addrs.referral), dial(addrs.waitlist)],
        common.clone(),
    );
    let intake = start_on_own_runtime(
        "intake",
        args.service_threads,
        move || intake::startup::Application::build(intake_settings),
        intake::startup::Application::run,
        shutdown.clone(),
    )
    .await
    .context("starting intake")?;

    let minter = continuum_auth::Minter::from_settings(&common.auth)?;
    let mut gateway_settings = gateway::config::Settings::new(
        SocketAddr::new(args.host, args.gateway_port),
        [dial(addrs.intake), dial(addrs.matching), dial(addrs.referral), dial(addrs.waitlist)],
    );
    // Console sessions in the same Redis as the services' holds, when there is one.
    gateway_settings.redis_url = common.redis_url.clone();
    gateway_settings.cache_namespace = common.cache_namespace.clone();
    if args.demo && common.auth.dev_secret.is_some() {
        // The console's development sign-in: demo users, tokens minted here with the local development
        // secret (the gateway gets a minting function, never the secret). Only `up --demo` does this.
        gateway_settings.dev_sign_in = Some(crate::demo::dev_sign_in(minter.clone()));
    }
    let gateway = gateway::startup::Application::build(gateway_settings)
        .await
        .context("starting the gateway")?;
    let gateway_addr = dial(gateway.local_addr()?);

    let mut tasks = tokio::task::JoinSet::new();
    for (name, done) in
        [("matching", matching), ("referral", referral), ("waitlist", waitlist), ("intake", intake)]
    {
        tasks.spawn(async move {
            done.await.unwrap_or_else(|_| Err(anyhow::anyhow!("the {name} thread ended (a panic)")))
        });
    }
    tasks.spawn(gateway.run(shutdown.clone()));

    let storage = if common.database_url.is_some() {
        "PostgreSQL".to_owned()
    } else {
        format!("SQLite under {}", common.data_dir.display())
    };
    let cache = if common.redis_url.is_some() { "Redis" } else { "in-process" };
    println!(
        "Continuum is up ({storage}; {cache} cache). Plaintext gRPC on loopback: TLS is off on this local setup."
    );
    println!("  intake   {}", dial(addrs.intake));
    println!("  matching {}", dial(addrs.matching));
    println!("  referral {}", dial(addrs.referral));
    println!("  waitlist {}", dial(addrs.waitlist));
    println!("  gateway  http://{gateway_addr}  (FHIR R4: http://{gateway_addr}/fhir/metadata)");
    println!(
        "  console  http://{gateway_addr}/  (coordinator console: worklist, waitlist board, client path)"
    );
    if args.demo {
        let seeded = crate::demo::seed_if_empty(&dial(addrs.matching), &minter)
            .await
            .context("seeding the demo directory")?;
        if seeded > 0 {
            println!("Seeded a demo directory of {seeded} providers in two organizations.");
        } else {
            println!("The directory already has providers; nothing seeded.");
        }
        println!("{}", crate::demo::how_to_call(&dial(addrs.intake), &dial(addrs.matching)));
    }
    if common.auth.dev_secret.is_some() {
        let token = minter.dev_user_token(
            "demo-coordinator",
            crate::demo::HARBOR_ORG,
            &[
                continuum_auth::Role::Coordinator,
                continuum_auth::Role::Clinician,
                continuum_auth::Role::IntakeClerk,
            ],
            std::time::Duration::from_secs(12 * 3600),
        )?;
        println!(
            "\nA development token (coordinator, clinician and intake clerk of the demo organization, valid 12 hours):"
        );
        println!("  export TOKEN={token}");
        println!(
            "Send it as: grpcurl -H \"authorization: Bearer $TOKEN\" ...   (mint others with `continuum token mint`)"
        );
    }
    println!("Press Ctrl-C to stop.");
    let _ = stop_on_early_return.disarm();

    // The first service to stop with an error stops the others.
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                shutdown.cancel();
                first_error.get_or_insert(e);
            }
            Err(e) => {
                shutdown.cancel();
                first_error.get_or_insert(anyhow::anyhow!("service task failed: {e}"));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The thread a service is built on and the thread it runs on.
    async fn threads_of(workers: u16) -> (std::thread::ThreadId, std::thread::ThreadId) {
        let shutdown = Shutdown::new();
        let (ran_tx, ran_rx) = oneshot::channel();
        let done = start_on_own_runtime(
            "test-service",
            workers,
            || async { Ok(std::thread::current().id()) },
            move |built_on, stop: Shutdown| async move {
                stop.cancelled().await;
                let _ = ran_tx.send((built_on, std::thread::current().id()));
                Ok(())
            },
            shutdown.clone(),
        )
        .await
        .expect("built");
        shutdown.cancel();
        done.await.expect("an answer").expect("ran");
        ran_rx.await.expect("ran")
    }

    #[tokio::test]
    async fn a_service_is_built_and_run_on_a_thread_of_its_own() {
        let caller = std::thread::current().id();
        let (built_on, ran_on) = threads_of(1).await;
        assert_ne!(built_on, caller, "built on the caller's thread");
        assert_eq!(ran_on, built_on, "a single-threaded service runs where it was built");
        let (built_on, ran_on) = threads_of(2).await;
        assert_ne!(built_on, caller);
        assert_ne!(ran_on, caller, "a multi-threaded service runs on its own workers");
    }

    #[tokio::test]
    async fn a_build_error_fails_the_start_and_a_run_error_or_panic_reaches_the_caller() {
        let err = start_on_own_runtime(
            "test-service",
            1,
            || async { Err::<(), _>(anyhow::anyhow!("no database")) },
            |(), _| async { Ok(()) },
            Shutdown::new(),
        )
        .await
        .expect_err("a build error");
        assert!(err.to_string().contains("no database"), "{err:#}");

        let done = start_on_own_runtime(
            "test-service",
            1,
            || async { Ok(()) },
            |(), _| async { Err(anyhow::anyhow!("port taken")) },
            Shutdown::new(),
        )
        .await
        .expect("built");
        let ended = done.await.expect("an answer").expect_err("the run's error");
        assert!(ended.to_string().contains("port taken"), "{ended:#}");

        let done = start_on_own_runtime(
            "test-service",
            1,
            || async { Ok(()) },
            |(), _| async { panic!("a bug") },
            Shutdown::new(),
        )
        .await
        .expect("built");
        assert!(done.await.is_err(), "a panicked service closes its answer without a value");
    }
}
