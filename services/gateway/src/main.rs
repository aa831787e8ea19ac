//! The `gateway` binary: configuration from flags or the environment (`--help` lists it), then the HTTP edge
//! until SIGTERM/SIGINT.

#[global_allocator]
static ALLOCATOR: continuum_process::memory::Allocator = continuum_process::memory::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    continuum_process::memory::tune_allocator();
    let settings = <gateway::config::Settings as clap::Parser>::parse();
    let telemetry = continuum_telemetry::init("gateway");
    let shutdown = tokio_util::sync::CancellationToken::new();
    continuum_process::cancel_on_signal(shutdown.clone());
    let result = gateway::startup::Application::build(settings).await?.run(shutdown).await;
    telemetry.shutdown().await;
    result
}
