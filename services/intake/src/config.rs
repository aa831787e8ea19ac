//! Settings of the intake service, read once from the environment in `main` and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use continuum_runtime::CommonSettings;

/// Intake service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "intake",
    version,
    about = "Continuum intake service: every setting is a flag or its environment variable"
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:50051")]
    pub listen_addr: SocketAddr,
    /// Address of the matching service.
    #[arg(long, env = "CONTINUUM_MATCHING_ADDR", default_value = "127.0.0.1:50052")]
    pub matching_addr: String,
    /// Address of the referral service.
    #[arg(long, env = "CONTINUUM_REFERRAL_ADDR", default_value = "127.0.0.1:50053")]
    pub referral_addr: String,
    /// Address of the waitlist service.
    #[arg(long, env = "CONTINUUM_WAITLIST_ADDR", default_value = "127.0.0.1:50054")]
    pub waitlist_addr: String,
    /// How often the routing worker looks for pending routings, in milliseconds.
    #[arg(long, env = "CONTINUUM_ROUTING_POLL_MS", default_value_t = 1000)]
    pub routing_poll_ms: u64,
    /// Longest back-off between routing retries, in seconds.
    #[arg(long, env = "CONTINUUM_ROUTING_MAX_BACKOFF_SECS", default_value_t = 60)]
    pub routing_max_backoff_secs: u64,
    /// A rules file replacing the embedded default rules (JSON, see `rules/intake-rules.json`).
    #[arg(long, env = "CONTINUUM_INTAKE_RULES_FILE")]
    pub rules_file: Option<PathBuf>,
    /// Settings shared by every service.
    #[command(flatten)]
    pub common: CommonSettings,
}

impl Settings {
    /// Reads settings from environment variables only.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["intake"])?)
    }

    /// Settings on `listen_addr` with the given peers (tests and the all-in-one binary).
    pub fn new(listen_addr: SocketAddr, peers: [String; 3], common: CommonSettings) -> Self {
        let [matching_addr, referral_addr, waitlist_addr] = peers;
        Self {
            listen_addr,
            matching_addr,
            referral_addr,
            waitlist_addr,
            routing_poll_ms: 1000,
            routing_max_backoff_secs: 60,
            rules_file: None,
            common,
        }
    }

    /// The routing worker's poll interval.
    pub fn routing_poll(&self) -> Duration {
        Duration::from_millis(self.routing_poll_ms.max(10))
    }
}
