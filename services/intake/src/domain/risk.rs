//! Risk: the suicide-risk level of an intake from the clinician's judgement, the C-SSRS screener (a recency
//! answer without "any behaviour" read as recent behaviour), PHQ-9 item 9 without a C-SSRS, and recent
//! self-harm. Each conclusion fires its rule (docs/clinical-rules.md, Risk).

use continuum_vocab::RiskLevel;

use super::NewIntake;
use super::assessment::Trace;
use super::scoring::{self, CssrsAnswers, CssrsLevel, ScreenerScore};

/// The risk level of `intake` (PHQ-9 already scored as `phq`), firing each rule that raised it.
pub(super) fn risk_of(
    t: &mut Trace<'_>,
    intake: &NewIntake,
    phq: Option<&ScreenerScore>,
) -> RiskLevel {
    let sc = &intake.screeners;
    let cssrs = sc.cssrs.as_ref().map(scoring::cssrs_level);
    let mut risk = RiskLevel::None;
    if intake.clinician_reports_imminent_risk {
        risk = RiskLevel::Imminent;
        t.fire("risk.clinician_imminent", &[("clinician_reports_imminent_risk", "true".into())]);
    }
    match cssrs {
        Some(CssrsLevel::High) => {
            risk = risk.max(RiskLevel::High);
            if sc.cssrs.as_ref().is_some_and(CssrsAnswers::recency_implies_behaviour) {
                t.fire(
                    "risk.cssrs_recency_implies_behaviour",
                    &[
                        ("behaviour_past_three_months", "true".into()),
                        ("suicidal_behaviour", "false".into()),
                    ],
                );
            }
            t.fire("risk.cssrs_high", &[("cssrs_level", "high".into())]);
        }
        Some(CssrsLevel::Moderate) => {
            risk = risk.max(RiskLevel::Moderate);
            t.fire("risk.cssrs_moderate", &[("cssrs_level", "moderate".into())]);
        }
        Some(CssrsLevel::Low) => {
            risk = risk.max(RiskLevel::Low);
            t.fire("risk.cssrs_low", &[("cssrs_level", "low".into())]);
        }
        Some(CssrsLevel::None) => {}
        None => {
            if phq.is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive")) {
                risk = risk.max(RiskLevel::Moderate);
                t.fire(
                    "risk.phq9_item9_without_cssrs",
                    &[("phq9_item9", "positive".into()), ("cssrs", "absent".into())],
                );
            }
        }
    }

    if intake.dysregulation.as_ref().is_some_and(|d| d.recent_self_harm)
        && risk < RiskLevel::Moderate
    {
        risk = RiskLevel::Moderate;
        t.fire("risk.recent_self_harm", &[("recent_self_harm", "true".into())]);
    }
    risk
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
