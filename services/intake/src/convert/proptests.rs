//! Property tests of intake's request validators: any request — a valid one with arbitrary strings,
//! out-of-range numbers, unknown enum values and long lists written over any of its fields — converts,
//! or is refused with `INVALID_ARGUMENT` naming only field paths that exist in the proto, in a bounded
//! answer (`continuum_testkit::wire`).

#![allow(clippy::unwrap_used)]

use continuum_proto::intake::v1 as pb;
use continuum_testkit::requests;
use continuum_testkit::wire::{check_rpc, mutated};
use proptest::prelude::*;

const SUBMIT: &str = "continuum.intake.v1.SubmitIntakeRequest";
const REASSESS: &str = "continuum.intake.v1.RecordReassessmentRequest";
const CONSENT: &str = "continuum.intake.v1.RecordConsentRequest";
const REVOKE: &str = "continuum.intake.v1.RevokeConsentRequest";
const GET: &str = "continuum.intake.v1.GetIntakeRequest";
const LIST: &str = "continuum.intake.v1.ListIntakesRequest";
const AUDIT: &str = "continuum.intake.v1.ListAuditEventsRequest";
const RELATIONSHIP: &str = "continuum.intake.v1.CheckCareRelationshipRequest";
const TASKS: &str = "continuum.intake.v1.ListClinicalTasksRequest";
const COMPLETE: &str = "continuum.intake.v1.CompleteClinicalTaskRequest";

#[test]
fn the_valid_requests_convert() {
    assert!(super::submission_from_proto(requests::submit_intake("k")).is_ok());
    assert!(super::reassessment_from_proto(&requests::record_reassessment()).is_ok());
    assert!(super::consent_from_proto(&requests::record_consent()).is_ok());
}

#[test]
fn a_bad_consent_grant_is_named_under_the_requests_own_field() {
    // RecordConsent's list is `grants` (a submission's is `consent_grants`).
    let mut req = requests::record_consent();
    req.grants[0].categories = vec![99];
    let fields = super::consent_from_proto(&req).unwrap_err().bad_fields();
    assert_eq!(fields, ["grants[0].categories[0]"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn submit_intake(bytes in mutated(SUBMIT, &requests::submit_intake("k"))) {
        check_rpc(SUBMIT, &bytes, super::submission_from_proto)?;
    }

    #[test]
    fn record_reassessment(bytes in mutated(REASSESS, &requests::record_reassessment())) {
        check_rpc(REASSESS, &bytes, |r: pb::RecordReassessmentRequest| {
            super::reassessment_from_proto(&r)
        })?;
    }

    #[test]
    fn record_consent(bytes in mutated(CONSENT, &requests::record_consent())) {
        check_rpc(CONSENT, &bytes, |r: pb::RecordConsentRequest| super::consent_from_proto(&r))?;
    }

    #[test]
    fn revoke_consent(bytes in mutated(REVOKE, &pb::RevokeConsentRequest {
        intake_id: requests::INTAKE.into(),
        categories: vec![1],
        ..Default::default()
    })) {
        check_rpc(REVOKE, &bytes, |r: pb::RevokeConsentRequest| super::revocation_from_proto(&r))?;
    }

    #[test]
    fn the_read_requests(
        get in mutated(GET, &pb::GetIntakeRequest { intake_id: requests::INTAKE.into(), ..Default::default() }),
        list in mutated(LIST, &pb::ListIntakesRequest { page_size: 20, ..Default::default() }),
        audit in mutated(AUDIT, &pb::ListAuditEventsRequest { client_id: requests::CLIENT.into(), ..Default::default() }),
        relationship in mutated(RELATIONSHIP, &pb::CheckCareRelationshipRequest { client_id: requests::CLIENT.into(), ..Default::default() }),
    ) {
        check_rpc(GET, &get, |r: pb::GetIntakeRequest| super::get_from_proto(&r))?;
        check_rpc(LIST, &list, |r: pb::ListIntakesRequest| super::query_from_proto(&r))?;
        check_rpc(AUDIT, &audit, |r: pb::ListAuditEventsRequest| super::audit_query_from_proto(&r))?;
        check_rpc(RELATIONSHIP, &relationship, |r: pb::CheckCareRelationshipRequest| {
            super::relationship_from_proto(&r)
        })?;
    }

    #[test]
    fn the_task_requests(
        list in mutated(TASKS, &pb::ListClinicalTasksRequest { organization_id: requests::ORG.into(), ..Default::default() }),
        complete in mutated(COMPLETE, &pb::CompleteClinicalTaskRequest { task_id: requests::TASK.into(), expected_version: 1 }),
    ) {
        check_rpc(TASKS, &list, |r: pb::ListClinicalTasksRequest| super::task_query_from_proto(&r))?;
        check_rpc(COMPLETE, &complete, |r: pb::CompleteClinicalTaskRequest| {
            super::complete_task_from_proto(&r)
        })?;
    }
}
