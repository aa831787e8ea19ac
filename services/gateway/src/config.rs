//! Settings of the gateway, read once from flags or the environment in `main` (or set by `continuum up`) and
//! passed down. The gateway keeps nothing on disk: its settings are where it listens, where the four
//! services are, and where console sessions are shared (Redis, when set).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use secrecy::SecretString;

/// Gateway settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Continuum gateway (HTTP edge, FHIR R4 at /fhir): every setting is a flag or its environment variable"
)]
pub struct Settings {
    /// Address to listen on (HTTP).
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,
    /// Address of the intake service.
    #[arg(long, env = "CONTINUUM_INTAKE_ADDR", default_value = "127.0.0.1:50051")]
    pub intake_addr: String,
    /// Address of the matching service.
    #[arg(long, env = "CONTINUUM_MATCHING_ADDR", default_value = "127.0.0.1:50052")]
    pub matching_addr: String,
    /// Address of the referral service.
    #[arg(long, env = "CONTINUUM_REFERRAL_ADDR", default_value = "127.0.0.1:50053")]
    pub referral_addr: String,
    /// Address of the waitlist service.
    #[arg(long, env = "CONTINUUM_WAITLIST_ADDR", default_value = "127.0.0.1:50054")]
    pub waitlist_addr: String,
    /// PEM CA bundle used to verify the services when they serve TLS (their addresses then use https).
    #[arg(long, env = "CONTINUUM_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    #[arg(long, env = "CONTINUUM_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Per-request timeout in seconds (one HTTP request, all of its upstream calls included).
    #[arg(long, env = "CONTINUUM_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Largest request body accepted, in bytes (a larger one is refused with 413 before it is read whole; on
    /// `/fhir` and `/hsds` the answer is an OperationOutcome, see `crate::error`).
    #[arg(long, env = "CONTINUUM_GATEWAY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// The base URL clients reach the gateway at (used in `Bundle.link` and `fullUrl`), for example
    /// `https://continuum.example.org`; empty: relative references only.
    #[arg(long, env = "CONTINUUM_GATEWAY_BASE_URL", default_value = "")]
    pub base_url: String,
    /// Console sessions end after this many seconds without a request.
    #[arg(long, env = "CONTINUUM_CONSOLE_IDLE_SECS", default_value_t = 30 * 60, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub console_idle_secs: u64,
    /// Console sessions end this many seconds after sign-in, whatever happens (and never after the
    /// token's own expiry).
    #[arg(long, env = "CONTINUUM_CONSOLE_SESSION_SECS", default_value_t = 8 * 3600, value_parser = clap::value_parser!(u64).range(60..=7 * 86_400))]
    pub console_session_secs: u64,
    /// Redis URL; when set, console sessions live there, shared by every gateway replica (sealed: see
    /// `crate::console::session`); otherwise in this process's memory. Never printed (it may carry a
    /// password).
    #[arg(long, env = "CONTINUUM_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Prefix of every cache key (lets several deployments, or test runs, share one Redis).
    #[arg(long, env = "CONTINUUM_CACHE_NAMESPACE", default_value = "continuum")]
    pub cache_namespace: String,
    /// The development sign-in of the console: set only by `continuum up --demo` (never from flags or the
    /// environment, so a production gateway cannot have it).
    #[arg(skip)]
    pub dev_sign_in: Option<crate::console::DevSignIn>,
}

impl Settings {
    /// Reads settings from environment variables only.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["gateway"])?)
    }

    /// Settings on `listen_addr` in front of the four services at `upstreams` (intake, matching, referral,
    /// waitlist), defaults otherwise (tests and the all-in-one binary).
    pub fn new(listen_addr: SocketAddr, upstreams: [String; 4]) -> Self {
        let [intake_addr, matching_addr, referral_addr, waitlist_addr] = upstreams;
        Self {
            listen_addr,
            intake_addr,
            matching_addr,
            referral_addr,
            waitlist_addr,
            tls_ca_file: None,
            shutdown_grace_secs: 10,
            request_timeout_secs: 30,
            max_body_bytes: 1024 * 1024,
            base_url: String::new(),
            console_idle_secs: 30 * 60,
            console_session_secs: 8 * 3600,
            redis_url: None,
            cache_namespace: "continuum".to_owned(),
            dev_sign_in: None,
        }
    }

    /// The grace period after a shutdown signal.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The console's session lifetimes.
    pub fn console_lifetimes(&self) -> crate::console::session::Lifetimes {
        crate::console::session::Lifetimes {
            idle: Duration::from_secs(self.console_idle_secs),
            absolute: Duration::from_secs(self.console_session_secs),
        }
    }

    /// Whether console cookies carry `Secure`: always, unless the gateway listens on loopback only (plain
    /// HTTP on 127.0.0.1 under `continuum up`, where a browser would not send a `Secure` cookie).
    pub fn secure_cookies(&self) -> bool {
        !self.listen_addr.ip().is_loopback()
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}
