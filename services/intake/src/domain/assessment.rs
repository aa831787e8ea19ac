//! The assessment: risk level, level of care, urgency and age group from the scored screeners, with every
//! rule that fired and the inputs it read, so a coordinator can see why. These are the foundation rules
//! from CLINICAL.md ("Risk and the crisis interlock", "Level of care"); each rule has a stable id.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use continuum_vocab::{AgeGroup, CarePhase, LevelOfCare, RiskLevel, Urgency};
use serde::{Deserialize, Serialize};

use super::scoring::{self, CssrsLevel, ScreenerScore};
use super::{NewIntake, Screeners, age_on};

/// Version of the rules below, recorded with every assessment.
pub const RULES_VERSION: &str = "intake-rules/2026-11-25.1";

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
}

struct Trace(Vec<FiredRule>);

impl Trace {
    fn fire(&mut self, id: &str, description: &str, inputs: &[(&str, String)]) {
        self.0.push(FiredRule {
            rule_id: id.to_owned(),
            description: description.to_owned(),
            inputs: inputs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        });
    }
}

/// Scores the screeners.
pub fn score_all(s: &Screeners) -> Vec<ScreenerScore> {
    let mut out = Vec::new();
    if let Some(items) = &s.phq9 {
        out.push(scoring::score_phq9(items));
    }
    if let Some(items) = &s.gad7 {
        out.push(scoring::score_gad7(items));
    }
    if let Some(a) = &s.cssrs {
        out.push(scoring::score_cssrs(a));
    }
    out
}

/// Assesses screeners for a client born on `dob`, at `now`.
pub fn assess_screeners(
    id: String,
    screeners: &Screeners,
    dob: NaiveDate,
    clinician_reports_imminent_risk: bool,
    now: DateTime<Utc>,
) -> Assessment {
    let scores = score_all(screeners);
    let mut t = Trace(Vec::new());
    let age = age_on(dob, now.date_naive());
    let age_group = AgeGroup::from_age(age);
    if age_group.is_youth() {
        t.fire("population.youth", "under 18: youth-serving care with family involvement", &[("age_group", age_group.code().to_owned())]);
    }

    let phq = screeners.phq9.as_ref().map(|i| scoring::score_phq9(i));
    let gad = screeners.gad7.as_ref().map(|i| scoring::score_gad7(i));
    let cssrs = screeners.cssrs.as_ref().map(scoring::cssrs_level);

    // Risk.
    let mut risk = RiskLevel::None;
    if clinician_reports_imminent_risk {
        risk = RiskLevel::Imminent;
        t.fire("risk.clinician_imminent", "clinician reports imminent risk: crisis pathway", &[("clinician_reports_imminent_risk", "true".into())]);
    }
    match cssrs {
        Some(CssrsLevel::High) => {
            risk = risk.max(RiskLevel::High);
            t.fire("risk.cssrs_high", "C-SSRS intent, plan or recent behaviour: high risk, crisis pathway", &[("cssrs_level", "high".into())]);
        }
        Some(CssrsLevel::Moderate) => {
            risk = risk.max(RiskLevel::Moderate);
            t.fire("risk.cssrs_moderate", "C-SSRS thoughts with method: moderate risk, expedited", &[("cssrs_level", "moderate".into())]);
        }
        Some(CssrsLevel::Low) => {
            risk = risk.max(RiskLevel::Low);
            t.fire("risk.cssrs_low", "C-SSRS passive ideation: low risk", &[("cssrs_level", "low".into())]);
        }
        Some(CssrsLevel::None) => {}
        None => {
            if phq.as_ref().is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive")) {
                risk = risk.max(RiskLevel::Moderate);
                t.fire(
                    "risk.phq9_item9_without_cssrs",
                    "PHQ-9 item 9 above 0 and no C-SSRS: moderate risk, same-day risk assessment",
                    &[("phq9_item9", "positive".into()), ("cssrs", "absent".into())],
                );
            }
        }
    }

    // Level of care.
    let phq_total = phq.as_ref().map(|p| p.total);
    let gad_total = gad.as_ref().map(|g| g.total);
    let inputs = || {
        vec![
            ("phq9_total", phq_total.map_or("absent".into(), |x| x.to_string())),
            ("gad7_total", gad_total.map_or("absent".into(), |x| x.to_string())),
        ]
    };
    let level = if risk.is_crisis() {
        t.fire("level.crisis", "crisis risk: crisis level of care", &[("risk_level", risk.code().into())]);
        LevelOfCare::Crisis
    } else if phq_total.is_some_and(|x| x >= 20) || gad_total.is_some_and(|x| x >= 15) {
        t.fire("level.severe_symptoms", "severe symptoms: intensive outpatient", &inputs());
        LevelOfCare::IntensiveOutpatient
    } else if phq_total.is_some_and(|x| x >= 5) || gad_total.is_some_and(|x| x >= 5) || risk >= RiskLevel::Low {
        t.fire("level.outpatient", "mild to moderately severe symptoms or any risk: outpatient", &inputs());
        LevelOfCare::Outpatient
    } else {
        t.fire("level.self_guided", "minimal symptoms and no risk: self-guided or peer support", &inputs());
        LevelOfCare::SelfGuidedPeer
    };

    // Urgency.
    let urgency = if risk.is_crisis() {
        Urgency::Emergency
    } else if risk == RiskLevel::Moderate {
        t.fire("urgency.moderate_risk", "moderate risk: urgent band, seen within 7 days, safety plan", &[("risk_level", risk.code().into())]);
        Urgency::Urgent
    } else if level == LevelOfCare::IntensiveOutpatient {
        t.fire("urgency.severe", "severe symptoms: seen within 28 days", &[("level_of_care", level.code().into())]);
        Urgency::Soon
    } else {
        Urgency::Routine
    };

    Assessment {
        id,
        risk_level: risk,
        level_of_care: level,
        phase: None,
        age_group,
        urgency,
        scores,
        fired_rules: t.0,
        rules_version: RULES_VERSION.to_owned(),
        assessed_at: now,
    }
}

