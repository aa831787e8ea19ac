//! All database access of the intake service. Handlers and the routing worker call these functions with
//! domain types; no other module touches sea-orm.
//!
//! An intake, its first assessment and its routing task are written in one transaction, so an accepted
//! intake always has a routing task (the transactional outbox). Routing tasks are claimed with a lease, so
//! the request that created a task and the background worker (on any replica) never run it at once.

pub mod entities;
pub mod migration;

use chrono::{DateTime, Utc};
use continuum_vocab::{LevelOfCare, RiskLevel, time};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use crate::domain::{Assessment, Intake, NewIntake, RoutingDecision, RoutingPlan, RoutingStatus};
use crate::error::{Error, Result};
use entities::{assessment, intake, routing};

pub use migration::Migrator;

/// The intake store.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

/// What inserting a submission did.
#[derive(Debug)]
pub enum Inserted {
    /// A new intake was stored with a pending routing task leased to the caller.
    Created(Box<Intake>),
    /// The idempotency key was used before: the stored intake's id and body fingerprint.
    Replayed {
        /// Stored intake id.
        intake_id: String,
        /// Fingerprint of the body first submitted with the key.
        fingerprint: String,
    },
}

/// A claimed routing task.
#[derive(Clone, Debug)]
pub struct RoutingTask {
    /// The intake.
    pub intake: Intake,
    /// The plan so far.
    pub plan: Option<RoutingPlan>,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// Filters for listing intakes.
#[derive(Clone, Debug, Default)]
pub struct IntakeFilter {
    /// Organization (required).
    pub organization_id: String,
    /// Risk level.
    pub risk_level: Option<RiskLevel>,
    /// Level of care.
    pub level_of_care: Option<LevelOfCare>,
    /// Routing status.
    pub routing_status: Option<RoutingStatus>,
    /// Received at or after.
    pub received_after: Option<DateTime<Utc>>,
    /// Received before.
    pub received_before: Option<DateTime<Utc>>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Unexpected(e.into()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| Error::Unexpected(anyhow::anyhow!("stored {what}: {e}")))
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

