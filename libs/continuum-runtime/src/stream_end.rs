//! Whether a request stream ended cleanly, for handlers that commit at the end of a client stream.
//!
//! tonic ends a request stream with `Ok(None)` both when the client half-closes it (END_STREAM: the stream
//! is complete) and when the client cancels the call (RST_STREAM with CANCEL, which hyper reports as an
//! error the decoder swallows). A handler that stores what a stream carried when the stream ends would
//! then commit a cancelled stream (issue 17: cancelled imports left items stored). This layer, innermost
//! in every service's stack, watches the request body and records in the request's extensions a
//! [`StreamEnd`] that says whether the body ended cleanly; a handler checks it after the last message.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, WrapBody, WrapBodyService};

/// Whether the request body of this call ended cleanly (END_STREAM), shared between the body and the
/// handler through the request's extensions.
#[derive(Clone, Debug, Default)]
pub struct StreamEnd(Arc<AtomicBool>);

impl StreamEnd {
    /// Whether the client ended its stream (END_STREAM), rather than cancelling or breaking it.
    pub fn is_clean(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// `Ok` when the stream of the call with these extensions ended cleanly (or the call was not served
    /// through [`StreamEndLayer`]); otherwise the `CANCELLED` to answer, having stored nothing.
    pub fn check(extensions: &http::Extensions) -> Result<(), tonic::Status> {
        match extensions.get::<StreamEnd>() {
            Some(end) if !end.is_clean() => Err(tonic::Status::cancelled(
                "the request stream was cancelled or broken before it ended; nothing was stored",
            )),
            _ => Ok(()),
        }
    }
}

/// Wraps every request body in a [`Watched`] body and adds its [`StreamEnd`] to the extensions.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamEndLayer;

impl<S> tower::Layer<S> for StreamEndLayer {
    type Service = WrapBodyService<S, StreamEndLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        WrapBodyService::new(inner, *self)
    }
}

impl WrapBody for StreamEndLayer {
    fn wrap<B>(&self, parts: &mut http::request::Parts, body: B) -> tonic::body::Body
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let end = StreamEnd::default();
        parts.extensions.insert(end.clone());
        tonic::body::Body::new(Watched { inner: body, end })
    }
}

/// A request body that records in its [`StreamEnd`] when it ends cleanly.
#[derive(Debug)]
pub struct Watched<B> {
    inner: B,
    end: StreamEnd,
}

impl<B: Body + Unpin> Body for Watched<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.end.0.store(true, Ordering::Release),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => {
                self.end.0.store(true, Ordering::Release);
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            self.end.0.store(true, Ordering::Release);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
