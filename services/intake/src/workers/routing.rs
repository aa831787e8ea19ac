//! The routing worker: claims due routing tasks (leased to this replica, so no other takes them) and
//! routes them concurrently through [`Router`] in a rolling window: up to [`WORKER_BATCH`] in flight, the
//! window topped up as routings finish, so a backlog drains at the pace of the peers and no routing waits
//! for the slowest of a fixed batch.

use std::time::Duration;

use chrono::Utc;
use continuum_runtime::Shutdown;

use crate::app::routing::{LEASE, Router};

/// How many routings the worker has in flight at most.
pub const WORKER_BATCH: usize = 32;

/// The window is topped up once this many places are free (one claim statement per refill, not per
/// routing).
const REFILL_AT: usize = WORKER_BATCH / 4;

/// Runs due routing tasks until `shutdown`, looking every `poll`; a round that finds a backlog works
/// through it before sleeping again.
pub async fn run(router: Router, shutdown: Shutdown, poll: Duration) {
    let stop = shutdown.clone();
    continuum_outbox::drain_every("routing", poll, WORKER_BATCH, shutdown, || {
        round(&router, &stop)
    })
    .await;
}

/// One round: routes due tasks, keeping up to [`WORKER_BATCH`] in flight and claiming more as they finish,
/// until a claim finds fewer due tasks than there were free places (the backlog is done) or `shutdown`
/// (the routings in flight finish first; what is not claimed stays due for the next start). Returns how
/// many it claimed.
pub async fn round(router: &Router, shutdown: &Shutdown) -> usize {
    let store = router.store();
    if let Ok(n) = store.pending_routings().await {
        metrics::gauge!("continuum_routings_pending").set(n as f64);
    }
    let mut claimed = 0;
    let mut more = true;
    let mut routing = tokio::task::JoinSet::new();
    loop {
        let free = WORKER_BATCH - routing.len();
        if more && !shutdown.is_cancelled() && (routing.is_empty() || free >= REFILL_AT) {
            match store.claim_due_routings(router.owner(), Utc::now(), LEASE, free as u64).await {
                Ok(ids) => {
                    more = ids.len() == free;
                    claimed += ids.len();
                    for id in ids {
                        let router = router.clone();
                        routing.spawn(async move {
                            // A failure is logged by `route_with`, inside the intake's trace.
                            let _ = router.route_with(&id, true).await;
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming due routings failed");
                    more = false;
                }
            }
        }
        if routing.join_next().await.is_none() {
            break;
        }
    }
    claimed
}
