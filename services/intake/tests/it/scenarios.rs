//! Issue 3's scenarios over real gRPC, with the real matching and referral services in-process: (a) the
//! crisis interlock with a full crisis service, (b) stabilisation gates trauma processing out, (c) a
//! regulated client gets trauma-focused options first, (d) a cycling adolescent goes to an adolescent IOP
//! with family involvement, (e) options that are not CBT-only rank above CBT-only ones after CBT twice without help, (f) a clinician
//! override is recorded with its reason and changes the routing. Plus consent scope and reliable change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use common::Modality as M;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;

use crate::helpers::*;

fn routing(i: &pb::Intake) -> &pb::RoutingDecision {
    i.routing.as_ref().unwrap()
}

fn assessment(i: &pb::Intake) -> &pb::Assessment {
    i.assessment.as_ref().unwrap()
}

fn fired(i: &pb::Intake, id: &str) -> bool {
    assessment(i).fired_rules.iter().any(|r| r.rule_id == id)
}

async fn submit(app: &mut TestApp, s: pb::SubmitIntakeRequest) -> pb::Intake {
    app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap()
}

#[tokio::test]
async fn a_cssrs_intent_gets_an_urgent_crisis_referral_even_when_the_crisis_service_is_full() {
    let mut app = spawn_with_matching_and_referral().await;
    let crisis = app
        .add_provider(mpb::Provider {
            kind: mpb::ProviderKind::CrisisService as i32,
            levels_of_care: vec![common::LevelOfCare::Crisis as i32],
            age_groups: vec![common::AgeGroup::Adult as i32, common::AgeGroup::Adolescent as i32],
            modalities: vec![M::CrisisIntervention as i32],
            crisis_capable: true,
            ..clinician("Mobile crisis team", &[], 0)
        })
        .await;
    let open_outpatient =
        app.add_provider(clinician("Open outpatient", &[M::Cbt, M::Act], 5)).await;
    let mut s = submission("crisis-a");
    s.screeners.as_mut().unwrap().cssrs =
        Some(pb::Cssrs { intent_without_plan: true, ..Default::default() });
    let intake = submit(&mut app, s).await;
    assert_eq!(assessment(&intake).risk_level, common::RiskLevel::High as i32);
    let r = routing(&intake);
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "reason: {}", r.reason);
    assert_eq!(
        r.provider_id, crisis,
        "only the crisis-capable service, never the open outpatient {open_outpatient}"
    );
    assert!(r.waitlist_entry_id.is_empty(), "never waitlisted");
    assert!(r.crisis_resources.iter().any(|c| c.contains("988")));
    assert!(r.reason.contains("routing.crisis_interlock"), "{}", r.reason);
    let referral = app
        .referral_coordinator()
        .get_referral(rpb::GetReferralRequest { referral_id: r.referral_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(referral.urgency, common::Urgency::Emergency as i32);
    assert!(referral.overbooked, "made although the crisis service had no capacity");
}

/// The trauma directory of scenarios (b), (c) and (f): three trauma-processing clinicians, a trauma IOP
/// track, and three stabilising options, all with open slots. Returns (trauma ids, stabilising ids).
async fn trauma_directory(app: &TestApp) -> (HashSet<String>, HashSet<String>) {
    let mut trauma = HashSet::new();
    for (name, m) in [
        ("EMDR clinician", M::Emdr),
        ("PE clinician", M::ProlongedExposure),
        ("CPT clinician", M::Cpt),
    ] {
        trauma.insert(app.add_provider(clinician(name, &[m], 3)).await);
    }
    trauma.insert(
        app.add_provider(mpb::Provider {
            kind: mpb::ProviderKind::TraumaIop as i32,
            levels_of_care: vec![
                common::LevelOfCare::Outpatient as i32,
                common::LevelOfCare::IntensiveOutpatient as i32,
            ],
            ..clinician("Trauma IOP track", &[M::SkillsTraining, M::Somatic], 3)
        })
        .await,
    );
    let mut stabilising = HashSet::new();
    stabilising.insert(
        app.add_provider(mpb::Provider {
            kind: mpb::ProviderKind::SkillsGroup as i32,
            ..clinician("DBT skills group", &[M::Dbt, M::SkillsTraining], 3)
        })
        .await,
    );
    stabilising.insert(app.add_provider(clinician("Somatic clinician", &[M::Somatic], 3)).await);
    stabilising
        .insert(app.add_provider(clinician("ACT clinician", &[M::Act, M::PersonCentred], 3)).await);
    (trauma, stabilising)
}

fn ptsd_submission(key: &str, dissociation: pb::Frequency) -> pb::SubmitIntakeRequest {
    let mut s = submission(key);
    s.screeners.as_mut().unwrap().pcl5 = Some(pcl5(45));
    s.presenting_concerns = vec![pb::PresentingConcern::Trauma as i32];
    s.dysregulation =
        Some(pb::DysregulationSigns { dissociation: dissociation as i32, ..Default::default() });
    s
}

#[tokio::test]
async fn b_weekly_dissociation_means_stabilisation_and_no_trauma_processing_offered() {
    let mut app = spawn_with_matching_and_referral().await;
    let (trauma, stabilising) = trauma_directory(&app).await;
    let intake =
        submit(&mut app, ptsd_submission("ptsd-dysregulated", pb::Frequency::Weekly)).await;
    let a = assessment(&intake);
    assert_eq!(a.phase, common::CarePhase::Stabilisation as i32);
    assert!(!a.trauma_focused_indicated);
    assert!(fired(&intake, "phase.stabilisation"));
    let pcl = a.scores.iter().find(|s| s.instrument == pb::Instrument::Pcl5 as i32).unwrap();
    assert_eq!((pcl.total, pcl.band.as_str()), (45, "probable_ptsd"));
    let r = routing(&intake);
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "reason: {}", r.reason);
    assert!(!r.candidate_provider_ids.is_empty());
    for id in &r.candidate_provider_ids {
        assert!(!trauma.contains(id), "a trauma-processing option was offered in stabilisation");
        assert!(stabilising.contains(id));
    }
    assert!(stabilising.contains(&r.provider_id));
}

