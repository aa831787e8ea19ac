//! Clinical tasks in the store: opened in the transaction of the assessment or routing decision that
//! calls for them, listed for an organization's worklist and a client's timeline, completed with a version
//! check, and escalated by the sweep with a conditional update (so replicas sweeping at once escalate each
//! task once).

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{ClientId, ClinicalTaskId, IntakeId, OrganizationId};
use continuum_vocab::time;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Store;
use super::entities::clinical_task;
use crate::domain::{ClinicalTask, TaskKind, TaskStatus, TaskToOpen};
use crate::error::{Error, Result};

/// Whose task a new one is.
#[derive(Debug)]
pub struct TaskOwner<'a> {
    /// The intake.
    pub intake_id: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// The organization that took the intake.
    pub organization_id: &'a str,
    /// The assessment that opened it (empty for a routing task).
    pub assessment_id: &'a str,
}

/// A filter of an organization's tasks.
#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub status: Option<TaskStatus>,
    /// Only tasks of this intake.
    pub intake_id: Option<IntakeId>,
}

pub(super) fn from_row(m: clinical_task::Model) -> Result<ClinicalTask> {
    let kind = TaskKind::from_code(&m.kind)
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("unknown task kind {:?}", m.kind)))?;
    Ok(ClinicalTask {
        id: ClinicalTaskId::from_stored(&m.id)?,
        kind,
        intake_id: IntakeId::from_stored(&m.intake_id)?,
        client_id: ClientId::from_stored(&m.client_id)?,
        organization_id: OrganizationId::from_stored(&m.organization_id)?,
        assessment_id: m.assessment_id,
        opened_at: time::from_ms(m.opened_at_ms),
        due_at: time::from_ms(m.due_at_ms),
        escalated_at: m.escalated_at_ms.map(time::from_ms),
        completed_at: m.completed_at_ms.map(time::from_ms),
        completed_by: m.completed_by,
        version: m.version,
    })
}

/// Opens `tasks` on `conn` (the transaction of the change that calls for them); returns them as stored.
pub(super) async fn open<C: ConnectionTrait>(
    conn: &C,
    owner: &TaskOwner<'_>,
    tasks: &[TaskToOpen],
    now: DateTime<Utc>,
) -> Result<Vec<ClinicalTask>> {
    let rows = rows(owner, tasks, now);
    if let Some(insert) = insert(&rows) {
        insert.exec(conn).await?;
    }
    count_opened(tasks);
    rows.into_iter().map(from_row).collect()
}

/// The rows of `tasks` opened at `now` for `owner`'s intake.
pub(super) fn rows(
    owner: &TaskOwner<'_>,
    tasks: &[TaskToOpen],
    now: DateTime<Utc>,
) -> Vec<clinical_task::Model> {
    if tasks.is_empty() {
        return Vec::new();
    }
    let trace_parent = continuum_telemetry::current_traceparent();
    tasks
        .iter()
        .map(|t| clinical_task::Model {
            id: uuid::Uuid::now_v7().to_string(),
            kind: t.kind.code().to_owned(),
            intake_id: owner.intake_id.to_owned(),
            client_id: owner.client_id.to_owned(),
            organization_id: owner.organization_id.to_owned(),
            assessment_id: owner.assessment_id.to_owned(),
            opened_at_ms: time::to_ms(now),
            due_at_ms: time::to_ms(t.due_at),
            escalated_at_ms: None,
            completed_at_ms: None,
            completed_by: String::new(),
            version: 1,
            trace_parent: trace_parent.clone(),
        })
        .collect()
}

/// The insert of `rows` (none for no row).
pub(super) fn insert(
    rows: &[clinical_task::Model],
) -> Option<sea_orm::InsertMany<clinical_task::ActiveModel>> {
    (!rows.is_empty()).then(|| {
        clinical_task::Entity::insert_many(
            rows.iter().cloned().map(clinical_task::ActiveModel::from),
        )
    })
}

/// Counts `tasks` as opened (once their rows are stored).
pub(super) fn count_opened(tasks: &[TaskToOpen]) {
    for t in tasks {
        crate::telemetry::task_opened(t.kind);
    }
}

