//! Telemetry for every Continuum process: structured JSON logs that carry the trace and span ids,
//! OpenTelemetry spans exported over OTLP, and W3C trace context carried in gRPC metadata so that one
//! intake is one trace across all four services.
//!
//! Configuration is the standard `OTEL_*` variables only: the OTLP exporter is added when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_TRACES_EXPORTER`
//! is not `none`); `OTEL_SERVICE_NAME` overrides the service name. A tracer provider is installed either
//! way, so trace ids exist (and propagate) even without an exporter.
//!
//! Metrics take one path: the `metrics` facade to the Prometheus endpoint on `CONTINUUM_METRICS_ADDR`,
//! scraped ([`prometheus`]); they are never pushed over OTLP. [`names`] describes the metrics every process
//! exports, [`process`] samples CPU and memory. Outgoing calls get client spans and metrics ([`client`]).
//!
//! Log lines are JSON objects whose reserved keys (`timestamp`, `level` — the severity —, `target`,
//! `span`, `trace_id`, `span_id`) an event's own fields never overwrite: a field with a reserved name is
//! written as `field.<name>`. Name fields so that this never happens (`level_of_care`, not `level`).
//!
//! Span and log fields carry ids and codes only, never personal health information: the span per RPC
//! records the method name and the gRPC status code, and handlers add ids. Health checks and reflection
//! calls get no span ([`is_untraced`]): probes would otherwise export a root trace every few seconds.
//!
//! A collector that is down or does not answer costs little: failed exports are reported at ERROR at most
//! once per [`EXPORT_ERROR_EVERY`] (with the number of failures since the last report), and
//! [`Telemetry::shutdown`] waits at most [`SHUTDOWN_EXPORT_BUDGET`] for the last spans.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod capture;
pub mod client;
pub mod names;
pub mod process;
pub mod prometheus;

pub use client::{ClientTrace, ClientTraceLayer};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the tracer provider alive; call [`Telemetry::shutdown`] before exit to flush spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

fn exporter_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs logging, tracing and metrics for `service` (must run inside the Tokio runtime: the OTLP span
/// exporter and the Prometheus listener use it). A second call in the same process (the all-in-one
/// binary, tests) keeps the first setup.
pub fn init(service: &str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| service.to_owned());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name.clone()).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let mut export_error = None;
    if exporter_configured() {
        match opentelemetry_otlp::SpanExporter::builder().with_tonic().build() {
            Ok(exporter) => {
                builder =
                    builder.with_batch_exporter(ReportedExporter::new(exporter, EXPORT_ERROR_EVERY))
            }
            Err(e) => export_error = Some(e.to_string()),
        }
    }
    let provider = builder.build();
    let tracer = provider.tracer(name);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,tower=warn,opentelemetry=warn"));
    let text = std::env::var("CONTINUUM_LOG_FORMAT").is_ok_and(|v| v == "text");
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::filter::filter_fn(|m| !SDK_EXPORT_EVENTS.contains(&m.name())))
        .with(otel);
    let installed = if text {
        registry.with(tracing_subscriber::fmt::layer().with_target(true)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().event_format(JsonWithTrace)).try_init()
    };
    if installed.is_err() {
        // Someone installed a subscriber first (tests, the all-in-one binary): keep theirs.
        prometheus::install();
        return Telemetry { provider: None };
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    if let Some(e) = export_error {
        tracing::warn!(error = %e, "OTLP exporter could not be built; spans are not exported");
    }
    prometheus::install();
    Telemetry { provider: Some(provider) }
}

/// A subscriber that only gives spans their OpenTelemetry trace and span ids (no log output, no export):
/// for checking trace propagation (`current_traceparent`, `continue_trace`) in tests and tools.
pub fn ids_only_subscriber() -> impl Subscriber + Send + Sync {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = SdkTracerProvider::builder().build().tracer("ids-only");
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// The longest [`Telemetry::shutdown`] waits for the last spans to reach the collector. A collector that
/// is down or does not answer must not hold up a pod's exit (the OTLP exporter retries each batch for up
/// to its own timeout, 10 s by default).
pub const SHUTDOWN_EXPORT_BUDGET: Duration = Duration::from_secs(2);

/// At most one ERROR line per this interval reports failing span exports.
pub const EXPORT_ERROR_EVERY: Duration = Duration::from_secs(60);

/// The SDK's own log events about failed exports: one per failed batch, and one more when shutdown times
/// out. [`ReportedExporter`] reports failures instead, at most once per interval.
const SDK_EXPORT_EVENTS: [&str; 2] =
    ["BatchSpanProcessor.ExportError", "BatchSpanProcessor.Shutdown.Timeout"];

impl Telemetry {
    /// Exports the spans still queued and stops span export, waiting at most
    /// [`SHUTDOWN_EXPORT_BUDGET`]: what is not exported by then is lost (and said so in a WARN line).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let (done, finished) = tokio::sync::oneshot::channel();
        // A plain thread, not `spawn_blocking`: an export stuck on a collector that does not answer must
        // not keep the runtime (whose drop waits for its blocking threads) and so the process alive.
        let spawned =
            std::thread::Builder::new().name("telemetry-shutdown".into()).spawn(move || {
                // Shutdown exports the queued spans itself; a separate flush would wait for a second export.
                let _ = done.send(provider.shutdown_with_timeout(SHUTDOWN_EXPORT_BUDGET));
            });
        if spawned.is_err() {
            return;
        }
        let grace = SHUTDOWN_EXPORT_BUDGET + Duration::from_millis(200);
        match tokio::time::timeout(grace, finished).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "span export did not finish at shutdown; queued spans are lost")
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("span export did not finish at shutdown; queued spans are lost")
            }
        }
    }
}

