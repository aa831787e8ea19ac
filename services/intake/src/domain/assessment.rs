//! The assessment: risk, level of care, urgency, phase of care, stage of change and engagement, modalities
//! to avoid, program cycling and supports to add, from the scored screeners and the rest of the intake.
//! Every threshold and mapping comes from the rules file (`rules`); every conclusion fires a rule with a
//! stable id and the inputs it read (codes and numbers only), so a coordinator can see why. A clinician
//! override of level or phase is applied last and recorded as a rule of its own.
//!
//! The crisis interlock does not depend on the level of care: routing takes the crisis pathway on risk
//! alone, so an override can never take a high-risk client off it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use continuum_vocab::{AgeGroup, CarePhase, LevelOfCare, Modality, RiskLevel, Urgency};
use serde::{Deserialize, Serialize};

use super::codes::{Engagement, StageOfChange, TreatmentOutcome};
use super::rules::Rules;
use super::scoring::{self, Instrument, ScreenerScore};
use super::{NewIntake, age_on};

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredRule {
    /// Stable id.
    pub rule_id: String,
    /// What it concluded.
    pub description: String,
    /// Inputs read (codes and numbers only).
    pub inputs: BTreeMap<String, String>,
}

/// A clinician override as applied (the reason stays in the encrypted submission).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedOverride {
    /// Level the rules gave.
    pub assessed_level_of_care: LevelOfCare,
    /// Level used, when overridden.
    pub level_of_care: Option<LevelOfCare>,
    /// Phase the rules gave.
    pub assessed_phase: Option<CarePhase>,
    /// Phase used, when overridden.
    pub phase: Option<CarePhase>,
    /// Who.
    pub clinician_id: String,
}

/// An assessment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// Id.
    pub id: String,
    /// Risk level.
    pub risk_level: RiskLevel,
    /// Level of care.
    pub level_of_care: LevelOfCare,
    /// Phase of care, when assessed.
    pub phase: Option<CarePhase>,
    /// Age group.
    pub age_group: AgeGroup,
    /// Urgency.
    pub urgency: Urgency,
    /// Scores.
    pub scores: Vec<ScreenerScore>,
    /// Fired rules, in order.
    pub fired_rules: Vec<FiredRule>,
    /// Rules version.
    pub rules_version: String,
    /// When assessed.
    pub assessed_at: DateTime<Utc>,
    /// Trauma-focused care indicated now.
    #[serde(default)]
    pub trauma_focused_indicated: bool,
    /// Stage of change used.
    #[serde(default)]
    pub stage_of_change: Option<StageOfChange>,
    /// Engagement approach.
    #[serde(default)]
    pub engagement: Option<Engagement>,
    /// Modalities not to offer.
    #[serde(default)]
    pub modalities_to_avoid: Vec<Modality>,
    /// Program cycling.
    #[serde(default)]
    pub program_cycling: bool,
    /// Supports to add (codes).
    #[serde(default)]
    pub supports_to_add: Vec<String>,
    /// Youth: family involvement.
    #[serde(default)]
    pub family_involvement: bool,
    /// Care emphases (codes).
    #[serde(default)]
    pub care_emphases: Vec<String>,
    /// Clinician override applied.
    #[serde(default)]
    pub clinician_override: Option<AppliedOverride>,
    /// Plain-language warnings about this assessment (an acknowledged override below what risk requires).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Assessment {
    /// The score of `instrument`, if it was given.
    pub fn score(&self, instrument: Instrument) -> Option<&ScreenerScore> {
        self.scores.iter().find(|s| s.instrument == instrument)
    }

    /// Whether the answer must carry crisis resources: the crisis pathway, any risk at moderate or above
    /// (C-SSRS thoughts with method, recent self-harm), or PHQ-9 item 9 above 0 whatever else was found.
    pub fn carries_crisis_resources(&self) -> bool {
        self.risk_level >= RiskLevel::Moderate
            || self
                .score(Instrument::Phq9)
                .is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive"))
    }
}

