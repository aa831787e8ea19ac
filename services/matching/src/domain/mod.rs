//! Pure matching rules: what a valid provider is, which hard constraints exclude a provider for a client,
//! and how the remaining providers are scored. No I/O here; the store loads, the adapter converts.

use chrono::{DateTime, Utc};
use continuum_vocab::{AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle};
use serde::{Deserialize, Serialize};

/// Version of the scoring weights below; returned with every recommendation.
pub const WEIGHTS_VERSION: &str = "fit-weights/2026-11-25.1";

/// What kind of provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// An individual clinician.
    Clinician,
    /// A skills group.
    SkillsGroup,
    /// Intensive outpatient program.
    Iop,
    /// Trauma-focused IOP (a trauma-processing track).
    TraumaIop,
    /// Partial hospitalization program.
    Php,
    /// Crisis service.
    CrisisService,
    /// Peer support.
    PeerSupport,
    /// Bridge support while waiting.
    BridgeSupport,
}

impl ProviderKind {
    /// Every kind, in proto order (proto number = index + 1).
    pub const ALL: [ProviderKind; 8] = [
        ProviderKind::Clinician,
        ProviderKind::SkillsGroup,
        ProviderKind::Iop,
        ProviderKind::TraumaIop,
        ProviderKind::Php,
        ProviderKind::CrisisService,
        ProviderKind::PeerSupport,
        ProviderKind::BridgeSupport,
    ];

    /// The kind for a proto number; `None` for unspecified or unknown.
    pub fn from_proto(v: i32) -> Option<Self> {
        usize::try_from(v).ok().and_then(|i| i.checked_sub(1)).and_then(|i| Self::ALL.get(i).copied())
    }

    /// The proto number.
    pub fn to_proto(self) -> i32 {
        Self::ALL.iter().position(|k| *k == self).map_or(0, |i| i32::try_from(i + 1).unwrap_or(0))
    }

    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            ProviderKind::Clinician => "clinician",
            ProviderKind::SkillsGroup => "skills_group",
            ProviderKind::Iop => "iop",
            ProviderKind::TraumaIop => "trauma_iop",
            ProviderKind::Php => "php",
            ProviderKind::CrisisService => "crisis_service",
            ProviderKind::PeerSupport => "peer_support",
            ProviderKind::BridgeSupport => "bridge_support",
        }
    }

    /// The kind for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The descriptive part of a provider (stored as one JSON document beside the queried columns).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Levels of care offered.
    pub levels_of_care: Vec<LevelOfCare>,
    /// Age groups served.
    pub age_groups: Vec<AgeGroup>,
    /// Licence jurisdictions (ISO 3166-2).
    pub jurisdictions: Vec<String>,
    /// Languages (BCP-47).
    pub languages: Vec<String>,
    /// Modalities offered.
    pub modalities: Vec<Modality>,
    /// Payment options accepted.
    pub payment_options: Vec<PaymentOption>,
    /// Formats offered.
    pub formats: Vec<CareFormat>,
    /// Crisis-capable.
    pub crisis_capable: bool,
    /// Family involvement (youth programs).
    pub family_involvement: bool,
    /// Relational style.
    pub relational_style: RelationalStyle,
}

/// A provider as the domain sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// Id (UUIDv7).
    pub id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Public display name.
    pub display_name: String,
    /// Kind.
    pub kind: ProviderKind,
    /// Descriptive profile.
    pub profile: Profile,
    /// Accepting new clients.
    pub accepting_new_clients: bool,
    /// Open slots.
    pub open_slots: i32,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Last write.
    pub updated_at: DateTime<Utc>,
}

impl Provider {
    /// Whether the provider offers trauma processing (a trauma-processing modality or track).
    pub fn offers_trauma_processing(&self) -> bool {
        self.kind == ProviderKind::TraumaIop || self.profile.modalities.iter().any(|m| m.is_trauma_processing())
    }
}

/// A new or replacement provider, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderDraft {
    /// Id to use (given by the caller on replace, or generated).
    pub id: Option<String>,
    /// Owning organization.
    pub organization_id: String,
    /// Display name.
    pub display_name: String,
    /// Kind.
    pub kind: ProviderKind,
    /// Profile.
    pub profile: Profile,
    /// Accepting new clients.
    pub accepting_new_clients: bool,
    /// Open slots.
    pub open_slots: i32,
    /// 0 to create, else the version replaced.
    pub expected_version: i64,
}

/// Maximum open slots a provider can list.
pub const MAX_SLOTS: i32 = 100_000;

