//! What the care timeline shows of intake: one client's intakes, assessments (the first and every
//! reassessment), routing decisions, clinical tasks (opened, escalated, completed) and consent changes, as coded [`CareEvent`]s. Pure: the store reads,
//! this decides what is shown. Codes, ids and scores only — never a name, contact detail or free text.

use std::collections::HashMap;

use continuum_proto::common::v1::CareEvent;
use continuum_vocab::time;

use crate::domain::{Assessment, Intake, RoutingStatus};

/// The source name intake's steps carry.
pub const SOURCE: &str = "intake";

fn event(
    at: chrono::DateTime<chrono::Utc>,
    kind: &str,
    intake: &Intake,
    record_id: &str,
) -> CareEvent {
    CareEvent {
        occurred_at: Some(time::to_proto(at)),
        source: SOURCE.to_owned(),
        kind: kind.to_owned(),
        organization_id: intake.submission.organization_id.to_string(),
        record_id: record_id.to_owned(),
        ..Default::default()
    }
}

fn assessment_details(a: &Assessment) -> HashMap<String, String> {
    let mut d = HashMap::from([
        ("risk_level".to_owned(), a.risk_level.code().to_owned()),
        ("level_of_care".to_owned(), a.level_of_care.code().to_owned()),
        ("urgency".to_owned(), a.urgency.code().to_owned()),
        ("rules_version".to_owned(), a.rules_version.clone()),
    ]);
    if let Some(phase) = a.phase {
        d.insert("phase".to_owned(), phase.code().to_owned());
    }
    for s in &a.scores {
        d.insert(format!("{}_total", s.instrument.code()), s.total.to_string());
    }
    if a.clinician_override.is_some() {
        d.insert("clinician_override".to_owned(), "true".to_owned());
    }
    d
}

/// A client's steps over all their intakes (each with its assessments), in time order.
pub fn of_client(history: &[(Intake, Vec<Assessment>)]) -> Vec<CareEvent> {
    let mut out: Vec<CareEvent> =
        history.iter().flat_map(|(intake, assessments)| of_intake(intake, assessments)).collect();
    out.sort_by_key(|e| e.occurred_at.map(|t| (t.seconds, t.nanos)));
    out
}

/// The steps of one intake: received, assessed (the first assessment), each reassessment, the routing
/// decision once made, and each consent change after the intake.
fn of_intake(intake: &Intake, assessments: &[Assessment]) -> Vec<CareEvent> {
    let mut out = vec![event(intake.received_at, "intake.received", intake, intake.id.as_str())];
    for (n, a) in assessments.iter().enumerate() {
        let kind = if n == 0 { "intake.assessed" } else { "intake.reassessed" };
        let mut e = event(a.assessed_at, kind, intake, &a.id);
        e.details = assessment_details(a);
        if let Some(prev) = n.checked_sub(1).and_then(|p| assessments.get(p))
            && prev.risk_level != a.risk_level
        {
            e.details.insert("risk_level_before".to_owned(), prev.risk_level.code().to_owned());
        }
        out.push(e);
    }
    let r = &intake.routing;
    if let (Some(at), false) = (r.decided_at, r.status == RoutingStatus::Pending) {
        let mut e = event(at, "intake.routed", intake, intake.id.as_str());
        e.provider_id = r.provider_id.clone().unwrap_or_default();
        e.referral_id = r.referral_id.clone().unwrap_or_default();
        e.details.insert("routing_status".to_owned(), r.status.code().to_owned());
        if let Some(entry) = &r.waitlist_entry_id {
            e.details.insert("waitlist_entry_id".to_owned(), entry.clone());
        }
        e.details.insert("attempts".to_owned(), r.attempts.to_string());
        out.push(e);
    }
    for t in &intake.tasks {
        let steps = [
            ("task.opened", Some(t.opened_at)),
            ("task.escalated", t.escalated_at),
            ("task.completed", t.completed_at),
        ];
        for (kind, at) in steps {
            let Some(at) = at else { continue };
            let mut e = event(at, kind, intake, t.id.as_str());
            e.details.insert("task_kind".to_owned(), t.kind.code().to_owned());
            e.details.insert("due_at".to_owned(), t.due_at.to_rfc3339());
            out.push(e);
        }
    }
    for c in &intake.submission.consent.history {
        let mut e =
            event(c.changed_at, &format!("consent.{}", c.action), intake, intake.id.as_str());
        if let Some(org) = &c.recipient_organization_id {
            e.details.insert("recipient_organization_id".to_owned(), org.clone());
        }
        let categories: Vec<&str> = c.categories.iter().map(|k| k.code()).collect();
        e.details.insert(
            "categories".to_owned(),
            if categories.is_empty() { "all".to_owned() } else { categories.join(",") },
        );
        out.push(e);
    }
    out
}
