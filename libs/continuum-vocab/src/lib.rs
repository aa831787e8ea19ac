//! The clinical vocabulary every service shares (`continuum.common.v1`), as plain domain enums.
//!
//! Domain and store code use these types, never the generated prost ones. Each enum converts from a proto
//! value at the boundary (`from_proto` rejects `*_UNSPECIFIED` and unknown numbers, so validation can name
//! the field), back to proto with `to_proto`, and is stored as a stable lowercase code (`code`, serde).

pub mod ids;

pub use continuum_errors::Violations;
use continuum_proto::common::v1 as pb;
use serde::{Deserialize, Serialize};

/// Declares a coded vocabulary enum: a plain domain enum whose values mirror a proto enum declared in the
/// same order (`*_UNSPECIFIED = 0`, then 1, 2, ... with no gaps), stored and logged as stable lowercase
/// codes. Every service declares its own vocabularies with this one macro; each checks its enums against
/// the generated proto names with [`assert_mirrors_proto`].
///
/// Generated API: `ALL`, `from_proto` (rejects 0 and unknown numbers), `to_proto`, `index` (0-based, for
/// bit masks), `code`, `from_code`, and the validators `require`, `optional` and `list`, which record
/// violations by field path.
#[macro_export]
macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in proto order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The value for a proto number; `None` for `*_UNSPECIFIED` or an unknown number.
            pub fn from_proto(value: i32) -> Option<Self> {
                usize::try_from(value).ok().and_then(|n| n.checked_sub(1)).and_then(|i| Self::ALL.get(i).copied())
            }

            /// The proto number.
            pub fn to_proto(self) -> i32 {
                self as i32 + 1
            }

            /// Position in `ALL` (a bit index for masks).
            pub fn index(self) -> u32 {
                self as u32
            }

            /// The stable lowercase code (used in storage, rules and logs).
            pub fn code(self) -> &'static str {
                match self { $($name::$var => $code),+ }
            }

            /// The value for a stable code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$var),)+ _ => None }
            }

            /// Reads a required enum field, recording a violation at `field` when unset or unknown.
            pub fn require(v: &mut $crate::Violations, field: &str, value: i32) -> Option<Self> {
                let r = Self::from_proto(value);
                if r.is_none() {
                    v.add(field, if value == 0 { "is required" } else { "is not a known value" });
                }
                r
            }

            /// Reads an optional enum field (0 means absent), recording a violation for unknown numbers.
            pub fn optional(v: &mut $crate::Violations, field: &str, value: i32) -> Option<Self> {
                if value == 0 { return None; }
                let r = Self::from_proto(value);
                if r.is_none() { v.add(field, "is not a known value"); }
                r
            }

            /// Reads a repeated enum field, recording a violation at `field[i]` for each bad entry. At most
            /// one item per value (`ALL.len()`): a longer list is one violation on the field, its entries
            /// unread.
            pub fn list(v: &mut $crate::Violations, field: &str, values: &[i32]) -> Vec<Self> {
                let values = v.capped(field, values, Self::ALL.len());
                let mut out = Vec::with_capacity(values.len());
                for (i, value) in values.iter().enumerate() {
                    match Self::from_proto(*value) {
                        Some(x) => { if !out.contains(&x) { out.push(x) } }
                        None => v.add(format!("{field}[{i}]"), "is not a known value"),
                    }
                }
                out
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.code()) }
        }
    };
}

/// Test helper: checks that each of `codes` (in `ALL` order) sits at the proto number its position says,
/// and that the proto name there ends with the code in upper case (`LEVEL_OF_CARE_OUTPATIENT` for
/// `outpatient`). `proto_name` is the generated enum's `try_from(n).map(|e| e.as_str_name())`.
pub fn assert_mirrors_proto(codes: &[&str], proto_name: impl Fn(i32) -> Option<&'static str>) {
    for (i, code) in codes.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap_or(i32::MAX);
        let name = proto_name(n).unwrap_or_else(|| panic!("no proto value {n} for {code}"));
        assert!(
            name.ends_with(&format!("_{}", code.to_uppercase())),
            "proto value {n} is {name}, not {code}"
        );
    }
    let past = i32::try_from(codes.len() + 1).unwrap_or(i32::MAX);
    assert!(proto_name(past).is_none(), "the proto enum has more values than the domain enum");
}

