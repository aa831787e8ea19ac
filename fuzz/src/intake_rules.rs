//! `intake_rules`: intake's rules engine (screener scoring, risk, level of care, urgency, phase, tasks,
//! overrides) driven from arbitrary inputs. The bytes build a validated intake — every combination the
//! validator lets through: screeners with in-range answers, any dysregulation, impairment, substance use,
//! stressors, supports, up to 50 treatment episodes, any clinician override, a client of any age — and
//! optionally a re-screen of it; [`check`] then holds the assessment to the invariants that
//! docs/clinical-rules.md states. The scoring functions also get raw, unvalidated answer lists.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use continuum_vocab::ids::OrganizationId;
use continuum_vocab::{
    AgeGroup, CarePhase, LevelOfCare, Modality, PaymentOption, RiskLevel, Urgency,
};
use intake::app::Reassessment;
use intake::domain::scoring::{self, CssrsLevel};
use intake::domain::tasks::{TaskKind, opened_by};
use intake::domain::{
    Assessment, ClientDetails, Concern, Consent, CssrsAnswers, Dysregulation, Frequency,
    Impairment, Instrument, NewIntake, OverrideRequest, Preferences, Rules, Screeners,
    StageOfChange, Stressor, SubstanceUse, Support, TreatmentEpisode, TreatmentOutcome,
    WindowRating, age_on, assess, overrides::override_needs_acknowledgement, reliable_changes,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// The embedded rules file (the one every deployment starts from).
pub fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::embedded().unwrap_or_else(|e| panic!("embedded rules: {e}")))
}

/// Personal details of the generated clients: none may appear in an assessment (codes and numbers only).
const SECRETS: [&str; 5] =
    ["Zoltan", "Quarrington", "zq@sentinel.example", "+1 555 0199 77", "xe/xem"];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = one(&mut u);
}

fn one(u: &mut Unstructured<'_>) -> Result<()> {
    // Raw scoring: any answers, any count (validated input never gets here, but scoring must not panic).
    let raw: Vec<u8> = u.arbitrary()?;
    let phq = scoring::score_phq9(&raw);
    assert_eq!(phq.total, raw.iter().map(|x| i32::from(*x)).sum::<i32>());
    scoring::score_gad7(&raw);
    scoring::score_pcl5(&raw, &rules().scoring);
    scoring::score_readiness(u.arbitrary()?, &rules().scoring);

    // 2020-01-01 plus up to ten years: ages, history windows and the "not in the future" rule move with it.
    let now = Utc.with_ymd_and_hms(2020, 1, 1, 12, 0, 0).single().unwrap_or_default()
        + Duration::days(u.int_in_range(0..=3650)?);
    let intake = new_intake(u, now.date_naive())?;
    let first = check_at(&intake, None, now, &SECRETS);
    if u.arbitrary()? {
        let later = now + Duration::days(u.int_in_range(1..=400)?);
        let r = Reassessment {
            intake_id: continuum_vocab::ids::IntakeId::new_v7(),
            screeners: screeners(u)?,
            clinician_reports_imminent_risk: u.ratio(1, 8)?,
            dysregulation: option(u, dysregulation)?,
            clinician_override: option(u, clinician_override)?,
        };
        rescreen(&intake, &first, r, later);
    }
    Ok(())
}

fn pick<T: Copy>(u: &mut Unstructured<'_>, all: &[T]) -> Result<T> {
    u.choose(all).copied()
}

fn maybe<T: Copy>(u: &mut Unstructured<'_>, all: &[T]) -> Result<Option<T>> {
    if u.arbitrary()? { pick(u, all).map(Some) } else { Ok(None) }
}

fn option<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if u.arbitrary()? { f(u).map(Some) } else { Ok(None) }
}

fn subset<T: Copy>(u: &mut Unstructured<'_>, all: &[T]) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for x in all {
        if u.ratio(1, 4)? {
            out.push(*x);
        }
    }
    Ok(out)
}

fn answers(u: &mut Unstructured<'_>, n: usize, max: u8) -> Result<Vec<u8>> {
    (0..n).map(|_| u.int_in_range(0..=max)).collect()
}

