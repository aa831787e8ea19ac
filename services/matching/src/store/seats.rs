//! Capacity queries: open slots of clinicians, cohort seats of programs, and the capacity-event outbox.
//!
//! A program with cohorts keeps each cohort's seat counts in a `cohorts` row (its profile JSON keeps the
//! rest of the entry). A take is a conditional UPDATE on the chosen cohort's row (`open_seats >= n`), so
//! two concurrent takes of the last seat never both succeed; the hold row records the cohort, so giving
//! the capacity back (`gives_back`) refills the same cohort. Every read overlays the rows on the profile
//! ([`attach`]), so the directory snapshot, Recommend and AssignBatch see the live counts, and a program's
//! `open_slots` is the open seats of its joinable cohorts. A take from a provider without cohorts (the
//! row's `has_cohorts`) is one conditional UPDATE of the provider's row, written with its hold row in the
//! same statement on PostgreSQL, so the row is locked only while that statement commits
//! ([`Store::take_open_slots`]).
//!
//! Every rise of a provider's open capacity writes a `capacity_events` row in the transaction that made
//! it ([`record_rise`]); the worker in `crate::capacity_events` delivers those rows to the waitlist.

use std::collections::HashMap;

use chrono::Utc;
use continuum_vocab::ids::ProviderId;
use continuum_vocab::time;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, Statement, TransactionTrait,
};

use super::entities::{capacity_event, capacity_hold, cohort, provider};
use super::{Store, to_domain};
use crate::domain::capacity;
use crate::domain::{Cohort, Provider};
use crate::error::{Error, ErrorReason, Result};

/// Provider ids per `IN (...)` query.
const CHUNK: usize = 500;
/// Attempts of a take when concurrent takes empty the chosen cohort first.
const TAKE_ATTEMPTS: usize = 4;

/// Capacity-event states.
pub const EVENT_PENDING: &str = "pending";
/// Delivered to the waitlist.
pub const EVENT_DELIVERED: &str = "delivered";
/// Refused for good by the waitlist.
pub const EVENT_DEAD: &str = "dead";

/// One capacity change (UpdateCapacity with a delta).
#[derive(Clone, Copy, Debug, Default)]
pub struct CapacityChange<'a> {
    /// Provider.
    pub provider_id: &'a str,
    /// Negative takes, positive gives back.
    pub delta: i32,
    /// Idempotency key: applied at most once.
    pub hold_key: Option<&'a str>,
    /// Take even when nothing is open (the count stops at 0).
    pub allow_overbook: bool,
    /// Programs: this cohort instead of the one the rules pick.
    pub cohort_code: Option<&'a str>,
    /// A give-back of the capacity taken under this hold key (seats go back to its cohort).
    pub gives_back: Option<&'a str>,
}

/// A capacity event claimed for delivery.
#[derive(Clone, Debug)]
pub struct CapacityEvent {
    /// Event id (the waitlist's idempotency key).
    pub id: String,
    /// Provider.
    pub provider_id: String,
    /// The provider's organization.
    pub organization_id: String,
    /// Slots opened.
    pub slots: i32,
    /// The opening change's traceparent ("" when none).
    pub traceparent: String,
    /// Attempts before this one.
    pub attempts: i32,
}

fn to_cohort(r: &cohort::Model) -> Cohort {
    Cohort { code: r.code.clone(), start_ms: r.start_ms, seats: r.seats, open_seats: r.open_seats }
}

/// Puts the stored seat counts on `p`'s profile cohorts; a program with cohorts has as many open slots
/// as its joinable cohorts have open seats.
fn overlay(p: &mut Provider, rows: &[cohort::Model], now_ms: i64) {
    for c in &mut p.profile.cohorts {
        if let Some(r) = rows.iter().find(|r| r.code == c.code) {
            *c = to_cohort(r);
        }
    }
    if !p.profile.cohorts.is_empty() {
        p.open_slots = capacity::open_seats_now(&p.profile.cohorts, now_ms);
    }
}

fn group(rows: Vec<cohort::Model>) -> HashMap<String, Vec<cohort::Model>> {
    let mut by: HashMap<String, Vec<cohort::Model>> = HashMap::new();
    for r in rows {
        by.entry(r.provider_id.clone()).or_default().push(r);
    }
    by
}

