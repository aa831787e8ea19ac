//! The risk rules of the second clinical safety pass (issue 13): C-SSRS recency read as recent behaviour,
//! recent self-harm as moderate risk, crisis resources for PHQ-9 item 9, and overrides below what risk
//! requires (with the fixtures of the assessment tests).

use continuum_vocab::{LevelOfCare, RiskLevel, Urgency};

use crate::domain::assessment::tests::{fired, intake, phq, rules, run};
use crate::domain::overrides::override_needs_acknowledgement;
use crate::domain::{CssrsAnswers, Dysregulation, OverrideRequest, Screeners};

#[test]
fn an_override_below_what_risk_requires_needs_an_acknowledgement() {
    // Issue 13.6: C-SSRS high (crisis) overridden to outpatient.
    let mut i = intake(Screeners {
        cssrs: Some(CssrsAnswers { intent_with_plan: true, ..Default::default() }),
        ..Default::default()
    });
    let mut o = OverrideRequest {
        level_of_care: Some(LevelOfCare::Outpatient),
        phase: None,
        reason: "r".into(),
        clinician_id: "c-1".into(),
        acknowledge_below_risk: false,
    };
    i.clinician_override = Some(o.clone());
    let a = run(&i);
    let refused = override_needs_acknowledgement(&a, &o, &rules());
    assert_eq!(refused.map(|(f, _)| f), Some("acknowledge_below_risk"));
    o.acknowledge_below_risk = true;
    i.clinician_override = Some(o.clone());
    let a = run(&i);
    assert!(override_needs_acknowledgement(&a, &o, &rules()).is_none());
    assert_eq!((a.level_of_care, a.risk_level), (LevelOfCare::Outpatient, RiskLevel::High));
    assert!(fired(&a, "override.below_risk_acknowledged"));
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
    assert!(a.warnings[0].contains("below the crisis"), "{:?}", a.warnings);
    // Moderate risk requires outpatient: self-guided needs the acknowledgement, IOP does not.
    let mut m = intake(phq(8));
    m.dysregulation = Some(Dysregulation { recent_self_harm: true, ..Default::default() });
    let a = run(&m);
    let down = OverrideRequest { level_of_care: Some(LevelOfCare::SelfGuidedPeer), ..o.clone() };
    let down = OverrideRequest { acknowledge_below_risk: false, ..down };
    assert!(override_needs_acknowledgement(&a, &down, &rules()).is_some());
    let up = OverrideRequest { level_of_care: Some(LevelOfCare::IntensiveOutpatient), ..down };
    assert!(override_needs_acknowledgement(&a, &up, &rules()).is_none());
    // No risk: any override, no acknowledgement.
    let none = run(&intake(phq(8)));
    let down = OverrideRequest { level_of_care: Some(LevelOfCare::SelfGuidedPeer), ..o };
    assert!(override_needs_acknowledgement(&none, &down, &rules()).is_none());
}

#[test]
fn recent_self_harm_raises_risk_to_moderate() {
    // Issue 13.2: PHQ-9 = 8 with self-harm in the past 3 months.
    let mut i = intake(phq(8));
    i.dysregulation = Some(Dysregulation { recent_self_harm: true, ..Default::default() });
    let a = run(&i);
    assert_eq!((a.risk_level, a.urgency), (RiskLevel::Moderate, Urgency::Urgent));
    assert!(fired(&a, "risk.recent_self_harm") && fired(&a, "urgency.moderate_risk"));
    assert!(a.care_emphases.iter().any(|e| e == "risk_review"));
    assert!(a.carries_crisis_resources());
    // A higher risk from the C-SSRS stays.
    i.screeners.cssrs = Some(CssrsAnswers { intent_with_plan: true, ..Default::default() });
    let a = run(&i);
    assert_eq!(a.risk_level, RiskLevel::High);
    assert!(!fired(&a, "risk.recent_self_harm"));
}

#[test]
fn cssrs_recency_alone_is_read_as_recent_behaviour() {
    // Issue 13.1.
    let a = run(&intake(Screeners {
        cssrs: Some(CssrsAnswers { behaviour_past_three_months: true, ..Default::default() }),
        ..Default::default()
    }));
    assert_eq!((a.risk_level, a.level_of_care), (RiskLevel::High, LevelOfCare::Crisis));
    assert!(fired(&a, "risk.cssrs_recency_implies_behaviour") && fired(&a, "risk.cssrs_high"));
}

#[test]
fn item9_carries_crisis_resources_whatever_the_cssrs() {
    // Issue 13.3.
    let mut s = phq(3);
    if let Some(items) = s.phq9.as_mut() {
        items[8] = 1;
    }
    s.cssrs = Some(CssrsAnswers::default());
    let a = run(&intake(s));
    assert_eq!(a.risk_level, RiskLevel::None, "a negative C-SSRS leaves the risk level");
    assert!(a.carries_crisis_resources());
    assert!(!run(&intake(phq(3))).carries_crisis_resources());
}
