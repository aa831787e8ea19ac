//! One shape for the layers that wrap every request body before the service reads it ([`WrapBody`]):
//! `stream_end` (did the stream end cleanly?) and `inflight` (request bytes held against budgets).

use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Body;

/// The error type request bodies are boxed with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps one request body; may add to the request's extensions (the handler reads them).
pub trait WrapBody: Clone {
    /// The body the inner service reads instead of `body`.
    fn wrap<B>(&self, parts: &mut http::request::Parts, body: B) -> tonic::body::Body
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>;
}

/// A service that hands the inner one every request with its body wrapped by `W`.
#[derive(Clone, Debug)]
pub struct WrapBodyService<S, W> {
    inner: S,
    wrap: W,
}

impl<S, W> WrapBodyService<S, W> {
    /// `inner` with bodies wrapped by `wrap`.
    pub fn new(inner: S, wrap: W) -> Self {
        Self { inner, wrap }
    }
}

impl<S, W, B> tower::Service<http::Request<B>> for WrapBodyService<S, W>
where
    S: tower::Service<http::Request<tonic::body::Body>>,
    W: WrapBody,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let body = self.wrap.wrap(&mut parts, body);
        self.inner.call(http::Request::from_parts(parts, body))
    }
}