pub(super) struct Trace<'r> {
    pub(super) rules: &'r Rules,
    pub(super) fired: Vec<FiredRule>,
}

impl Trace<'_> {
    pub(super) fn fire(&mut self, id: &str, inputs: &[(&str, String)]) {
        self.fired.push(FiredRule {
            rule_id: id.to_owned(),
            description: self.rules.describe(id),
            inputs: inputs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        });
    }
}

pub(super) fn opt<T: ToString>(x: Option<T>) -> String {
    x.map_or_else(|| "absent".to_owned(), |v| v.to_string())
}

fn level_up(l: LevelOfCare, cap: LevelOfCare) -> LevelOfCare {
    let next = match l {
        LevelOfCare::SelfGuidedPeer => LevelOfCare::Outpatient,
        LevelOfCare::Outpatient => LevelOfCare::IntensiveOutpatient,
        LevelOfCare::IntensiveOutpatient => LevelOfCare::PartialHospitalization,
        LevelOfCare::PartialHospitalization | LevelOfCare::Residential => LevelOfCare::Residential,
        LevelOfCare::Crisis => LevelOfCare::Crisis,
    };
    if next > cap { l.max(cap) } else { next }
}

fn days_between(a: NaiveDate, b: NaiveDate) -> i64 {
    (b - a).num_days()
}