#[tokio::test]
async fn c_a_regulated_client_with_the_same_pcl5_gets_trauma_focused_options_first() {
    let mut app = spawn_with_matching_and_referral().await;
    let (trauma, _) = trauma_directory(&app).await;
    let intake = submit(&mut app, ptsd_submission("ptsd-regulated", pb::Frequency::Rarely)).await;
    let a = assessment(&intake);
    assert_eq!(a.phase, common::CarePhase::TraumaProcessing as i32);
    assert!(a.trauma_focused_indicated && fired(&intake, "phase.trauma_processing"));
    let r = routing(&intake);
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "reason: {}", r.reason);
    let firsts: Vec<bool> = r.candidate_provider_ids.iter().map(|id| trauma.contains(id)).collect();
    assert!(firsts.len() > trauma.len(), "stabilising options are still offered, after");
    assert!(
        firsts[..trauma.len()].iter().all(|x| *x),
        "trauma-focused options rank first: {firsts:?}"
    );
    assert!(trauma.contains(&r.provider_id));
    assert!(r.reason.contains("routing.trauma_focused_first"));
}

#[tokio::test]
async fn d_a_cycling_sixteen_year_old_with_severe_depression_goes_to_an_adolescent_iop_with_family()
{
    let mut app = spawn_with_matching_and_referral().await;
    let iop = |name: &str, ages: &[common::AgeGroup], family: bool| mpb::Provider {
        kind: mpb::ProviderKind::Iop as i32,
        levels_of_care: vec![common::LevelOfCare::IntensiveOutpatient as i32],
        age_groups: ages.iter().map(|a| *a as i32).collect(),
        family_involvement: family,
        ..clinician(name, &[M::Dbt, M::SkillsTraining], 4)
    };
    let adult = app.add_provider(iop("Adult IOP", &[common::AgeGroup::Adult], false)).await;
    let teen_no_family =
        app.add_provider(iop("Teen IOP", &[common::AgeGroup::Adolescent], false)).await;
    let teen_family = app
        .add_provider(iop("Teen IOP with family track", &[common::AgeGroup::Adolescent], true))
        .await;
    let teen_outpatient = app
        .add_provider(mpb::Provider {
            age_groups: vec![common::AgeGroup::Adolescent as i32],
            ..clinician("Teen outpatient", &[M::Cbt], 4)
        })
        .await;

    let today = chrono::Utc::now().date_naive();
    let months_ago = |m: i64| {
        let d = today - chrono::Duration::days(30 * m);
        common::Date {
            year: chrono::Datelike::year(&d),
            month: chrono::Datelike::month(&d) as i32,
            day: chrono::Datelike::day(&d) as i32,
        }
    };
    let dob = today - chrono::Duration::days(16 * 365 + 30);
    let mut s = submission("teen");
    s.client.as_mut().unwrap().date_of_birth = Some(common::Date {
        year: chrono::Datelike::year(&dob),
        month: chrono::Datelike::month(&dob) as i32,
        day: chrono::Datelike::day(&dob) as i32,
    });
    s.screeners = Some(pb::Screeners {
        phq9: Some(pb::Phq9 { items: vec![3, 3, 3, 3, 3, 2, 2, 2, 0] }),
        ..Default::default()
    });
    let program = |started, ended| pb::TreatmentEpisode {
        level_of_care: common::LevelOfCare::Outpatient as i32,
        modality: M::SkillsTraining as i32,
        started: Some(started),
        ended: Some(ended),
        outcome: pb::TreatmentOutcome::Partly as i32,
    };
    s.treatment_history =
        vec![program(months_ago(10), months_ago(8)), program(months_ago(5), months_ago(3))];
    let intake = submit(&mut app, s).await;
    let a = assessment(&intake);
    assert_eq!(a.level_of_care, common::LevelOfCare::IntensiveOutpatient as i32);
    assert_eq!(a.age_group, common::AgeGroup::Adolescent as i32);
    assert!(a.family_involvement && a.program_cycling);
    assert!(a.care_emphases.contains(&"attachment_informed".to_owned()));
    assert!(a.supports_to_add.contains(&"parent_sessions".to_owned()));
    let r = routing(&intake);
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "reason: {}", r.reason);
    assert_eq!(r.provider_id, teen_family, "adolescent IOP with family involvement");
    assert!(
        !r.candidate_provider_ids.contains(&adult)
            && !r.candidate_provider_ids.contains(&teen_outpatient)
    );
    assert!(r.candidate_provider_ids.contains(&teen_no_family));
}

