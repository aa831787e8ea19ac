//! Directory, capacity, recommendation and feedback behaviour over real gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_errors::{bad_fields_of, reason_of};
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn create_get_and_replace_with_version_check() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr A", 2)).await;
    assert_eq!(p.version, 1);
    let got = app
        .client
        .get_provider(pb::GetProviderRequest { provider_id: p.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.provider.as_ref().unwrap().display_name, "Dr A");
    assert_eq!(got.provider.as_ref().unwrap().unit, "", "no unit unless given");

    let mut changed = p.clone();
    changed.display_name = "Dr A (groups)".into();
    changed.unit = "  Adult outpatient team ".into();
    let v2 = app
        .client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(changed.clone()),
            expected_version: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        v2.unit, "Adult outpatient team",
        "the organization unit, trimmed, stored and read back"
    );
    let stale = app
        .client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(changed), expected_version: 1 })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(reason_of(&stale).map(continuum_errors::reason_code), Some("VERSION_MISMATCH"));
}

/// Issue 17: a list over its documented maximum is one violation on the list, its elements unread (not
/// 10,000 violations, one per bad element).
#[tokio::test]
async fn a_list_over_its_limit_is_one_bad_field_on_the_list() {
    let mut app = spawn_app().await;
    let mut p = clinician("Many languages", 1);
    p.languages = vec!["e n".into(); 10_000];
    p.modalities = vec![99; 10_000];
    let err = app
        .client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(p), expected_version: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields_of(&err),
        vec!["provider.languages".to_owned(), "provider.modalities".to_owned()]
    );
}

