//! Asking matching's directory for an entry's bridge program and recording the choice.
//!
//! `Enqueue` asks matching ([`BridgeFiller::decide`]) before it stores a new entry, with a short time
//! limit, and writes the entry with its record in one write: chosen when matching answered, otherwise
//! pending with the first attempt counted, and the enqueue is answered anyway.
//! [`BridgeFiller::choose_now`] asks for a record already stored and pending (a replayed enqueue whose
//! record is pending, and the retries). [`BridgeFiller::fill_due`] is the background retry (run every
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
use continuum_vocab::AgeGroup;
use continuum_vocab::ids::EntryId;
use continuum_vocab::time;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::domain::bridge::{self, BridgeChoice, BridgeNeeds, BridgeRecord, BridgeStatus};
use crate::domain::{Band, BridgeSupport, Entry};
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

    /// Asks matching within `wait` for the bridge programs that fit a client of `organization_id` with
    /// `age_group` and `needs`, and decides under the entry's `rule` and `band`: a choice to record (a
    /// program, or none fits, or matching refused the profile), or a retry when matching could not answer.
    pub async fn decide(
        &self,
        organization_id: &str,
        age_group: Option<AgeGroup>,
        band: Band,
        rule: BridgeSupport,
        needs: &BridgeNeeds,
        wait: Duration,
    ) -> Decision {
        let options = match age_group {
            Some(age) => self.matching.bridge_options(organization_id, age, needs, wait).await,
            None => BridgeOptions::Options(Vec::new()),
        };
        match options {
            BridgeOptions::Options(options) => {
                Decision::Settle(bridge::choose(rule, age_group, band, &options))
            }
            BridgeOptions::Refused(code) => Decision::Settle(BridgeChoice {
                status: BridgeStatus::NoneFits,
                support: rule,
                provider_id: None,
                provider_kind: None,
                reason: format!(
                    "matching refused the client's bridge profile ({code:?}): a coordinator books {}",
                    bridge::rule_context(rule, age_group, band)
                ),
            }),
            BridgeOptions::Unavailable(code) => Decision::Retry(code),
        }
    }

    /// When to ask again after `attempts` failed attempts, from `now` (doubling, at most an hour).
    pub fn retry_at_ms(&self, attempts: i32, now: DateTime<Utc>) -> i64 {
        time::to_ms(now) + bridge::retry_delay_ms(attempts, self.retry_secs)
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
        let org = entry.organization_id.as_str();
        let choice = match self.decide(org, entry.age_group, entry.band, rule, needs, wait).await {
            Decision::Settle(choice) => choice,
            Decision::Retry(code) => {
                let next = self.retry_at_ms(record.attempts, now);
                retrying(&entry.id, code, record.attempts + 1);
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
        settled(&stored);
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

/// What asking matching gave: a choice to record, or a retry later (matching could not answer: the code).
#[derive(Clone, Debug)]
pub enum Decision {
    /// Record this (a program, or none fits).
    Settle(BridgeChoice),
    /// Ask again later.
    Retry(tonic::Code),
}

/// Logs (ids and codes) and counts a record that left pending.
pub fn settled(record: &BridgeRecord) {
    tracing::info!(
        entry_id = %record.entry_id,
        status = record.status.code(),
        support = record.support.code(),
        provider_id = record.provider_id.as_deref().unwrap_or(""),
        "bridge support chosen"
    );
    metrics::counter!("continuum_bridge_choices_total", "status" => record.status.code())
        .increment(1);
}

/// Logs an attempt matching could not answer (the `attempts`-th).
pub fn retrying(entry_id: &EntryId, code: tonic::Code, attempts: i32) {
    tracing::warn!(entry_id = %entry_id, peer = "matching", code = ?code, attempts, "bridge program not chosen yet; retrying later");
}
