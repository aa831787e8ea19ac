//! The phase of care (CLINICAL.md, "Phase-based trauma care"): stabilisation first when the client is
//! dysregulated, unsafe or at risk; trauma processing for probable PTSD once stable; integration after a
//! reliable improvement. A re-screen without a PCL-5 keeps the previous one for this decision.

use continuum_vocab::{CarePhase, RiskLevel};

use super::NewIntake;
use super::assessment::{Assessment, Trace, opt};
use super::scoring::{Instrument, ScreenerScore};

/// What the phase decision reads from the rest of the assessment.
pub(super) struct PhaseInputs<'a> {
    /// The assessed risk.
    pub risk: RiskLevel,
    /// This assessment's PCL-5 score, when given.
    pub pcl: Option<&'a ScreenerScore>,
    /// Whether this PCL-5 is positive.
    pub probable_ptsd: bool,
    /// This PCL-5 total, when given.
    pub pcl_total: Option<i32>,
}

/// The phase of care, each conclusion fired on `t`.
pub(super) fn phase_of(
    t: &mut Trace<'_>,
    intake: &NewIntake,
    inputs: PhaseInputs<'_>,
    previous: Option<&Assessment>,
) -> Option<CarePhase> {
    let PhaseInputs { risk, pcl, probable_ptsd, pcl_total } = inputs;
    let rules = t.rules;
    let pp = &rules.phase;
    let d = intake.dysregulation.unwrap_or_default();
    let frequent = |f: Option<super::Frequency>| f.is_some_and(|f| f >= pp.frequent_at);
    let outside = d.clinician_window.is_some_and(|w| pp.outside_window.contains(&w));
    let unsafe_stressors: Vec<&str> = intake
        .stressors
        .iter()
        .filter(|s| pp.unsafe_stressors.contains(s))
        .map(|s| s.code())
        .collect();
    let unsafe_risk = risk >= pp.stabilise_at_risk;
    let dysregulated = frequent(d.overwhelm)
        || frequent(d.shutdown)
        || frequent(d.dissociation)
        || d.recent_self_harm
        || outside;
    // A re-screen without a PCL-5 keeps the previous assessment's PCL-5 for the phase decision.
    let carried = pcl.is_none().then(|| previous.and_then(|p| p.score(Instrument::Pcl5))).flatten();
    let probable_ptsd = probable_ptsd || carried.is_some_and(|p| p.positive);
    let pcl_total = pcl_total.or(carried.map(|p| p.total));
    let mut phase = None;
    if dysregulated || !unsafe_stressors.is_empty() || unsafe_risk {
        phase = Some(CarePhase::Stabilisation);
        t.fire(
            "phase.stabilisation",
            &[
                ("overwhelm", opt(d.overwhelm.map(|f| f.code()))),
                ("shutdown", opt(d.shutdown.map(|f| f.code()))),
                ("dissociation", opt(d.dissociation.map(|f| f.code()))),
                ("recent_self_harm", d.recent_self_harm.to_string()),
                ("clinician_window", opt(d.clinician_window.map(|w| w.code()))),
                (
                    "unsafe_stressors",
                    if unsafe_stressors.is_empty() {
                        "none".into()
                    } else {
                        unsafe_stressors.join(",")
                    },
                ),
                ("risk_level", risk.code().into()),
                ("pcl5_total", opt(pcl_total)),
            ],
        );
    } else if let Some(prev) = previous.filter(|p| {
        p.phase == Some(CarePhase::TraumaProcessing) || p.phase == Some(CarePhase::Integration)
    }) {
        // After processing: a reliable PCL-5 improvement to below the cut-off moves on to integration.
        let threshold = rules.reliable_change.get("pcl5").copied().unwrap_or(10);
        let improved = match (prev.score(Instrument::Pcl5), pcl.as_ref()) {
            (Some(p), Some(c)) => p.total - c.total >= threshold && !c.positive,
            _ => false,
        };
        if improved || prev.phase == Some(CarePhase::Integration) && !probable_ptsd {
            phase = Some(CarePhase::Integration);
            t.fire(
                "phase.integration",
                &[
                    ("previous_phase", opt(prev.phase.map(|p| p.code()))),
                    ("pcl5_total", opt(pcl_total)),
                ],
            );
        } else if probable_ptsd {
            phase = Some(CarePhase::TraumaProcessing);
            t.fire(
                "phase.trauma_processing",
                &[("pcl5_total", opt(pcl_total)), ("dysregulated", "false".into())],
            );
        }
    } else if probable_ptsd {
        phase = Some(CarePhase::TraumaProcessing);
        t.fire(
            "phase.trauma_processing",
            &[("pcl5_total", opt(pcl_total)), ("dysregulated", "false".into())],
        );
    }
    phase
}
