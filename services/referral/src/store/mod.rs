//! All database access of the referral service. Handlers call these functions with domain types; no other
//! module touches sea-orm. Every status change is one conditional UPDATE (`WHERE version = expected`)
//! committed together with its event and, when a slot goes back to matching, its outbox row: a change is
//! never recorded without its history, and a release is never lost.

mod capacity_holds;
pub mod entities;
pub mod migration;
pub mod migration_capacity;
pub mod migration_feed;
pub mod migration_keys;
pub mod migration_trace;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId, ProviderId, ReferralId};
use continuum_vocab::{Urgency, time};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::domain::{
    Action, Actor, ActorRole, Event, NewReferral, Referral, RejectionReason, Status,
};
use crate::error::{Error, Result};
use entities::{outbox, referral, referral_event};

pub use migration::Migrator;

/// The kind of outbox row that gives a provider's slot back.
pub const CAPACITY_RELEASE: &str = "capacity_release";

const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const DEAD: &str = "dead";

/// The outbox as a leased queue (`continuum_outbox`).
const OUTBOX: continuum_outbox::Queue = continuum_outbox::Queue {
    name: "referral_outbox",
    table: "outbox",
    key: "id",
    pending: "state = 'pending'",
    due: "next_attempt_at_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};

/// The referral store.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Writes of the hot path (a new referral): kept connections on PostgreSQL.
    writer: continuum_db::Writer,
    /// Bumped after every commit that records events, so watchers in this process wake at once (watchers
    /// also poll, for events committed by other replicas).
    committed: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// An event to record (the store adds its id, referral, client and time).
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    /// Action; `None` for the creation event.
    pub action: Option<Action>,
    /// Status before; `None` for the creation event.
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// Who acted.
    pub actor: Actor,
    /// Rejection reason.
    pub rejection_reason: Option<RejectionReason>,
    /// Operational note.
    pub note: Option<String>,
    /// Appointment time.
    pub appointment_at: Option<DateTime<Utc>>,
}

/// A referral to insert, with its first events.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferralDraft {
    /// The validated request.
    pub new: NewReferral,
    /// The provider's organization.
    pub recipient_organization_id: OrganizationId,
    /// Whether the slot was taken over capacity.
    pub overbooked: bool,
    /// Initial status.
    pub status: Status,
    /// Response deadline.
    pub response_due_at: DateTime<Utc>,
    /// Creation time.
    pub now: DateTime<Utc>,
    /// Events, in order.
    pub events: Vec<EventDraft>,
    /// The referral this one re-routes, if any.
    pub rerouted_from: Option<ReferralId>,
}

/// A decided status change to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Referral.
    pub referral_id: ReferralId,
    /// The version the decision was made on.
    pub expected_version: i64,
    /// Status after.
    pub to: Status,
    /// Whether care starts now (the first appointment was attended).
    pub starts_care: bool,
    /// The event recording it.
    pub event: EventDraft,
    /// When set, give this provider's slot back through the outbox.
    pub release_provider_id: Option<ProviderId>,
    /// When.
    pub now: DateTime<Utc>,
    /// Record the escalation time (the first silence).
    pub escalate: bool,
    /// A re-route is owed after this change (rejected or expired with alternatives).
    pub needs_reroute: bool,
    /// Further events recorded with the change, after its own (the referrer notified when the loop closes).
    pub extra_events: Vec<EventDraft>,
}

/// The result of applying a change.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The referral after the change, with its events.
    pub referral: Referral,
    /// The outbox row to deliver, when the change releases a slot.
    pub outbox_id: Option<String>,
}

/// Filters for listing referrals.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferralFilter {
    /// Referrals where this organization is referrer or recipient.
    pub organization_id: String,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this urgency.
    pub urgency: Option<Urgency>,
    /// Only referrals still requested and past their deadline at this time.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only referrals of this client.
    pub client_id: Option<ClientId>,
    /// Only referrals to one of these providers (empty: any provider).
    pub provider_ids: Vec<ProviderId>,
}

/// One step of a client's care timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineItem {
    /// The event.
    pub event: Event,
    /// The provider of its referral.
    pub provider_id: String,
    /// The referring organization of its referral.
    pub referrer_organization_id: String,
    /// The recipient organization of its referral.
    pub recipient_organization_id: String,
}

