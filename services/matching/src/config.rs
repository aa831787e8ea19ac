//! Settings of the matching service, read once from the environment in `main` and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use continuum_runtime::CommonSettings;

use crate::domain::Weights;
use crate::domain::alliance::StuckPolicy;

/// Matching service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "matching",
    version,
    about = "Continuum matching service: every setting is a flag or its environment variable"
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:50052")]
    pub listen_addr: SocketAddr,
    /// Settings shared by every service.
    #[command(flatten)]
    pub common: CommonSettings,
    /// Fit-model weights as a JSON file (every field of `domain::Weights`); built-in defaults when unset.
    #[arg(long, env = "CONTINUUM_MATCHING_WEIGHTS_FILE")]
    pub weights_file: Option<PathBuf>,
    /// Sessions without reliable ORS improvement after which a client-provider pair is stuck.
    #[arg(long, env = "CONTINUUM_MATCHING_STUCK_AFTER_SESSIONS", default_value_t = 6, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub stuck_after_sessions: u32,
    /// How often (ms) Recommend picks up directory writes made by other replicas.
    #[arg(long, env = "CONTINUUM_MATCHING_DIRECTORY_REFRESH_MS", default_value_t = 1000)]
    pub directory_refresh_ms: u64,
    /// Address of the waitlist service (`host:port` or URL), told when a provider's capacity rises. Unset:
    /// the capacity events are kept and not delivered (a warning and the pending gauge say so).
    #[arg(long, env = "CONTINUUM_WAITLIST_ADDR")]
    pub waitlist_addr: Option<String>,
    /// Address of the intake service (`host:port` or URL): asked whether the organization recording session
    /// feedback may act for the client.
    #[arg(long, env = "CONTINUUM_INTAKE_ADDR", default_value = "127.0.0.1:50051")]
    pub intake_addr: String,
    /// How often (ms) the capacity-event worker looks for events to deliver.
    #[arg(long, env = "CONTINUUM_CAPACITY_EVENT_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub capacity_event_poll_ms: u64,
}

/// The fit model's configuration, loaded once at start-up.
#[derive(Clone, Debug)]
pub struct FitModel {
    /// Versioned weights.
    pub weights: Arc<Weights>,
    /// When a pair counts as stuck.
    pub stuck: StuckPolicy,
    /// Directory refresh interval.
    pub refresh: Duration,
}

impl Default for FitModel {
    fn default() -> Self {
        Self {
            weights: Arc::new(Weights::default()),
            stuck: StuckPolicy::default(),
            refresh: Duration::from_millis(1000),
        }
    }
}

impl Settings {
    /// Reads settings from environment variables only (no command-line arguments).
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["matching"])?)
    }

    /// Embedded settings on `listen_addr` with data under `common`.
    pub fn new(listen_addr: SocketAddr, common: CommonSettings) -> Self {
        Self {
            listen_addr,
            common,
            weights_file: None,
            stuck_after_sessions: 6,
            directory_refresh_ms: 1000,
            waitlist_addr: None,
            intake_addr: "127.0.0.1:50051".to_owned(),
            capacity_event_poll_ms: 1000,
        }
    }

    /// Loads the fit model (reads and checks the weights file, if any).
    pub fn fit_model(&self) -> anyhow::Result<FitModel> {
        let weights = match &self.weights_file {
            None => Weights::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading weights file {}: {e}", path.display()))?;
                Weights::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("weights file {}: {e}", path.display()))?
            }
        };
        Ok(FitModel {
            weights: Arc::new(weights),
            stuck: StuckPolicy {
                sessions_without_change: self.stuck_after_sessions as usize,
                ..StuckPolicy::default()
            },
            refresh: Duration::from_millis(self.directory_refresh_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weights_file_is_loaded_and_checked_before_start() {
        let dir = std::env::temp_dir().join(format!("matching-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let mut s = Settings::new(
            "127.0.0.1:0".parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
            CommonSettings::embedded(&dir, "test"),
        );
        assert_eq!(
            s.fit_model().map(|m| m.weights.version.clone()).ok(),
            Some(Weights::default().version)
        );
        let good = dir.join("good.json");
        let custom = Weights {
            version: "fit-weights/custom.1".into(),
            relational_fit: 0.4,
            ..Weights::default()
        };
        std::fs::write(&good, serde_json::to_string(&custom).unwrap_or_default()).ok();
        s.weights_file = Some(good);
        assert_eq!(s.fit_model().map(|m| m.weights.relational_fit).ok(), Some(0.4));
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{\"version\": \"x\", \"clinical_fit\": -1}").ok();
        s.weights_file = Some(bad);
        assert!(s.fit_model().is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
