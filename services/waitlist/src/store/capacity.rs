//! Queries of offers for matching capacity events: the offers of one event (made once: the event id is
//! recorded with them in one transaction), and the outbox of matching slots to give back when an offer
//! chain ends with nobody eligible.

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{EntryId, ProviderId};
use continuum_vocab::time;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::{capacity_event_seen, offer, slot_release};
use super::{Store, try_offer, waiting_for};
use crate::domain::{self, Entry, Offer, OfferStatus, Policy};
use crate::error::Result;

/// Release states.
const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const DEAD: &str = "dead";

/// A slot to give back to matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRelease {
    /// Matching hold key it was taken under.
    pub slot_key: String,
    /// The provider whose slot goes back.
    pub provider_id: String,
    /// The organization the slot was taken for (the provider's, as its capacity event said; empty for a
    /// slot queued before events recorded it).
    pub organization_id: String,
    /// Attempts before this one.
    pub attempts: i32,
    /// `traceparent` of the change that queued it ("" when unknown).
    pub trace_parent: String,
}

/// Queues the matching slot `slot_key` to go back to matching (at most once per key). Runs in the
/// caller's transaction, together with the change that ended the offer chain.
pub(super) async fn queue_release<C: ConnectionTrait>(
    c: &C,
    provider_id: &str,
    slot_key: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let now_ms = Ord::min(time::to_ms(now), time::to_ms(Utc::now()));
    let row = slot_release::ActiveModel {
        slot_key: Set(slot_key.to_owned()),
        provider_id: Set(provider_id.to_owned()),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at_ms: Set(now_ms),
        lease_owner: Set(None),
        lease_until_ms: Set(0),
        last_error: Set(None),
        created_at_ms: Set(now_ms),
        finished_at_ms: Set(None),
        trace_parent: Set(continuum_telemetry::current_traceparent()),
    };
    slot_release::Entity::insert(row)
        .on_conflict(OnConflict::column(slot_release::Column::SlotKey).do_nothing().to_owned())
        .exec_without_returning(c)
        .await?;
    Ok(())
}

