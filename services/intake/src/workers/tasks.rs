//! The clinical-task sweeper: every [`SWEEP_EVERY`] it escalates the tasks still open at their deadline
//! (a missed same-day risk assessment, risk review or crisis coordination) to a coordinator, once each:
//! an ERROR log line a pager can follow (ids and codes only), `continuum_clinical_tasks_escalated_total`,
//! and the task shows as overdue in `ListClinicalTasks`, on the intake and on the care timeline. Each
//! escalation continues the trace of the request that opened the task.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;

use crate::domain::ClinicalTask;
use crate::store::Store;

/// How often the sweeper looks for missed deadlines.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Most tasks one sweep escalates (the next sweep takes the rest).
pub const SWEEP_BATCH: u64 = 200;

/// Runs the sweeper until `shutdown`.
pub async fn run(store: Store, shutdown: Shutdown) {
    continuum_outbox::run_every("clinical_tasks", SWEEP_EVERY, shutdown, || async {
        if let Err(e) = sweep(&store, Utc::now()).await {
            tracing::warn!(error = %e, "clinical task sweep failed");
        }
    })
    .await;
}

/// Escalates every task open past its deadline at `now`; returns the tasks escalated.
pub async fn sweep(store: &Store, now: DateTime<Utc>) -> crate::error::Result<Vec<ClinicalTask>> {
    let escalated = store.escalate_due_tasks(now, SWEEP_BATCH).await?;
    let mut out = Vec::with_capacity(escalated.len());
    for (task, trace_parent) in escalated {
        let span = continuum_outbox::continue_trace(
            tracing::info_span!("clinical_task.escalate", task_id = %task.id, kind = task.kind.code()),
            &trace_parent,
        );
        span.in_scope(|| {
            crate::telemetry::task_escalated(task.kind);
            tracing::error!(
                task_id = %task.id,
                intake_id = %task.intake_id,
                kind = task.kind.code(),
                due_at = %task.due_at,
                "clinical task missed its deadline: escalated to a coordinator"
            );
        });
        out.push(task);
    }
    Ok(out)
}
