//! `continuum up`: the four services in one process, each on its own port with its own health and
//! reflection, and the HTTP gateway (FHIR R4 at /fhir, the coordinator console at /) in front of them,
//! sharing one shutdown signal. Under `--demo` the console offers a development sign-in as demo users. Storage is the embedded default unless the environment names a
//! PostgreSQL or Redis URL.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::Parser;
use continuum_runtime::{CommonSettings, Shutdown};

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

/// Runs the four services until SIGINT/SIGTERM.
pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
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
    let matching = matching::startup::Application::build(matching_settings)
        .await
        .context("starting matching")?;

    let mut referral_settings = referral::config::Settings::try_parse_from(["referral"])?;
    referral_settings.listen_addr = addrs.referral;
    referral_settings.matching_addr = dial(addrs.matching);
    referral_settings.intake_addr = dial(addrs.intake);
    referral_settings.waitlist_addr = dial(addrs.waitlist);
    referral_settings.common = common.clone();
    let referral = referral::startup::Application::build(referral_settings)
        .await
        .context("starting referral")?;

    let mut waitlist_settings = waitlist::config::Settings::try_parse_from(["waitlist"])?;
    waitlist_settings.listen_addr = addrs.waitlist;
    waitlist_settings.referral_addr = dial(addrs.referral);
    waitlist_settings.intake_addr = dial(addrs.intake);
    waitlist_settings.matching_addr = dial(addrs.matching);
    waitlist_settings.common = common.clone();
    let waitlist = waitlist::startup::Application::build(waitlist_settings)
        .await
        .context("starting waitlist")?;

    let intake = intake::startup::Application::build(intake::config::Settings::new(
        addrs.intake,
        [dial(addrs.matching), dial(addrs.referral), dial(addrs.waitlist)],
        common.clone(),
    ))
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
    tasks.spawn(matching.run(shutdown.clone()));
    tasks.spawn(referral.run(shutdown.clone()));
    tasks.spawn(waitlist.run(shutdown.clone()));
    tasks.spawn(intake.run(shutdown.clone()));
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
