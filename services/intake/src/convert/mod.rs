//! Proto <-> domain conversions of the intake service. Decoding validates every field of a request
//! (collecting all problems, each named by its proto path); encoding builds the proto forms of intakes,
//! assessments and routings, and [`limit_to_consent`] cuts an intake down to what its client consented to
//! share with a recipient. Domain, app and store code never see prost types; nothing here logs.
//!
//! `submission` decodes a submission and its parts (also used by reassessments and consent changes);
//! `intake` encodes; the other requests are decoded here.

use continuum_errors::page::{Page, Paging};
use continuum_errors::{Result, Violations};
use continuum_proto::intake::v1 as pb;
use continuum_vocab::ids::{ClientId, ClinicalTaskId, IntakeId, OrganizationId, ReferralId};
use continuum_vocab::{LevelOfCare, RiskLevel, time};

use crate::app::{
    AuditQuery, ConsentChange, IntakeQuery, Reassessed, Reassessment, RelationshipQuestion,
};
use crate::domain::{ConsentCategory, RoutingStatus, TaskStatus};
use crate::store::tasks::TaskFilter;
use crate::store::{AuditEvent, IntakeFilter};

/// Reads an optional intake-vocabulary enum (0 = absent); unknown numbers are violations.
macro_rules! optional_code {
    ($ty:ty, $v:expr, $field:expr, $value:expr) => {{
        let value: i32 = $value;
        if value == 0 {
            None
        } else {
            let r = <$ty>::from_proto(value);
            if r.is_none() {
                $v.add($field, "is not a known value");
            }
            r
        }
    }};
}

/// Reads a repeated intake-vocabulary enum, naming each bad entry; duplicates are dropped. At most one item
/// per value: a longer list is one violation on the field, its entries unread.
macro_rules! code_list {
    ($ty:ty, $v:expr, $field:expr, $values:expr) => {{
        let mut out: Vec<$ty> = Vec::new();
        let field = $field;
        for (i, value) in $v.capped(&field, &$values, <$ty>::ALL.len()).iter().enumerate() {
            match <$ty>::from_proto(*value) {
                Some(x) => {
                    if !out.contains(&x) {
                        out.push(x)
                    }
                }
                None => $v.add(format!("{}[{i}]", field), "is not a known value"),
            }
        }
        out
    }};
}

mod intake;
mod submission;

use intake::instrument_to_proto;
pub use intake::{
    assessment_to_proto, consent_to_proto, intake_to_proto, limit_to_consent, routing_to_proto,
    shared_intake_to_proto, task_to_proto,
};
use submission::{dysregulation_from_proto, grants_from_proto, override_from_proto};
pub use submission::{screeners_from_proto, screeners_given, submission_from_proto};

/// Page sizes of `ListIntakes`.
pub const INTAKE_PAGING: Paging = Paging::new(50, 200);

/// Page sizes of `ListAuditEvents`.
pub const AUDIT_PAGING: Paging = Paging::new(100, 500);

/// A required client id named `client_id`.
pub fn client_id(value: &str) -> Result<ClientId> {
    let mut v = Violations::default();
    ClientId::require(&mut v, "client_id", value).ok_or(crate::error::Error::InvalidArgument(v))
}

/// A `GetIntake` request: the intake, and the referral a recipient reads it through.
pub fn get_from_proto(req: &pb::GetIntakeRequest) -> Result<(IntakeId, Option<ReferralId>)> {
    let mut v = Violations::default();
    let id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let referral_id = ReferralId::optional(&mut v, "referral_id", &req.referral_id);
    match id {
        Some(id) => v.finish((id, referral_id)),
        None => Err(crate::error::Error::InvalidArgument(v)),
    }
}

/// Reads an optional timestamp, naming `field` when it is not a valid time.
fn optional_time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = value?;
    let r = time::from_proto(t);
    if r.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    r
}