coded_enum! {
    /// Level of care (CLINICAL.md, "Level of care"), ordered from least to most intensive.
    LevelOfCare {
        /// Psychoeducation, peer support, community groups.
        SelfGuidedPeer => "self_guided_peer",
        /// Individual or group therapy.
        Outpatient => "outpatient",
        /// Intensive outpatient program.
        IntensiveOutpatient => "intensive_outpatient",
        /// Partial hospitalization.
        PartialHospitalization => "partial_hospitalization",
        /// Residential or inpatient.
        Residential => "residential",
        /// Crisis care.
        Crisis => "crisis",
    }
}

coded_enum! {
    /// Age group.
    AgeGroup {
        /// Under 13.
        Child => "child",
        /// 13 to 17.
        Adolescent => "adolescent",
        /// 18 to 64.
        Adult => "adult",
        /// 65 and over.
        OlderAdult => "older_adult",
    }
}

impl AgeGroup {
    /// The group of a person `years` old.
    pub fn from_age(years: u32) -> Self {
        match years {
            0..=12 => AgeGroup::Child,
            13..=17 => AgeGroup::Adolescent,
            18..=64 => AgeGroup::Adult,
            _ => AgeGroup::OlderAdult,
        }
    }

    /// Whether this group is a minor (youth-serving care, family involvement).
    pub fn is_youth(self) -> bool {
        matches!(self, AgeGroup::Child | AgeGroup::Adolescent)
    }
}

coded_enum! {
    /// Assessed risk, ordered from none to imminent.
    RiskLevel {
        /// No indicator.
        None => "none",
        /// Passive ideation.
        Low => "low",
        /// Active ideation with method, or PHQ-9 item 9 without a C-SSRS.
        Moderate => "moderate",
        /// Intent, plan or recent behaviour.
        High => "high",
        /// Clinician-entered imminent risk.
        Imminent => "imminent",
    }
}

impl RiskLevel {
    /// Whether this risk takes the crisis pathway.
    pub fn is_crisis(self) -> bool {
        matches!(self, RiskLevel::High | RiskLevel::Imminent)
    }
}

coded_enum! {
    /// Phase of trauma-informed care.
    CarePhase {
        /// Safety and stabilisation.
        Stabilisation => "stabilisation",
        /// Ready for trauma processing.
        TraumaProcessing => "trauma_processing",
        /// Integration and reconnection.
        Integration => "integration",
    }
}

coded_enum! {
    /// How soon a client must be seen.
    Urgency {
        /// Within 42 days.
        Routine => "routine",
        /// Within 28 days.
        Soon => "soon",
        /// Within 7 days.
        Urgent => "urgent",
        /// Within hours.
        Emergency => "emergency",
    }
}

coded_enum! {
    /// Therapy modality.
    Modality {
        /// CBT.
        Cbt => "cbt",
        /// DBT.
        Dbt => "dbt",
        /// EMDR.
        Emdr => "emdr",
        /// Prolonged exposure.
        ProlongedExposure => "prolonged_exposure",
        /// Cognitive processing therapy.
        Cpt => "cpt",
        /// Trauma-focused CBT.
        TfCbt => "tf_cbt",
        /// ACT.
        Act => "act",
        /// Somatic approaches.
        Somatic => "somatic",
        /// Psychodynamic.
        Psychodynamic => "psychodynamic",
        /// Internal family systems.
        Ifs => "ifs",
        /// Motivational interviewing.
        MotivationalInterviewing => "motivational_interviewing",
        /// Family therapy.
        FamilyTherapy => "family_therapy",
        /// Mentalization-based treatment.
        Mentalization => "mentalization",
        /// Person-centred.
        PersonCentred => "person_centred",
        /// Skills training.
        SkillsTraining => "skills_training",
        /// Peer support.
        PeerSupport => "peer_support",
        /// Crisis intervention.
        CrisisIntervention => "crisis_intervention",
        /// Single-session intervention.
        SingleSession => "single_session",
    }
}

