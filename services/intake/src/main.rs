//! The `intake` binary: configuration from flags or the environment (`--help` lists it), then the service until SIGTERM/SIGINT.

#[global_allocator]
static ALLOCATOR: continuum_runtime::memory::Allocator = continuum_runtime::memory::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    continuum_runtime::memory::tune_allocator();
    // Flags and environment alike; `--help` lists every setting and starts nothing.
    let settings = <intake::config::Settings as clap::Parser>::parse();
    let telemetry = continuum_runtime::init_tracing("intake");
    let shutdown = continuum_runtime::Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
    let result = intake::startup::Application::build(settings).await?.run(shutdown).await;
    telemetry.shutdown().await;
    result
}
