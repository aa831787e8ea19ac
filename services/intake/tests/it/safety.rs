//! Clinical safety, second pass (issue 13), through the gRPC API: no silent risk signal (C-SSRS recency,
//! recent self-harm, PHQ-9 item 9), tracked clinical tasks with deadlines that escalate, overrides below
//! what risk requires, reasons that say what happened, payment as what the client can use, regulation
//! first in stabilisation, and a crisis client without a crisis provider paging a coordinator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::matching::v1 as mpb;
use tonic::Code;

use crate::helpers::*;

async fn submit(app: &mut TestApp, s: pb::SubmitIntakeRequest) -> pb::Intake {
    app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap()
}

fn risk(i: &pb::Intake) -> common::RiskLevel {
    common::RiskLevel::try_from(i.assessment.as_ref().unwrap().risk_level).unwrap()
}

fn fired(i: &pb::Intake, id: &str) -> bool {
    i.assessment.as_ref().unwrap().fired_rules.iter().any(|r| r.rule_id == id)
}

fn kinds(i: &pb::Intake) -> Vec<pb::ClinicalTaskKind> {
    i.tasks.iter().map(|t| pb::ClinicalTaskKind::try_from(t.kind).unwrap()).collect()
}

fn only_phq9(key: &str, items: Vec<i32>) -> pb::SubmitIntakeRequest {
    let mut s = submission(key);
    s.screeners = Some(pb::Screeners { phq9: Some(pb::Phq9 { items }), ..Default::default() });
    s
}

#[tokio::test]
async fn cssrs_recency_without_behaviour_is_read_as_recent_behaviour() {
    let mut app = spawn_app().await;
    let mut s = submission("cssrs-recency");
    s.screeners = Some(pb::Screeners {
        cssrs: Some(pb::Cssrs { behaviour_past_three_months: true, ..Default::default() }),
        ..Default::default()
    });
    let i = submit(&mut app, s).await;
    assert_eq!(risk(&i), common::RiskLevel::High, "the recency flag alone is a high-risk signal");
    assert!(fired(&i, "risk.cssrs_recency_implies_behaviour"));
    assert!(!i.routing.unwrap().crisis_resources.is_empty());
}

#[tokio::test]
async fn recent_self_harm_is_moderate_risk_with_a_tracked_risk_review() {
    let mut app = spawn_app().await;
    let mut s = only_phq9("self-harm", vec![1, 1, 1, 1, 1, 1, 1, 1, 0]);
    s.dysregulation = Some(pb::DysregulationSigns { recent_self_harm: true, ..Default::default() });
    let i = submit(&mut app, s).await;
    let a = i.assessment.as_ref().unwrap();
    assert_eq!(risk(&i), common::RiskLevel::Moderate);
    assert_eq!(a.urgency, common::Urgency::Urgent as i32);
    assert!(fired(&i, "risk.recent_self_harm"));
    assert_eq!(kinds(&i), vec![pb::ClinicalTaskKind::RiskReview]);
    assert!(!i.routing.as_ref().unwrap().crisis_resources.is_empty());
}

