//! Queries of alliance learning from similar clients: the per-segment SRS counters (`alliance_segments`),
//! incremented atomically with each session feedback and attached to the providers the in-memory
//! directory is built from.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::Store;
use super::entities::alliance_segment;
use crate::domain::Provider;
use crate::domain::alliance::SegmentStats;
use crate::error::Result;

/// Provider ids per `IN (...)` query.
const CHUNK: usize = 500;

/// Adds one SRS rating to each of `segments` of a provider: one `INSERT .. ON CONFLICT DO UPDATE` per
/// segment, so concurrent feedback never loses an increment.
pub(super) async fn increment<C: ConnectionTrait>(
    db: &C,
    provider_id: &str,
    segments: &[String],
    srs_total: f64,
    now_ms: i64,
) -> Result<()> {
    for code in segments {
        let row = alliance_segment::ActiveModel {
            provider_id: Set(provider_id.to_owned()),
            segment: Set(code.clone()),
            ratings: Set(1),
            srs_sum: Set(srs_total),
            updated_at_ms: Set(now_ms),
        };
        let on_conflict = OnConflict::columns([
            alliance_segment::Column::ProviderId,
            alliance_segment::Column::Segment,
        ])
        .value(
            alliance_segment::Column::Ratings,
            Expr::col((alliance_segment::Entity, alliance_segment::Column::Ratings)).add(1),
        )
        .value(
            alliance_segment::Column::SrsSum,
            Expr::col((alliance_segment::Entity, alliance_segment::Column::SrsSum)).add(srs_total),
        )
        .value(alliance_segment::Column::UpdatedAtMs, Expr::value(now_ms))
        .to_owned();
        alliance_segment::Entity::insert(row)
            .on_conflict(on_conflict)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn group(rows: Vec<alliance_segment::Model>) -> HashMap<String, Vec<(String, SegmentStats)>> {
    let mut out: HashMap<String, Vec<(String, SegmentStats)>> = HashMap::new();
    for r in rows {
        out.entry(r.provider_id)
            .or_default()
            .push((r.segment, SegmentStats { ratings: r.ratings, srs_sum: r.srs_sum }));
    }
    out
}

/// Fills `alliance_segments` of `providers` from the table (sorted by segment code).
pub(super) async fn attach<C: ConnectionTrait>(db: &C, providers: &mut [Provider]) -> Result<()> {
    if providers.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = providers.iter().map(|p| p.id.clone()).collect();
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        rows.extend(
            alliance_segment::Entity::find()
                .filter(alliance_segment::Column::ProviderId.is_in(chunk.to_vec()))
                .order_by_asc(alliance_segment::Column::Segment)
                .all(db)
                .await?,
        );
    }
    fill(providers, rows);
    Ok(())
}

/// Fills `alliance_segments` of every provider from one scan of the table (a full directory load).
pub(super) async fn attach_all<C: ConnectionTrait>(
    db: &C,
    providers: &mut [Provider],
) -> Result<()> {
    let rows = alliance_segment::Entity::find()
        .order_by_asc(alliance_segment::Column::Segment)
        .all(db)
        .await?;
    fill(providers, rows);
    Ok(())
}

fn fill(providers: &mut [Provider], rows: Vec<alliance_segment::Model>) {
    let mut by_provider = group(rows);
    for p in providers.iter_mut() {
        p.alliance_segments = by_provider.remove(&p.id).unwrap_or_default();
    }
}

impl Store {
    /// Attaches the per-segment alliance ratings to providers loaded elsewhere (for example by a write
    /// whose result patches the in-memory directory).
    pub async fn attach_alliance_segments(&self, providers: &mut [Provider]) -> Result<()> {
        attach(self.connection(), providers).await
    }
}
