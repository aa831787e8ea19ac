//! Expiry of unanswered offers. A background task runs [`Sweeper::sweep_expired`] every sweep interval
//! until shutdown; tests call it directly with a chosen "now". Every replica may sweep at the same time:
//! each offer is expired by a conditional update, so exactly one sweep handles it, and its freed slot goes
//! to the next best eligible entry in the same transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::holds::Holds;
use crate::store::{Freed, Store};

/// Expires offers whose hold has ended.
#[derive(Clone, Debug)]
pub struct Sweeper {
    store: Store,
    holds: Holds,
    clock: SharedClock,
}

impl Sweeper {
    /// A sweeper over `store`, releasing holds in `holds`, reading time from `clock`.
    pub fn new(store: Store, holds: Holds, clock: SharedClock) -> Self {
        Self { store, holds, clock }
    }

    /// Expires every pending offer whose hold ended at or before `now` and offers each freed slot to the
    /// next best eligible WAITING entry (never the one whose offer just expired). Returns what it did.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<Vec<Freed>> {
        let mut done = Vec::new();
        for o in self.store.expired_offers(now).await? {
            let Some(freed) = self.store.expire(&o.id, now).await? else { continue };
            self.holds.release(&freed.offer.id).await;
            if let Some(next) = &freed.next_offer {
                self.holds.record(next, now).await;
            }
            tracing::info!(
                offer_id = %freed.offer.id,
                entry_id = %freed.entry.id,
                provider_id = %freed.offer.provider_id,
                next_offer_id = freed.next_offer.as_ref().map(|n| n.id.as_str()).unwrap_or(""),
                "offer expired"
            );
            done.push(freed);
        }
        Ok(done)
    }

    /// Sweeps every `every` until `shutdown` is cancelled. Errors are logged and the next round retries.
    pub async fn run(self, every: Duration, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.sweep_expired(self.clock.now()).await {
                tracing::warn!(error = %e, "offer sweep failed; retrying next round");
            }
        }
        tracing::info!("offer sweeper stopped");
    }
}