/// Reports the failures of a span exporter: an ERROR line at most once per interval, carrying the number
/// of failed exports (and of spans in them) since the previous line, so a dead collector neither floods
/// the log nor goes unnoticed.
#[derive(Debug)]
pub struct ReportedExporter<E> {
    inner: E,
    every: Duration,
    failures: Mutex<ExportFailures>,
}

#[derive(Debug, Default)]
struct ExportFailures {
    last_report: Option<Instant>,
    exports: u64,
    spans: u64,
}

impl<E> ReportedExporter<E> {
    /// Wraps `inner`, reporting failures at most once per `every`.
    pub fn new(inner: E, every: Duration) -> Self {
        Self { inner, every, failures: Mutex::new(ExportFailures::default()) }
    }

    fn failed(&self, spans: usize, error: &str) {
        let Ok(mut f) = self.failures.lock() else { return };
        f.exports += 1;
        f.spans += spans as u64;
        if f.last_report.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        tracing::error!(
            failed_exports = f.exports,
            spans_lost = f.spans,
            error,
            report_every_secs = self.every.as_secs(),
            "span export to the OTLP collector failed"
        );
        f.last_report = Some(Instant::now());
        f.exports = 0;
        f.spans = 0;
    }
}

impl<E: SpanExporter> SpanExporter for ReportedExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            self.failed(n, &e.to_string());
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
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

/// Whether a request path is a method some server serves (`continuum_auth::policy::is_known`): paths it
/// rejects are recorded under the fixed name [`names::UNKNOWN`], so made-up paths create no span names
/// or metric series.
pub type KnownPath = fn(&str) -> bool;

/// The service and method of `path` for spans and metric labels: taken from the path when `known` says it
/// is served, `("unknown", "unknown")` otherwise.
pub fn rpc_names(path: &str, known: KnownPath) -> (String, String) {
    let full = path.trim_start_matches('/');
    match full.split_once('/') {
        Some((service, method)) if known(path) => (service.to_owned(), method.to_owned()),
        _ => (names::UNKNOWN.to_owned(), names::UNKNOWN.to_owned()),
    }
}

