//! Queries of the bridge programs chosen from matching's directory (`bridge_choices`, one row per entry).
//! A row is created with its entry, in the same write (pending, or not requested), and a pending row
//! becomes chosen or none-fits by a conditional UPDATE (`WHERE status = 'pending'`), so two replicas
//! retrying the same choice never overwrite each other.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::EntryId;
use continuum_vocab::time;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TryInsertResult,
};

use super::Store;
use crate::domain::BridgeSupport;
use crate::domain::bridge::{BridgeChoice, BridgeNeeds, BridgeRecord, BridgeStatus, ProgramKind};
use crate::error::{Error, Result};

/// `bridge_choices`: the bridge program of each entry.
pub mod bridge_choice {
    use sea_orm::entity::prelude::*;

    /// A bridge choice row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bridge_choices")]
    pub struct Model {
        /// The entry.
        #[sea_orm(primary_key, auto_increment = false)]
        pub entry_id: String,
        /// Status code.
        pub status: String,
        /// Support code given.
        pub support: String,
        /// The client's bridge needs as JSON (codes), when given.
        pub needs: Option<String>,
        /// Chosen provider.
        pub provider_id: Option<String>,
        /// Chosen provider's kind code.
        pub provider_kind: Option<String>,
        /// Plain-language reason.
        pub reason: String,
        /// Failed attempts to ask matching.
        pub attempts: i32,
        /// When the next attempt is due.
        pub next_attempt_at_ms: i64,
        /// Last change.
        pub updated_at_ms: i64,
        /// `traceparent` of the enqueue that asked for it ("" when unknown).
        pub trace_parent: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn corrupt(what: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!("stored bridge {what} is not valid"))
}

/// How an entry's bridge record starts: pending (matching is still to be asked), not requested, or
/// settled (matching answered before the entry was stored), with the entry's support, the client's needs
/// when matching is asked, and the reason shown.
#[derive(Clone, Debug)]
pub struct BridgeStart<'a> {
    /// Pending, not requested, chosen or none fits.
    pub status: BridgeStatus,
    /// The support the entry's rule gives.
    pub support: BridgeSupport,
    /// The client's bridge needs, when matching is (or was) asked.
    pub needs: Option<&'a BridgeNeeds>,
    /// Plain-language reason.
    pub reason: String,
    /// The program chosen and its kind, when one was.
    pub provider: Option<(String, ProgramKind)>,
    /// For a pending record whose first attempt could not reach matching: when to try again (ms); the
    /// attempt is counted.
    pub retry_at_ms: Option<i64>,
}

impl BridgeStart<'_> {
    /// This start with matching's `choice` recorded.
    pub fn settled(self, choice: BridgeChoice) -> Self {
        let provider = choice.provider_id.zip(choice.provider_kind);
        Self {
            status: choice.status,
            support: choice.support,
            reason: choice.reason,
            provider,
            ..self
        }
    }

    /// This (pending) start with one failed attempt counted and the next one due at `at_ms`.
    pub fn retry_at(self, at_ms: i64) -> Self {
        Self { retry_at_ms: Some(at_ms), ..self }
    }
}

/// The new bridge row of `entry_id` as `start` says, at `now`.
pub(super) fn new_row(
    entry_id: &EntryId,
    start: &BridgeStart<'_>,
    now: DateTime<Utc>,
) -> Result<bridge_choice::Model> {
    let now_ms = time::to_ms(now);
    let needs = start
        .needs
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Unexpected(e.into()))?;
    Ok(bridge_choice::Model {
        entry_id: entry_id.to_string(),
        status: start.status.code().to_owned(),
        support: start.support.code().to_owned(),
        needs,
        provider_id: start.provider.as_ref().map(|(id, _)| id.clone()),
        provider_kind: start.provider.as_ref().map(|(_, kind)| kind.code().to_owned()),
        reason: start.reason.clone(),
        attempts: i32::from(start.retry_at_ms.is_some()),
        next_attempt_at_ms: start.retry_at_ms.unwrap_or(now_ms),
        updated_at_ms: now_ms,
        trace_parent: continuum_telemetry::current_traceparent(),
    })
}

pub(super) fn to_domain(m: bridge_choice::Model) -> Result<BridgeRecord> {
    Ok(BridgeRecord {
        status: BridgeStatus::from_code(&m.status).ok_or_else(|| corrupt("status"))?,
        support: BridgeSupport::from_code(&m.support).ok_or_else(|| corrupt("support"))?,
        needs: match m.needs.as_deref() {
            Some(j) => Some(serde_json::from_str::<BridgeNeeds>(j).map_err(|_| corrupt("needs"))?),
            None => None,
        },
        provider_kind: match m.provider_kind.as_deref() {
            Some(k) => Some(ProgramKind::from_code(k).ok_or_else(|| corrupt("provider kind"))?),
            None => None,
        },
        provider_id: m.provider_id,
        reason: m.reason,
        attempts: m.attempts,
        next_attempt_at_ms: m.next_attempt_at_ms,
        trace_parent: m.trace_parent,
        entry_id: EntryId::from_stored(&m.entry_id)?,
    })
}

