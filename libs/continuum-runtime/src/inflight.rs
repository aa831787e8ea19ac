//! Request bytes in flight, bounded per connection and per process (issue 17, point 4).
//!
//! A message may be up to [`crate::MAX_MESSAGE_BYTES`], and the decoder buffers a whole message before
//! the handler sees it, so a few clients sending many large messages at once could hold hundreds of
//! megabytes. Every request body is counted as its frames arrive against two budgets — one for the
//! connection it came on, one for the whole process (shared by every service the process serves: the
//! all-in-one `continuum up` has one budget for its four services, not four) — and the bytes are given back when the call's body
//! is dropped (the call finished, failed or was cancelled). A frame that would go over either budget ends
//! that call at once with `RESOURCE_EXHAUSTED` (retryable later; nothing of it reaches the handler), so
//! memory stays bounded and no call waits on another (waiting could deadlock: every call holding part of
//! the budget and needing more). Calls already accepted are not affected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::{BoxError, WrapBody, WrapBodyService};

/// The two budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlightLimits {
    /// Request bytes all calls of the process may hold at once.
    pub process_bytes: usize,
    /// Request bytes the calls of one connection may hold at once.
    pub connection_bytes: usize,
}

impl Default for InFlightLimits {
    /// 64 MiB per process, 16 MiB per connection (four messages of the largest size).
    fn default() -> Self {
        Self { process_bytes: 64 * 1024 * 1024, connection_bytes: 16 * 1024 * 1024 }
    }
}

#[derive(Debug, Default)]
struct Held {
    process: usize,
    /// By the peer's address (`None`: no address known, one shared budget).
    connections: HashMap<Option<SocketAddr>, usize>,
}

/// The shared accounting of one service.
#[derive(Debug)]
struct Budget {
    limits: InFlightLimits,
    held: Mutex<Held>,
}

impl Budget {
    /// Takes `n` bytes for `conn` when both budgets allow it; otherwise says which budget is full.
    fn take(&self, conn: Option<SocketAddr>, n: usize) -> Result<(), String> {
        let mib = |b: usize| b / (1024 * 1024);
        let Ok(mut held) = self.held.lock() else {
            return Err("the request byte budget is unavailable".to_owned());
        };
        let on_conn = held.connections.get(&conn).copied().unwrap_or(0);
        if on_conn + n > self.limits.connection_bytes {
            return Err(format!(
                "more than {} MiB of request bytes in flight on this connection; retry later",
                mib(self.limits.connection_bytes)
            ));
        }
        if held.process + n > self.limits.process_bytes {
            return Err(format!(
                "more than {} MiB of request bytes in flight on this server; retry later",
                mib(self.limits.process_bytes)
            ));
        }
        held.process += n;
        held.connections.insert(conn, on_conn + n);
        Ok(())
    }

    fn give_back(&self, conn: Option<SocketAddr>, n: usize) {
        if n == 0 {
            return;
        }
        if let Ok(mut held) = self.held.lock() {
            held.process = held.process.saturating_sub(n);
            let left = held.connections.get(&conn).copied().unwrap_or(0).saturating_sub(n);
            if left == 0 {
                held.connections.remove(&conn);
            } else {
                held.connections.insert(conn, left);
            }
        }
    }

    /// Bytes held now by the whole process and by `conn`.
    fn held(&self, conn: Option<SocketAddr>) -> (usize, usize) {
        self.held
            .lock()
            .map_or((0, 0), |h| (h.process, h.connections.get(&conn).copied().unwrap_or(0)))
    }
}

/// Counts every request body against the budgets of [`InFlightLimits`].
#[derive(Clone, Debug)]
pub struct InFlightLayer {
    budget: Arc<Budget>,
}

impl InFlightLayer {
    /// A layer with its own budgets.
    pub fn new(limits: InFlightLimits) -> Self {
        Self { budget: Arc::new(Budget { limits, held: Mutex::default() }) }
    }

    /// A layer whose budgets every `process_wide` layer of this process with the same limits shares: the
    /// one every server uses, so several services in one process hold at most `process_bytes` together.
    pub fn process_wide(limits: InFlightLimits) -> Self {
        static SHARED: Mutex<Vec<Arc<Budget>>> = Mutex::new(Vec::new());
        let Ok(mut shared) = SHARED.lock() else {
            return Self::new(limits);
        };
        if let Some(budget) = shared.iter().find(|b| b.limits == limits) {
            return Self { budget: budget.clone() };
        }
        let layer = Self::new(limits);
        shared.push(layer.budget.clone());
        layer
    }

    /// Bytes held now, by the process and by the connection from `peer` (for tests and metrics).
    pub fn held(&self, peer: Option<SocketAddr>) -> (usize, usize) {
        self.budget.held(peer)
    }
}

impl<S> tower::Layer<S> for InFlightLayer {
    type Service = WrapBodyService<S, InFlightLayer>;

    fn layer(&self, inner: S) -> Self::Service {
        WrapBodyService::new(inner, self.clone())
    }
}

