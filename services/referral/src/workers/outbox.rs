//! Delivers the outbox: capacity releases committed together with the status change that caused them.
//!
//! A handler tries a row once right after its commit ([`Relay::deliver_now`]); whatever is left (matching
//! down, a crash in between) is picked up by the worker ([`Relay::run`]), which claims due rows in batches
//! under a lease (`continuum_outbox`) so two replicas do not send the same row at the same time, and
//! retries failures with the shared back-off. Matching applies each release at most once per hold key, so a row delivered twice
//! (a lease that ran out mid-call) is harmless.
//!
//! Each row keeps the `traceparent` of the request whose change created it; a delivery by the worker runs
//! in an `outbox.deliver` span that continues that trace, so a slot given back later is found from the
//! original `TransitionReferral` (or sweep). The span's status is `Ok` when the row was delivered and
//! recorded, `Error` with a short code (the gRPC code, `REFERRAL_GONE`, `STORE_UNAVAILABLE`) otherwise.

use std::time::Duration;

use chrono::Utc;
use continuum_runtime::Shutdown;
use tracing::Instrument;

use crate::domain;
use crate::peers::matching::{MatchingPeer, ReleaseError};
use crate::store::{OutboxItem, Store};

/// How often the worker looks for due rows.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many rows the worker claims per round.
pub const BATCH: u64 = 32;
/// How long the attempt right after a commit may take before the worker takes over.
pub const IMMEDIATE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// Delivers outbox rows to matching.
#[derive(Clone, Debug)]
pub struct Relay {
    store: Store,
    matching: MatchingPeer,
    owner: String,
}

impl Relay {
    /// A relay for this replica (its lease owner id is random per process).
    pub fn new(store: Store, matching: MatchingPeer) -> Self {
        Self { store, matching, owner: uuid::Uuid::new_v4().to_string() }
    }

    /// Tries to deliver row `id` now (right after the commit that created it). Never fails the caller:
    /// anything not delivered stays in the outbox for the worker.
    pub async fn deliver_now(&self, id: &str) {
        let attempt = async {
            match self.store.claim_outbox(id, &self.owner, Utc::now()).await {
                Ok(Some(item)) => {
                    // The outcome is logged; the caller's span is the request's, whose status is its own.
                    let _ = self.deliver(item).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(outbox_id = %id, error = %e, "claiming an outbox row failed; the worker will retry")
                }
            }
        };
        if tokio::time::timeout(IMMEDIATE_ATTEMPT_TIMEOUT, attempt).await.is_err() {
            tracing::warn!(outbox_id = %id, "capacity release is slow; the worker will finish it");
        }
    }

    /// Delivers due rows until `shutdown` is cancelled.
    pub async fn run(self, shutdown: Shutdown) {
        let stop = shutdown.clone();
        continuum_outbox::run_every("outbox", POLL_INTERVAL, shutdown, || self.deliver_due(&stop))
            .await;
    }

    /// One round: claims due rows and delivers them, each in the trace of the change that queued it.
    async fn deliver_due(&self, shutdown: &Shutdown) {
        match self.store.claim_due_outbox(&self.owner, Utc::now(), BATCH).await {
            Ok(items) => {
                for item in items {
                    if shutdown.is_cancelled() {
                        // Unsent claimed rows come back to everyone when their lease runs out.
                        break;
                    }
                    let span = continuum_outbox::continue_trace(
                        tracing::info_span!("outbox.deliver", outbox_id = %item.id, referral_id = %item.referral_id, attempt = item.attempts + 1),
                        &item.trace_parent,
                    );
                    let outcome = self.deliver(item).instrument(span.clone()).await;
                    continuum_telemetry::set_outcome(&span, outcome);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
        }
    }

    /// Sends one claimed row and records the outcome: `Err` with a short code unless the row was
    /// delivered and recorded.
    async fn deliver(&self, item: OutboxItem) -> Result<(), &'static str> {
        // The hold the slot was taken under (a failure to read it only loses the cohort preference).
        let taken_under = self.store.taken_under(&item.referral_id).await.ok().flatten();
        // The give-back acts for the referring organization, whose referral ended.
        let referrer = match self.store.referrer_of(&item.referral_id).await {
            Ok(Some(org)) => org,
            Ok(None) => {
                tracing::error!(referral_id = %item.referral_id, "outbox row of a referral that does not exist; giving up");
                let _ = self
                    .store
                    .outbox_dead(&item.id, &self.owner, "REFERRAL_GONE", Utc::now())
                    .await;
                return Err("REFERRAL_GONE");
            }
            Err(e) => {
                tracing::warn!(outbox_id = %item.id, error = %e, "reading the referral of an outbox row failed; the lease runs out and it is sent again");
                return Err(STORE_UNAVAILABLE);
            }
        };
        let who = continuum_auth::OnBehalfOf::recorded(referrer.as_str(), None);
        let outcome = self
            .matching
            .release_slot(
                &who,
                &item.provider_id,
                item.delta,
                &item.hold_key,
                taken_under.as_deref(),
            )
            .await;
        let now = Utc::now();
        let sent = match &outcome {
            Ok(()) => Ok(()),
            Err(ReleaseError::Retry(e) | ReleaseError::GiveUp(e)) => Err(grpc_code(e.code)),
        };
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(
                    referral_id = %item.referral_id,
                    provider_id = %item.provider_id,
                    attempts = item.attempts + 1,
                    "provider slot given back"
                );
                self.store.outbox_delivered(&item.id, &self.owner, now).await
            }
            Err(ReleaseError::Retry(e)) => {
                let code = e.code;
                let attempts = item.attempts.saturating_add(1);
                let delay = domain::RETRY.after(u32::try_from(attempts).unwrap_or(u32::MAX));
                tracing::warn!(
                    referral_id = %item.referral_id,
                    code = ?code,
                    attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "giving the provider slot back failed; will retry"
                );
                self.store
                    .outbox_retry_later(
                        &item.id,
                        &self.owner,
                        attempts,
                        delay,
                        &format!("{code:?}"),
                        now,
                    )
                    .await
            }
            Err(ReleaseError::GiveUp(e)) => {
                let code = e.code;
                tracing::error!(referral_id = %item.referral_id, code = ?code, "matching refused to take the slot back; giving up");
                self.store.outbox_dead(&item.id, &self.owner, &format!("{code:?}"), now).await
            }
        };
        if let Err(e) = recorded {
            // The lease runs out and the row is sent again; the hold key makes that harmless.
            tracing::warn!(outbox_id = %item.id, error = %e, "recording an outbox delivery failed");
            return sent.and(Err(STORE_UNAVAILABLE));
        }
        sent
    }
}

/// The span status of a delivery whose outcome could not be read or stored.
const STORE_UNAVAILABLE: &str = "STORE_UNAVAILABLE";

/// The canonical name of a gRPC code (`UNAVAILABLE`), as a span status description.
fn grpc_code(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}
