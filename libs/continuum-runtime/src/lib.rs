//! What every Continuum service process shares: settings common to all services, structured logging,
//! serving a gRPC service with health checking and reflection, graceful shutdown, lazily connecting
//! channels to peer services, and [`care`]: asking intake whether the caller's organization may act for a
//! client.
//!
//! A service crate builds its own `tonic` service and hands it to [`serve`]; everything around it (health,
//! reflection, authentication and the role policy, TLS, keepalives, draining on SIGTERM) is the same for
//! all four and lives here. [`memory::tune_allocator`] is the first call of every binary's `main`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use continuum_auth::crypto::CryptoSettings;
use continuum_auth::{AuthLayer, AuthSettings, Minter, ServiceAuth, Verifier};
use continuum_db::DbSettings;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub mod body;
pub mod care;
pub mod decode;
pub mod inflight;
pub mod stream_end;

pub use continuum_process::{cancel_on_signal, memory, shutdown_signal};
pub use tokio_util::sync::CancellationToken as Shutdown;

/// A channel to a peer service: every call runs in a `grpc.client` span (the parent of the peer's server
/// span) and carries a service token and the W3C trace context.
pub type PeerChannel = continuum_telemetry::ClientTrace<
    tonic::service::interceptor::InterceptedService<Channel, ServiceAuth>,
>;

/// Settings every service reads from the environment. Service-specific settings flatten this.
#[derive(Clone, Debug, clap::Args)]
pub struct CommonSettings {
    /// Folder for the embedded SQLite files.
    #[arg(long, env = "CONTINUUM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL; when set the service uses its own schema there instead of SQLite. Never printed
    /// (it may carry a password).
    #[arg(long, env = "CONTINUUM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Redis URL; when set, holds, locks and idempotency hints live in Redis instead of in-process. Never
    /// printed (it may carry a password).
    #[arg(long, env = "CONTINUUM_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Prefix of every cache key (lets several deployments, or test runs, share one Redis).
    #[arg(long, env = "CONTINUUM_CACHE_NAMESPACE", default_value = "continuum")]
    pub cache_namespace: String,
    /// Seconds to let in-flight calls finish after a shutdown signal.
    #[arg(long, env = "CONTINUUM_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Per-request timeout in seconds.
    #[arg(long, env = "CONTINUUM_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Request bytes all calls of one service may hold at once (a call past it: RESOURCE_EXHAUSTED).
    #[arg(long, env = "CONTINUUM_INFLIGHT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub inflight_bytes: usize,
    /// Request bytes the calls of one connection may hold at once.
    #[arg(long, env = "CONTINUUM_INFLIGHT_BYTES_PER_CONNECTION", default_value_t = 16 * 1024 * 1024)]
    pub inflight_bytes_per_connection: usize,
    /// PEM certificate chain for TLS on the gRPC port (TLS is off when unset: local setups only).
    #[arg(long, env = "CONTINUUM_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS on the gRPC port.
    #[arg(long, env = "CONTINUUM_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle used to verify peers when they serve TLS (peer addresses then use https).
    #[arg(long, env = "CONTINUUM_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Authentication.
    #[command(flatten)]
    pub auth: AuthSettings,
    /// Field encryption keys.
    #[command(flatten)]
    pub crypto: CryptoSettings,
}

