//! The `waitlist` binary: configuration from the environment, then the service until SIGTERM/SIGINT.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = continuum_runtime::init_tracing("waitlist");
    let settings = waitlist::config::Settings::from_env()?;
    let shutdown = continuum_runtime::Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
    let result = waitlist::startup::Application::build(settings).await?.run(shutdown).await;
    telemetry.shutdown().await;
    result
}