/// Whether calls to `path` go untraced: gRPC health checks and server reflection. Probes call health every
/// few seconds per pod, and each call would be an exported root trace of no interest (issue 14).
pub fn is_untraced(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The span of one incoming RPC, child of the caller's span when the request carries trace context.
/// Used as the server's `trace_fn`; a path `known` rejects is named `unknown`. Health checks and
/// reflection calls get no span ([`is_untraced`]); they are still counted in the metrics.
pub fn server_span<B>(req: &http::Request<B>, known: KnownPath) -> tracing::Span {
    if is_untraced(req.uri().path()) {
        return tracing::Span::none();
    }
    let (service, method) = rpc_names(req.uri().path(), known);
    let name =
        if service == names::UNKNOWN { service.clone() } else { format!("{service}/{method}") };
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %name,
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

/// Sets the OpenTelemetry status of `span` (a background step's, such as `outbox.deliver`): `Ok` when
/// `outcome` is `Ok`, `Error` with the code as its description otherwise. The code is a short
/// machine-readable one (`UNAVAILABLE`, `REFERRAL_GONE`), never a message that could carry personal data.
pub fn set_outcome(span: &tracing::Span, outcome: Result<(), &str>) {
    use opentelemetry::trace::Status;
    span.set_status(match outcome {
        Ok(()) => Status::Ok,
        Err(code) => Status::error(code.to_owned()),
    });
}

/// Adds attributes to the current span (a handler's: the call's server span), so that backends that
/// search span attributes find a call by the record it made (`continuum.intake_id`). Ids and codes only,
/// never personal health information.
pub fn annotate(attributes: &[(&'static str, &str)]) {
    let span = tracing::Span::current();
    for (key, value) in attributes {
        span.set_attribute(*key, (*value).to_owned());
    }
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

/// Keys of a JSON log line that belong to the formatter, not to the event's fields.
pub const RESERVED_KEYS: [&str; 6] =
    ["timestamp", "level", "target", "span", "trace_id", "span_id"];

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
        let mut fields = serde_json::Map::new();
        event.record(&mut Fields(&mut fields));
        for (k, v) in fields {
            // An event field never overwrites a reserved key (the severity above all).
            let key = if RESERVED_KEYS.contains(&k.as_str()) { format!("field.{k}") } else { k };
            map.insert(key, v);
        }
        map.insert("level".into(), event.metadata().level().as_str().into());
        map.insert("target".into(), event.metadata().target().into());
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
/// `grpc_server_request_duration_seconds` (a histogram), scraped from the Prometheus endpoint
/// ([`crate::prometheus`]). Labels are method names and codes only; every path the [`crate::KnownPath`]
/// check rejects is counted under `service="unknown", method="unknown"`, so callers cannot add series.
/// The same layer records `rpc.grpc.status_code` (and `otel.status_code=ERROR` unless OK) on the server
/// span it runs in.
pub mod rpc_metrics {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    /// Tower layer recording per-RPC counts and durations.
    #[derive(Clone, Copy, Debug)]
    pub struct RpcMetricsLayer {
        known: crate::KnownPath,
    }

    impl RpcMetricsLayer {
        /// A layer labelling the paths `known` rejects `unknown`.
        pub fn new(known: crate::KnownPath) -> Self {
            Self { known }
        }
    }

    impl<S> tower::Layer<S> for RpcMetricsLayer {
        type Service = RpcMetrics<S>;
        fn layer(&self, inner: S) -> Self::Service {
            RpcMetrics { inner, known: self.known }
        }
    }

    /// The service produced by [`RpcMetricsLayer`].
    #[derive(Clone, Debug)]
    pub struct RpcMetrics<S> {
        inner: S,
        known: crate::KnownPath,
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
            let (service, method) = crate::rpc_names(req.uri().path(), self.known);
            Box::pin(async move {
                let started = Instant::now();
                let result = inner.call(req).await;
                // A unary error travels as "trailers-only" (status in the headers); success puts it in the
                // trailers, so a missing header here means OK.
                let status = result.as_ref().map_or(13, crate::client::status_of);
                // Polled inside the server span (tonic's `trace_fn`).
                crate::client::record_status(&tracing::Span::current(), status);
                if !service.starts_with("grpc.") {
                    let code = status.to_string();
                    let labels = [("service", service), ("method", method), ("code", code)];
                    metrics::counter!(crate::names::GRPC_SERVER_REQUESTS, &labels).increment(1);
                    metrics::histogram!(crate::names::GRPC_SERVER_DURATION, &labels[..2])
                        .record(started.elapsed().as_secs_f64());
                }
                result
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines `f` logs.
    fn json_lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonWithTrace)
                .with_writer(move || out.clone()),
        );
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn an_event_field_never_overwrites_the_severity() {
        let lines = json_lines(|| {
            tracing::info!(level = "crisis", target = "x", "intake accepted");
            tracing::warn!(level_of_care = "crisis", "recommended");
        });
        assert_eq!(lines[0]["level"], "INFO", "{}", lines[0]);
        assert_eq!(lines[0]["field.level"], "crisis");
        assert_eq!(lines[0]["field.target"], "x");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["level_of_care"], "crisis");
        assert_eq!(lines[1]["message"], "recommended");
    }

    /// An exporter whose every export fails, as against a collector that is down.
    #[derive(Debug)]
    struct DeadCollector;

    impl SpanExporter for DeadCollector {
        async fn export(&self, _batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
            Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                "connection refused".into(),
            ))
        }
    }

    #[test]
    fn failing_exports_are_reported_once_per_interval_with_their_count() {
        let exporter = ReportedExporter::new(DeadCollector, Duration::from_secs(60));
        let lines = json_lines(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for _ in 0..5 {
                assert!(runtime.block_on(exporter.export(Vec::new())).is_err());
            }
        });
        assert_eq!(lines.len(), 1, "one line for five failed exports: {lines:?}");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["failed_exports"], 1);
        assert!(lines[0]["error"].as_str().unwrap().contains("connection refused"));

        // Once the interval has passed, the next failure is reported with the ones held back.
        let exporter = ReportedExporter::new(DeadCollector, Duration::ZERO);
        let lines = json_lines(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            for _ in 0..3 {
                let _ = runtime.block_on(exporter.export(Vec::new()));
            }
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
    }

    #[test]
    fn health_and_reflection_are_untraced_and_nothing_else() {
        for p in [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ] {
            assert!(is_untraced(p), "{p}");
        }
        for p in ["/continuum.intake.v1.IntakeService/SubmitIntake", "/x.Bogus/Nope", "/grpc.x/Y"] {
            assert!(!is_untraced(p), "{p}");
        }
    }

    #[test]
    fn unknown_paths_have_one_name() {
        let known: KnownPath = |p| p == "/a.B/C";
        assert_eq!(rpc_names("/a.B/C", known), ("a.B".to_owned(), "C".to_owned()));
        for p in ["/x.Bogus/Nope", "/a.B/D", "/", "nothing"] {
            assert_eq!(rpc_names(p, known), ("unknown".to_owned(), "unknown".to_owned()), "{p}");
        }
    }
}
