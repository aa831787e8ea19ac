//! All database access of the intake service. Handlers and the routing worker call these functions with
//! domain types; no other module touches sea-orm.
//!
//! Personal health information is encrypted before it reaches a row: the whole submission (names, date
//! of birth, contact details, free text, screener answers, treatment history, stressors, substance use,
//! consent and its history, a clinician override's reason) is stored as one AES-GCM field
//! (`intake.submission`), so the tables hold ids, codes and ciphertext only; assessments hold scores,
//! codes and fired rules (never free text). Reads and writes of that
//! information are recorded in the append-only `audit_events` table.
//!
//! An intake, its first assessment and its routing task are written in one transaction, so an accepted
//! intake always has a routing task (the transactional outbox). Routing tasks are claimed with a lease, so
//! the request that created a task and the background worker (on any replica) never run it at once.

pub mod entities;
pub mod migration;
pub mod tasks;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{ClientId, IntakeId};
use continuum_vocab::{LevelOfCare, RiskLevel, time};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::domain::{
    Assessment, Intake, NewIntake, RoutingDecision, RoutingPlan, RoutingStatus, TaskToOpen,
};
use crate::error::{Error, Result};
use entities::{assessment, audit_event, intake, routing};

use std::sync::Arc;

use continuum_auth::crypto::FieldCipher;

/// The purpose string bound into the submission ciphertext.
const SUBMISSION_FIELD: &str = "intake.submission";
/// The purpose string of the clinic client id's blind index.
const EXTERNAL_ID_FIELD: &str = "intake.external_client_id";
/// The purpose string bound into a reassessment override reason's ciphertext.
const OVERRIDE_REASON_FIELD: &str = "intake.assessment.override_reason";

pub use migration::Migrator;

/// The routing tasks as a leased queue (`continuum_outbox`).
const ROUTINGS: continuum_outbox::Queue = continuum_outbox::Queue {
    name: "routings",
    table: "routings",
    key: "intake_id",
    pending: "status = 'pending'",
    due: "next_attempt_at_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};

/// The intake store.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// The hot path's writes (the intake's batch, the routing's finish) over kept connections.
    writer: continuum_db::Writer,
    cipher: Arc<FieldCipher>,
}

/// One audit row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Who.
    pub user_id: String,
    /// Caller's organization (the reader's or writer's).
    pub organization_id: String,
    /// The organization that owns the record (took the intake).
    pub owner_organization_id: String,
    /// "read" or "write".
    pub action: &'static str,
    /// Record kind.
    pub record_type: &'static str,
    /// Record id.
    pub record_id: String,
    /// Client.
    pub client_id: String,
    /// RPC.
    pub rpc: &'static str,
    /// Purpose of use.
    pub purpose: String,
    /// Trace id, when traced.
    pub trace_id: String,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Id.
    pub id: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// The record.
    pub record: AuditRecord,
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

/// The pending routing task a new intake is stored with, leased to its submitting request's router.
#[derive(Debug)]
pub struct NewRouting<'a> {
    /// The pending decision (its crisis resources included).
    pub decision: RoutingDecision,
    /// The router holding the lease.
    pub lease_owner: &'a str,
    /// Until when it holds it.
    pub lease_until: DateTime<Utc>,
    /// The user the routing's peer calls act for.
    pub acting_user_id: &'a str,
    /// Matching's plan, asked before the intake is stored, if it answered in time: stored with the task,
    /// before the routing makes any call on it ([`crate::app::routing`], exactly-once).
    pub plan: Option<&'a RoutingPlan>,
}

