//! Queries of the matching hold key behind a referral's slot: recorded for a referral whose slot was
//! taken by someone else (`capacity_hold_key`), read when the slot is given back so matching returns a
//! program's seat to the cohort the take used.

use chrono::Utc;
use continuum_vocab::ids::ReferralId;
use continuum_vocab::time;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

use super::Store;
use super::entities::{capacity_hold, referral};
use crate::error::Result;

impl Store {
    /// Records that referral `referral_id`'s slot is held in matching under `hold_key` (once; a replay
    /// keeps the first key).
    pub async fn record_capacity_hold(
        &self,
        referral_id: &ReferralId,
        hold_key: &str,
    ) -> Result<()> {
        let row = capacity_hold::ActiveModel {
            referral_id: Set(referral_id.to_string()),
            hold_key: Set(hold_key.to_owned()),
            created_at_ms: Set(time::to_ms(Utc::now())),
        };
        capacity_hold::Entity::insert(row)
            .on_conflict(
                OnConflict::column(capacity_hold::Column::ReferralId).do_nothing().to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// The matching hold key the slot of `referral_id` was taken under: the recorded one, else the key of
    /// the referral's own take (`domain::take_hold_key`). `None` when the referral is unknown.
    pub async fn taken_under(&self, referral_id: &ReferralId) -> Result<Option<String>> {
        if let Some(h) =
            capacity_hold::Entity::find_by_id(referral_id.to_string()).one(&self.db).await?
        {
            return Ok(Some(h.hold_key));
        }
        Ok(referral::Entity::find_by_id(referral_id.to_string())
            .one(&self.db)
            .await?
            .map(|r| crate::domain::take_hold_key(&r.idempotency_key)))
    }
}