#[tokio::test]
async fn e_cbt_tried_twice_without_help_ranks_below_other_modalities() {
    let mut app = spawn_with_matching_and_referral().await;
    let cbt_only = app.add_provider(clinician("CBT only", &[M::Cbt], 5)).await;
    let cbt_and_act = app.add_provider(clinician("CBT and ACT", &[M::Cbt, M::Act], 5)).await;
    let psychodynamic = app.add_provider(clinician("Psychodynamic", &[M::Psychodynamic], 5)).await;
    let mut s = submission("cbt-twice");
    let cbt = |year| pb::TreatmentEpisode {
        modality: M::Cbt as i32,
        started: Some(common::Date { year, month: 1, day: 10 }),
        ended: Some(common::Date { year, month: 5, day: 10 }),
        outcome: pb::TreatmentOutcome::DidNotHelp as i32,
        ..Default::default()
    };
    s.treatment_history = vec![cbt(2023), cbt(2025)];
    let intake = submit(&mut app, s).await;
    let a = assessment(&intake);
    assert_eq!(a.modalities_to_avoid, vec![M::Cbt as i32]);
    assert_eq!(
        a.level_of_care,
        common::LevelOfCare::Outpatient as i32,
        "a modality without help asks for another modality, not a higher level"
    );
    let r = routing(&intake);
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "reason: {}", r.reason);
    let pos = |id: &String| r.candidate_provider_ids.iter().position(|x| x == id);
    assert!(pos(&cbt_and_act).is_some() && pos(&psychodynamic).is_some());
    // CBT-only is still offered (the client may choose it) but ranks below every option that is not CBT-only.
    let p = pos(&cbt_only).expect("CBT-only stays an option");
    assert!(
        p > pos(&cbt_and_act).unwrap().max(pos(&psychodynamic).unwrap()),
        "{:?}",
        r.candidate_provider_ids
    );
    assert_ne!(r.provider_id, cbt_only);
}