impl CommonSettings {
    /// Embedded defaults under `data_dir`, authenticating with the development `secret` (used by tests
    /// and `continuum up`).
    pub fn embedded(data_dir: impl Into<PathBuf>, dev_secret: &str) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            redis_url: None,
            cache_namespace: "continuum".to_owned(),
            shutdown_grace_secs: 10,
            request_timeout_secs: 30,
            inflight_bytes: inflight::InFlightLimits::default().process_bytes,
            inflight_bytes_per_connection: inflight::InFlightLimits::default().connection_bytes,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_file: None,
            auth: AuthSettings::dev(dev_secret),
            crypto: CryptoSettings::default(),
        }
    }

    /// The auth layer for a server: token verification, the organization registry, the role policy and
    /// the per-organization rate limit (counted in Redis when configured, so the limit holds across
    /// replicas).
    pub async fn auth_layer(&self, service: &str) -> anyhow::Result<AuthLayer> {
        let verifier = Verifier::load(&self.auth).await?;
        let registry = continuum_auth::Registry::load(self.organizations_file())?;
        let cache = self.open_cache(&format!("{service}-auth")).await?;
        Ok(AuthLayer::new(verifier, registry, cache, self.auth.rate_limit_per_minute))
    }

    /// The organization registry file: `CONTINUUM_ORGANIZATIONS_FILE`, else `organizations.json` in the
    /// data directory.
    pub fn organizations_file(&self) -> PathBuf {
        self.auth
            .organizations_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("organizations.json"))
    }

    /// A channel to a peer at `addr` whose every call carries a service token of `service` and runs in a
    /// client span.
    pub fn authed_peer(&self, addr: &str, service: &'static str) -> anyhow::Result<PeerChannel> {
        Ok(continuum_telemetry::ClientTrace::new(
            tonic::service::interceptor::InterceptedService::new(
                self.peer(addr)?,
                self.service_auth(service)?,
            ),
        ))
    }

    /// The cache of `service`: Redis when configured, in-process otherwise; keys under the namespace. A
    /// Redis cache is watched for `continuum_dependency_up{dependency="redis"}` ([`watch_redis`]).
    pub async fn open_cache(&self, service: &str) -> anyhow::Result<continuum_cache::SharedCache> {
        let cache = continuum_cache::open(
            self.redis_url.as_ref().map(ExposeSecret::expose_secret),
            &format!("{}:{service}", self.cache_namespace),
        )
        .await?;
        if cache.kind() == "redis" {
            watch_redis(&cache, REDIS_PING_EVERY);
        }
        Ok(cache)
    }

    /// The interceptor that signs this service's calls to its peers.
    pub fn service_auth(&self, service: &'static str) -> anyhow::Result<ServiceAuth> {
        Ok(ServiceAuth::new(service, Minter::from_settings(&self.auth)?))
    }

    /// A channel to a peer (TLS verified with the configured CA when one is set).
    pub fn peer(&self, addr: &str) -> anyhow::Result<Channel> {
        match &self.tls_ca_file {
            None => peer_channel(addr),
            Some(ca) => {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                let host = addr.trim_start_matches("https://").trim_start_matches("http://");
                let domain = host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned();
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem))
                    .domain_name(domain);
                Ok(Endpoint::from_shared(format!("https://{host}"))
                    .context("peer address")?
                    .tls_config(tls)
                    .context("peer TLS")?
                    .connect_timeout(PEER_CONNECT_TIMEOUT)
                    .timeout(Duration::from_secs(10))
                    .connect_with_connector_lazy(peer_connector()))
            }
        }
    }

    fn server_tls(&self) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => Ok(None),
            (Some(c), Some(k)) => {
                let cert = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
                let key = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
                Ok(Some(
                    tonic::transport::ServerTlsConfig::new()
                        .identity(tonic::transport::Identity::from_pem(cert, key)),
                ))
            }
            _ => anyhow::bail!(
                "set both CONTINUUM_TLS_CERT_FILE and CONTINUUM_TLS_KEY_FILE, or neither"
            ),
        }
    }

    /// The database part of these settings.
    pub fn db(&self) -> DbSettings {
        DbSettings { database_url: self.database_url.clone(), data_dir: self.data_dir.clone() }
    }
}

/// Installs logging and tracing for `service` (see `continuum-telemetry`): JSON lines with trace ids by
/// default (`CONTINUUM_LOG_FORMAT=text` for humans), filtered by `RUST_LOG`, spans exported over OTLP when
/// the standard `OTEL_*` variables name an endpoint; metrics on the Prometheus endpoint
/// (`CONTINUUM_METRICS_ADDR`) only, for scraping. Call `shutdown` on the result before exiting.
pub fn init_tracing(service: &str) -> continuum_telemetry::Telemetry {
    continuum_telemetry::init(service)
}

/// Binds `addr` (port 0 picks a free port) before anything is spawned, so tests never wait on a server.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
}

/// The gRPC health service every port serves.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// Server reflection, v1.
pub const REFLECTION_V1_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
/// Server reflection, v1alpha (grpcio's reflection client speaks only this one).
pub const REFLECTION_V1ALPHA_SERVICE: &str = "grpc.reflection.v1alpha.ServerReflection";

/// How one service is served.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Fully qualified gRPC service name, for health checking.
    pub service_name: &'static str,
    /// Grace period for in-flight calls after shutdown begins.
    pub grace: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// How often the readiness probe runs.
    pub probe_interval: Duration,
    /// TLS on the gRPC port, when configured.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// Budgets of request bytes in flight.
    pub inflight: inflight::InFlightLimits,
}