impl Modality {
    /// Whether the modality is regulation-focused (stabilisation-phase care: DBT, skills training,
    /// somatic work).
    pub fn is_regulation_focused(self) -> bool {
        matches!(self, Modality::Dbt | Modality::SkillsTraining | Modality::Somatic)
    }

    /// Whether this modality processes trauma memories (gated by the phase of care).
    pub fn is_trauma_processing(self) -> bool {
        matches!(
            self,
            Modality::Emdr | Modality::ProlongedExposure | Modality::Cpt | Modality::TfCbt
        )
    }
}

coded_enum! {
    /// Payment option.
    PaymentOption {
        /// Commercial insurance.
        CommercialInsurance => "commercial_insurance",
        /// Public insurance.
        PublicInsurance => "public_insurance",
        /// Self-pay.
        SelfPay => "self_pay",
        /// Sliding scale.
        SlidingScale => "sliding_scale",
        /// Free.
        Free => "free",
    }
}

impl PaymentOption {
    /// The providers' payment options a client paying this way can use: their own, a free service (free
    /// accepts everyone), and for a self-paying client a sliding scale too. A provider accepting any of
    /// these passes matching's payment constraint.
    pub fn usable(self) -> &'static [PaymentOption] {
        use PaymentOption as P;
        match self {
            P::CommercialInsurance => &[P::CommercialInsurance, P::Free],
            P::PublicInsurance => &[P::PublicInsurance, P::Free],
            P::SelfPay => &[P::SelfPay, P::SlidingScale, P::Free],
            P::SlidingScale => &[P::SlidingScale, P::Free],
            P::Free => &[P::Free],
        }
    }
}

coded_enum! {
    /// Care format.
    CareFormat {
        /// In person.
        InPerson => "in_person",
        /// Video.
        Video => "video",
        /// Phone.
        Phone => "phone",
    }
}

coded_enum! {
    /// A problem domain: what a client presents with (intake's presenting concerns) and what a provider's
    /// outcomes are measured in (matching). One vocabulary mirrored by both protos' enums
    /// (`continuum.intake.v1.PresentingConcern` and `continuum.matching.v1.ProblemDomain`).
    ProblemDomain {
        /// Depression.
        Depression => "depression",
        /// Generalised anxiety.
        Anxiety => "anxiety",
        /// Panic and phobias.
        Panic => "panic",
        /// Trauma and PTSD.
        Trauma => "trauma",
        /// Substance use.
        SubstanceUse => "substance_use",
        /// Suicidality and self-harm.
        Suicidality => "suicidality",
        /// Psychosis.
        Psychosis => "psychosis",
        /// Mania.
        Mania => "mania",
        /// Eating disorders.
        Eating => "eating",
        /// OCD.
        Ocd => "ocd",
        /// Sleep.
        Sleep => "sleep",
        /// Social and relationship conflict.
        SocialConflict => "social_conflict",
        /// Emotion regulation.
        EmotionRegulation => "emotion_regulation",
        /// Grief and loss.
        Grief => "grief",
        /// Quality of life.
        QualityOfLife => "quality_of_life",
    }
}

/// Relational style on the four Cooper-Norcross dimensions, each -3..=3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationalStyle {
    /// Client-directed (-3) .. therapist-directed (+3).
    pub directiveness: i8,
    /// Reserved (-3) .. intense (+3).
    pub emotional_intensity: i8,
    /// Present (-3) .. past (+3).
    pub past_orientation: i8,
    /// Warm support (-3) .. focused challenge (+3).
    pub challenge: i8,
}