/// A claimed routing task.
#[derive(Clone, Debug)]
pub struct RoutingTask {
    /// The intake.
    pub intake: Intake,
    /// The plan so far, as stored with the task.
    pub plan: Option<RoutingPlan>,
    /// Attempts made before this one.
    pub attempts: i32,
    /// `traceparent` of the request that created the task.
    pub trace_parent: String,
    /// The user who submitted the intake (or asked for the re-route), empty when unknown: peer calls act
    /// for them and the intake's organization.
    pub acting_user_id: String,
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
    /// A store over an open, migrated connection, encrypting with `cipher`.
    pub fn new(db: DatabaseConnection, cipher: Arc<FieldCipher>) -> Self {
        Self { writer: continuum_db::Writer::new(&db), db, cipher }
    }

    fn seal(&self, submission: &NewIntake) -> Result<String> {
        self.cipher
            .encrypt(SUBMISSION_FIELD, json(submission)?.as_bytes())
            .map_err(Error::Unexpected)
    }

    fn open(&self, stored: &str) -> Result<NewIntake> {
        let plain = self
            .cipher
            .decrypt(SUBMISSION_FIELD, stored)
            .map_err(|e| Error::Unexpected(e.context("decrypting a submission")))?;
        serde_json::from_slice(&plain)
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("stored submission: {e}")))
    }

    /// Appends audit rows.
    pub async fn audit(&self, records: Vec<AuditRecord>) -> Result<()> {
        insert_audit(&self.db, records).await
    }

    /// Audit events about the records of `owner_organization_id`, by client and/or user, oldest first,
    /// after `after` (an event id).
    pub async fn list_audit(
        &self,
        owner_organization_id: &str,
        client_id: Option<&ClientId>,
        user_id: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<AuditEvent>> {
        let client_id = client_id.map(ClientId::as_str);
        let mut q = audit_event::Entity::find()
            .filter(audit_event::Column::OwnerOrganizationId.eq(owner_organization_id))
            .order_by_asc(audit_event::Column::Id)
            .limit(limit);
        if let Some(c) = client_id {
            q = q.filter(audit_event::Column::ClientId.eq(c));
        }
        if let Some(u) = user_id {
            q = q.filter(audit_event::Column::UserId.eq(u));
        }
        if let Some(a) = after {
            q = q.filter(audit_event::Column::Id.gt(a));
        }
        Ok(q.all(&self.db)
            .await?
            .into_iter()
            .map(|m| AuditEvent {
                id: m.id,
                occurred_at: time::from_ms(m.occurred_at_ms),
                record: AuditRecord {
                    user_id: m.user_id,
                    organization_id: m.organization_id,
                    owner_organization_id: m.owner_organization_id,
                    action: if m.action == "write" { "write" } else { "read" },
                    record_type: match m.record_type.as_str() {
                        "assessment" => "assessment",
                        "consent" => "consent",
                        _ => "intake",
                    },
                    record_id: m.record_id,
                    client_id: m.client_id,
                    rpc: rpc_name(&m.rpc),
                    purpose: m.purpose,
                    trace_id: m.trace_id,
                },
            })
            .collect())
    }

    /// The connection (for health probes).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The intake stored under an idempotency key, if any: (id, body fingerprint).
    pub async fn find_by_key(
        &self,
        organization_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>> {
        Ok(intake::Entity::find()
            .filter(intake::Column::OrganizationId.eq(organization_id))
            .filter(intake::Column::IdempotencyKey.eq(key))
            .one(&self.db)
            .await?
            .map(|m| (m.id, m.request_fingerprint)))
    }

    /// Stores a new intake, its assessment, its audit row, the clinical tasks it opens and its pending
    /// routing task, all at once ([`continuum_db::Batch`]) — or reports the earlier intake with the same
    /// key.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_intake(
        &self,
        id: String,
        submission: NewIntake,
        fingerprint: String,
        assessment: Assessment,
        routing: NewRouting<'_>,
        now: DateTime<Utc>,
        tasks: &[TaskToOpen],
        audit: impl FnOnce(&Intake) -> AuditRecord + Send,
    ) -> Result<Inserted> {
        let NewRouting { decision, lease_owner, lease_until, acting_user_id, plan } = routing;
        // The same clinic client (by the clinic's own id) keeps one Continuum client id.
        let client_id =
            if submission.external_client_id.is_empty() {
                None
            } else {
                intake::Entity::find()
                    .filter(intake::Column::OrganizationId.eq(submission.organization_id.as_str()))
                    .filter(intake::Column::ExternalClientId.eq(
                        self.cipher.blind_index(EXTERNAL_ID_FIELD, &submission.external_client_id),
                    ))
                    // The index's predicate, as a literal: the index holds only intakes with a clinic id.
                    .filter(Expr::cust("external_client_id <> ''"))
                    .one(&self.db)
                    .await?
                    .map(|m| m.client_id)
            }
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let now_ms = time::to_ms(now);
        // Every row of a new intake is written in one batch: one statement on PostgreSQL, so one round
        // trip instead of a transaction's six (issue 12), shared with the intakes stored at the same moment
        // (group commit, `continuum_db::group`). An earlier intake under the same key is found by the
        // unique index on the intake row, which fails this batch alone (a replay then reads it back), not
        // by a lookup first: a new intake, the common case, saves another round trip.
        let mut batch = continuum_db::Batch::new(&self.db);
        batch.push(&intake::Entity::insert(intake::ActiveModel {
            id: Set(id.clone()),
            organization_id: Set(submission.organization_id.to_string()),
            idempotency_key: Set(submission.idempotency_key.clone()),
            request_fingerprint: Set(fingerprint.clone()),
            client_id: Set(client_id.clone()),
            // Only a keyed hash: the clinic's own client id is an identifier (it is kept, encrypted, in the
            // submission).
            external_client_id: Set(if submission.external_client_id.is_empty() {
                String::new()
            } else {
                self.cipher.blind_index(EXTERNAL_ID_FIELD, &submission.external_client_id)
            }),
            received_at_ms: Set(now_ms),
            risk_level: Set(assessment.risk_level.code().to_owned()),
            level_of_care: Set(assessment.level_of_care.code().to_owned()),
            // Not kept up to date (see the entity): the task's status is the one ListIntakes reads.
            routing_status: Set(decision.status.code().to_owned()),
            submission: Set(self.seal(&submission)?),
            assessment_id: Set(assessment.id.clone()),
        }));
        batch.push(&assessment::Entity::insert(assessment::ActiveModel {
            id: Set(assessment.id.clone()),
            intake_id: Set(id.clone()),
            client_id: Set(client_id.clone()),
            assessed_at_ms: Set(time::to_ms(assessment.assessed_at)),
            body: Set(json(&assessment)?),
            sealed_override_reason: Set(None),
        }));
        batch.push(&routing::Entity::insert(routing::ActiveModel {
            intake_id: Set(id.clone()),
            status: Set(decision.status.code().to_owned()),
            // Stored before the routing calls anyone on it, so that whichever attempt runs next follows
            // the same plan, and a call whose answer was lost (the attempt cancelled, its finish not
            // written) is made again under the same key and answered with what it made. A fresh plan
            // would see the slot that call took as full and could send the client elsewhere too (a
            // referral and a waitlist entry; a slot taken by no referral).
            plan: Set(plan.map(json).transpose()?),
            decision: Set(json(&decision)?),
            attempts: Set(0),
            next_attempt_at_ms: Set(now_ms),
            lease_until_ms: Set(time::to_ms(lease_until)),
            lease_owner: Set(lease_owner.to_owned()),
            last_error: Set(String::new()),
            updated_at_ms: Set(now_ms),
            trace_parent: Set(continuum_telemetry::current_traceparent()),
            acting_user_id: Set(acting_user_id.to_owned()),
        }));
        let opened = tasks::rows(
            &tasks::TaskOwner {
                intake_id: &id,
                client_id: &client_id,
                organization_id: submission.organization_id.as_str(),
                assessment_id: &assessment.id,
            },
            tasks,
            now,
        );
        if let Some(insert) = tasks::insert(&opened) {
            batch.push(&insert);
        }
        let intake = Intake {
            id: IntakeId::from_stored(&id)?,
            client_id: ClientId::from_stored(&client_id)?,
            submission,
            assessment,
            latest_override_reason: None,
            routing: decision,
            received_at: now,
            tasks: opened.iter().cloned().map(tasks::from_row).collect::<Result<_>>()?,
        };
        // The audit row commits with the intake: once the intake is stored, nothing after can fail the
        // call (issue 12), and no stored intake lacks its audit row.
        if let Some(insert) = audit_insert(vec![audit(&intake)]) {
            batch.push(&insert);
        }
        if let Err(e) = batch.run_shared(&self.writer).await {
            // An earlier intake, or a concurrent twin, with the same key holds the unique index: replay it.
            let err = Error::from(e);
            if matches!(err, Error::AlreadyExists { .. })
                && let Some((intake_id, fingerprint)) = self
                    .find_by_key(
                        intake.submission.organization_id.as_str(),
                        &intake.submission.idempotency_key,
                    )
                    .await?
            {
                return Ok(Inserted::Replayed { intake_id, fingerprint });
            }
            return Err(err);
        }
        tasks::count_opened(tasks);
        Ok(Inserted::Created(Box::new(intake)))
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
        let latest_override_reason = match &a.sealed_override_reason {
            None => None,
            Some(sealed) => {
                let plain = self
                    .cipher
                    .decrypt(OVERRIDE_REASON_FIELD, sealed)
                    .map_err(|e| Error::Unexpected(e.context("decrypting an override reason")))?;
                Some(String::from_utf8(plain).map_err(|e| Error::Unexpected(e.into()))?)
            }
        };
        let id = IntakeId::from_stored(&m.id)?;
        let tasks = self.tasks_of_intake(&id).await?;
        Ok(Intake {
            tasks,
            id,
            client_id: ClientId::from_stored(&m.client_id)?,
            submission: self.open(&m.submission)?,
            assessment: parse(&a.body, "assessment")?,
            latest_override_reason,
            routing: parse(&r.decision, "routing decision")?,
            received_at: time::from_ms(m.received_at_ms),
        })
    }

    /// One intake with its latest assessment and routing decision.
    pub async fn get_intake(&self, id: &IntakeId) -> Result<Intake> {
        self.load_intake(id.as_str()).await
    }

    /// One intake by its stored id (the routing queue's key).
    async fn load_intake(&self, id: &str) -> Result<Intake> {
        let m = intake::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("intake", id))?;
        self.load(m).await
    }

    /// A page of intakes, newest first, strictly older than `before_id` when given.
    pub async fn list_intakes(
        &self,
        f: &IntakeFilter,
        before_id: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Intake>> {
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
            // The status lives on the routing task (one row per intake, keyed by its id). It is written as
            // a literal (a fixed code, never input) so the partial indexes of the rare statuses (pending,
            // needs a coordinator) serve a prepared statement's generic plan too; the common ones (referred,
            // waitlisted) are found walking the organization's intakes newest first.
            q = q.filter(
                intake::Column::Id.in_subquery(
                    Query::select()
                        .column(routing::Column::IntakeId)
                        .from(routing::Entity)
                        .and_where(Expr::cust(format!("routings.status = '{}'", s.code())))
                        .to_owned(),
                ),
            );
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
    pub async fn claim_routing(
        &self,
        intake_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<RoutingTask>> {
        let (now, lease_ms) = (time::to_ms(now), time::to_ms(lease_until) - time::to_ms(now));
        if !ROUTINGS.claim_one(&self.db, intake_id, owner, now, lease_ms).await? {
            return Ok(None);
        }
        let r = routing::Entity::find_by_id(intake_id.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("routing", intake_id))?;
        let plan = r.plan.as_deref().map(|p| parse(p, "routing plan")).transpose()?;
        let intake = self.load_intake(intake_id).await?;
        Ok(Some(RoutingTask {
            intake,
            plan,
            attempts: r.attempts,
            trace_parent: r.trace_parent,
            acting_user_id: r.acting_user_id,
        }))
    }

    /// Claims up to `limit` pending routing tasks due at `now` for `owner` (a lease of `lease`) in one
    /// statement (`continuum_outbox`: `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas split a
    /// backlog); returns their intake ids.
    pub async fn claim_due_routings(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: u64,
    ) -> Result<Vec<String>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        Ok(ROUTINGS.claim_due(&self.db, owner, time::to_ms(now), lease_ms, limit).await?)
    }

    /// Number of routings still pending (for logs and metrics).
    pub async fn pending_routings(&self) -> Result<u64> {
        Ok(ROUTINGS.pending_count(&self.db).await?)
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

    /// Records the final decision of a task the caller holds (dropping its plan), and opens the clinical
    /// task the decision calls for (a crisis client left without a crisis referral), in one transaction.
    pub async fn finish_routing(
        &self,
        intake: &Intake,
        owner: &str,
        decision: &RoutingDecision,
        open_task: Option<TaskToOpen>,
    ) -> Result<bool> {
        let intake_id = intake.id.as_str();
        let now = time::to_ms(Utc::now());
        // The plan is a pending task's working document (every retry follows it); a finished task drops it,
        // so the row written at each finish is the decision alone (issue 12: the plan was most of the
        // routing row's bytes, copied into every finish's new row version and its WAL). A reopened
        // routing asks for a fresh plan anyway.
        let sets = vec![
            ("status", decision.status.code().into()),
            ("plan", Option::<String>::None.into()),
            ("decision", json(decision)?.into()),
            ("attempts", decision.attempts.into()),
            ("last_error", "".into()),
            ("updated_at_ms", now.into()),
        ];
        let Some(t) = open_task else {
            // The common case: one statement, on a kept connection, not waiting for the disk. A finish
            // lost in a database crash leaves the task leased and pending: the worker runs it again once
            // the lease lapses, and the same idempotency keys give back the same referral or entry.
            return Ok(ROUTINGS
                .release_kept(&self.writer, intake_id, owner, sets, continuum_db::Commit::Unflushed)
                .await?);
        };
        let txn = self.db.begin().await?;
        if !ROUTINGS.release(&txn, intake_id, owner, sets).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        let task_owner = tasks::TaskOwner {
            intake_id,
            client_id: intake.client_id.as_str(),
            organization_id: intake.submission.organization_id.as_str(),
            assessment_id: "",
        };
        tasks::open(&txn, &task_owner, &[t], Utc::now()).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Releases a task for a later attempt at `next_at`, recording the attempt count and an error code.
    pub async fn retry_later(
        &self,
        intake_id: &str,
        owner: &str,
        decision: &RoutingDecision,
        next_at: DateTime<Utc>,
        error_code: &str,
    ) -> Result<()> {
        let sets = vec![
            ("decision", json(decision)?.into()),
            ("attempts", decision.attempts.into()),
            ("next_attempt_at_ms", time::to_ms(next_at).into()),
            ("last_error", error_code.into()),
            ("updated_at_ms", time::to_ms(Utc::now()).into()),
        ];
        ROUTINGS.release(&self.db, intake_id, owner, sets).await?;
        Ok(())
    }

    /// Makes every deferred routing due now (a peer that failed answers again); how many.
    pub async fn expedite_routings(&self, now: DateTime<Utc>) -> Result<u64> {
        Ok(ROUTINGS.expedite(&self.db, time::to_ms(now)).await?)
    }

    /// Replaces the consent of an intake (re-encrypting its submission). The caller read the intake just
    /// before; a concurrent consent change in between is lost to the last writer (consent changes are rare
    /// and every one is in the audit log).
    pub async fn update_consent(
        &self,
        intake_id: &IntakeId,
        consent: &crate::domain::Consent,
    ) -> Result<Intake> {
        let intake_id = intake_id.as_str();
        let txn = self.db.begin().await?;
        let m = intake::Entity::find_by_id(intake_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("intake", intake_id))?;
        let mut submission = self.open(&m.submission)?;
        submission.consent = consent.clone();
        intake::Entity::update_many()
            .col_expr(intake::Column::Submission, Expr::value(self.seal(&submission)?))
            .filter(intake::Column::Id.eq(intake_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        self.load_intake(intake_id).await
    }

    /// Opens the routing of an intake again (a reassessment put the client on the crisis pathway): the task
    /// is pending with no plan and `decision`, leased to `owner` until `lease_until`. Done in one
    /// statement on the finished task, so two reassessments cannot both reopen it.
    pub async fn reopen_routing(
        &self,
        intake_id: &str,
        decision: &RoutingDecision,
        owner: &str,
        lease_until: DateTime<Utc>,
        acting_user_id: &str,
    ) -> Result<bool> {
        let now = time::to_ms(Utc::now());
        let res = routing::Entity::update_many()
            .col_expr(routing::Column::Status, Expr::value(RoutingStatus::Pending.code()))
            .col_expr(routing::Column::Plan, Expr::value(Option::<String>::None))
            .col_expr(routing::Column::Decision, Expr::value(json(decision)?))
            .col_expr(routing::Column::Attempts, Expr::value(0))
            .col_expr(routing::Column::NextAttemptAtMs, Expr::value(now))
            .col_expr(routing::Column::LeaseUntilMs, Expr::value(time::to_ms(lease_until)))
            .col_expr(routing::Column::LeaseOwner, Expr::value(owner))
            .col_expr(routing::Column::LastError, Expr::value(""))
            .col_expr(routing::Column::UpdatedAtMs, Expr::value(now))
            .col_expr(routing::Column::ActingUserId, Expr::value(acting_user_id))
            .filter(routing::Column::IntakeId.eq(intake_id))
            .filter(routing::Column::Status.ne(RoutingStatus::Pending.code()))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Who took each intake of `client_id` (every organization's: this is what access is decided from,
    /// and it carries ids only), oldest first.
    pub async fn ownership_of_client(
        &self,
        client_id: &ClientId,
    ) -> Result<Vec<crate::app::access::Owned>> {
        let client_id = client_id.as_str();
        Ok(intake::Entity::find()
            .select_only()
            .columns([intake::Column::Id, intake::Column::ClientId, intake::Column::OrganizationId])
            .filter(intake::Column::ClientId.eq(client_id.to_owned()))
            .order_by_asc(intake::Column::Id)
            .limit(200)
            .into_tuple::<(String, String, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(intake_id, client_id, organization_id)| crate::app::access::Owned {
                intake_id,
                client_id,
                organization_id,
            })
            .collect())
    }

    /// One client's intakes submitted by `organization_id`, oldest first, each with every assessment made
    /// of it (the first and each reassessment), oldest first: what the care timeline shows of intake.
    pub async fn client_history(
        &self,
        organization_id: &str,
        client_id: &ClientId,
    ) -> Result<Vec<(Intake, Vec<Assessment>)>> {
        let client_id = client_id.as_str();
        let rows = intake::Entity::find()
            .filter(intake::Column::OrganizationId.eq(organization_id.to_owned()))
            .filter(intake::Column::ClientId.eq(client_id.to_owned()))
            .order_by_asc(intake::Column::Id)
            .limit(200)
            .all(&self.db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            let assessments = assessment::Entity::find()
                .filter(assessment::Column::IntakeId.eq(m.id.clone()))
                .order_by_asc(assessment::Column::AssessedAtMs)
                .order_by_asc(assessment::Column::Id)
                .all(&self.db)
                .await?
                .iter()
                .map(|a| parse(&a.body, "assessment"))
                .collect::<Result<Vec<Assessment>>>()?;
            out.push((self.load(m).await?, assessments));
        }
        Ok(out)
    }

    /// Stores a reassessment and makes it the intake's latest; a clinician override's reason is encrypted.
    pub async fn insert_reassessment(
        &self,
        intake: &Intake,
        a: &Assessment,
        override_reason: Option<&str>,
        open_tasks: &[TaskToOpen],
    ) -> Result<()> {
        let sealed = override_reason
            .map(|r| {
                self.cipher.encrypt(OVERRIDE_REASON_FIELD, r.as_bytes()).map_err(Error::Unexpected)
            })
            .transpose()?;
        let txn = self.db.begin().await?;
        assessment::ActiveModel {
            id: Set(a.id.clone()),
            intake_id: Set(intake.id.to_string()),
            client_id: Set(intake.client_id.to_string()),
            assessed_at_ms: Set(time::to_ms(a.assessed_at)),
            body: Set(json(a)?),
            sealed_override_reason: Set(sealed),
        }
        .insert(&txn)
        .await?;
        intake::Entity::update_many()
            .col_expr(intake::Column::AssessmentId, Expr::value(a.id.clone()))
            .col_expr(intake::Column::RiskLevel, Expr::value(a.risk_level.code()))
            .col_expr(intake::Column::LevelOfCare, Expr::value(a.level_of_care.code()))
            .filter(intake::Column::Id.eq(intake.id.as_str()))
            .exec(&txn)
            .await?;
        let owner = tasks::TaskOwner {
            intake_id: intake.id.as_str(),
            client_id: intake.client_id.as_str(),
            organization_id: intake.submission.organization_id.as_str(),
            assessment_id: &a.id,
        };
        tasks::open(&txn, &owner, open_tasks, a.assessed_at).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The RPC names the intake service records (stored as text; mapped back to the static names).
pub const AUDITED_RPCS: [&str; 7] = [
    "continuum.intake.v1.IntakeService/SubmitIntake",
    "continuum.intake.v1.IntakeService/GetIntake",
    "continuum.intake.v1.IntakeService/ListIntakes",
    "continuum.intake.v1.IntakeService/RecordReassessment",
    "continuum.intake.v1.IntakeService/RecordConsent",
    "continuum.intake.v1.IntakeService/RevokeConsent",
    "continuum.intake.v1.IntakeService/ListCareEvents",
];

fn rpc_name(stored: &str) -> &'static str {
    AUDITED_RPCS.iter().copied().find(|r| *r == stored).unwrap_or("unknown")
}

/// Writes audit rows on `conn` (the pool, or the transaction of the change they record).
async fn insert_audit<C: sea_orm::ConnectionTrait>(
    conn: &C,
    records: Vec<AuditRecord>,
) -> Result<()> {
    if let Some(insert) = audit_insert(records) {
        insert.exec(conn).await?;
    }
    Ok(())
}

/// The insert of `records` into the audit log (none for no record).
fn audit_insert(
    records: Vec<AuditRecord>,
) -> Option<sea_orm::InsertMany<audit_event::ActiveModel>> {
    if records.is_empty() {
        return None;
    }
    let now = time::to_ms(Utc::now());
    let rows = records.into_iter().map(|r| audit_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        occurred_at_ms: Set(now),
        user_id: Set(r.user_id),
        organization_id: Set(r.organization_id),
        action: Set(r.action.to_owned()),
        record_type: Set(r.record_type.to_owned()),
        record_id: Set(r.record_id),
        client_id: Set(r.client_id),
        rpc: Set(r.rpc.to_owned()),
        purpose: Set(r.purpose),
        trace_id: Set(r.trace_id),
        owner_organization_id: Set(r.owner_organization_id),
    });
    Some(audit_event::Entity::insert_many(rows))
}
