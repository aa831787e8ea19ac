//! The entry use cases: enqueue (with the crisis interlock and the entry's bridge support), read, list in
//! priority order, estimate the wait, remove, the waiting-time metrics and the care events of a client.

use chrono::TimeDelta;
use continuum_auth::Caller;
use continuum_errors::page::{self, Page};
use continuum_proto::common::v1::CareEvent;
use continuum_runtime::care::Needs;
use continuum_vocab::AgeGroup;
use continuum_vocab::ids::{ClientId, EntryId, OrganizationId};

use super::{App, EntryView, Removal, WaitlistQuery, access};
use crate::domain::bridge::{self, BridgeNeeds, BridgeRecord, BridgeStatus};
use crate::domain::{self, Band, BridgeSupport, Entry, Estimate, NewEntry, OrgMetrics};
use crate::error::{Error, ErrorReason, Result};
use crate::store::{BridgeStart, Enqueued, EntryFilter};
use crate::workers::bridge_filler;

impl App {
    /// Puts a client of the caller's own organization on the waitlist (replaying an earlier enqueue under
    /// the same idempotency key) and gives the entry its bridge support. The answer says whether it was
    /// replayed.
    pub async fn enqueue(
        &self,
        caller: &Caller,
        new: NewEntry,
        needs: Option<BridgeNeeds>,
    ) -> Result<(EntryView, bool)> {
        access::enqueues_for_own_organization(caller, new.organization_id.as_str())?;
        // Only the organization that took the client's intake enqueues the client (intake decides; another
        // organization's client and one that does not exist are both NOT_FOUND).
        self.relationships
            .check(caller, new.client_id.as_str(), Some(new.intake_id.as_str()), Needs::Owner)
            .await?;
        if let Err(e) = domain::crisis_interlock(new.risk_level) {
            tracing::warn!(client_id = %new.client_id, intake_id = %new.intake_id, reason = "HIGH_RISK_NOT_WAITLISTED", "enqueue refused");
            return Err(e);
        }
        let rule = domain::bridge_support(new.age_group, new.band);
        let start = bridge_start(rule, new.age_group, new.band, needs.as_ref());
        // Matching is asked before the entry is stored, so that the choice is written with it (one
        // write); when it cannot answer in time the entry is stored with its choice pending.
        let (start, unanswered) = self.first_bridge_attempt(&new, start).await;
        // One reading of the clock: a new entry is stored and answered at the same instant.
        let now = self.clock.now();
        let (entry, replayed, created) = match self.store.enqueue(new.clone(), &start, now).await? {
            Enqueued::New(entry, record) => (entry, false, Some(record)),
            Enqueued::Replayed(entry) => (entry, true, None),
        };
        if replayed && !domain::same_request(&entry, &new) {
            return Err(Error::precondition(
                ErrorReason::IdempotencyKeyReused,
                "the idempotency key was already used for another enqueue",
            ));
        }
        match (&created, unanswered) {
            (Some(record), _)
                if matches!(record.status, BridgeStatus::Chosen | BridgeStatus::NoneFits) =>
            {
                bridge_filler::settled(record);
            }
            (Some(record), Some(code)) => bridge_filler::retrying(&record.entry_id, code, 1),
            _ => {}
        }
        tracing::info!(
            entry_id = %entry.id,
            client_id = %entry.client_id,
            band = entry.band.code(),
            candidates = entry.candidate_provider_ids.len(),
            replayed,
            "enqueued"
        );
        let bridge = match created {
            Some(record) => Some(record),
            None => self.bridge_at_replay(&entry, needs.as_ref()).await,
        };
        // A new entry is answered as stored, before any offer (an offer made since shows in GetEntry).
        let offers = if replayed { self.store.offers_of(&entry.id).await? } else { Vec::new() };
        let wait_fraction = entry.wait_fraction(now, &self.limits());
        Ok((EntryView { entry, offers, bridge, wait_fraction }, replayed))
    }

