//! The care timeline's read of session feedback: one client's ratings, oldest first.

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{ClientId, ProviderId};
use continuum_vocab::time;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::session_feedback;
use crate::error::Result;

/// One session's feedback as the care timeline shows it (totals only; the items stay in the store).
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackStep {
    /// Feedback id.
    pub id: String,
    /// Provider rated.
    pub provider_id: ProviderId,
    /// Session number.
    pub session_number: i32,
    /// SRS total, 0..40.
    pub srs_total: f64,
    /// ORS total, 0..40.
    pub ors_total: f64,
    /// When recorded.
    pub recorded_at: DateTime<Utc>,
}

impl Store {
    /// Every feedback row of `client_id` (at most 1,000), oldest first.
    pub async fn client_feedback(&self, client_id: &ClientId) -> Result<Vec<FeedbackStep>> {
        let client_id = client_id.as_str();
        session_feedback::Entity::find()
            .filter(session_feedback::Column::ClientId.eq(client_id.to_owned()))
            .order_by_asc(session_feedback::Column::RecordedAtMs)
            .order_by_asc(session_feedback::Column::Id)
            .limit(1000)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                Ok(FeedbackStep {
                    provider_id: ProviderId::from_stored(&m.provider_id)?,
                    id: m.id,
                    session_number: m.session_number,
                    srs_total: m.srs_total,
                    ors_total: m.ors_total,
                    recorded_at: time::from_ms(m.recorded_at_ms),
                })
            })
            .collect()
    }
}
