//! Process lifecycle shared by every Continuum binary (the four services, the gateway and the all-in-one
//! `continuum`): [`memory::Allocator`], each binary's global allocator, and [`memory::tune_allocator`],
//! called first in each `main`; the shutdown signals ([`shutdown_signal`], [`cancel_on_signal`]) that
//! start a graceful stop; and [`connect::PeerConnector`], the TCP connector every channel to a peer
//! service dials with. Nothing here knows a service.

pub mod connect;
pub mod memory;

use tokio_util::sync::CancellationToken;

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutting down"),
        () = term => tracing::info!(signal = "SIGTERM", "shutting down"),
    }
}

/// Cancels `token` when the process receives SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        shutdown_signal().await;
        token.cancel();
    });
}
