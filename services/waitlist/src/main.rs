//! The `waitlist` binary: configuration from the environment, then the service until SIGTERM/SIGINT.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    continuum_runtime::init_tracing();
    let settings = waitlist::config::Settings::from_env()?;
    let shutdown = continuum_runtime::Shutdown::new();
    continuum_runtime::cancel_on_signal(shutdown.clone());
    waitlist::startup::Application::build(settings).await?.run(shutdown).await
}
