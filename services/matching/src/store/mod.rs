//! All database access of the matching service. Handlers call these functions with domain types; no
//! other module touches sea-orm. Capacity changes are single conditional UPDATEs inside a transaction
//! with their idempotency record, so two concurrent callers can never take the same last slot (see
//! `seats`: program cohorts' seats, the hold's cohort, and the capacity-event outbox).

mod alliance_segments;
pub mod care;
pub mod entities;
pub mod migration;
mod migration_alliance_segments;
mod migration_capacity;
mod migration_has_cohorts;
mod migration_import_keys;
mod seats;

use chrono::Utc;
use continuum_vocab::ids::{ClientId, OrganizationId, ProviderId};
use continuum_vocab::time;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::domain::alliance::{PairSession, style_evidence_weight};
use crate::domain::{
    AllianceStats, ImportItem, ImportOutcome, ImportedItem, Profile, Provider, ProviderDraft,
    ProviderKind,
};
use crate::error::{Error, Result};
use entities::{provider, session_feedback};

pub use migration::Migrator;
pub use seats::{CapacityChange, CapacityEvent};

/// The matching store.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

fn to_domain(m: provider::Model) -> Result<Provider> {
    let profile: Profile = serde_json::from_str(&m.profile)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("stored provider profile: {e}")))?;
    let kind = ProviderKind::from_code(&m.kind)
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("stored provider kind {}", m.kind)))?;
    Ok(Provider {
        id: m.id,
        organization_id: m.organization_id,
        display_name: m.display_name,
        kind,
        profile,
        accepting_new_clients: m.accepting_new_clients,
        open_slots: m.open_slots,
        version: m.version,
        updated_at: time::from_ms(m.updated_at_ms),
        alliance: AllianceStats {
            ratings: m.feedback_count,
            srs_sum: m.srs_sum,
            style_weight: m.style_weight,
            style_sum: [m.style_dir_sum, m.style_int_sum, m.style_past_sum, m.style_chal_sum],
            changed_ms: m.stats_updated_at_ms,
        },
        alliance_segments: Vec::new(),
    })
}

fn new_model(id: String, draft: ProviderDraft, profile: String, now: i64) -> provider::ActiveModel {
    let has_cohorts = !draft.profile.cohorts.is_empty();
    provider::ActiveModel {
        id: Set(id),
        organization_id: Set(draft.organization_id.into_string()),
        display_name: Set(draft.display_name),
        kind: Set(draft.kind.code().to_owned()),
        profile: Set(profile),
        accepting_new_clients: Set(draft.accepting_new_clients),
        open_slots: Set(draft.open_slots),
        has_cohorts: Set(has_cohorts),
        version: Set(1),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        feedback_count: Set(0),
        srs_sum: Set(0.0),
        style_weight: Set(0.0),
        style_dir_sum: Set(0.0),
        style_int_sum: Set(0.0),
        style_past_sum: Set(0.0),
        style_chal_sum: Set(0.0),
        stats_updated_at_ms: Set(0),
    }
}

/// What a write of `draft` over `existing` does: `Ok(None)` creates, `Ok(Some(v))` replaces version `v`.
fn plan_write(
    existing: Option<&provider::Model>,
    draft: &ProviderDraft,
    id: &str,
) -> Result<Option<i64>> {
    match (existing, draft.expected_version) {
        (None, 0) => Ok(None),
        (None, _) => Err(Error::not_found("provider", id)),
        (Some(cur), 0) => {
            Err(Error::AlreadyExists { resource_type: "provider", id: cur.id.clone() })
        }
        // Another organization's entry is not this organization's to change: as if it did not exist.
        (Some(cur), _)
            if !cur.organization_id.eq_ignore_ascii_case(draft.organization_id.as_str()) =>
        {
            Err(Error::not_found("provider", id))
        }
        (Some(cur), v) if cur.version != v => {
            Err(Error::version_mismatch("provider", v, cur.version))
        }
        (Some(_), v) => Ok(Some(v)),
    }
}