/// A `ListIntakes` request: which intakes, and which page.
pub fn query_from_proto(req: &pb::ListIntakesRequest) -> Result<(IntakeQuery, Page)> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let risk_level = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
    let level_of_care = LevelOfCare::optional(&mut v, "level_of_care", req.level_of_care);
    let routing_status = match pb::RoutingStatus::try_from(req.routing_status) {
        Ok(pb::RoutingStatus::Unspecified) => None,
        Ok(pb::RoutingStatus::Pending) => Some(RoutingStatus::Pending),
        Ok(pb::RoutingStatus::Referred) => Some(RoutingStatus::Referred),
        Ok(pb::RoutingStatus::Waitlisted) => Some(RoutingStatus::Waitlisted),
        Ok(pb::RoutingStatus::NeedsCoordinator) => Some(RoutingStatus::NeedsCoordinator),
        Err(_) => {
            v.add("routing_status", "is not a known value");
            None
        }
    };
    let received_after = optional_time(&mut v, "received_after", req.received_after.as_ref());
    let received_before = optional_time(&mut v, "received_before", req.received_before.as_ref());
    let page = INTAKE_PAGING.read(&mut v, req.page_size, &req.page_token);
    v.finish((
        IntakeQuery {
            organization_id,
            filter: IntakeFilter {
                organization_id: String::new(),
                risk_level,
                level_of_care,
                routing_status,
                received_after,
                received_before,
            },
        },
        page,
    ))
}

/// Page sizes of `ListClinicalTasks`.
pub const TASK_PAGING: Paging = Paging::new(50, 200);

/// A `ListClinicalTasks` request: the organization, which tasks, and which page.
pub fn task_query_from_proto(
    req: &pb::ListClinicalTasksRequest,
) -> Result<(OrganizationId, TaskFilter, Page)> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::require(&mut v, "organization_id", &req.organization_id);
    let intake_id = IntakeId::optional(&mut v, "intake_id", &req.intake_id);
    let status = match pb::ClinicalTaskStatus::try_from(req.status) {
        Ok(pb::ClinicalTaskStatus::Unspecified) => None,
        Ok(pb::ClinicalTaskStatus::Open) => Some(TaskStatus::Open),
        Ok(pb::ClinicalTaskStatus::Overdue) => Some(TaskStatus::Overdue),
        Ok(pb::ClinicalTaskStatus::Completed) => Some(TaskStatus::Completed),
        Err(_) => {
            v.add("status", "is not a known value");
            None
        }
    };
    let page = TASK_PAGING.read(&mut v, req.page_size, &req.page_token);
    match organization_id {
        Some(organization_id) => {
            v.finish((organization_id, TaskFilter { status, intake_id }, page))
        }
        None => Err(crate::error::Error::InvalidArgument(v)),
    }
}

/// A `CompleteClinicalTask` request: the task id and the version read.
pub fn complete_task_from_proto(
    req: &pb::CompleteClinicalTaskRequest,
) -> Result<(ClinicalTaskId, i64)> {
    let mut v = Violations::default();
    let id = ClinicalTaskId::require(&mut v, "task_id", &req.task_id);
    if req.expected_version < 1 {
        v.add("expected_version", "is required (the version read, 1 or more)");
    }
    match id {
        Some(id) => v.finish((id, req.expected_version)),
        None => Err(crate::error::Error::InvalidArgument(v)),
    }
}

/// A `RecordReassessment` request, naming every bad field.
pub fn reassessment_from_proto(req: &pb::RecordReassessmentRequest) -> Result<Reassessment> {
    let mut v = Violations::default();
    let id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let screeners = screeners_from_proto(&mut v, "screeners", req.screeners.as_ref());
    if !screeners_given(req.screeners.as_ref()) && !req.clinician_reports_imminent_risk {
        v.add("screeners", "at least one screener is required");
    }
    let dysregulation =
        dysregulation_from_proto(&mut v, "dysregulation", req.dysregulation.as_ref());
    let clinician_override =
        override_from_proto(&mut v, "clinician_override", req.clinician_override.as_ref());
    let Some(id) = id else {
        return Err(crate::error::Error::InvalidArgument(v));
    };
    v.finish(Reassessment {
        intake_id: id,
        screeners,
        clinician_reports_imminent_risk: req.clinician_reports_imminent_risk,
        dysregulation,
        clinician_override,
    })
}

