//! Directory import, the explained fit model and alliance learning over real gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;

use crate::helpers::*;

const CLIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

fn import_item(p: pb::Provider) -> pb::ImportProvidersRequest {
    let import_key = format!("fit:{}", p.display_name);
    pb::ImportProvidersRequest { provider: Some(p), expected_version: 0, import_key }
}

async fn recommend_for(
    app: &mut TestApp,
    client: pb::ClientProfile,
    fit: pb::ClientFit,
) -> pb::RecommendResponse {
    app.client
        .recommend_for_client(pb::RecommendForClientRequest {
            client: Some(client),
            fit: Some(fit),
            top_k: 10,
        })
        .await
        .unwrap()
        .into_inner()
        .ranking
        .unwrap()
}

fn names(r: &pb::RecommendResponse) -> Vec<String> {
    r.options.iter().map(|o| o.provider.as_ref().unwrap().display_name.clone()).collect()
}

#[tokio::test]
async fn import_reports_bad_items_by_index_and_stores_the_good() {
    let mut app = spawn_app().await;
    let existing = create(&mut app, clinician("Existing", 1)).await;
    let mut bad = clinician("Bad", 1);
    bad.languages = vec!["e n".into()];
    bad.outcome_strengths = vec![pb::OutcomeStrength {
        domain: pb::ProblemDomain::Depression as i32,
        rating: 0,
        cases: -1,
    }];
    let mut stale = existing.clone();
    stale.display_name = "Stale".into();
    let mut program = clinician("Program", 0);
    program.kind = pb::ProviderKind::Iop as i32;
    program.cohorts = vec![pb::Cohort {
        code: "spring".into(),
        start_date: Some(prost_types::Timestamp { seconds: 4_102_444_800, nanos: 0 }),
        seats: 12,
        open_seats: 12,
    }];
    let items = vec![
        import_item(clinician("Good 0", 1)),
        import_item(bad),
        import_item(program),
        pb::ImportProvidersRequest {
            provider: Some(stale),
            expected_version: 7,
            import_key: "fit:stale".into(),
        },
        import_item(clinician("Good 4", 2)),
    ];
    let summary =
        app.client.import_providers(tokio_stream::iter(items)).await.unwrap().into_inner();
    assert_eq!((summary.received, summary.created, summary.updated, summary.failed), (5, 3, 0, 2));
    let by_index: Vec<i32> = summary.errors.iter().map(|e| e.index).collect();
    assert_eq!(by_index, vec![1, 3]);
    let bad = &summary.errors[0];
    assert_eq!(bad.code, "INVALID_ARGUMENT");
    for f in [
        "provider.languages[0]",
        "provider.outcome_strengths[0].rating",
        "provider.outcome_strengths[0].cases",
    ] {
        assert!(bad.fields.iter().any(|x| x == f), "{f} missing from {:?}", bad.fields);
    }
    assert_eq!(summary.errors[1].reason, "VERSION_MISMATCH");
    assert_eq!(summary.errors[1].provider_id, existing.id);

    let listed = app
        .client
        .list_providers(pb::ListProvidersRequest { page_size: 50, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut got: Vec<String> = listed.providers.iter().map(|p| p.display_name.clone()).collect();
    got.sort();
    assert_eq!(got, vec!["Existing", "Good 0", "Good 4", "Program"]);
    let program = listed.providers.iter().find(|p| p.display_name == "Program").unwrap();
    assert_eq!(program.cohorts.len(), 1);
    assert_eq!(program.cohorts[0].seats, 12);
}

#[tokio::test]
async fn import_spans_batches_and_imported_providers_are_recommended() {
    let mut app = spawn_app().await;
    // Load the directory snapshot first, so the import must patch it.
    let before = app
        .client
        .recommend(pb::RecommendRequest { client: Some(adult_profile()), top_k: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.considered, 0);
    let items: Vec<_> =
        (0..2_500).map(|i| import_item(clinician(&format!("Clinician {i:04}"), 1))).collect();
    let summary =
        app.client.import_providers(tokio_stream::iter(items)).await.unwrap().into_inner();
    assert_eq!((summary.created, summary.failed), (2_500, 0));
    let after = app
        .client
        .recommend(pb::RecommendRequest { client: Some(adult_profile()), top_k: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.considered, 2_500);
    assert_eq!(after.options.len(), 5);
    assert!(after.directory_version > before.directory_version);
}

#[tokio::test]
async fn relational_preference_changes_the_order_of_equal_clinicians() {
    let mut app = spawn_app().await;
    let mut warm = clinician("Warm", 1);
    warm.relational_style = Some(common::RelationalStyle {
        directiveness: -2,
        emotional_intensity: 0,
        past_orientation: 0,
        challenge: -3,
    });
    let mut challenging = clinician("Challenging", 1);
    challenging.relational_style = Some(common::RelationalStyle {
        directiveness: 2,
        emotional_intensity: 0,
        past_orientation: 0,
        challenge: 3,
    });
    create(&mut app, warm).await;
    create(&mut app, challenging).await;

    let mut client = adult_profile();
    client.relational_style = Some(common::RelationalStyle {
        directiveness: -3,
        emotional_intensity: 0,
        past_orientation: 0,
        challenge: -2,
    });
    let r = app
        .client
        .recommend(pb::RecommendRequest { client: Some(client.clone()), top_k: 10 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&r), vec!["Warm", "Challenging"]);
    client.relational_style = Some(common::RelationalStyle {
        directiveness: 3,
        emotional_intensity: 0,
        past_orientation: 0,
        challenge: 3,
    });
    let r = app
        .client
        .recommend(pb::RecommendRequest { client: Some(client), top_k: 10 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&r), vec!["Challenging", "Warm"]);
    let names_of: Vec<&str> = r.options[0].components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names_of,
        vec![
            "clinical_fit",
            "outcome_strength",
            "relational_fit",
            "preference_fit",
            "history_fit",
            "alliance_learning",
            "logistics",
            "expected_wait"
        ]
    );
    assert!(r.options[0].components.iter().all(|c| !c.reason.is_empty()));
    assert!(!r.weights_version.is_empty());
}

#[tokio::test]
async fn ineffective_in_the_main_domain_ranks_below_neutral() {
    let mut app = spawn_app().await;
    let strength = |rating: pb::OutcomeRating| pb::OutcomeStrength {
        domain: pb::ProblemDomain::Depression as i32,
        rating: rating as i32,
        cases: 30,
    };
    // "A" would win the id tie-break; its ineffective rating must put it second.
    let mut a = clinician("A ineffective", 1);
    a.specialties = vec![pb::ProblemDomain::Depression as i32];
    a.outcome_strengths = vec![strength(pb::OutcomeRating::Ineffective)];
    let mut b = clinician("B neutral", 1);
    b.specialties = vec![pb::ProblemDomain::Depression as i32];
    b.outcome_strengths = vec![strength(pb::OutcomeRating::Neutral)];
    create(&mut app, a).await;
    create(&mut app, b).await;
    let fit = pb::ClientFit {
        problem_domains: vec![
            pb::ProblemDomain::Depression as i32,
            pb::ProblemDomain::Sleep as i32,
        ],
        ..Default::default()
    };
    let r = recommend_for(&mut app, adult_profile(), fit).await;
    assert_eq!(names(&r), vec!["B neutral", "A ineffective"]);
    let outcome = r.options[1].components.iter().find(|c| c.name == "outcome_strength").unwrap();
    assert!(outcome.reason.contains("ineffective in depression (30 cases)"), "{}", outcome.reason);
}

#[tokio::test]
async fn hard_constraint_exclusions_are_counted() {
    let mut app = spawn_app().await;
    let ok = create(&mut app, clinician("Ok", 1)).await;
    let mut closed = clinician("Closed", 1);
    closed.accepting_new_clients = false;
    create(&mut app, closed).await;
    let mut iop = clinician("IOP", 1);
    iop.levels_of_care = vec![common::LevelOfCare::IntensiveOutpatient as i32];
    create(&mut app, iop).await;
    let mut ny = clinician("NY", 1);
    ny.jurisdictions = vec!["US-NY".into()];
    create(&mut app, ny).await;
    let mut insured = clinician("Insured", 1);
    insured.payment_options = vec![common::PaymentOption::CommercialInsurance as i32];
    create(&mut app, insured).await;
    let mut emdr = clinician("EMDR", 1);
    emdr.modalities = vec![common::Modality::Emdr as i32];
    create(&mut app, emdr).await;
    let mut cbt_only = clinician("CBT only", 1);
    cbt_only.display_name = "Excluded".into();
    let excluded = create(&mut app, cbt_only).await;
    let mut in_person = clinician("In person", 1);
    in_person.formats = vec![common::CareFormat::InPerson as i32];
    create(&mut app, in_person).await;

    let mut client = adult_profile();
    client.phase = common::CarePhase::Stabilisation as i32;
    client.formats = vec![common::CareFormat::Video as i32];
    let fit =
        pb::ClientFit { excluded_provider_ids: vec![excluded.id.clone()], ..Default::default() };
    let r = recommend_for(&mut app, client, fit).await;
    let ids: Vec<_> = r.options.iter().map(|o| o.provider.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, vec![ok.id]);
    let excluded_by =
        |name: &str| r.exclusions.iter().find(|e| e.constraint == name).unwrap().excluded;
    assert_eq!(excluded_by("accepting_new_clients"), 1);
    assert_eq!(excluded_by("level_of_care"), 1);
    assert_eq!(excluded_by("jurisdiction"), 1);
    assert_eq!(excluded_by("payment_option"), 1);
    assert_eq!(excluded_by("phase_gate"), 1);
    assert_eq!(excluded_by("format"), 1);
    assert_eq!(excluded_by("client_exclusions"), 1);
    assert_eq!(excluded_by("language"), 0);
    assert_eq!(r.considered, 8);
}

#[tokio::test]
async fn two_low_srs_ratings_raise_stuck_then_rematch_avoids_the_modality() {
    let mut app = spawn_app().await;
    let current = create(&mut app, clinician("Current CBT", 3)).await;
    create(&mut app, clinician("Other CBT", 3)).await;
    let mut act = clinician("ACT", 3);
    act.modalities = vec![common::Modality::Act as i32];
    let act = create(&mut app, act).await;

    let feedback = |n: i32, srs: f64| pb::RecordSessionFeedbackRequest {
        provider_id: current.id.clone(),
        client_id: client_of_org_a(CLIENT).into(),
        session_number: n,
        srs_items: vec![srs / 4.0; 4],
        ors_items: vec![5.0; 4],
        modality: common::Modality::Cbt as i32,
        client: Some(adult_profile()),
        ..Default::default()
    };
    let first = app.client.record_session_feedback(feedback(1, 30.0)).await.unwrap().into_inner();
    assert!(first.alliance_concern && !first.stuck);
    assert_eq!(first.action, pb::StuckAction::Unspecified as i32);

    let second = app.client.record_session_feedback(feedback(2, 32.0)).await.unwrap().into_inner();
    assert!(second.stuck);
    assert_eq!(second.stuck_reasons, vec!["two_low_srs"]);
    assert_eq!(second.action, pb::StuckAction::Repair as i32);
    assert!(second.rematch_options.is_empty());
    assert!(!second.suggestion.is_empty());

    let third = app.client.record_session_feedback(feedback(3, 31.0)).await.unwrap().into_inner();
    assert_eq!(third.action, pb::StuckAction::Rematch as i32);
    assert_eq!(third.pair_sessions, 3);
    let ids: Vec<_> =
        third.rematch_options.iter().map(|o| o.provider.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, vec![act.id]);
    assert!(third.rematch_options.iter().all(|o| {
        !o.provider.as_ref().unwrap().modalities.contains(&(common::Modality::Cbt as i32))
    }));

    // The provider's alliance estimate now reflects the three ratings.
    let p = app
        .client
        .get_provider(pb::GetProviderRequest { provider_id: current.id })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(p.feedback_count, 3);
    assert!((p.mean_srs - 31.0).abs() < 1e-9);
}

#[tokio::test]
async fn feedback_with_client_styles_corrects_the_observed_style() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Style", 3)).await;
    let preferred = common::RelationalStyle {
        directiveness: 3,
        emotional_intensity: 0,
        past_orientation: -3,
        challenge: 0,
    };
    let mut last = None;
    for n in 1..=10 {
        let r = app
            .client
            .record_session_feedback(pb::RecordSessionFeedbackRequest {
                provider_id: p.id.clone(),
                client_id: client_of_org_a(CLIENT).into(),
                session_number: n,
                srs_items: vec![10.0; 4],
                ors_items: vec![(4.0 + f64::from(n) / 2.0).min(10.0); 4],
                client_relational_style: Some(preferred),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        last = Some(r);
    }
    let observed = last.unwrap().observed_relational_style.unwrap();
    assert_eq!((observed.directiveness, observed.past_orientation), (2, -2));
}

#[tokio::test]
async fn bad_fit_profile_names_every_field() {
    let mut app = spawn_app().await;
    let mut client = adult_profile();
    client.language = String::new();
    let fit = pb::ClientFit {
        problem_domains: vec![99],
        region: "nowhere".into(),
        excluded_provider_ids: vec!["x".into()],
        identity_preferences: vec!["Not A Code".into()],
        ..Default::default()
    };
    let err = app
        .client
        .recommend_for_client(pb::RecommendForClientRequest {
            client: Some(client),
            fit: Some(fit),
            top_k: 99,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let fields = continuum_errors::bad_fields_of(&err);
    for f in [
        "client.language",
        "fit.problem_domains[0]",
        "fit.region",
        "fit.excluded_provider_ids[0]",
        "fit.identity_preferences[0]",
        "top_k",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

/// A directory larger than `RANK_INLINE_UP_TO` is ranked on the blocking pool, not on the service's
/// runtime: the same answers, over the whole directory, alone or in a batch.
#[tokio::test]
async fn a_large_directory_is_ranked_in_full_off_the_runtime() {
    let mut app = spawn_app().await;
    let n = matching::app::RANK_INLINE_UP_TO + 5;
    let items: Vec<_> = (0..n)
        .map(|i| import_item(clinician(&format!("Full {i:04}"), 0)))
        .chain(std::iter::once(import_item(clinician("Open", 1))))
        .collect();
    let s = app.client.import_providers(tokio_stream::iter(items)).await.unwrap().into_inner();
    assert_eq!((s.created, s.failed), (i32::try_from(n + 1).unwrap(), 0), "{:?}", s.errors);
    let r = recommend_for(&mut app, adult_profile(), pb::ClientFit::default()).await;
    assert_eq!(r.considered, i32::try_from(n + 1).unwrap(), "every provider was ranked");
    assert_eq!(r.options.len(), 10);
    assert_eq!(names(&r)[0], "Open", "the one open slot ranks first: {:?}", names(&r));
    let request =
        pb::RecommendForClientRequest { client: Some(adult_profile()), fit: None, top_k: 10 };
    let batch = app
        .client
        .batch_recommend_for_client(pb::BatchRecommendForClientRequest {
            requests: vec![request.clone(), request],
        })
        .await
        .unwrap()
        .into_inner()
        .responses;
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0].ranking.as_ref(), Some(&r));
    assert_eq!(batch[1], batch[0]);
}

#[tokio::test]
async fn a_batch_answers_each_request_as_recommend_for_client_does_in_order() {
    let mut app = spawn_app().await;
    for (name, slots) in [("Open", 2), ("Full", 0), ("Also open", 1)] {
        create(&mut app, clinician(name, slots)).await;
    }
    let mut peer = adult_profile();
    peer.level_of_care = common::LevelOfCare::SelfGuidedPeer as i32;
    let fit = pb::ClientFit { region: "US-CA-LA".into(), ..Default::default() };
    let requests = vec![
        pb::RecommendForClientRequest { client: Some(adult_profile()), fit: None, top_k: 10 },
        pb::RecommendForClientRequest { client: Some(peer), fit: None, top_k: 10 },
        pb::RecommendForClientRequest { client: Some(adult_profile()), fit: Some(fit), top_k: 1 },
    ];
    let batch = app
        .client
        .batch_recommend_for_client(pb::BatchRecommendForClientRequest {
            requests: requests.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .responses;
    assert_eq!(batch.len(), 3);
    for (i, req) in requests.into_iter().enumerate() {
        let one = app.client.recommend_for_client(req).await.unwrap().into_inner();
        assert_eq!(batch[i], one, "request {i}");
    }
    let ranked = |i: usize| names(batch[i].ranking.as_ref().unwrap());
    assert_eq!(ranked(0).len(), 3, "every outpatient clinician passes the hard constraints");
    assert!(ranked(1).is_empty(), "no peer-support program in this directory");
    assert_eq!(ranked(2).len(), 1, "top_k per request");

    // A bad field anywhere refuses the whole call, each named under its request's index.
    let mut bad = adult_profile();
    bad.language = String::new();
    let err = app
        .client
        .batch_recommend_for_client(pb::BatchRecommendForClientRequest {
            requests: vec![
                pb::RecommendForClientRequest {
                    client: Some(adult_profile()),
                    fit: None,
                    top_k: 3,
                },
                pb::RecommendForClientRequest { client: Some(bad), fit: None, top_k: 99 },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut fields = continuum_errors::bad_fields_of(&err);
    fields.sort();
    assert_eq!(fields, ["requests[1].client.language", "requests[1].top_k"]);
}

#[tokio::test]
async fn the_directory_snapshot_picks_up_other_replicas_writes_after_the_refresh_interval() {
    use matching::directory_cache::DirectoryCache;
    use std::time::Duration;
    let backing = continuum_testkit::Backing::fresh().await;
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &backing.common().db(),
    )
    .await
    .unwrap();
    let store = matching::store::Store::new(db);
    let weights = std::sync::Arc::new(matching::domain::Weights::default());
    let eager = DirectoryCache::new(store.clone(), weights.clone(), Duration::ZERO);
    let lazy = DirectoryCache::new(store.clone(), weights, Duration::from_secs(3600));
    assert_eq!(eager.snapshot().await.unwrap().len(), 0);
    assert_eq!(lazy.snapshot().await.unwrap().len(), 0);
    // Written straight to the store, as another replica would: no write-through patch here.
    let draft = matching::convert::provider_from_proto(Some(clinician("Elsewhere", 1)), 0).unwrap();
    let written = store.upsert_provider(draft).await.unwrap();
    let fresh = eager.snapshot().await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert!(fresh.get(&written.id).is_some());
    // Within its interval the lazy cache still serves its snapshot; a local write patches it at once.
    assert_eq!(lazy.snapshot().await.unwrap().len(), 0);
    lazy.apply(vec![written]).await;
    assert_eq!(lazy.snapshot().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_id_repeated_in_one_import_is_created_then_replaced() {
    let mut app = spawn_app().await;
    let id = "0190a1b2-c3d4-7e5f-8a9b-0000000000c1".to_owned();
    let mut first = clinician("First name", 1);
    first.id = id.clone();
    let mut second = first.clone();
    second.display_name = "Second name".into();
    let items = vec![
        import_item(first),
        pb::ImportProvidersRequest {
            provider: Some(second),
            expected_version: 1,
            import_key: "fit:second".into(),
        },
    ];
    let summary =
        app.client.import_providers(tokio_stream::iter(items)).await.unwrap().into_inner();
    assert_eq!(
        (summary.created, summary.updated, summary.failed),
        (1, 1, 0),
        "{:?}",
        summary.errors
    );
    let p = app
        .client
        .get_provider(pb::GetProviderRequest { provider_id: id })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!((p.display_name.as_str(), p.version), ("Second name", 2));
}