/// Replaces provider `id` at version `v` (the version in the WHERE clause makes it safe against a
/// concurrent writer). Returns whether the row was replaced.
async fn replace<C: ConnectionTrait>(
    db: &C,
    id: &str,
    v: i64,
    draft: ProviderDraft,
    profile: String,
    now: i64,
) -> Result<bool> {
    let res = provider::Entity::update_many()
        .col_expr(provider::Column::DisplayName, Expr::value(draft.display_name))
        .col_expr(provider::Column::Kind, Expr::value(draft.kind.code()))
        .col_expr(provider::Column::Profile, Expr::value(profile))
        .col_expr(provider::Column::AcceptingNewClients, Expr::value(draft.accepting_new_clients))
        .col_expr(provider::Column::OpenSlots, Expr::value(draft.open_slots))
        .col_expr(provider::Column::HasCohorts, Expr::value(!draft.profile.cohorts.is_empty()))
        .col_expr(provider::Column::Version, Expr::value(v + 1))
        .col_expr(provider::Column::UpdatedAtMs, Expr::value(now))
        .filter(provider::Column::Id.eq(id.to_owned()))
        .filter(provider::Column::Version.eq(v))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The outcome of one import item.
#[derive(Debug)]
pub enum ImportResult {
    /// Stored: created, replaced, or written before under the same key.
    Stored(ImportedItem),
    /// Refused, with the error UpsertProvider would have returned (or a key reused for another item).
    Failed(Error),
}

/// How one write of an import round went.
#[derive(Debug)]
enum Written {
    Created,
    Updated,
    Failed(Error),
}

/// How long an organization's import keys are remembered (a retry within it is answered "unchanged").
pub const IMPORT_KEY_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Rows per multi-row INSERT in an import (well under SQLite's and PostgreSQL's parameter limits).
const INSERT_CHUNK: usize = 500;

/// A provider with an open slot ([`Store::open_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenProvider {
    /// Id.
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Whether its capacity is its cohorts' seats.
    pub has_cohorts: bool,
}

/// Filters for listing providers.
#[derive(Clone, Debug, Default)]
pub struct ProviderFilter {
    /// Only this organization.
    pub organization_id: Option<OrganizationId>,
    /// Only this kind.
    pub kind: Option<ProviderKind>,
}

/// A session-feedback record to store.
#[derive(Clone, Debug)]
pub struct NewFeedback {
    /// Provider.
    pub provider_id: ProviderId,
    /// Client.
    pub client_id: ClientId,
    /// Session number.
    pub session_number: i32,
    /// SRS items.
    pub srs: Vec<f64>,
    /// ORS items.
    pub ors: Vec<f64>,
    /// The client's stated relational style, if given (style evidence).
    pub client_style: Option<continuum_vocab::RelationalStyle>,
    /// The client's segment, if known (alliance learning from similar clients).
    pub segment: Option<crate::domain::alliance::ClientSegment>,
}

/// One provider, by its stored id.
async fn get_provider<C: ConnectionTrait>(db: &C, id: &str) -> Result<Provider> {
    let m = provider::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("provider", id))?;
    let mut out = [to_domain(m)?];
    seats::attach(db, &mut out).await?;
    let [p] = out;
    Ok(p)
}

impl Store {
    /// A store over an open, migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection (for health probes).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Creates (expected_version 0) or replaces a provider with optimistic concurrency.
    pub async fn upsert_provider(&self, draft: ProviderDraft) -> Result<Provider> {
        let now = time::to_ms(Utc::now());
        let profile =
            serde_json::to_string(&draft.profile).map_err(|e| Error::Unexpected(e.into()))?;
        let txn = self.db.begin().await?;
        let id = draft.id.clone().unwrap_or_else(ProviderId::new_v7).into_string();
        let existing = provider::Entity::find_by_id(id.clone()).one(&txn).await?;
        let cohorts = draft.profile.cohorts.clone();
        let mut before = None;
        let model = match plan_write(existing.as_ref(), &draft, &id)? {
            None => new_model(id.clone(), draft, profile, now).insert(&txn).await?,
            Some(v) => {
                if let Some(m) = existing {
                    let mut cur = [to_domain(m)?];
                    seats::attach(&txn, &mut cur).await?;
                    before = Some(cur[0].open_slots);
                }
                if !replace(&txn, &id, v, draft, profile, now).await? {
                    return Err(Error::version_mismatch("provider", v, v + 1));
                }
                provider::Entity::find_by_id(id.clone())
                    .one(&txn)
                    .await?
                    .ok_or_else(|| Error::not_found("provider", id.clone()))?
            }
        };
        seats::sync_cohorts(&txn, &id, &cohorts).await?;
        let mut written = [to_domain(model)?];
        seats::attach(&txn, &mut written).await?;
        if let Some(before) = before {
            seats::record_rise(&txn, &written[0], before, now).await?;
        }
        txn.commit().await?;
        let [out] = written;
        Ok(out)
    }

