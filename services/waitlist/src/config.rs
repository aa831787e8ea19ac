//! Settings of the waitlist service, read once from the environment in `main` and passed down.

use std::net::SocketAddr;

use clap::Parser;
use continuum_runtime::CommonSettings;

use crate::domain::{BandLimits, Policy};

/// Waitlist service settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "waitlist",
    version,
    about = "Continuum waitlist service: every setting is a flag or its environment variable"
)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:50054")]
    pub listen_addr: SocketAddr,
    /// Address of the referral service (`host:port` or an `http://` URL), called when an offer is accepted.
    #[arg(long, env = "CONTINUUM_REFERRAL_ADDR", default_value = "127.0.0.1:50053")]
    pub referral_addr: String,
    /// Address of the intake service (`host:port` or an `http://` URL), called to re-screen check-in answers.
    #[arg(long, env = "CONTINUUM_INTAKE_ADDR", default_value = "127.0.0.1:50051")]
    pub intake_addr: String,
    /// Address of the matching service (`host:port` or an `http://` URL): offers for a matching capacity
    /// event take their slot there, a slot nobody takes goes back there, and each new entry's bridge program
    /// is chosen from its directory.
    #[arg(long, env = "CONTINUUM_MATCHING_ADDR", default_value = "127.0.0.1:50052")]
    pub matching_addr: String,
    /// Seconds before a bridge choice that matching could not answer is retried (doubling per failure, at
    /// most an hour); also how often the background retry runs.
    #[arg(long, env = "CONTINUUM_BRIDGE_RETRY_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub bridge_retry_secs: u64,
    /// Milliseconds matching's bridge options for one profile are reused for the next client with the
    /// same profile (0: ask matching for every client).
    #[arg(long, env = "CONTINUUM_BRIDGE_OPTIONS_CACHE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub bridge_options_cache_ms: u64,
    /// How long an offer holds its slot, in hours.
    #[arg(long, env = "CONTINUUM_OFFER_HOLD_HOURS", default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub offer_hold_hours: u32,
    /// Days between check-ins with a waiting client.
    #[arg(long, env = "CONTINUUM_CHECK_IN_DAYS", default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub check_in_days: u32,
    /// Seconds between two runs of the offer-expiry sweeper.
    #[arg(long, env = "CONTINUUM_SWEEP_INTERVAL_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub sweep_interval_secs: u64,
    /// Seconds between two runs of the placement follow-up (reading placed clients' referrals for their
    /// first and second appointments).
    #[arg(long, env = "CONTINUUM_FOLLOWUP_INTERVAL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub followup_interval_secs: u64,
    /// Maximum acceptable wait of the urgent band, in days.
    #[arg(long, env = "CONTINUUM_BAND_URGENT_MAX_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub urgent_max_days: u32,
    /// Maximum acceptable wait of the soon band, in days.
    #[arg(long, env = "CONTINUUM_BAND_SOON_MAX_DAYS", default_value_t = 28, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub soon_max_days: u32,
    /// Maximum acceptable wait of the routine band, in days.
    #[arg(long, env = "CONTINUUM_BAND_ROUTINE_MAX_DAYS", default_value_t = 42, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub routine_max_days: u32,
    /// Settings shared by every service.
    #[command(flatten)]
    pub common: CommonSettings,
}

impl Settings {
    /// Reads settings from environment variables only (no command-line arguments).
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["waitlist"])?)
    }

    /// Embedded settings on `listen_addr`, calling referral at `referral_addr` (and intake and matching at
    /// their default addresses; set `intake_addr` and `matching_addr` to change them), with data under `common` and every waitlist rule at its
    /// default.
    pub fn new(
        listen_addr: SocketAddr,
        referral_addr: impl Into<String>,
        common: CommonSettings,
    ) -> Self {
        Self {
            listen_addr,
            referral_addr: referral_addr.into(),
            intake_addr: "127.0.0.1:50051".to_owned(),
            bridge_retry_secs: 30,
            bridge_options_cache_ms: 1000,
            matching_addr: "127.0.0.1:50052".to_owned(),
            offer_hold_hours: 48,
            check_in_days: 14,
            sweep_interval_secs: 30,
            followup_interval_secs: 300,
            urgent_max_days: 7,
            soon_max_days: 28,
            routine_max_days: 42,
            common,
        }
    }

    /// The waitlist rules these settings configure.
    pub fn policy(&self) -> Policy {
        Policy {
            offer_hold_hours: self.offer_hold_hours,
            check_in_days: self.check_in_days,
            bands: BandLimits {
                urgent_days: self.urgent_max_days,
                soon_days: self.soon_max_days,
                routine_days: self.routine_max_days,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_clinical_rules() {
        let s = Settings::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "127.0.0.1:50053",
            CommonSettings::embedded(".", "dev-secret"),
        );
        let p = s.policy();
        assert_eq!((p.offer_hold_hours, p.check_in_days), (48, 14));
        assert_eq!((p.bands.urgent_days, p.bands.soon_days, p.bands.routine_days), (7, 28, 42));
        assert_eq!(s.sweep_interval_secs, 30);
    }
}
