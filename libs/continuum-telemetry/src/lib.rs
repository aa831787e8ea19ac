//! Telemetry for every Continuum process: structured JSON logs that carry the trace and span ids,
//! OpenTelemetry spans exported over OTLP, and W3C trace context carried in gRPC metadata so that one
//! intake is one trace across all four services.
//!
//! Configuration is the standard `OTEL_*` variables only: the OTLP exporter is added when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_TRACES_EXPORTER`
//! is not `none`); `OTEL_SERVICE_NAME` overrides the service name. A tracer provider is installed either
//! way, so trace ids exist (and propagate) even without an exporter.
//!
//! Metrics go through the `metrics` facade to the Prometheus endpoint and, with an OTLP endpoint, over
//! OTLP too ([`metrics_export`]). Outgoing calls get client spans ([`client`]).
//!
//! Span and log fields carry ids and codes only, never personal health information: the span per RPC
//! records the method name and the gRPC status code, and handlers add ids.

use std::fmt;

pub mod client;
pub mod metrics_export;

pub use client::{ClientTrace, ClientTraceLayer};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the tracer and meter providers alive; call [`Telemetry::shutdown`] before exit to flush spans
/// and metrics.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

fn exporter_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs logging, tracing and metrics for `service` (must run inside the Tokio runtime: the OTLP
/// exporters and the Prometheus listener use it). A second call in the same process (the all-in-one
/// binary, tests) keeps the first setup.
pub fn init(service: &str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| service.to_owned());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name.clone()).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut export_error = None;
    if exporter_configured() {
        match opentelemetry_otlp::SpanExporter::builder().with_tonic().build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => export_error = Some(e.to_string()),
        }
    }
    let provider = builder.build();
    let tracer = provider.tracer(name);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn,opentelemetry=warn"));
    let text = std::env::var("CONTINUUM_LOG_FORMAT").is_ok_and(|v| v == "text");
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = if text {
        registry.with(tracing_subscriber::fmt::layer().with_target(true)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().event_format(JsonWithTrace)).try_init()
    };
    if installed.is_err() {
        // Someone installed a subscriber first (tests, the all-in-one binary): keep theirs.
        return Telemetry { provider: None, meters: metrics_export::install(resource) };
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    if let Some(e) = export_error {
        tracing::warn!(error = %e, "OTLP exporter could not be built; spans are not exported");
    }
    Telemetry { provider: Some(provider), meters: metrics_export::install(resource) }
}

/// A subscriber that only gives spans their OpenTelemetry trace and span ids (no log output, no export):
/// for checking trace propagation (`current_traceparent`, `continue_trace`) in tests and tools.
pub fn ids_only_subscriber() -> impl Subscriber + Send + Sync {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = SdkTracerProvider::builder().build().tracer("ids-only");
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
}

impl Telemetry {
    /// Flushes and stops span export (blocking work runs off the async threads).
    pub async fn shutdown(self) {
        let (provider, meters) = (self.provider, self.meters);
        if provider.is_none() && meters.is_none() {
            return;
        }
        let _ = tokio_spawn_blocking(move || {
            if let Some(p) = provider {
                let _ = p.force_flush();
                let _ = p.shutdown();
            }
            if let Some(m) = meters {
                let _ = m.force_flush();
                let _ = m.shutdown();
            }
        })
        .await;
    }
}

async fn tokio_spawn_blocking<F: FnOnce() + Send + 'static>(f: F) -> Result<(), ()> {
    // Kept in a helper so the crate's only runtime dependency is here.
    tokio::task::spawn_blocking(f).await.map_err(|_| ())
}

/// The `traceparent` of the current span, for work finished later (stored with a task, restored by the
/// worker with [`continue_trace`]).
pub fn current_traceparent() -> String {
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of the trace named by a stored `traceparent` (empty: nothing happens), so a
/// background retry appears in the trace of the request that started the work.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// The trace id of the current span (hex), or empty when not traced.
pub fn current_trace_id() -> String {
    let cx = tracing::Span::current().context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() { sc.trace_id().to_string() } else { String::new() }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of one incoming RPC, child of the caller's span when the request carries trace context.
/// Used as the server's `trace_fn`.
pub fn server_span<B>(req: &http::Request<B>) -> tracing::Span {
    let path = req.uri().path();
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) =
            (tonic::metadata::MetadataKey::from_bytes(key.as_bytes()), value.parse())
        {
            self.0.insert(k, v);
        }
    }
}

/// Adds the current span's W3C trace context to an outgoing request's metadata.
pub fn inject(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut MetadataInjector(metadata))
    });
}

/// JSON lines with the event's fields, level, target, time, and the trace and span ids of the current
/// span.
struct JsonWithTrace;

struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut map = serde_json::Map::new();
        map.insert(
            "timestamp".into(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
        );
        map.insert("level".into(), event.metadata().level().as_str().into());
        map.insert("target".into(), event.metadata().target().into());
        event.record(&mut Fields(&mut map));
        if let Some(span) = ctx.lookup_current() {
            map.insert("span".into(), span.name().into());
        }
        let cx = tracing::Span::current().context();
        let sc = cx.span().span_context().clone();
        if sc.is_valid() {
            map.insert("trace_id".into(), sc.trace_id().to_string().into());
            map.insert("span_id".into(), sc.span_id().to_string().into());
        }
        writeln!(writer, "{}", serde_json::Value::Object(map))
    }
}

/// Per-RPC metrics, and the gRPC status on the server span.
///
/// Every server records, per service, method and gRPC status code: `grpc_server_requests_total` and
/// `grpc_server_request_duration_seconds` (a histogram), exported as set up by [`metrics_export`]
/// (Prometheus on `CONTINUUM_METRICS_ADDR`, OTLP when configured). Labels are method names and codes only.
/// The same layer records `rpc.grpc.status_code` (and `otel.status_code=ERROR` unless OK) on the server
/// span it runs in.
pub mod rpc_metrics {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    /// Tower layer recording per-RPC counts and durations.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct RpcMetricsLayer;

    impl<S> tower::Layer<S> for RpcMetricsLayer {
        type Service = RpcMetrics<S>;
        fn layer(&self, inner: S) -> Self::Service {
            RpcMetrics { inner }
        }
    }

    /// The service produced by [`RpcMetricsLayer`].
    #[derive(Clone, Debug)]
    pub struct RpcMetrics<S> {
        inner: S,
    }

    impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcMetrics<S>
    where
        S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        ReqBody: Send + 'static,
    {
        type Response = http::Response<ResBody>;
        type Error = S::Error;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            let path = req.uri().path().trim_start_matches('/').to_owned();
            Box::pin(async move {
                let started = Instant::now();
                let result = inner.call(req).await;
                let (service, method) = path
                    .split_once('/')
                    .map_or((path.clone(), String::new()), |(s, m)| (s.to_owned(), m.to_owned()));
                // A unary error travels as "trailers-only" (status in the headers); success puts it in the
                // trailers, so a missing header here means OK.
                let status = result.as_ref().map_or(13, crate::client::status_of);
                // Polled inside the server span (tonic's `trace_fn`).
                crate::client::record_status(&tracing::Span::current(), status);
                if !service.starts_with("grpc.") {
                    let code = status.to_string();
                    let labels = [("service", service), ("method", method), ("code", code)];
                    metrics::counter!("grpc_server_requests_total", &labels).increment(1);
                    metrics::histogram!("grpc_server_request_duration_seconds", &labels[..2])
                        .record(started.elapsed().as_secs_f64());
                }
                result
            })
        }
    }
}