#[tokio::test]
async fn f_a_clinician_override_is_recorded_with_its_reason_and_changes_the_routing() {
    let mut app = spawn_with_matching_and_referral().await;
    let (trauma, stabilising) = trauma_directory(&app).await;
    let gated = submit(&mut app, ptsd_submission("gated", pb::Frequency::Weekly)).await;
    assert!(stabilising.contains(&routing(&gated).provider_id));

    let mut s = ptsd_submission("overridden", pb::Frequency::Weekly);
    s.external_client_id = "ext-overridden".into();
    s.clinician_override = Some(pb::AssessmentOverride {
        phase: common::CarePhase::TraumaProcessing as i32,
        reason: "dissociation contained with grounding over 8 sessions; supervised EMDR".into(),
        clinician_id: "clin-7".into(),
        ..Default::default()
    });
    let intake = submit(&mut app, s).await;
    let a = assessment(&intake);
    assert_eq!(a.phase, common::CarePhase::TraumaProcessing as i32);
    assert!(
        fired(&intake, "override.phase") && fired(&intake, "phase.stabilisation"),
        "both the rule and the override are visible"
    );
    let o = a.clinician_override.as_ref().unwrap();
    assert_eq!(
        (o.assessed_phase, o.phase),
        (common::CarePhase::Stabilisation as i32, common::CarePhase::TraumaProcessing as i32)
    );
    assert!(o.reason.contains("supervised EMDR"));
    assert_eq!(o.clinician_id, "clin-7");
    let r = routing(&intake);
    assert!(trauma.contains(&r.provider_id), "the override changes the routing: {}", r.reason);
    // Read back: the reason is returned to the owner.
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert!(
        assessment(&got).clinician_override.as_ref().unwrap().reason.contains("supervised EMDR")
    );
}