/// A position in the commit-ordered event feed: the event's `seq`, then its id among events of one
/// transaction (and among events older than the feed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    /// Feed sequence (a transaction id on PostgreSQL; a counter on SQLite; 0 before the feed existed).
    pub seq: i64,
    /// Event id.
    pub id: String,
}

/// An outbox row claimed for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// Id.
    pub id: String,
    /// Referral that caused it.
    pub referral_id: ReferralId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Capacity delta.
    pub delta: i32,
    /// Idempotency key in matching.
    pub hold_key: String,
    /// Failed deliveries so far.
    pub attempts: i32,
    /// `traceparent` of the request whose change created the row (empty when unknown).
    pub trace_parent: String,
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!("stored {what} is not a known code: {value}"))
}

fn event_to_domain(m: referral_event::Model) -> Result<Event> {
    let action = m
        .action
        .as_deref()
        .map(|a| Action::from_code(a).ok_or_else(|| corrupt("action", a)))
        .transpose()?;
    let from_status = m
        .from_status
        .as_deref()
        .map(|s| Status::from_code(s).ok_or_else(|| corrupt("status", s)))
        .transpose()?;
    let rejection_reason = m
        .rejection_reason
        .as_deref()
        .map(|r| RejectionReason::from_code(r).ok_or_else(|| corrupt("rejection reason", r)))
        .transpose()?;
    Ok(Event {
        referral_id: ReferralId::from_stored(&m.referral_id)?,
        id: m.id,
        action,
        from_status,
        to_status: Status::from_code(&m.to_status)
            .ok_or_else(|| corrupt("status", &m.to_status))?,
        actor_role: ActorRole::from_code(&m.actor_role)
            .ok_or_else(|| corrupt("actor role", &m.actor_role))?,
        actor_organization_id: m.actor_organization_id,
        actor_user_id: m.actor_user_id,
        rejection_reason,
        note: m.note,
        appointment_at: m.appointment_at_ms.map(time::from_ms),
        occurred_at: time::from_ms(m.occurred_at_ms),
    })
}

fn referral_to_domain(m: referral::Model, events: Vec<Event>) -> Result<Referral> {
    let prefix = format!("{}:", m.referrer_organization_id);
    let idempotency_key =
        m.idempotency_key.strip_prefix(&prefix).map(str::to_owned).unwrap_or(m.idempotency_key);
    Ok(Referral {
        status: Status::from_code(&m.status).ok_or_else(|| corrupt("status", &m.status))?,
        urgency: Urgency::from_code(&m.urgency).ok_or_else(|| corrupt("urgency", &m.urgency))?,
        id: ReferralId::from_stored(&m.id)?,
        idempotency_key,
        client_id: ClientId::from_stored(&m.client_id)?,
        intake_id: IntakeId::from_stored(&m.intake_id)?,
        referrer_organization_id: OrganizationId::from_stored(&m.referrer_organization_id)?,
        recipient_organization_id: OrganizationId::from_stored(&m.recipient_organization_id)?,
        provider_id: ProviderId::from_stored(&m.provider_id)?,
        overbooked: m.overbooked,
        response_due_at: time::from_ms(m.response_due_at_ms),
        created_at: time::from_ms(m.created_at_ms),
        updated_at: time::from_ms(m.updated_at_ms),
        care_started_at: m.care_started_at_ms.map(time::from_ms),
        version: m.version,
        escalated_at: m.escalated_at_ms.map(time::from_ms),
        alternative_provider_ids: split_ids(m.alternative_provider_ids.as_deref())?,
        needs_reroute: m.needs_reroute,
        rerouted_to_referral_id: optional_id(m.rerouted_to_referral_id)?,
        rerouted_from_referral_id: optional_id(m.rerouted_from_referral_id)?,
        events,
    })
}

/// Provider ids stored comma-separated (validated UUIDs contain no commas).
fn split_ids(stored: Option<&str>) -> Result<Vec<ProviderId>> {
    stored
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(ProviderId::from_stored)
        .collect()
}

fn join_ids(ids: &[ProviderId]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(ProviderId::as_str).collect::<Vec<_>>().join(","))
}

/// A nullable referral id column (empty counts as absent).
fn optional_id(stored: Option<String>) -> Result<Option<ReferralId>> {
    stored.filter(|s| !s.is_empty()).map(ReferralId::from_stored).transpose()
}

