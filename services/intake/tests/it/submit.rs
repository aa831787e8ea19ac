//! Submission, validation, idempotency, pending routing, listing and reassessment over real gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_errors::{bad_fields_of, reason_of};
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn accepted_and_scored_even_with_every_peer_down() {
    let mut app = spawn_app().await;
    let r = app.client.submit_intake(submission("k1")).await.unwrap().into_inner();
    assert!(!r.replayed);
    let intake = r.intake.unwrap();
    let a = intake.assessment.as_ref().unwrap();
    assert_eq!(a.level_of_care, common::LevelOfCare::Outpatient as i32);
    assert_eq!(a.risk_level, common::RiskLevel::None as i32);
    let phq = a.scores.iter().find(|s| s.instrument == pb::Instrument::Phq9 as i32).unwrap();
    assert_eq!((phq.total, phq.band.as_str(), phq.positive), (11, "moderate", true));
    assert!(!a.fired_rules.is_empty());
    let routing = intake.routing.as_ref().unwrap();
    assert_eq!(routing.status, pb::RoutingStatus::Pending as i32);
    assert!(routing.attempts >= 1);

    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.client.unwrap().given_name, "Avery");
    assert_eq!(got.routing.unwrap().status, pb::RoutingStatus::Pending as i32);
}

#[tokio::test]
async fn the_same_key_replays_and_a_reused_key_is_refused() {
    let mut app = spawn_app().await;
    let first = app.client.submit_intake(submission("same")).await.unwrap().into_inner();
    let again = app.client.submit_intake(submission("same")).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(first.intake.unwrap().id, again.intake.unwrap().id);

    let mut different = submission("same");
    different.presenting_concerns_text = "something else".into();
    let err = app.client.submit_intake(different).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("IDEMPOTENCY_KEY_REUSED"));

    assert_eq!(app.own_intakes().await.len(), 1);
}

#[tokio::test]
async fn a_resubmission_to_another_replica_is_replayed_from_the_database() {
    let mut app = spawn_app().await;
    let first = app.client.submit_intake(submission("db-replay")).await.unwrap().into_inner();
    // The other replica shares only the database: the intake's unique index finds the earlier intake,
    // whose rows all stay as they were (the new intake's rows are written together or not at all).
    let (mut replica, shutdown) = another_replica(&app).await;
    let again = replica.submit_intake(submission("db-replay")).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(first.intake.unwrap().id, again.intake.unwrap().id);
    let mut different = submission("db-replay");
    different.presenting_concerns_text = "something else".into();
    let err = replica.submit_intake(different).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("IDEMPOTENCY_KEY_REUSED"));
    shutdown.cancel();
    assert_eq!(app.own_intakes().await.len(), 1);
}

