//! The codes the FHIR edge speaks, and the one mapping of each between Continuum's proto enums and FHIR:
//! Continuum's own code systems (under [`CANONICAL`]), urgency as request priority, payment options, and the
//! clinician ratings an intake Bundle may carry as Observations.

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use fhir_model::r4b::codes::RequestPriority;

/// The canonical base of Continuum's FHIR artifacts (Questionnaires, code systems, extensions).
pub const CANONICAL: &str = "https://continuum.example.org/fhir";

/// LOINC.
pub const LOINC: &str = "http://loinc.org";

/// FHIR's Task code system (`fulfill`).
pub const TASK_CODE: &str = "http://hl7.org/fhir/CodeSystem/task-code";

/// Continuum's code system `name` (`level-of-care`, ...).
pub fn system(name: &str) -> String {
    format!("{CANONICAL}/CodeSystem/{name}")
}

/// The extension on Patient carrying how the client pays.
pub fn payment_extension_url() -> String {
    format!("{CANONICAL}/StructureDefinition/payment-option")
}

/// Level of care: code and display.
pub fn level_of_care(l: common::LevelOfCare) -> Option<(&'static str, &'static str)> {
    use common::LevelOfCare as L;
    Some(match l {
        L::Unspecified => return None,
        L::SelfGuidedPeer => ("self-guided-peer", "Self-guided or peer support"),
        L::Outpatient => ("outpatient", "Outpatient"),
        L::IntensiveOutpatient => ("intensive-outpatient", "Intensive outpatient (IOP)"),
        L::PartialHospitalization => ("partial-hospitalization", "Partial hospitalization (PHP)"),
        L::Residential => ("residential", "Residential or inpatient"),
        L::Crisis => ("crisis", "Crisis"),
    })
}

/// Urgency as FHIR request priority: emergency is `stat`, urgent `urgent`, soon `asap`, routine `routine`.
pub fn priority(u: common::Urgency) -> Option<RequestPriority> {
    use common::Urgency as U;
    match u {
        U::Unspecified => None,
        U::Routine => Some(RequestPriority::Routine),
        U::Soon => Some(RequestPriority::Asap),
        U::Urgent => Some(RequestPriority::Urgent),
        U::Emergency => Some(RequestPriority::Stat),
    }
}

/// Payment option codes of the [`payment_extension_url`] extension.
pub const PAYMENT_OPTIONS: [(&str, common::PaymentOption); 5] = [
    ("commercial-insurance", common::PaymentOption::CommercialInsurance),
    ("public-insurance", common::PaymentOption::PublicInsurance),
    ("self-pay", common::PaymentOption::SelfPay),
    ("sliding-scale", common::PaymentOption::SlidingScale),
    ("free", common::PaymentOption::Free),
];

/// The code system of clinician ratings (Observation.code).
pub fn clinician_rating_system() -> String {
    system("clinician-rating")
}

/// Functional impairment codes (Observation `functional-impairment`, valueCodeableConcept).
pub const FUNCTIONAL_IMPAIRMENT: [(&str, ipb::FunctionalImpairment); 4] = [
    ("none", ipb::FunctionalImpairment::None),
    ("mild", ipb::FunctionalImpairment::Mild),
    ("moderate", ipb::FunctionalImpairment::Moderate),
    ("severe", ipb::FunctionalImpairment::Severe),
];

/// Stage of change codes (Observation `stage-of-change`, valueCodeableConcept).
pub const STAGE_OF_CHANGE: [(&str, ipb::StageOfChange); 5] = [
    ("precontemplation", ipb::StageOfChange::Precontemplation),
    ("contemplation", ipb::StageOfChange::Contemplation),
    ("preparation", ipb::StageOfChange::Preparation),
    ("action", ipb::StageOfChange::Action),
    ("maintenance", ipb::StageOfChange::Maintenance),
];

/// Risk level code and display (for the ServiceRequest's reason).
pub fn risk_level(r: common::RiskLevel) -> Option<(&'static str, &'static str)> {
    use common::RiskLevel as R;
    Some(match r {
        R::Unspecified => return None,
        R::None => ("none", "No risk identified"),
        R::Low => ("low", "Low risk"),
        R::Moderate => ("moderate", "Moderate risk"),
        R::High => ("high", "High risk"),
        R::Imminent => ("imminent", "Imminent risk"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_and_urgency_has_a_code() {
        for l in 1..=6 {
            let l = common::LevelOfCare::try_from(l).unwrap_or_default();
            assert!(level_of_care(l).is_some(), "{l:?}");
        }
        for u in 1..=4 {
            let u = common::Urgency::try_from(u).unwrap_or_default();
            assert!(priority(u).is_some(), "{u:?}");
        }
    }
}
