//! Asking matching's directory for an entry's bridge program and recording the choice.
//!
//! [`BridgeFiller::choose_now`] is called by `Enqueue` right after the entry is stored, with a short time
//! limit: when matching answers the choice is recorded at once, otherwise the record stays pending and the
//! enqueue is answered anyway. [`BridgeFiller::fill_due`] is the background retry (run every
//! `CONTINUUM_BRIDGE_RETRY_SECS` by [`BridgeFiller::run`]; tests call it with a chosen "now"): it takes the
//! pending records whose next attempt is due, asks matching again, and backs off (doubling, at most an
//! hour) on failure. Replicas may retry the same record: the store settles a record only while pending.
//!
//! Matching is asked with a service token acting for the entry's organization, through
//! one `BatchRecommendForClient` call over the bridge levels of care
//! ([`crate::peers::matching::MatchingPeer::bridge_options`];
//! a background retry runs in a `bridge.retry` span that continues the enqueue's trace); the pure choice
//! is [`crate::domain::bridge::choose`]. Logs carry ids and codes only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;
use continuum_vocab::time;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::domain::Entry;
use crate::domain::bridge::{self, BridgeChoice, BridgeNeeds, BridgeRecord, BridgeStatus};
use crate::error::Result;
use crate::peers::matching::{BridgeOptions, MatchingPeer};
use crate::store::Store;

/// How long `Enqueue` waits for matching before answering with the choice pending.
pub const ENQUEUE_WAIT: Duration = Duration::from_secs(2);
/// Pending records handled per background round.
const ROUND: u64 = 50;

/// Chooses bridge programs through matching.
#[derive(Clone, Debug)]
pub struct BridgeFiller {
    store: Store,
    matching: MatchingPeer,
    clock: SharedClock,
    retry_secs: u64,
}

impl BridgeFiller {
    /// A filler asking `matching`, recording in `store`, reading time from `clock`, backing off from
    /// `retry_secs`.
    pub fn new(store: Store, matching: MatchingPeer, clock: SharedClock, retry_secs: u64) -> Self {
        Self { store, matching, clock, retry_secs }
    }

    /// The bridge-type options matching ranks for the entry (none without an age group).
    async fn ask(&self, entry: &Entry, needs: &BridgeNeeds, wait: Duration) -> BridgeOptions {
        let Some(age) = entry.age_group else { return BridgeOptions::Options(Vec::new()) };
        self.matching.bridge_options(entry.organization_id.as_str(), age, needs, wait).await
    }

    /// Asks matching for `entry`'s pending `record` within `wait` and records the outcome: the choice, or
    /// a later retry when matching could not answer. Returns the record as stored.
    pub async fn choose_now(
        &self,
        entry: &Entry,
        record: &BridgeRecord,
        wait: Duration,
    ) -> Result<BridgeRecord> {
        let now = self.clock.now();
        let rule = record.support;
        let Some(needs) = record.needs.as_ref() else { return Ok(record.clone()) };
        if !entry.status.is_active() {
            let reason = format!(
                "the entry left the waitlist before a bridge program was chosen: {}",
                bridge::rule_context(rule, entry.age_group, entry.band)
            );
            return Ok(self
                .store
                .close_bridge(record, &reason, now)
                .await?
                .unwrap_or_else(|| record.clone()));
        }
        let choice = match self.ask(entry, needs, wait).await {
            BridgeOptions::Options(options) => {
                bridge::choose(rule, entry.age_group, entry.band, &options)
            }
            BridgeOptions::Refused(code) => BridgeChoice {
                status: BridgeStatus::NoneFits,
                support: rule,
                provider_id: None,
                provider_kind: None,
                reason: format!(
                    "matching refused the client's bridge profile ({code:?}): a coordinator books {}",
                    bridge::rule_context(rule, entry.age_group, entry.band)
                ),
            },
            BridgeOptions::Unavailable(code) => {
                let next =
                    time::to_ms(now) + bridge::retry_delay_ms(record.attempts, self.retry_secs);
                tracing::warn!(entry_id = %entry.id, peer = "matching", code = ?code, attempts = record.attempts + 1, "bridge program not chosen yet; retrying later");
                self.store.retry_bridge_later(&entry.id, next, now).await?;
                return Ok(self
                    .store
                    .bridge_of(&entry.id)
                    .await?
                    .unwrap_or_else(|| record.clone()));
            }
        };
        let stored = self
            .store
            .settle_bridge(&entry.id, &choice, now)
            .await?
            .unwrap_or_else(|| record.clone());
        tracing::info!(
            entry_id = %entry.id,
            status = stored.status.code(),
            support = stored.support.code(),
            provider_id = stored.provider_id.as_deref().unwrap_or(""),
            "bridge support chosen"
        );
        metrics::counter!("continuum_bridge_choices_total", "status" => stored.status.code())
            .increment(1);
        Ok(stored)
    }

    /// One background round: asks matching for every pending record due at `now` (at most 50). Returns
    /// the records as stored afterwards.
    pub async fn fill_due(&self, now: DateTime<Utc>) -> Result<Vec<BridgeRecord>> {
        let mut out = Vec::new();
        for record in self.store.due_bridges(now, ROUND).await? {
            // A retry continues the trace of the enqueue that asked for the program.
            let span = tracing::info_span!("bridge.retry", entry_id = %record.entry_id);
            continuum_telemetry::continue_trace(&span, &record.trace_parent);
            let entry = self.store.get_entry(&record.entry_id).instrument(span.clone()).await?;
            out.push(self.choose_now(&entry, &record, ENQUEUE_WAIT).instrument(span).await?);
        }
        Ok(out)
    }

    /// Runs [`BridgeFiller::fill_due`] every `every` until `shutdown`. Errors are logged; the next round
    /// retries.
    pub async fn run(self, every: Duration, shutdown: Shutdown) {
        continuum_outbox::run_every("bridge retry", every, shutdown, || async {
            if let Err(e) = self.fill_due(self.clock.now()).await {
                tracing::warn!(error = %e, "bridge retry round failed; retrying next round");
            }
        })
        .await;
    }
}
