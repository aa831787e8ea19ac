//! Validation of the full intake record: every invalid-input kind of the new fields is named by its proto
//! path, in one answer, and nothing partial is stored; a complete record round-trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_errors::bad_fields_of;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn every_bad_field_of_the_full_record_is_named() {
    let mut app = spawn_app().await;
    let mut bad = submission("bad-full");
    let s = bad.screeners.as_mut().unwrap();
    s.pcl5 = Some(pb::Pcl5 { items: vec![0; 19] });
    s.readiness_ruler = Some(pb::ReadinessRuler { rating: 11 });
    bad.presenting_concerns = vec![pb::PresentingConcern::Trauma as i32, 99];
    bad.dysregulation = Some(pb::DysregulationSigns {
        overwhelm: 9,
        clinician_window_rating: 7,
        ..Default::default()
    });
    bad.functional_impairment = 12;
    bad.substance_use = -1;
    bad.stressors = vec![pb::Stressor::Bereavement as i32, 0];
    bad.supports = vec![42];
    bad.stage_of_change = 8;
    bad.treatment_history = vec![
        pb::TreatmentEpisode::default(),
        pb::TreatmentEpisode {
            modality: common::Modality::Cbt as i32,
            started: Some(common::Date { year: 2024, month: 6, day: 1 }),
            ended: Some(common::Date { year: 2024, month: 2, day: 30 }),
            outcome: 9,
            ..Default::default()
        },
        pb::TreatmentEpisode {
            level_of_care: common::LevelOfCare::IntensiveOutpatient as i32,
            started: Some(common::Date { year: 2025, month: 6, day: 1 }),
            ended: Some(common::Date { year: 2025, month: 1, day: 1 }),
            outcome: pb::TreatmentOutcome::DidNotHelp as i32,
            ..Default::default()
        },
    ];
    bad.consent_grants = vec![
        pb::ConsentGrant {
            recipient_organization_id: "nope".into(),
            categories: vec![],
            ..Default::default()
        },
        pb::ConsentGrant {
            recipient_organization_id: String::new(),
            categories: vec![
                pb::ConsentCategory::SubstanceUse as i32,
                pb::ConsentCategory::IdentityAndContact as i32,
            ],
            ..Default::default()
        },
    ];
    bad.clinician_override =
        Some(pb::AssessmentOverride { level_of_care: 77, ..Default::default() });
    bad.preferences = Some(pb::Preferences {
        approach: 5,
        setting: 9,
        modalities_wanted: vec![0],
        identity_preferences: vec!["Not A Code".into()],
        additional_languages: vec!["e n".into()],
        availability: vec![pb::Availability::Weekend as i32, 4],
        ..Default::default()
    });
    let err = app.client.submit_intake(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in [
        "screeners.pcl5.items",
        "screeners.readiness_ruler.rating",
        "presenting_concerns[1]",
        "dysregulation.overwhelm",
        "dysregulation.clinician_window_rating",
        "functional_impairment",
        "substance_use",
        "stressors[1]",
        "supports[0]",
        "stage_of_change",
        "treatment_history[0].modality",
        "treatment_history[0].started",
        "treatment_history[0].outcome",
        "treatment_history[1].ended",
        "treatment_history[1].outcome",
        "treatment_history[2].ended",
        "consent_grants[0].recipient_organization_id",
        "consent_grants[0].categories",
        "consent_grants[1].categories",
        "consent_grants[1].recipient_organization_id",
        "clinician_override.level_of_care",
        "clinician_override.reason",
        "clinician_override.clinician_id",
        "preferences.approach",
        "preferences.setting",
        "preferences.modalities_wanted[0]",
        "preferences.identity_preferences[0]",
        "preferences.additional_languages[0]",
        "preferences.availability[1]",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
    let mut items = submission("bad-items");
    items.screeners.as_mut().unwrap().pcl5 = Some(pb::Pcl5 {
        items: {
            let mut v = vec![0; 20];
            v[3] = 5;
            v[19] = -1;
            v
        },
    });
    let fields = bad_fields_of(&app.client.submit_intake(items).await.unwrap_err());
    assert_eq!(
        fields,
        vec!["screeners.pcl5.items[3]".to_owned(), "screeners.pcl5.items[19]".to_owned()]
    );
    let mut future = submission("bad-future");
    future.treatment_history = vec![pb::TreatmentEpisode {
        modality: common::Modality::Act as i32,
        started: Some(common::Date { year: 2999, month: 1, day: 1 }),
        outcome: pb::TreatmentOutcome::Helped as i32,
        ..Default::default()
    }];
    assert_eq!(
        bad_fields_of(&app.client.submit_intake(future).await.unwrap_err()),
        vec!["treatment_history[0].started".to_owned()]
    );

    let list =
        app.client.list_intakes(pb::ListIntakesRequest::default()).await.unwrap().into_inner();
    assert!(list.intakes.is_empty(), "nothing partial is stored");
}

#[tokio::test]
async fn the_full_record_round_trips_and_is_assessed() {
    let mut app = spawn_app().await;
    let mut s = submission("full");
    let sc = s.screeners.as_mut().unwrap();
    sc.pcl5 = Some(pcl5(20));
    sc.readiness_ruler = Some(pb::ReadinessRuler { rating: 5 });
    s.presenting_concerns =
        vec![pb::PresentingConcern::Depression as i32, pb::PresentingConcern::Grief as i32];
    s.dysregulation = Some(pb::DysregulationSigns {
        overwhelm: pb::Frequency::Monthly as i32,
        ..Default::default()
    });
    s.functional_impairment = pb::FunctionalImpairment::Moderate as i32;
    s.substance_use = pb::SubstanceUse::LowRisk as i32;
    s.stressors = vec![pb::Stressor::Bereavement as i32, pb::Stressor::Caregiving as i32];
    s.supports = vec![pb::Support::Friends as i32];
    s.treatment_history = vec![pb::TreatmentEpisode {
        modality: common::Modality::Cbt as i32,
        started: Some(common::Date { year: 2024, month: 3, day: 1 }),
        ended: Some(common::Date { year: 2024, month: 9, day: 1 }),
        outcome: pb::TreatmentOutcome::DidNotHelp as i32,
        ..Default::default()
    }];
    s.preferences = Some(pb::Preferences {
        modalities_wanted: vec![common::Modality::Somatic as i32],
        approach: pb::ApproachPreference::Somatic as i32,
        setting: pb::SettingPreference::Group as i32,
        faith_preferences: vec!["buddhist".into()],
        additional_languages: vec!["es".into()],
        availability: vec![pb::Availability::WeekdayEvening as i32],
        ..Default::default()
    });
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    let a = intake.assessment.clone().unwrap();
    assert_eq!(a.stage_of_change, pb::StageOfChange::Contemplation as i32);
    assert_eq!(a.engagement, pb::EngagementApproach::EngagementFirst as i32);
    assert_eq!(a.modalities_to_avoid, vec![common::Modality::Cbt as i32]);
    assert!(
        a.supports_to_add.contains(&"grief_support_group".to_owned())
            && a.supports_to_add.contains(&"caregiver_support".to_owned())
    );
    assert!(a.rules_version.starts_with("intake-rules/"));
    let pcl = a.scores.iter().find(|x| x.instrument == pb::Instrument::Pcl5 as i32).unwrap();
    assert_eq!(pcl.subscales.values().sum::<i32>(), 20);
    assert!(a.fired_rules.iter().all(|r| !r.description.is_empty()));
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.presenting_concerns, intake.presenting_concerns);
    assert_eq!(got.treatment_history, intake.treatment_history);
    assert_eq!(got.stressors.len(), 2);
    let prefs = got.preferences.unwrap();
    assert_eq!(prefs.faith_preferences, vec!["buddhist".to_owned()]);
    assert_eq!(prefs.availability, vec![pb::Availability::WeekdayEvening as i32]);
    assert_eq!(got.screeners.unwrap().readiness_ruler.unwrap().rating, 5);
}

