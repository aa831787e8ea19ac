//! Where the `metrics` facade's numbers go: the Prometheus scrape endpoint, OTLP, or both.
//!
//! Services record through the `metrics` macros only (`counter!`, `gauge!`, `histogram!`). [`install`]
//! installs one process-wide [`FanOut`] recorder that forwards every registration to the Prometheus
//! recorder (served on `CONTINUUM_METRICS_ADDR`) and, when an OTLP endpoint is configured, to an
//! OpenTelemetry meter whose periodic reader exports over OTLP/gRPC.
//!
//! OTLP export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set and
//! `OTEL_METRICS_EXPORTER` is not `none`; the export interval is `OTEL_METRIC_EXPORT_INTERVAL` (ms, default
//! 60000). Counters become OTel monotonic sums, gauges OTel gauges (last value), histograms OTel
//! histograms (the RPC duration keeps the Prometheus buckets). Labels become attributes unchanged, so the
//! same rule holds on both paths: ids and codes only, never personal health information.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::PrometheusRecorder;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Bucket bounds (seconds) of `grpc_server_request_duration_seconds`, on both paths.
pub const RPC_DURATION_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Name of the RPC duration histogram.
pub const RPC_DURATION: &str = "grpc_server_request_duration_seconds";

/// Whether the standard variables ask for OTLP metric export.
pub fn otlp_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_METRICS_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
}

/// Installs the process-wide recorder: Prometheus from `CONTINUUM_METRICS_ADDR` (default `0.0.0.0:9464`,
/// `off` to disable) and OTLP from the `OTEL_*` variables, with `resource` (service name ...) on every
/// exported metric. Returns the meter provider to flush at shutdown when OTLP export is on. Nothing is
/// installed when both are off or a recorder is already installed (a second call in one process).
pub fn install(resource: opentelemetry_sdk::Resource) -> Option<SdkMeterProvider> {
    let prometheus = prometheus_from_env();
    let provider = if otlp_configured() {
        match opentelemetry_otlp::MetricExporter::builder().with_tonic().build() {
            Ok(exporter) => Some(
                SdkMeterProvider::builder()
                    .with_resource(resource)
                    .with_periodic_exporter(exporter)
                    .build(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "OTLP metric exporter could not be built; metrics are not exported over OTLP");
                None
            }
        }
    } else {
        None
    };
    if prometheus.is_none() && provider.is_none() {
        return None;
    }
    let otlp = provider.is_some();
    let recorder = FanOut::new(prometheus, provider.as_ref().map(|p| p.meter("continuum")));
    if metrics::set_global_recorder(recorder).is_err() {
        // Someone installed a recorder first (the all-in-one binary, tests): keep theirs.
        return None;
    }
    if otlp {
        tracing::info!("metrics exported over OTLP");
    }
    provider
}

/// The Prometheus recorder with its HTTP listener spawned on the current Tokio runtime, or `None` when
/// disabled, misconfigured, or outside a runtime.
fn prometheus_from_env() -> Option<PrometheusRecorder> {
    let raw = std::env::var("CONTINUUM_METRICS_ADDR").unwrap_or_else(|_| "0.0.0.0:9464".to_owned());
    if raw.trim() == "off" {
        return None;
    }
    let Ok(addr) = raw.parse::<SocketAddr>() else {
        tracing::warn!(value = %raw, "CONTINUUM_METRICS_ADDR is not an address; metrics endpoint disabled");
        return None;
    };
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no Tokio runtime; metrics endpoint disabled");
        return None;
    };
    let builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(RPC_DURATION.into()),
            &RPC_DURATION_BUCKETS,
        );
    let built = match builder {
        Ok(b) => {
            let _entered = handle.enter();
            b.build()
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics buckets");
            return None;
        }
    };
    match built {
        Ok((recorder, exporter)) => {
            handle.spawn(exporter);
            tracing::info!(addr = %addr, "metrics endpoint serving /metrics");
            Some(recorder)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics endpoint not started");
            None
        }
    }
}

/// A `metrics` recorder that forwards to Prometheus and to an OpenTelemetry meter (either may be absent).
pub struct FanOut {
    prometheus: Option<PrometheusRecorder>,
    otel: Option<OtelSide>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("prometheus", &self.prometheus.is_some())
            .field("otlp", &self.otel.is_some())
            .finish()
    }
}

/// The OpenTelemetry half: instruments by name, and the current value of every gauge series (the facade
/// can increment a gauge; an OTel gauge only records values).
struct OtelSide {
    meter: Meter,
    counters: Mutex<HashMap<String, opentelemetry::metrics::Counter<u64>>>,
    gauges: Mutex<HashMap<String, opentelemetry::metrics::Gauge<f64>>>,
    histograms: Mutex<HashMap<String, opentelemetry::metrics::Histogram<f64>>>,
    gauge_values: Mutex<HashMap<Key, Arc<AtomicU64>>>,
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels().map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned())).collect()
}

fn cached<T: Clone>(map: &Mutex<HashMap<String, T>>, name: &str, make: impl FnOnce() -> T) -> T {
    let mut m = map.lock().unwrap_or_else(PoisonError::into_inner);
    m.entry(name.to_owned()).or_insert_with(make).clone()
}

