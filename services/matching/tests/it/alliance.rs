//! Alliance learning from similar clients over real gRPC: RecordSessionFeedback counts each rating under
//! the client's segment (age group, main concern), and Recommend ranks a provider for a client on the
//! ratings of clients like them, saying so in the component's reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;

use crate::helpers::*;

const CLIENT_A: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a01";
const CLIENT_B: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a02";
/// The clients of `ORG_A` the tests rate sessions with.
const CLIENTS: [&str; 2] = [CLIENT_A, CLIENT_B];

fn feedback(
    provider_id: &str,
    client_id: &str,
    n: i32,
    srs: f64,
    domain: pb::ProblemDomain,
) -> pb::RecordSessionFeedbackRequest {
    pb::RecordSessionFeedbackRequest {
        provider_id: provider_id.into(),
        client_id: client_id.into(),
        session_number: n,
        srs_items: vec![srs / 4.0; 4],
        ors_items: vec![(5.0 + f64::from(n) / 4.0).min(10.0); 4],
        client_age_group: common::AgeGroup::Adult as i32,
        client_main_problem_domain: domain as i32,
        ..Default::default()
    }
}

async fn ranked(app: &mut TestApp, domain: pb::ProblemDomain) -> pb::RecommendResponse {
    app.client
        .recommend_for_client(pb::RecommendForClientRequest {
            client: Some(adult_profile()),
            fit: Some(pb::ClientFit { problem_domains: vec![domain as i32], ..Default::default() }),
            top_k: 10,
        })
        .await
        .unwrap()
        .into_inner()
        .ranking
        .unwrap()
}

fn alliance_of<'a>(r: &'a pb::RecommendResponse, name: &str) -> &'a pb::ScoreComponent {
    r.options
        .iter()
        .find(|o| o.provider.as_ref().unwrap().display_name == name)
        .and_then(|o| o.components.iter().find(|c| c.name == "alliance_learning"))
        .expect("alliance component")
}

fn names(r: &pb::RecommendResponse) -> Vec<String> {
    r.options.iter().map(|o| o.provider.as_ref().unwrap().display_name.clone()).collect()
}

