//! All database access of the waitlist service. The use cases (`app`) and the workers call these
//! functions with domain types; no other module touches sea-orm.
//!
//! The rule this module keeps: an entry holds at most one pending offer and a slot is offered at most once,
//! even with several replicas on one database. Every state change is a conditional UPDATE (`WHERE status =
//! <expected>`) whose `rows_affected` is checked, inside a write transaction together with the rows that
//! depend on it (the offer insert, the next offer of a freed slot). Write transactions start with `BEGIN
//! IMMEDIATE` on SQLite, so two replicas sharing a SQLite file queue on the write lock (busy timeout)
//! instead of failing on a stale read snapshot; PostgreSQL ignores the mode and relies on row locks.

mod bridge;
pub use bridge::BridgeStart;
mod capacity;
pub mod entities;
pub mod migration;
mod migration_bridge_choices;
mod migration_bridge_pending;
pub mod migration_capacity;
mod migration_order_index;
mod migration_placement_lease;
pub mod migration_placements;
mod migration_relationships;
pub mod migration_scoped_keys;
pub mod migration_trace;
pub use capacity::SlotRelease;
pub mod placements;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{
    ClientId, EntryId, IntakeId, OfferId, OrganizationId, ProviderId, ReferralId,
};
use continuum_vocab::{AgeGroup, LevelOfCare, RiskLevel, time};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::domain::{
    self, Band, BridgeSupport, CheckInFacts, CheckInOutcome, Entry, EntryStatus, NewEntry, Offer,
    OfferStatus, Policy, WaitFacts,
};
use crate::error::{Error, ErrorReason, Result};
use entities::{check_in, entry, offer};

pub use migration::Migrator;

/// Most expired offers one sweep handles (the next sweep takes the rest).
pub const SWEEP_BATCH: u64 = 500;

/// Attempts of an optimistic check-in update before giving up with `ABORTED`.
const CHECK_IN_ATTEMPTS: usize = 5;

/// The waitlist store.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// The hot path's writes (an enqueued entry's batch) over kept connections.
    writer: continuum_db::Writer,
    policy: Policy,
}

/// Filters for listing active entries.
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    /// Only this organization.
    pub organization_id: Option<String>,
    /// Only entries waiting for this provider.
    pub provider_id: Option<ProviderId>,
    /// Only this band.
    pub band: Option<Band>,
}

/// The answers of a check-in, as recorded.
#[derive(Clone, Debug, Default)]
pub struct CheckInRecord {
    /// Whether the client answered.
    pub answered: bool,
    /// PHQ-9 items, when re-screened.
    pub phq9: Option<Vec<i32>>,
    /// GAD-7 items, when re-screened.
    pub gad7: Option<Vec<i32>>,
    /// How the answers were re-screened: "intake" (intake's reassessment), "pending" (intake could not be
    /// reached; the waitlist's own rules applied) or empty (nothing to re-screen).
    pub rescreen: &'static str,
    /// Intake's assessment of the re-screen, when made.
    pub assessment_id: Option<String>,
}

/// An offer answered or expired, and where its slot went.
#[derive(Clone, Debug)]
pub struct Freed {
    /// The offer, after the change.
    pub offer: Offer,
    /// The entry it was made to, after the change.
    pub entry: Entry,
    /// The offer made with the freed slot to the next eligible entry, if any.
    pub next_offer: Option<Offer>,
}

/// A recorded check-in.
#[derive(Clone, Debug)]
pub struct CheckedIn {
    /// The entry after it.
    pub entry: Entry,
    /// What it changed.
    pub outcome: CheckInOutcome,
    /// Pending offers withdrawn because the entry left for the crisis interlock.
    pub withdrawn: Vec<Offer>,
    /// Offers made with the slots they freed.
    pub next_offers: Vec<Offer>,
}

/// A removed entry and what happened to its pending offers.
#[derive(Clone, Debug)]
pub struct Removed {
    /// The entry, now removed.
    pub entry: Entry,
    /// Its pending offers, now declined (withdrawn).
    pub withdrawn: Vec<Offer>,
    /// Offers made with the slots they freed.
    pub next_offers: Vec<Offer>,
}

/// One check-in as the care timeline shows it (scores and codes; the answers stay in the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInStep {
    /// Check-in id.
    pub id: String,
    /// When recorded.
    pub recorded_at: DateTime<Utc>,
    /// Whether the client answered.
    pub answered: bool,
    /// PHQ-9 total, when re-screened.
    pub phq9_total: Option<i32>,
    /// GAD-7 total, when re-screened.
    pub gad7_total: Option<i32>,
    /// Band code before.
    pub band_before: String,
    /// Band code after.
    pub band_after: String,
    /// Whether it opened outreach.
    pub outreach_opened: bool,
    /// Whether it showed a rise in risk (the crisis interlock).
    pub interlock: bool,
}

/// One waitlist entry with its offers and check-ins, oldest first.
#[derive(Clone, Debug)]
pub struct EntryHistory {
    /// The entry.
    pub entry: Entry,
    /// Its offers.
    pub offers: Vec<Offer>,
    /// Its check-ins.
    pub check_ins: Vec<CheckInStep>,
    /// Its bridge support, when one was asked for.
    pub bridge: Option<crate::domain::bridge::BridgeRecord>,
}

/// What an enqueue stored.
#[derive(Debug)]
pub enum Enqueued {
    /// A new entry, with the bridge record written with it.
    New(Entry, crate::domain::BridgeRecord),
    /// The entry an earlier call with the same idempotency key created.
    Replayed(Entry),
}

fn corrupt(what: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!("stored {what} is not valid"))
}

/// The stored form of an idempotency key: unique per organization, not across them (one organization's
/// key never collides with, or reveals, another's).
fn scoped_key(organization_id: &str, key: &str) -> String {
    format!("{organization_id}:{key}")
}

