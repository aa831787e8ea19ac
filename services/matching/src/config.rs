//! Settings of the matching service, read once from the environment in `main` and passed down.

use std::net::SocketAddr;

use clap::Parser;
use continuum_runtime::CommonSettings;

/// Matching service settings.
#[derive(Clone, Debug, Parser)]
#[command(name = "matching", about = "Continuum matching service")]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CONTINUUM_LISTEN_ADDR", default_value = "0.0.0.0:50052")]
    pub listen_addr: SocketAddr,
    /// Settings shared by every service.
    #[command(flatten)]
    pub common: CommonSettings,
}

impl Settings {
    /// Reads settings from environment variables only (no command-line arguments).
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self::try_parse_from(["matching"])?)
    }

    /// Embedded settings on `listen_addr` with data under `common`.
    pub fn new(listen_addr: SocketAddr, common: CommonSettings) -> Self {
        Self { listen_addr, common }
    }
}