#[tokio::test]
async fn a_provider_rated_well_by_similar_clients_ranks_higher_for_them_than_for_dissimilar_ones() {
    let mut app = spawn_app().await;
    for c in CLIENTS {
        client_of_org_a(c);
    }
    let a = create(&mut app, clinician("A rated by segment", 3)).await;
    create(&mut app, clinician("B unrated", 3)).await;
    // Depressed adults rate A highly; anxious adults rate it poorly.
    for n in 1..=12 {
        let r = app
            .client
            .record_session_feedback(feedback(
                &a.id,
                CLIENT_A,
                n,
                39.0,
                pb::ProblemDomain::Depression,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.client_segment, "adult/depression");
        assert_eq!(r.segment_feedback_count, n);
        app.client
            .record_session_feedback(feedback(&a.id, CLIENT_B, n, 31.0, pb::ProblemDomain::Anxiety))
            .await
            .unwrap();
    }

    let for_depression = ranked(&mut app, pb::ProblemDomain::Depression).await;
    assert_eq!(names(&for_depression), vec!["A rated by segment", "B unrated"]);
    let similar = alliance_of(&for_depression, "A rated by segment");
    assert!(
        similar.reason.starts_with("clients with the same main concern (depression) and age group (adult) rated the alliance 39.0/40 over 12 session(s)"),
        "{}",
        similar.reason
    );

    let for_anxiety = ranked(&mut app, pb::ProblemDomain::Anxiety).await;
    assert_eq!(names(&for_anxiety), vec!["B unrated", "A rated by segment"]);
    let dissimilar = alliance_of(&for_anxiety, "A rated by segment");
    assert!(
        dissimilar.reason.contains("rated the alliance 31.0/40 over 12 session(s)"),
        "{}",
        dissimilar.reason
    );
    assert!(similar.value > dissimilar.value + 0.4, "{} vs {}", similar.value, dissimilar.value);
}

#[tokio::test]
async fn the_segment_is_derived_from_the_client_profile_and_disagreements_are_bad_fields() {
    let mut app = spawn_app().await;
    for c in CLIENTS {
        client_of_org_a(c);
    }
    let a = create(&mut app, clinician("Derived", 3)).await;
    let derived = pb::RecordSessionFeedbackRequest {
        provider_id: a.id.clone(),
        client_id: CLIENT_A.into(),
        session_number: 1,
        srs_items: vec![9.5; 4],
        ors_items: vec![5.0; 4],
        client: Some(adult_profile()),
        fit: Some(pb::ClientFit {
            problem_domains: vec![pb::ProblemDomain::Trauma as i32],
            ..Default::default()
        }),
        ..Default::default()
    };
    let r = app.client.record_session_feedback(derived.clone()).await.unwrap().into_inner();
    assert_eq!((r.client_segment.as_str(), r.segment_feedback_count), ("adult/trauma", 1));

    // No client information: counted overall only.
    let bare = pb::RecordSessionFeedbackRequest {
        client: None,
        fit: None,
        session_number: 2,
        ..derived.clone()
    };
    let r = app.client.record_session_feedback(bare).await.unwrap().into_inner();
    assert_eq!(
        (r.client_segment.as_str(), r.segment_feedback_count, r.provider_feedback_count),
        ("", 0, 2)
    );

    let bad = pb::RecordSessionFeedbackRequest {
        session_number: 3,
        client_age_group: common::AgeGroup::Child as i32,
        client_main_problem_domain: pb::ProblemDomain::Grief as i32,
        ..derived.clone()
    };
    let err = app.client.record_session_feedback(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let fields = continuum_errors::bad_fields_of(&err);
    assert!(fields.iter().any(|f| f == "client_age_group"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "client_main_problem_domain"), "{fields:?}");

    let orphan = pb::RecordSessionFeedbackRequest {
        client: None,
        fit: None,
        session_number: 3,
        client_main_problem_domain: pb::ProblemDomain::Grief as i32,
        client_age_group: 99,
        ..derived
    };
    let err = app.client.record_session_feedback(orphan).await.unwrap_err();
    let fields = continuum_errors::bad_fields_of(&err);
    assert!(fields.iter().any(|f| f == "client_age_group"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "client_main_problem_domain"), "{fields:?}");
}

#[tokio::test]
async fn segment_ratings_survive_a_directory_reload_and_other_writes() {
    let mut app = spawn_app().await;
    for c in CLIENTS {
        client_of_org_a(c);
    }
    let a = create(&mut app, clinician("Reloaded", 3)).await;
    for n in 1..=6 {
        app.client
            .record_session_feedback(feedback(
                &a.id,
                CLIENT_A,
                n,
                40.0,
                pb::ProblemDomain::Depression,
            ))
            .await
            .unwrap();
    }
    // A later write of the provider (which returns the row only) must keep the segment ratings.
    let mut again = a.clone();
    again.display_name = "Reloaded".into();
    app.client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(again),
            expected_version: a.version,
        })
        .await
        .unwrap();
    let r = ranked(&mut app, pb::ProblemDomain::Depression).await;
    assert!(
        alliance_of(&r, "Reloaded").reason.contains("rated the alliance 40.0/40 over 6 session(s)"),
        "{}",
        alliance_of(&r, "Reloaded").reason
    );

    // A fresh snapshot loaded from the store sees the same.
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    let store = matching::store::Store::new(db);
    let all = store.all_providers().await.unwrap();
    let p = all.iter().find(|p| p.id == a.id).unwrap();
    assert_eq!(p.segment_stats("adult/depression").map(|s| s.ratings), Some(6));
    assert_eq!(p.segment_stats("adult").map(|s| s.ratings), Some(6));
}
