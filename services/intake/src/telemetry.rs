//! The metrics intake exports beside the common ones (deploy/prometheus/metrics.txt): described (`# HELP`,
//! unit) and registered at start-up by [`register`], so a quiet process already exports its counters at 0
//! (an alert on `increase()` sees the first crisis) and its histogram empty; the routing worker sets the
//! pending gauge on its first round. Labels are status codes only.

use metrics::Unit;

use crate::domain::{RoutingStatus, TaskKind};

/// The routing outcomes counted in `continuum_routings_total`.
pub const FINAL_STATUSES: [RoutingStatus; 3] =
    [RoutingStatus::Referred, RoutingStatus::Waitlisted, RoutingStatus::NeedsCoordinator];

/// Describes every intake metric and registers the counters and the histogram.
pub fn register() {
    metrics::describe_gauge!(
        "continuum_routings_pending",
        Unit::Count,
        "Accepted intakes whose routing is not finished yet"
    );
    metrics::describe_counter!(
        "continuum_routings_total",
        Unit::Count,
        "Routings finished, by outcome (referred, waitlisted, needs_coordinator)"
    );
    metrics::describe_counter!(
        "continuum_crisis_routings_total",
        Unit::Count,
        "Routings finished for crisis-pathway clients"
    );
    metrics::describe_counter!(
        "continuum_crisis_unreferred_total",
        Unit::Count,
        "Crisis-pathway clients whose routing ended without a referral: a coordinator must act at once"
    );
    metrics::describe_histogram!(
        continuum_telemetry::names::INTAKE_ROUTED,
        Unit::Seconds,
        "Time from SubmitIntake accepting an intake to its routing being finished"
    );
    metrics::describe_counter!(
        "continuum_clinical_tasks_opened_total",
        Unit::Count,
        "Clinical tasks opened, by kind (same_day_risk_assessment, risk_review, crisis_coordination)"
    );
    metrics::describe_counter!(
        "continuum_clinical_tasks_escalated_total",
        Unit::Count,
        "Clinical tasks still open at their deadline and escalated to a coordinator, by kind"
    );
    for kind in TaskKind::ALL {
        metrics::counter!("continuum_clinical_tasks_opened_total", "kind" => kind.code())
            .increment(0);
        metrics::counter!("continuum_clinical_tasks_escalated_total", "kind" => kind.code())
            .increment(0);
    }
    for status in FINAL_STATUSES {
        metrics::counter!("continuum_routings_total", "status" => status.code()).increment(0);
    }
    metrics::counter!("continuum_crisis_routings_total").increment(0);
    metrics::counter!("continuum_crisis_unreferred_total").increment(0);
    let _ = metrics::histogram!(continuum_telemetry::names::INTAKE_ROUTED);
}

/// Records one finished routing: its outcome, whether it was a crisis client (and left unreferred), and
/// how long after acceptance it finished.
pub fn routed(status: RoutingStatus, crisis: bool, unreferred: bool, seconds_since_accepted: f64) {
    metrics::counter!("continuum_routings_total", "status" => status.code()).increment(1);
    if crisis {
        metrics::counter!("continuum_crisis_routings_total").increment(1);
    }
    if unreferred {
        metrics::counter!("continuum_crisis_unreferred_total").increment(1);
    }
    metrics::histogram!(continuum_telemetry::names::INTAKE_ROUTED)
        .record(seconds_since_accepted.max(0.0));
}

/// Counts one clinical task opened.
pub fn task_opened(kind: TaskKind) {
    metrics::counter!("continuum_clinical_tasks_opened_total", "kind" => kind.code()).increment(1);
}

/// Counts one clinical task escalated at its deadline.
pub fn task_escalated(kind: TaskKind) {
    metrics::counter!("continuum_clinical_tasks_escalated_total", "kind" => kind.code())
        .increment(1);
}