/// Assesses a new intake at `now`.
pub fn assess(id: String, intake: &NewIntake, now: DateTime<Utc>) -> Assessment {
    assess_screeners(id, &intake.screeners, intake.client.date_of_birth, intake.clinician_reports_imminent_risk, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CssrsAnswers;

    fn run(s: Screeners, dob: (i32, u32, u32)) -> Assessment {
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").map(|d| d.with_timezone(&Utc)).unwrap_or_default();
        let dob = NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2).unwrap_or_default();
        assess_screeners("a".into(), &s, dob, false, now)
    }

    #[test]
    fn cssrs_intent_is_crisis() {
        let a = run(Screeners { cssrs: Some(CssrsAnswers { intent_without_plan: true, ..Default::default() }), ..Default::default() }, (1990, 1, 1));
        assert_eq!(a.risk_level, RiskLevel::High);
        assert_eq!(a.level_of_care, LevelOfCare::Crisis);
        assert_eq!(a.urgency, Urgency::Emergency);
        assert!(a.fired_rules.iter().any(|r| r.rule_id == "risk.cssrs_high"));
    }

    #[test]
    fn phq9_item9_without_cssrs_is_moderate_and_urgent() {
        let mut phq = vec![1u8; 9];
        phq[8] = 1;
        let a = run(Screeners { phq9: Some(phq), ..Default::default() }, (1990, 1, 1));
        assert_eq!(a.risk_level, RiskLevel::Moderate);
        assert_eq!(a.urgency, Urgency::Urgent);
    }

    #[test]
    fn severe_depression_goes_to_iop_and_youth_is_marked() {
        let a = run(Screeners { phq9: Some(vec![3, 3, 3, 3, 3, 3, 2, 2, 0]), ..Default::default() }, (2010, 1, 1));
        assert_eq!(a.level_of_care, LevelOfCare::IntensiveOutpatient);
        assert_eq!(a.age_group, AgeGroup::Adolescent);
        assert!(a.fired_rules.iter().any(|r| r.rule_id == "population.youth"));
    }

    #[test]
    fn minimal_symptoms_are_self_guided() {
        let a = run(Screeners { phq9: Some(vec![0; 9]), gad7: Some(vec![1, 0, 0, 0, 0, 0, 0]), ..Default::default() }, (1990, 1, 1));
        assert_eq!(a.level_of_care, LevelOfCare::SelfGuidedPeer);
        assert_eq!(a.risk_level, RiskLevel::None);
        assert_eq!(a.urgency, Urgency::Routine);
    }
}