impl Store {
    /// The tasks of one intake, oldest first.
    pub async fn tasks_of_intake(&self, intake_id: &IntakeId) -> Result<Vec<ClinicalTask>> {
        let intake_id = intake_id.as_str();
        clinical_task::Entity::find()
            .filter(clinical_task::Column::IntakeId.eq(intake_id.to_owned()))
            .order_by_asc(clinical_task::Column::Id)
            .all(self.connection())
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// One task.
    pub async fn get_task(&self, id: &ClinicalTaskId) -> Result<ClinicalTask> {
        self.load_task(id.as_str()).await
    }

    /// One task by its stored id.
    async fn load_task(&self, id: &str) -> Result<ClinicalTask> {
        clinical_task::Entity::find_by_id(id.to_owned())
            .one(self.connection())
            .await?
            .ok_or_else(|| Error::not_found("clinical task", id))
            .and_then(from_row)
    }

    /// A page of `organization_id`'s tasks after `after` (by id: oldest first), `limit` rows.
    pub async fn list_tasks(
        &self,
        organization_id: &str,
        filter: &TaskFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ClinicalTask>> {
        let mut q = clinical_task::Entity::find()
            .filter(clinical_task::Column::OrganizationId.eq(organization_id.to_owned()));
        if let Some(after) = after {
            q = q.filter(clinical_task::Column::Id.gt(after.to_owned()));
        }
        if let Some(intake) = &filter.intake_id {
            q = q.filter(clinical_task::Column::IntakeId.eq(intake.as_str()));
        }
        q = match filter.status {
            None => q,
            Some(TaskStatus::Completed) => {
                q.filter(clinical_task::Column::CompletedAtMs.is_not_null())
            }
            Some(TaskStatus::Overdue) => q
                .filter(clinical_task::Column::CompletedAtMs.is_null())
                .filter(clinical_task::Column::EscalatedAtMs.is_not_null()),
            Some(TaskStatus::Open) => q
                .filter(clinical_task::Column::CompletedAtMs.is_null())
                .filter(clinical_task::Column::EscalatedAtMs.is_null()),
        };
        q.order_by_asc(clinical_task::Column::Id)
            .limit(limit)
            .all(self.connection())
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Completes a task at `expected_version` (open or overdue) for `user`; the task after. A stale
    /// version or a task already completed fails with ABORTED / FAILED_PRECONDITION.
    pub async fn complete_task(
        &self,
        id: &ClinicalTaskId,
        expected_version: i64,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<ClinicalTask> {
        let id = id.as_str();
        let res = clinical_task::Entity::update_many()
            .col_expr(clinical_task::Column::CompletedAtMs, Expr::value(time::to_ms(now)))
            .col_expr(clinical_task::Column::CompletedBy, Expr::value(user))
            .col_expr(clinical_task::Column::Version, Expr::value(expected_version + 1))
            .filter(clinical_task::Column::Id.eq(id.to_owned()))
            .filter(clinical_task::Column::Version.eq(expected_version))
            .filter(clinical_task::Column::CompletedAtMs.is_null())
            .exec(self.connection())
            .await?;
        let task = self.load_task(id).await?;
        if res.rows_affected == 1 {
            return Ok(task);
        }
        if task.completed_at.is_some() {
            Err(Error::precondition(
                crate::error::ErrorReason::TaskCompleted,
                "this task is already completed",
            ))
        } else {
            Err(Error::version_mismatch("clinical task", expected_version, task.version))
        }
    }

    /// Escalates up to `limit` open tasks whose deadline passed at `now` (each once: the update is
    /// conditional on the task still being open and not escalated); returns the tasks escalated, each
    /// with the traceparent of the request that opened it.
    pub async fn escalate_due_tasks(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(ClinicalTask, String)>> {
        let now_ms = time::to_ms(now);
        let due = clinical_task::Entity::find()
            .filter(clinical_task::Column::CompletedAtMs.is_null())
            .filter(clinical_task::Column::EscalatedAtMs.is_null())
            .filter(clinical_task::Column::DueAtMs.lte(now_ms))
            .order_by_asc(clinical_task::Column::DueAtMs)
            .limit(limit)
            .all(self.connection())
            .await?;
        let mut out = Vec::with_capacity(due.len());
        for m in due {
            let res = clinical_task::Entity::update_many()
                .col_expr(clinical_task::Column::EscalatedAtMs, Expr::value(now_ms))
                .col_expr(clinical_task::Column::Version, Expr::value(m.version + 1))
                .filter(clinical_task::Column::Id.eq(m.id.clone()))
                .filter(clinical_task::Column::Version.eq(m.version))
                .filter(clinical_task::Column::CompletedAtMs.is_null())
                .filter(clinical_task::Column::EscalatedAtMs.is_null())
                .exec(self.connection())
                .await?;
            if res.rows_affected == 1 {
                let trace_parent = m.trace_parent.clone();
                let mut task = from_row(m)?;
                task.escalated_at = Some(now);
                task.version += 1;
                out.push((task, trace_parent));
            }
        }
        Ok(out)
    }
}
