//! The one metrics path: services record through the `metrics` macros, and the process-wide recorder is
//! metrics-exporter-prometheus, served for scraping on `CONTINUUM_METRICS_ADDR` (default `0.0.0.0:9464`,
//! `off` disables it). Nothing is pushed: Prometheus, or a collector's Prometheus receiver, scrapes
//! `/metrics`. Traces are the only signal sent over OTLP.
//!
//! The histogram buckets that alert and SLO rules rely on are set here, by metric name.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// Bucket bounds (seconds) of the server and client RPC duration histograms.
pub const RPC_DURATION_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Bucket bounds (seconds) of `continuum_intake_routed_seconds`: 300 is the routing-latency SLO.
pub const ROUTED_BUCKETS: [f64; 12] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0];

/// Bucket bounds (seconds) of `continuum_time_to_first_offer_seconds`: 1, 3, 7, 14, 21, 28, 42 (the
/// time-to-first-offer SLO), 56, 84, 126 and 182 days.
pub const FIRST_OFFER_BUCKETS: [f64; 11] = [
    86_400.0,
    259_200.0,
    604_800.0,
    1_209_600.0,
    1_814_400.0,
    2_419_200.0,
    3_628_800.0,
    4_838_400.0,
    7_257_600.0,
    10_886_400.0,
    15_724_800.0,
];

/// The buckets of every histogram Continuum records; any other histogram gets the exporter's summary.
pub fn buckets() -> [(&'static str, &'static [f64]); 5] {
    [
        (crate::names::GRPC_SERVER_DURATION, &RPC_DURATION_BUCKETS),
        (crate::names::HTTP_SERVER_DURATION, &RPC_DURATION_BUCKETS),
        (crate::names::GRPC_CLIENT_DURATION, &RPC_DURATION_BUCKETS),
        (crate::names::INTAKE_ROUTED, &ROUTED_BUCKETS),
        (crate::names::TIME_TO_FIRST_OFFER, &FIRST_OFFER_BUCKETS),
    ]
}

/// A Prometheus builder with Continuum's buckets (no listener).
pub fn builder() -> PrometheusBuilder {
    let mut builder = PrometheusBuilder::new();
    for (name, bounds) in buckets() {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.into()), bounds) {
            Ok(b) => b,
            // Only an empty bucket list fails, and none of the above is empty.
            Err(_) => PrometheusBuilder::new(),
        };
    }
    builder
}

/// Installs the process-wide recorder serving `/metrics` on `CONTINUUM_METRICS_ADDR`, and starts the
/// process metrics ([`crate::process`]). Returns whether this call installed it: nothing happens when the
/// endpoint is off or misconfigured, outside a Tokio runtime, or when a recorder is already installed (a
/// second call in one process keeps the first).
pub fn install() -> bool {
    let Some(recorder) = recorder_from_env() else {
        return false;
    };
    if metrics::set_global_recorder(recorder).is_err() {
        return false;
    }
    crate::names::describe_common();
    crate::process::spawn_sampler();
    true
}

/// Where `/metrics` listens when `CONTINUUM_METRICS_ADDR` is unset, when a command chose (see
/// [`set_default_addr`]).
static DEFAULT_ADDR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets where `/metrics` listens when `CONTINUUM_METRICS_ADDR` is unset, before telemetry starts:
/// `continuum up` binds it on its own host (loopback by default, like its gRPC ports) instead of every
/// interface. The first call wins.
pub fn set_default_addr(addr: String) {
    let _ = DEFAULT_ADDR.set(addr);
}

/// The address `/metrics` listens on: the variable when set, else the chosen default, else every
/// interface on 9464 (a pod is scraped from outside it).
fn metrics_addr(variable: Option<String>) -> String {
    variable
        .unwrap_or_else(|| DEFAULT_ADDR.get().cloned().unwrap_or_else(|| "0.0.0.0:9464".to_owned()))
}

/// The Prometheus recorder with its HTTP listener spawned on the current Tokio runtime, or `None` when
/// disabled, misconfigured, or outside a runtime.
fn recorder_from_env() -> Option<PrometheusRecorder> {
    let raw = metrics_addr(std::env::var("CONTINUUM_METRICS_ADDR").ok());
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
    let built = {
        let _entered = handle.enter();
        builder().with_http_listener(addr).build()
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_variable_wins_then_the_chosen_default_then_every_interface() {
        assert_eq!(super::metrics_addr(Some("127.0.0.1:1".into())), "127.0.0.1:1");
        // No other test in this crate sets the default; this one sets it for the process.
        assert_eq!(super::metrics_addr(None), "0.0.0.0:9464");
        super::set_default_addr("127.0.0.1:9464".into());
        assert_eq!(super::metrics_addr(None), "127.0.0.1:9464");
        assert_eq!(super::metrics_addr(Some("[::1]:2".into())), "[::1]:2");
    }
}