#[tokio::test]
async fn consent_scope_decides_where_a_referral_may_go() {
    let mut app = spawn_with_matching_and_referral().await;
    let provider = app.add_provider(clinician("Open clinician", &[M::Act], 5)).await;

    let mut none = submission("no-consent");
    none.consent = Some(pb::Consent { share_with_referral_recipient: false });
    let i = submit(&mut app, none).await;
    assert_eq!(routing(&i).status, pb::RoutingStatus::NeedsCoordinator as i32);
    assert!(routing(&i).reason.contains("consent"), "{}", routing(&i).reason);

    let grant = |org: &str, cats: &[pb::ConsentCategory]| pb::ConsentGrant {
        recipient_organization_id: org.into(),
        categories: cats.iter().map(|c| *c as i32).collect(),
        ..Default::default()
    };
    let basics =
        [pb::ConsentCategory::IdentityAndContact, pb::ConsentCategory::ScreeningAndAssessment];
    let mut elsewhere = submission("consent-elsewhere");
    elsewhere.consent = None;
    elsewhere.consent_grants = vec![grant("0190a1b2-c3d4-7e5f-8a9b-0000000000ee", &basics)];
    assert_eq!(
        routing(&submit(&mut app, elsewhere).await).status,
        pb::RoutingStatus::NeedsCoordinator as i32
    );

    let mut scoped = submission("consent-scoped");
    scoped.consent = None;
    scoped.consent_grants = vec![
        grant(PROVIDER_ORG, &basics),
        grant(PROVIDER_ORG, &[pb::ConsentCategory::SubstanceUse]),
    ];
    let i = submit(&mut app, scoped).await;
    assert_eq!(routing(&i).status, pb::RoutingStatus::Referred as i32, "{}", routing(&i).reason);
    assert_eq!(routing(&i).provider_id, provider);
    assert_eq!(i.consent_grants.len(), 2, "the grants are recorded");

    // A crisis client is referred at once even without a recorded consent, and the decision says so.
    app.add_provider(mpb::Provider {
        kind: mpb::ProviderKind::CrisisService as i32,
        levels_of_care: vec![common::LevelOfCare::Crisis as i32],
        crisis_capable: true,
        ..clinician("Crisis line", &[M::CrisisIntervention], 1)
    })
    .await;
    let mut crisis = submission("crisis-no-consent");
    crisis.consent = None;
    crisis.clinician_reports_imminent_risk = true;
    let i = submit(&mut app, crisis).await;
    assert_eq!(routing(&i).status, pb::RoutingStatus::Referred as i32, "{}", routing(&i).reason);
    assert!(routing(&i).reason.contains("routing.crisis_consent_exception"));
}

