//! The gateway's request telemetry: one `http.server` span per request (a child of the caller's W3C
//! `traceparent` when it sends one; the upstream gRPC calls are its children), the per-request timeout, and
//! the request metrics `http_server_requests_total{route, method, code}` and
//! `http_server_request_duration_seconds{route, method}`.
//!
//! Labels and span fields are the route TEMPLATE (`/fhir/Task/{id}`), the method and the status code: never
//! a path, a query or a body, so no id a client chose and no personal health information reaches them.
//! Requests no route matches count under `route="unknown"`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::Error;
use crate::startup::AppState;

/// The route label of requests no route matches.
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Describes the gateway's metrics and exports `continuum_build_info{service="gateway"}`.
pub fn register() {
    use continuum_telemetry::names::{HTTP_SERVER_DURATION, HTTP_SERVER_REQUESTS};
    metrics::describe_counter!(
        HTTP_SERVER_REQUESTS,
        metrics::Unit::Count,
        "HTTP requests served by the gateway, by route template, method and status code (unmatched: route=\"unknown\")"
    );
    metrics::describe_histogram!(
        HTTP_SERVER_DURATION,
        metrics::Unit::Seconds,
        "Duration of HTTP requests served by the gateway, by route template and method"
    );
    continuum_telemetry::names::register_service("gateway", env!("CARGO_PKG_VERSION"));
}

/// A method as a fixed label (anything unusual is `other`).
fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn record(route: String, method: &'static str, status: u16, seconds: f64) {
    use continuum_telemetry::names::{HTTP_SERVER_DURATION, HTTP_SERVER_REQUESTS};
    metrics::counter!(HTTP_SERVER_REQUESTS, "route" => route.clone(), "method" => method, "code" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_SERVER_DURATION, "route" => route, "method" => method).record(seconds);
}

/// The middleware around every matched route: span, timeout, metrics.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNKNOWN_ROUTE.to_owned(), |m| m.as_str().to_owned());
    let method = method_label(req.method());
    let span = tracing::info_span!(
        "http.server",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if let Some(parent) = req.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
        continuum_telemetry::continue_trace(&span, parent);
    }
    let started = Instant::now();
    let timeout = state.request_timeout;
    let response = async move {
        match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => Error::Upstream {
                status: tonic::Status::deadline_exceeded("request timed out"),
                fields: None,
            }
            .into_response(),
        }
    }
    .instrument(span.clone())
    .await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    record(route, method, status, started.elapsed().as_secs_f64());
    response
}

/// Requests no route matches: 404, counted under `route="unknown"`.
pub async fn not_found(req: Request) -> Response {
    let response = Error::NotFound(
        "no such endpoint: the FHIR API is under /fhir (see /fhir/metadata)".to_owned(),
    )
    .into_response();
    record(UNKNOWN_ROUTE.to_owned(), method_label(req.method()), response.status().as_u16(), 0.0);
    response
}
