//! `intake_requests`: every RPC of the intake service, from bytes through prost and `intake::convert`;
//! an accepted `SubmitIntake` is assessed, and an accepted `RecordReassessment` re-assesses a fixed
//! intake, as the use cases do, under the rules engine's invariants.

use continuum_proto::intake::v1 as pb;
use intake::convert;

use crate::harness::{Rpc, dispatch, rpc};
use crate::intake_rules;

/// The RPCs, by selector byte (modulo their number). Append only: the seed corpus names them by index.
pub const RPCS: &[Rpc] = &[
    Rpc { name: "SubmitIntake", message: "continuum.intake.v1.SubmitIntakeRequest", run: submit },
    Rpc { name: "GetIntake", message: "continuum.intake.v1.GetIntakeRequest", run: get },
    Rpc { name: "ListIntakes", message: "continuum.intake.v1.ListIntakesRequest", run: list },
    Rpc {
        name: "RecordReassessment",
        message: "continuum.intake.v1.RecordReassessmentRequest",
        run: reassess,
    },
    Rpc {
        name: "RecordConsent",
        message: "continuum.intake.v1.RecordConsentRequest",
        run: consent,
    },
    Rpc { name: "RevokeConsent", message: "continuum.intake.v1.RevokeConsentRequest", run: revoke },
    Rpc { name: "ListCareEvents", message: "continuum.intake.v1.ListCareEventsRequest", run: care },
    Rpc {
        name: "ListAuditEvents",
        message: "continuum.intake.v1.ListAuditEventsRequest",
        run: audit,
    },
    Rpc {
        name: "CheckCareRelationship",
        message: "continuum.intake.v1.CheckCareRelationshipRequest",
        run: relationship,
    },
    Rpc {
        name: "ListClinicalTasks",
        message: "continuum.intake.v1.ListClinicalTasksRequest",
        run: tasks,
    },
    Rpc {
        name: "CompleteClinicalTask",
        message: "continuum.intake.v1.CompleteClinicalTaskRequest",
        run: complete,
    },
];

/// Runs one input.
pub fn run(data: &[u8]) {
    dispatch(RPCS, data);
}

fn submit(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::submission_from_proto, |n| {
        intake_rules::check(n, None);
    });
}

fn get(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetIntakeRequest| convert::get_from_proto(&r), |_| {});
}

fn list(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListIntakesRequest| convert::query_from_proto(&r), |_| {});
}

fn reassess(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::RecordReassessmentRequest| convert::reassessment_from_proto(&r),
        |r| {
            intake_rules::check_reassessment(r);
        },
    );
}

fn consent(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::RecordConsentRequest| convert::consent_from_proto(&r), |_| {});
}

fn revoke(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::RevokeConsentRequest| convert::revocation_from_proto(&r), |_| {});
}

fn care(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListCareEventsRequest| convert::client_id(&r.client_id), |_| {});
}

fn audit(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListAuditEventsRequest| convert::audit_query_from_proto(&r), |_| {});
}

fn relationship(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::CheckCareRelationshipRequest| convert::relationship_from_proto(&r), |_| {});
}

fn tasks(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListClinicalTasksRequest| convert::task_query_from_proto(&r), |_| {});
}

fn complete(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::CompleteClinicalTaskRequest| convert::complete_task_from_proto(&r), |_| {});
}
