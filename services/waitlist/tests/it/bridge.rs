//! Bridge programs chosen from matching's directory: the real matching service runs in-process beside
//! the waitlist; Enqueue asks it for bridge-type programs that pass matching's hard constraints for the
//! client and records the choice with a reason; with matching down the entry is still accepted with the
//! rule-based kind, marked pending, and the background retry chooses the program once matching answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::waitlist::v1 as pb;

use crate::helpers::*;

fn program(
    name: &str,
    kind: mpb::ProviderKind,
    level: common::LevelOfCare,
    ages: &[common::AgeGroup],
    languages: &[&str],
) -> mpb::Provider {
    let mut p = continuum_testkit::clinician(ORG_A, name, &[common::Modality::PeerSupport], 5);
    p.kind = kind as i32;
    p.levels_of_care = vec![level as i32];
    p.age_groups = ages.iter().map(|a| *a as i32).collect();
    p.languages = languages.iter().map(|l| (*l).to_owned()).collect();
    p.payment_options =
        vec![common::PaymentOption::SelfPay as i32, common::PaymentOption::Free as i32];
    p
}

fn needs(language: &str) -> pb::BridgeNeeds {
    pb::BridgeNeeds {
        jurisdiction: "US-CA".into(),
        language: language.into(),
        payment_option: common::PaymentOption::SelfPay as i32,
        formats: vec![common::CareFormat::Video as i32],
    }
}

async fn enqueue_with(
    app: &mut TestApp,
    band: pb::Band,
    age: common::AgeGroup,
    language: &str,
) -> pb::WaitlistEntry {
    let mut req = enqueue_request(band, &[&id()]);
    req.age_group = age as i32;
    req.bridge_needs = Some(needs(language));
    app.client.enqueue(req).await.expect("enqueue").into_inner().entry.unwrap()
}

/// An English-speaking adult peer-support circle (self-guided / peer level of care).
fn peer_circle() -> mpb::Provider {
    program(
        "Peer Circle",
        mpb::ProviderKind::PeerSupport,
        common::LevelOfCare::SelfGuidedPeer,
        &[common::AgeGroup::Adult],
        &["en"],
    )
}

fn status(e: &pb::WaitlistEntry) -> pb::BridgeStatus {
    pb::BridgeStatus::try_from(e.bridge_status).unwrap()
}

#[tokio::test]
async fn enqueue_chooses_a_bridge_program_that_fits_the_client_from_the_directory() {
    use common::AgeGroup::{Adolescent, Adult};
    use common::LevelOfCare::{Outpatient, SelfGuidedPeer};
    let mut app = spawn_app().await;
    let peer_en = app
        .add_provider(program(
            "Peer Circle (English)",
            mpb::ProviderKind::PeerSupport,
            SelfGuidedPeer,
            &[Adult],
            &["en"],
        ))
        .await;
    let peer_es = app
        .add_provider(program(
            "Círculo de apoyo (español)",
            mpb::ProviderKind::PeerSupport,
            SelfGuidedPeer,
            &[Adult],
            &["es"],
        ))
        .await;
    let skills = app
        .add_provider(program(
            "Coping Skills Group",
            mpb::ProviderKind::SkillsGroup,
            Outpatient,
            &[Adult],
            &["en"],
        ))
        .await;
    let teen = app
        .add_provider(program(
            "Teen Single Session",
            mpb::ProviderKind::BridgeSupport,
            Outpatient,
            &[Adolescent],
            &["en"],
        ))
        .await;
    // A clinician is not a bridge program, however well it fits.
    app.add_provider(program(
        "Dr Fit",
        mpb::ProviderKind::Clinician,
        SelfGuidedPeer,
        &[Adult, Adolescent],
        &["en", "es"],
    ))
    .await;

    // Routine adult: peer support is the preferred kind; the Spanish circle fails the language constraint.
    let e = enqueue_with(&mut app, pb::Band::Routine, Adult, "en").await;
    assert_eq!(status(&e), pb::BridgeStatus::Chosen, "{}", e.bridge_reason);
    assert_eq!(
        (e.bridge_provider_id.as_str(), e.bridge_provider_kind.as_str(), e.bridge_support.as_str()),
        (peer_en.as_str(), "peer_support", "peer_support")
    );
    assert!(
        e.bridge_reason
            .starts_with("Peer Circle (English) (peer_support): the kind of support preferred"),
        "{}",
        e.bridge_reason
    );
    assert!(
        e.bridge_reason.contains("age group, jurisdiction, language, payment and format"),
        "{}",
        e.bridge_reason
    );
    // Stored: GetEntry and ListWaitlist show the same choice.
    let got = app.get(&e.id).await;
    assert_eq!(
        (got.bridge_provider_id, got.bridge_status, got.bridge_reason),
        (peer_en.clone(), e.bridge_status, e.bridge_reason.clone())
    );
    let listed = app
        .list(pb::ListWaitlistRequest { organization_id: ORG_A.into(), ..Default::default() })
        .await;
    assert_eq!(
        listed.entries.iter().find(|x| x.id == e.id).map(|x| x.bridge_provider_id.clone()),
        Some(peer_en.clone())
    );

    // Spanish-speaking adult: the Spanish circle.
    let e = enqueue_with(&mut app, pb::Band::Routine, Adult, "es-MX").await;
    assert_eq!(e.bridge_provider_id, peer_es);

    // Soon band: the skills group the rule prefers.
    let e = enqueue_with(&mut app, pb::Band::Soon, Adult, "en").await;
    assert_eq!(
        (e.bridge_provider_id.as_str(), e.bridge_support.as_str()),
        (skills.as_str(), "skills_group")
    );

    // Adolescent: the single-session program that serves adolescents (the adult programs fail age group).
    let e = enqueue_with(&mut app, pb::Band::Routine, Adolescent, "en").await;
    assert_eq!(
        (e.bridge_provider_id.as_str(), e.bridge_provider_kind.as_str(), e.bridge_support.as_str()),
        (teen.as_str(), "bridge_support", "single_session")
    );

    // Urgent adult: no single-session program serves adults, so the best other bridge program.
    let e = enqueue_with(&mut app, pb::Band::Urgent, Adult, "en").await;
    assert_eq!(status(&e), pb::BridgeStatus::Chosen);
    assert!(e.bridge_reason.contains("so the best other bridge program"), "{}", e.bridge_reason);
    assert!([peer_en.as_str(), skills.as_str()].contains(&e.bridge_provider_id.as_str()));
}

