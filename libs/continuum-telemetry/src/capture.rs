//! What a process would log and export, captured in memory: for tests that check that a log line carries
//! its trace id, that a span has the status it should, or that a call exports no span at all.
//!
//! [`capture`] returns a subscriber with the same two outputs as [`crate::init`] (JSON log lines with
//! trace and span ids, and OpenTelemetry spans), writing into memory instead of stdout and OTLP. Install
//! it process-wide (`tracing::subscriber::set_global_default`) in a test binary of its own: a thread-local
//! default misses callsites whose interest other test threads cached first.

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;

/// Log lines and finished spans, shared with the subscriber that records them.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    logs: Buffer,
    spans: Arc<Mutex<Vec<SpanData>>>,
}

/// One finished span, as an exporter would send it (ids in hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedSpan {
    /// The span's name (`otel.name` when set).
    pub name: String,
    /// The span kind: `server`, `client` or `internal` (`producer`, `consumer`).
    pub kind: &'static str,
    /// The trace id, hex.
    pub trace_id: String,
    /// The OpenTelemetry status: `unset`, `ok` or `error`.
    pub status: &'static str,
    /// The status description (errors only).
    pub description: String,
    /// The attributes, `key=value`.
    pub attributes: Vec<String>,
}

impl Captured {
    /// Every JSON log line written so far (a line that is not JSON is left out).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.logs.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Every span finished so far.
    pub fn spans(&self) -> Vec<CapturedSpan> {
        let spans = self.spans.lock().map(|s| s.clone()).unwrap_or_default();
        spans
            .into_iter()
            .map(|s| {
                let (status, description) = match s.status {
                    Status::Unset => ("unset", String::new()),
                    Status::Ok => ("ok", String::new()),
                    Status::Error { description } => ("error", description.into_owned()),
                };
                let kind = match s.span_kind {
                    SpanKind::Server => "server",
                    SpanKind::Client => "client",
                    SpanKind::Producer => "producer",
                    SpanKind::Consumer => "consumer",
                    SpanKind::Internal => "internal",
                };
                CapturedSpan {
                    name: s.name.into_owned(),
                    kind,
                    trace_id: s.span_context.trace_id().to_string(),
                    status,
                    description,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|kv| format!("{}={}", kv.key, kv.value))
                        .collect(),
                }
            })
            .collect()
    }
}

/// The capture of this whole process: installs [`capture`]'s subscriber as the global default on first
/// use (a test binary of its own, where nothing else installs one) and returns what it captured.
pub fn global() -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let (subscriber, captured) = capture();
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            tracing::warn!("a global subscriber was already installed; nothing will be captured");
        }
        captured
    })
}

/// A subscriber that logs JSON lines (the format [`crate::init`] installs) and exports every span as it
/// ends, both into the returned [`Captured`].
pub fn capture() -> (impl Subscriber + Send + Sync, Captured) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let captured = Captured::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(MemoryExporter(captured.spans.clone()))
        .build();
    let tracer = provider.tracer("capture");
    let out = captured.logs.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(crate::JsonWithTrace)
                .with_writer(move || out.clone()),
        );
    (subscriber, captured)
}

#[derive(Debug)]
struct MemoryExporter(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for MemoryExporter {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        if let Ok(mut spans) = self.0.lock() {
            spans.extend(batch);
        }
        Ok(())
    }
}

/// Log output kept in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Buffer(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