/// What a client needs from a provider (codes only).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientNeeds {
    /// Level of care.
    pub level_of_care: LevelOfCare,
    /// Age group.
    pub age_group: AgeGroup,
    /// Jurisdiction.
    pub jurisdiction: String,
    /// Language.
    pub language: String,
    /// Payment option.
    pub payment_option: PaymentOption,
    /// Acceptable formats (empty = any).
    pub formats: Vec<CareFormat>,
    /// Excluded modalities.
    pub modalities_avoided: Vec<Modality>,
    /// Must be crisis-capable.
    pub needs_crisis_capable: bool,
    /// Phase of care.
    pub phase: Option<CarePhase>,
    /// Preferred style.
    pub relational_style: RelationalStyle,
}

/// The hard constraints, in the order they are checked. A provider is counted under the first it fails.
pub const CONSTRAINTS: [&str; 10] = [
    "accepting_new_clients",
    "level_of_care",
    "age_group",
    "jurisdiction",
    "language",
    "payment_option",
    "crisis_capability",
    "phase_gate",
    "format",
    "client_exclusions",
];

/// The first hard constraint `p` fails for `c`, if any.
pub fn failed_constraint(p: &Provider, c: &ClientNeeds) -> Option<&'static str> {
    let prof = &p.profile;
    let lang = continuum_vocab::primary_language(&c.language);
    let checks: [(&'static str, bool); 10] = [
        ("accepting_new_clients", p.accepting_new_clients),
        ("level_of_care", prof.levels_of_care.contains(&c.level_of_care)),
        ("age_group", prof.age_groups.contains(&c.age_group)),
        (
            "jurisdiction",
            prof.jurisdictions.iter().any(|j| j == &c.jurisdiction || c.jurisdiction.starts_with(&format!("{j}-"))),
        ),
        ("language", prof.languages.iter().any(|l| continuum_vocab::primary_language(l) == lang)),
        ("payment_option", prof.payment_options.contains(&c.payment_option)),
        ("crisis_capability", !c.needs_crisis_capable || prof.crisis_capable),
        ("phase_gate", c.phase != Some(CarePhase::Stabilisation) || !p.offers_trauma_processing()),
        ("format", c.formats.is_empty() || prof.formats.iter().any(|f| c.formats.contains(f))),
        (
            "client_exclusions",
            prof.modalities.is_empty() || !prof.modalities.iter().all(|m| c.modalities_avoided.contains(m)),
        ),
    ];
    checks.into_iter().find(|(_, ok)| !ok).map(|(name, _)| name)
}

/// One named part of a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Name.
    pub name: &'static str,
    /// Weight.
    pub weight: f64,
    /// Value in 0..=1.
    pub value: f64,
    /// Plain-language reason.
    pub reason: String,
}

/// A scored provider.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// The provider.
    pub provider: Provider,
    /// Sum of weight x value.
    pub score: f64,
    /// Components.
    pub components: Vec<Component>,
}

/// The result of ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Options, best first.
    pub options: Vec<Scored>,
    /// (constraint, excluded count) for every constraint, in check order.
    pub exclusions: Vec<(&'static str, i32)>,
    /// Providers considered.
    pub considered: i32,
}

/// Scores one provider that passed every hard constraint.
pub fn score(p: &Provider, c: &ClientNeeds) -> Scored {
    let mut components = Vec::with_capacity(4);
    let (cap, cap_reason) = if p.open_slots > 0 {
        (1.0, format!("{} open slot(s) now", p.open_slots))
    } else {
        (0.0, "no open slot now; the client would wait".to_owned())
    };
    components.push(Component { name: "expected_wait", weight: 0.35, value: cap, reason: cap_reason });

    let (rel, rel_reason) = if c.relational_style.is_neutral() {
        (0.5, "client stated no relational-style preference".to_owned())
    } else {
        let s = c.relational_style.similarity(p.profile.relational_style);
        (s, format!("relational style {:.0}% similar to the client's preference", s * 100.0))
    };
    components.push(Component { name: "relational_fit", weight: 0.25, value: rel, reason: rel_reason });

    let (fmt, fmt_reason) = if c.formats.is_empty() {
        (1.0, "client can attend any format".to_owned())
    } else {
        let shared = p.profile.formats.iter().filter(|f| c.formats.contains(f)).count();
        (shared as f64 / c.formats.len() as f64, format!("offers {shared} of the client's {} formats", c.formats.len()))
    };
    components.push(Component { name: "preference_fit", weight: 0.15, value: fmt, reason: fmt_reason });

    let offered = p.profile.modalities.len();
    let avoided = p.profile.modalities.iter().filter(|m| c.modalities_avoided.contains(m)).count();
    let (hist, hist_reason) = if offered == 0 || avoided == 0 {
        (1.0, "offers no modality the client has ruled out".to_owned())
    } else {
        (1.0 - avoided as f64 / offered as f64, format!("{avoided} of {offered} modalities were ruled out by the client"))
    };
    components.push(Component { name: "history_fit", weight: 0.25, value: hist, reason: hist_reason });

    let score = components.iter().map(|x| x.weight * x.value).sum();
    Scored { provider: p.clone(), score, components }
}