#[tokio::test]
async fn a_child_gets_a_parent_session_and_nothing_fitting_is_said_plainly() {
    let mut app = spawn_app().await;
    let mut parents = program(
        "Parents of Anxious Children (one session)",
        mpb::ProviderKind::BridgeSupport,
        common::LevelOfCare::Outpatient,
        &[common::AgeGroup::Child],
        &["en"],
    );
    parents.family_involvement = true;
    let parents = app.add_provider(parents).await;
    let e = enqueue_with(&mut app, pb::Band::Routine, common::AgeGroup::Child, "en").await;
    assert_eq!(
        (e.bridge_provider_id.as_str(), e.bridge_support.as_str()),
        (parents.as_str(), "parent_session")
    );

    // Nothing in the directory serves older adults: the rule's kind, and a coordinator books it.
    let e = enqueue_with(&mut app, pb::Band::Routine, common::AgeGroup::OlderAdult, "en").await;
    assert_eq!(status(&e), pb::BridgeStatus::NoneFits);
    assert_eq!((e.bridge_provider_id.as_str(), e.bridge_support.as_str()), ("", "peer_support"));
    assert!(
        e.bridge_reason.starts_with("no bridge program in the directory fits"),
        "{}",
        e.bridge_reason
    );

    // Without bridge needs the directory is not asked; the rule's kind only.
    let e = app.enqueue(pb::Band::Soon, &[&id()]).await;
    assert_eq!(status(&e), pb::BridgeStatus::NotRequested);
    assert_eq!(e.bridge_support, "skills_group");
    assert!(e.bridge_reason.contains("no bridge_needs"), "{}", e.bridge_reason);
}

