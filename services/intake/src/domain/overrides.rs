//! Clinician overrides of level or phase of care: applied last, recorded as rules of their own, and an
//! override that lowers the level of care below what the assessed risk requires is refused unless the
//! clinician acknowledges it (`override.below_risk_acknowledged`), then recorded and warned about.

use continuum_vocab::{CarePhase, LevelOfCare, RiskLevel};

use super::assessment::{AppliedOverride, Assessment, Trace, opt};
use super::rules::Rules;
use super::{NewIntake, OverrideRequest};

/// Applies the intake's clinician override (if any) to `level` and `phase`; returns the override as
/// applied and the warnings it calls for.
pub(super) fn apply(
    t: &mut Trace<'_>,
    intake: &NewIntake,
    risk: RiskLevel,
    level: &mut LevelOfCare,
    phase: &mut Option<CarePhase>,
) -> (Option<AppliedOverride>, Vec<String>) {
    let rules = t.rules;
    let mut applied = None;
    let mut warnings = Vec::new();
    if let Some(o) = &intake.clinician_override {
        let rec = AppliedOverride {
            assessed_level_of_care: *level,
            level_of_care: o.level_of_care,
            assessed_phase: *phase,
            phase: o.phase,
            clinician_id: o.clinician_id.clone(),
        };
        if let Some(l) = o.level_of_care {
            if let Some(required) = rules.level_required_by(risk).filter(|r| l < *r) {
                // Refused upstream unless acknowledged (`override_needs_acknowledgement`).
                t.fire(
                    "override.below_risk_acknowledged",
                    &[
                        ("risk_level", risk.code().into()),
                        ("required_level", required.code().into()),
                        ("to", l.code().into()),
                        ("acknowledged", o.acknowledge_below_risk.to_string()),
                    ],
                );
                warnings.push(format!(
                    "the clinician override sets {} below the {} that {} risk requires; acknowledged by the clinician and recorded",
                    l.code(),
                    required.code(),
                    risk.code()
                ));
            }
            t.fire(
                "override.level",
                &[
                    ("from", level.code().into()),
                    ("to", l.code().into()),
                    ("clinician_id", o.clinician_id.clone()),
                    ("risk_level", risk.code().into()),
                ],
            );
            *level = l;
        }
        if let Some(p) = o.phase {
            t.fire(
                "override.phase",
                &[
                    ("from", opt(phase.map(|x| x.code()))),
                    ("to", p.code().into()),
                    ("clinician_id", o.clinician_id.clone()),
                ],
            );
            *phase = Some(p);
        }
        applied = Some(rec);
    }
    (applied, warnings)
}

/// Why an override must be refused: it lowers the level of care below what the assessed risk requires
/// (`override.below_risk_acknowledged` in the rules) without the clinician's acknowledgement. Returns the
/// field to name and the message.
pub fn override_needs_acknowledgement(
    a: &Assessment,
    o: &OverrideRequest,
    rules: &Rules,
) -> Option<(&'static str, String)> {
    let to = o.level_of_care?;
    let required = rules.level_required_by(a.risk_level)?;
    (to < required && !o.acknowledge_below_risk).then(|| {
        (
            "acknowledge_below_risk",
            format!(
                "the override sets {} below the {} that {} risk requires; set acknowledge_below_risk to confirm",
                to.code(),
                required.code(),
                a.risk_level.code()
            ),
        )
    })
}