fn screeners(u: &mut Unstructured<'_>) -> Result<Screeners> {
    Ok(Screeners {
        phq9: option(u, |u| answers(u, 9, 3))?,
        gad7: option(u, |u| answers(u, 7, 3))?,
        cssrs: option(u, |u| {
            Ok(CssrsAnswers {
                wish_to_be_dead: u.arbitrary()?,
                suicidal_thoughts: u.arbitrary()?,
                thoughts_with_method: u.arbitrary()?,
                intent_without_plan: u.arbitrary()?,
                intent_with_plan: u.arbitrary()?,
                suicidal_behaviour: u.arbitrary()?,
                behaviour_past_three_months: u.arbitrary()?,
            })
        })?,
        pcl5: option(u, |u| answers(u, 20, 4))?,
        readiness_ruler: option(u, |u| u.int_in_range(0..=10))?,
    })
}

fn dysregulation(u: &mut Unstructured<'_>) -> Result<Dysregulation> {
    Ok(Dysregulation {
        overwhelm: maybe(u, Frequency::ALL)?,
        shutdown: maybe(u, Frequency::ALL)?,
        dissociation: maybe(u, Frequency::ALL)?,
        recent_self_harm: u.ratio(1, 6)?,
        clinician_window: maybe(u, WindowRating::ALL)?,
    })
}

fn clinician_override(u: &mut Unstructured<'_>) -> Result<OverrideRequest> {
    let level_of_care = maybe(u, LevelOfCare::ALL)?;
    // The validator needs a level or a phase.
    let phase = if level_of_care.is_none() {
        Some(pick(u, CarePhase::ALL)?)
    } else {
        maybe(u, CarePhase::ALL)?
    };
    Ok(OverrideRequest {
        level_of_care,
        phase,
        reason: "clinical judgement".into(),
        clinician_id: "clin-7".into(),
        acknowledge_below_risk: u.arbitrary()?,
    })
}

fn day_before(today: NaiveDate, days: i64) -> NaiveDate {
    (today - Duration::days(days)).max(NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default())
}

fn new_intake(u: &mut Unstructured<'_>, today: NaiveDate) -> Result<NewIntake> {
    let dob = day_before(today, u.int_in_range(0..=110 * 366)?);
    let episodes = u.int_in_range(0..=50usize)?;
    let mut treatment_history = Vec::with_capacity(episodes);
    for _ in 0..episodes {
        let started = day_before(today, u.int_in_range(0..=40 * 366)?);
        let ended = if u.arbitrary()? {
            let span = (today - started).num_days();
            Some(started + Duration::days(u.int_in_range(0..=span.max(0))?))
        } else {
            None
        };
        treatment_history.push(TreatmentEpisode {
            modality: maybe(u, Modality::ALL)?,
            level_of_care: maybe(u, LevelOfCare::ALL)?,
            started,
            ended,
            outcome: pick(u, TreatmentOutcome::ALL)?,
        });
    }
    Ok(NewIntake {
        idempotency_key: "k".into(),
        organization_id: OrganizationId::new_v7(),
        submitting_clinician_id: String::new(),
        external_client_id: String::new(),
        client: ClientDetails {
            given_name: SECRETS[0].to_owned().into(),
            family_name: SECRETS[1].to_owned().into(),
            date_of_birth: dob.into(),
            email: SECRETS[2].to_owned().into(),
            phone: SECRETS[3].to_owned().into(),
            pronouns: SECRETS[4].to_owned().into(),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: pick(u, PaymentOption::ALL)?,
        },
        presenting_concerns_text: String::new().into(),
        screeners: screeners(u)?,
        preferences: Preferences {
            modalities_avoided: subset(u, Modality::ALL)?,
            ..Default::default()
        },
        consent: Consent::default(),
        clinician_reports_imminent_risk: u.ratio(1, 8)?,
        presenting_concerns: subset(u, Concern::ALL)?,
        dysregulation: option(u, dysregulation)?,
        functional_impairment: maybe(u, Impairment::ALL)?,
        substance_use: maybe(u, SubstanceUse::ALL)?,
        stressors: subset(u, Stressor::ALL)?,
        supports: subset(u, Support::ALL)?,
        treatment_history,
        stage_of_change: maybe(u, StageOfChange::ALL)?,
        clinician_override: option(u, clinician_override)?,
    })
}