#[tokio::test]
async fn a_bad_rules_file_stops_start_up_and_a_good_one_is_used() {
    let backing = continuum_testkit::Backing::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.json");
    std::fs::write(&path, "{\"version\": \"x\"}").unwrap();
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    let mut settings =
        intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    settings.rules_file = Some(path.clone());
    assert!(intake::startup::Application::build(settings.clone()).await.is_err());
    let mut custom: serde_json::Value =
        serde_json::from_str(intake::domain::rules::DEFAULT_RULES).unwrap();
    custom["version"] = serde_json::json!("intake-rules/custom-test");
    std::fs::write(&path, custom.to_string()).unwrap();
    let app = intake::startup::Application::build(settings).await.unwrap();
    let addr = app.local_addr().to_string();
    let shutdown = continuum_runtime::Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let token = backing.token(ORG, &[continuum_auth::Role::IntakeClerk]);
    let mut client = pb::intake_service_client::IntakeServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&addr).unwrap(),
        continuum_testkit::Bearer::new(&token),
    );
    let intake = client
        .submit_intake(submission("custom-rules"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(intake.assessment.unwrap().rules_version, "intake-rules/custom-test");
    shutdown.cancel();
}

/// A message of the wrong shape for `GetIntake`: field 1 as a number where the id (a string) is expected.
#[derive(Clone, PartialEq, prost::Message)]
struct WrongShape {
    #[prost(uint64, tag = "1")]
    intake_id: u64,
}

/// Issue 17: an undecodable request is the client's bad input (INVALID_ARGUMENT naming the field the
/// decoder names), not the service's fault (INTERNAL, which pages on-call).
#[tokio::test]
async fn undecodable_requests_are_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let token = app.backing.token(ORG, &[continuum_auth::Role::Clinician]);
    let mut grpc = tonic::client::Grpc::new(continuum_runtime::peer_channel(&app.addr).unwrap());
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(WrongShape { intake_id: 7 });
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/continuum.intake.v1.IntakeService/GetIntake",
    );
    let codec = tonic_prost::ProstCodec::<WrongShape, pb::GetIntakeResponse>::default();
    let err = grpc.unary(req, path, codec).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(bad_fields_of(&err), vec!["intake_id".to_string()]);
}
