//! Table-driven tests of the assessment rules (with the embedded rules file).

use super::*;
use crate::domain::reliable_changes;
use crate::domain::{
    CssrsAnswers, Dysregulation, Frequency, Impairment, OverrideRequest, Screeners, Stressor,
    SubstanceUse, TreatmentEpisode, WindowRating,
};

pub(crate) fn rules() -> Rules {
    Rules::embedded().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

pub(crate) fn intake(screeners: Screeners) -> NewIntake {
    crate::domain::testing::new_intake(screeners)
}

pub(crate) fn run(i: &NewIntake) -> Assessment {
    assess("a".into(), i, &rules(), now(), None)
}

pub(crate) fn fired(a: &Assessment, id: &str) -> bool {
    a.fired_rules.iter().any(|r| r.rule_id == id)
}

fn pcl5(total: u8) -> Vec<u8> {
    let mut v = vec![0u8; 20];
    let mut left = total;
    for x in v.iter_mut() {
        let take = left.min(4);
        *x = take;
        left -= take;
    }
    v
}

pub(crate) fn phq(total: u8) -> Screeners {
    let mut v = vec![0u8; 9];
    let mut left = total;
    for x in v.iter_mut().take(8) {
        let take = left.min(3);
        *x = take;
        left -= take;
    }
    v[8] = left.min(3);
    Screeners { phq9: Some(v), ..Default::default() }
}

#[test]
fn cssrs_intent_is_crisis() {
    let a = run(&intake(Screeners {
        cssrs: Some(CssrsAnswers { intent_without_plan: true, ..Default::default() }),
        ..Default::default()
    }));
    assert_eq!(
        (a.risk_level, a.level_of_care, a.urgency),
        (RiskLevel::High, LevelOfCare::Crisis, Urgency::Emergency)
    );
    assert!(fired(&a, "risk.cssrs_high") && fired(&a, "level.crisis"));
    assert_eq!(a.phase, Some(CarePhase::Stabilisation), "no basic safety: stabilisation");
}

#[test]
fn phq9_item9_without_cssrs_is_moderate_and_urgent() {
    let mut v = vec![1u8; 9];
    v[8] = 1;
    let a = run(&intake(Screeners { phq9: Some(v), ..Default::default() }));
    assert_eq!((a.risk_level, a.urgency), (RiskLevel::Moderate, Urgency::Urgent));
    for e in ["safety_plan", "risk_review", "same_day_risk_assessment"] {
        assert!(a.care_emphases.contains(&e.to_owned()), "{e}");
    }
}

#[test]
fn level_bands_at_every_boundary() {
    for (total, level) in [
        (0, LevelOfCare::SelfGuidedPeer),
        (4, LevelOfCare::SelfGuidedPeer),
        (5, LevelOfCare::Outpatient),
        (19, LevelOfCare::Outpatient),
        (20, LevelOfCare::IntensiveOutpatient),
    ] {
        // Item 9 kept at 0 so risk stays none.
        let mut s = phq(total.min(24));
        if let Some(v) = s.phq9.as_mut() {
            let extra = v[8];
            v[8] = 0;
            let mut left = extra;
            for x in v.iter_mut().take(8) {
                let add = left.min(3 - *x);
                *x += add;
                left -= add;
            }
        }
        let a = run(&intake(s));
        assert_eq!(a.level_of_care, level, "PHQ-9 {total}");
    }
    let gad = |t: u8| {
        let mut v = vec![0u8; 7];
        let mut left = t;
        for x in v.iter_mut() {
            let take = left.min(3);
            *x = take;
            left -= take;
        }
        run(&intake(Screeners { gad7: Some(v), ..Default::default() })).level_of_care
    };
    assert_eq!(
        (gad(4), gad(5), gad(14), gad(15)),
        (
            LevelOfCare::SelfGuidedPeer,
            LevelOfCare::Outpatient,
            LevelOfCare::Outpatient,
            LevelOfCare::IntensiveOutpatient
        )
    );
}

#[test]
fn severe_depression_goes_to_iop_and_youth_gets_family_involvement() {
    let mut i =
        intake(Screeners { phq9: Some(vec![3, 3, 3, 3, 3, 3, 2, 2, 0]), ..Default::default() });
    i.client.date_of_birth = date(2010, 1, 1).into();
    let a = run(&i);
    assert_eq!(
        (a.level_of_care, a.age_group),
        (LevelOfCare::IntensiveOutpatient, AgeGroup::Adolescent)
    );
    assert!(a.family_involvement && fired(&a, "population.youth"));
    assert!(a.supports_to_add.contains(&"parent_sessions".to_owned()));
}

#[test]
fn pcl5_at_cutoff_in_a_regulated_client_indicates_trauma_focused_care() {
    for (total, phase) in [(32, None), (33, Some(CarePhase::TraumaProcessing))] {
        let a = run(&intake(Screeners { pcl5: Some(pcl5(total)), ..Default::default() }));
        assert_eq!(a.phase, phase, "PCL-5 {total}");
        assert_eq!(a.trauma_focused_indicated, phase.is_some());
    }
}

#[test]
fn every_dysregulation_sign_gates_to_stabilisation() {
    let base = Screeners { pcl5: Some(pcl5(45)), ..Default::default() };
    let signs = [
        Dysregulation { overwhelm: Some(Frequency::Weekly), ..Default::default() },
        Dysregulation { shutdown: Some(Frequency::Daily), ..Default::default() },
        Dysregulation { dissociation: Some(Frequency::Weekly), ..Default::default() },
        Dysregulation { recent_self_harm: true, ..Default::default() },
        Dysregulation { clinician_window: Some(WindowRating::Outside), ..Default::default() },
        Dysregulation { clinician_window: Some(WindowRating::Hyperaroused), ..Default::default() },
        Dysregulation { clinician_window: Some(WindowRating::Hypoaroused), ..Default::default() },
    ];
    for d in signs {
        let mut i = intake(base.clone());
        i.dysregulation = Some(d);
        let a = run(&i);
        assert_eq!(a.phase, Some(CarePhase::Stabilisation), "{d:?}");
        assert!(!a.trauma_focused_indicated && fired(&a, "phase.stabilisation"));
    }
    // Below the frequency threshold and within the window: regulated.
    let mut i = intake(base.clone());
    i.dysregulation = Some(Dysregulation {
        overwhelm: Some(Frequency::Monthly),
        dissociation: Some(Frequency::Rarely),
        clinician_window: Some(WindowRating::Within),
        ..Default::default()
    });
    assert_eq!(run(&i).phase, Some(CarePhase::TraumaProcessing));
    // No basic safety.
    let mut i = intake(base);
    i.stressors = vec![Stressor::UnsafeEnvironment];
    let a = run(&i);
    assert_eq!(a.phase, Some(CarePhase::Stabilisation));
    assert!(a.supports_to_add.contains(&"safety_planning".to_owned()));
}

#[test]
fn step_ups_and_cap() {
    let mut i = intake(phq(11));
    i.functional_impairment = Some(Impairment::Severe);
    assert_eq!(run(&i).level_of_care, LevelOfCare::IntensiveOutpatient);
    i.substance_use = Some(SubstanceUse::Dependence);
    let a = run(&i);
    assert_eq!(a.level_of_care, LevelOfCare::PartialHospitalization);
    assert!(fired(&a, "level.step_up_substance_use"));
    i.treatment_history = vec![TreatmentEpisode {
        modality: None,
        level_of_care: Some(LevelOfCare::PartialHospitalization),
        started: date(2026, 1, 1),
        ended: Some(date(2026, 3, 1)),
        outcome: TreatmentOutcome::DidNotHelp,
    }];
    assert_eq!(
        run(&i).level_of_care,
        LevelOfCare::PartialHospitalization,
        "capped at the rules' step-up cap"
    );
}

#[test]
fn a_lower_level_tried_without_progress_steps_up() {
    let mut i = intake(phq(11));
    i.treatment_history = vec![TreatmentEpisode {
        modality: None,
        level_of_care: Some(LevelOfCare::Outpatient),
        started: date(2025, 6, 1),
        ended: Some(date(2025, 12, 1)),
        outcome: TreatmentOutcome::DidNotHelp,
    }];
    let a = run(&i);
    assert_eq!(a.level_of_care, LevelOfCare::IntensiveOutpatient);
    assert!(fired(&a, "level.step_up_treatment_history"));
    // Helped, or too long ago: no step-up.
    i.treatment_history[0].outcome = TreatmentOutcome::Helped;
    assert_eq!(run(&i).level_of_care, LevelOfCare::Outpatient);
    i.treatment_history[0].outcome = TreatmentOutcome::DidNotHelp;
    i.treatment_history[0].started = date(2019, 1, 1);
    i.treatment_history[0].ended = Some(date(2019, 6, 1));
    assert_eq!(run(&i).level_of_care, LevelOfCare::Outpatient);
}

#[test]
fn modalities_tried_without_help_and_exclusions_are_avoided() {
    let mut i = intake(phq(11));
    let cbt = |outcome| TreatmentEpisode {
        modality: Some(Modality::Cbt),
        level_of_care: None,
        started: date(2025, 1, 1),
        ended: Some(date(2025, 4, 1)),
        outcome,
    };
    i.treatment_history = vec![
        cbt(TreatmentOutcome::DidNotHelp),
        cbt(TreatmentOutcome::DidNotHelp),
        TreatmentEpisode { modality: Some(Modality::Act), ..cbt(TreatmentOutcome::Helped) },
    ];
    i.preferences.modalities_avoided = vec![Modality::Emdr];
    let a = run(&i);
    assert_eq!(a.modalities_to_avoid, vec![Modality::Cbt, Modality::Emdr]);
    assert_eq!(
        a.level_of_care,
        LevelOfCare::Outpatient,
        "a modality without help asks for another modality, not a higher level"
    );
    let r = a
        .fired_rules
        .iter()
        .find(|r| r.rule_id == "history.avoid_repeating")
        .map(|r| r.inputs.clone())
        .unwrap_or_default();
    assert_eq!(r.get("episodes_without_help").map(String::as_str), Some("2"));
}

#[test]
fn program_cycling_at_two_programs_in_twelve_months() {
    let program = |started| TreatmentEpisode {
        modality: None,
        level_of_care: Some(LevelOfCare::Outpatient),
        started,
        ended: None,
        outcome: TreatmentOutcome::Partly,
    };
    let mut i = intake(phq(11));
    i.treatment_history = vec![program(date(2026, 1, 10))];
    assert!(!run(&i).program_cycling);
    i.treatment_history.push(program(date(2025, 11, 26)));
    let a = run(&i);
    assert!(a.program_cycling && a.care_emphases.contains(&"attachment_informed".to_owned()));
    i.treatment_history[1].started = date(2025, 11, 1);
    assert!(!run(&i).program_cycling, "outside the 12-month window");
}

#[test]
fn stage_and_engagement() {
    for (rating, stage, engagement) in [
        (2, StageOfChange::Precontemplation, Engagement::EngagementFirst),
        (5, StageOfChange::Contemplation, Engagement::EngagementFirst),
        (7, StageOfChange::Preparation, Engagement::ActionOriented),
        (9, StageOfChange::Action, Engagement::ActionOriented),
        (10, StageOfChange::Maintenance, Engagement::RelapsePrevention),
    ] {
        let mut s = phq(6);
        s.readiness_ruler = Some(rating);
        let a = run(&intake(s));
        assert_eq!(
            (a.stage_of_change, a.engagement),
            (Some(stage), Some(engagement)),
            "ruler {rating}"
        );
    }
    let mut i = intake(phq(6));
    i.screeners.readiness_ruler = Some(10);
    i.stage_of_change = Some(StageOfChange::Contemplation);
    let a = run(&i);
    assert_eq!(a.stage_of_change, Some(StageOfChange::Contemplation), "the clinician's stage wins");
    assert!(fired(&a, "stage.clinician"));
}

#[test]
fn override_changes_level_and_phase_but_not_risk() {
    let mut i = intake(Screeners { pcl5: Some(pcl5(45)), ..Default::default() });
    i.dysregulation =
        Some(Dysregulation { dissociation: Some(Frequency::Weekly), ..Default::default() });
    i.clinician_override = Some(OverrideRequest {
        level_of_care: Some(LevelOfCare::IntensiveOutpatient),
        phase: Some(CarePhase::TraumaProcessing),
        reason: "r".into(),
        clinician_id: "c-1".into(),
        acknowledge_below_risk: false,
    });
    let a = run(&i);
    assert_eq!(
        (a.level_of_care, a.phase),
        (LevelOfCare::IntensiveOutpatient, Some(CarePhase::TraumaProcessing))
    );
    let o = a.clinician_override.clone().unwrap_or_else(|| panic!("override recorded"));
    assert_eq!(
        (o.assessed_level_of_care, o.assessed_phase),
        (LevelOfCare::Outpatient, Some(CarePhase::Stabilisation))
    );
    assert!(fired(&a, "override.level") && fired(&a, "override.phase"));
    // The reason never enters the assessment (it is stored encrypted with the submission).
    assert!(!serde_json::to_string(&a).unwrap_or_default().contains("\"r\""));
}

#[test]
fn reliable_change_thresholds() {
    let r = rules();
    let a = |phq_total: u8, pcl: u8| {
        let mut s = phq(phq_total);
        s.pcl5 = Some(pcl5(pcl));
        run(&intake(s))
    };
    let prev = a(15, 50);
    let changes = reliable_changes(&prev, &a(11, 41), &r);
    let get =
        |i| changes.iter().find(|c| c.instrument == i).cloned().unwrap_or_else(|| panic!("change"));
    assert_eq!((get(Instrument::Phq9).change(), get(Instrument::Phq9).reliable), (-4, false));
    assert_eq!((get(Instrument::Pcl5).change(), get(Instrument::Pcl5).reliable), (-9, false));
    let changes = reliable_changes(&prev, &a(10, 40), &r);
    let get =
        |i| changes.iter().find(|c| c.instrument == i).cloned().unwrap_or_else(|| panic!("change"));
    assert_eq!(get(Instrument::Phq9).direction(), "improved");
    assert_eq!(get(Instrument::Pcl5).direction(), "improved");
    let worse = reliable_changes(&prev, &a(20, 60), &r);
    assert!(worse.iter().all(|c| c.direction() == "deteriorated"));
}

#[test]
fn integration_after_processing_when_pcl5_improves_reliably() {
    let r = rules();
    let prev = run(&intake(Screeners { pcl5: Some(pcl5(45)), ..Default::default() }));
    assert_eq!(prev.phase, Some(CarePhase::TraumaProcessing));
    let now_ = assess(
        "b".into(),
        &intake(Screeners { pcl5: Some(pcl5(25)), ..Default::default() }),
        &r,
        now(),
        Some(&prev),
    );
    assert_eq!(now_.phase, Some(CarePhase::Integration));
    let still = assess(
        "c".into(),
        &intake(Screeners { pcl5: Some(pcl5(40)), ..Default::default() }),
        &r,
        now(),
        Some(&prev),
    );
    assert_eq!(still.phase, Some(CarePhase::TraumaProcessing));
}

#[test]
fn minimal_symptoms_are_self_guided_and_isolation_adds_peer_support() {
    let a = run(&intake(Screeners {
        phq9: Some(vec![0; 9]),
        gad7: Some(vec![1, 0, 0, 0, 0, 0, 0]),
        ..Default::default()
    }));
    assert_eq!(
        (a.level_of_care, a.risk_level, a.urgency),
        (LevelOfCare::SelfGuidedPeer, RiskLevel::None, Urgency::Routine)
    );
    assert!(a.supports_to_add.contains(&"peer_support".to_owned()));
}

proptest::proptest! {
    #[test]
    fn assessment_never_panics(
        phq9 in proptest::collection::vec(0u8..=3, 9),
        pcl in proptest::collection::vec(0u8..=4, 20),
        ruler in 0u8..=10,
        freq in 1i32..=5,
        window in 1i32..=4,
        impairment in 1i32..=4,
        substance in 1i32..=4,
        stressor in 1i32..=9,
    ) {
        let mut i = intake(Screeners { phq9: Some(phq9), pcl5: Some(pcl), readiness_ruler: Some(ruler), ..Default::default() });
        i.dysregulation = Some(Dysregulation { overwhelm: Frequency::from_proto(freq), clinician_window: WindowRating::from_proto(window), ..Default::default() });
        i.functional_impairment = Impairment::from_proto(impairment);
        i.substance_use = SubstanceUse::from_proto(substance);
        i.stressors = Stressor::from_proto(stressor).into_iter().collect();
        let a = run(&i);
        proptest::prop_assert!(a.level_of_care <= LevelOfCare::Crisis);
        proptest::prop_assert!(a.fired_rules.iter().all(|r| !r.description.is_empty()));
        proptest::prop_assert!(!(a.trauma_focused_indicated && a.phase == Some(CarePhase::Stabilisation)));
    }
}
