//! The follow-up of placements: one row per accepted offer, polled by the follow-up worker until the
//! referral's second appointment is attended or the referral ends. Each due row is claimed with a
//! conditional update of its next check time, so two replicas never follow the same row at once.

use chrono::{DateTime, Utc};
use continuum_vocab::time;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{entry, offer};
use super::{Store, corrupt};
use crate::domain::OfferStatus;
use crate::error::Result;

/// `placements`: accepted offers followed until the second appointment.
pub mod placement {
    use sea_orm::entity::prelude::*;

    /// A placement row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "placements")]
    pub struct Model {
        /// The accepted offer.
        #[sea_orm(primary_key, auto_increment = false)]
        pub offer_id: String,
        /// The referral it created.
        pub referral_id: String,
        /// The entry placed.
        pub entry_id: String,
        /// The entry's organization (the referrer, on whose behalf the referral is read).
        pub organization_id: String,
        /// First appointment attended, when reported.
        pub first_attended_at_ms: Option<i64>,
        /// Second appointment attended, when reported.
        pub second_attended_at_ms: Option<i64>,
        /// Nothing more to follow.
        pub closed: bool,
        /// When to look again (also the claim: a claimed row's next check is moved forward).
        pub next_check_at_ms: i64,
        /// Checks made.
        pub checks: i32,
        /// When the row was made.
        pub created_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A placement to follow up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The accepted offer.
    pub offer_id: String,
    /// Its referral.
    pub referral_id: String,
    /// The entry placed.
    pub entry_id: String,
    /// The entry's organization.
    pub organization_id: String,
    /// First appointment attended, when known.
    pub first_attended_at: Option<DateTime<Utc>>,
    /// Second appointment attended, when known.
    pub second_attended_at: Option<DateTime<Utc>>,
    /// Checks made so far.
    pub checks: i32,
    /// When the row was made.
    pub created_at: DateTime<Utc>,
}

fn to_domain(m: placement::Model) -> Placement {
    Placement {
        offer_id: m.offer_id,
        referral_id: m.referral_id,
        entry_id: m.entry_id,
        organization_id: m.organization_id,
        first_attended_at: m.first_attended_at_ms.map(time::from_ms),
        second_attended_at: m.second_attended_at_ms.map(time::from_ms),
        checks: m.checks,
        created_at: time::from_ms(m.created_at_ms),
    }
}

impl Store {
    /// Starts following every accepted offer with a referral that is not followed yet; returns how many.
    pub async fn discover_placements(&self, now: DateTime<Utc>) -> Result<u64> {
        let followed =
            Query::select().column(placement::Column::OfferId).from(placement::Entity).to_owned();
        let offers = offer::Entity::find()
            .filter(offer::Column::Status.eq(OfferStatus::Accepted.code()))
            .filter(offer::Column::ReferralId.is_not_null())
            .filter(offer::Column::Id.not_in_subquery(followed))
            .limit(500)
            .all(&self.db)
            .await?;
        let mut made = 0;
        for o in offers {
            let Some(referral_id) = o.referral_id else { continue };
            let e = entry::Entity::find_by_id(o.entry_id.clone())
                .one(&self.db)
                .await?
                .ok_or_else(|| corrupt("offer entry"))?;
            let row = placement::ActiveModel {
                offer_id: Set(o.id),
                referral_id: Set(referral_id),
                entry_id: Set(o.entry_id),
                organization_id: Set(e.organization_id),
                first_attended_at_ms: Set(None),
                second_attended_at_ms: Set(None),
                closed: Set(false),
                next_check_at_ms: Set(time::to_ms(now)),
                checks: Set(0),
                created_at_ms: Set(time::to_ms(now)),
            };
            // Another replica may have made it in between: that is the same row, not an error.
            let inserted = placement::Entity::insert(row)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::column(placement::Column::OfferId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
            made += inserted;
        }
        Ok(made)
    }

    /// Claims up to `limit` open placements due at `now`, moving each one's next check to `lease_until`
    /// (a claim another replica loses); returns the claimed ones.
    pub async fn claim_due_placements(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Placement>> {
        let due = placement::Entity::find()
            .filter(placement::Column::Closed.eq(false))
            .filter(placement::Column::NextCheckAtMs.lte(time::to_ms(now)))
            .order_by_asc(placement::Column::NextCheckAtMs)
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for m in due {
            let res = placement::Entity::update_many()
                .col_expr(placement::Column::NextCheckAtMs, Expr::value(time::to_ms(lease_until)))
                .filter(placement::Column::OfferId.eq(m.offer_id.clone()))
                .filter(placement::Column::NextCheckAtMs.eq(m.next_check_at_ms))
                .exec(&self.db)
                .await?;
            if res.rows_affected == 1 {
                claimed.push(to_domain(m));
            }
        }
        Ok(claimed)
    }

    /// Stores what a check learned: the attended appointments, whether following is over, and when to
    /// look again.
    pub async fn record_placement_check(
        &self,
        offer_id: &str,
        first_attended_at: Option<DateTime<Utc>>,
        second_attended_at: Option<DateTime<Utc>>,
        closed: bool,
        next_check_at: DateTime<Utc>,
    ) -> Result<()> {
        let Some(m) = placement::Entity::find_by_id(offer_id.to_owned()).one(&self.db).await?
        else {
            return Ok(());
        };
        let checks = m.checks.saturating_add(1);
        let mut row: placement::ActiveModel = m.into();
        row.first_attended_at_ms = Set(first_attended_at.map(time::to_ms));
        row.second_attended_at_ms = Set(second_attended_at.map(time::to_ms));
        row.closed = Set(closed);
        row.next_check_at_ms = Set(time::to_ms(next_check_at));
        row.checks = Set(checks);
        row.update(&self.db).await?;
        Ok(())
    }

    /// First and second attended appointments per entry (earliest placement of each entry).
    pub(super) async fn attended_by_entry(
        &self,
        entry_ids: &[String],
    ) -> Result<Vec<(String, Option<i64>, Option<i64>)>> {
        let mut out = Vec::new();
        for chunk in entry_ids.chunks(500) {
            for p in placement::Entity::find()
                .filter(placement::Column::EntryId.is_in(chunk.iter().cloned()))
                .all(&self.db)
                .await?
            {
                out.push((p.entry_id, p.first_attended_at_ms, p.second_attended_at_ms));
            }
        }
        Ok(out)
    }
}