fn entry_to_domain(m: entry::Model) -> Result<Entry> {
    let prefix = format!("{}:", m.organization_id);
    let idempotency_key = m
        .idempotency_key
        .strip_prefix(&prefix)
        .map(str::to_owned)
        .unwrap_or_else(|| m.idempotency_key.clone());
    let candidates: Vec<String> =
        serde_json::from_str(&m.candidate_provider_ids).map_err(|_| corrupt("candidate list"))?;
    let candidates =
        candidates.iter().map(ProviderId::from_stored).collect::<Result<Vec<ProviderId>>>()?;
    let opt = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Entry {
        band: Band::from_code(&m.band).ok_or_else(|| corrupt("band"))?,
        status: EntryStatus::from_code(&m.status).ok_or_else(|| corrupt("entry status"))?,
        risk_level: match opt(&m.risk_level) {
            Some(c) => Some(RiskLevel::from_code(&c).ok_or_else(|| corrupt("risk level"))?),
            None => None,
        },
        level_of_care: match opt(&m.level_of_care) {
            Some(c) => Some(LevelOfCare::from_code(&c).ok_or_else(|| corrupt("level of care"))?),
            None => None,
        },
        age_group: match opt(&m.age_group) {
            Some(c) => Some(AgeGroup::from_code(&c).ok_or_else(|| corrupt("age group"))?),
            None => None,
        },
        removal_reason: m.removal_reason,
        id: EntryId::from_stored(&m.id)?,
        idempotency_key,
        client_id: ClientId::from_stored(&m.client_id)?,
        intake_id: IntakeId::from_stored(&m.intake_id)?,
        organization_id: OrganizationId::from_stored(&m.organization_id)?,
        candidate_provider_ids: candidates,
        enqueued_at: time::from_ms(m.enqueued_at_ms),
        missed_check_ins: m.missed_check_ins,
        outreach_open: m.outreach_open,
        next_check_in_at: time::from_ms(m.next_check_in_at_ms),
        updated_at: time::from_ms(m.updated_at_ms),
        version: m.version,
        bridge_support: match opt(&m.bridge_support) {
            Some(c) => Some(BridgeSupport::from_code(&c).ok_or_else(|| corrupt("bridge support"))?),
            None => None,
        },
        interlock_required: m.interlock_required,
    })
}

fn offer_to_domain(m: offer::Model) -> Result<Offer> {
    Ok(Offer {
        status: OfferStatus::from_code(&m.status).ok_or_else(|| corrupt("offer status"))?,
        id: OfferId::from_stored(&m.id)?,
        entry_id: EntryId::from_stored(&m.entry_id)?,
        provider_id: ProviderId::from_stored(&m.provider_id)?,
        offered_at: time::from_ms(m.offered_at_ms),
        expires_at: time::from_ms(m.expires_at_ms),
        responded_at: m.responded_at_ms.map(time::from_ms),
        referral_id: m
            .referral_id
            .filter(|s| !s.is_empty())
            .map(ReferralId::from_stored)
            .transpose()?,
        slot_key: m.slot_key.filter(|s| !s.is_empty()),
    })
}

/// The LIKE pattern that finds a provider id in a JSON candidate list (ids are validated lowercase UUIDs,
/// so they contain no LIKE wildcards); callers re-check the decoded list.
/// The condition "the entry is on the list": its status is active ([`EntryStatus::is_active`]).
fn on_the_list() -> sea_orm::sea_query::SimpleExpr {
    entry::Column::Status.is_in(EntryStatus::ALL.iter().filter(|s| s.is_active()).map(|s| s.code()))
}

/// The columns of an entry the waiting-time metrics read.
#[derive(Debug, sea_orm::FromQueryResult)]
struct FactRow {
    id: String,
    organization_id: String,
    status: String,
    band: String,
    enqueued_at_ms: i64,
    updated_at_ms: i64,
}

/// The entries on the list in `band`.
fn on_the_list_in(band: Band) -> sea_orm::Select<entry::Entity> {
    entry::Entity::find().filter(entry::Column::Band.eq(band.code())).filter(on_the_list())
}

fn candidate_pattern(provider_id: &str) -> String {
    format!("\"{provider_id}\"")
}

async fn find_entry<C: ConnectionTrait>(c: &C, id: &str) -> Result<Entry> {
    let m = entry::Entity::find_by_id(id.to_owned())
        .one(c)
        .await?
        .ok_or_else(|| Error::not_found("waitlist entry", id))?;
    entry_to_domain(m)
}

async fn find_offer<C: ConnectionTrait>(c: &C, id: &str) -> Result<Offer> {
    let m = offer::Entity::find_by_id(id.to_owned())
        .one(c)
        .await?
        .ok_or_else(|| Error::not_found("offer", id))?;
    offer_to_domain(m)
}