/// Overlays the cohort rows of the programs among `providers`.
pub(super) async fn attach<C: ConnectionTrait>(db: &C, providers: &mut [Provider]) -> Result<()> {
    let now = time::to_ms(Utc::now());
    let ids: Vec<String> =
        providers.iter().filter(|p| !p.profile.cohorts.is_empty()).map(|p| p.id.clone()).collect();
    let mut rows = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        rows.extend(
            cohort::Entity::find()
                .filter(cohort::Column::ProviderId.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    let by = group(rows);
    for p in providers.iter_mut().filter(|p| !p.profile.cohorts.is_empty()) {
        overlay(p, by.get(&p.id).map_or(&[][..], Vec::as_slice), now);
    }
    Ok(())
}

/// [`attach`] for the whole directory (one query).
pub(super) async fn attach_all<C: ConnectionTrait>(
    db: &C,
    providers: &mut [Provider],
) -> Result<()> {
    let now = time::to_ms(Utc::now());
    let by = group(cohort::Entity::find().all(db).await?);
    for p in providers.iter_mut().filter(|p| !p.profile.cohorts.is_empty()) {
        overlay(p, by.get(&p.id).map_or(&[][..], Vec::as_slice), now);
    }
    Ok(())
}

/// One provider row with its cohort seats.
async fn load<C: ConnectionTrait>(db: &C, provider_id: &str) -> Result<Provider> {
    let m = provider::Entity::find_by_id(provider_id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("provider", provider_id))?;
    let mut out = [to_domain(m)?];
    attach(db, &mut out).await?;
    let [p] = out;
    Ok(p)
}

/// The row that marks `key` applied for change `c` (programs: with the cohort it touched).
fn hold_row(
    c: &CapacityChange<'_>,
    key: &str,
    now: i64,
    cohort_code: Option<String>,
) -> capacity_hold::ActiveModel {
    capacity_hold::ActiveModel {
        hold_key: Set(key.to_owned()),
        provider_id: Set(c.provider_id.to_owned()),
        delta: Set(c.delta),
        applied_at_ms: Set(now),
        cohort_code: Set(cohort_code),
    }
}

/// A new cohort row (its open seats as given).
pub(super) fn cohort_row(provider_id: &str, c: &Cohort) -> cohort::ActiveModel {
    cohort::ActiveModel {
        provider_id: Set(provider_id.to_owned()),
        code: Set(c.code.clone()),
        start_ms: Set(c.start_ms),
        seats: Set(c.seats),
        open_seats: Set(c.open_seats),
    }
}

/// Writes a program's cohorts after an upsert. The rule for existing cohorts: the seats taken stay
/// taken, so their open count moves by the change in seats (`domain::capacity::reseat`, evaluated in SQL
/// against the row's current values: an upsert never clobbers a seat taken concurrently), and the
/// `open_seats` of the upsert is used only for a cohort it creates. Cohorts it no longer lists go.
pub(super) async fn sync_cohorts<C: ConnectionTrait>(
    db: &C,
    provider_id: &str,
    cohorts: &[Cohort],
) -> Result<()> {
    let existing: Vec<String> = cohort::Entity::find()
        .filter(cohort::Column::ProviderId.eq(provider_id.to_owned()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    for c in cohorts {
        if existing.contains(&c.code) {
            let open = Expr::col(cohort::Column::OpenSeats)
                .add(c.seats)
                .sub(Expr::col(cohort::Column::Seats));
            let reseated = Expr::case(open.clone().lt(0), 0)
                .case(open.clone().gt(c.seats), c.seats)
                .finally(open);
            cohort::Entity::update_many()
                .col_expr(cohort::Column::OpenSeats, reseated.into())
                .col_expr(cohort::Column::Seats, Expr::value(c.seats))
                .col_expr(cohort::Column::StartMs, Expr::value(c.start_ms))
                .filter(cohort::Column::ProviderId.eq(provider_id.to_owned()))
                .filter(cohort::Column::Code.eq(c.code.clone()))
                .exec(db)
                .await?;
        } else {
            cohort_row(provider_id, c).insert(db).await?;
        }
    }
    let gone: Vec<String> =
        existing.into_iter().filter(|code| !cohorts.iter().any(|c| &c.code == code)).collect();
    if !gone.is_empty() {
        cohort::Entity::delete_many()
            .filter(cohort::Column::ProviderId.eq(provider_id.to_owned()))
            .filter(cohort::Column::Code.is_in(gone))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Writes a capacity event when `p`'s open capacity is above `before` (in the caller's transaction).
pub(super) async fn record_rise<C: ConnectionTrait>(
    db: &C,
    p: &Provider,
    before: i32,
    now_ms: i64,
) -> Result<Option<String>> {
    let opened = p.open_slots.saturating_sub(Ord::max(before, 0));
    if opened <= 0 || !p.accepting_new_clients {
        return Ok(None);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let traceparent = continuum_telemetry::current_traceparent();
    capacity_event::ActiveModel {
        id: Set(id.clone()),
        provider_id: Set(p.id.clone()),
        organization_id: Set(p.organization_id.clone()),
        slots: Set(opened),
        traceparent: Set((!traceparent.is_empty()).then_some(traceparent)),
        state: Set(EVENT_PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at_ms: Set(now_ms),
        lease_owner: Set(None),
        lease_until_ms: Set(0),
        last_error: Set(None),
        created_at_ms: Set(now_ms),
        finished_at_ms: Set(None),
    }
    .insert(db)
    .await?;
    Ok(Some(id))
}

fn no_capacity(open: i32) -> Error {
    Error::precondition(ErrorReason::NoCapacity, format!("provider has {open} open slot(s)"))
}

impl Store {
    /// Adds `c.delta` to a provider's open capacity atomically: a clinician's open slots, or the seats of
    /// one of a program's cohorts (a take uses the earliest joinable cohort with open seats, or
    /// `c.cohort_code`; a give-back goes to the cohort of the take named by `c.gives_back`, else
    /// `c.cohort_code`, else the earliest joinable cohort with a seat taken). Taking more than is open
    /// fails with `NO_CAPACITY` unless `allow_overbook` (then the count stops at 0). With a `hold_key` the
    /// change applies at most once; the boolean says whether it applied this time. A rise of the open
    /// capacity writes a capacity event in the same transaction.
    pub async fn change_capacity(&self, c: CapacityChange<'_>) -> Result<(Provider, bool)> {
        if let Some(key) = c.hold_key
            && capacity_hold::Entity::find_by_id(key.to_owned()).one(&self.db).await?.is_some()
        {
            return Ok((super::get_provider(&self.db, c.provider_id).await?, false));
        }
        // A program with cohorts, as just read, goes straight to the locked path: the one-statement take
        // could only refuse it and read the row again to learn why.
        if self.refuse_a_hopeless_take(&c).await? {
            self.apply_locked(c).await
        } else {
            self.apply_change(c).await
        }
    }

    /// [`Store::change_capacity`] without its reads ahead of the lock: a take from a provider without
    /// cohorts is [`Store::take_open_slots`], any other change [`Store::apply_locked`].
    pub async fn apply_change(&self, c: CapacityChange<'_>) -> Result<(Provider, bool)> {
        match self.take_open_slots(&c, time::to_ms(Utc::now())).await? {
            Some(taken) => Ok(taken),
            None => self.apply_locked(c).await,
        }
    }

    /// A change decided under the provider's row lock, taken first (the general path: cohort seats,
    /// give-backs, overbooking): for a caller that has just found the hold key unused and the provider
    /// with an open slot itself ([`Store::taken_under`], [`Store::open_of`]). A hold key applied
    /// meanwhile fails the insert of its row (`ALREADY_EXISTS`), and the transaction changes nothing.
    pub async fn apply_locked(&self, c: CapacityChange<'_>) -> Result<(Provider, bool)> {
        let now = time::to_ms(Utc::now());
        let id = c.provider_id;
        let txn = self.db.begin().await?;
        // Lock the provider row first (every writer of a provider does), then read the count before the
        // change (current, since concurrent writers wait on the lock), then change it.
        let res = provider::Entity::update_many()
            .col_expr(provider::Column::Version, Expr::col(provider::Column::Version).add(1))
            .col_expr(provider::Column::UpdatedAtMs, Expr::value(now))
            .filter(provider::Column::Id.eq(id.to_owned()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(Error::not_found("provider", id));
        }
        let before = load(&txn, id).await?;
        let rows = cohort::Entity::find()
            .filter(cohort::Column::ProviderId.eq(id.to_owned()))
            .all(&txn)
            .await?;
        let cohort_code = if rows.is_empty() {
            if c.cohort_code.is_some() {
                return Err(Error::invalid("cohort_code", "the provider has no cohorts"));
            }
            change_slots(&txn, &c, before.open_slots).await?;
            None
        } else if c.delta < 0 {
            Some(take_seats(&txn, &c, rows, now).await?)
        } else {
            Some(give_seats(&txn, &c, &rows, now).await?)
        };
        if let Some(key) = c.hold_key {
            hold_row(&c, key, now, cohort_code).insert(&txn).await?;
        }
        let after = load(&txn, id).await?;
        record_rise(&txn, &after, before.open_slots, now).await?;
        txn.commit().await?;
        Ok((after, true))
    }

    /// A take without overbooking from a provider without cohorts (a clinician, a program without
    /// cohorts: every routing's take but a cohort seat) decided by one conditional UPDATE, which locks,
    /// checks and changes the row at once: on PostgreSQL one statement that also writes the hold row, so
    /// the row stays locked only while that statement commits. Routings ranked alike race for the same
    /// last slots (issue 12): behind the general path's lock, held over a transaction of seven round
    /// trips, each refused taker waited for the whole transaction of the one before it (with 20,000
    /// providers, 5 takes per intake waited 9 ms each on average). Refused here, a take writes nothing.
    /// `None` for any other change and for a program with cohorts: the general path decides.
    async fn take_open_slots(
        &self,
        c: &CapacityChange<'_>,
        now: i64,
    ) -> Result<Option<(Provider, bool)>> {
        if c.delta >= 0 || c.allow_overbook || c.cohort_code.is_some() || c.gives_back.is_some() {
            return Ok(None);
        }
        for _ in 0..TAKE_ATTEMPTS {
            if let Some(m) = self.take_slots_of(c, now).await? {
                return Ok(Some((to_domain(m)?, true)));
            }
            // Why nothing was taken, read without a lock: the row is gone, has cohorts, or had too few
            // slots under the UPDATE's lock (unless a give-back has come since: then again).
            match provider::Entity::find_by_id(c.provider_id.to_owned()).one(&self.db).await? {
                None => return Err(Error::not_found("provider", c.provider_id)),
                Some(p) if p.has_cohorts => return Ok(None),
                Some(p) if p.open_slots + c.delta < 0 => return Err(no_capacity(p.open_slots)),
                Some(_) => {}
            }
        }
        Err(Error::Unavailable(format!(
            "capacity of provider {} kept changing during the take",
            c.provider_id
        )))
    }

    /// A take of one slot under `key` from a listed provider read without cohorts ([`Store::open_of`]):
    /// the one conditional statement of [`Store::take_open_slots`], without asking why when it takes
    /// nothing, since a take that may fall back passes over that provider either way (full by now, gone,
    /// or given cohorts since the read). The provider after the take, if it took.
    pub async fn take_listed_slot(&self, provider_id: &str, key: &str) -> Result<Option<Provider>> {
        let c =
            CapacityChange { provider_id, delta: -1, hold_key: Some(key), ..Default::default() };
        let now = time::to_ms(Utc::now());
        self.take_slots_of(&c, now).await?.map(to_domain).transpose()
    }

    /// The conditional take of [`Store::take_open_slots`]: the provider's row after it, or `None` when no
    /// row matched (missing, with cohorts, too few slots).
    async fn take_slots_of(
        &self,
        c: &CapacityChange<'_>,
        now: i64,
    ) -> Result<Option<provider::Model>> {
        let take = provider::Entity::update_many()
            .col_expr(
                provider::Column::OpenSlots,
                Expr::col(provider::Column::OpenSlots).add(c.delta),
            )
            .col_expr(provider::Column::Version, Expr::col(provider::Column::Version).add(1))
            .col_expr(provider::Column::UpdatedAtMs, Expr::value(now))
            .filter(provider::Column::Id.eq(c.provider_id))
            .filter(provider::Column::HasCohorts.eq(false))
            .filter(Expr::col(provider::Column::OpenSlots).add(c.delta).gte(0));
        if self.db.get_database_backend() != DbBackend::Postgres {
            // SQLite: one writer at a time anyway; the same UPDATE and the hold row in a transaction.
            let txn = self.db.begin().await?;
            let taken = take.exec_with_returning(&txn).await?.pop();
            if let (Some(_), Some(key)) = (&taken, c.hold_key) {
                hold_row(c, key, now, None).insert(&txn).await?;
            }
            txn.commit().await?;
            return Ok(taken);
        }
        let Some(key) = c.hold_key else {
            return Ok(take.exec_with_returning(&self.db).await?.pop());
        };
        // One statement: the hold row is written only with a take (a key applied meanwhile fails the
        // statement on its unique index, and nothing is taken).
        let sql = r#"WITH taken AS (
    UPDATE providers SET open_slots = open_slots + $1, version = version + 1, updated_at_ms = $2
    WHERE id = $3 AND has_cohorts = $4 AND open_slots + $1 >= 0
    RETURNING *
), held AS (
    INSERT INTO capacity_holds (hold_key, provider_id, delta, applied_at_ms, cohort_code)
    SELECT $5, id, $1, $2, NULL FROM taken
)
SELECT * FROM taken"#;
        let values = [c.delta.into(), now.into(), c.provider_id.into(), false.into(), key.into()];
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        Ok(provider::Entity::find().from_raw_sql(statement).one(&self.db).await?)
    }

    /// Refuses a take of a clinician's slots (no cohorts, no overbooking) that the committed count cannot
    /// cover, before the provider's row lock: concurrent takers of a provider's last slot (clients ranked
    /// alike, routed at once) no longer queue behind each other's transactions only to be refused there
    /// (issue 12: with 20,000 providers, 6 refused takes per routed intake waited 13 ms each on the lock).
    /// Reads without a lock; whenever the read allows the take, the locked path decides. Whether the take
    /// read a provider with cohorts (`false` when it read nothing: not a take without overbooking).
    async fn refuse_a_hopeless_take(&self, c: &CapacityChange<'_>) -> Result<bool> {
        if c.delta >= 0 || c.allow_overbook {
            return Ok(false);
        }
        let Some(p) = provider::Entity::find_by_id(c.provider_id.to_owned()).one(&self.db).await?
        else {
            return Err(Error::not_found("provider", c.provider_id));
        };
        // A program's seats are its cohorts' (the row's count is not theirs): the locked path decides.
        if p.open_slots + c.delta >= 0 || p.has_cohorts {
            Ok(p.has_cohorts)
        } else {
            Err(no_capacity(p.open_slots))
        }
    }

    /// Sets a provider's open slots, or with `cohort_code` one cohort's open seats (at most its seats).
    /// A program with cohorts needs the cohort; a rise writes a capacity event.
    pub async fn set_capacity(
        &self,
        provider_id: &ProviderId,
        open_slots: i32,
        cohort_code: Option<&str>,
    ) -> Result<Provider> {
        let provider_id = provider_id.as_str();
        let now = time::to_ms(Utc::now());
        let txn = self.db.begin().await?;
        // Lock the provider row first, then read the count before the change.
        let res = provider::Entity::update_many()
            .col_expr(provider::Column::Version, Expr::col(provider::Column::Version).add(1))
            .col_expr(provider::Column::UpdatedAtMs, Expr::value(now))
            .filter(provider::Column::Id.eq(provider_id.to_owned()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(Error::not_found("provider", provider_id));
        }
        let before = load(&txn, provider_id).await?;
        let mut update =
            provider::Entity::update_many().filter(provider::Column::Id.eq(provider_id.to_owned()));
        let rows = cohort::Entity::find()
            .filter(cohort::Column::ProviderId.eq(provider_id.to_owned()))
            .count(&txn)
            .await?;
        match (cohort_code, rows) {
            (None, 0) => {
                update = update.col_expr(provider::Column::OpenSlots, Expr::value(open_slots));
                update.exec(&txn).await?;
            }
            (None, _) => {
                return Err(Error::invalid(
                    "cohort_code",
                    "is required for a program with cohorts",
                ));
            }
            (Some(_), 0) => {
                return Err(Error::invalid("cohort_code", "the provider has no cohorts"));
            }
            (Some(_), _) => {}
        }
        if let Some(code) = cohort_code {
            let row = cohort::Entity::find_by_id((provider_id.to_owned(), code.to_owned()))
                .one(&txn)
                .await?
                .ok_or_else(|| Error::invalid("cohort_code", "is not a cohort of the provider"))?;
            if open_slots > row.seats {
                return Err(Error::invalid(
                    "set_open_slots",
                    format!("must be at most the cohort's {} seat(s)", row.seats),
                ));
            }
            cohort::Entity::update_many()
                .col_expr(cohort::Column::OpenSeats, Expr::value(open_slots))
                .filter(cohort::Column::ProviderId.eq(provider_id.to_owned()))
                .filter(cohort::Column::Code.eq(code.to_owned()))
                .exec(&txn)
                .await?;
        }
        let after = load(&txn, provider_id).await?;
        record_rise(&txn, &after, before.open_slots, now).await?;
        txn.commit().await?;
        Ok(after)
    }

    /// Claims up to `limit` due capacity events for `owner` (a lease of `lease_ms`), in one statement
    /// (`continuum_outbox`): two replicas never deliver the same row at the same time.
    pub async fn claim_due_events(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<CapacityEvent>> {
        let now = time::to_ms(Utc::now());
        let ids = CAPACITY_EVENTS.claim_due(&self.db, owner, now, lease_ms, limit).await?;
        let mut rows = capacity_event::Entity::find()
            .filter(capacity_event::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        rows.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(rows
            .into_iter()
            .map(|e| CapacityEvent {
                id: e.id,
                provider_id: e.provider_id,
                organization_id: e.organization_id,
                slots: e.slots,
                traceparent: e.traceparent.unwrap_or_default(),
                attempts: e.attempts,
            })
            .collect())
    }

    async fn finish_event(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        attempts: i32,
        error: Option<&str>,
    ) -> Result<()> {
        let now = time::to_ms(Utc::now());
        let sets = vec![
            ("state", state.into()),
            ("finished_at_ms", now.into()),
            ("last_error", error.map(str::to_owned).into()),
            ("attempts", attempts.into()),
        ];
        CAPACITY_EVENTS.release(&self.db, id, owner, sets).await?;
        Ok(())
    }

    /// Marks a claimed event delivered (after `attempts` attempts).
    pub async fn event_delivered(&self, id: &str, owner: &str, attempts: i32) -> Result<()> {
        self.finish_event(id, owner, EVENT_DELIVERED, attempts, None).await
    }

    /// Marks a claimed event refused for good (after `attempts` attempts).
    pub async fn event_dead(
        &self,
        id: &str,
        owner: &str,
        attempts: i32,
        error: &str,
    ) -> Result<()> {
        self.finish_event(id, owner, EVENT_DEAD, attempts, Some(error)).await
    }

    /// Puts a claimed event back for another attempt after `delay_ms`.
    pub async fn event_retry_later(
        &self,
        id: &str,
        owner: &str,
        attempts: i32,
        delay_ms: i64,
        error: &str,
    ) -> Result<()> {
        let now = time::to_ms(Utc::now());
        let sets = vec![
            ("attempts", attempts.into()),
            ("next_attempt_at_ms", (now + delay_ms).into()),
            ("last_error", Some(error.to_owned()).into()),
        ];
        CAPACITY_EVENTS.release(&self.db, id, owner, sets).await?;
        Ok(())
    }

    /// Capacity events not delivered yet.
    pub async fn pending_events(&self) -> Result<u64> {
        Ok(CAPACITY_EVENTS.pending_count(&self.db).await?)
    }
}

/// The capacity events as a leased queue.
const CAPACITY_EVENTS: continuum_outbox::Queue = continuum_outbox::Queue {
    name: "capacity_events",
    table: "capacity_events",
    key: "id",
    pending: "state = 'pending'",
    due: "next_attempt_at_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};

/// A clinician's (or cohortless program's) slots: one conditional UPDATE.
async fn change_slots<C: ConnectionTrait>(
    txn: &C,
    c: &CapacityChange<'_>,
    open: i32,
) -> Result<()> {
    let slots = Expr::col(provider::Column::OpenSlots).add(c.delta);
    let new_value = if c.allow_overbook {
        Expr::case(slots.clone().lt(0), 0).finally(slots.clone()).into()
    } else {
        slots.clone()
    };
    let mut update = provider::Entity::update_many()
        .col_expr(provider::Column::OpenSlots, new_value)
        .filter(provider::Column::Id.eq(c.provider_id.to_owned()));
    if !c.allow_overbook && c.delta < 0 {
        update = update.filter(slots.gte(0));
    }
    if c.delta > 0 {
        update = update
            .filter(Expr::col(provider::Column::OpenSlots).lte(crate::domain::MAX_SLOTS - c.delta));
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Err(if c.delta < 0 {
            no_capacity(open)
        } else {
            Error::precondition(ErrorReason::CapacityLimit, "open slots would exceed the maximum")
        });
    }
    Ok(())
}

/// Takes `-c.delta` seats from one cohort; returns its code. A cohort emptied by a concurrent take
/// between the read and the UPDATE is skipped and the next one tried.
async fn take_seats<C: ConnectionTrait>(
    txn: &C,
    c: &CapacityChange<'_>,
    mut rows: Vec<cohort::Model>,
    now: i64,
) -> Result<String> {
    let seats = -c.delta;
    for _ in 0..TAKE_ATTEMPTS {
        let cohorts: Vec<Cohort> = rows.iter().map(to_cohort).collect();
        let code = match c.cohort_code {
            Some(code) => {
                if !cohorts.iter().any(|x| x.code == code) {
                    return Err(Error::invalid("cohort_code", "is not a cohort of the provider"));
                }
                code.to_owned()
            }
            None => match capacity::pick_take(&cohorts, now, seats, c.allow_overbook) {
                Some(x) => x.code.clone(),
                None => return Err(no_capacity(capacity::open_seats_now(&cohorts, now))),
            },
        };
        let open = Expr::col(cohort::Column::OpenSeats).sub(seats);
        let new_value = if c.allow_overbook {
            Expr::case(open.clone().lt(0), 0).finally(open.clone()).into()
        } else {
            open.clone()
        };
        let mut update = cohort::Entity::update_many()
            .col_expr(cohort::Column::OpenSeats, new_value)
            .filter(cohort::Column::ProviderId.eq(c.provider_id.to_owned()))
            .filter(cohort::Column::Code.eq(code.clone()));
        if !c.allow_overbook {
            update = update.filter(open.gte(0));
        }
        if update.exec(txn).await?.rows_affected == 1 {
            return Ok(code);
        }
        if c.cohort_code.is_some() {
            let left = rows.iter().find(|r| r.code == code).map_or(0, |r| r.open_seats);
            return Err(no_capacity(left));
        }
        rows = cohort::Entity::find()
            .filter(cohort::Column::ProviderId.eq(c.provider_id.to_owned()))
            .all(txn)
            .await?;
    }
    Err(no_capacity(0))
}

/// Gives `c.delta` seats back to one cohort (never above its seats); returns its code.
async fn give_seats<C: ConnectionTrait>(
    txn: &C,
    c: &CapacityChange<'_>,
    rows: &[cohort::Model],
    now: i64,
) -> Result<String> {
    let exists = |code: &str| rows.iter().any(|r| r.code == code);
    let taken_from = match c.gives_back {
        Some(key) => capacity_hold::Entity::find_by_id(key.to_owned())
            .one(txn)
            .await?
            .filter(|h| h.provider_id == c.provider_id && h.delta < 0)
            .and_then(|h| h.cohort_code)
            .filter(|code| exists(code)),
        None => None,
    };
    let code = match (taken_from, c.cohort_code) {
        (Some(code), _) => code,
        (None, Some(code)) if exists(code) => code.to_owned(),
        (None, Some(_)) => {
            return Err(Error::invalid("cohort_code", "is not a cohort of the provider"));
        }
        (None, None) => {
            let cohorts: Vec<Cohort> = rows.iter().map(to_cohort).collect();
            capacity::pick_give(&cohorts, now).map(|x| x.code.clone()).ok_or_else(|| {
                Error::precondition(
                    ErrorReason::CapacityLimit,
                    "every cohort of the program has all its seats open",
                )
            })?
        }
    };
    let open = Expr::col(cohort::Column::OpenSeats).add(c.delta);
    let clamped = Expr::case(
        open.clone().gt(Expr::col(cohort::Column::Seats)),
        Expr::col(cohort::Column::Seats),
    )
    .finally(open);
    cohort::Entity::update_many()
        .col_expr(cohort::Column::OpenSeats, clamped.into())
        .filter(cohort::Column::ProviderId.eq(c.provider_id.to_owned()))
        .filter(cohort::Column::Code.eq(code.clone()))
        .exec(txn)
        .await?;
    Ok(code)
}
