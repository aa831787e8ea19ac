//! The TCP connector of every peer channel: hyper's HTTP connector (no delay, keep-alive, a connect
//! timeout), refusing a connection to itself.
//!
//! Why: the services' ports (50051-50054) lie in Linux's ephemeral port range. A client that keeps dialling
//! a loopback port nobody listens on (a peer that is down, the routing worker retrying) is sooner or later
//! given that very port as its own local port, and TCP's simultaneous open connects the socket to itself.
//! That socket then holds the peer's port, and the peer cannot start again ("address already in use"):
//! measured on one machine in the backlog benchmark (issue 12), where the waitlist service failed to come
//! back in one run of two. Such a connection is reset at once (no TIME_WAIT left on the port) and reported
//! as refused, as if nothing listened; the channel retries as it does for any refused connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The error type of a connection attempt.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects peer channels; see the module comment.
#[derive(Clone, Debug)]
pub struct PeerConnector(HttpConnector);

impl PeerConnector {
    /// A connector giving up after `connect_timeout`, with TCP keep-alive every `keepalive` when set.
    pub fn new(connect_timeout: Duration, keepalive: Option<Duration>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(keepalive);
        http.set_connect_timeout(Some(connect_timeout));
        Self(http)
    }
}

/// Whether `s` is connected to itself (its local and peer addresses are one).
pub fn is_self_connection(s: &TcpStream) -> bool {
    matches!((s.local_addr(), s.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

/// `io`, unless it is connected to itself: then it is reset (a closed socket would keep the port in
/// TIME_WAIT) and the attempt is refused as if nothing listened.
pub fn refuse_self(io: TokioIo<TcpStream>) -> Result<TokioIo<TcpStream>, std::io::Error> {
    if !is_self_connection(io.inner()) {
        return Ok(io);
    }
    let _ = io.inner().set_zero_linger();
    tracing::debug!("a peer connection reached itself (nothing listens there); reset");
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "the connection reached itself: nothing listens at the peer's address",
    ))
}

impl tower::Service<Uri> for PeerConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { Ok(refuse_self(connecting.await?)?) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A socket bound to the very address it connects to is connected to itself (TCP simultaneous open,
    /// what the kernel's choice of local port can produce): it is refused and reset, and the peer can
    /// then bind its port at once (the benchmark's failure: "address already in use"). A connection to a
    /// listener passes.
    #[tokio::test]
    async fn a_connection_to_itself_is_refused_and_frees_the_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // Without SO_REUSEADDR, as hyper's connector makes its sockets.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(port).unwrap();
        let itself = socket.connect(port).await.expect("TCP simultaneous open on loopback");
        assert!(is_self_connection(&itself));
        let blocked = std::net::TcpListener::bind(port);
        assert!(blocked.is_err(), "while it lives, the socket holds the peer's port");

        let err = refuse_self(TokioIo::new(itself)).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        let peer = tokio::net::TcpListener::bind(port).await;
        assert!(peer.is_ok(), "the peer binds its port right after: {peer:?}");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(refuse_self(TokioIo::new(real)).is_ok());
    }

    /// Through the connector, a listener answers and a port nobody listens on is refused.
    #[tokio::test]
    async fn the_connector_connects_to_a_listener() {
        use tower::ServiceExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: Uri = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
        let c = PeerConnector::new(Duration::from_secs(2), None);
        assert!(c.clone().oneshot(uri).await.is_ok());
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let uri: Uri = format!("http://{free}").parse().unwrap();
        assert!(c.oneshot(uri).await.is_err(), "nothing listens there");
    }
}