/// The proto form of a reassessment's outcome.
pub fn reassessed_to_proto(r: &Reassessed) -> pb::RecordReassessmentResponse {
    pb::RecordReassessmentResponse {
        assessment: Some(assessment_to_proto(&r.assessment, r.reason.as_deref())),
        previous: Some(assessment_to_proto(&r.previous, r.previous_reason.as_deref())),
        risk_increased: r.risk_increased,
        rerouted: r.rerouted,
        routing: Some(routing_to_proto(&r.routing)),
        changes: r
            .changes
            .iter()
            .map(|c| pb::ScoreChange {
                instrument: instrument_to_proto(c.instrument) as i32,
                previous_total: c.previous_total,
                current_total: c.current_total,
                change: c.change(),
                reliable: c.reliable,
                direction: c.direction().to_owned(),
                threshold: c.threshold,
            })
            .collect(),
    }
}

/// A `RecordConsent` request, naming every bad field.
pub fn consent_from_proto(req: &pb::RecordConsentRequest) -> Result<ConsentChange> {
    let mut v = Violations::default();
    let id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let grants = grants_from_proto(&mut v, "grants", &req.grants);
    if grants.is_empty() && req.grants.is_empty() && !req.share_with_referral_recipient {
        v.add("grants", "give at least one grant or share_with_referral_recipient");
    }
    let Some(id) = id else {
        return Err(crate::error::Error::InvalidArgument(v));
    };
    v.finish(ConsentChange::Record {
        intake_id: id,
        grants,
        share_with_referral_recipient: req.share_with_referral_recipient,
    })
}

/// A `RevokeConsent` request, naming every bad field.
pub fn revocation_from_proto(req: &pb::RevokeConsentRequest) -> Result<ConsentChange> {
    let mut v = Violations::default();
    let id = IntakeId::require(&mut v, "intake_id", &req.intake_id);
    let recipient = OrganizationId::optional(
        &mut v,
        "recipient_organization_id",
        &req.recipient_organization_id,
    );
    let referral = ReferralId::optional(&mut v, "referral_id", &req.referral_id);
    let categories = code_list!(ConsentCategory, v, "categories", req.categories);
    let Some(id) = id else {
        return Err(crate::error::Error::InvalidArgument(v));
    };
    v.finish(ConsentChange::Revoke {
        intake_id: id,
        recipient_organization_id: recipient,
        referral_id: referral,
        categories,
    })
}

/// A `ListAuditEvents` request: whose events, and which page.
pub fn audit_query_from_proto(req: &pb::ListAuditEventsRequest) -> Result<(AuditQuery, Page)> {
    let mut v = Violations::default();
    let client_id = ClientId::optional(&mut v, "client_id", &req.client_id);
    v.optional_str("user_id", &req.user_id, 200);
    let page = AUDIT_PAGING.read(&mut v, req.page_size, &req.page_token);
    if client_id.is_none() && req.user_id.is_empty() {
        v.add("client_id", "give a client_id or a user_id");
    }
    let user_id = (!req.user_id.is_empty()).then(|| req.user_id.clone());
    v.finish((AuditQuery { client_id, user_id }, page))
}

/// The proto form of an audit event.
pub fn audit_event_to_proto(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id,
        occurred_at: Some(time::to_proto(e.occurred_at)),
        user_id: e.record.user_id,
        organization_id: e.record.organization_id,
        owner_organization_id: e.record.owner_organization_id,
        action: e.record.action.to_owned(),
        record_type: e.record.record_type.to_owned(),
        record_id: e.record.record_id,
        client_id: e.record.client_id,
        rpc: e.record.rpc.to_owned(),
        purpose: e.record.purpose,
        trace_id: e.record.trace_id,
    }
}

/// A `CheckCareRelationship` request.
pub fn relationship_from_proto(
    req: &pb::CheckCareRelationshipRequest,
) -> Result<RelationshipQuestion> {
    let mut v = Violations::default();
    let client_id = ClientId::require(&mut v, "client_id", &req.client_id);
    let intake_id = IntakeId::optional(&mut v, "intake_id", &req.intake_id);
    let Some(client_id) = client_id else {
        return Err(crate::error::Error::InvalidArgument(v));
    };
    v.finish(RelationshipQuestion { client_id, intake_id, owner_only: req.owner_only })
}

#[cfg(test)]
mod proptests;