impl RelationalStyle {
    /// Reads a proto style, recording a violation for each dimension outside -3..=3.
    pub fn from_proto(v: &mut Violations, field: &str, p: Option<&pb::RelationalStyle>) -> Self {
        let Some(p) = p else { return Self::default() };
        let mut dim = |name: &str, x: i32| -> i8 {
            if (-3..=3).contains(&x) {
                i8::try_from(x).unwrap_or(0)
            } else {
                v.add(format!("{field}.{name}"), "must be between -3 and 3");
                0
            }
        };
        RelationalStyle {
            directiveness: dim("directiveness", p.directiveness),
            emotional_intensity: dim("emotional_intensity", p.emotional_intensity),
            past_orientation: dim("past_orientation", p.past_orientation),
            challenge: dim("challenge", p.challenge),
        }
    }

    /// The proto form.
    pub fn to_proto(self) -> pb::RelationalStyle {
        pb::RelationalStyle {
            directiveness: self.directiveness.into(),
            emotional_intensity: self.emotional_intensity.into(),
            past_orientation: self.past_orientation.into(),
            challenge: self.challenge.into(),
        }
    }

    /// Whether every dimension is 0 (no stated preference).
    pub fn is_neutral(self) -> bool {
        self == Self::default()
    }

    /// Similarity in 0..=1: 1 when identical, 0 when opposite on every dimension.
    pub fn similarity(self, other: Self) -> f64 {
        let d = (i32::from(self.directiveness) - i32::from(other.directiveness)).abs()
            + (i32::from(self.emotional_intensity) - i32::from(other.emotional_intensity)).abs()
            + (i32::from(self.past_orientation) - i32::from(other.past_orientation)).abs()
            + (i32::from(self.challenge) - i32::from(other.challenge)).abs();
        1.0 - f64::from(d) / 24.0
    }
}

/// Validates a BCP-47-like language tag ("en", "es-MX"): letters and hyphens, 2..=35 characters.
pub fn check_language(v: &mut Violations, field: &str, value: &str) {
    let ok = (2..=35).contains(&value.len())
        && value.split('-').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if value.is_empty() {
        v.add(field, "is required");
    } else if !ok {
        v.add(field, "must be a BCP-47 language tag such as \"en\" or \"es-MX\"");
    }
}

/// Validates an ISO 3166-2 subdivision code ("US-CA") or country code ("GB").
pub fn check_jurisdiction(v: &mut Violations, field: &str, value: &str) {
    let ok = match value.split_once('-') {
        Some((c, s)) => {
            c.len() == 2
                && c.chars().all(|x| x.is_ascii_uppercase())
                && (1..=3).contains(&s.len())
                && s.chars().all(|x| x.is_ascii_alphanumeric())
        }
        None => value.len() == 2 && value.chars().all(|x| x.is_ascii_uppercase()),
    };
    if value.is_empty() {
        v.add(field, "is required");
    } else if !ok {
        v.add(field, "must be an ISO 3166-2 code such as \"US-CA\"");
    }
}