impl ServeOptions {
    /// Options for `service_name` from the common settings (fails on half-configured TLS).
    pub fn new(service_name: &'static str, common: &CommonSettings) -> anyhow::Result<Self> {
        Ok(Self {
            service_name,
            grace: Duration::from_secs(common.shutdown_grace_secs),
            request_timeout: Duration::from_secs(common.request_timeout_secs),
            probe_interval: Duration::from_secs(2),
            tls: common.server_tls()?,
            inflight: inflight::InFlightLimits {
                process_bytes: common.inflight_bytes,
                connection_bytes: common.inflight_bytes_per_connection,
            },
        })
    }
}

/// Serves `routes` on `listener` with gRPC health (per service and overall) and reflection (v1 and v1alpha,
/// listing exactly the services this port serves: `options.service_name`, health and reflection) until
/// `shutdown` is cancelled; then reports NOT_SERVING, stops accepting, and drains in-flight calls for
/// at most the grace period. `probe` is polled while serving: when it answers false (database unreachable)
/// the service reports NOT_SERVING until it answers true again.
pub async fn serve<P, F>(
    listener: TcpListener,
    routes: Routes,
    auth: AuthLayer,
    options: ServeOptions,
    shutdown: CancellationToken,
    probe: P,
) -> anyhow::Result<()>
where
    P: Fn() -> F + Send + 'static,
    F: Future<Output = bool> + Send,
{
    let (reporter, health_service) = tonic_health::server::health_reporter();
    set_status(&reporter, options.service_name, ServingStatus::Serving).await;
    set_overall(&reporter, ServingStatus::Serving).await;

    // Reflection lists what this port serves, and only that: the service, health and reflection (the
    // descriptor set describes all four services, which `continuum up` serves on four ports).
    let listed =
        [options.service_name, HEALTH_SERVICE, REFLECTION_V1_SERVICE, REFLECTION_V1ALPHA_SERVICE];
    let reflection = || {
        listed.iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(continuum_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                ),
            |builder, name| builder.with_service_name(*name),
        )
    };
    let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
    // Python's grpcio reflection client speaks only v1alpha (DEPENDENCIES.md trap 3).
    let reflection_v1alpha = reflection().build_v1alpha().context("building reflection v1alpha")?;

    let routes = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let local = listener.local_addr().ok();
    tracing::info!(service = options.service_name, addr = ?local, "serving");

    // Readiness follows the probe until shutdown starts.
    let probe_task = {
        let reporter = reporter.clone();
        let token = shutdown.clone();
        let name = options.service_name;
        let interval = options.probe_interval;
        tokio::spawn(async move {
            let mut serving = true;
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                }
                let ok = probe().await;
                if ok != serving {
                    serving = ok;
                    let status =
                        if ok { ServingStatus::Serving } else { ServingStatus::NotServing };
                    tracing::warn!(service = name, serving = ok, "readiness changed");
                    if !token.is_cancelled() {
                        set_status(&reporter, name, status).await;
                    }
                }
            }
        })
    };

    let drain_started = CancellationToken::new();
    let signal = {
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        let drain_started = drain_started.clone();
        let name = options.service_name;
        async move {
            shutdown.cancelled().await;
            set_status(&reporter, name, ServingStatus::NotServing).await;
            set_overall(&reporter, ServingStatus::NotServing).await;
            drain_started.cancel();
            tracing::info!(service = name, "draining in-flight calls");
        }
    };

    let mut builder = Server::builder();
    if let Some(tls) = options.tls.clone() {
        builder = builder.tls_config(tls).context("server TLS")?;
    }
    let server = builder
        .trace_fn(|req: &http::Request<()>| {
            continuum_telemetry::server_span(req, continuum_auth::policy::is_known)
        })
        .timeout(options.request_timeout)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .layer(continuum_telemetry::rpc_metrics::RpcMetricsLayer::new(
            continuum_auth::policy::is_known,
        ))
        .layer(auth)
        .layer(decode::DecodeErrorLayer)
        .layer(inflight::InFlightLayer::process_wide(options.inflight))
        .layer(stream_end::StreamEndLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming(listener), signal);
    tokio::pin!(server);

    let result = tokio::select! {
        r = &mut server => r.context("gRPC server failed"),
        () = async { drain_started.cancelled().await; tokio::time::sleep(options.grace).await } => {
            tracing::warn!(service = options.service_name, "grace period over; closing remaining calls");
            Ok(())
        }
    };
    probe_task.abort();
    tracing::info!(service = options.service_name, "stopped");
    result
}