impl FanOut {
    /// A recorder over the given halves.
    pub fn new(prometheus: Option<PrometheusRecorder>, meter: Option<Meter>) -> Self {
        let otel = meter.map(|meter| OtelSide {
            meter,
            counters: Mutex::default(),
            gauges: Mutex::default(),
            histograms: Mutex::default(),
            gauge_values: Mutex::default(),
        });
        Self { prometheus, otel }
    }
}

struct FanCounter {
    prometheus: Counter,
    otel: Option<(opentelemetry::metrics::Counter<u64>, Vec<KeyValue>)>,
}

impl CounterFn for FanCounter {
    fn increment(&self, value: u64) {
        self.prometheus.increment(value);
        if let Some((c, attrs)) = &self.otel {
            c.add(value, attrs);
        }
    }

    fn absolute(&self, value: u64) {
        // Not used by Continuum; an OTel counter has no "set", so only Prometheus follows it.
        self.prometheus.absolute(value);
    }
}

struct FanGauge {
    prometheus: Gauge,
    otel: Option<(opentelemetry::metrics::Gauge<f64>, Vec<KeyValue>, Arc<AtomicU64>)>,
}

impl FanGauge {
    fn update(&self, f: impl Fn(f64) -> f64) {
        if let Some((g, attrs, value)) = &self.otel {
            let mut next = 0.0;
            let _ = value.fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                next = f(f64::from_bits(bits));
                Some(next.to_bits())
            });
            g.record(next, attrs);
        }
    }
}

impl GaugeFn for FanGauge {
    fn increment(&self, value: f64) {
        self.prometheus.increment(value);
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.prometheus.decrement(value);
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.prometheus.set(value);
        self.update(|_| value);
    }
}

struct FanHistogram {
    prometheus: Histogram,
    otel: Option<(opentelemetry::metrics::Histogram<f64>, Vec<KeyValue>)>,
}

impl HistogramFn for FanHistogram {
    fn record(&self, value: f64) {
        self.prometheus.record(value);
        if let Some((h, attrs)) = &self.otel {
            h.record(value, attrs);
        }
    }
}

impl Recorder for FanOut {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(p) = &self.prometheus {
            p.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let prometheus = self
            .prometheus
            .as_ref()
            .map_or_else(Counter::noop, |p| p.register_counter(key, metadata));
        let otel = self.otel.as_ref().map(|o| {
            let name = key.name();
            let c = cached(&o.counters, name, || o.meter.u64_counter(name.to_owned()).build());
            (c, attributes(key))
        });
        Counter::from_arc(Arc::new(FanCounter { prometheus, otel }))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let prometheus =
            self.prometheus.as_ref().map_or_else(Gauge::noop, |p| p.register_gauge(key, metadata));
        let otel = self.otel.as_ref().map(|o| {
            let name = key.name();
            let g = cached(&o.gauges, name, || o.meter.f64_gauge(name.to_owned()).build());
            let value = o
                .gauge_values
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key.clone())
                .or_default()
                .clone();
            (g, attributes(key), value)
        });
        Gauge::from_arc(Arc::new(FanGauge { prometheus, otel }))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let prometheus = self
            .prometheus
            .as_ref()
            .map_or_else(Histogram::noop, |p| p.register_histogram(key, metadata));
        let otel = self.otel.as_ref().map(|o| {
            let name = key.name();
            let h = cached(&o.histograms, name, || {
                let b = o.meter.f64_histogram(name.to_owned());
                if name == RPC_DURATION {
                    b.with_boundaries(RPC_DURATION_BUCKETS.to_vec()).build()
                } else {
                    b.build()
                }
            });
            (h, attributes(key))
        });
        Histogram::from_arc(Arc::new(FanHistogram { prometheus, otel }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_record_reaches_prometheus_and_gauges_keep_their_value_across_handles() {
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(RPC_DURATION.into()),
                &RPC_DURATION_BUCKETS,
            )
            .unwrap()
            .build_recorder();
        let handle = prometheus.handle();
        let provider = SdkMeterProvider::builder().build();
        let recorder = FanOut::new(Some(prometheus), Some(provider.meter("test")));
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("t_requests_total", "code" => "0").increment(2);
            metrics::gauge!("t_pending", "band" => "urgent").set(5.0);
            metrics::gauge!("t_pending", "band" => "urgent").increment(2.0);
            metrics::gauge!("t_pending", "band" => "urgent").decrement(1.0);
            metrics::histogram!(RPC_DURATION, "method" => "M").record(0.02);
        });
        let text = handle.render();
        assert!(text.contains("t_requests_total{code=\"0\"} 2"), "{text}");
        assert!(text.contains("t_pending{band=\"urgent\"} 6"), "{text}");
        assert!(
            text.contains(
                "grpc_server_request_duration_seconds_bucket{method=\"M\",le=\"0.025\"} 1"
            ),
            "{text}"
        );
        let otel = recorder.otel.as_ref().unwrap();
        let key = Key::from_parts("t_pending", vec![metrics::Label::new("band", "urgent")]);
        let value = otel.gauge_values.lock().unwrap()[&key].load(Ordering::Acquire);
        assert!(
            (f64::from_bits(value) - 6.0).abs() < f64::EPSILON,
            "the OTel side follows increments"
        );
        assert_eq!(otel.counters.lock().unwrap().len(), 1);
    }
}
