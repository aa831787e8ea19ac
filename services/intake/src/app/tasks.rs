//! Clinical-task use cases: an organization's worklist of tasks and completing one. Only the organization
//! that took the intake sees and completes its tasks (another organization's task is NOT_FOUND, like its
//! intakes); every read and write is audited, since a task's kind says something about the client's risk.

use chrono::Utc;
use continuum_errors::page::Page;
use continuum_vocab::ids::{ClinicalTaskId, OrganizationId};

use super::{App, Context, access};
use crate::domain::ClinicalTask;
use crate::error::{Error, Result};
use crate::store::AuditRecord;
use crate::store::tasks::TaskFilter;

const RPC_LIST_TASKS: &str = "continuum.intake.v1.IntakeService/ListClinicalTasks";
const RPC_COMPLETE_TASK: &str = "continuum.intake.v1.IntakeService/CompleteClinicalTask";

impl Context {
    fn task_row(&self, action: &'static str, t: &ClinicalTask, rpc: &'static str) -> AuditRecord {
        AuditRecord {
            user_id: self.caller.audit_user().to_owned(),
            organization_id: self.caller.organization_id.clone(),
            owner_organization_id: t.organization_id.to_string(),
            action,
            record_type: "clinical_task",
            record_id: t.id.to_string(),
            client_id: t.client_id.to_string(),
            rpc,
            purpose: self.purpose.clone(),
            trace_id: continuum_telemetry::current_trace_id(),
        }
    }
}

impl App {
    /// A page of the caller's organization's clinical tasks.
    pub async fn list_tasks(
        &self,
        ctx: &Context,
        organization_id: &OrganizationId,
        filter: TaskFilter,
        page: &Page,
    ) -> Result<(Vec<ClinicalTask>, String)> {
        let organization_id = organization_id.as_str();
        if !ctx.caller.belongs_to(organization_id) {
            return Err(Error::PermissionDenied(
                "you may list only your own organization's clinical tasks".into(),
            ));
        }
        let mut rows = self
            .store
            .list_tasks(organization_id, &filter, page.after.as_deref(), page.fetch())
            .await?;
        let next = page.finish(&mut rows, |t| t.id.to_string());
        self.store
            .audit(rows.iter().map(|t| ctx.task_row("read", t, RPC_LIST_TASKS)).collect())
            .await?;
        Ok((rows, next))
    }

    /// Completes one of the caller's organization's tasks at `expected_version`.
    pub async fn complete_task(
        &self,
        ctx: &Context,
        id: &ClinicalTaskId,
        expected_version: i64,
    ) -> Result<ClinicalTask> {
        access::owned_task(&ctx.caller, self.store.get_task(id).await?)?;
        let done = self
            .store
            .complete_task(id, expected_version, ctx.caller.audit_user(), Utc::now())
            .await?;
        self.store.audit(vec![ctx.task_row("write", &done, RPC_COMPLETE_TASK)]).await?;
        tracing::info!(task_id = %done.id, kind = done.kind.code(), "clinical task completed");
        Ok(done)
    }
}