#[tokio::test]
async fn item9_opens_a_same_day_risk_assessment_that_escalates_when_missed() {
    let mut app = spawn_app().await;
    let mut s = only_phq9("item9", vec![1, 1, 1, 0, 0, 0, 0, 0, 1]);
    s.screeners.as_mut().unwrap().cssrs = Some(pb::Cssrs::default());
    let before = Utc::now();
    let i = submit(&mut app, s).await;
    assert!(!i.routing.as_ref().unwrap().crisis_resources.is_empty(), "crisis resources returned");
    assert_eq!(kinds(&i), vec![pb::ClinicalTaskKind::SameDayRiskAssessment]);
    let task = i.tasks[0].clone();
    assert_eq!(task.status, pb::ClinicalTaskStatus::Open as i32);
    let due = continuum_vocab::time::from_proto(task.due_at.as_ref().unwrap()).unwrap();
    let hours = (due - before).num_minutes();
    assert!((475..=485).contains(&hours), "due in 8 hours, was {hours} minutes");

    let list = |status: pb::ClinicalTaskStatus| pb::ListClinicalTasksRequest {
        organization_id: ORG.into(),
        status: status as i32,
        ..Default::default()
    };
    let open = app.client.list_clinical_tasks(list(pb::ClinicalTaskStatus::Open)).await.unwrap();
    assert_eq!(open.into_inner().tasks.iter().map(|t| &t.id).collect::<Vec<_>>(), vec![&task.id]);

    // Nobody did it: the sweep after the deadline escalates it, once.
    let store = open_store(&app.backing).await;
    let swept = intake::workers::tasks::sweep(&store, Utc::now()).await.unwrap();
    assert!(swept.is_empty(), "not due yet");
    let late = due + chrono::Duration::minutes(1);
    let swept = intake::workers::tasks::sweep(&store, late).await.unwrap();
    assert_eq!(swept.iter().map(|t| &t.id).collect::<Vec<_>>(), vec![&task.id]);
    assert!(intake::workers::tasks::sweep(&store, late).await.unwrap().is_empty(), "once");
    let overdue =
        app.client.list_clinical_tasks(list(pb::ClinicalTaskStatus::Overdue)).await.unwrap();
    let overdue = overdue.into_inner().tasks;
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].escalated_at.is_some());

    // Visible on the care timeline.
    let events = app
        .client
        .list_care_events(pb::ListCareEventsRequest { client_id: i.client_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .events;
    let steps: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(steps.contains(&"task.opened") && steps.contains(&"task.escalated"), "{steps:?}");

    // Another organization cannot see or complete it; the owner completes it at the version read.
    let other = "0190a1b2-c3d4-7e5f-8a9b-0000000000f9";
    let err = app
        .client_as(other, &[Role::Clinician])
        .complete_clinical_task(pb::CompleteClinicalTaskRequest {
            task_id: task.id.clone(),
            expected_version: overdue[0].version,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let stale = app
        .client
        .complete_clinical_task(pb::CompleteClinicalTaskRequest {
            task_id: task.id.clone(),
            expected_version: task.version,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "escalation moved the version");
    let done = app
        .client
        .complete_clinical_task(pb::CompleteClinicalTaskRequest {
            task_id: task.id.clone(),
            expected_version: overdue[0].version,
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(done.status, pb::ClinicalTaskStatus::Completed as i32);
    assert!(!done.completed_by.is_empty());
}

#[tokio::test]
async fn an_override_below_what_risk_requires_must_be_acknowledged() {
    let mut app = spawn_app().await;
    let request = |key: &str, acknowledge: bool| {
        let mut s = submission(key);
        s.screeners = Some(pb::Screeners {
            cssrs: Some(pb::Cssrs { intent_with_plan: true, ..Default::default() }),
            ..Default::default()
        });
        s.clinician_override = Some(pb::AssessmentOverride {
            level_of_care: common::LevelOfCare::Outpatient as i32,
            reason: "seen today, family present".into(),
            clinician_id: "clin-7".into(),
            acknowledge_below_risk: acknowledge,
            ..Default::default()
        });
        s
    };
    let err = app.client.submit_intake(request("override-silent", false)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        continuum_errors::bad_fields_of(&err),
        vec!["clinician_override.acknowledge_below_risk".to_owned()]
    );
    let listed = app
        .client
        .list_intakes(pb::ListIntakesRequest { organization_id: ORG.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intakes;
    assert!(listed.is_empty(), "nothing stored for a refused override");

    let i = submit(&mut app, request("override-acknowledged", true)).await;
    let a = i.assessment.as_ref().unwrap();
    assert_eq!(a.level_of_care, common::LevelOfCare::Outpatient as i32);
    assert!(fired(&i, "override.below_risk_acknowledged"));
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
}

#[tokio::test]
async fn invalid_screeners_alone_list_only_their_own_violations() {
    let mut app = spawn_app().await;
    let err = app.client.submit_intake(only_phq9("bad-phq", vec![1, 2, 3])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = continuum_errors::bad_fields_of(&err);
    assert!(!fields.iter().any(|f| f == "screeners"), "no false 'screener required': {fields:?}");
    assert!(fields.iter().any(|f| f.starts_with("screeners.phq9")), "{fields:?}");
}

#[tokio::test]
async fn a_crisis_client_with_no_crisis_provider_in_reach_gets_a_coordinator_task() {
    let mut app = spawn_with_matching().await;
    let mut s = submission("crisis-nobody");
    s.screeners = Some(pb::Screeners {
        cssrs: Some(pb::Cssrs { intent_with_plan: true, ..Default::default() }),
        ..Default::default()
    });
    let i = submit(&mut app, s).await;
    let r = i.routing.as_ref().unwrap();
    assert_eq!(r.status, pb::RoutingStatus::NeedsCoordinator as i32, "{}", r.reason);
    // The task is opened with the decision; the answer may have been made before (re-read).
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: i.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(kinds(&got), vec![pb::ClinicalTaskKind::CrisisCoordination]);
    let due = continuum_vocab::time::from_proto(got.tasks[0].due_at.as_ref().unwrap()).unwrap();
    assert!(due - Utc::now() <= chrono::Duration::minutes(60));
}

/// A provider of `kind` with `modalities`, in the directory with open slots.
fn provider(name: &str, kind: mpb::ProviderKind, modalities: &[common::Modality]) -> mpb::Provider {
    let mut p = clinician(name, modalities, 3);
    p.kind = kind as i32;
    p
}

#[tokio::test]
async fn a_free_service_takes_a_self_paying_client_and_the_referral_explains_itself() {
    let mut app = spawn_with_matching_and_referral().await;
    let mut circle =
        provider("Peer circle", mpb::ProviderKind::Clinician, &[common::Modality::Cbt]);
    circle.payment_options = vec![common::PaymentOption::Free as i32];
    let id = app.add_provider(circle).await;
    let i = submit(&mut app, submission("free-for-self-pay")).await;
    let r = i.routing.unwrap();
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "{}", r.reason);
    assert_eq!(r.provider_id, id);
    assert!(!r.rules_version.is_empty());
    assert!(!r.explanation.is_empty(), "the fit reasons of the chosen option");
    assert!(
        r.explanation.iter().all(|l| l.contains(": ")) && r.reason.contains(&r.explanation[0]),
        "{:?} / {}",
        r.explanation,
        r.reason
    );
}

#[tokio::test]
async fn stabilisation_prefers_regulation_focused_care_and_says_so() {
    let mut app = spawn_with_matching_and_referral().await;
    let cbt = app
        .add_provider(provider("CBT", mpb::ProviderKind::Clinician, &[common::Modality::Cbt]))
        .await;
    let dbt = app
        .add_provider(provider("Skills", mpb::ProviderKind::SkillsGroup, &[common::Modality::Dbt]))
        .await;
    let mut s = submission("stabilise");
    s.screeners.as_mut().unwrap().pcl5 = Some(pcl5(45));
    s.dysregulation = Some(pb::DysregulationSigns {
        dissociation: pb::Frequency::Weekly as i32,
        ..Default::default()
    });
    // The client would like CBT: matching alone ranks the CBT clinician first.
    s.preferences.as_mut().unwrap().modalities_wanted = vec![common::Modality::Cbt as i32];
    let i = submit(&mut app, s).await;
    let r = i.routing.unwrap();
    assert_eq!(
        r.candidate_provider_ids.first(),
        Some(&dbt),
        "{:?} (cbt {cbt})",
        r.candidate_provider_ids
    );
    assert_eq!(r.provider_id, dbt, "{}", r.reason);
    assert!(r.rules_applied.iter().any(|x| x == "routing.stabilisation_regulation_first"));
    assert!(r.explanation[0].contains("regulation-focused"), "{:?}", r.explanation);
}

#[tokio::test]
async fn a_youth_without_a_family_involved_option_is_told_so() {
    let mut app = spawn_with_matching_and_referral().await;
    let mut group = provider("Skills", mpb::ProviderKind::SkillsGroup, &[common::Modality::Dbt]);
    group.age_groups = vec![common::AgeGroup::Adolescent as i32, common::AgeGroup::Adult as i32];
    group.family_involvement = false;
    app.add_provider(group).await;
    let mut s = submission("youth");
    let this_year = chrono::Datelike::year(&Utc::now());
    s.client.as_mut().unwrap().date_of_birth =
        Some(common::Date { year: this_year - 15, month: 1, day: 1 });
    let i = submit(&mut app, s).await;
    let r = i.routing.unwrap();
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "{}", r.reason);
    assert!(
        r.explanation[0].contains("no family-involved option at this level of care; next best"),
        "{:?}",
        r.explanation
    );
    assert!(!r.explanation[0].starts_with("a family-involved option"));
}

#[tokio::test]
async fn an_invalid_re_screen_lists_only_its_own_violations() {
    // The twin of issue 13.9 in RecordReassessment.
    let mut app = spawn_app().await;
    let i = submit(&mut app, submission("rescreen-bad")).await;
    let err = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: i.id.clone(),
            screeners: Some(pb::Screeners {
                phq9: Some(pb::Phq9 { items: vec![1, 2, 3] }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = continuum_errors::bad_fields_of(&err);
    assert!(!fields.iter().any(|f| f == "screeners"), "no false 'screener required': {fields:?}");
    assert!(fields.iter().any(|f| f.starts_with("screeners.phq9")), "{fields:?}");
}