    /// Imports the valid items of one `ImportProviders` stream in ONE transaction: all of it is stored, or
    /// (on any database error) nothing. An item whose key `organization_id` imported before (within
    /// [`IMPORT_KEY_RETENTION_MS`]) is not written again: with the same fingerprint it is `Unchanged`
    /// (the provider and version it wrote then), with another it fails `IDEMPOTENCY_KEY_REUSED`. The
    /// others are written in rounds (an id repeated in the stream starts the next round, so its second
    /// write sees the first) and their keys recorded. Each item gets its own result, in order; the
    /// stored providers (latest version of each) are returned for the in-memory directory.
    pub async fn import(
        &self,
        organization_id: &str,
        items: Vec<ImportItem>,
    ) -> Result<(Vec<ImportResult>, Vec<Provider>)> {
        use entities::import_key;
        let now = time::to_ms(Utc::now());
        let txn = self.db.begin().await?;
        import_key::Entity::delete_many()
            .filter(import_key::Column::OrganizationId.eq(organization_id))
            .filter(import_key::Column::ImportedAtMs.lt(now - IMPORT_KEY_RETENTION_MS))
            .exec(&txn)
            .await?;
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        let mut known = std::collections::HashMap::new();
        for chunk in keys.chunks(INSERT_CHUNK) {
            for m in import_key::Entity::find()
                .filter(import_key::Column::OrganizationId.eq(organization_id))
                .filter(import_key::Column::ImportKey.is_in(chunk.to_vec()))
                .all(&txn)
                .await?
            {
                known.insert(m.import_key.clone(), m);
            }
        }
        let mut results: Vec<Option<ImportResult>> = items.iter().map(|_| None).collect();
        // The rounds to write: (position, id, item); ids are distinct within a round.
        let mut rounds: Vec<Vec<(usize, String, ImportItem)>> = vec![Vec::new()];
        let mut round_ids = std::collections::HashSet::new();
        for (at, item) in items.into_iter().enumerate() {
            match known.get(&item.key) {
                Some(k) if k.fingerprint == item.fingerprint => {
                    results[at] = Some(ImportResult::Stored(ImportedItem {
                        outcome: ImportOutcome::Unchanged,
                        provider_id: k.provider_id.clone(),
                        version: k.version,
                    }));
                }
                Some(_) => {
                    results[at] = Some(ImportResult::Failed(Error::precondition(
                        crate::error::ErrorReason::IdempotencyKeyReused,
                        "import_key was imported before with a different item",
                    )));
                }
                None => {
                    let id = item.draft.id.clone().unwrap_or_else(ProviderId::new_v7).into_string();
                    if !round_ids.insert(id.clone()) {
                        rounds.push(Vec::new());
                        round_ids.clear();
                        round_ids.insert(id.clone());
                    }
                    if let Some(round) = rounds.last_mut() {
                        round.push((at, id, item));
                    }
                }
            }
        }
        let mut latest: std::collections::HashMap<String, Provider> =
            std::collections::HashMap::new();
        let mut key_rows = Vec::new();
        for round in rounds.into_iter().filter(|r| !r.is_empty()) {
            let (meta, drafts): (Vec<_>, Vec<_>) = round
                .into_iter()
                .map(|(at, id, item)| ((at, item.key, item.fingerprint), (id, item.draft)))
                .unzip();
            let ids: Vec<String> = drafts.iter().map(|(id, _)| id.clone()).collect();
            let (written, stored) = write_round(&txn, drafts, now).await?;
            let versions: std::collections::HashMap<&str, i64> =
                stored.iter().map(|p| (p.id.as_str(), p.version)).collect();
            for (((at, key, fingerprint), id), w) in meta.into_iter().zip(ids).zip(written) {
                let outcome = match w {
                    Written::Created => ImportOutcome::Created,
                    Written::Updated => ImportOutcome::Updated,
                    Written::Failed(e) => {
                        results[at] = Some(ImportResult::Failed(e));
                        continue;
                    }
                };
                let version = versions.get(id.as_str()).copied().ok_or_else(|| {
                    Error::Unexpected(anyhow::anyhow!("imported provider not read back"))
                })?;
                key_rows.push(import_key::ActiveModel {
                    organization_id: Set(organization_id.to_owned()),
                    import_key: Set(key),
                    fingerprint: Set(fingerprint),
                    provider_id: Set(id.clone()),
                    version: Set(version),
                    imported_at_ms: Set(now),
                });
                results[at] =
                    Some(ImportResult::Stored(ImportedItem { outcome, provider_id: id, version }));
            }
            for p in stored {
                if latest.get(&p.id).is_none_or(|q| q.version < p.version) {
                    latest.insert(p.id.clone(), p);
                }
            }
        }
        while !key_rows.is_empty() {
            let rest = key_rows.split_off(key_rows.len().min(INSERT_CHUNK));
            import_key::Entity::insert_many(std::mem::replace(&mut key_rows, rest))
                .exec_without_returning(&txn)
                .await?;
        }
        let results = results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| Error::Unexpected(anyhow::anyhow!("import item without a result")))
            })
            .collect::<Result<Vec<_>>>()?;
        txn.commit().await?;
        Ok((results, latest.into_values().collect()))
    }

    /// Providers written, or whose feedback statistics changed, at or after `since_ms`.
    pub async fn changed_since(&self, since_ms: i64) -> Result<Vec<Provider>> {
        let mut out = provider::Entity::find()
            .filter(
                Condition::any()
                    .add(provider::Column::UpdatedAtMs.gte(since_ms))
                    .add(provider::Column::StatsUpdatedAtMs.gte(since_ms)),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>>>()?;
        alliance_segments::attach(&self.db, &mut out).await?;
        seats::attach(&self.db, &mut out).await?;
        Ok(out)
    }

    /// Whether a slot of `provider_id` was taken under `hold_key` (a give-back may name it).
    pub async fn holds(&self, provider_id: &ProviderId, hold_key: &str) -> Result<bool> {
        Ok(self.take_hold(hold_key).await?.is_some_and(|h| h.provider_id == provider_id.as_str()))
    }

    /// The provider a slot was taken from under `hold_key`, if one was.
    pub async fn taken_under(&self, hold_key: &str) -> Result<Option<ProviderId>> {
        self.take_hold(hold_key).await?.map(|h| ProviderId::from_stored(&h.provider_id)).transpose()
    }

    /// The hold `hold_key` names when it took capacity (a give-back's key holds none).
    async fn take_hold(&self, hold_key: &str) -> Result<Option<entities::capacity_hold::Model>> {
        let hold = entities::capacity_hold::Entity::find_by_id(hold_key.to_owned());
        Ok(hold.one(&self.db).await?.filter(|h| h.delta < 0))
    }

    /// Those of `ids` that are in the directory with an open slot as committed now (a program with
    /// cohorts: a seat in a joinable cohort), in the order of `ids`: each one's id and organization. Read
    /// without a lock: a take still decides under its own. Only programs with cohorts are read whole (their
    /// open slots are their cohorts' seats); the others' rows are read without their profiles, which a
    /// routing's take of one slot, asked once per referral with ten providers listed, has no use for.
    pub async fn open_of(&self, ids: &[ProviderId]) -> Result<Vec<OpenProvider>> {
        let wanted: Vec<&str> = ids.iter().map(ProviderId::as_str).collect();
        let rows: Vec<(String, String, i32, bool)> = provider::Entity::find()
            .select_only()
            .columns([
                provider::Column::Id,
                provider::Column::OrganizationId,
                provider::Column::OpenSlots,
                provider::Column::HasCohorts,
            ])
            .filter(provider::Column::Id.is_in(wanted.clone()))
            .into_tuple()
            .all(&self.db)
            .await?;
        let programs: Vec<&str> = rows.iter().filter(|r| r.3).map(|r| r.0.as_str()).collect();
        let mut seats = std::collections::HashMap::new();
        if !programs.is_empty() {
            let mut whole = provider::Entity::find()
                .filter(provider::Column::Id.is_in(programs))
                .all(&self.db)
                .await?
                .into_iter()
                .map(to_domain)
                .collect::<Result<Vec<_>>>()?;
            seats::attach(&self.db, &mut whole).await?;
            seats.extend(whole.into_iter().map(|p| (p.id, p.open_slots)));
        }
        let mut found: Vec<OpenProvider> = rows
            .into_iter()
            .filter(|(id, _, open, cohorts)| {
                (if *cohorts { seats.get(id).copied().unwrap_or(0) } else { *open }) > 0
            })
            .map(|(id, organization_id, _, has_cohorts)| OpenProvider {
                id,
                organization_id,
                has_cohorts,
            })
            .collect();
        found.sort_by_key(|p| wanted.iter().position(|w| *w == p.id));
        Ok(found)
    }

    /// One provider.
    pub async fn get_provider(&self, id: &ProviderId) -> Result<Provider> {
        get_provider(&self.db, id.as_str()).await
    }

    /// A page of providers ordered by id, after `after` (exclusive).
    pub async fn list_providers(
        &self,
        filter: &ProviderFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Provider>> {
        let mut q = provider::Entity::find().order_by_asc(provider::Column::Id).limit(limit);
        if let Some(org) = &filter.organization_id {
            q = q.filter(provider::Column::OrganizationId.eq(org.as_str()));
        }
        if let Some(kind) = filter.kind {
            q = q.filter(provider::Column::Kind.eq(kind.code()));
        }
        if let Some(after) = after {
            q = q.filter(provider::Column::Id.gt(after.to_owned()));
        }
        let mut out =
            q.all(&self.db).await?.into_iter().map(to_domain).collect::<Result<Vec<_>>>()?;
        seats::attach(&self.db, &mut out).await?;
        Ok(out)
    }

    /// Every provider (the candidate set for ranking).
    pub async fn all_providers(&self) -> Result<Vec<Provider>> {
        let mut out = provider::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>>>()?;
        alliance_segments::attach_all(&self.db, &mut out).await?;
        seats::attach_all(&self.db, &mut out).await?;
        Ok(out)
    }

    /// Whether the directory is empty (the demo seeds only then).
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(provider::Entity::find().limit(1).one(&self.db).await?.is_none())
    }

    /// Stores one session's feedback and adds it to the provider's alliance statistics in the same
    /// transaction (atomic increments). Returns the feedback id, the provider after the change and the
    /// pair's sessions in order (this one included).
    pub async fn record_feedback(
        &self,
        f: NewFeedback,
        srs_total: f64,
        ors_total: f64,
    ) -> Result<(String, Provider, Vec<PairSession>)> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = time::to_ms(Utc::now());
        let items = serde_json::json!({ "srs": f.srs, "ors": f.ors }).to_string();
        let txn = self.db.begin().await?;
        let (w, pref) = match f.client_style.filter(|s| !s.is_neutral()) {
            Some(s) => {
                let w = style_evidence_weight(srs_total);
                (
                    w,
                    [
                        f64::from(s.directiveness),
                        f64::from(s.emotional_intensity),
                        f64::from(s.past_orientation),
                        f64::from(s.challenge),
                    ],
                )
            }
            None => (0.0, [0.0; 4]),
        };
        let res = provider::Entity::update_many()
            .col_expr(
                provider::Column::FeedbackCount,
                Expr::col(provider::Column::FeedbackCount).add(1),
            )
            .col_expr(provider::Column::SrsSum, Expr::col(provider::Column::SrsSum).add(srs_total))
            .col_expr(
                provider::Column::StyleWeight,
                Expr::col(provider::Column::StyleWeight).add(w),
            )
            .col_expr(
                provider::Column::StyleDirSum,
                Expr::col(provider::Column::StyleDirSum).add(w * pref[0]),
            )
            .col_expr(
                provider::Column::StyleIntSum,
                Expr::col(provider::Column::StyleIntSum).add(w * pref[1]),
            )
            .col_expr(
                provider::Column::StylePastSum,
                Expr::col(provider::Column::StylePastSum).add(w * pref[2]),
            )
            .col_expr(
                provider::Column::StyleChalSum,
                Expr::col(provider::Column::StyleChalSum).add(w * pref[3]),
            )
            .col_expr(provider::Column::StatsUpdatedAtMs, Expr::value(now))
            .filter(provider::Column::Id.eq(f.provider_id.as_str()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Err(Error::not_found("provider", f.provider_id));
        }
        if let Some(seg) = f.segment {
            alliance_segments::increment(
                &txn,
                f.provider_id.as_str(),
                &seg.recorded_codes(),
                srs_total,
                now,
            )
            .await?;
        }
        session_feedback::ActiveModel {
            id: Set(id.clone()),
            provider_id: Set(f.provider_id.to_string()),
            client_id: Set(f.client_id.to_string()),
            session_number: Set(f.session_number),
            srs_total: Set(srs_total),
            ors_total: Set(ors_total),
            items: Set(items),
            recorded_at_ms: Set(now),
        }
        .insert(&txn)
        .await?;
        let history = session_feedback::Entity::find()
            .filter(session_feedback::Column::ProviderId.eq(f.provider_id.as_str()))
            .filter(session_feedback::Column::ClientId.eq(f.client_id.as_str()))
            .order_by_asc(session_feedback::Column::SessionNumber)
            .order_by_asc(session_feedback::Column::RecordedAtMs)
            .order_by_asc(session_feedback::Column::Id)
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| PairSession {
                session_number: m.session_number,
                srs: m.srs_total,
                ors: m.ors_total,
            })
            .collect();
        let m = provider::Entity::find_by_id(f.provider_id.clone())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("provider", f.provider_id))?;
        let mut stored = [to_domain(m)?];
        alliance_segments::attach(&txn, &mut stored).await?;
        seats::attach(&txn, &mut stored).await?;
        txn.commit().await?;
        let [p] = stored;
        Ok((id, p, history))
    }
}

