//! Client spans and client metrics for outgoing gRPC calls, and the gRPC status on server and client spans.
//!
//! [`ClientTraceLayer`] wraps a peer channel (below the interceptor that signs the call and injects the
//! trace context): every call runs in a `grpc.client` span (`otel.kind=client`, `rpc.system=grpc`,
//! `rpc.service`, `rpc.method`), and because the interceptor runs inside it, that span is the parent the
//! callee's server span joins. When the answer arrives the span records `rpc.grpc.status_code` and, for any
//! code but OK, `otel.status_code=ERROR`. A unary error travels "trailers-only" (the status in the response
//! headers), which is what is read here; a transport failure counts as UNAVAILABLE (14).
//!
//! The same layer records `grpc_client_requests_total{peer, method, code}` and
//! `grpc_client_request_duration_seconds{peer, method}`, and keeps `continuum_dependency_up{dependency=peer}`
//! at 0 while calls to the peer end UNAVAILABLE, 1 otherwise. The peer is the service's package
//! (`continuum.matching.v1...` is `matching`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::Instrument;

/// The gRPC status code of a response, read from its headers: an error answer is "trailers-only", so a
/// missing `grpc-status` header means OK (the status follows in the trailers of a successful call).
pub fn status_of<B>(resp: &http::Response<B>) -> i32 {
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Records a gRPC status code on an RPC span (server or client): `rpc.grpc.status_code`, and
/// `otel.status_code=ERROR` unless it is OK.
pub fn record_status(span: &tracing::Span, code: i32) {
    span.record("rpc.grpc.status_code", code);
    if code != 0 {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one outgoing call to `path` (`/package.Service/Method`).
pub fn client_span(path: &str) -> tracing::Span {
    let full = path.trim_start_matches('/');
    let (service, method) = full.split_once('/').unwrap_or((full, ""));
    tracing::info_span!(
        "grpc.client",
        otel.name = %full,
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}

/// The peer and method of an outgoing call to `path`: `("matching", "Recommend")` for
/// `/continuum.matching.v1.MatchingService/Recommend`; anything else is `unknown`.
pub fn peer_and_method(path: &str) -> (&'static str, String) {
    let full = path.trim_start_matches('/');
    let Some((service, method)) = full.split_once('/') else {
        return (crate::names::UNKNOWN, crate::names::UNKNOWN.to_owned());
    };
    let peer = match service.split('.').nth(1) {
        Some("intake") if service.starts_with("continuum.") => "intake",
        Some("matching") if service.starts_with("continuum.") => "matching",
        Some("referral") if service.starts_with("continuum.") => "referral",
        Some("waitlist") if service.starts_with("continuum.") => "waitlist",
        _ => crate::names::UNKNOWN,
    };
    (peer, method.to_owned())
}

/// Records one finished outgoing call: the client metrics and the peer's `continuum_dependency_up`.
pub fn record_client_call(path: &str, code: i32, seconds: f64) {
    let (peer, method) = peer_and_method(path);
    let code = code.to_string();
    metrics::counter!(crate::names::GRPC_CLIENT_REQUESTS, "peer" => peer, "method" => method.clone(), "code" => code.clone())
        .increment(1);
    metrics::histogram!(crate::names::GRPC_CLIENT_DURATION, "peer" => peer, "method" => method)
        .record(seconds);
    if peer != crate::names::UNKNOWN {
        crate::names::set_dependency_up(peer, code != "14");
    }
}

/// Tower layer that gives every outgoing call its client span and client metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientTraceLayer;

impl<S> tower::Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ClientTrace { inner }
    }
}

/// The service produced by [`ClientTraceLayer`].
#[derive(Clone, Debug)]
pub struct ClientTrace<S> {
    inner: S,
}

impl<S> ClientTrace<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for ClientTrace<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_owned();
        let span = client_span(&path);
        let started = Instant::now();
        // Inside the span, so the interceptor below injects this span as the callee's parent.
        let fut = span.in_scope(|| self.inner.call(req));
        let recorded = span.clone();
        Box::pin(
            async move {
                let result = fut.await;
                let code = result.as_ref().map_or(14, status_of);
                record_status(&recorded, code);
                record_client_call(&path, code, started.elapsed().as_secs_f64());
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_the_four_services_or_unknown() {
        assert_eq!(
            peer_and_method("/continuum.matching.v1.MatchingService/Recommend"),
            ("matching", "Recommend".to_owned())
        );
        assert_eq!(peer_and_method("/continuum.waitlist.v1.WaitlistService/Enqueue").0, "waitlist");
        assert_eq!(peer_and_method("/x.Bogus/Nope").0, "unknown");
        assert_eq!(peer_and_method("/nothing"), ("unknown", "unknown".to_owned()));
    }
}
