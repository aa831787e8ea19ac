//! Building and running the gateway: bind first (port 0 picks a free port, so tests never wait on a
//! server), then serve the router until the shutdown token is cancelled, letting in-flight requests finish
//! within the grace period.
//!
//! Routes: `/healthz` (readiness: the four services), `/livez` (liveness), `/fhir/...` (see `crate::fhir`),
//! `/hsds/...` (see `crate::hsds`) and the coordinator console at `/` (see `crate::console`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::upstream::Upstreams;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The four services.
    pub upstreams: Upstreams,
    /// The base URL clients reach the gateway at (empty: relative references only).
    pub base_url: Arc<str>,
    /// The per-request timeout.
    pub request_timeout: Duration,
    /// The coordinator console's sessions and sign-in.
    pub console: crate::console::Console,
}

impl AppState {
    /// The state of a gateway with `settings` (the upstream clients connect on first use).
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        // Keys under `<namespace>:gateway:`, beside the services' `<namespace>:<service>:`.
        let cache = continuum_cache::open(
            settings.redis_url.as_ref().map(ExposeSecret::expose_secret),
            &format!("{}:gateway", settings.cache_namespace),
        )
        .await
        .context("opening the console session cache")?;
        Ok(Self {
            upstreams: Upstreams::connect_lazy(settings)?,
            base_url: Arc::from(settings.base_url.trim_end_matches('/')),
            request_timeout: settings.request_timeout(),
            console: crate::console::Console::new(
                cache,
                settings.console_lifetimes(),
                settings.secure_cookies(),
                settings.dev_sign_in.clone(),
            ),
        })
    }
}

/// The gateway's routes over `state`.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/healthz", get(crate::health::readiness))
        .route("/livez", get(crate::health::liveness))
        .merge(crate::fhir::router())
        .merge(crate::hsds::router())
        .merge(crate::console::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::telemetry::observe))
        .fallback(crate::telemetry::not_found)
        // An over-limit body is refused by the extractor reading it; answered as an OperationOutcome.
        .layer(axum::middleware::from_fn_with_state(max_body_bytes, crate::error::body_too_large))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// A bound, ready-to-run gateway.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    grace: Duration,
}

impl Application {
    /// Binds the listener and builds the clients (they connect on first use).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = AppState::from_settings(&settings).await?;
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", settings.listen_addr))?;
        crate::telemetry::register();
        Ok(Self {
            listener,
            router: router(state, settings.max_body_bytes),
            grace: settings.grace(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests for at most the grace period.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.listener.local_addr().ok();
        tracing::info!(service = "gateway", addr = ?addr, "serving HTTP");
        let token = shutdown.clone();
        let server = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .into_future();
        tokio::pin!(server);
        let result = tokio::select! {
            r = &mut server => r.context("HTTP server failed"),
            () = async { shutdown.cancelled().await; tokio::time::sleep(self.grace).await } => {
                tracing::warn!(service = "gateway", "grace period over; closing remaining requests");
                Ok(())
            }
        };
        tracing::info!(service = "gateway", "stopped");
        result
    }
}