/// Writes one round of an import inside `txn`: creates in multi-row INSERTs, replaces as conditional
/// UPDATEs (with the capacity events of rises). Each draft gets its own result (a stale version or a
/// duplicate fails that draft only); the written providers are read back. Ids must be distinct within a
/// round.
async fn write_round<C: ConnectionTrait>(
    txn: &C,
    drafts: Vec<(String, ProviderDraft)>,
    now: i64,
) -> Result<(Vec<Written>, Vec<Provider>)> {
    let mut existing = std::collections::HashMap::new();
    let ids: Vec<String> =
        drafts.iter().filter(|(_, d)| d.id.is_some()).map(|(id, _)| id.clone()).collect();
    for chunk in ids.chunks(INSERT_CHUNK) {
        for m in provider::Entity::find()
            .filter(provider::Column::Id.is_in(chunk.to_vec()))
            .all(txn)
            .await?
        {
            existing.insert(m.id.clone(), m);
        }
    }
    // Open capacity before the import, for the capacity events of replaced providers.
    let mut before_list = existing.values().cloned().map(to_domain).collect::<Result<Vec<_>>>()?;
    seats::attach(txn, &mut before_list).await?;
    let before: std::collections::HashMap<String, i32> =
        before_list.into_iter().map(|p| (p.id, p.open_slots)).collect();
    let mut results = Vec::with_capacity(drafts.len());
    let mut inserts = Vec::new();
    let mut cohort_inserts = Vec::new();
    let mut written = Vec::new();
    for (id, draft) in drafts {
        let profile =
            serde_json::to_string(&draft.profile).map_err(|e| Error::Unexpected(e.into()))?;
        match plan_write(existing.get(&id), &draft, &id) {
            Err(e) => results.push(Written::Failed(e)),
            Ok(None) => {
                cohort_inserts
                    .extend(draft.profile.cohorts.iter().map(|c| seats::cohort_row(&id, c)));
                inserts.push(new_model(id.clone(), draft, profile, now));
                written.push(id);
                results.push(Written::Created);
            }
            Ok(Some(v)) => {
                let cohorts = draft.profile.cohorts.clone();
                if replace(txn, &id, v, draft, profile, now).await? {
                    seats::sync_cohorts(txn, &id, &cohorts).await?;
                    written.push(id);
                    results.push(Written::Updated);
                } else {
                    results.push(Written::Failed(Error::version_mismatch("provider", v, v + 1)));
                }
            }
        }
    }
    while !inserts.is_empty() {
        let rest = inserts.split_off(inserts.len().min(INSERT_CHUNK));
        provider::Entity::insert_many(std::mem::replace(&mut inserts, rest))
            .exec_without_returning(txn)
            .await?;
    }
    while !cohort_inserts.is_empty() {
        let rest = cohort_inserts.split_off(cohort_inserts.len().min(INSERT_CHUNK));
        entities::cohort::Entity::insert_many(std::mem::replace(&mut cohort_inserts, rest))
            .exec_without_returning(txn)
            .await?;
    }
    let mut stored = Vec::with_capacity(written.len());
    for chunk in written.chunks(INSERT_CHUNK) {
        for m in provider::Entity::find()
            .filter(provider::Column::Id.is_in(chunk.to_vec()))
            .all(txn)
            .await?
        {
            stored.push(to_domain(m)?);
        }
    }
    seats::attach(txn, &mut stored).await?;
    for p in &stored {
        if let Some(b) = before.get(&p.id) {
            seats::record_rise(txn, p, *b, now).await?;
        }
    }
    Ok((results, stored))
}