#[tokio::test]
async fn reassessment_reports_reliable_change_and_keeps_the_gate_until_regulated() {
    let mut app = spawn_app().await;
    let intake = submit(&mut app, ptsd_submission("re-ptsd", pb::Frequency::Daily)).await;
    assert_eq!(assessment(&intake).phase, common::CarePhase::Stabilisation as i32);
    let re = |screeners: pb::Screeners, d: Option<pb::DysregulationSigns>| {
        pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(screeners),
            dysregulation: d,
            ..Default::default()
        }
    };
    // PHQ-9 11 -> 5 (reliable improvement), PCL-5 45 -> 38 (not reliable); still dissociating daily.
    let r = app
        .client
        .record_reassessment(re(
            pb::Screeners {
                phq9: Some(pb::Phq9 { items: vec![1, 1, 1, 1, 1, 0, 0, 0, 0] }),
                pcl5: Some(pcl5(38)),
                ..Default::default()
            },
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let get = |changes: &[pb::ScoreChange], i: pb::Instrument| {
        changes.iter().find(|c| c.instrument == i as i32).cloned().unwrap()
    };
    let phq = get(&r.changes, pb::Instrument::Phq9);
    assert_eq!(
        (phq.previous_total, phq.current_total, phq.change, phq.reliable, phq.direction.as_str()),
        (11, 5, -6, true, "improved")
    );
    let pcl = get(&r.changes, pb::Instrument::Pcl5);
    assert_eq!((pcl.change, pcl.reliable, pcl.threshold), (-7, false, 10));
    assert_eq!(
        r.assessment.as_ref().unwrap().phase,
        common::CarePhase::Stabilisation as i32,
        "the intake's dysregulation still holds"
    );
    // Now regulated: trauma-focused care is indicated.
    let r = app
        .client
        .record_reassessment(re(
            pb::Screeners { pcl5: Some(pcl5(40)), ..Default::default() },
            Some(pb::DysregulationSigns {
                dissociation: pb::Frequency::Rarely as i32,
                clinician_window_rating: pb::WindowOfTolerance::Within as i32,
                ..Default::default()
            }),
        ))
        .await
        .unwrap()
        .into_inner();
    let a = r.assessment.unwrap();
    assert_eq!(a.phase, common::CarePhase::TraumaProcessing as i32);
    assert!(a.trauma_focused_indicated);
}

#[tokio::test]
async fn a_reassessment_that_raises_risk_to_crisis_re_routes_to_crisis_care() {
    let mut app = spawn_with_matching_and_referral().await;
    let outpatient = app.add_provider(clinician("Outpatient", &[M::Act], 5)).await;
    let crisis = app
        .add_provider(mpb::Provider {
            kind: mpb::ProviderKind::CrisisService as i32,
            levels_of_care: vec![common::LevelOfCare::Crisis as i32],
            crisis_capable: true,
            ..clinician("Crisis team", &[M::CrisisIntervention], 0)
        })
        .await;
    let intake = submit(&mut app, submission("rises")).await;
    assert_eq!(routing(&intake).provider_id, outpatient);
    let first_referral = routing(&intake).referral_id.clone();
    let r = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(pb::Screeners {
                cssrs: Some(pb::Cssrs { intent_with_plan: true, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.risk_increased && r.rerouted);
    let routed = r.routing.unwrap();
    assert_eq!(routed.status, pb::RoutingStatus::Referred as i32, "{}", routed.reason);
    assert_eq!(routed.provider_id, crisis);
    assert_ne!(routed.referral_id, first_referral, "a new, urgent referral");
    assert!(routed.crisis_resources.iter().any(|c| c.contains("988")));
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(routing(&got).provider_id, crisis);
    // A further crisis re-screen does not route again.
    let again = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id,
            screeners: Some(pb::Screeners {
                cssrs: Some(pb::Cssrs { intent_with_plan: true, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.rerouted);
}

#[tokio::test]
async fn a_reassessment_override_is_recorded_encrypted_and_returned() {
    use sea_orm::{ConnectionTrait, Statement};
    let mut app = spawn_app().await;
    let intake = submit(&mut app, ptsd_submission("re-override", pb::Frequency::Weekly)).await;
    let r = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(pb::Screeners { pcl5: Some(pcl5(44)), ..Default::default() }),
            clinician_override: Some(pb::AssessmentOverride {
                phase: common::CarePhase::TraumaProcessing as i32,
                reason: "distinctive-override-4712".into(),
                clinician_id: "clin-3".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let a = r.assessment.unwrap();
    assert_eq!(a.phase, common::CarePhase::TraumaProcessing as i32);
    assert_eq!(a.clinician_override.unwrap().reason, "distinctive-override-4712");
    let got = app
        .client
        .get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(
        assessment(&got).clinician_override.as_ref().unwrap().reason,
        "distinctive-override-4712"
    );
    // A reassessment without an override stands on the rules again.
    let bad = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(pb::Screeners { pcl5: Some(pcl5(44)), ..Default::default() }),
            clinician_override: Some(pb::AssessmentOverride { phase: 9, ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields = continuum_errors::bad_fields_of(&bad);
    assert!(
        fields.contains(&"clinician_override.phase".to_owned())
            && fields.contains(&"clinician_override.reason".to_owned()),
        "{fields:?}"
    );
    let plain = app
        .client
        .record_reassessment(pb::RecordReassessmentRequest {
            intake_id: intake.id.clone(),
            screeners: Some(pb::Screeners { pcl5: Some(pcl5(44)), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plain.assessment.unwrap().phase, common::CarePhase::Stabilisation as i32);
    assert_eq!(
        plain.previous.unwrap().clinician_override.unwrap().reason,
        "distinctive-override-4712"
    );
    // The reason is stored encrypted.
    let db = continuum_db::connect("intake", &app.backing.common().db()).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT body, sealed_override_reason FROM assessments".to_owned(),
        ))
        .await
        .unwrap();
    let mut dump = String::new();
    for row in rows {
        dump.push_str(&row.try_get::<String>("", "body").unwrap());
        dump.push_str(
            &row.try_get::<Option<String>>("", "sealed_override_reason")
                .unwrap()
                .unwrap_or_default(),
        );
    }
    assert!(dump.contains("enc:v1:") && !dump.contains("distinctive-override-4712"));
}