/// A re-screen of `intake` (first assessed as `previous`) as the reassessment use case makes it, checked
/// like a first assessment plus the reliable changes it reports.
pub fn rescreen(intake: &NewIntake, previous: &Assessment, r: Reassessment, now: DateTime<Utc>) {
    let mut again = intake.clone();
    again.screeners = r.screeners;
    again.clinician_reports_imminent_risk = r.clinician_reports_imminent_risk;
    again.clinician_override = r.clinician_override;
    if r.dysregulation.is_some() {
        again.dysregulation = r.dysregulation;
    }
    let current = check_at(&again, Some(previous), now, &[]);
    for c in reliable_changes(previous, &current, rules()) {
        let (p, n) = (previous.score(c.instrument), current.score(c.instrument));
        assert_eq!(p.map(|s| s.total), Some(c.previous_total));
        assert_eq!(n.map(|s| s.total), Some(c.current_total));
        assert_eq!(c.reliable, c.change().abs() >= c.threshold);
    }
}

/// A re-screen of a fixed valid intake (the accepted `RecordReassessment` of the request target).
pub fn check_reassessment(r: &Reassessment) {
    static BASE: OnceLock<(NewIntake, Assessment)> = OnceLock::new();
    let (intake, previous) = BASE.get_or_init(|| {
        let intake =
            intake::convert::submission_from_proto(continuum_testkit::requests::submit_intake("k"))
                .unwrap_or_else(|e| panic!("the valid submission is refused: {e}"));
        let previous = assess("a0".into(), &intake, rules(), Utc::now(), None);
        (intake, previous)
    });
    rescreen(intake, previous, r.clone(), Utc::now());
}

/// Assesses an accepted submission now and checks the invariants.
pub fn check(intake: &NewIntake, previous: Option<&Assessment>) -> Assessment {
    check_at(intake, previous, Utc::now(), &[])
}

/// The score an instrument must have when given, and none when not.
fn check_scores(s: &Screeners, a: &Assessment) {
    for i in [
        Instrument::Phq9,
        Instrument::Gad7,
        Instrument::Cssrs,
        Instrument::Pcl5,
        Instrument::ReadinessRuler,
    ] {
        assert!(a.scores.iter().filter(|x| x.instrument == i).count() <= 1, "{i:?} scored twice");
    }
    let sum = |x: &[u8]| x.iter().map(|v| i32::from(*v)).sum::<i32>();
    let given = |i: Instrument| a.score(i);
    match (&s.phq9, given(Instrument::Phq9)) {
        (Some(items), Some(p)) => {
            assert!((0..=27).contains(&p.total) && p.total == sum(items), "PHQ-9 {}", p.total);
            assert_eq!(p.positive, p.total >= 10);
            let item9 = items.get(8).is_some_and(|x| *x > 0);
            assert_eq!(item9, p.flags.iter().any(|f| f == "phq9_item9_positive"));
        }
        (None, None) => {}
        (x, y) => panic!("PHQ-9 given {} but scored {}", x.is_some(), y.is_some()),
    }
    match (&s.gad7, given(Instrument::Gad7)) {
        (Some(items), Some(g)) => {
            assert!((0..=21).contains(&g.total) && g.total == sum(items), "GAD-7 {}", g.total);
            assert_eq!(g.positive, g.total >= 10);
        }
        (None, None) => {}
        (x, y) => panic!("GAD-7 given {} but scored {}", x.is_some(), y.is_some()),
    }
    match (&s.pcl5, given(Instrument::Pcl5)) {
        (Some(items), Some(p)) => {
            assert!((0..=80).contains(&p.total) && p.total == sum(items), "PCL-5 {}", p.total);
            assert_eq!(p.subscales.values().sum::<i32>(), p.total, "PCL-5 clusters");
            assert_eq!(p.positive, p.total >= rules().scoring.pcl5_provisional_ptsd_at);
        }
        (None, None) => {}
        (x, y) => panic!("PCL-5 given {} but scored {}", x.is_some(), y.is_some()),
    }
    match (s.readiness_ruler, given(Instrument::ReadinessRuler)) {
        (Some(r), Some(x)) => assert!((0..=10).contains(&x.total) && x.total == i32::from(r)),
        (None, None) => {}
        (x, y) => panic!("ruler given {} but scored {}", x.is_some(), y.is_some()),
    }
    assert_eq!(s.cssrs.is_some(), given(Instrument::Cssrs).is_some_and(|c| c.total == 0));
}

