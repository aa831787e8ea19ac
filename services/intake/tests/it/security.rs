//! Who may see intakes: tenant isolation, audit rows, encryption at rest and redaction (issue 7).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::intake::v1 as pb;
use continuum_testkit::Bearer;
use sea_orm::{ConnectionTrait, Statement};
use tonic::Code;

use crate::helpers::*;

const OTHER_ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000b2";

#[tokio::test]
async fn another_organization_sees_nothing() {
    let mut app = spawn_app().await;
    let intake =
        app.client.submit_intake(submission("mine")).await.unwrap().into_inner().intake.unwrap();
    let mut other =
        app.client_as(OTHER_ORG, &[Role::Clinician, Role::Coordinator, Role::IntakeClerk]);
    let get = other
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(
        get.code(),
        Code::NotFound,
        "another organization cannot even learn the intake exists"
    );
    let list = other
        .list_intakes(pb::ListIntakesRequest { organization_id: ORG.into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::PermissionDenied);
    let own = other.list_intakes(pb::ListIntakesRequest::default()).await.unwrap().into_inner();
    assert!(own.intakes.is_empty());
    let submit = other.submit_intake(submission("theirs")).await.unwrap_err();
    assert_eq!(
        submit.code(),
        Code::PermissionDenied,
        "cannot submit in another organization's name"
    );
    let re = other
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id,
            screeners: Some(pb::Screeners {
                phq9: Some(pb::Phq9 { items: vec![0; 9] }),
                ..Default::default()
            }),
            clinician_reports_imminent_risk: false,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(re.code(), Code::NotFound);
}

#[tokio::test]
async fn credentials_and_roles_are_checked() {
    let app = spawn_app().await;
    let err = app
        .client_with(Bearer::none())
        .list_intakes(pb::ListIntakesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = app
        .client_with(Bearer::new("garbage"))
        .list_intakes(pb::ListIntakesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut ops = app.client_as(ORG, &[Role::Ops]);
    let err = ops.list_intakes(pb::ListIntakesRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "ops never reads clinical records");
    let mut admin = app.client_as(ORG, &[Role::ProviderAdmin]);
    assert_eq!(
        admin.submit_intake(submission("x")).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn every_phi_read_and_write_leaves_one_audit_row() {
    let mut app = spawn_app().await;
    let intake =
        app.client.submit_intake(submission("audited")).await.unwrap().into_inner().intake.unwrap();
    app.client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap();
    app.client.list_intakes(pb::ListIntakesRequest::default()).await.unwrap();
    let mut ops = app.client_as(ORG, &[Role::Ops]);
    let events = ops
        .list_audit_events(pb::ListAuditEventsRequest {
            client_id: intake.client_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let kinds: Vec<(String, String)> =
        events.iter().map(|e| (e.action.clone(), e.rpc.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            ("write".to_owned(), "continuum.intake.v1.IntakeService/SubmitIntake".to_owned()),
            ("read".to_owned(), "continuum.intake.v1.IntakeService/GetIntake".to_owned()),
            ("read".to_owned(), "continuum.intake.v1.IntakeService/ListIntakes".to_owned()),
        ]
    );
    assert!(
        events.iter().all(|e| e.user_id == "test-user"
            && e.organization_id == ORG
            && e.record_id == intake.id)
    );
    assert_eq!(events[1].purpose, "treatment");
    let by_user = ops
        .list_audit_events(pb::ListAuditEventsRequest {
            user_id: "test-user".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_user.events.len(), 3);
    // Clinicians cannot read the audit log.
    assert_eq!(
        app.client
            .list_audit_events(pb::ListAuditEventsRequest {
                user_id: "test-user".into(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn rows_hold_no_plaintext_personal_information() {
    let mut app = spawn_app().await;
    let mut s = submission("encrypted");
    let c = s.client.as_mut().unwrap();
    c.given_name = "Zebulon".into();
    c.family_name = "Quintessence".into();
    c.email = "zebulon.q@example.org".into();
    c.phone = "+1 555 867 5309".into();
    s.presenting_concerns_text = "distinctive-free-text-4711".into();
    s.external_client_id = "MRN-ZQ-99881".into();
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    // Read back through the API: decrypted for the owner.
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.client.unwrap().family_name, "Quintessence");
    // Read the tables directly.
    let db = continuum_db::connect("intake", &app.backing.common().db()).await.unwrap();
    let backend = db.get_database_backend();
    let mut dump = String::new();
    let text_columns = [
        (
            "intakes",
            &[
                "id",
                "organization_id",
                "idempotency_key",
                "client_id",
                "external_client_id",
                "risk_level",
                "level_of_care",
                "routing_status",
                "submission",
            ][..],
        ),
        ("assessments", &["id", "intake_id", "client_id", "body"][..]),
        ("routings", &["intake_id", "status", "decision", "last_error"][..]),
        (
            "audit_events",
            &[
                "user_id",
                "organization_id",
                "action",
                "record_type",
                "record_id",
                "client_id",
                "rpc",
                "purpose",
            ][..],
        ),
    ];
    for (table, cols) in text_columns {
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {} FROM {table}", cols.join(", ")),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table} has rows");
        for row in rows {
            for col in cols {
                dump.push_str(&row.try_get::<String>("", col).unwrap());
                dump.push('\n');
            }
        }
    }
    assert!(dump.contains("enc:v1:"), "the submission is stored encrypted");
    for needle in [
        "Zebulon",
        "Quintessence",
        "zebulon.q@example.org",
        "867 5309",
        "distinctive-free-text-4711",
        "1990-04-12",
        "MRN-ZQ-99881",
    ] {
        assert!(!dump.contains(needle), "{needle} found in plaintext in the database");
    }
}

#[tokio::test]
async fn an_organization_over_its_rate_limit_is_told_to_slow_down() {
    let backing = continuum_testkit::Backing::fresh().await;
    let mut common = backing.common();
    common.auth.rate_limit_per_minute = 3;
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    let app = intake::startup::Application::build(intake::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        peers,
        common,
    ))
    .await
    .unwrap();
    let addr = app.local_addr().to_string();
    let shutdown = continuum_runtime::Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let client = |org: &str| {
        pb::intake_service_client::IntakeServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&addr).unwrap(),
            Bearer::new(&backing.token(org, &[Role::Coordinator])),
        )
    };
    let mut busy = client(ORG);
    // The window is a calendar minute: if one turns over mid-test, the count restarts once.
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(
            busy.list_intakes(pb::ListIntakesRequest::default()).await.err().map(|s| s.code()),
        );
    }
    let refused = codes.iter().filter(|c| **c == Some(Code::ResourceExhausted)).count();
    assert!(refused >= 2, "calls over the limit are refused: {codes:?}");
    assert!(codes.iter().all(|c| c.is_none() || *c == Some(Code::ResourceExhausted)), "{codes:?}");
    // Another organization has its own budget.
    assert!(client(OTHER_ORG).list_intakes(pb::ListIntakesRequest::default()).await.is_ok());
    shutdown.cancel();
}

#[tokio::test]
async fn an_oversized_message_is_refused() {
    let mut app = spawn_app().await;
    let mut s = submission("huge");
    s.presenting_concerns_text = "x".repeat(5 * 1024 * 1024);
    let err = app.client.submit_intake(s).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument),
        "{:?}",
        err.code()
    );
}

#[tokio::test]
async fn a_peer_service_reaches_only_the_intakes_of_the_organization_it_acts_for() {
    // Referral runs: intake asks it whether the other organization received a referral of the client.
    let mut app = spawn_with_matching_and_referral().await;
    let intake = app
        .client
        .submit_intake(submission("service-scope"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let mut peer = app.client_with(Bearer::new(&app.backing.service_token(OTHER_ORG)));
    let get = peer
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(get.code(), Code::NotFound, "the service role is no way around the owner check");
    let re = peer
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            clinician_reports_imminent_risk: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(re.code(), Code::NotFound);
    let relationship = |client: &str, owner_only| pb::CheckCareRelationshipRequest {
        client_id: client.into(),
        intake_id: String::new(),
        owner_only,
    };
    let elsewhere =
        peer.check_care_relationship(relationship(&intake.client_id, false)).await.unwrap_err();
    let nowhere = peer
        .check_care_relationship(relationship(&uuid::Uuid::now_v7().to_string(), false))
        .await
        .unwrap_err();
    assert_eq!((elsewhere.code(), elsewhere.message()), (Code::NotFound, nowhere.message()));
    // Acting for the owner, the same service is told the owner owns it.
    let mut own = app.client_with(Bearer::new(&app.backing.service_token(ORG)));
    let r = own
        .check_care_relationship(relationship(&intake.client_id, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.relationship, r.owner_organization_id.as_str()),
        (pb::CareRelationship::Owner as i32, ORG)
    );
    // Nothing changed: one assessment, the intake's own.
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.assessment.unwrap().id, intake.assessment.unwrap().id);
}

#[tokio::test]
async fn an_unknown_organization_is_refused_and_ops_read_only_their_own_audit() {
    let mut app = spawn_app().await;
    let intake = app
        .client
        .submit_intake(submission("unknown-org"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    // A validly signed token of an organization the registry does not list.
    let stranger = "0190a1b2-c3d4-7e5f-8a9b-0000000000e9";
    let token = app.backing.unregistered_token(stranger, &[Role::Clinician, Role::Ops]);
    let err = app
        .client_with(Bearer::new(&token))
        .list_intakes(pb::ListIntakesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // Registered, the same organization is served at its first call.
    app.backing.register(stranger);
    app.client_with(Bearer::new(&token))
        .list_intakes(pb::ListIntakesRequest::default())
        .await
        .unwrap();

    let audit = |org: &str| {
        let mut ops = app.client_as(org, &[Role::Ops]);
        let client_id = intake.client_id.clone();
        async move {
            ops.list_audit_events(pb::ListAuditEventsRequest { client_id, ..Default::default() })
                .await
                .unwrap()
                .into_inner()
                .events
        }
    };
    let own = audit(ORG).await;
    assert!(!own.is_empty() && own.iter().all(|e| e.owner_organization_id == ORG));
    assert!(
        audit(OTHER_ORG).await.is_empty(),
        "another organization's ops read nothing about this client"
    );
}
