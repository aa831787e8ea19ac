//! Gives matching slots back: when the offer chain of a slot taken in matching (a capacity event's
//! offer, passed on after declines and expiries) ends with nobody eligible, the change that ended it
//! queues a `slot_releases` row in its transaction, and this worker calls matching's `UpdateCapacity`
//! (+1, giving back the capacity taken under the slot's key, so a program's seat returns to its
//! cohort). Rows are claimed with a lease (two replicas never send the same one at the same time),
//! failures retry with exponential backoff, and matching applies each give-back once per key. Each
//! delivery runs in a `slot.release` span continuing the trace of the change that queued it.

use std::time::Duration;

use continuum_runtime::Shutdown;
use tracing::Instrument;

use crate::peers::matching::MatchingPeer;
use crate::store::{SlotRelease, Store};

/// How many rows one round claims.
pub const BATCH: u64 = 32;
/// How long a claim keeps other replicas off a row.
pub const LEASE_MS: i64 = 30_000;

/// Retry delays of a give-back: 1 s doubling, at most 5 minutes.
pub const BACKOFF: continuum_outbox::Backoff =
    continuum_outbox::Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// Delivers slot releases to matching.
#[derive(Clone, Debug)]
pub struct Releaser {
    store: Store,
    matching: MatchingPeer,
    owner: String,
}

impl Releaser {
    /// A releaser for this replica.
    pub fn new(store: Store, matching: MatchingPeer) -> Self {
        Self { store, matching, owner: uuid::Uuid::new_v4().to_string() }
    }

    /// Delivers due rows every `poll` until `shutdown` is cancelled.
    pub async fn run(self, poll: Duration, shutdown: Shutdown) {
        let stop = shutdown.clone();
        continuum_outbox::run_every("slot-release", poll, shutdown, || async {
            self.deliver_due(&stop).await;
            if let Ok(n) = self.store.pending_releases().await {
                metrics::gauge!("continuum_slot_releases_pending").set(n as f64);
            }
        })
        .await;
    }

    /// One round: claims the due rows and delivers them; returns how many were tried.
    pub async fn deliver_due(&self, shutdown: &Shutdown) -> usize {
        let items = match self.store.claim_due_releases(&self.owner, LEASE_MS, BATCH).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "reading the slot releases failed");
                return 0;
            }
        };
        let mut n = 0;
        for item in items {
            if shutdown.is_cancelled() {
                break;
            }
            // Each delivery continues the trace of the change that ended the offer chain.
            let span = continuum_outbox::continue_trace(
                tracing::info_span!("slot.release", provider_id = %item.provider_id),
                &item.trace_parent,
            );
            self.deliver(item).instrument(span).await;
            n += 1;
        }
        n
    }

    async fn deliver(&self, item: SlotRelease) {
        let attempts = item.attempts.saturating_add(1);
        if item.organization_id.is_empty() {
            // Queued before capacity events recorded whom they acted for: nobody to act for.
            tracing::error!(provider_id = %item.provider_id, "slot queued without the organization it was taken for; give it back by hand");
            if let Err(e) = self
                .store
                .finish_release(
                    &item.slot_key,
                    &self.owner,
                    Err((false, "NO_ORGANIZATION".to_owned())),
                    attempts,
                    0,
                )
                .await
            {
                tracing::warn!(error = %e, "recording a slot release failed");
            }
            return;
        }
        // The give-back acts for the organization the slot was taken for (the provider's).
        let who = continuum_auth::OnBehalfOf::recorded(&item.organization_id, None);
        let outcome = match self.matching.give_back(&who, &item.provider_id, &item.slot_key).await {
            Ok(()) => {
                tracing::info!(provider_id = %item.provider_id, attempts, "unoffered slot given back to matching");
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(provider_id = %item.provider_id, code = ?e.code, attempts, "giving a slot back failed; will retry");
                Err((true, format!("{:?}", e.code)))
            }
            Err(e) => {
                tracing::error!(provider_id = %item.provider_id, code = ?e.code, "matching refused a slot back; giving up");
                Err((false, format!("{:?}", e.code)))
            }
        };
        if let Err(e) = self
            .store
            .finish_release(
                &item.slot_key,
                &self.owner,
                outcome,
                attempts,
                BACKOFF.after_ms(u32::try_from(attempts).unwrap_or(u32::MAX)),
            )
            .await
        {
            tracing::warn!(error = %e, "recording a slot release failed; the lease runs out and it is sent again");
        }
    }
}