/// The risk the clinical rules give: the clinician's imminent risk, the C-SSRS level, PHQ-9 item 9
/// without a C-SSRS, recent self-harm — the highest of them.
fn expected_risk(i: &NewIntake) -> RiskLevel {
    let mut risk = RiskLevel::None;
    if i.clinician_reports_imminent_risk {
        risk = RiskLevel::Imminent;
    }
    match i.screeners.cssrs.as_ref().map(scoring::cssrs_level) {
        Some(CssrsLevel::High) => risk = risk.max(RiskLevel::High),
        Some(CssrsLevel::Moderate) => risk = risk.max(RiskLevel::Moderate),
        Some(CssrsLevel::Low) => risk = risk.max(RiskLevel::Low),
        Some(CssrsLevel::None) => {}
        None => {
            if i.screeners.phq9.as_ref().is_some_and(|p| p.get(8).is_some_and(|x| *x > 0)) {
                risk = risk.max(RiskLevel::Moderate);
            }
        }
    }
    if i.dysregulation.is_some_and(|d| d.recent_self_harm) {
        risk = risk.max(RiskLevel::Moderate);
    }
    risk
}

/// Assesses `intake` at `now` (twice: the engine is deterministic) and checks every invariant; none of
/// `secrets` may appear anywhere in the assessment.
pub fn check_at(
    intake: &NewIntake,
    previous: Option<&Assessment>,
    now: DateTime<Utc>,
    secrets: &[&str],
) -> Assessment {
    let rules = rules();
    let a = assess("a1".into(), intake, rules, now, previous);
    assert_eq!(a, assess("a1".into(), intake, rules, now, previous), "not deterministic");
    assert_eq!(a.rules_version, rules.version);
    check_scores(&intake.screeners, &a);

    // Risk, and the crisis interlock.
    let risk = a.risk_level;
    assert_eq!(risk, expected_risk(intake), "risk");
    let o = intake.clinician_override.as_ref();
    assert_eq!(a.clinician_override.is_some(), o.is_some());
    let assessed_level =
        a.clinician_override.as_ref().map_or(a.level_of_care, |x| x.assessed_level_of_care);
    assert_eq!(
        risk.is_crisis(),
        assessed_level == LevelOfCare::Crisis,
        "crisis risk <=> crisis level"
    );
    if let Some(required) = rules.level_required_by(risk) {
        assert!(
            assessed_level >= required,
            "{assessed_level:?} below the {required:?} {risk:?} needs"
        );
    }
    if assessed_level != LevelOfCare::Crisis {
        let tried = intake.treatment_history.iter().filter_map(|e| e.level_of_care);
        let ceiling = tried
            .filter(|l| *l != LevelOfCare::Crisis)
            .chain([rules.level.step_up_cap, LevelOfCare::IntensiveOutpatient])
            .max()
            .unwrap_or(LevelOfCare::IntensiveOutpatient);
        assert!(assessed_level <= ceiling, "{assessed_level:?} above {ceiling:?}");
    }
    let urgency = if risk.is_crisis() {
        Urgency::Emergency
    } else if risk == RiskLevel::Moderate {
        Urgency::Urgent
    } else if assessed_level >= LevelOfCare::IntensiveOutpatient {
        Urgency::Soon
    } else {
        Urgency::Routine
    };
    assert_eq!(a.urgency, urgency);
    if risk >= RiskLevel::Moderate {
        assert!(a.carries_crisis_resources());
    }
    if risk == RiskLevel::Moderate {
        for e in ["safety_plan", "risk_review"] {
            assert!(a.care_emphases.iter().any(|x| x == e), "{e} missing at moderate risk");
        }
    }
    let item9 = a
        .score(Instrument::Phq9)
        .is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive"));
    if item9 {
        assert!(a.care_emphases.iter().any(|x| x == "same_day_risk_assessment"));
        assert!(a.carries_crisis_resources());
    }

    // The override: applied last, exactly as asked; below what risk needs only with a warning.
    let level_override = o.and_then(|o| o.level_of_care);
    assert_eq!(a.level_of_care, level_override.unwrap_or(assessed_level));
    let below =
        level_override.zip(rules.level_required_by(risk)).is_some_and(|(l, required)| l < required);
    assert_eq!(below, !a.warnings.is_empty(), "warnings {:?}", a.warnings);
    if let Some(o) = o {
        let refused = override_needs_acknowledgement(&a, o, rules).is_some();
        assert_eq!(refused, below && !o.acknowledge_below_risk);
    }

    // Phase.
    let phase_override = o.and_then(|o| o.phase);
    let assessed_phase = a.clinician_override.as_ref().map_or(a.phase, |x| x.assessed_phase);
    assert_eq!(a.phase, phase_override.or(assessed_phase));
    assert_eq!(a.trauma_focused_indicated, a.phase == Some(CarePhase::TraumaProcessing));
    if risk >= rules.phase.stabilise_at_risk
        || intake.dysregulation.is_some_and(|d| d.recent_self_harm)
    {
        assert_eq!(assessed_phase, Some(CarePhase::Stabilisation), "unsafe, not stabilising");
    }
    if assessed_phase == Some(CarePhase::TraumaProcessing) {
        let positive = |x: Option<&Assessment>| {
            x.and_then(|x| x.score(Instrument::Pcl5)).is_some_and(|p| p.positive)
        };
        assert!(positive(Some(&a)) || positive(previous), "trauma processing without PTSD");
    }
    if assessed_phase == Some(CarePhase::Integration) {
        let before = previous.and_then(|p| p.phase);
        assert!(matches!(before, Some(CarePhase::TraumaProcessing | CarePhase::Integration)));
    }

    // Population, stage, history.
    let today = now.date_naive();
    let age_group = AgeGroup::from_age(age_on(*intake.client.date_of_birth.expose(), today));
    assert_eq!(a.age_group, age_group);
    assert_eq!(a.family_involvement, age_group.is_youth());
    if let Some(s) = intake.stage_of_change {
        assert_eq!(a.stage_of_change, Some(s));
    }
    assert_eq!(a.engagement, a.stage_of_change.and_then(|s| rules.engagement_for(s)));
    for m in &intake.preferences.modalities_avoided {
        assert!(a.modalities_to_avoid.contains(m));
    }
    for (n, m) in a.modalities_to_avoid.iter().enumerate() {
        assert!(!a.modalities_to_avoid[..n].contains(m), "{m:?} twice");
    }

    // Every conclusion is a documented rule; codes and numbers only.
    for r in &a.fired_rules {
        assert!(!r.rule_id.is_empty() && !r.description.is_empty(), "undocumented {}", r.rule_id);
    }
    if !secrets.is_empty() {
        let shown = format!("{a:?}");
        for s in secrets {
            assert!(!shown.contains(s), "personal detail {s:?} in the assessment");
        }
    }

    // Tasks: a risk review at moderate risk, a same-day assessment for item 9 outside the crisis pathway.
    let tasks = opened_by(&a, rules, now);
    let has = |k: TaskKind| tasks.iter().any(|t| t.kind == k);
    assert_eq!(has(TaskKind::RiskReview), risk == RiskLevel::Moderate);
    assert_eq!(has(TaskKind::SameDayRiskAssessment), item9 && !risk.is_crisis());
    assert!(tasks.iter().all(|t| t.due_at > now), "a task due already");
    a
}