#[tokio::test]
async fn concurrent_resubmissions_store_one_intake() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut c = app.client.clone();
        tasks.push(tokio::spawn(async move {
            c.submit_intake(submission("race")).await.unwrap().into_inner()
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().intake.unwrap().id);
    }
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn bad_input_names_every_field_and_stores_nothing() {
    let mut app = spawn_app().await;
    let mut bad = submission("");
    bad.organization_id = "nope".into();
    let client = bad.client.as_mut().unwrap();
    client.given_name = String::new();
    client.date_of_birth = Some(common::Date { year: 2001, month: 2, day: 30 });
    client.email = "not-an-email".into();
    client.preferred_language = String::new();
    client.jurisdiction = "California".into();
    client.payment_option = 42;
    let s = bad.screeners.as_mut().unwrap();
    s.phq9 = Some(pb::Phq9 { items: vec![0, 1, 2, 3, 4, 0, 0, 0] });
    s.gad7 = Some(pb::Gad7 { items: vec![0, 0, 0, 0, 0, 0, -1] });
    bad.preferences = Some(pb::Preferences { modalities_avoided: vec![77], ..Default::default() });
    let err = app.client.submit_intake(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in [
        "idempotency_key",
        "organization_id",
        "client.given_name",
        "client.date_of_birth",
        "client.email",
        "client.preferred_language",
        "client.jurisdiction",
        "client.payment_option",
        "screeners.phq9.items",
        "screeners.phq9.items[4]",
        "screeners.gad7.items[6]",
        "preferences.modalities_avoided[0]",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
    // Error messages never echo submitted values.
    assert!(!err.message().contains("not-an-email"));

    let mut no_client = submission("k");
    no_client.client = None;
    no_client.screeners = None;
    let err = app.client.submit_intake(no_client).await.unwrap_err();
    let fields = bad_fields_of(&err);
    assert!(
        fields.contains(&"client".to_owned()) && fields.contains(&"screeners".to_owned()),
        "{fields:?}"
    );

    let list = app
        .client
        .list_intakes(pb::ListIntakesRequest { organization_id: ORG.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(list.intakes.is_empty(), "nothing partial is stored");
}

#[tokio::test]
async fn future_birth_date_is_rejected() {
    let mut app = spawn_app().await;
    let mut s = submission("future");
    s.client.as_mut().unwrap().date_of_birth = Some(common::Date { year: 2999, month: 1, day: 1 });
    let err = app.client.submit_intake(s).await.unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["client.date_of_birth".to_owned()]);
}

#[tokio::test]
async fn crisis_resources_come_back_at_once() {
    let mut app = spawn_app().await;
    let mut s = submission("crisis");
    s.screeners.as_mut().unwrap().cssrs =
        Some(pb::Cssrs { intent_with_plan: true, ..Default::default() });
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(intake.assessment.unwrap().risk_level, common::RiskLevel::High as i32);
    let routing = intake.routing.unwrap();
    assert!(routing.crisis_resources.iter().any(|r| r.contains("988")));
}

#[tokio::test]
async fn no_eligible_provider_needs_a_coordinator() {
    let mut app = spawn_with_matching().await;
    let intake = app
        .client
        .submit_intake(submission("empty-directory"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let routing = intake.routing.unwrap();
    assert_eq!(routing.status, pb::RoutingStatus::NeedsCoordinator as i32);
    assert!(routing.reason.contains("hard constraints"));
}

#[tokio::test]
async fn list_filters_and_pages() {
    let mut app = spawn_app().await;
    for i in 0..5 {
        let mut s = submission(&format!("page-{i}"));
        if i == 0 {
            s.screeners.as_mut().unwrap().phq9 =
                Some(pb::Phq9 { items: vec![3, 3, 3, 3, 3, 3, 3, 0, 0] });
        }
        app.client.submit_intake(s).await.unwrap();
    }
    let page1 = app
        .client
        .list_intakes(pb::ListIntakesRequest {
            organization_id: ORG.into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.intakes.len(), 3);
    assert!(!page1.next_page_token.is_empty());
    let page2 = app
        .client
        .list_intakes(pb::ListIntakesRequest {
            organization_id: ORG.into(),
            page_size: 3,
            page_token: page1.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.intakes.len(), 2);
    assert!(page2.next_page_token.is_empty());
    let iop = app
        .client
        .list_intakes(pb::ListIntakesRequest {
            organization_id: ORG.into(),
            level_of_care: common::LevelOfCare::IntensiveOutpatient as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(iop.intakes.len(), 1);
    let other_org = app
        .client
        .list_intakes(pb::ListIntakesRequest {
            organization_id: "0190a1b2-c3d4-7e5f-8a9b-0000000000ff".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(other_org.code(), Code::PermissionDenied);
    let err = app
        .client
        .list_intakes(pb::ListIntakesRequest {
            organization_id: "not-a-uuid".into(),
            page_size: 1000,
            page_token: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields = bad_fields_of(&err);
    assert!(
        fields.contains(&"organization_id".to_owned())
            && fields.contains(&"page_size".to_owned())
            && fields.contains(&"page_token".to_owned())
    );
}

#[tokio::test]
async fn reassessment_reports_rising_risk() {
    let mut app = spawn_app().await;
    let intake =
        app.client.submit_intake(submission("re")).await.unwrap().into_inner().intake.unwrap();
    let r = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(pb::Screeners {
                cssrs: Some(pb::Cssrs { thoughts_with_method: true, ..Default::default() }),
                ..Default::default()
            }),
            clinician_reports_imminent_risk: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.risk_increased);
    assert_eq!(r.assessment.unwrap().risk_level, common::RiskLevel::Moderate as i32);
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.assessment.unwrap().risk_level, common::RiskLevel::Moderate as i32);
    let missing = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            screeners: Some(pb::Screeners {
                phq9: Some(pb::Phq9 { items: vec![0; 9] }),
                ..Default::default()
            }),
            clinician_reports_imminent_risk: false,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

/// Issue 12: matching's routing plan for a new intake is asked before the intake is stored and stored with
/// it, before the routing calls anyone on it (here the referral service is down) — no statement of its
/// own — so the retry follows it.
#[tokio::test]
async fn a_new_intakes_routing_plan_is_stored_with_the_intake_in_no_statement_of_its_own() {
    use std::sync::{Arc, Mutex};
    let backing = continuum_testkit::Backing::fresh().await;
    // The clinic is served here (as a token of it would register it); matching shares the registry.
    backing.register(ORG);
    let (maddr, msd, _mb) = spawn_matching(&backing).await;
    let matching = TestApp::matching_admin_at(&backing, &maddr);
    let provider =
        add_provider_via(matching, clinician("Dr Plan", &[common::Modality::Cbt], 5)).await;
    // Every statement intake's store runs, as run.
    let statements: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut db = open_db(&backing).await;
    let seen = statements.clone();
    db.set_metric_callback(move |info| seen.lock().unwrap().push(info.statement.sql.clone()));
    let store = store_over(&backing, db);
    let api =
        direct_api(&backing, store.clone(), [maddr, closed_addr().await, closed_addr().await])
            .await;

    let (intake, routing) = submitted_pending(&api, "plan-with-intake").await;
    msd.cancel();
    let writes_plan =
        |sql: &String| sql.to_ascii_lowercase().contains("update \"routings\" set \"plan\"");
    let run = statements.lock().unwrap().clone();
    assert!(!run.is_empty(), "the callback sees the store's statements");
    assert!(!run.iter().any(writes_plan), "the plan was written on its own: {run:#?}");

    // The retry follows the stored plan: claimed once the lease has lapsed, the task carries it.
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    let task = store
        .claim_routing(&intake.id, "another-router", later, later + chrono::Duration::seconds(30))
        .await
        .unwrap()
        .expect("the pending routing can be claimed");
    let plan = task.plan.as_ref().unwrap_or_else(|| panic!("no plan stored: {routing:?}"));
    assert_eq!(
        plan.candidates.iter().map(|c| c.provider_id.as_str()).collect::<Vec<_>>(),
        [provider]
    );

    // Finished, the task keeps its decision and drops the plan (a reopened routing asks afresh), in one
    // statement on the task alone: the intake row is not rewritten to copy the status.
    use intake::domain::RoutingStatus;
    use intake::store::entities::routing;
    use sea_orm::EntityTrait;
    let mut decision = task.intake.routing.clone();
    decision.status = RoutingStatus::Waitlisted;
    let before = statements.lock().unwrap().len();
    assert!(store.finish_routing(&task.intake, "another-router", &decision, None).await.unwrap());
    let finish = statements.lock().unwrap()[before..].to_vec();
    assert!(
        !finish.iter().any(|sql| sql.to_ascii_lowercase().contains("intakes")),
        "the finish touched the intake row: {finish:#?}"
    );
    let row = routing::Entity::find_by_id(intake.id.clone())
        .one(store.connection())
        .await
        .unwrap()
        .expect("the routing row is kept");
    assert_eq!((row.status.as_str(), row.plan), ("waitlisted", None));

    // ListIntakes filters on the task's status.
    let listed = |status| {
        let store = store.clone();
        async move {
            let f = intake::store::IntakeFilter {
                organization_id: ORG.into(),
                routing_status: Some(status),
                ..Default::default()
            };
            let page = store.list_intakes(&f, None, 10).await.unwrap();
            page.into_iter().map(|i| i.id.to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(RoutingStatus::Waitlisted).await, [intake.id.as_str()]);
    assert!(listed(RoutingStatus::Pending).await.is_empty());
    assert!(listed(RoutingStatus::Referred).await.is_empty());
}

/// Issue 12: a retry follows the plan an earlier attempt stored, which an outage can have made long stale.
/// A provider of that plan found full makes the retry ask matching for the directory as it stands: a slot
/// opened since the plan was made is found, and the providers filled meanwhile are passed over without a
/// call (before, the retry walked every stale "open slot" into a refusal and then to the waitlist).
#[tokio::test]
async fn a_provider_found_full_makes_the_routing_follow_a_fresh_plan() {
    let planned = PlannedWhileReferralDown::submit("fresh-plan").await;
    let [first, second] = planned.providers.clone();
    // Meanwhile both planned slots are taken, and a new clinician opens one.
    planned.take_a_slot(&first).await;
    planned.take_a_slot(&second).await;
    let cbt = [common::Modality::Cbt];
    let third = add_provider_via(planned.matching.clone(), clinician("Dr Third", &cbt, 1)).await;

    // The retry, with referral back, finds the first planned provider full and follows a fresh plan.
    let decision = planned.retried().await;
    assert_eq!(decision.status, intake::domain::RoutingStatus::Referred, "{}", decision.reason);
    assert_eq!(decision.provider_id.as_deref(), Some(third.as_str()), "{}", decision.reason);
    let mut options = decision.candidate_provider_ids.clone();
    options.sort();
    let mut all = vec![first, second, third];
    all.sort();
    assert_eq!(options, all, "the decision lists the fresh plan's options");
}

/// Issue 12: routings ranked alike race for the same last slots. A planned option found full when the
/// routing calls referral is passed over in that same call: the referral goes to the next planned option
/// with a slot (first-open) and keeps the one found full among its alternatives, where a "no" re-routes.
#[tokio::test]
async fn a_full_first_option_is_passed_over_in_the_same_referral_call() {
    use continuum_proto::referral::v1 as rpb;
    let planned = PlannedWhileReferralDown::submit("first-open").await;
    // Alike listings score alike, and matching breaks the tie by provider id.
    let [best, next] = {
        let mut ids = planned.providers.clone();
        ids.sort();
        ids
    };
    planned.take_a_slot(&best).await;

    let decision = planned.retried().await;
    assert_eq!(decision.status, intake::domain::RoutingStatus::Referred, "{}", decision.reason);
    assert_eq!(decision.provider_id.as_deref(), Some(next.as_str()), "{}", decision.reason);
    assert!(decision.reason.contains("ranked option 2 of 2"), "{}", decision.reason);
    let token = planned.backing.token(ORG, &[continuum_auth::Role::Coordinator]);
    let mut referrals = rpb::referral_service_client::ReferralServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&planned.raddr).unwrap(),
        continuum_testkit::Bearer::new(&token),
    );
    let referral = referrals
        .get_referral(rpb::GetReferralRequest { referral_id: decision.referral_id.unwrap() })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(referral.provider_id, next);
    assert_eq!(
        referral.alternative_provider_ids,
        vec![best],
        "the full option stays an alternative"
    );
}

/// Issue 12, found by 20 PostgreSQL restarts under load with 20,000 providers (7 clients both referred and
/// waitlisted, 4 slots taken for no referral): an attempt whose referral call lands but whose answer never
/// reaches it (the attempt cancelled, or its finish not written) leaves its task leased, and the router
/// that claims the task once the lease lapses must make the same call again, not route afresh. A fresh
/// plan sees the slot that call took as full and sends the client elsewhere (here to the waitlist). Here
/// referral's answer is held back while the lease lapses and another router runs the task: it follows the
/// plan stored with the intake and gets back the referral already made.
#[tokio::test]
async fn a_routing_whose_referral_answer_is_lost_gets_the_same_referral_from_the_next_router() {
    use continuum_proto::intake::v1::intake_service_server::IntakeService;
    use continuum_proto::referral::v1 as rpb;
    use intake::domain::RoutingStatus;
    use intake::store::entities::routing;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let backing = continuum_testkit::Backing::fresh().await;
    backing.register(ORG);
    let (maddr, msd, _mb) = spawn_matching(&backing).await;
    let (raddr, rsd, _rb) = spawn_referral(&backing, &maddr, &closed_addr().await).await;
    let matching = TestApp::matching_admin_at(&backing, &maddr);
    let cbt = [common::Modality::Cbt];
    let provider = add_provider_via(matching, clinician("Dr Last Slot", &cbt, 1)).await;
    let (held_addr, release) = answers_held_back(&raddr).await;
    let store = open_store(&backing).await;
    let waitlist_down = closed_addr().await;
    let api =
        direct_api(&backing, store.clone(), [maddr.clone(), held_addr, waitlist_down.clone()])
            .await;
    let submit = tokio::spawn(async move {
        api.submit_intake(as_clinician(submission("answer-lost"), ORG)).await
    });

    // The referral is made (the last slot taken for it) while its answer is held back.
    let token = backing.token(ORG, &[continuum_auth::Role::Coordinator]);
    let mut referrals = rpb::referral_service_client::ReferralServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&raddr).unwrap(),
        continuum_testkit::Bearer::new(&token),
    );
    let list = rpb::ListReferralsRequest { organization_id: ORG.into(), ..Default::default() };
    let mut made = Vec::new();
    for _ in 0..200 {
        made = referrals.list_referrals(list.clone()).await.unwrap().into_inner().referrals;
        if !made.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let [made] = made.try_into().expect("the held call made one referral");
    assert_eq!(made.provider_id, provider);

    // The lease lapses, and another router claims the task and runs it.
    routing::Entity::update_many()
        .col_expr(routing::Column::LeaseUntilMs, Expr::value(0_i64))
        .filter(routing::Column::IntakeId.eq(made.intake_id.clone()))
        .exec(store.connection())
        .await
        .unwrap();
    let peers = [maddr.clone(), raddr.clone(), waitlist_down];
    let next = router_over(&backing, store.clone(), peers);
    let decision = next.route(&made.intake_id).await.unwrap();
    assert_eq!(decision.status, RoutingStatus::Referred, "{}", decision.reason);
    assert_eq!(decision.referral_id.as_deref(), Some(made.id.as_str()), "{}", decision.reason);
    assert_eq!(decision.provider_id.as_deref(), Some(provider.as_str()));

    // The held answer arrives: the first attempt answers, and its finish is refused by the lease it lost.
    release.send(true).unwrap();
    let answered = submit.await.unwrap().expect("the submission is answered").into_inner();
    assert_eq!(answered.intake.unwrap().id, made.intake_id);
    let stored = store
        .get_intake(&continuum_vocab::ids::IntakeId::from_stored(&made.intake_id).unwrap())
        .await
        .unwrap();
    assert_eq!(stored.routing.status, RoutingStatus::Referred, "{}", stored.routing.reason);
    assert_eq!(stored.routing.referral_id.as_deref(), Some(made.id.as_str()));
    let all = referrals.list_referrals(list).await.unwrap().into_inner().referrals;
    assert_eq!(all.len(), 1, "one referral: {all:?}");
    msd.cancel();
    rsd.cancel();
}

/// Matching and referral running (intake's own address closed), two alike CBT clinicians with one slot
/// each, and an intake submitted while referral was unreachable: stored with matching's plan of both
/// clinicians, its routing pending. Stops both services when dropped.
struct PlannedWhileReferralDown {
    backing: continuum_testkit::Backing,
    maddr: String,
    raddr: String,
    matching: continuum_proto::matching::v1::matching_service_client::MatchingServiceClient<
        continuum_testkit::AuthedChannel,
    >,
    store: intake::store::Store,
    intake: pb::Intake,
    /// The two clinicians, in the order they were listed.
    providers: [String; 2],
    shutdowns: [continuum_runtime::Shutdown; 2],
    _backings: [continuum_testkit::Backing; 2],
}

impl PlannedWhileReferralDown {
    async fn submit(key: &str) -> Self {
        let backing = continuum_testkit::Backing::fresh().await;
        backing.register(ORG);
        let (maddr, msd, mb) = spawn_matching(&backing).await;
        let (raddr, rsd, rb) = spawn_referral(&backing, &maddr, &closed_addr().await).await;
        let matching = TestApp::matching_admin_at(&backing, &maddr);
        let cbt = [common::Modality::Cbt];
        let one = add_provider_via(matching.clone(), clinician("Dr One", &cbt, 1)).await;
        let two = add_provider_via(matching.clone(), clinician("Dr Two", &cbt, 1)).await;
        let store = open_store(&backing).await;
        let down = [maddr.clone(), closed_addr().await, closed_addr().await];
        let api = direct_api(&backing, store.clone(), down).await;
        let (intake, _) = submitted_pending(&api, key).await;
        Self {
            backing,
            maddr,
            raddr,
            matching,
            store,
            intake,
            providers: [one, two],
            shutdowns: [msd, rsd],
            _backings: [mb, rb],
        }
    }

    /// Takes one slot of `provider_id` outside any routing (the provider's own admin).
    async fn take_a_slot(&self, provider_id: &str) {
        use continuum_proto::matching::v1 as mpb;
        let take = mpb::UpdateCapacityRequest {
            provider_id: provider_id.to_owned(),
            change: Some(mpb::update_capacity_request::Change::Delta(-1)),
            ..Default::default()
        };
        self.matching.clone().update_capacity(take).await.unwrap();
    }

    /// The intake's routing retried now, with referral reachable.
    async fn retried(&self) -> intake::domain::RoutingDecision {
        self.store.expedite_routings(chrono::Utc::now()).await.unwrap();
        let peers = [self.maddr.clone(), self.raddr.clone(), closed_addr().await];
        let router = router_over(&self.backing, self.store.clone(), peers);
        router.route(&self.intake.id).await.unwrap()
    }
}

impl Drop for PlannedWhileReferralDown {
    fn drop(&mut self) {
        for s in &self.shutdowns {
            s.cancel();
        }
    }
}

/// Submits `key`'s intake through `api` as a clinician of [`ORG`] and checks that its routing is still
/// pending (a peer it needs is down): the intake and its routing.
async fn submitted_pending(
    api: &intake::grpc::IntakeApi,
    key: &str,
) -> (pb::Intake, pb::RoutingDecision) {
    use continuum_proto::intake::v1::intake_service_server::IntakeService;
    let intake =
        api.submit_intake(as_clinician(submission(key), ORG)).await.unwrap().into_inner().intake;
    let intake = intake.unwrap();
    let routing = intake.routing.clone().unwrap();
    assert_eq!(routing.status, pb::RoutingStatus::Pending as i32, "{}", routing.reason);
    (intake, routing)
}

/// Issue 12: the routing queue's index holds only pending tasks (a finish as referred or waitlisted leaves
/// it), a second one the tasks left for a coordinator, and the clinic id's index only intakes that carry
/// one. Each query that reads them names the index's predicate, so each is planned on its index: in
/// PostgreSQL's generic plan, which never sees a bound value, and on SQLite, which proves a predicate only
/// from a term that matches it (a status bound as a value, or no `<> ''` term, would not use them).
#[tokio::test]
async fn the_queue_the_coordinators_filter_and_the_clinic_id_lookup_are_planned_on_their_indexes() {
    use continuum_proto::intake::v1::intake_service_server::IntakeService;
    use intake::domain::RoutingStatus;
    use intake::store::IntakeFilter;
    use std::sync::{Arc, Mutex};
    let backing = continuum_testkit::Backing::fresh().await;
    backing.register(ORG);
    let statements: Arc<Mutex<Vec<sea_orm::Statement>>> = Arc::default();
    let mut db = open_db(&backing).await;
    let seen = statements.clone();
    db.set_metric_callback(move |info| seen.lock().unwrap().push(info.statement.clone()));
    let store = store_over(&backing, db);
    let api = direct_api(
        &backing,
        store.clone(),
        [closed_addr().await, closed_addr().await, closed_addr().await],
    )
    .await;
    // Two intakes of the same clinic client: the second looks the first one's client id up.
    let (first, _) = submitted_pending(&api, "plan-a").await;
    let mut again = submission("plan-a");
    again.idempotency_key = "plan-b".into();
    let second =
        api.submit_intake(as_clinician(again, ORG)).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(second.client_id, first.client_id, "the clinic's client keeps one client id");
    let now = chrono::Utc::now();
    store.claim_due_routings("planner", now, std::time::Duration::from_secs(30), 10).await.unwrap();
    store.pending_routings().await.unwrap();
    for status in [RoutingStatus::Pending, RoutingStatus::NeedsCoordinator] {
        let filter = IntakeFilter {
            organization_id: ORG.into(),
            routing_status: Some(status),
            ..IntakeFilter::default()
        };
        store.list_intakes(&filter, None, 10).await.unwrap();
    }
    let run = statements.lock().unwrap().clone();
    let find = |what: &str, pick: &dyn Fn(&str) -> bool| {
        run.iter()
            .find(|s| pick(&s.sql.to_ascii_lowercase()))
            .unwrap_or_else(|| {
                panic!("no {what} among {:#?}", run.iter().map(|s| &s.sql).collect::<Vec<_>>())
            })
            .clone()
    };
    let expected = [
        (
            "the clinic id lookup",
            find("clinic id lookup", &|s| {
                s.starts_with("select") && s.contains("external_client_id\" =")
            }),
            "intakes_org_external_client",
        ),
        (
            "the claim",
            find("claim", &|s| s.starts_with("update routings") && s.contains("limit")),
            "routings_pending_due",
        ),
        (
            "the pending count",
            find("count", &|s| s.starts_with("select count(*) from routings")),
            "routings_pending_due",
        ),
        (
            "the pending filter",
            find("pending filter", &|s| s.contains("routings.status = 'pending'")),
            "routings_pending_due",
        ),
        (
            "the coordinator's filter",
            find("coordinator filter", &|s| s.contains("routings.status = 'needs_coordinator'")),
            "routings_needs_coordinator",
        ),
    ];
    for (what, statement, index) in expected {
        let plan = continuum_testkit::query_plan::plan_of(store.connection(), &statement).await;
        assert!(
            plan.contains(index),
            "{what} is not planned on {index}:\n{}\n{plan}",
            statement.sql
        );
    }
}