/// WAITING entries that list `provider_id` among their candidates (any order).
async fn waiting_for<C: ConnectionTrait>(c: &C, provider_id: &str) -> Result<Vec<Entry>> {
    let rows = entry::Entity::find()
        .filter(entry::Column::Status.eq(EntryStatus::Waiting.code()))
        .filter(entry::Column::CandidateProviderIds.contains(candidate_pattern(provider_id)))
        .all(c)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        let e = entry_to_domain(m)?;
        if e.waits_for(provider_id) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Moves one entry WAITING -> OFFERED (conditionally) and inserts its pending offer (holding the matching
/// slot `slot_key`, if any). `None` when the entry is no longer waiting (another caller or replica got
/// there first). Must run inside a write transaction.
async fn try_offer<C: ConnectionTrait>(
    c: &C,
    entry_id: &str,
    provider_id: &str,
    now: DateTime<Utc>,
    policy: &Policy,
    slot_key: Option<&str>,
) -> Result<Option<Offer>> {
    let now_ms = time::to_ms(now);
    let res = entry::Entity::update_many()
        .col_expr(entry::Column::Status, Expr::value(EntryStatus::Offered.code()))
        .col_expr(entry::Column::Version, Expr::col(entry::Column::Version).add(1))
        .col_expr(entry::Column::UpdatedAtMs, Expr::value(now_ms))
        .filter(entry::Column::Id.eq(entry_id.to_owned()))
        .filter(entry::Column::Status.eq(EntryStatus::Waiting.code()))
        .exec(c)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    // The entry's first offer: how long it waited for one (the time-to-first-offer SLO).
    let earlier = offer::Entity::find()
        .filter(offer::Column::EntryId.eq(entry_id.to_owned()))
        .count(c)
        .await?;
    if earlier == 0
        && let Some(e) = entry::Entity::find_by_id(entry_id.to_owned()).one(c).await?
    {
        crate::telemetry::first_offer(now_ms - e.enqueued_at_ms);
    }
    let expires_at = now.checked_add_signed(policy.hold()).unwrap_or(now);
    let m = offer::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        entry_id: Set(entry_id.to_owned()),
        provider_id: Set(provider_id.to_owned()),
        status: Set(OfferStatus::Pending.code().to_owned()),
        offered_at_ms: Set(now_ms),
        expires_at_ms: Set(time::to_ms(expires_at)),
        responded_at_ms: Set(None),
        referral_id: Set(None),
        appointment_at_ms: Set(None),
        trace_parent: Set(continuum_telemetry::current_traceparent()),
        slot_key: Set(slot_key.map(str::to_owned)),
    }
    .insert(c)
    .await?;
    Ok(Some(offer_to_domain(m)?))
}

/// Offers a freed slot of `provider_id` to the best WAITING entry other than `exclude`; the successor
/// offer holds the same matching slot (`slot_key`). When nobody is eligible a matching slot is queued to
/// go back to matching (`slot_releases`). Must run inside a write transaction.
async fn offer_next<C: ConnectionTrait>(
    c: &C,
    provider_id: &str,
    exclude: &str,
    now: DateTime<Utc>,
    policy: &Policy,
    slot_key: Option<&str>,
) -> Result<Option<Offer>> {
    let waiting: Vec<Entry> =
        waiting_for(c, provider_id).await?.into_iter().filter(|e| e.id != exclude).collect();
    for e in domain::prioritize(waiting, now, &policy.bands) {
        if let Some(o) = try_offer(c, e.id.as_str(), provider_id, now, policy, slot_key).await? {
            return Ok(Some(o));
        }
    }
    if let Some(key) = slot_key {
        capacity::queue_release(c, provider_id, key, now).await?;
    }
    Ok(None)
}

/// Withdraws the pending offers of `entry_id` (recorded as DECLINED: the client no longer takes the slot)
/// and offers each freed slot at once to the next best WAITING entry for that provider. Must run inside a
/// write transaction. Returns (withdrawn, next offers).
async fn withdraw_pending<C: ConnectionTrait>(
    c: &C,
    entry_id: &str,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<(Vec<Offer>, Vec<Offer>)> {
    let now_ms = time::to_ms(now);
    let pending = offer::Entity::find()
        .filter(offer::Column::EntryId.eq(entry_id.to_owned()))
        .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
        .all(c)
        .await?;
    let mut withdrawn = Vec::new();
    let mut next_offers = Vec::new();
    for m in pending {
        let res = offer::Entity::update_many()
            .col_expr(offer::Column::Status, Expr::value(OfferStatus::Declined.code()))
            .col_expr(offer::Column::RespondedAtMs, Expr::value(now_ms))
            .filter(offer::Column::Id.eq(m.id.clone()))
            .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
            .exec(c)
            .await?;
        if res.rows_affected != 1 {
            continue;
        }
        let o = find_offer(c, &m.id).await?;
        if let Some(next) =
            offer_next(c, o.provider_id.as_str(), entry_id, now, policy, o.slot_key.as_deref())
                .await?
        {
            next_offers.push(next);
        }
        withdrawn.push(o);
    }
    Ok((withdrawn, next_offers))
}

/// Moves an entry OFFERED -> `to` (conditionally).
async fn release_entry<C: ConnectionTrait>(
    c: &C,
    entry_id: &str,
    to: EntryStatus,
    now: DateTime<Utc>,
) -> Result<bool> {
    let res = entry::Entity::update_many()
        .col_expr(entry::Column::Status, Expr::value(to.code()))
        .col_expr(entry::Column::Version, Expr::col(entry::Column::Version).add(1))
        .col_expr(entry::Column::UpdatedAtMs, Expr::value(time::to_ms(now)))
        .filter(entry::Column::Id.eq(entry_id.to_owned()))
        .filter(entry::Column::Status.eq(EntryStatus::Offered.code()))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

impl Store {
    /// A store over an open, migrated connection, applying `policy`.
    pub fn new(db: DatabaseConnection, policy: Policy) -> Self {
        Self { writer: continuum_db::Writer::new(&db), db, policy }
    }

    /// The connection (for health probes).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The rules this store applies.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A write transaction (`BEGIN IMMEDIATE` on SQLite; see the module docs).
    async fn write_txn(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    /// The entry `organization_id` enqueued under `key` (every stored key is scoped: migration
    /// `m_waitlist_scoped_idempotency_keys` rewrote the ones written before).
    async fn find_by_key(&self, organization_id: &str, key: &str) -> Result<Option<Entry>> {
        match entry::Entity::find()
            .filter(entry::Column::IdempotencyKey.eq(scoped_key(organization_id, key)))
            .filter(entry::Column::OrganizationId.eq(organization_id.to_owned()))
            .one(&self.db)
            .await?
        {
            Some(m) => Ok(Some(entry_to_domain(m)?)),
            None => Ok(None),
        }
    }

    /// Stores a new WAITING entry with its bridge record as `bridge` says, both in one write (one
    /// statement on PostgreSQL, [`continuum_db::Batch`], shared with the entries stored at the same moment:
    /// [`continuum_db::group`]), or returns the entry an earlier call with the same idempotency key
    /// created. Nothing is read first: the unique index on the (scoped) key refuses a replay's insert, and
    /// only then is the earlier entry read.
    pub async fn enqueue(
        &self,
        new: NewEntry,
        bridge: &BridgeStart<'_>,
        now: DateTime<Utc>,
    ) -> Result<Enqueued> {
        let now_ms = time::to_ms(now);
        let (org, key) = (new.organization_id.clone(), new.idempotency_key.clone());
        let candidates = serde_json::to_string(&new.candidate_provider_ids)
            .map_err(|e| Error::Unexpected(e.into()))?;
        let next_check_in = now.checked_add_signed(self.policy.check_in_interval()).unwrap_or(now);
        let row = entry::Model {
            bridge_support: Some(domain::bridge_support(new.age_group, new.band).code().to_owned()),
            interlock_required: false,
            id: uuid::Uuid::now_v7().to_string(),
            idempotency_key: scoped_key(new.organization_id.as_str(), &new.idempotency_key),
            client_id: new.client_id.into_string(),
            intake_id: new.intake_id.into_string(),
            organization_id: new.organization_id.into_string(),
            band: new.band.code().to_owned(),
            risk_level: new.risk_level.map(|r| r.code().to_owned()),
            candidate_provider_ids: candidates,
            status: EntryStatus::Waiting.code().to_owned(),
            level_of_care: new.level_of_care.map(|l| l.code().to_owned()),
            age_group: new.age_group.map(|a| a.code().to_owned()),
            removal_reason: None,
            missed_check_ins: 0,
            outreach_open: false,
            next_check_in_at_ms: time::to_ms(next_check_in),
            enqueued_at_ms: now_ms,
            updated_at_ms: now_ms,
            version: 1,
        };
        let entry = entry_to_domain(row.clone())?;
        let record = bridge::new_row(&entry.id, bridge, now)?;
        let mut batch = continuum_db::Batch::new(&self.db);
        batch.push(&entry::Entity::insert(entry::ActiveModel::from(row)));
        batch.push(&bridge::bridge_choice::Entity::insert(
            bridge::bridge_choice::ActiveModel::from(record.clone()),
        ));
        match batch.run_shared(&self.writer).await {
            Ok(()) => Ok(Enqueued::New(entry, bridge::to_domain(record)?)),
            // An earlier or concurrent call with the same key stored its entry: answer with that one.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                match self.find_by_key(org.as_str(), &key).await? {
                    Some(existing) => Ok(Enqueued::Replayed(existing)),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One client's entries owned by `organization_id`, oldest first, each with its offers and check-ins
    /// (oldest first): what the care timeline shows of the waitlist.
    pub async fn client_history(
        &self,
        organization_id: &str,
        client_id: &ClientId,
    ) -> Result<Vec<EntryHistory>> {
        let client_id = client_id.as_str();
        let entries = entry::Entity::find()
            .filter(entry::Column::OrganizationId.eq(organization_id.to_owned()))
            .filter(entry::Column::ClientId.eq(client_id.to_owned()))
            .order_by_asc(entry::Column::EnqueuedAtMs)
            .order_by_asc(entry::Column::Id)
            .limit(200)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for m in entries {
            let entry = entry_to_domain(m)?;
            let mut offers = self.offers_of(&entry.id).await?;
            offers.reverse();
            let check_ins = check_in::Entity::find()
                .filter(check_in::Column::EntryId.eq(entry.id.as_str()))
                .order_by_asc(check_in::Column::RecordedAtMs)
                .order_by_asc(check_in::Column::Id)
                .all(&self.db)
                .await?
                .into_iter()
                .map(|c| CheckInStep {
                    id: c.id,
                    recorded_at: time::from_ms(c.recorded_at_ms),
                    answered: c.answered,
                    phq9_total: c.phq9_total,
                    gad7_total: c.gad7_total,
                    band_before: c.band_before,
                    band_after: c.band_after,
                    outreach_opened: c.outreach_opened,
                    interlock: c.interlock,
                })
                .collect();
            let bridge = self.bridge_of(&entry.id).await?;
            out.push(EntryHistory { entry, offers, check_ins, bridge });
        }
        Ok(out)
    }

    /// One entry.
    pub async fn get_entry(&self, id: &EntryId) -> Result<Entry> {
        let id = id.as_str();
        find_entry(&self.db, id).await
    }

    /// One offer.
    pub async fn get_offer(&self, id: &OfferId) -> Result<Offer> {
        let id = id.as_str();
        find_offer(&self.db, id).await
    }

    /// The offers made to an entry, newest first.
    pub async fn offers_of(&self, entry_id: &EntryId) -> Result<Vec<Offer>> {
        let entry_id = entry_id.as_str();
        offer::Entity::find()
            .filter(offer::Column::EntryId.eq(entry_id.to_owned()))
            .order_by_desc(offer::Column::OfferedAtMs)
            .order_by_desc(offer::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(offer_to_domain)
            .collect()
    }

    /// The heads of the active entries matching `filter`: in each band, the first `per_band` in the band's
    /// own order (earliest arrival, then id). Within a band the fair-aging order is exactly that order
    /// (everyone in a band ages at the same rate), so the first `per_band` entries of the whole list are
    /// among these heads: a page at `offset` of `size` needs `per_band = offset + size + 1` (the one more
    /// tells whether a next page exists), whatever the length of the list.
    pub async fn active_heads(&self, filter: &EntryFilter, per_band: u64) -> Result<Vec<Entry>> {
        let bands: Vec<Band> = filter.band.map_or_else(|| Band::ALL.to_vec(), |b| vec![b]);
        let mut out = Vec::new();
        for band in bands {
            let mut q = on_the_list_in(band);
            if let Some(org) = &filter.organization_id {
                q = q.filter(entry::Column::OrganizationId.eq(org.clone()));
            }
            if let Some(p) = &filter.provider_id {
                q = q.filter(
                    entry::Column::CandidateProviderIds.contains(candidate_pattern(p.as_str())),
                );
            }
            let q = q.order_by_asc(entry::Column::EnqueuedAtMs).order_by_asc(entry::Column::Id);
            // The pattern may match more than the provider's own id (the exact check follows), so read
            // on until `per_band` entries passed it or the band is exhausted.
            let mut taken = 0;
            let mut skip = 0;
            while taken < per_band {
                let rows = q.clone().offset(skip).limit(per_band - taken).all(&self.db).await?;
                let got = rows.len() as u64;
                skip += got;
                for m in rows {
                    let e = entry_to_domain(m)?;
                    if filter.provider_id.as_ref().is_none_or(|p| e.waits_for(p)) {
                        out.push(e);
                        taken += 1;
                    }
                }
                if got < per_band {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Active entries by band and organization: how many, and how many arrived before `long_ago` (the
    /// waitlist gauges), counted by the database, not loaded; and how many hold a pending offer.
    pub async fn active_counts(
        &self,
        long_ago: DateTime<Utc>,
    ) -> Result<(Vec<(Band, String, u64, u64)>, u64)> {
        use sea_orm::sea_query::Expr as E;
        let active = || entry::Entity::find().filter(on_the_list());
        let grouped = |q: sea_orm::Select<entry::Entity>| {
            q.select_only()
                .column(entry::Column::Band)
                .column(entry::Column::OrganizationId)
                .column_as(E::col(entry::Column::Id).count(), "n")
                .group_by(entry::Column::Band)
                .group_by(entry::Column::OrganizationId)
                .into_tuple::<(String, String, i64)>()
        };
        let all = grouped(active()).all(&self.db).await?;
        let over = grouped(active().filter(entry::Column::EnqueuedAtMs.lt(time::to_ms(long_ago))))
            .all(&self.db)
            .await?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut out = Vec::with_capacity(all.len());
        for (band, org, n) in all {
            let Some(b) = Band::from_code(&band) else { continue };
            let o = over.iter().find(|(ob, oo, _)| *ob == band && *oo == org).map_or(0, |x| x.2);
            out.push((b, org, count(n), count(o)));
        }
        let offered = entry::Entity::find()
            .filter(entry::Column::Status.eq(EntryStatus::Offered.code()))
            .count(&self.db)
            .await?;
        Ok((out, offered))
    }

    /// How many active entries (of any organization) that wait for one of `x`'s providers are ahead of
    /// `x` in the priority order at `now`: one count per band with the exact arrival bound of
    /// [`domain::ahead_in_band`], so an estimate never loads the list.
    pub async fn count_ahead(
        &self,
        x: &Entry,
        now: DateTime<Utc>,
        limits: &domain::BandLimits,
    ) -> Result<u64> {
        use sea_orm::Condition;
        if x.candidate_provider_ids.is_empty() {
            return Ok(0);
        }
        let shares = x.candidate_provider_ids.iter().fold(Condition::any(), |c, p| {
            c.add(entry::Column::CandidateProviderIds.contains(candidate_pattern(p.as_str())))
        });
        let mut total = 0;
        for &band in Band::ALL {
            let mut q = on_the_list_in(band)
                .filter(entry::Column::Id.ne(x.id.as_str()))
                .filter(shares.clone());
            q = match domain::ahead_in_band(x, band, now, limits) {
                domain::AheadOf::All => q,
                domain::AheadOf::ArrivedBy(t) => q.filter(entry::Column::EnqueuedAtMs.lte(t)),
                domain::AheadOf::Before { enqueued_at_ms, id } => q.filter(
                    Condition::any().add(entry::Column::EnqueuedAtMs.lt(enqueued_at_ms)).add(
                        Condition::all()
                            .add(entry::Column::EnqueuedAtMs.eq(enqueued_at_ms))
                            .add(entry::Column::Id.lt(id)),
                    ),
                ),
            };
            total += q.count(&self.db).await?;
        }
        Ok(total)
    }

    /// Opens `slots` slots at `provider_id`, in one transaction (all offers or none). One slot goes to the
    /// best WAITING entry (priority order at `now`) that waits for the provider. Several slots are filled
    /// with the batch assigner ([`domain::assign_slots`]: priority by fair aging times the entry's
    /// preference for the provider); should a chosen entry have been moved meanwhile, the slots left go
    /// down the priority order. An entry a concurrent caller (or replica) moved first is skipped by the
    /// conditional update, so no entry ever gets two offers and no slot is offered twice. `provider_id` is
    /// taken as its canonical string (a `ProviderId`'s, or the wire id the integration tests pass in).
    pub async fn open_slots(
        &self,
        provider_id: &str,
        slots: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Offer>> {
        let txn = self.write_txn().await?;
        let waiting =
            domain::prioritize(waiting_for(&txn, provider_id).await?, now, &self.policy.bands);
        let mut offers = Vec::new();
        let mut tried = std::collections::HashSet::new();
        if slots > 1 && waiting.len() > slots {
            let plan = domain::assign_slots(
                &waiting,
                &[(ProviderId::from_stored(provider_id)?, slots)],
                now,
                &self.policy.bands,
            )?;
            for (entry_id, provider) in plan {
                tried.insert(entry_id.clone());
                if let Some(o) =
                    try_offer(&txn, entry_id.as_str(), provider.as_str(), now, &self.policy, None)
                        .await?
                {
                    offers.push(o);
                }
            }
        }
        for e in waiting {
            if offers.len() >= slots {
                break;
            }
            if tried.contains(&e.id) {
                continue;
            }
            if let Some(o) =
                try_offer(&txn, e.id.as_str(), provider_id, now, &self.policy, None).await?
            {
                offers.push(o);
            }
        }
        txn.commit().await?;
        Ok(offers)
    }

    /// The refusal for answering `offer_id` at `now`: not found, not pending, or expired.
    async fn refusal(&self, offer_id: &str, now: DateTime<Utc>) -> Error {
        match find_offer(&self.db, offer_id).await {
            Ok(o) => match domain::answerable(&o, now) {
                Err(e) => e,
                // Answerable now but the conditional update missed: a concurrent answer won.
                Ok(()) => Error::precondition(
                    ErrorReason::OfferNotPending,
                    "the offer was answered concurrently",
                ),
            },
            Err(e) => e,
        }
    }

    /// Declines a pending, unexpired offer: the entry goes back to WAITING and the slot goes at once to the
    /// next best WAITING entry for the provider (not the one that declined), all in one transaction.
    pub async fn decline(&self, offer_id: &OfferId, now: DateTime<Utc>) -> Result<Freed> {
        let offer_id = offer_id.as_str();
        let now_ms = time::to_ms(now);
        let txn = self.write_txn().await?;
        let res = offer::Entity::update_many()
            .col_expr(offer::Column::Status, Expr::value(OfferStatus::Declined.code()))
            .col_expr(offer::Column::RespondedAtMs, Expr::value(now_ms))
            .filter(offer::Column::Id.eq(offer_id.to_owned()))
            .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
            .filter(offer::Column::ExpiresAtMs.gt(now_ms))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Err(self.refusal(offer_id, now).await);
        }
        let freed = self.pass_slot_on(&txn, offer_id, now).await?;
        txn.commit().await?;
        Ok(freed)
    }

    /// Records an accepted offer with its referral and places the entry. Replaying the same acceptance
    /// (same referral) answers with the stored result.
    pub async fn accept(
        &self,
        offer_id: &OfferId,
        referral_id: &ReferralId,
        appointment_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Offer, Entry)> {
        let (offer_id, referral_id) = (offer_id.as_str(), referral_id.as_str());
        let txn = self.write_txn().await?;
        let res = offer::Entity::update_many()
            .col_expr(offer::Column::Status, Expr::value(OfferStatus::Accepted.code()))
            .col_expr(offer::Column::AppointmentAtMs, Expr::value(time::to_ms(appointment_at)))
            .col_expr(offer::Column::RespondedAtMs, Expr::value(time::to_ms(now)))
            .col_expr(offer::Column::ReferralId, Expr::value(referral_id.to_owned()))
            .filter(offer::Column::Id.eq(offer_id.to_owned()))
            .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            let o = find_offer(&self.db, offer_id).await?;
            if o.status == OfferStatus::Accepted
                && o.referral_id.as_ref().map(ReferralId::as_str) == Some(referral_id)
            {
                let entry = self.get_entry(&o.entry_id).await?;
                return Ok((o, entry));
            }
            return Err(self.refusal(offer_id, now).await);
        }
        let o = find_offer(&txn, offer_id).await?;
        if !release_entry(&txn, o.entry_id.as_str(), EntryStatus::Placed, now).await? {
            txn.rollback().await?;
            return Err(Error::Unexpected(anyhow::anyhow!(
                "entry of a pending offer was not offered"
            )));
        }
        let entry = find_entry(&txn, o.entry_id.as_str()).await?;
        txn.commit().await?;
        Ok((o, entry))
    }

    /// The `traceparent` of the request that made offer `id` (empty when unknown), for the sweeper to
    /// continue that trace when the offer expires.
    pub async fn offer_trace_parent(&self, id: &(impl AsRef<str> + ?Sized)) -> Result<String> {
        let row = offer::Entity::find_by_id(id.as_ref().to_owned()).one(&self.db).await?;
        Ok(row.map(|o| o.trace_parent).unwrap_or_default())
    }

    /// Pending offers whose hold ended at or before `now`, oldest first (at most [`SWEEP_BATCH`]).
    pub async fn expired_offers(&self, now: DateTime<Utc>) -> Result<Vec<Offer>> {
        offer::Entity::find()
            .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
            .filter(offer::Column::ExpiresAtMs.lte(time::to_ms(now)))
            .order_by_asc(offer::Column::ExpiresAtMs)
            .order_by_asc(offer::Column::Id)
            .limit(SWEEP_BATCH)
            .all(&self.db)
            .await?
            .into_iter()
            .map(offer_to_domain)
            .collect()
    }

    /// Expires one pending offer whose hold has ended: the entry goes back to WAITING and the slot goes to
    /// the next best WAITING entry (not the one whose offer expired). `None` when someone else already
    /// resolved it (another replica's sweeper, or an answer that came first).
    pub async fn expire(&self, offer_id: &OfferId, now: DateTime<Utc>) -> Result<Option<Freed>> {
        let offer_id = offer_id.as_str();
        let now_ms = time::to_ms(now);
        let txn = self.write_txn().await?;
        let res = offer::Entity::update_many()
            .col_expr(offer::Column::Status, Expr::value(OfferStatus::Expired.code()))
            .col_expr(offer::Column::RespondedAtMs, Expr::value(now_ms))
            .filter(offer::Column::Id.eq(offer_id.to_owned()))
            .filter(offer::Column::Status.eq(OfferStatus::Pending.code()))
            .filter(offer::Column::ExpiresAtMs.lte(now_ms))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        let freed = self.pass_slot_on(&txn, offer_id, now).await?;
        txn.commit().await?;
        Ok(Some(freed))
    }

    /// After an offer was declined or expired (in `txn`): its entry waits again and its slot goes to the
    /// next best waiting entry for the provider (not that one).
    async fn pass_slot_on<C: ConnectionTrait>(
        &self,
        txn: &C,
        offer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Freed> {
        let o = find_offer(txn, offer_id).await?;
        release_entry(txn, o.entry_id.as_str(), EntryStatus::Waiting, now).await?;
        let next_offer = offer_next(
            txn,
            o.provider_id.as_str(),
            o.entry_id.as_str(),
            now,
            &self.policy,
            o.slot_key.as_deref(),
        )
        .await?;
        let entry = find_entry(txn, o.entry_id.as_str()).await?;
        Ok(Freed { offer: o, entry, next_offer })
    }

    /// Applies a check-in computed by `apply` from the current entry, with optimistic concurrency: when the
    /// entry changed in between (an offer, another check-in) the entry is re-read and `apply` runs again.
    /// A check-in showing a rise in risk removes the entry (reason [`domain::RISK_RISE_REASON`],
    /// `interlock_required` set) and passes any offer it held to the next in line, in the same transaction.
    pub async fn check_in<F>(
        &self,
        entry_id: &EntryId,
        record: CheckInRecord,
        now: DateTime<Utc>,
        apply: F,
    ) -> Result<CheckedIn>
    where
        F: Fn(&Entry) -> Result<CheckInOutcome>,
    {
        let entry_id = entry_id.as_str();
        let now_ms = time::to_ms(now);
        for _ in 0..CHECK_IN_ATTEMPTS {
            let current = find_entry(&self.db, entry_id).await?;
            let outcome = apply(&current)?;
            let txn = self.write_txn().await?;
            let mut update = entry::Entity::update_many();
            if outcome.interlock {
                update = update
                    .col_expr(entry::Column::Status, Expr::value(EntryStatus::Removed.code()))
                    .col_expr(entry::Column::RemovalReason, Expr::value(domain::RISK_RISE_REASON))
                    .col_expr(entry::Column::InterlockRequired, Expr::value(true));
            }
            let res = update
                .col_expr(entry::Column::Band, Expr::value(outcome.band.code()))
                .col_expr(entry::Column::MissedCheckIns, Expr::value(outcome.missed_check_ins))
                .col_expr(entry::Column::OutreachOpen, Expr::value(outcome.outreach_open))
                .col_expr(
                    entry::Column::NextCheckInAtMs,
                    Expr::value(time::to_ms(outcome.next_check_in_at)),
                )
                .col_expr(entry::Column::Version, Expr::col(entry::Column::Version).add(1))
                .col_expr(entry::Column::UpdatedAtMs, Expr::value(now_ms))
                .filter(entry::Column::Id.eq(entry_id.to_owned()))
                .filter(entry::Column::Version.eq(current.version))
                .filter(on_the_list())
                .exec(&txn)
                .await?;
            if res.rows_affected != 1 {
                txn.rollback().await?;
                continue;
            }
            let items = match (&record.phq9, &record.gad7) {
                (None, None) => None,
                (p, g) => Some(serde_json::json!({ "phq9": p, "gad7": g }).to_string()),
            };
            // The re-screen's path and intake's assessment id travel with the rules that fired, so a
            // check-in re-banded without intake can be found (and re-screened) later.
            let rules = serde_json::json!({
                "version": domain::RULES_VERSION,
                "fired": outcome.rules,
                "rescreen": record.rescreen,
                "assessment_id": record.assessment_id,
            })
            .to_string();
            check_in::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                entry_id: Set(entry_id.to_owned()),
                answered: Set(record.answered),
                items: Set(items),
                phq9_total: Set(outcome.phq9_total),
                gad7_total: Set(outcome.gad7_total),
                band_before: Set(current.band.code().to_owned()),
                band_after: Set(outcome.band.code().to_owned()),
                rules: Set(rules),
                outreach_opened: Set(outcome.outreach_opened),
                interlock: Set(outcome.interlock),
                recorded_at_ms: Set(now_ms),
            }
            .insert(&txn)
            .await?;
            let (withdrawn, next_offers) = if outcome.interlock {
                withdraw_pending(&txn, entry_id, now, &self.policy).await?
            } else {
                (Vec::new(), Vec::new())
            };
            let entry = find_entry(&txn, entry_id).await?;
            txn.commit().await?;
            return Ok(CheckedIn { entry, outcome, withdrawn, next_offers });
        }
        Err(Error::Aborted {
            reason: ErrorReason::VersionMismatch,
            message: "the entry kept changing during the check-in; retry".to_owned(),
        })
    }

    /// Removes a WAITING or OFFERED entry with `reason`. Its pending offer (at most one) is withdrawn —
    /// recorded as DECLINED, since the client no longer takes the slot — and the slot goes at once to the
    /// next best WAITING entry for that provider, in the same transaction.
    pub async fn remove(
        &self,
        entry_id: &EntryId,
        reason: &str,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Removed> {
        let entry_id = entry_id.as_str();
        let now_ms = time::to_ms(now);
        let txn = self.write_txn().await?;
        let mut update = entry::Entity::update_many();
        if let Some(version) = expected_version {
            update = update.filter(entry::Column::Version.eq(version));
        }
        let res = update
            .col_expr(entry::Column::Status, Expr::value(EntryStatus::Removed.code()))
            .col_expr(entry::Column::RemovalReason, Expr::value(reason.to_owned()))
            .col_expr(entry::Column::Version, Expr::col(entry::Column::Version).add(1))
            .col_expr(entry::Column::UpdatedAtMs, Expr::value(now_ms))
            .filter(entry::Column::Id.eq(entry_id.to_owned()))
            .filter(on_the_list())
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            let e = find_entry(&self.db, entry_id).await?;
            domain::check_version(&e, expected_version)?;
            return Err(Error::precondition(
                ErrorReason::EntryNotWaiting,
                format!("entry is {}", e.status.code()),
            ));
        }
        let (withdrawn, next_offers) = withdraw_pending(&txn, entry_id, now, &self.policy).await?;
        let entry = find_entry(&txn, entry_id).await?;
        txn.commit().await?;
        Ok(Removed { entry, withdrawn, next_offers })
    }

    /// The facts the waiting-time metrics need: every entry of `organization_id` (every organization when
    /// `None`) with its first appointment (the accepted offer's, or the acceptance time for offers accepted
    /// before appointments were stored), and every check-in of those entries.
    pub async fn metrics_facts(
        &self,
        organization_id: Option<&str>,
    ) -> Result<(Vec<WaitFacts>, Vec<CheckInFacts>)> {
        let mut which = sea_orm::Condition::all();
        if let Some(org) = organization_id {
            which = which.add(entry::Column::OrganizationId.eq(org.to_owned()));
        }
        self.facts_of(which).await
    }

    /// The facts of the placed entries of every organization: what the time-to-appointment gauges need,
    /// without reading the entries still waiting (the sweeper asks every round; the list may be long).
    pub async fn placed_facts(&self) -> Result<Vec<WaitFacts>> {
        let which =
            sea_orm::Condition::all().add(entry::Column::Status.eq(EntryStatus::Placed.code()));
        Ok(self.facts_of(which).await?.0)
    }

    /// [`Self::metrics_facts`] of the entries `which` selects: one statement per table, the entries'
    /// offers, check-ins and placements selected by a subquery on the same condition (not by id lists:
    /// with 100,000 entries those were hundreds of statements).
    async fn facts_of(
        &self,
        which: sea_orm::Condition,
    ) -> Result<(Vec<WaitFacts>, Vec<CheckInFacts>)> {
        use std::collections::HashMap;
        // Only the columns the metrics read (not the candidate lists and keys): a long list's rows stay
        // small while they are held.
        let entries: Vec<FactRow> = entry::Entity::find()
            .select_only()
            .columns([
                entry::Column::Id,
                entry::Column::OrganizationId,
                entry::Column::Status,
                entry::Column::Band,
                entry::Column::EnqueuedAtMs,
                entry::Column::UpdatedAtMs,
            ])
            .filter(which.clone())
            .into_model::<FactRow>()
            .all(&self.db)
            .await?;
        let selected = sea_orm::sea_query::Query::select()
            .column(entry::Column::Id)
            .from(entry::Entity)
            .cond_where(which)
            .to_owned();
        let org_of: HashMap<&str, &str> =
            entries.iter().map(|e| (e.id.as_str(), e.organization_id.as_str())).collect();
        let mut first: HashMap<String, i64> = HashMap::new();
        let mut check_ins = Vec::new();
        // Per entry, the check-ins that changed its band: (when, before, after).
        let mut rebanded: HashMap<String, Vec<(i64, Band, Band)>> = HashMap::new();
        for o in offer::Entity::find()
            .filter(offer::Column::EntryId.in_subquery(selected.clone()))
            .filter(offer::Column::Status.eq(OfferStatus::Accepted.code()))
            .all(&self.db)
            .await?
        {
            if let Some(at) = o.appointment_at_ms.or(o.responded_at_ms) {
                let slot = first.entry(o.entry_id).or_insert(at);
                *slot = Ord::min(*slot, at);
            }
        }
        for c in check_in::Entity::find()
            .filter(check_in::Column::EntryId.in_subquery(selected.clone()))
            .all(&self.db)
            .await?
        {
            let before = Band::from_code(&c.band_before).ok_or_else(|| corrupt("band"))?;
            let after = Band::from_code(&c.band_after).ok_or_else(|| corrupt("band"))?;
            check_ins.push(CheckInFacts {
                organization_id: org_of
                    .get(c.entry_id.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                deteriorated: after.rank() < before.rank(),
                crisis: c.interlock,
            });
            if before != after {
                rebanded.entry(c.entry_id).or_default().push((c.recorded_at_ms, before, after));
            }
        }
        // Attended appointments the follow-up worker learned from referral: an attended first
        // appointment replaces the scheduled time, and the second is known only from there.
        let mut second: HashMap<String, i64> = HashMap::new();
        for (entry_id, first_attended, second_attended) in self.attended_by_entry(selected).await? {
            if let Some(at) = first_attended {
                first.insert(entry_id.clone(), at);
            }
            if let Some(at) = second_attended {
                second.insert(entry_id, at);
            }
        }
        let mut facts = Vec::with_capacity(entries.len());
        for e in entries {
            let status =
                EntryStatus::from_code(&e.status).ok_or_else(|| corrupt("entry status"))?;
            let band = Band::from_code(&e.band).ok_or_else(|| corrupt("band"))?;
            let mut changes = rebanded.remove(&e.id).unwrap_or_default();
            changes.sort_by_key(|(at, _, _)| *at);
            // The band at enqueue is the one before the first re-banding (today's band when none).
            let mut bands = vec![(
                time::from_ms(e.enqueued_at_ms),
                changes.first().map_or(band, |(_, before, _)| *before),
            )];
            bands.extend(changes.iter().map(|(at, _, after)| (time::from_ms(*at), *after)));
            facts.push(WaitFacts {
                status,
                left_at: (!status.is_active()).then(|| time::from_ms(e.updated_at_ms)),
                bands,
                enqueued_at: time::from_ms(e.enqueued_at_ms),
                first_appointment_at: first.get(&e.id).copied().map(time::from_ms),
                second_appointment_at: second.get(&e.id).copied().map(time::from_ms),
                organization_id: e.organization_id,
            });
        }
        Ok((facts, check_ins))
    }

    /// Offers accepted for any of `provider_ids` at or after `since`.
    pub async fn accepted_since(
        &self,
        provider_ids: &[ProviderId],
        since: DateTime<Utc>,
    ) -> Result<u64> {
        if provider_ids.is_empty() {
            return Ok(0);
        }
        Ok(offer::Entity::find()
            .filter(offer::Column::Status.eq(OfferStatus::Accepted.code()))
            .filter(offer::Column::ProviderId.is_in(provider_ids.iter().map(ProviderId::as_str)))
            .filter(offer::Column::RespondedAtMs.gte(time::to_ms(since)))
            .count(&self.db)
            .await?)
    }
}