/// The WAITING entries a capacity event of `provider_id` may offer to, best first: those waiting for
/// it, less those that declined or let expire an offer of this provider within the last hold period (so
/// a slot given back after such a chain does not come straight back to them, and never loops).
async fn eligible_for_event<C: ConnectionTrait>(
    c: &C,
    provider_id: &str,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<Vec<Entry>> {
    let since = time::to_ms(now.checked_sub_signed(policy.hold()).unwrap_or(now));
    let recent: Vec<String> = offer::Entity::find()
        .filter(offer::Column::ProviderId.eq(provider_id.to_owned()))
        .filter(
            offer::Column::Status
                .is_in([OfferStatus::Declined.code(), OfferStatus::Expired.code()]),
        )
        .filter(offer::Column::RespondedAtMs.gte(since))
        .all(c)
        .await?
        .into_iter()
        .map(|o| o.entry_id)
        .collect();
    let waiting = waiting_for(c, provider_id)
        .await?
        .into_iter()
        .filter(|e| !recent.iter().any(|r| e.id == *r))
        .collect();
    Ok(domain::prioritize(waiting, now, &policy.bands))
}

impl Store {
    /// Whether capacity event `event_id` was already turned into offers.
    pub async fn event_seen(&self, event_id: &str) -> Result<bool> {
        Ok(capacity_event_seen::Entity::find_by_id(event_id.to_owned())
            .one(&self.db)
            .await?
            .is_some())
    }

    /// How many entries a capacity event of `provider_id` may offer to at `now` (how many of its slots
    /// are worth taking in matching).
    pub async fn eligible_count(
        &self,
        provider_id: &ProviderId,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let provider_id = provider_id.as_str();
        Ok(eligible_for_event(&self.db, provider_id, now, &self.policy).await?.len())
    }

    /// Makes the offers of capacity event `event_id`: each slot in `slot_keys` (already taken in
    /// matching) goes to the best WAITING entry for the provider, in priority order, and holds its key;
    /// a slot nobody can take is queued to go back to matching. The event is recorded in the same
    /// transaction, so its offers are made once: `None` when it was handled already (by a replica, or an
    /// earlier delivery of the same event).
    pub async fn open_event_slots(
        &self,
        organization_id: &str,
        provider_id: &str,
        event_id: &str,
        slot_keys: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Offer>>> {
        let txn = self.write_txn().await?;
        // The event row first: a replica handling the same event at the same time waits on it here and
        // then finds it recorded (nothing inserted), instead of making offers it would have to undo.
        let inserted = capacity_event_seen::Entity::insert(capacity_event_seen::ActiveModel {
            event_id: Set(event_id.to_owned()),
            provider_id: Set(provider_id.to_owned()),
            offers: Set(0),
            received_at_ms: Set(time::to_ms(now)),
            organization_id: Set(organization_id.to_owned()),
        })
        .on_conflict(
            OnConflict::column(capacity_event_seen::Column::EventId).do_nothing().to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            txn.rollback().await?;
            return Ok(None);
        }
        let eligible = eligible_for_event(&txn, provider_id, now, &self.policy).await?;
        // Several slots at once: the batch assigner chooses who gets them (priority x fit), as for a
        // coordinator's OpenSlots; whoever it passes over still follows in priority order if an offer fails.
        let order = if slot_keys.len() > 1 && eligible.len() > slot_keys.len() {
            let plan = domain::assign_slots(
                &eligible,
                &[(ProviderId::from_stored(provider_id)?, slot_keys.len())],
                now,
                &self.policy.bands,
            )?;
            let chosen: std::collections::HashSet<EntryId> =
                plan.into_iter().map(|(entry_id, _)| entry_id).collect();
            let (first, rest): (Vec<Entry>, Vec<Entry>) =
                eligible.into_iter().partition(|e| chosen.contains(&e.id));
            first.into_iter().chain(rest).collect()
        } else {
            eligible
        };
        let mut waiting = order.into_iter();
        let mut offers = Vec::new();
        for key in slot_keys {
            let mut made = None;
            for e in waiting.by_ref() {
                if let Some(o) =
                    try_offer(&txn, e.id.as_str(), provider_id, now, &self.policy, Some(key))
                        .await?
                {
                    made = Some(o);
                    break;
                }
            }
            match made {
                Some(o) => offers.push(o),
                None => queue_release(&txn, provider_id, key, now).await?,
            }
        }
        capacity_event_seen::Entity::update_many()
            .col_expr(
                capacity_event_seen::Column::Offers,
                Expr::value(i32::try_from(offers.len()).unwrap_or(i32::MAX)),
            )
            .filter(capacity_event_seen::Column::EventId.eq(event_id.to_owned()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(offers))
    }

    /// Records capacity event `event_id` as handled without offers (nobody was waiting, or matching had
    /// nothing left to take). `false` when it was recorded already.
    pub async fn event_without_offers(
        &self,
        organization_id: &str,
        provider_id: &str,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let res = capacity_event_seen::Entity::insert(capacity_event_seen::ActiveModel {
            event_id: Set(event_id.to_owned()),
            provider_id: Set(provider_id.to_owned()),
            offers: Set(0),
            received_at_ms: Set(time::to_ms(now)),
            organization_id: Set(organization_id.to_owned()),
        })
        .on_conflict(
            OnConflict::column(capacity_event_seen::Column::EventId).do_nothing().to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        Ok(res > 0)
    }

    /// Claims up to `limit` due slot releases for `owner` (a lease of `lease_ms`) in one statement
    /// (`continuum_outbox`), so two replicas never send the same release at the same time.
    pub async fn claim_due_releases(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<SlotRelease>> {
        let now = time::to_ms(Utc::now());
        let keys = SLOT_RELEASES.claim_due(&self.db, owner, now, lease_ms, limit).await?;
        let mut rows = slot_release::Entity::find()
            .filter(slot_release::Column::SlotKey.is_in(keys))
            .all(&self.db)
            .await?;
        rows.sort_by(|a, b| (a.created_at_ms, &a.slot_key).cmp(&(b.created_at_ms, &b.slot_key)));
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            // The organization its capacity event acted for (every event of a provider is its own).
            let organization_id = capacity_event_seen::Entity::find()
                .filter(capacity_event_seen::Column::ProviderId.eq(r.provider_id.clone()))
                .filter(capacity_event_seen::Column::OrganizationId.ne(""))
                .one(&self.db)
                .await?
                .map(|e| e.organization_id)
                .unwrap_or_default();
            out.push(SlotRelease {
                slot_key: r.slot_key,
                provider_id: r.provider_id,
                organization_id,
                attempts: r.attempts,
                trace_parent: r.trace_parent,
            });
        }
        Ok(out)
    }

    /// Records the outcome of a claimed release: done (`Ok`), retry after `delay_ms`, or given up.
    pub async fn finish_release(
        &self,
        slot_key: &str,
        owner: &str,
        outcome: std::result::Result<(), (bool, String)>,
        attempts: i32,
        delay_ms: i64,
    ) -> Result<()> {
        let now = time::to_ms(Utc::now());
        let mut sets = vec![("attempts", attempts.into())];
        match outcome {
            Ok(()) => sets.extend([("state", DELIVERED.into()), ("finished_at_ms", now.into())]),
            Err((true, e)) => sets.extend([
                ("next_attempt_at_ms", (now + delay_ms).into()),
                ("last_error", e.into()),
            ]),
            Err((false, e)) => sets.extend([
                ("state", DEAD.into()),
                ("finished_at_ms", now.into()),
                ("last_error", e.into()),
            ]),
        }
        SLOT_RELEASES.release(&self.db, slot_key, owner, sets).await?;
        Ok(())
    }

    /// Slot releases not delivered yet.
    pub async fn pending_releases(&self) -> Result<u64> {
        Ok(SLOT_RELEASES.pending_count(&self.db).await?)
    }
}

/// The slot releases as a leased queue (`continuum_outbox`).
const SLOT_RELEASES: continuum_outbox::Queue = continuum_outbox::Queue {
    name: "slot_releases",
    table: "slot_releases",
    key: "slot_key",
    pending: "state = 'pending'",
    due: "next_attempt_at_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};
