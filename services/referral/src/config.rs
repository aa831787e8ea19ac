//! Settings of the referral service, read once from the environment in `main` and passed down.

use std::net::SocketAddr;

use clap::Parser;
use continuum_runtime::CommonSettings;

/// Referral service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "referral",
    version,
    about = "Continuum referral service: every setting is a flag or its environment variable"
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:50053")]
    pub listen_addr: SocketAddr,
    /// Address of the matching service (`host:port` or an `http://` URL); connected lazily.
    #[arg(long, env = "CONTINUUM_MATCHING_ADDR", default_value = "127.0.0.1:50052")]
    pub matching_addr: String,
    /// Address of the intake service (`host:port` or an `http://` URL), read for handoff packets; connected
    /// lazily.
    #[arg(long, env = "CONTINUUM_INTAKE_ADDR", default_value = "127.0.0.1:50051")]
    pub intake_addr: String,
    /// Address of the waitlist service (`host:port` or an `http://` URL), read for the care timeline;
    /// connected lazily.
    #[arg(long, env = "CONTINUUM_WAITLIST_ADDR", default_value = "127.0.0.1:50054")]
    pub waitlist_addr: String,
    /// Seconds between two runs of the deadline sweeper (escalation, expiry, re-routing).
    #[arg(long, env = "CONTINUUM_DEADLINE_SWEEP_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub deadline_sweep_secs: u64,
    /// A fixed response window in seconds for every referral (first and second deadline), instead of the
    /// clinical defaults (4 hours for emergencies, 1 or 2 business days otherwise). For demos and browser
    /// tests, where a deadline must pass within minutes; unset in any real deployment.
    #[arg(long, env = "CONTINUUM_REFERRAL_RESPONSE_WINDOW_SECS", value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub response_window_secs: Option<u64>,
    /// Settings shared by every service.
    #[command(flatten)]
    pub common: CommonSettings,
}

impl Settings {
    /// Reads settings from environment variables only (no command-line arguments).
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["referral"])?)
    }

    /// Settings on `listen_addr` talking to matching at `matching_addr` (and to intake at its default
    /// address; see [`Settings::with_intake_addr`]), with data under `common`.
    pub fn new(
        listen_addr: SocketAddr,
        matching_addr: impl Into<String>,
        common: CommonSettings,
    ) -> Self {
        Self {
            listen_addr,
            matching_addr: matching_addr.into(),
            intake_addr: "127.0.0.1:50051".to_owned(),
            waitlist_addr: "127.0.0.1:50054".to_owned(),
            deadline_sweep_secs: 60,
            response_window_secs: None,
            common,
        }
    }

    /// The fixed response window, when configured.
    pub fn response_window(&self) -> Option<std::time::Duration> {
        self.response_window_secs.map(std::time::Duration::from_secs)
    }

    /// These settings, talking to intake at `intake_addr`.
    #[must_use]
    pub fn with_intake_addr(mut self, intake_addr: impl Into<String>) -> Self {
        self.intake_addr = intake_addr.into();
        self
    }

    /// These settings, talking to waitlist at `waitlist_addr` (read for the care timeline).
    #[must_use]
    pub fn with_waitlist_addr(mut self, waitlist_addr: impl Into<String>) -> Self {
        self.waitlist_addr = waitlist_addr.into();
        self
    }
}
