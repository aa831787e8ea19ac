//! Command-line parsing and dispatch.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use continuum_runtime::{CommonSettings, Shutdown};

/// Continuum: care coordination for mental-health care.
#[derive(Debug, Parser)]
#[command(name = "continuum", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A Continuum service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Service {
    /// Intake (50051).
    Intake,
    /// Matching (50052).
    Matching,
    /// Referral (50053).
    Referral,
    /// Waitlist (50054).
    Waitlist,
    /// The HTTP gateway (8080): FHIR R4 at /fhir in front of the four services. It has no tables.
    Gateway,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run all four services in one process (embedded SQLite and in-process cache unless configured).
    Up(crate::up::UpArgs),
    /// Run one service, configured from the environment like its own binary.
    Serve {
        /// Which service.
        service: Service,
    },
    /// Run the migrations of every service (or the named ones) against the configured database.
    Migrate {
        /// Services to migrate (default: all).
        #[arg(long = "service", value_enum)]
        services: Vec<Service>,
        /// Storage settings.
        #[command(flatten)]
        common: CommonSettings,
    },
    /// Development tokens.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The organization registry: the organizations this deployment serves (a token naming any other is
    /// refused).
    Org {
        /// What to do with the registry.
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Load benchmarks against a running stack.
    Bench {
        /// Which benchmark.
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The provider directory in a published format (HSDS 3.0): import a file, export the directory.
    Directory {
        /// What to do.
        #[command(subcommand)]
        command: crate::directory::DirectoryCommand,
    },
    /// Benchmark the exact batch assigner on an instance file (format of shared/bench/assign).
    AssignBench {
        /// Instance file.
        file: PathBuf,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
}

/// `continuum bench ...`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Submit intakes at a fixed number in flight; print throughput, latency percentiles and the routing
    /// mix, with pgbench's one-row insert at the same concurrency as the same run's reference.
    Intake(crate::bench::IntakeBenchArgs),
    /// Import a large synthetic directory (20,000 providers by default) through ImportProviders, so the
    /// intake benchmark ranks a realistic directory.
    Directory(crate::bench_directory::DirectoryArgs),
    /// Time a coordinator's reads of a (long) waitlist: the board's first page, a wait estimate, the wait
    /// metrics with 12 weeks of the length series.
    Waitlist(crate::bench_waitlist::WaitlistBenchArgs),
}

/// `continuum token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a development user token, signed with CONTINUUM_AUTH_DEV_SECRET or the data directory's
    /// development secret (the one `continuum up` uses).
    Mint {
        /// Organization (UUID).
        #[arg(long)]
        org: String,
        /// Roles (intake_clerk, clinician, coordinator, provider_admin, ops).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// User id.
        #[arg(long, default_value = "dev-user")]
        user: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
        /// Storage settings (the data directory holds the development secret).
        #[command(flatten)]
        common: CommonSettings,
    },
}