/// Assesses an intake at `now` with `rules`; `previous` is the assessment a reassessment replaces.
pub fn assess(
    id: String,
    intake: &NewIntake,
    rules: &Rules,
    now: DateTime<Utc>,
    previous: Option<&Assessment>,
) -> Assessment {
    let mut t = Trace { rules, fired: Vec::new() };
    let today = now.date_naive();
    let sc = &intake.screeners;
    let params = &rules.scoring;

    // Scores.
    let phq = sc.phq9.as_ref().map(|i| scoring::score_phq9(i));
    let gad = sc.gad7.as_ref().map(|i| scoring::score_gad7(i));
    let cssrs_score = sc.cssrs.as_ref().map(scoring::score_cssrs);
    let pcl = sc.pcl5.as_ref().map(|i| scoring::score_pcl5(i, params));
    let ruler = sc.readiness_ruler.map(|r| scoring::score_readiness(r, params));
    let scores: Vec<ScreenerScore> =
        [phq.clone(), gad.clone(), cssrs_score, pcl.clone(), ruler.as_ref().map(|r| r.0.clone())]
            .into_iter()
            .flatten()
            .collect();

    // Population.
    let age_group = AgeGroup::from_age(age_on(*intake.client.date_of_birth.expose(), today));
    let family_involvement = age_group.is_youth();
    if family_involvement {
        t.fire("population.youth", &[("age_group", age_group.code().to_owned())]);
    }

    // Risk.
    let risk = super::risk::risk_of(&mut t, intake, phq.as_ref());

    // Level of care.
    let lp = &rules.level;
    let phq_total = phq.as_ref().map(|p| p.total);
    let gad_total = gad.as_ref().map(|g| g.total);
    let pcl_total = pcl.as_ref().map(|p| p.total);
    let probable_ptsd = pcl.as_ref().is_some_and(|p| p.positive);
    let symptom_inputs = || {
        vec![
            ("phq9_total", opt(phq_total)),
            ("gad7_total", opt(gad_total)),
            ("pcl5_total", opt(pcl_total)),
            ("risk_level", risk.code().to_owned()),
        ]
    };
    let mut level = if risk.is_crisis() {
        t.fire("level.crisis", &[("risk_level", risk.code().into())]);
        LevelOfCare::Crisis
    } else if phq_total.is_some_and(|x| x >= lp.severe_phq9_at)
        || gad_total.is_some_and(|x| x >= lp.severe_gad7_at)
    {
        t.fire("level.severe_symptoms", &symptom_inputs());
        LevelOfCare::IntensiveOutpatient
    } else if phq_total.is_some_and(|x| x >= lp.symptomatic_phq9_at)
        || gad_total.is_some_and(|x| x >= lp.symptomatic_gad7_at)
        || probable_ptsd
        || risk >= RiskLevel::Low
    {
        t.fire("level.outpatient", &symptom_inputs());
        LevelOfCare::Outpatient
    } else {
        t.fire("level.self_guided", &symptom_inputs());
        LevelOfCare::SelfGuidedPeer
    };
    if level != LevelOfCare::Crisis {
        if let Some(imp) = intake.functional_impairment.filter(|i| *i >= lp.impairment_step_up_at) {
            let from = level;
            level = level_up(level, lp.step_up_cap);
            t.fire(
                "level.step_up_impairment",
                &[
                    ("functional_impairment", imp.code().into()),
                    ("from", from.code().into()),
                    ("to", level.code().into()),
                ],
            );
        }
        if let Some(su) = intake.substance_use.filter(|s| *s >= lp.substance_step_up_at) {
            let from = level;
            level = level_up(level, lp.step_up_cap);
            t.fire(
                "level.step_up_substance_use",
                &[
                    ("substance_use", su.code().into()),
                    ("from", from.code().into()),
                    ("to", level.code().into()),
                ],
            );
        }
        let failed_program = intake
            .treatment_history
            .iter()
            .filter(|e| e.outcome == TreatmentOutcome::DidNotHelp)
            .filter(|e| {
                days_between(e.ended.unwrap_or(e.started).min(today), today)
                    <= lp.treatment_history_window_days
            })
            .filter_map(|e| e.level_of_care)
            .filter(|l| *l != LevelOfCare::Crisis)
            .max();
        if let Some(tried) = failed_program.filter(|tried| *tried >= level) {
            let from = level;
            level = level_up(tried, lp.step_up_cap).max(level);
            if level != from {
                t.fire(
                    "level.step_up_treatment_history",
                    &[
                        ("tried_without_progress", tried.code().into()),
                        ("from", from.code().into()),
                        ("to", level.code().into()),
                    ],
                );
            }
        }
    }

    // Urgency.
    let urgency = if risk.is_crisis() {
        Urgency::Emergency
    } else if risk == RiskLevel::Moderate {
        t.fire("urgency.moderate_risk", &[("risk_level", risk.code().into())]);
        Urgency::Urgent
    } else if level >= LevelOfCare::IntensiveOutpatient {
        t.fire("urgency.severe", &[("level_of_care", level.code().into())]);
        Urgency::Soon
    } else {
        Urgency::Routine
    };

    // Phase of care.
    let mut phase = super::phase::phase_of(
        &mut t,
        intake,
        super::phase::PhaseInputs { risk, pcl: pcl.as_ref(), probable_ptsd, pcl_total },
        previous,
    );

    // Stage of change and engagement.
    let stage = if let Some(s) = intake.stage_of_change {
        t.fire(
            "stage.clinician",
            &[("stage_of_change", s.code().into()), ("readiness_ruler", opt(sc.readiness_ruler))],
        );
        Some(s)
    } else if let Some((_, Some(s))) = &ruler {
        t.fire(
            "stage.readiness_ruler",
            &[("readiness_ruler", opt(sc.readiness_ruler)), ("stage_of_change", s.code().into())],
        );
        Some(*s)
    } else {
        None
    };
    let engagement = stage.and_then(|s| rules.engagement_for(s));
    if let (Some(s), Some(e)) = (stage, engagement) {
        t.fire(
            "engagement.from_stage",
            &[("stage_of_change", s.code().into()), ("engagement", e.code().into())],
        );
    }

    // History: modalities to avoid, program cycling.
    let mut avoid: Vec<Modality> = Vec::new();
    let failed: Vec<Modality> = intake
        .treatment_history
        .iter()
        .filter(|e| e.outcome == TreatmentOutcome::DidNotHelp)
        .filter_map(|e| e.modality)
        .collect();
    for m in &failed {
        if !avoid.contains(m) {
            avoid.push(*m);
        }
    }
    if !avoid.is_empty() {
        let codes: Vec<&str> = avoid.iter().map(|m| m.code()).collect();
        t.fire(
            "history.avoid_repeating",
            &[
                ("tried_without_help", codes.join(",")),
                ("episodes_without_help", failed.len().to_string()),
            ],
        );
    }
    if !intake.preferences.modalities_avoided.is_empty() {
        let codes: Vec<&str> =
            intake.preferences.modalities_avoided.iter().map(|m| m.code()).collect();
        t.fire("preferences.exclusions", &[("modalities_avoided", codes.join(","))]);
        for m in &intake.preferences.modalities_avoided {
            if !avoid.contains(m) {
                avoid.push(*m);
            }
        }
    }
    let cp = &rules.program_cycling;
    let programs = intake
        .treatment_history
        .iter()
        .filter(|e| {
            e.level_of_care.is_some()
                && e.started <= today
                && days_between(e.started, today) <= cp.window_days
        })
        .count();
    let program_cycling = programs >= cp.min_programs;
    let mut care_emphases = Vec::new();
    // CLINICAL.md, Risk: moderate risk is expedited with a safety-plan flag and a risk review task; a
    // positive PHQ-9 item 9 needs a same-day risk assessment whatever the total.
    if risk == RiskLevel::Moderate {
        care_emphases.extend(["safety_plan".to_owned(), "risk_review".to_owned()]);
    }
    if phq.as_ref().is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive")) {
        care_emphases.push("same_day_risk_assessment".to_owned());
    }
    if program_cycling {
        care_emphases.extend(cp.emphases.iter().cloned());
        t.fire(
            "history.program_cycling",
            &[
                ("programs_in_window", programs.to_string()),
                ("window_days", cp.window_days.to_string()),
            ],
        );
    }

    // Supports to add.
    let supports_to_add = supports_for(&mut t, intake, family_involvement, age_group);

    // Clinician override, last.
    let (applied, warnings) = super::overrides::apply(&mut t, intake, risk, &mut level, &mut phase);

    Assessment {
        id,
        risk_level: risk,
        level_of_care: level,
        phase,
        age_group,
        urgency,
        scores,
        fired_rules: t.fired,
        rules_version: rules.version.clone(),
        assessed_at: now,
        trauma_focused_indicated: phase == Some(CarePhase::TraumaProcessing),
        stage_of_change: stage,
        engagement,
        modalities_to_avoid: avoid,
        program_cycling,
        supports_to_add,
        family_involvement,
        care_emphases,
        clinician_override: applied,
        warnings,
    }
}