#[tokio::test]
async fn with_matching_down_the_entry_is_accepted_pending_and_the_program_is_chosen_later() {
    let mut app = spawn_app_with(Options { matching_up: false, ..Options::default() }).await;
    let mut req = enqueue_request(pb::Band::Routine, &[&id()]);
    req.bridge_needs = Some(needs("en"));
    let e = app
        .client
        .enqueue(req.clone())
        .await
        .expect("enqueue with matching down")
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(status(&e), pb::BridgeStatus::Pending);
    assert_eq!((e.bridge_support.as_str(), e.bridge_provider_id.as_str()), ("peer_support", ""));
    assert!(
        e.bridge_reason.starts_with("matching's directory could not be asked yet"),
        "{}",
        e.bridge_reason
    );
    assert_eq!(status_of(&e), pb::EntryStatus::Waiting);

    // Not due before the back-off (30 s after the failed attempt); a second failure doubles it.
    assert!(app.bridges.fill_due(app.clock_now()).await.unwrap().is_empty());
    app.advance(TimeDelta::seconds(31));
    let round = app.bridges.fill_due(app.clock_now()).await.unwrap();
    assert_eq!(round.len(), 1);
    assert_eq!((round[0].attempts, round[0].status), (2, waitlist::domain::BridgeStatus::Pending));
    app.advance(TimeDelta::seconds(31));
    assert!(app.bridges.fill_due(app.clock_now()).await.unwrap().is_empty(), "backed off for 60 s");

    // Matching comes up with a fitting program; the next due round chooses it.
    app.start_matching().await;
    let peer = app.add_provider(peer_circle()).await;
    app.advance(TimeDelta::seconds(30));
    let round = app.bridges.fill_due(app.clock_now()).await.unwrap();
    assert_eq!(round.len(), 1);
    let got = app.get(&e.id).await;
    assert_eq!(status(&got), pb::BridgeStatus::Chosen, "{}", got.bridge_reason);
    assert_eq!(got.bridge_provider_id, peer);

    // A replay of the enqueue answers with the chosen program, and nothing is due any more.
    let replay = app.client.enqueue(req).await.unwrap().into_inner();
    assert!(replay.replayed);
    assert_eq!(replay.entry.unwrap().bridge_provider_id, peer);
    app.advance(TimeDelta::hours(2));
    assert!(app.bridges.fill_due(app.clock_now()).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_entry_that_leaves_while_its_bridge_is_pending_is_closed_not_chosen() {
    let mut app = spawn_app_with(Options { matching_up: false, ..Options::default() }).await;
    let mut req = enqueue_request(pb::Band::Routine, &[&id()]);
    req.bridge_needs = Some(needs("en"));
    let e = app.client.enqueue(req).await.unwrap().into_inner().entry.unwrap();
    app.client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: e.id.clone(),
            reason: "client found care elsewhere".into(),
            expected_version: None,
        })
        .await
        .unwrap();
    app.start_matching().await;
    app.advance(TimeDelta::minutes(1));
    let round = app.bridges.fill_due(app.clock_now()).await.unwrap();
    assert_eq!(round.len(), 1);
    assert_eq!(round[0].status, waitlist::domain::BridgeStatus::Closed);
    assert_eq!(status(&app.get(&e.id).await), pb::BridgeStatus::Closed);
}

#[tokio::test]
async fn the_bridge_record_is_written_with_its_entry_and_a_replay_restores_a_missing_one() {
    use continuum_db::sea_orm::ConnectionTrait;
    let mut app = spawn_app().await;
    let peer = app.add_provider(peer_circle()).await;
    let mut req = enqueue_request(pb::Band::Routine, &[&id()]);
    req.bridge_needs = Some(needs("en"));
    let first = app.client.enqueue(req.clone()).await.unwrap().into_inner().entry.unwrap();
    assert_eq!(status(&first), pb::BridgeStatus::Chosen);
    assert_eq!(first.bridge_provider_id, peer);
    let rows = |db: continuum_db::sea_orm::DatabaseConnection, entry_id: String| async move {
        db.query_all_raw(continuum_db::sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT entry_id FROM bridge_choices WHERE entry_id = '{entry_id}'"),
        ))
        .await
        .unwrap()
        .len()
    };
    let db = app.store.connection().clone();
    assert_eq!(rows(db.clone(), first.id.clone()).await, 1);

    // An entry stored before its bridge record was written with it (or whose record is gone): the replay
    // of the same enqueue creates the record and asks matching again.
    db.execute_unprepared(&format!("DELETE FROM bridge_choices WHERE entry_id = '{}'", first.id))
        .await
        .unwrap();
    assert_eq!(status(&app.get(&first.id).await), pb::BridgeStatus::Unspecified);
    let again = app.client.enqueue(req).await.unwrap().into_inner();
    assert!(again.replayed);
    let again = again.entry.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(status(&again), pb::BridgeStatus::Chosen);
    assert_eq!(again.bridge_provider_id, peer);
    assert_eq!(rows(db, first.id.clone()).await, 1);
}

/// Issue 12: the bridge index holds only pending choices (most are settled with their entry and never
/// looked up by due time); the retry's query names that predicate, so it is planned on the index.
#[tokio::test]
async fn the_retry_of_pending_bridge_choices_is_planned_on_the_pending_index() {
    use std::sync::{Arc, Mutex};
    let app = spawn_app().await;
    let statements: Arc<Mutex<Vec<sea_orm::Statement>>> = Arc::default();
    let mut db = continuum_db::connect("waitlist", &app.backing.common().db()).await.unwrap();
    let seen = statements.clone();
    db.set_metric_callback(move |info| seen.lock().unwrap().push(info.statement.clone()));
    let store = waitlist::store::Store::new(db, *app.store.policy());
    store.due_bridges(app.clock_now(), 10).await.unwrap();
    let due = statements.lock().unwrap().first().cloned().expect("the retry's query ran");
    let plan = continuum_testkit::query_plan::plan_of(store.connection(), &due).await;
    assert!(
        plan.contains("bridge_choices_pending_due"),
        "not planned on the index:\n{}\n{plan}",
        due.sql
    );
}