/// The primary language subtag, lowercased ("es-MX" -> "es"), for matching languages.
pub fn primary_language(tag: &str) -> String {
    tag.split('-').next().unwrap_or(tag).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_mirrors_its_proto() {
        fn codes<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str) -> Vec<&'static str> {
            all.iter().map(|x| code(*x)).collect()
        }
        assert_mirrors_proto(&codes(LevelOfCare::ALL, LevelOfCare::code), |n| {
            pb::LevelOfCare::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(AgeGroup::ALL, AgeGroup::code), |n| {
            pb::AgeGroup::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(RiskLevel::ALL, RiskLevel::code), |n| {
            pb::RiskLevel::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(CarePhase::ALL, CarePhase::code), |n| {
            pb::CarePhase::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(Urgency::ALL, Urgency::code), |n| {
            pb::Urgency::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(Modality::ALL, Modality::code), |n| {
            pb::Modality::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(PaymentOption::ALL, PaymentOption::code), |n| {
            pb::PaymentOption::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&codes(CareFormat::ALL, CareFormat::code), |n| {
            pb::CareFormat::try_from(n).ok().map(|e| e.as_str_name())
        });
        let domains = codes(ProblemDomain::ALL, ProblemDomain::code);
        assert_mirrors_proto(&domains, |n| {
            continuum_proto::matching::v1::ProblemDomain::try_from(n).ok().map(|e| e.as_str_name())
        });
        assert_mirrors_proto(&domains, |n| {
            continuum_proto::intake::v1::PresentingConcern::try_from(n)
                .ok()
                .map(|e| e.as_str_name())
        });
    }

    #[test]
    fn round_trips_every_value() {
        for l in LevelOfCare::ALL {
            assert_eq!(LevelOfCare::from_proto(l.to_proto()), Some(*l));
            assert_eq!(LevelOfCare::from_code(l.code()), Some(*l));
        }
        for m in Modality::ALL {
            assert_eq!(Modality::from_proto(m.to_proto()), Some(*m));
        }
        assert_eq!(LevelOfCare::from_proto(0), None);
        assert_eq!(LevelOfCare::from_proto(99), None);
    }

    #[test]
    fn a_list_longer_than_the_values_is_one_violation_and_unread() {
        let mut v = Violations::default();
        let got = Modality::list(&mut v, "m", &vec![99; 10_000]);
        assert!(got.is_empty());
        assert_eq!(v.len(), 1);
        assert_eq!(v.iter().next().map(|f| f.field.as_str()), Some("m"));
    }

    #[test]
    fn list_names_each_bad_entry() {
        let mut v = Violations::default();
        let got = Modality::list(&mut v, "m", &[1, 0, 99, 1]);
        assert_eq!(got, vec![Modality::Cbt]);
        let fields: Vec<_> = v.iter().map(|f| f.field.clone()).collect();
        assert_eq!(fields, vec!["m[1]", "m[2]"]);
    }

    #[test]
    fn checks_codes() {
        let mut v = Violations::default();
        check_language(&mut v, "a", "en");
        check_language(&mut v, "b", "es-MX");
        check_jurisdiction(&mut v, "c", "US-CA");
        assert!(v.is_empty());
        check_language(&mut v, "d", "e n");
        check_jurisdiction(&mut v, "e", "california");
        assert_eq!(v.iter().count(), 2);
    }

    #[test]
    fn style_similarity() {
        let a = RelationalStyle {
            directiveness: 3,
            emotional_intensity: 3,
            past_orientation: 3,
            challenge: 3,
        };
        let b = RelationalStyle {
            directiveness: -3,
            emotional_intensity: -3,
            past_orientation: -3,
            challenge: -3,
        };
        assert!((a.similarity(a) - 1.0).abs() < 1e-9);
        assert!(a.similarity(b).abs() < 1e-9);
    }
}

/// Conversions between times as the domain keeps them (`DateTime<Utc>`), as tables store them
/// (milliseconds since the Unix epoch) and as the protos carry them (`google.protobuf.Timestamp`).
pub mod time {
    use chrono::{DateTime, TimeZone, Utc};

    /// Milliseconds since the epoch.
    pub fn to_ms(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }

    /// The time at `ms` milliseconds since the epoch (clamped to the representable range).
    pub fn from_ms(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The proto form of `t`.
    pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
        }
    }

    /// The proto form of a stored millisecond time.
    pub fn ms_to_proto(ms: i64) -> prost_types::Timestamp {
        to_proto(from_ms(ms))
    }

    /// The time a proto timestamp names, if valid.
    pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
        let nanos = u32::try_from(t.nanos).ok()?;
        Utc.timestamp_opt(t.seconds, nanos).single()
    }
}