#[cfg(test)]
#[path = "assessment_tests.rs"]
pub(crate) mod tests;

/// The supports the rules add for this intake (stressors, no supports, youth, substance use), each rule
/// fired with the input it read.
fn supports_for(
    t: &mut Trace<'_>,
    intake: &NewIntake,
    family_involvement: bool,
    age_group: AgeGroup,
) -> Vec<String> {
    let rules = t.rules;
    let mut supports_to_add: Vec<String> = Vec::new();
    for s in &rules.supports {
        let (fires, input) = if let Some(st) = s.when_stressor {
            (intake.stressors.contains(&st), ("stressor", st.code().to_owned()))
        } else if s.when_no_supports {
            (intake.supports.is_empty(), ("supports", "none".to_owned()))
        } else if s.when_youth {
            (family_involvement, ("age_group", age_group.code().to_owned()))
        } else if let Some(at) = s.when_substance_use_at {
            (
                intake.substance_use.is_some_and(|u| u >= at),
                ("substance_use", opt(intake.substance_use.map(|u| u.code()))),
            )
        } else {
            (false, ("", String::new()))
        };
        if fires {
            t.fire(&s.id, &[input]);
            for a in &s.add {
                if !supports_to_add.contains(a) {
                    supports_to_add.push(a.clone());
                }
            }
        }
    }
    supports_to_add
}
