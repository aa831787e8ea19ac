//! Client spans for outgoing gRPC calls, and the gRPC status on server and client spans.
//!
//! [`ClientTraceLayer`] wraps a peer channel (below the interceptor that signs the call and injects the
//! trace context): every call runs in a `grpc.client` span (`otel.kind=client`, `rpc.system=grpc`,
//! `rpc.service`, `rpc.method`), and because the interceptor runs inside it, that span is the parent the
//! callee's server span joins. When the answer arrives the span records `rpc.grpc.status_code` and, for any
//! code but OK, `otel.status_code=ERROR`. A unary error travels "trailers-only" (the status in the response
//! headers), which is what is read here; a transport failure counts as UNAVAILABLE (14).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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

/// Tower layer that gives every outgoing call its client span.
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
        let span = client_span(req.uri().path());
        // Inside the span, so the interceptor below injects this span as the callee's parent.
        let fut = span.in_scope(|| self.inner.call(req));
        let recorded = span.clone();
        Box::pin(
            async move {
                let result = fut.await;
                record_status(&recorded, result.as_ref().map_or(14, status_of));
                result
            }
            .instrument(span),
        )
    }
}