fn outbox_to_domain(m: outbox::Model) -> Result<OutboxItem> {
    Ok(OutboxItem {
        referral_id: ReferralId::from_stored(&m.referral_id)?,
        provider_id: ProviderId::from_stored(&m.provider_id)?,
        id: m.id,
        delta: m.delta,
        hold_key: m.hold_key,
        attempts: m.attempts,
        trace_parent: m.trace_parent,
    })
}

/// An event's row as written, its feed position (`seq`) left to the insert ([`insert_event`]).
fn event_model(
    referral_id: &ReferralId,
    client_id: &str,
    e: EventDraft,
    now_ms: i64,
) -> referral_event::Model {
    referral_event::Model {
        id: uuid::Uuid::now_v7().to_string(),
        referral_id: referral_id.to_string(),
        client_id: client_id.to_owned(),
        action: e.action.map(|a| a.code().to_owned()),
        from_status: e.from_status.map(|s| s.code().to_owned()),
        to_status: e.to_status.code().to_owned(),
        actor_role: e.actor.role.code().to_owned(),
        actor_organization_id: e.actor.organization_id,
        actor_user_id: e.actor.user_id,
        rejection_reason: e.rejection_reason.map(|r| r.code().to_owned()),
        note: e.note,
        appointment_at_ms: e.appointment_at.map(time::to_ms),
        occurred_at_ms: now_ms,
        seq: 0,
    }
}

/// An event's row to insert (its `seq` not set: see [`insert_event`]).
fn event_insert(m: referral_event::Model) -> referral_event::ActiveModel {
    let mut row = m.into_active_model();
    row.seq = sea_orm::ActiveValue::NotSet;
    row
}

fn event_row(
    referral_id: &ReferralId,
    client_id: &str,
    e: EventDraft,
    now_ms: i64,
) -> referral_event::ActiveModel {
    event_insert(event_model(referral_id, client_id, e, now_ms))
}

