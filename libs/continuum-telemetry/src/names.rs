//! The metrics every Continuum process exports (deploy/prometheus/metrics.txt is the contract): their
//! names, `# HELP` texts and units, and the helpers that set them. [`describe_common`] runs when the
//! Prometheus recorder is installed; each service then calls [`register_service`] and describes and
//! registers its own metrics at start-up, so a quiet process already exports every series it can
//! (counters at 0, gauges at their value, unlabelled histograms empty).
//!
//! Labels carry names, ids and codes only, never personal health information.

use metrics::Unit;

/// Counter of served RPCs by `service`, `method`, `code`.
pub const GRPC_SERVER_REQUESTS: &str = "grpc_server_requests_total";
/// Histogram of served RPC durations by `service`, `method`.
pub const GRPC_SERVER_DURATION: &str = "grpc_server_request_duration_seconds";
/// Counter of calls to peers by `peer`, `method`, `code`.
pub const GRPC_CLIENT_REQUESTS: &str = "grpc_client_requests_total";
/// Histogram of call durations to peers by `peer`, `method`.
pub const GRPC_CLIENT_DURATION: &str = "grpc_client_request_duration_seconds";
/// Counter of HTTP requests the gateway served by `route` (the route template, never the path), `method`,
/// `code` (the HTTP status).
pub const HTTP_SERVER_REQUESTS: &str = "http_server_requests_total";
/// Histogram of HTTP request durations by `route`, `method`.
pub const HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";
/// Gauge 1 with `service` and `version`.
pub const BUILD_INFO: &str = "continuum_build_info";
/// Gauge 0/1 by `dependency`.
pub const DEPENDENCY_UP: &str = "continuum_dependency_up";
/// Gauge of database pool connections by `state` (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "continuum_db_pool_connections";
/// Counter of CPU seconds (user and system) the process used.
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
/// Gauge of the process's resident memory.
pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Histogram (intake) from SubmitIntake accepted to routed.
pub const INTAKE_ROUTED: &str = "continuum_intake_routed_seconds";
/// Histogram (waitlist) from joining the waitlist to the first offer.
pub const TIME_TO_FIRST_OFFER: &str = "continuum_time_to_first_offer_seconds";

/// The label value that stands for every path no server serves, in metrics and span names.
pub const UNKNOWN: &str = "unknown";

/// Describes the metrics every process exports (`# HELP` and unit), and registers the ones without
/// labels that a quiet process can already give.
pub fn describe_common() {
    metrics::describe_counter!(
        GRPC_SERVER_REQUESTS,
        Unit::Count,
        "gRPC calls served, by service, method and status code (unknown paths: method=\"unknown\")"
    );
    metrics::describe_histogram!(
        GRPC_SERVER_DURATION,
        Unit::Seconds,
        "Duration of served gRPC calls, by service and method"
    );
    metrics::describe_counter!(
        GRPC_CLIENT_REQUESTS,
        Unit::Count,
        "gRPC calls made to peer services, by peer, method and status code (14 when the call never reached the peer)"
    );
    metrics::describe_histogram!(
        GRPC_CLIENT_DURATION,
        Unit::Seconds,
        "Duration of gRPC calls made to peer services, by peer and method"
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        Unit::Count,
        "Always 1: the service and version this process runs"
    );
    metrics::describe_gauge!(
        DEPENDENCY_UP,
        Unit::Count,
        "1 while this process reaches the dependency (database, redis, or a peer service), 0 while it does not"
    );
    metrics::describe_gauge!(
        DB_POOL_CONNECTIONS,
        Unit::Count,
        "Database pool connections by state (in_use, idle)"
    );
    metrics::describe_counter!(
        PROCESS_CPU,
        Unit::Seconds,
        "User and system CPU time the process used, in whole seconds"
    );
    metrics::describe_gauge!(
        PROCESS_RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the process"
    );
}

/// Exports `continuum_build_info{service, version} 1` for one service of this process.
pub fn register_service(service: &'static str, version: &'static str) {
    metrics::gauge!(BUILD_INFO, "service" => service, "version" => version).set(1.0);
}

/// Sets `continuum_dependency_up{dependency}`.
pub fn set_dependency_up(dependency: &'static str, up: bool) {
    metrics::gauge!(DEPENDENCY_UP, "dependency" => dependency).set(if up { 1.0 } else { 0.0 });
}

/// Sets `continuum_db_pool_connections` for both states.
pub fn set_db_pool(in_use: u32, idle: u32) {
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
}