/// Applies the hard constraints to `providers`, scores the rest, and returns the best `top_k`.
pub fn rank(providers: &[Provider], c: &ClientNeeds, top_k: usize) -> Ranking {
    let mut counts = [0i32; CONSTRAINTS.len()];
    let mut options = Vec::new();
    for p in providers {
        match failed_constraint(p, c) {
            Some(name) => {
                if let Some(i) = CONSTRAINTS.iter().position(|n| *n == name) {
                    counts[i] += 1;
                }
            }
            None => options.push(score(p, c)),
        }
    }
    options.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.provider.id.cmp(&b.provider.id)));
    options.truncate(top_k);
    Ranking {
        options,
        exclusions: CONSTRAINTS.iter().copied().zip(counts).collect(),
        considered: i32::try_from(providers.len()).unwrap_or(i32::MAX),
    }
}

/// SRS total below which the alliance is a concern (CLINICAL.md; configurable later).
pub const SRS_CONCERN_BELOW: f64 = 36.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str) -> Provider {
        Provider {
            id: id.to_owned(),
            organization_id: "org".into(),
            display_name: id.into(),
            kind: ProviderKind::Clinician,
            profile: Profile {
                levels_of_care: vec![LevelOfCare::Outpatient],
                age_groups: vec![AgeGroup::Adult],
                jurisdictions: vec!["US-CA".into()],
                languages: vec!["en".into()],
                modalities: vec![Modality::Cbt, Modality::Act],
                payment_options: vec![PaymentOption::SelfPay],
                formats: vec![CareFormat::Video],
                ..Profile::default()
            },
            accepting_new_clients: true,
            open_slots: 1,
            version: 1,
            updated_at: Utc::now(),
        }
    }

    fn needs() -> ClientNeeds {
        ClientNeeds {
            level_of_care: LevelOfCare::Outpatient,
            age_group: AgeGroup::Adult,
            jurisdiction: "US-CA".into(),
            language: "en-US".into(),
            payment_option: PaymentOption::SelfPay,
            formats: vec![],
            modalities_avoided: vec![],
            needs_crisis_capable: false,
            phase: None,
            relational_style: RelationalStyle::default(),
        }
    }

    #[test]
    fn each_constraint_excludes_and_is_counted_once() {
        let mut ps = vec![provider("a")];
        let mut b = provider("b");
        b.profile.age_groups = vec![AgeGroup::Adolescent];
        ps.push(b);
        let mut c = provider("c");
        c.accepting_new_clients = false;
        c.profile.age_groups = vec![AgeGroup::Adolescent];
        ps.push(c);
        let mut d = provider("d");
        d.profile.modalities = vec![Modality::Emdr];
        ps.push(d);
        let mut need = needs();
        need.phase = Some(CarePhase::Stabilisation);
        let r = rank(&ps, &need, 10);
        assert_eq!(r.options.len(), 1);
        assert_eq!(r.options[0].provider.id, "a");
        let get = |n: &str| r.exclusions.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert_eq!(get("age_group"), Some(1));
        assert_eq!(get("accepting_new_clients"), Some(1));
        assert_eq!(get("phase_gate"), Some(1));
        assert_eq!(r.considered, 4);
    }

    #[test]
    fn capacity_ranks_first_then_id() {
        let a = provider("a");
        let mut b = provider("b");
        b.open_slots = 0;
        let r = rank(&[b, a], &needs(), 10);
        assert_eq!(r.options[0].provider.id, "a");
    }

    #[test]
    fn avoided_only_modalities_are_excluded() {
        let mut need = needs();
        need.modalities_avoided = vec![Modality::Cbt, Modality::Act];
        assert_eq!(failed_constraint(&provider("a"), &need), Some("client_exclusions"));
    }

    #[test]
    fn kinds_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_proto(k.to_proto()), Some(k));
            assert_eq!(ProviderKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ProviderKind::from_proto(0), None);
    }
}
