//! The `matching` binary: configuration from the environment, then the service until SIGTERM/SIGINT.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = continuum_runtime::init_tracing("matching");
    let settings = matching::config::Settings::from_env()?;
    let shutdown = continuum_runtime::Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
    let result = matching::startup::Application::build(settings).await?.run(shutdown).await;
    telemetry.shutdown().await;
    result
}