impl Store {
    /// The entry's bridge record, creating it as `start` says when absent (on a replayed enqueue whose
    /// first attempt stored the entry before bridge records were written with it).
    pub async fn ensure_bridge(
        &self,
        entry_id: &EntryId,
        start: &BridgeStart<'_>,
        now: DateTime<Utc>,
    ) -> Result<BridgeRecord> {
        let insert = bridge_choice::Entity::insert(bridge_choice::ActiveModel::from(new_row(
            entry_id, start, now,
        )?))
        .on_conflict(OnConflict::column(bridge_choice::Column::EntryId).do_nothing().to_owned())
        .try_insert();
        // The new row comes back from the insert itself (RETURNING); a replay inserts nothing and reads
        // the row it finds.
        match insert.exec_with_returning(&self.db).await {
            Ok(TryInsertResult::Inserted(m)) => return to_domain(m),
            Ok(TryInsertResult::Conflicted | TryInsertResult::Empty)
            | Err(sea_orm::DbErr::RecordNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.bridge_of(entry_id)
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("bridge record missing after insert")))
    }

    /// The entry's bridge record, if any.
    pub async fn bridge_of(&self, entry_id: &EntryId) -> Result<Option<BridgeRecord>> {
        let entry_id = entry_id.as_str();
        bridge_choice::Entity::find_by_id(entry_id.to_owned())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// The bridge records of `entry_ids`, by entry id.
    pub async fn bridges_of(
        &self,
        entry_ids: &[EntryId],
    ) -> Result<HashMap<EntryId, BridgeRecord>> {
        let mut out = HashMap::new();
        for chunk in entry_ids.chunks(500) {
            for m in bridge_choice::Entity::find()
                .filter(bridge_choice::Column::EntryId.is_in(chunk.iter().map(EntryId::as_str)))
                .all(&self.db)
                .await?
            {
                let r = to_domain(m)?;
                out.insert(r.entry_id.clone(), r);
            }
        }
        Ok(out)
    }

    /// Records `choice` over a pending record (conditional: a record another replica already settled is
    /// left alone). Returns the record as stored.
    pub async fn settle_bridge(
        &self,
        entry_id: &EntryId,
        choice: &BridgeChoice,
        now: DateTime<Utc>,
    ) -> Result<Option<BridgeRecord>> {
        self.settle(
            entry_id,
            choice.status,
            choice.support,
            choice.provider_id.clone(),
            choice.provider_kind,
            &choice.reason,
            now,
        )
        .await
    }

    /// Marks a pending record closed (its entry left the waitlist before a program was chosen).
    pub async fn close_bridge(
        &self,
        record: &BridgeRecord,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BridgeRecord>> {
        self.settle(&record.entry_id, BridgeStatus::Closed, record.support, None, None, reason, now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        entry_id: &EntryId,
        status: BridgeStatus,
        support: BridgeSupport,
        provider_id: Option<String>,
        provider_kind: Option<ProgramKind>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BridgeRecord>> {
        let updated = bridge_choice::Entity::update_many()
            .col_expr(bridge_choice::Column::Status, Expr::value(status.code()))
            .col_expr(bridge_choice::Column::Support, Expr::value(support.code()))
            .col_expr(bridge_choice::Column::ProviderId, Expr::value(provider_id))
            .col_expr(
                bridge_choice::Column::ProviderKind,
                Expr::value(provider_kind.map(|k| k.code().to_owned())),
            )
            .col_expr(bridge_choice::Column::Reason, Expr::value(reason.to_owned()))
            .col_expr(bridge_choice::Column::UpdatedAtMs, Expr::value(time::to_ms(now)))
            .filter(bridge_choice::Column::EntryId.eq(entry_id.as_str()))
            .filter(bridge_choice::Column::Status.eq(BridgeStatus::Pending.code()));
        // Where the database returns updated rows (PostgreSQL, SQLite 3.35+), the settled row comes
        // back from the update; a record settled before is read as it stands.
        if self.db.support_returning() {
            if let Some(m) = updated.exec_with_returning(&self.db).await?.into_iter().next() {
                return to_domain(m).map(Some);
            }
        } else {
            updated.exec(&self.db).await?;
        }
        self.bridge_of(entry_id).await
    }

    /// Counts a failed attempt on a pending record and sets when to try again.
    pub async fn retry_bridge_later(
        &self,
        entry_id: &EntryId,
        next_attempt_at: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let entry_id = entry_id.as_str();
        bridge_choice::Entity::update_many()
            .col_expr(
                bridge_choice::Column::Attempts,
                Expr::col(bridge_choice::Column::Attempts).add(1),
            )
            .col_expr(bridge_choice::Column::NextAttemptAtMs, Expr::value(next_attempt_at))
            .col_expr(bridge_choice::Column::UpdatedAtMs, Expr::value(time::to_ms(now)))
            .filter(bridge_choice::Column::EntryId.eq(entry_id.to_owned()))
            .filter(bridge_choice::Column::Status.eq(BridgeStatus::Pending.code()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Pending records due at `now`, oldest due first, at most `limit`.
    pub async fn due_bridges(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<BridgeRecord>> {
        bridge_choice::Entity::find()
            // The index's predicate as a literal (`BridgeStatus::Pending`'s code): the index holds only
            // pending choices, and a bound value would keep a generic plan from using it.
            .filter(Expr::cust("status = 'pending'"))
            .filter(bridge_choice::Column::NextAttemptAtMs.lte(time::to_ms(now)))
            .order_by_asc(bridge_choice::Column::NextAttemptAtMs)
            .order_by_asc(bridge_choice::Column::EntryId)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