    /// The intake stored under an idempotency key, if any: (id, body fingerprint).
    pub async fn find_by_key(&self, organization_id: &str, key: &str) -> Result<Option<(String, String)>> {
        Ok(intake::Entity::find()
            .filter(intake::Column::OrganizationId.eq(organization_id))
            .filter(intake::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await?
            .map(|m| (m.id, m.request_fingerprint)))
    }

    /// Stores a new intake, its assessment and a pending routing task leased to `lease_owner` until
    /// `lease_until`, all in one transaction — or reports the earlier intake with the same key.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_intake(
        &self,
        id: String,
        submission: NewIntake,
        fingerprint: String,
        assessment: Assessment,
        decision: RoutingDecision,
        now: DateTime<Utc>,
        lease_owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<Inserted> {
        let txn = self.db.begin().await?;
        if let Some(m) = intake::Entity::find()
            .filter(intake::Column::OrganizationId.eq(submission.organization_id.clone()))
            .filter(intake::Column::IdempotencyKey.eq(submission.idempotency_key.clone()))
            .one(&txn)
            .await?
        {
            return Ok(Inserted::Replayed { intake_id: m.id, fingerprint: m.request_fingerprint });
        }
        // The same clinic client (by the clinic's own id) keeps one Continuum client id.
        let client_id = if submission.external_client_id.is_empty() {
            None
        } else {
            intake::Entity::find()
                .filter(intake::Column::OrganizationId.eq(submission.organization_id.clone()))
                .filter(intake::Column::ExternalClientId.eq(submission.external_client_id.clone()))
                .one(&txn)
                .await?
                .map(|m| m.client_id)
        }
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let now_ms = time::to_ms(now);
        let inserted = intake::ActiveModel {
            id: Set(id.clone()),
            organization_id: Set(submission.organization_id.clone()),
            idempotency_key: Set(submission.idempotency_key.clone()),
            request_fingerprint: Set(fingerprint.clone()),
            client_id: Set(client_id.clone()),
            external_client_id: Set(submission.external_client_id.clone()),
            received_at_ms: Set(now_ms),
            risk_level: Set(assessment.risk_level.code().to_owned()),
            level_of_care: Set(assessment.level_of_care.code().to_owned()),
            routing_status: Set(decision.status.code().to_owned()),
            submission: Set(json(&submission)?),
            assessment_id: Set(assessment.id.clone()),
        }
        .insert(&txn)
        .await;
        if let Err(e) = inserted {
            // A concurrent twin with the same key won the unique index: replay it.
            let err = Error::from(e);
            if matches!(err, Error::AlreadyExists { .. }) {
                drop(txn);
                if let Some((intake_id, fingerprint)) = self.find_by_key(&submission.organization_id, &submission.idempotency_key).await? {
                    return Ok(Inserted::Replayed { intake_id, fingerprint });
                }
            }
            return Err(err);
        }
        assessment::ActiveModel {
            id: Set(assessment.id.clone()),
            intake_id: Set(id.clone()),
            client_id: Set(client_id.clone()),
            assessed_at_ms: Set(time::to_ms(assessment.assessed_at)),
            body: Set(json(&assessment)?),
        }
        .insert(&txn)
        .await?;
        routing::ActiveModel {
            intake_id: Set(id.clone()),
            status: Set(decision.status.code().to_owned()),
            plan: Set(None),
            decision: Set(json(&decision)?),
            attempts: Set(0),
            next_attempt_at_ms: Set(now_ms),
            lease_until_ms: Set(time::to_ms(lease_until)),
            lease_owner: Set(lease_owner.to_owned()),
            last_error: Set(String::new()),
            updated_at_ms: Set(now_ms),
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Inserted::Created(Box::new(Intake { id, client_id, submission, assessment, routing: decision, received_at: now })))
    }

    async fn load(&self, m: intake::Model) -> Result<Intake> {
        let a = assessment::Entity::find_by_id(m.assessment_id.clone())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("intake without its assessment")))?;
        let r = routing::Entity::find_by_id(m.id.clone())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("intake without its routing task")))?;
        Ok(Intake {
            id: m.id,
            client_id: m.client_id,
            submission: parse(&m.submission, "submission")?,
            assessment: parse(&a.body, "assessment")?,
            routing: parse(&r.decision, "routing decision")?,
            received_at: time::from_ms(m.received_at_ms),
        })
    }

    /// One intake with its latest assessment and routing decision.
    pub async fn get_intake(&self, id: &str) -> Result<Intake> {
        let m = intake::Entity::find_by_id(id.to_owned()).one(&self.db).await?.ok_or_else(|| Error::not_found("intake", id))?;
        self.load(m).await
    }

    /// A page of intakes, newest first, strictly older than `before_id` when given.
    pub async fn list_intakes(&self, f: &IntakeFilter, before_id: Option<&str>, limit: u64) -> Result<Vec<Intake>> {
        let mut q = intake::Entity::find()
            .filter(intake::Column::OrganizationId.eq(f.organization_id.clone()))
            .order_by_desc(intake::Column::Id)
            .limit(limit);
        if let Some(r) = f.risk_level {
            q = q.filter(intake::Column::RiskLevel.eq(r.code()));
        }
        if let Some(l) = f.level_of_care {
            q = q.filter(intake::Column::LevelOfCare.eq(l.code()));
        }
        if let Some(s) = f.routing_status {
            q = q.filter(intake::Column::RoutingStatus.eq(s.code()));
        }
        if let Some(t) = f.received_after {
            q = q.filter(intake::Column::ReceivedAtMs.gte(time::to_ms(t)));
        }
        if let Some(t) = f.received_before {
            q = q.filter(intake::Column::ReceivedAtMs.lt(time::to_ms(t)));
        }
        if let Some(b) = before_id {
            q = q.filter(intake::Column::Id.lt(b.to_owned()));
        }
        let rows = q.all(&self.db).await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            out.push(self.load(m).await?);
        }
        Ok(out)
    }

    /// Claims the routing task of `intake_id` for `owner` until `lease_until`, when it is still pending and
    /// either unleased, lease-expired, or already leased to `owner`. `None` when someone else holds it or it
    /// is finished.
    pub async fn claim_routing(&self, intake_id: &str, owner: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Result<Option<RoutingTask>> {
        let res = routing::Entity::update_many()
            .col_expr(routing::Column::LeaseOwner, Expr::value(owner))
            .col_expr(routing::Column::LeaseUntilMs, Expr::value(time::to_ms(lease_until)))
            .filter(routing::Column::IntakeId.eq(intake_id))
            .filter(routing::Column::Status.eq(RoutingStatus::Pending.code()))
            .filter(
                Condition::any()
                    .add(routing::Column::LeaseUntilMs.lt(time::to_ms(now)))
                    .add(routing::Column::LeaseOwner.eq(owner)),
            )
            .exec(&self.db)
            .await?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        let r = routing::Entity::find_by_id(intake_id.to_owned()).one(&self.db).await?.ok_or_else(|| Error::not_found("routing", intake_id))?;
        let plan = r.plan.as_deref().map(|p| parse(p, "routing plan")).transpose()?;
        let intake = self.get_intake(intake_id).await?;
        Ok(Some(RoutingTask { intake, plan, attempts: r.attempts }))
    }

    /// Pending routing tasks due at `now` and not leased, oldest first.
    pub async fn due_routings(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<String>> {
        let now = time::to_ms(now);
        Ok(routing::Entity::find()
            .filter(routing::Column::Status.eq(RoutingStatus::Pending.code()))
            .filter(routing::Column::NextAttemptAtMs.lte(now))
            .filter(routing::Column::LeaseUntilMs.lt(now))
            .order_by_asc(routing::Column::NextAttemptAtMs)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.intake_id)
            .collect())
    }

    /// Number of routings still pending (for logs and metrics).
    pub async fn pending_routings(&self) -> Result<u64> {
        use sea_orm::PaginatorTrait;
        Ok(routing::Entity::find().filter(routing::Column::Status.eq(RoutingStatus::Pending.code())).count(&self.db).await?)
    }

    /// Saves the plan of a task the caller holds.
    pub async fn save_plan(&self, intake_id: &str, owner: &str, plan: &RoutingPlan) -> Result<()> {
        routing::Entity::update_many()
            .col_expr(routing::Column::Plan, Expr::value(json(plan)?))
            .col_expr(routing::Column::UpdatedAtMs, Expr::value(time::to_ms(Utc::now())))
            .filter(routing::Column::IntakeId.eq(intake_id))
            .filter(routing::Column::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records the final decision of a task the caller holds, on the task and on the intake.
    pub async fn finish_routing(&self, intake_id: &str, owner: &str, decision: &RoutingDecision) -> Result<bool> {
        let now = time::to_ms(Utc::now());
        let txn = self.db.begin().await?;
        let res = routing::Entity::update_many()
            .col_expr(routing::Column::Status, Expr::value(decision.status.code()))
            .col_expr(routing::Column::Decision, Expr::value(json(decision)?))
            .col_expr(routing::Column::Attempts, Expr::value(decision.attempts))
            .col_expr(routing::Column::LeaseUntilMs, Expr::value(0i64))
            .col_expr(routing::Column::LastError, Expr::value(""))
            .col_expr(routing::Column::UpdatedAtMs, Expr::value(now))
            .filter(routing::Column::IntakeId.eq(intake_id))
            .filter(routing::Column::LeaseOwner.eq(owner))
            .filter(routing::Column::Status.eq(RoutingStatus::Pending.code()))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        intake::Entity::update_many()
            .col_expr(intake::Column::RoutingStatus, Expr::value(decision.status.code()))
            .filter(intake::Column::Id.eq(intake_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Releases a task for a later attempt at `next_at`, recording the attempt count and an error code.
    pub async fn retry_later(&self, intake_id: &str, owner: &str, decision: &RoutingDecision, next_at: DateTime<Utc>, error_code: &str) -> Result<()> {
        routing::Entity::update_many()
            .col_expr(routing::Column::Decision, Expr::value(json(decision)?))
            .col_expr(routing::Column::Attempts, Expr::value(decision.attempts))
            .col_expr(routing::Column::NextAttemptAtMs, Expr::value(time::to_ms(next_at)))
            .col_expr(routing::Column::LeaseUntilMs, Expr::value(0i64))
            .col_expr(routing::Column::LastError, Expr::value(error_code))
            .col_expr(routing::Column::UpdatedAtMs, Expr::value(time::to_ms(Utc::now())))
            .filter(routing::Column::IntakeId.eq(intake_id))
            .filter(routing::Column::LeaseOwner.eq(owner))
            .filter(routing::Column::Status.eq(RoutingStatus::Pending.code()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Stores a reassessment and makes it the intake's latest.
    pub async fn insert_reassessment(&self, intake: &Intake, a: &Assessment) -> Result<()> {
        let txn = self.db.begin().await?;
        assessment::ActiveModel {
            id: Set(a.id.clone()),
            intake_id: Set(intake.id.clone()),
            client_id: Set(intake.client_id.clone()),
            assessed_at_ms: Set(time::to_ms(a.assessed_at)),
            body: Set(json(a)?),
        }
        .insert(&txn)
        .await?;
        intake::Entity::update_many()
            .col_expr(intake::Column::AssessmentId, Expr::value(a.id.clone()))
            .col_expr(intake::Column::RiskLevel, Expr::value(a.risk_level.code()))
            .col_expr(intake::Column::LevelOfCare, Expr::value(a.level_of_care.code()))
            .filter(intake::Column::Id.eq(intake.id.clone()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
