//! The follow-up of placements: one row per accepted offer, polled by the follow-up worker until the
//! referral's second appointment is attended or the referral ends. Each due row is claimed with a
//! conditional update of its next check time, so two replicas never follow the same row at once.

use chrono::{DateTime, Utc};
use continuum_vocab::time;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};

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
        /// Which replica's follow-up holds the row (`continuum_outbox` lease).
        pub lease_owner: String,
        /// Until when it holds it (0: nobody).
        pub lease_until_ms: i64,
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
                lease_owner: Set(String::new()),
                lease_until_ms: Set(0),
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

    /// Claims up to `limit` open placements due at `now` for `owner` (a lease of `lease_ms`) in one
    /// statement (`continuum_outbox`); returns the claimed ones, earliest due first.
    pub async fn claim_due_placements(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<Placement>> {
        let keys = PLACEMENTS.claim_due(&self.db, owner, time::to_ms(now), lease_ms, limit).await?;
        let mut rows = placement::Entity::find()
            .filter(placement::Column::OfferId.is_in(keys))
            .all(&self.db)
            .await?;
        rows.sort_by(|a, b| {
            (a.next_check_at_ms, &a.offer_id).cmp(&(b.next_check_at_ms, &b.offer_id))
        });
        Ok(rows.into_iter().map(to_domain).collect())
    }

    /// Stores what a check of claimed placement `p` learned (ending `owner`'s lease): the attended
    /// appointments, whether following is over, and when to look again.
    pub async fn record_placement_check(
        &self,
        p: &Placement,
        owner: &str,
        first_attended_at: Option<DateTime<Utc>>,
        second_attended_at: Option<DateTime<Utc>>,
        closed: bool,
        next_check_at: DateTime<Utc>,
    ) -> Result<()> {
        let sets = vec![
            ("first_attended_at_ms", first_attended_at.map(time::to_ms).into()),
            ("second_attended_at_ms", second_attended_at.map(time::to_ms).into()),
            ("closed", closed.into()),
            ("next_check_at_ms", time::to_ms(next_check_at).into()),
            ("checks", p.checks.saturating_add(1).into()),
        ];
        PLACEMENTS.release(&self.db, &p.offer_id, owner, sets).await?;
        Ok(())
    }

    /// First and second attended appointments of the entries `selected` (a subquery of entry ids).
    pub(super) async fn attended_by_entry(
        &self,
        selected: sea_orm::sea_query::SelectStatement,
    ) -> Result<Vec<(String, Option<i64>, Option<i64>)>> {
        Ok(placement::Entity::find()
            .filter(placement::Column::EntryId.in_subquery(selected))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (p.entry_id, p.first_attended_at_ms, p.second_attended_at_ms))
            .collect())
    }
}

/// The placements as a leased queue (`continuum_outbox`).
const PLACEMENTS: continuum_outbox::Queue = continuum_outbox::Queue {
    name: "placements",
    table: "placements",
    key: "offer_id",
    pending: "closed = false",
    due: "next_check_at_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};