/// `continuum org ...`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organization to the registry (`CONTINUUM_ORGANIZATIONS_FILE`, or `organizations.json` in the
    /// data directory); running services see it at its first call.
    Add {
        /// Organization id (UUID, as in tokens' `org` claim).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Where the registry is.
        #[command(flatten)]
        common: CommonSettings,
    },
    /// List the organizations in the registry.
    List {
        /// Where the registry is.
        #[command(flatten)]
        common: CommonSettings,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => {
            // /metrics on the stack's own host (loopback by default), like its gRPC ports.
            continuum_telemetry::prometheus::set_default_addr(
                std::net::SocketAddr::new(args.host, 9464).to_string(),
            );
            let telemetry = continuum_runtime::init_tracing("continuum");
            let result = crate::up::up(args).await;
            telemetry.shutdown().await;
            result
        }
        Command::Serve { service } => {
            let name = match service {
                Service::Intake => "intake",
                Service::Matching => "matching",
                Service::Referral => "referral",
                Service::Waitlist => "waitlist",
                Service::Gateway => "gateway",
            };
            let telemetry = continuum_runtime::init_tracing(name);
            let shutdown = Shutdown::new();
            continuum_runtime::cancel_on_signal(shutdown.clone());
            let result = match service {
                Service::Intake => {
                    intake::startup::Application::build(intake::config::Settings::from_env()?)
                        .await?
                        .run(shutdown)
                        .await
                }
                Service::Matching => {
                    matching::startup::Application::build(matching::config::Settings::from_env()?)
                        .await?
                        .run(shutdown)
                        .await
                }
                Service::Referral => {
                    referral::startup::Application::build(referral::config::Settings::from_env()?)
                        .await?
                        .run(shutdown)
                        .await
                }
                Service::Waitlist => {
                    waitlist::startup::Application::build(waitlist::config::Settings::from_env()?)
                        .await?
                        .run(shutdown)
                        .await
                }
                Service::Gateway => {
                    gateway::startup::Application::build(gateway::config::Settings::from_env()?)
                        .await?
                        .run(shutdown)
                        .await
                }
            };
            telemetry.shutdown().await;
            result
        }
        Command::Migrate { services, common } => {
            let _telemetry = continuum_runtime::init_tracing("continuum-migrate");
            let all = [Service::Intake, Service::Matching, Service::Referral, Service::Waitlist];
            let chosen: Vec<Service> = if services.is_empty() { all.to_vec() } else { services };
            let db = common.db();
            for s in chosen {
                match s {
                    Service::Intake => {
                        continuum_db_migrate::<intake::store::Migrator>("intake", &db).await?
                    }
                    Service::Matching => {
                        continuum_db_migrate::<matching::store::Migrator>("matching", &db).await?
                    }
                    Service::Referral => {
                        continuum_db_migrate::<referral::store::Migrator>("referral", &db).await?
                    }
                    Service::Waitlist => {
                        continuum_db_migrate::<waitlist::store::Migrator>("waitlist", &db).await?
                    }
                    Service::Gateway => {
                        println!("gateway has no tables; nothing to migrate");
                        continue;
                    }
                }
                println!("migrated {s:?} on {}", db.engine());
            }
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Mint { org, roles, user, ttl_secs, mut common },
        } => {
            crate::dev_auth::ensure_dev_secret(&mut common)?;
            let mut parsed = Vec::new();
            for r in &roles {
                match continuum_auth::Role::from_code(r) {
                    Some(continuum_auth::Role::Service) | None => anyhow::bail!(
                        "unknown role {r}: use intake_clerk, clinician, coordinator, provider_admin or ops"
                    ),
                    Some(role) => parsed.push(role),
                }
            }
            let registry = common.organizations_file();
            let known = continuum_auth::registry::RegistryFile::read(&registry)
                .map(|f| f.organizations.iter().any(|o| o.id.eq_ignore_ascii_case(&org)))
                .unwrap_or(false);
            anyhow::ensure!(
                known,
                "organization {org} is not in the registry {} (the services would refuse its tokens): add it with `continuum org add --id {org} --name ...`",
                registry.display()
            );
            let minter = continuum_auth::Minter::from_settings(&common.auth)?;
            println!(
                "{}",
                minter.dev_user_token(
                    &user,
                    &org,
                    &parsed,
                    std::time::Duration::from_secs(ttl_secs)
                )?
            );
            Ok(())
        }
        Command::Org { command: OrgCommand::Add { id, name, common } } => {
            let path = common.organizations_file();
            if continuum_auth::registry::RegistryFile::add(&path, &id, &name)? {
                println!("added {id} ({name}) to {}", path.display());
            } else {
                println!("{id} is already in {}", path.display());
            }
            Ok(())
        }
        Command::Org { command: OrgCommand::List { common } } => {
            let path = common.organizations_file();
            for o in continuum_auth::registry::RegistryFile::read(&path)?.organizations {
                println!("{}\t{}", o.id, o.name);
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Intake(args) } => {
            crate::bench::intake_bench(args).await
        }
        Command::Bench { command: BenchCommand::Directory(args) } => {
            crate::bench_directory::seed_directory(args).await
        }
        Command::Bench { command: BenchCommand::Waitlist(args) } => {
            crate::bench_waitlist::waitlist_bench(args).await
        }
        Command::Directory { command } => crate::directory::run(command).await,
        Command::AssignBench { file, reps } => {
            let report =
                continuum_assign::bench_file(&file, reps.max(1)).map_err(|e| anyhow::anyhow!(e))?;
            println!("{}", report.to_json_line());
            Ok(())
        }
    }
}

async fn continuum_db_migrate<M: sea_orm_migration::MigratorTrait>(
    service: &str,
    db: &continuum_db::DbSettings,
) -> anyhow::Result<()> {
    continuum_db::connect_and_migrate::<M>(service, db).await?.close().await?;
    Ok(())
}