/// The peer address of a request served from a TCP (or TLS over TCP) listener.
fn peer_of(parts: &http::request::Parts) -> Option<SocketAddr> {
    use tonic::transport::server::TcpConnectInfo;
    parts.extensions.get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr)
}

impl WrapBody for InFlightLayer {
    fn wrap<B>(&self, parts: &mut http::request::Parts, body: B) -> tonic::body::Body
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        tonic::body::Body::new(Budgeted {
            inner: body,
            budget: self.budget.clone(),
            conn: peer_of(parts),
            held: 0,
            refused: false,
        })
    }
}

/// A request body whose bytes are held against the budgets until it is dropped.
#[derive(Debug)]
pub struct Budgeted<B> {
    inner: B,
    budget: Arc<Budget>,
    conn: Option<SocketAddr>,
    held: usize,
    refused: bool,
}

impl<B> Drop for Budgeted<B> {
    fn drop(&mut self) {
        self.budget.give_back(self.conn, self.held);
    }
}

impl<B> Body for Budgeted<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.refused {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, Bytes::len);
                let conn = self.conn;
                if n > 0
                    && let Err(full) = self.budget.take(conn, n)
                {
                    self.refused = true;
                    tracing::warn!(bytes = n, "request refused: too many request bytes in flight");
                    return Poll::Ready(Some(Err(tonic::Status::resource_exhausted(full))));
                }
                self.held += n;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(tonic::Status::from_error(e.into()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.refused || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of the given data frames.
    struct Frames(Vec<Bytes>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0.is_empty() {
                Poll::Ready(None)
            } else {
                Poll::Ready(Some(Ok(Frame::data(self.0.remove(0)))))
            }
        }
    }

    fn body(layer: &InFlightLayer, conn: u16, sizes: &[usize]) -> Budgeted<Frames> {
        Budgeted {
            inner: Frames(sizes.iter().map(|n| Bytes::from(vec![0u8; *n])).collect()),
            budget: layer.budget.clone(),
            conn: Some(SocketAddr::from(([127, 0, 0, 1], conn))),
            held: 0,
            refused: false,
        }
    }

    /// Reads `b` to its end; `Err` with the code when it was refused.
    fn drain(b: &mut Budgeted<Frames>) -> Result<usize, tonic::Code> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut total = 0;
        loop {
            match Pin::new(&mut *b).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(f))) => total += f.data_ref().map_or(0, Bytes::len),
                Poll::Ready(Some(Err(s))) => return Err(s.code()),
                Poll::Ready(None) => return Ok(total),
                Poll::Pending => unreachable!("frames are always ready"),
            }
        }
    }

    fn peer(port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn a_connection_cannot_hold_more_than_its_budget_and_gets_it_back() {
        let layer = InFlightLayer::new(InFlightLimits { process_bytes: 100, connection_bytes: 40 });
        let mut a = body(&layer, 1, &[20, 15]);
        assert_eq!(drain(&mut a), Ok(35));
        assert_eq!(layer.held(peer(1)), (35, 35), "held while the call lives");
        let mut b = body(&layer, 1, &[10]);
        assert_eq!(drain(&mut b), Err(tonic::Code::ResourceExhausted), "35 + 10 > 40");
        let mut other = body(&layer, 2, &[40]);
        assert_eq!(drain(&mut other), Ok(40), "another connection has its own budget");
        drop(a);
        drop(b);
        assert_eq!(layer.held(peer(1)), (40, 0), "given back when the calls end");
        let mut c = body(&layer, 1, &[40]);
        assert_eq!(drain(&mut c), Ok(40));
    }

    #[test]
    fn services_of_one_process_share_the_process_budget() {
        let limits = InFlightLimits { process_bytes: 70, connection_bytes: 41 };
        let (intake, matching) =
            (InFlightLayer::process_wide(limits), InFlightLayer::process_wide(limits));
        let mut a = body(&intake, 1, &[40]);
        assert_eq!(drain(&mut a), Ok(40));
        let mut b = body(&matching, 2, &[40]);
        assert_eq!(
            drain(&mut b),
            Err(tonic::Code::ResourceExhausted),
            "40 + 40 > 70 across both services"
        );
        let other =
            InFlightLayer::process_wide(InFlightLimits { process_bytes: 71, connection_bytes: 41 });
        let mut c = body(&other, 3, &[40]);
        assert_eq!(drain(&mut c), Ok(40), "other limits: another budget");
        drop(a);
        let mut d = body(&matching, 2, &[40]);
        assert_eq!(drain(&mut d), Ok(40), "given back across services");
    }

    #[test]
    fn the_process_budget_holds_across_connections() {
        let layer = InFlightLayer::new(InFlightLimits { process_bytes: 50, connection_bytes: 40 });
        let mut a = body(&layer, 1, &[30]);
        let mut b = body(&layer, 2, &[30]);
        assert_eq!(drain(&mut a), Ok(30));
        assert_eq!(drain(&mut b), Err(tonic::Code::ResourceExhausted), "30 + 30 > 50");
        assert_eq!(layer.held(peer(2)), (30, 0), "a refused call holds nothing");
        drop(a);
        assert_eq!(layer.held(None), (0, 0));
    }
}