    /// `start` with matching's answer for a new entry's pending bridge choice, asked within a short limit:
    /// settled when matching answered, pending with the attempt counted (and the code matching's call
    /// ended with) when it could not. Any other start (not requested) is returned as it is.
    async fn first_bridge_attempt<'a>(
        &self,
        new: &NewEntry,
        start: BridgeStart<'a>,
    ) -> (BridgeStart<'a>, Option<tonic::Code>) {
        let Some(needs) = start.needs.filter(|_| start.status == BridgeStatus::Pending) else {
            return (start, None);
        };
        let org = new.organization_id.as_str();
        let wait = bridge_filler::ENQUEUE_WAIT;
        match self.bridges.decide(org, new.age_group, new.band, start.support, needs, wait).await {
            bridge_filler::Decision::Settle(choice) => (start.settled(choice), None),
            bridge_filler::Decision::Retry(code) => {
                let at = self.bridges.retry_at_ms(0, self.clock.now());
                (start.retry_at(at), Some(code))
            }
        }
    }

    /// The bridge record of a replayed entry: created now (from the stored entry's rule) if its first
    /// attempt did not store one, and, while pending, matching's choice asked for now within a short limit.
    /// A failure here never fails the enqueue: the entry is stored and keeps its rule-based kind; a store
    /// error is logged and the next replay of the same key creates the record.
    async fn bridge_at_replay(
        &self,
        entry: &Entry,
        needs: Option<&BridgeNeeds>,
    ) -> Option<BridgeRecord> {
        let rule = entry
            .bridge_support
            .unwrap_or_else(|| domain::bridge_support(entry.age_group, entry.band));
        let start = bridge_start(rule, entry.age_group, entry.band, needs);
        let record = match self.store.ensure_bridge(&entry.id, &start, self.clock.now()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(entry_id = %entry.id, error = %e, "bridge record not stored; a replay of the enqueue stores it");
                return None;
            }
        };
        if record.status != BridgeStatus::Pending {
            return Some(record);
        }
        match self.bridges.choose_now(entry, &record, bridge_filler::ENQUEUE_WAIT).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(entry_id = %entry.id, error = %e, "bridge choice not recorded; the background retry makes it");
                Some(record)
            }
        }
    }

    /// The entry `id` with its offers, if `caller` may see it (`NOT_FOUND` otherwise).
    pub async fn get_entry(&self, caller: &Caller, id: &EntryId) -> Result<EntryView> {
        let entry = self.visible_entry(caller, id).await?;
        self.view(entry).await
    }

    /// A page of the caller's organization's waiting entries in priority order now (without their
    /// offers), and the next page's token. The order moves as time passes, so a page boundary is a
    /// position in it (the token carries the offset of the next page), not a bookmark on an entry.
    pub async fn list_waitlist(
        &self,
        caller: &Caller,
        query: WaitlistQuery,
        page: &Page,
    ) -> Result<(Vec<EntryView>, String)> {
        let organization_id =
            Some(access::own_scope(caller, query.organization_id.map(String::from))?);
        let now = self.clock.now();
        let limits = self.limits();
        let filter =
            EntryFilter { organization_id, provider_id: query.provider_id, band: query.band };
        // `convert` accepts only tokens whose position is a number.
        let offset = page.after.as_deref().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
        let size = usize::try_from(page.size).unwrap_or(usize::MAX);
        // Only the heads of the bands can be on this page (or show there is a next one).
        let per_band = u64::from(offset) + page.size + 1;
        let heads = self.store.active_heads(&filter, per_band).await?;
        let ordered = domain::prioritize(heads, now, &limits);
        let (rows, next) =
            domain::page(ordered, usize::try_from(offset).unwrap_or(usize::MAX), size);
        let mut bridges =
            self.store.bridges_of(&rows.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await?;
        let views = rows
            .into_iter()
            .map(|e| EntryView {
                offers: Vec::new(),
                bridge: bridges.remove(&e.id),
                wait_fraction: e.wait_fraction(now, &limits),
                entry: e,
            })
            .collect();
        Ok((views, next.map(|n| page::token(&n.to_string())).unwrap_or_default()))
    }

    /// The estimated wait of entry `id` (still on the list) if `caller` may see it.
    pub async fn estimate_wait(&self, caller: &Caller, id: &EntryId) -> Result<Estimate> {
        let now = self.clock.now();
        let limits = self.limits();
        let entry = self.visible_entry(caller, id).await?;
        if !entry.status.is_active() {
            return Err(Error::precondition(
                ErrorReason::EntryNotWaiting,
                format!("entry is {}", entry.status.code()),
            ));
        }
        let position = usize::try_from(self.store.count_ahead(&entry, now, &limits).await?)
            .unwrap_or(usize::MAX);
        let since =
            now.checked_sub_signed(TimeDelta::days(domain::THROUGHPUT_WINDOW_DAYS)).unwrap_or(now);
        let accepted = self.store.accepted_since(&entry.candidate_provider_ids, since).await?;
        Ok(domain::estimate(position, accepted, domain::days_left_in_band(&entry, now, &limits)))
    }

    /// Removes an entry the caller may see, with its reason; its pending offers are withdrawn and their
    /// slots offered to the next eligible entries. Nobody is removed silently.
    pub async fn remove_entry(&self, caller: &Caller, removal: Removal) -> Result<EntryView> {
        self.visible_entry(caller, &removal.entry_id).await?;
        let now = self.clock.now();
        let removed = self
            .store
            .remove(&removal.entry_id, &removal.reason, removal.expected_version, now)
            .await?;
        self.holds.pass_on(&removed.withdrawn, &removed.next_offers, now).await;
        tracing::info!(
            entry_id = %removed.entry.id,
            withdrawn_offers = removed.withdrawn.len(),
            next_offers = removed.next_offers.len(),
            "entry removed"
        );
        self.view(removed.entry).await
    }

    /// The care events of `client_id` that the caller's organization's entries show.
    pub async fn care_events(
        &self,
        caller: &Caller,
        client_id: &ClientId,
    ) -> Result<Vec<CareEvent>> {
        // Only the caller's organization's entries (a peer service acts for one organization too).
        let history = self
            .store
            .client_history(&caller.organization_id.to_ascii_lowercase(), client_id)
            .await?;
        let events = crate::care_events::of_client(&history);
        tracing::info!(client_id = %client_id, entries = history.len(), events = events.len(), "care events listed");
        Ok(events)
    }

    /// The waiting-time metrics of the caller's own organization (a row even before its first entry),
    /// with `length_weeks` weeks of its length by band.
    pub async fn metrics(
        &self,
        caller: &Caller,
        organization_id: Option<OrganizationId>,
        length_weeks: u32,
    ) -> Result<Vec<OrgMetrics>> {
        let organization_id = access::own_scope(caller, organization_id.map(String::from))?;
        let (entries, check_ins) = self.store.metrics_facts(Some(&organization_id)).await?;
        let now = self.clock.now();
        let mut rows = domain::wait_metrics(&entries, &check_ins, now, length_weeks);
        if rows.is_empty() {
            // An organization with no entries yet still gets its (empty) row, and a flat series.
            rows.push(OrgMetrics {
                organization_id,
                length_by_band: domain::length_by_band(&[], now, length_weeks),
                ..Default::default()
            });
        }
        Ok(rows)
    }
}

/// How an entry's bridge record starts: pending when matching can be asked (the client's needs were given
/// and the entry has an age group), otherwise not requested, with the rule's support and its reason.
fn bridge_start<'a>(
    rule: BridgeSupport,
    age_group: Option<AgeGroup>,
    band: Band,
    needs: Option<&'a BridgeNeeds>,
) -> BridgeStart<'a> {
    let askable = needs.is_some() && age_group.is_some();
    let (status, reason) = if askable {
        (BridgeStatus::Pending, bridge::pending_reason(rule, age_group, band))
    } else {
        (
            BridgeStatus::NotRequested,
            bridge::not_requested_reason(rule, age_group, band, needs.is_some()),
        )
    };
    BridgeStart {
        status,
        support: rule,
        needs: needs.filter(|_| askable),
        reason,
        provider: None,
        retry_at_ms: None,
    }
}