#[tokio::test]
async fn invalid_provider_names_every_bad_field() {
    let mut app = spawn_app().await;
    let mut p = clinician("", 2);
    p.organization_id = "not-a-uuid".into();
    p.languages = vec!["e n".into()];
    p.modalities = vec![99];
    p.open_slots = -1;
    p.unit = "Team\nB".into();
    let err = app
        .client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(p), expected_version: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in [
        "provider.organization_id",
        "provider.display_name",
        "provider.languages[0]",
        "provider.modalities[0]",
        "provider.open_slots",
        "provider.unit",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn missing_provider_is_not_found() {
    let mut app = spawn_app().await;
    let err = app
        .client
        .get_provider(pb::GetProviderRequest {
            provider_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn concurrent_takes_never_oversell_the_last_slot() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Last", 1)).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut c = app.client.clone();
        let id = p.id.clone();
        tasks.push(tokio::spawn(async move {
            c.update_capacity(pb::UpdateCapacityRequest {
                provider_id: id,
                change: Some(pb::update_capacity_request::Change::Delta(-1)),
                hold_key: format!("take-{i}"),
                allow_overbook: false,
                ..Default::default()
            })
            .await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::FailedPrecondition);
                assert_eq!(reason_of(&s).map(continuum_errors::reason_code), Some("NO_CAPACITY"));
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (1, 7));
    let after = app
        .client
        .get_provider(pb::GetProviderRequest { provider_id: p.id })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(after.open_slots, 0);
}

#[tokio::test]
async fn a_hold_key_applies_once() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Twice", 3)).await;
    let req = pb::UpdateCapacityRequest {
        provider_id: p.id.clone(),
        change: Some(pb::update_capacity_request::Change::Delta(-1)),
        hold_key: "referral-1".into(),
        allow_overbook: false,
        ..Default::default()
    };
    let first = app.client.update_capacity(req.clone()).await.unwrap().into_inner();
    let second = app.client.update_capacity(req).await.unwrap().into_inner();
    assert!(first.applied);
    assert!(!second.applied);
    assert_eq!(second.provider.unwrap().open_slots, 2);
}

#[tokio::test]
async fn recommend_filters_ranks_and_explains() {
    let mut app = spawn_app().await;
    let open = create(&mut app, clinician("Open", 1)).await;
    let full = create(&mut app, clinician("Full", 0)).await;
    let mut teen = clinician("Teen IOP", 4);
    teen.kind = pb::ProviderKind::Iop as i32;
    teen.age_groups = vec![common::AgeGroup::Adolescent as i32];
    create(&mut app, teen).await;
    let mut spanish = clinician("Spanish only", 4);
    spanish.languages = vec!["es".into()];
    create(&mut app, spanish).await;

    let r = app
        .client
        .recommend(pb::RecommendRequest { client: Some(adult_profile()), top_k: 10 })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = r.options.iter().map(|o| o.provider.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, vec![open.id, full.id]);
    assert!(r.options[0].has_capacity && !r.options[1].has_capacity);
    assert!(!r.options[0].components.is_empty());
    let excluded =
        |name: &str| r.exclusions.iter().find(|e| e.constraint == name).unwrap().excluded;
    assert_eq!(excluded("age_group"), 1);
    assert_eq!(excluded("language"), 1);
    assert_eq!(r.considered, 4);
}

#[tokio::test]
async fn recommend_rejects_an_incomplete_profile() {
    let mut app = spawn_app().await;
    let err = app
        .client
        .recommend(pb::RecommendRequest { client: Some(pb::ClientProfile::default()), top_k: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in [
        "client.level_of_care",
        "client.age_group",
        "client.jurisdiction",
        "client.language",
        "client.payment_option",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

#[tokio::test]
async fn assign_batch_is_optimal() {
    let mut app = spawn_app().await;
    // Greedy by priority would give c1 (priority 2) provider x (score 10 -> 20) and leave c2 unassigned;
    // the optimum gives c1 y (2 x 9 = 18) and c2 x (1 x 10 = 10): 28.
    let req = pb::AssignBatchRequest {
        clients: vec![
            pb::BatchClient {
                client_id: "c1".into(),
                priority: 2,
                candidates: vec![
                    pb::BatchCandidate { provider_id: "x".into(), score: 10 },
                    pb::BatchCandidate { provider_id: "y".into(), score: 9 },
                ],
            },
            pb::BatchClient {
                client_id: "c2".into(),
                priority: 1,
                candidates: vec![pb::BatchCandidate { provider_id: "x".into(), score: 10 }],
            },
        ],
        capacities: vec![
            pb::BatchCapacity { provider_id: "x".into(), capacity: 1 },
            pb::BatchCapacity { provider_id: "y".into(), capacity: 1 },
        ],
    };
    let r = app.client.assign_batch(req).await.unwrap().into_inner();
    assert_eq!(r.objective, 28);
    assert!(r.unassigned_client_ids.is_empty());
}

#[tokio::test]
async fn session_feedback_flags_a_weak_alliance() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr F", 1)).await;
    let client = client_of_org_a("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    let r = app
        .client
        .record_session_feedback(pb::RecordSessionFeedbackRequest {
            provider_id: p.id.clone(),
            client_id: client.into(),
            session_number: 1,
            srs_items: vec![8.0, 8.0, 9.0, 9.0],
            ors_items: vec![5.0, 5.0, 5.0, 5.0],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.alliance_concern);
    assert!((r.srs_total - 34.0).abs() < 1e-9);
    let bad = app
        .client
        .record_session_feedback(pb::RecordSessionFeedbackRequest {
            provider_id: p.id,
            client_id: "x".into(),
            session_number: 0,
            srs_items: vec![11.0],
            ors_items: vec![],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields = bad_fields_of(&bad);
    for f in ["client_id", "session_number", "srs_items", "srs_items[0]", "ors_items"] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

/// Issue 17: matching takes the same message limit as the other services (it accepted 64 MiB): a
/// request over 4 MiB is refused before it is decoded, and nothing is stored.
#[tokio::test]
async fn a_request_over_the_message_limit_is_refused_unread() {
    let mut app = spawn_app().await;
    let mut p = clinician("Dr Oversized", 1);
    p.display_name = "x".repeat(continuum_runtime::MAX_MESSAGE_BYTES + 1);
    let err = app
        .client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(p), expected_version: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let listed = app.client.list_providers(pb::ListProvidersRequest::default()).await.unwrap();
    assert!(listed.into_inner().providers.is_empty());
}