/// Inserts an event inside `txn`, giving it its feed position: on PostgreSQL the column's default (the
/// transaction id); on SQLite, where one transaction writes at a time, the next number.
async fn insert_event<C: ConnectionTrait>(
    txn: &C,
    mut row: referral_event::ActiveModel,
) -> Result<()> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        let top = referral_event::Entity::find()
            .select_only()
            .column_as(
                Expr::from(sea_orm::sea_query::Func::max(Expr::col(referral_event::Column::Seq))),
                "top",
            )
            .into_tuple::<Option<i64>>()
            .one(txn)
            .await?
            .flatten()
            .unwrap_or(0);
        row.seq = Set(top + 1);
    }
    row.insert(txn).await?;
    Ok(())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn events_of<C: ConnectionTrait>(conn: &C, referral_id: &str) -> Result<Vec<Event>> {
    referral_event::Entity::find()
        .filter(referral_event::Column::ReferralId.eq(referral_id.to_owned()))
        .order_by_asc(referral_event::Column::OccurredAtMs)
        .order_by_asc(referral_event::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(event_to_domain)
        .collect()
}

async fn load<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<Referral>> {
    let Some(m) = referral::Entity::find_by_id(id.to_owned()).one(conn).await? else {
        return Ok(None);
    };
    let events = events_of(conn, &m.id).await?;
    referral_to_domain(m, events).map(Some)
}

impl Store {
    /// How long a replica owns an outbox row it claimed before another may take it over.
    pub const LEASE: Duration = Duration::from_secs(30);

    /// A store over an open, migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            writer: continuum_db::Writer::new(&db),
            db,
            committed: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
        }
    }

    /// A receiver that changes whenever this process commits new referral events.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    fn committed(&self) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The connection (for health probes).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The referral `referrer_organization_id` created under `key`, with its events. Keys are the
    /// referrer's own: another organization's referral under the same key is not found (rows written before
    /// keys were scoped are found by their bare key and their referrer).
    pub async fn find_by_idempotency_key(
        &self,
        referrer_organization_id: &OrganizationId,
        key: &str,
    ) -> Result<Option<Referral>> {
        let Some(m) = referral::Entity::find()
            .filter(
                referral::Column::IdempotencyKey.is_in([
                    crate::domain::scoped_key(referrer_organization_id, key),
                    key.to_owned(),
                ]),
            )
            .filter(referral::Column::ReferrerOrganizationId.eq(referrer_organization_id.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let events = events_of(&self.db, &m.id).await?;
        referral_to_domain(m, events).map(Some)
    }

    /// The referring organization of referral `id`, when it exists.
    pub async fn referrer_of(&self, id: &ReferralId) -> Result<Option<OrganizationId>> {
        referral::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await?
            .map(|r| OrganizationId::from_stored(&r.referrer_organization_id))
            .transpose()
    }

    /// The `traceparent` of the request that created referral `id` (empty when unknown), for the deadline
    /// sweeper to continue that trace. Any string is looked up (an unknown one has no trace).
    pub async fn referral_trace_parent(&self, id: &str) -> Result<String> {
        let row = referral::Entity::find_by_id(id.to_owned()).one(&self.db).await?;
        Ok(row.map(|r| r.trace_parent).unwrap_or_default())
    }

    /// One referral with its events, oldest first.
    pub async fn get_referral(&self, id: &ReferralId) -> Result<Referral> {
        load(&self.db, id.as_str()).await?.ok_or_else(|| Error::not_found("referral", id.as_str()))
    }

    /// Inserts a referral and its first events atomically (one statement on PostgreSQL, a transaction
    /// on SQLite) and answers it as written, not read back. A concurrent creation with the same
    /// idempotency key makes this fail with `AlreadyExists` (the unique key), and the caller re-reads.
    pub async fn create_referral(&self, draft: ReferralDraft) -> Result<Referral> {
        let now = time::to_ms(draft.now);
        let id = ReferralId::new_v7();
        let new = draft.new;
        let row = referral::Model {
            id: id.to_string(),
            idempotency_key: crate::domain::scoped_key(
                &new.referrer_organization_id,
                &new.idempotency_key,
            ),
            client_id: new.client_id.to_string(),
            intake_id: new.intake_id.into_string(),
            referrer_organization_id: new.referrer_organization_id.into_string(),
            recipient_organization_id: draft.recipient_organization_id.into_string(),
            provider_id: new.provider_id.into_string(),
            escalated_at_ms: None,
            alternative_provider_ids: join_ids(&new.alternative_provider_ids),
            needs_reroute: false,
            rerouted_to_referral_id: None,
            rerouted_from_referral_id: draft.rerouted_from.map(String::from),
            status: draft.status.code().to_owned(),
            urgency: new.urgency.code().to_owned(),
            overbooked: draft.overbooked,
            response_due_at_ms: time::to_ms(draft.response_due_at),
            care_started_at_ms: None,
            version: 1,
            created_at_ms: now,
            updated_at_ms: now,
            trace_parent: continuum_telemetry::current_traceparent(),
        };
        let events: Vec<referral_event::Model> = draft
            .events
            .into_iter()
            .map(|e| event_model(&id, new.client_id.as_str(), e, now))
            .collect();
        if self.db.get_database_backend() == sea_orm::DbBackend::Postgres {
            // One statement, one round trip (issue 12: with a real directory most routed intakes are
            // referred); each event's feed position is the column's default, the transaction id.
            let mut batch = continuum_db::Batch::new(&self.db);
            batch.push(&referral::Entity::insert(row.clone().into_active_model()));
            for e in &events {
                batch.push(&referral_event::Entity::insert(event_insert(e.clone())));
            }
            batch.run(&self.writer).await?;
        } else {
            let txn = self.db.begin().await?;
            row.clone().into_active_model().insert(&txn).await?;
            for e in &events {
                insert_event(&txn, event_insert(e.clone())).await?;
            }
            txn.commit().await?;
        }
        self.committed();
        // The referral as written: its events in the order they were drafted (one time, rising ids),
        // the order a read gives them.
        referral_to_domain(row, events.into_iter().map(event_to_domain).collect::<Result<_>>()?)
    }

    /// Applies a decided change if the referral is still at `expected_version`: the status update, its
    /// event and (when the slot goes back) the outbox row commit together or not at all.
    pub async fn apply(&self, change: Change) -> Result<Applied> {
        let now = time::to_ms(change.now);
        let txn = self.db.begin().await?;
        let mut update = referral::Entity::update_many()
            .col_expr(referral::Column::Status, Expr::value(change.to.code()))
            .col_expr(
                referral::Column::Version,
                Expr::value(change.expected_version.saturating_add(1)),
            )
            .col_expr(referral::Column::UpdatedAtMs, Expr::value(now))
            .filter(referral::Column::Id.eq(change.referral_id.as_str()))
            .filter(referral::Column::Version.eq(change.expected_version));
        if change.starts_care {
            update = update.col_expr(referral::Column::CareStartedAtMs, Expr::value(now));
        }
        if change.escalate {
            update = update.col_expr(referral::Column::EscalatedAtMs, Expr::value(now));
        }
        if change.needs_reroute {
            update = update.col_expr(referral::Column::NeedsReroute, Expr::value(true));
        }
        let res = update.exec(&txn).await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            let current = self.get_referral(&change.referral_id).await?;
            return Err(Error::version_mismatch(
                "referral",
                change.expected_version,
                current.version,
            ));
        }
        let current = referral::Entity::find_by_id(change.referral_id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("referral", change.referral_id.as_str()))?;
        insert_event(&txn, event_row(&change.referral_id, &current.client_id, change.event, now))
            .await?;
        for e in change.extra_events {
            insert_event(&txn, event_row(&change.referral_id, &current.client_id, e, now)).await?;
        }
        let outbox_id = match change.release_provider_id {
            Some(provider_id) => {
                let id = uuid::Uuid::now_v7().to_string();
                outbox::ActiveModel {
                    id: Set(id.clone()),
                    kind: Set(CAPACITY_RELEASE.to_owned()),
                    referral_id: Set(change.referral_id.to_string()),
                    provider_id: Set(provider_id.into_string()),
                    delta: Set(1),
                    hold_key: Set(crate::domain::release_hold_key(&change.referral_id)),
                    state: Set(PENDING.to_owned()),
                    attempts: Set(0),
                    // Due at once, also when the change carries a later time (a sweep run with a chosen
                    // "now"): the worker compares with the wall clock.
                    next_attempt_at_ms: Set(now.min(time::to_ms(Utc::now()))),
                    lease_owner: Set(None),
                    lease_until_ms: Set(0),
                    last_error: Set(None),
                    created_at_ms: Set(now),
                    finished_at_ms: Set(None),
                    trace_parent: Set(continuum_telemetry::current_traceparent()),
                }
                .insert(&txn)
                .await?;
                Some(id)
            }
            None => None,
        };
        let referral = load(&txn, change.referral_id.as_str())
            .await?
            .ok_or_else(|| Error::not_found("referral", change.referral_id.as_str()))?;
        txn.commit().await?;
        self.committed();
        Ok(Applied { referral, outbox_id })
    }

    /// Up to `limit` referrals still requested and past their first response deadline at `now` (escalated
    /// or not; the domain decides what is due), oldest deadline first, without events.
    pub async fn past_deadline(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<Referral>> {
        referral::Entity::find()
            .filter(referral::Column::Status.eq(Status::Requested.code()))
            .filter(referral::Column::ResponseDueAtMs.lt(time::to_ms(now)))
            .order_by_asc(referral::Column::ResponseDueAtMs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| referral_to_domain(m, Vec::new()))
            .collect()
    }

    /// How many referrals are still requested past their response deadline at `now` (the overdue gauge).
    pub async fn count_overdue(&self, now: DateTime<Utc>) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(referral::Entity::find()
            .filter(referral::Column::Status.eq(Status::Requested.code()))
            .filter(referral::Column::ResponseDueAtMs.lt(time::to_ms(now)))
            .count(&self.db)
            .await?)
    }

    /// Up to `limit` referrals owing a re-route, without events.
    pub async fn owing_reroute(&self, limit: u64) -> Result<Vec<Referral>> {
        referral::Entity::find()
            .filter(referral::Column::NeedsReroute.eq(true))
            .order_by_asc(referral::Column::UpdatedAtMs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| referral_to_domain(m, Vec::new()))
            .collect()
    }

    /// Settles the re-route owed by `referral_id`: links it to `to` (the new referral; `None` when no
    /// alternative could take the client) and records `event`, in one transaction. `false` when the
    /// re-route was already settled (by another replica).
    pub async fn settle_reroute(
        &self,
        referral_id: &ReferralId,
        to: Option<&ReferralId>,
        event: EventDraft,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now_ms = time::to_ms(now);
        let txn = self.db.begin().await?;
        let res = referral::Entity::update_many()
            .col_expr(referral::Column::NeedsReroute, Expr::value(false))
            .col_expr(
                referral::Column::ReroutedToReferralId,
                Expr::value(to.map(ReferralId::to_string)),
            )
            .col_expr(referral::Column::UpdatedAtMs, Expr::value(now_ms))
            .filter(referral::Column::Id.eq(referral_id.as_str()))
            .filter(referral::Column::NeedsReroute.eq(true))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        let current = referral::Entity::find_by_id(referral_id.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("referral", referral_id.as_str()))?;
        insert_event(&txn, event_row(referral_id, &current.client_id, event, now_ms)).await?;
        txn.commit().await?;
        self.committed();
        Ok(true)
    }

    /// The feed position of event `id`, or `None` when there is no such event.
    pub async fn feed_position(&self, id: &str) -> Result<Option<FeedPosition>> {
        Ok(referral_event::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(|m| FeedPosition { seq: m.seq, id: m.id }))
    }

    /// How far the feed may be read now: on PostgreSQL, the oldest transaction id still running (every
    /// event below it is committed, and none can appear there any more); `None` (no limit) on SQLite, where
    /// positions are handed out in commit order.
    pub async fn feed_horizon(&self) -> Result<Option<i64>> {
        if self.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(None);
        }
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon",
            ))
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no snapshot horizon")))?;
        Ok(Some(row.try_get::<i64>("", "horizon")?))
    }

    /// Where a watch from `since` starts: the last committed feed position (below the horizon, see
    /// [`Store::feed_horizon`]) of an event that occurred before `since`, so the watch reads on from there;
    /// `None` when there is none (from the beginning). Reads back from the newest events, which are few.
    pub async fn feed_before(&self, since: DateTime<Utc>) -> Result<Option<FeedPosition>> {
        let mut q = referral_event::Entity::find()
            .filter(referral_event::Column::OccurredAtMs.lt(time::to_ms(since)))
            .order_by_desc(referral_event::Column::Seq)
            .order_by_desc(referral_event::Column::Id);
        if let Some(h) = self.feed_horizon().await? {
            q = q.filter(referral_event::Column::Seq.lt(h));
        }
        Ok(q.one(&self.db).await?.map(|m| FeedPosition { seq: m.seq, id: m.id }))
    }

    /// Up to `limit` events of referrals where `organization_id` is referrer or recipient, in feed order
    /// (commit order), strictly after `after` and below `horizon` (see [`Store::feed_horizon`]).
    pub async fn events_after(
        &self,
        organization_id: &str,
        after: Option<&FeedPosition>,
        horizon: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(FeedPosition, Event)>> {
        use sea_orm::sea_query::Query;
        let parties = Query::select()
            .column(referral::Column::Id)
            .from(referral::Entity)
            .cond_where(
                Condition::any()
                    .add(referral::Column::ReferrerOrganizationId.eq(organization_id.to_owned()))
                    .add(referral::Column::RecipientOrganizationId.eq(organization_id.to_owned())),
            )
            .to_owned();
        let mut q = referral_event::Entity::find()
            .filter(referral_event::Column::ReferralId.in_subquery(parties))
            .order_by_asc(referral_event::Column::Seq)
            .order_by_asc(referral_event::Column::Id)
            .limit(limit);
        if let Some(a) = after {
            q = q.filter(
                Condition::any().add(referral_event::Column::Seq.gt(a.seq)).add(
                    Condition::all()
                        .add(referral_event::Column::Seq.eq(a.seq))
                        .add(referral_event::Column::Id.gt(a.id.clone())),
                ),
            );
        }
        if let Some(h) = horizon {
            q = q.filter(referral_event::Column::Seq.lt(h));
        }
        q.all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                let at = FeedPosition { seq: m.seq, id: m.id.clone() };
                event_to_domain(m).map(|e| (at, e))
            })
            .collect()
    }

    /// A page of referrals (without events), newest first, strictly older than `before` (an id: ids are
    /// UUIDv7 and so ordered by creation time).
    pub async fn list_referrals(
        &self,
        filter: &ReferralFilter,
        before: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Referral>> {
        let mut q = referral::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        referral::Column::ReferrerOrganizationId.eq(filter.organization_id.clone()),
                    )
                    .add(
                        referral::Column::RecipientOrganizationId
                            .eq(filter.organization_id.clone()),
                    ),
            )
            .order_by_desc(referral::Column::Id)
            .limit(limit);
        if let Some(status) = filter.status {
            q = q.filter(referral::Column::Status.eq(status.code()));
        }
        if let Some(urgency) = filter.urgency {
            q = q.filter(referral::Column::Urgency.eq(urgency.code()));
        }
        if let Some(now) = filter.overdue_at {
            q = q
                .filter(referral::Column::Status.eq(Status::Requested.code()))
                .filter(referral::Column::ResponseDueAtMs.lt(time::to_ms(now)));
        }
        if let Some(client_id) = &filter.client_id {
            q = q.filter(referral::Column::ClientId.eq(client_id.as_str()));
        }
        if !filter.provider_ids.is_empty() {
            q = q.filter(
                referral::Column::ProviderId.is_in(filter.provider_ids.iter().map(|p| p.as_str())),
            );
        }
        if let Some(before) = before {
            q = q.filter(referral::Column::Id.lt(before.to_owned()));
        }
        q.all(&self.db).await?.into_iter().map(|m| referral_to_domain(m, Vec::new())).collect()
    }

    /// Every event of every referral of `client_id`, in time order, with the provider of each referral.
    pub async fn timeline(&self, client_id: &ClientId) -> Result<Vec<TimelineItem>> {
        let referrals: HashMap<String, referral::Model> = referral::Entity::find()
            .filter(referral::Column::ClientId.eq(client_id.as_str()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let events = referral_event::Entity::find()
            .filter(referral_event::Column::ClientId.eq(client_id.as_str()))
            .order_by_asc(referral_event::Column::OccurredAtMs)
            .order_by_asc(referral_event::Column::Id)
            .all(&self.db)
            .await?;
        events
            .into_iter()
            .map(|m| {
                let r = referrals.get(&m.referral_id);
                let field =
                    |f: fn(&referral::Model) -> &String| r.map(f).cloned().unwrap_or_default();
                Ok(TimelineItem {
                    provider_id: field(|r| &r.provider_id),
                    referrer_organization_id: field(|r| &r.referrer_organization_id),
                    recipient_organization_id: field(|r| &r.recipient_organization_id),
                    event: event_to_domain(m)?,
                })
            })
            .collect()
    }

    /// Claims one pending outbox row for `owner` if nobody holds a live lease on it.
    pub async fn claim_outbox(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OutboxItem>> {
        if !OUTBOX.claim_one(&self.db, id, owner, time::to_ms(now), ms(Self::LEASE)).await? {
            return Ok(None);
        }
        outbox::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .map(outbox_to_domain)
            .transpose()
    }

    /// Claims up to `limit` due outbox rows for `owner` in one statement (`continuum_outbox`), oldest due
    /// first.
    pub async fn claim_due_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<OutboxItem>> {
        let ids =
            OUTBOX.claim_due(&self.db, owner, time::to_ms(now), ms(Self::LEASE), limit).await?;
        let mut rows =
            outbox::Entity::find().filter(outbox::Column::Id.is_in(ids)).all(&self.db).await?;
        rows.sort_by(|a, b| (a.next_attempt_at_ms, &a.id).cmp(&(b.next_attempt_at_ms, &b.id)));
        rows.into_iter().map(outbox_to_domain).collect()
    }

    /// Records that `owner` delivered a claimed row.
    pub async fn outbox_delivered(&self, id: &str, owner: &str, now: DateTime<Utc>) -> Result<()> {
        self.finish_outbox(id, owner, DELIVERED, None, now).await
    }

    /// Records that a claimed row can never be delivered (the peer refused it for good).
    pub async fn outbox_dead(
        &self,
        id: &str,
        owner: &str,
        error_code: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.finish_outbox(id, owner, DEAD, Some(error_code), now).await
    }

    async fn finish_outbox(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sets = vec![
            ("state", state.into()),
            ("finished_at_ms", time::to_ms(now).into()),
            ("last_error", error.map(str::to_owned).into()),
        ];
        OUTBOX.release(&self.db, id, owner, sets).await?;
        Ok(())
    }

    /// Records a failed delivery: one more attempt, the next one not before `now + delay`, lease released.
    pub async fn outbox_retry_later(
        &self,
        id: &str,
        owner: &str,
        attempts: i32,
        delay: Duration,
        error_code: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sets = vec![
            ("attempts", attempts.into()),
            ("next_attempt_at_ms", time::to_ms(now).saturating_add(ms(delay)).into()),
            ("last_error", Some(error_code.to_owned()).into()),
        ];
        OUTBOX.release(&self.db, id, owner, sets).await?;
        Ok(())
    }

    /// How many outbox rows are still waiting for delivery (for health output and tests).
    pub async fn outbox_pending(&self) -> Result<u64> {
        Ok(OUTBOX.pending_count(&self.db).await?)
    }
}