/// Sets the service's own status. The overall status ("") follows only start-up and shutdown, never
/// readiness: liveness probes check "" and must not restart a pod because its database is failing over.
/// Largest request message every service accepts (a bigger one is refused with RESOURCE_EXHAUSTED before
/// it is decoded). One limit for the four services: matching accepted 64 MiB, which let a hostile client
/// hold that much memory per call (issue 17). An AssignBatch of about 100,000 candidate pairs fits.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The accepted connections of `listener`, with TCP_NODELAY and keepalive set on each. A gRPC answer is
/// several small writes (headers, message, trailers): with Nagle's algorithm on, the second waits for the
/// peer's delayed ACK (40 ms on Linux), which cost every loopback hop tens of milliseconds (issue 12).
/// The builder's own `tcp_nodelay`/`tcp_keepalive` settings apply only to `serve`, not to an incoming
/// stream, so they are set here.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
}

async fn set_status(reporter: &HealthReporter, name: &str, status: ServingStatus) {
    reporter.set_service_status(name, status).await;
}

async fn set_overall(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
}

/// A channel to a peer service at `addr` (`host:port` or a full `http://` URL) that connects on first use
/// and reconnects by itself, so a peer that is down at start-up is not an error.
pub fn peer_channel(addr: &str) -> anyhow::Result<Channel> {
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    Ok(Endpoint::from_shared(url)
        .context("peer address")?
        .connect_timeout(PEER_CONNECT_TIMEOUT)
        .timeout(Duration::from_secs(10))
        .connect_with_connector_lazy(peer_connector()))
}

/// How long a peer connection attempt may take.
const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The connector of every peer channel (see [`continuum_process::connect`]): keep-alive every minute,
/// never connected to itself.
pub fn peer_connector() -> continuum_process::connect::PeerConnector {
    continuum_process::connect::PeerConnector::new(
        PEER_CONNECT_TIMEOUT,
        Some(Duration::from_secs(60)),
    )
}

/// How often a Redis cache is pinged for `continuum_dependency_up{dependency="redis"}`.
const REDIS_PING_EVERY: Duration = Duration::from_secs(5);

/// Keeps `continuum_dependency_up{dependency="redis"}` current: 1 now (the cache just connected), then
/// the result of a PING every `every`, for as long as the cache is in use.
pub fn watch_redis(cache: &continuum_cache::SharedCache, every: Duration) {
    continuum_telemetry::names::set_dependency_up("redis", true);
    let weak = std::sync::Arc::downgrade(cache);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(cache) = weak.upgrade() else { break };
            let up = cache.ping().await;
            continuum_telemetry::names::set_dependency_up("redis", up);
        }
    });
}

/// Sets `continuum_db_pool_connections` from the connection's pool (in use = open minus idle).
pub fn record_db_pool(db: &sea_orm::DatabaseConnection) {
    use sea_orm::DatabaseConnectionType as T;
    let (size, idle) = match &db.inner {
        T::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        T::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => return,
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
    continuum_telemetry::names::set_db_pool(size - idle, idle);
}

/// A database readiness probe for [`serve`]. Each run also sets `continuum_dependency_up{dependency=
/// "database"}` and `continuum_db_pool_connections`; both are set once when the probe is made (the
/// service has just connected and migrated), so a quiet process exports them from the start. While the
/// database answers, each run also starts a refresh of stale planner statistics ([`keep_statistics`]).
pub fn db_probe(
    db: sea_orm::DatabaseConnection,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> + Send + 'static {
    continuum_telemetry::names::set_dependency_up("database", true);
    record_db_pool(&db);
    let analyzing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    move || {
        let db = db.clone();
        let analyzing = analyzing.clone();
        Box::pin(async move {
            // Sampled before the ping, whose own connection would otherwise still count as in use.
            record_db_pool(&db);
            let up = tokio::time::timeout(Duration::from_secs(2), continuum_db::ping(&db))
                .await
                .unwrap_or(false);
            continuum_telemetry::names::set_dependency_up("database", up);
            if up {
                keep_statistics(db, analyzing);
            }
            up
        })
    }
}

/// Refreshes the planner statistics of the service's tables that changed a lot since they were last
/// analyzed ([`continuum_db::refresh_statistics`]), beside the probe so that readiness never waits for an
/// `ANALYZE`; one refresh at a time.
fn keep_statistics(db: sea_orm::DatabaseConnection, analyzing: Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    if analyzing.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        match continuum_db::refresh_statistics(&db).await {
            Ok(tables) if !tables.is_empty() => {
                tracing::debug!(tables = ?tables, "refreshed planner statistics");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
        }
        analyzing.store(false, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio_stream::StreamExt as _;

    /// Issue 12: the services' answers waited for delayed ACKs because accepted sockets kept Nagle on.
    #[tokio::test]
    async fn accepted_connections_have_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = super::incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let stream = accepted.next().await.unwrap().unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY must be set on every accepted connection");
    }
}
