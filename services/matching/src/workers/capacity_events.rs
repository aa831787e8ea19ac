//! Delivers capacity events: every rise of a provider's open capacity (a give-back, a raised count, a
//! cohort with more seats) is written to `capacity_events` in the transaction that made it, and this
//! worker hands each row to the waitlist's `OpenSlots` with the event id, so the clients waiting for
//! that provider get offers without anyone calling OpenSlots.
//!
//! The worker claims due rows in batches with a lease (`continuum_outbox`), so several replicas never send
//! the same row at the same time; a failure worth retrying is retried with the shared back-off, any other
//! answer ends the row as dead. The waitlist makes the offers of one event once, so a row delivered twice
//! (a lease that ran out mid-call) is harmless. Calls go out with the service identity on behalf of the
//! provider's organization, in the trace of the change that opened the capacity. Without a waitlist
//! address the rows are kept (the `continuum_capacity_events_pending` gauge shows them) and a warning is
//! logged; configuring the address later delivers them.

use std::time::Duration;

use continuum_proto::waitlist::v1 as wpb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use continuum_runtime::{PeerChannel, Shutdown};
use tonic::Code;
use tracing::Instrument;

use crate::store::{CapacityEvent, Store};

/// Retry delays of a delivery: 1 s doubling, at most 5 minutes.
pub const BACKOFF: continuum_outbox::Backoff =
    continuum_outbox::Backoff::new(Duration::from_secs(1), Duration::from_secs(300));

/// How many rows the worker claims per round.
pub const BATCH: u64 = 32;
/// How long a claim keeps other replicas off a row.
pub const LEASE_MS: i64 = 30_000;

/// Delivers capacity events to the waitlist.
#[derive(Clone, Debug)]
pub struct Relay {
    store: Store,
    waitlist: Option<WaitlistServiceClient<PeerChannel>>,
    owner: String,
    poll: Duration,
}

/// What one delivery attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The waitlist made (or had already made) the offers.
    Delivered,
    /// Try again later.
    Retry(Code),
    /// Refused for good.
    Dead(Code),
}

/// How a waitlist answer maps to an outcome: the one retry policy (`PeerError::is_retryable`) decides
/// between trying again later and giving up.
pub fn classify(code: Code) -> Outcome {
    if code == Code::Ok {
        return Outcome::Delivered;
    }
    if continuum_errors::PeerError::from(tonic::Status::new(code, "")).is_retryable() {
        Outcome::Retry(code)
    } else {
        Outcome::Dead(code)
    }
}

impl Relay {
    /// A relay for this replica, delivering to `waitlist_addr` (none: keep the events). Connects lazily.
    pub fn new(
        store: Store,
        waitlist_addr: Option<&str>,
        common: &continuum_runtime::CommonSettings,
        poll: Duration,
    ) -> anyhow::Result<Self> {
        let waitlist = match waitlist_addr {
            Some(addr) => Some(WaitlistServiceClient::new(common.authed_peer(addr, "matching")?)),
            None => None,
        };
        Ok(Self { store, waitlist, owner: uuid::Uuid::new_v4().to_string(), poll })
    }

    /// Delivers due rows until `shutdown` is cancelled.
    pub async fn run(self, shutdown: Shutdown) {
        if self.waitlist.is_none() {
            tracing::warn!(
                "no waitlist address (CONTINUUM_WAITLIST_ADDR): capacity events are kept, not delivered"
            );
        }
        let mut rounds: u64 = 0;
        let stop = shutdown.clone();
        continuum_outbox::run_every("capacity-event", self.poll, shutdown, || {
            rounds = rounds.wrapping_add(1);
            let (this, stop, round) = (&self, &stop, rounds);
            async move {
                if let Ok(n) = this.store.pending_events().await {
                    metrics::gauge!("continuum_capacity_events_pending").set(n as f64);
                    if this.waitlist.is_none() && n > 0 && round % 60 == 1 {
                        tracing::warn!(pending = n, "capacity events wait for a waitlist address");
                    }
                }
                if this.waitlist.is_some() {
                    this.deliver_due(stop).await;
                }
            }
        })
        .await;
    }

    /// One round: claims due rows and delivers them (also used by tests).
    pub async fn deliver_due(&self, shutdown: &Shutdown) -> usize {
        let Some(_) = &self.waitlist else { return 0 };
        match self.store.claim_due_events(&self.owner, LEASE_MS, BATCH).await {
            Ok(items) => {
                let mut n = 0;
                for item in items {
                    if shutdown.is_cancelled() {
                        // Unsent claimed rows come back to everyone when their lease runs out.
                        break;
                    }
                    self.deliver(item).await;
                    n += 1;
                }
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the capacity events failed");
                0
            }
        }
    }

    async fn deliver(&self, item: CapacityEvent) {
        let Some(client) = &self.waitlist else { return };
        let span = continuum_outbox::continue_trace(
            tracing::info_span!("capacity_event.deliver", event_id = %item.id, provider_id = %item.provider_id),
            &item.traceparent,
        );
        async {
            let mut client = client.clone();
            let req = wpb::OpenSlotsRequest { provider_id: item.provider_id.clone(), slots: item.slots.clamp(1, 1000), event_id: item.id.clone() };
            // The event acts for the provider's organization (whose capacity rose), which the waitlist checks.
            let (outcome, offers) = match client.open_slots(continuum_auth::on_behalf_of(req, &item.organization_id, None)).await {
                Ok(resp) => {
                    let r = resp.into_inner();
                    (Outcome::Delivered, r.offers.len() + usize::try_from(r.offers_to_other_organizations).unwrap_or(0))
                }
                Err(s) => (classify(s.code()), 0),
            };
            let attempts = item.attempts.saturating_add(1);
            let recorded = match outcome {
                Outcome::Delivered => {
                    metrics::counter!("continuum_capacity_events_delivered_total").increment(1);
                    tracing::info!(slots = item.slots, offers, attempts, "capacity event delivered to the waitlist");
                    self.store.event_delivered(&item.id, &self.owner, attempts).await
                }
                Outcome::Retry(code) => {
                    let delay = BACKOFF.after_ms(u32::try_from(attempts).unwrap_or(u32::MAX));
                    tracing::warn!(code = ?code, attempts, retry_in_ms = delay, "delivering a capacity event failed; will retry");
                    self.store.event_retry_later(&item.id, &self.owner, attempts, delay, &format!("{code:?}")).await
                }
                Outcome::Dead(code) => {
                    metrics::counter!("continuum_capacity_events_dead_total").increment(1);
                    tracing::error!(code = ?code, attempts, "the waitlist refused a capacity event; giving up");
                    self.store.event_dead(&item.id, &self.owner, attempts, &format!("{code:?}")).await
                }
            };
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "recording a capacity-event delivery failed; the lease runs out and it is sent again");
            }
        }
        .instrument(span)
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_end_and_outages_retry() {
        assert_eq!(classify(Code::Ok), Outcome::Delivered);
        assert_eq!(classify(Code::InvalidArgument), Outcome::Dead(Code::InvalidArgument));
        assert_eq!(classify(Code::Unavailable), Outcome::Retry(Code::Unavailable));
        assert_eq!(classify(Code::PermissionDenied), Outcome::Dead(Code::PermissionDenied));
        assert_eq!(classify(Code::Unauthenticated), Outcome::Retry(Code::Unauthenticated));
    }
}
