//! The routing worker: claims due routing tasks in batches (leased to this replica, so no other takes
//! them), routes them concurrently through [`Router`], and drains a backlog round after round.

use std::time::Duration;

use chrono::Utc;
use continuum_runtime::Shutdown;

use crate::app::routing::{LEASE, Router};

/// How many due routings the worker claims (and routes at once) per round.
pub const WORKER_BATCH: usize = 32;

/// Runs due routing tasks until `shutdown`, looking every `poll`: a full batch is followed at once by
/// the next, so a backlog drains as fast as the peers answer.
pub async fn run(router: Router, shutdown: Shutdown, poll: Duration) {
    continuum_outbox::drain_every("routing", poll, WORKER_BATCH, shutdown, || round(&router)).await;
}

/// One round: claims up to [`WORKER_BATCH`] due tasks and routes them concurrently; returns how many it
/// claimed.
pub async fn round(router: &Router) -> usize {
    let store = router.store();
    if let Ok(n) = store.pending_routings().await {
        metrics::gauge!("continuum_routings_pending").set(n as f64);
    }
    let ids = match store
        .claim_due_routings(router.owner(), Utc::now(), LEASE, WORKER_BATCH as u64)
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "claiming due routings failed");
            return 0;
        }
    };
    let claimed = ids.len();
    let mut routing = tokio::task::JoinSet::new();
    for id in ids {
        let router = router.clone();
        routing.spawn(async move {
            // A failure is logged by `route_with`, inside the intake's trace.
            let _ = router.route_with(&id, true).await;
        });
    }
    while routing.join_next().await.is_some() {}
    claimed
}
