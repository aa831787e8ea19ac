//! Pure matching rules: what a valid provider is, which hard constraints exclude a provider for a client,
//! and how the remaining providers are scored. No I/O here; the store loads, the adapter converts.
//!
//! Submodules: `fit` (the versioned weights and the named score components), `directory` (the in-memory,
//! precompiled snapshot of the directory that ranking runs over) and `alliance` (what session feedback
//! teaches: the corrected relational style, the shrunk alliance estimate and the stuck signal) and `capacity`
//! (program capacity as cohort seats).

pub mod alliance;
pub mod capacity;
pub mod directory;
pub mod fit;
pub mod geo;
pub mod import;
mod snapshot_store;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{OrganizationId, ProviderId};
use continuum_vocab::{
    AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use serde::{Deserialize, Serialize};

pub use alliance::AllianceStats;
pub use fit::Weights;
pub use geo::{PreparedPoint, approx_distance_km, distance_km, prepare_point};
pub use import::{ImportItem, ImportOutcome, ImportedItem};

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
        usize::try_from(v)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| Self::ALL.get(i).copied())
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

/// The problem domains outcomes are measured in (shared with intake's presenting concerns).
pub use continuum_vocab::ProblemDomain;

continuum_vocab::coded_enum! {
    /// A measured outcome rating in one domain.
    OutcomeRating {
        /// Better than expected.
        Effective => "effective",
        /// As expected.
        Neutral => "neutral",
        /// Worse than expected.
        Ineffective => "ineffective",
    }
}

continuum_vocab::coded_enum! {
    /// When sessions are offered.
    ScheduleWindow {
        /// Weekday daytime.
        WeekdayDaytime => "weekday_daytime",
        /// Weekday evening.
        WeekdayEvening => "weekday_evening",
        /// Weekend.
        Weekend => "weekend",
    }
}

/// Outcome ratings count only from this many past cases on (CLINICAL.md, "Fit").
pub const MIN_OUTCOME_CASES: i32 = 15;

/// A provider's measured outcomes in one domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeStrength {
    /// Domain.
    pub domain: ProblemDomain,
    /// Rating.
    pub rating: OutcomeRating,
    /// Past cases behind the rating.
    pub cases: i32,
}

impl OutcomeStrength {
    /// Whether enough cases stand behind the rating for it to count.
    pub fn counts(&self) -> bool {
        self.cases >= MIN_OUTCOME_CASES
    }
}

/// A program cohort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cohort {
    /// Code, unique within the provider.
    pub code: String,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// Seats.
    pub seats: i32,
    /// Open seats.
    pub open_seats: i32,
}

/// Where in-person care happens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Region code ("US-CA", "US-CA-SF"); empty when there is no in-person site.
    pub region: String,
    /// (latitude, longitude), optional.
    pub coordinates: Option<(f64, f64)>,
}

/// Whether region `a` contains or equals region `b` or the other way round ("US-CA" and "US-CA-SF").
pub fn regions_overlap(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let within = |outer: &str, inner: &str| {
        inner == outer
            || (inner.starts_with(outer) && inner.as_bytes().get(outer.len()) == Some(&b'-'))
    };
    within(a, b) || within(b, a)
}

/// The descriptive part of a provider (stored as one JSON document beside the queried columns). Fields
/// added later default when absent, so older stored documents still load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Relational style (self-reported).
    pub relational_style: RelationalStyle,
    /// Problem domains the provider specialises in.
    pub specialties: Vec<ProblemDomain>,
    /// Measured outcome strengths.
    pub outcome_strengths: Vec<OutcomeStrength>,
    /// Identity self-description codes; `None` unless the provider opted in.
    pub identity: Option<Vec<String>>,
    /// In-person location.
    pub location: Location,
    /// Program cohorts.
    pub cohorts: Vec<Cohort>,
    /// Faith-integrated care codes.
    pub faith_options: Vec<String>,
    /// Cultural option codes.
    pub cultural_options: Vec<String>,
    /// Schedule windows offered.
    pub schedule: Vec<ScheduleWindow>,
    /// Typical wait in days when no slot is open (0 = not stated).
    pub typical_wait_days: i32,
    /// The team, program or site inside the organization that takes the provider's referrals (empty: none).
    pub unit: String,
}

impl Profile {
    /// Whether care is offered by video or phone.
    pub fn offers_telehealth(&self) -> bool {
        self.formats.iter().any(|f| matches!(f, CareFormat::Video | CareFormat::Phone))
    }

    /// The counted rating in `domain` (at least `MIN_OUTCOME_CASES` cases), if any.
    pub fn outcome_in(&self, domain: ProblemDomain) -> Option<&OutcomeStrength> {
        self.outcome_strengths.iter().find(|o| o.domain == domain && o.counts())
    }
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
    /// What session feedback has taught about this provider so far.
    pub alliance: AllianceStats,
    /// Session ratings by client segment code ([`alliance::ClientSegment::code`]), sorted by code (alliance
    /// learning from similar clients).
    pub alliance_segments: Vec<(String, alliance::SegmentStats)>,
}

impl Provider {
    /// The ratings this provider received from clients of `segment_code`, if any.
    pub fn segment_stats(&self, segment_code: &str) -> Option<alliance::SegmentStats> {
        self.alliance_segments.iter().find(|(c, _)| c == segment_code).map(|(_, s)| *s)
    }
}

impl Provider {
    /// Whether the provider offers trauma processing (a trauma-processing modality or track).
    pub fn offers_trauma_processing(&self) -> bool {
        self.kind == ProviderKind::TraumaIop
            || self.profile.modalities.iter().any(|m| m.is_trauma_processing())
    }
}

/// A new or replacement provider, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderDraft {
    /// Id to use (given by the caller on replace, or generated).
    pub id: Option<ProviderId>,
    /// Owning organization.
    pub organization_id: OrganizationId,
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

impl ProviderDraft {
    /// A digest (SHA-256, hex) of everything the draft writes — its id, organization, fields, profile and
    /// the version it replaces — so that an import key re-sent with the same item is told apart from the
    /// same key re-used for a different one. Equal drafts have equal fingerprints, however the proto was
    /// encoded.
    pub fn fingerprint(&self) -> serde_json::Result<String> {
        use sha2::{Digest, Sha256};
        #[derive(Serialize)]
        struct Written<'a> {
            id: Option<&'a str>,
            organization_id: &'a str,
            display_name: &'a str,
            kind: &'static str,
            profile: &'a Profile,
            accepting_new_clients: bool,
            open_slots: i32,
            expected_version: i64,
        }
        let doc = serde_json::to_vec(&Written {
            id: self.id.as_ref().map(ProviderId::as_str),
            organization_id: self.organization_id.as_str(),
            display_name: &self.display_name,
            kind: self.kind.code(),
            profile: &self.profile,
            accepting_new_clients: self.accepting_new_clients,
            open_slots: self.open_slots,
            expected_version: self.expected_version,
        })?;
        Ok(Sha256::digest(&doc).iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Maximum open slots a provider can list.
pub const MAX_SLOTS: i32 = 100_000;

/// Most providers one take may fall back to (`or_provider_ids`): a referral's alternatives.
pub const MAX_OR_PROVIDERS: usize = 20;

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
    /// The fuller fit profile (empty when the caller sent none).
    pub fit: ClientFit,
}

/// The client's fuller fit profile: soft preferences and history, plus explicit provider exclusions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientFit {
    /// Problem domains, main one first.
    pub problem_domains: Vec<ProblemDomain>,
    /// Modalities wanted.
    pub modalities_wanted: Vec<Modality>,
    /// Modalities tried without progress.
    pub modalities_tried: Vec<Modality>,
    /// Identity codes wanted.
    pub identity_preferences: Vec<String>,
    /// Faith codes wanted.
    pub faith_preferences: Vec<String>,
    /// Cultural codes wanted.
    pub cultural_preferences: Vec<String>,
    /// Client region (for in-person care).
    pub region: String,
    /// Schedule windows the client can attend (empty = any).
    pub schedule: Vec<ScheduleWindow>,
    /// Providers the client excluded.
    pub excluded_provider_ids: Vec<String>,
    /// Programs cycled through without lasting change.
    pub programs_cycled: i32,
    /// Where the client travels from, (latitude, longitude), optional.
    pub location: Option<(f64, f64)>,
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

/// The first hard constraint `p` fails for `c`, if any. This is the readable reference; ranking uses the
/// compiled form in `directory`, and a property test checks that both agree.
pub fn failed_constraint(p: &Provider, c: &ClientNeeds) -> Option<&'static str> {
    let prof = &p.profile;
    let lang = continuum_vocab::primary_language(&c.language);
    let checks: [(&'static str, bool); 10] = [
        ("accepting_new_clients", p.accepting_new_clients),
        ("level_of_care", prof.levels_of_care.contains(&c.level_of_care)),
        ("age_group", prof.age_groups.contains(&c.age_group)),
        (
            "jurisdiction",
            prof.jurisdictions
                .iter()
                .any(|j| j == &c.jurisdiction || c.jurisdiction.starts_with(&format!("{j}-"))),
        ),
        ("language", prof.languages.iter().any(|l| continuum_vocab::primary_language(l) == lang)),
        (
            "payment_option",
            prof.payment_options.iter().any(|o| c.payment_option.usable().contains(o)),
        ),
        ("crisis_capability", !c.needs_crisis_capable || prof.crisis_capable),
        ("phase_gate", c.phase != Some(CarePhase::Stabilisation) || !p.offers_trauma_processing()),
        ("format", c.formats.is_empty() || prof.formats.iter().any(|f| c.formats.contains(f))),
        (
            "client_exclusions",
            (prof.modalities.is_empty()
                || !prof.modalities.iter().all(|m| c.modalities_avoided.contains(m)))
                && !c.fit.excluded_provider_ids.contains(&p.id),
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

/// Ranks `providers` for `c` with `weights` at `now_ms` (builds a throwaway snapshot; the service keeps
/// a long-lived one instead).
pub fn rank_with(
    providers: &[Provider],
    c: &ClientNeeds,
    weights: &Weights,
    top_k: usize,
    now_ms: i64,
) -> Ranking {
    directory::Directory::build(providers.iter().cloned(), weights).rank(c, weights, top_k, now_ms)
}

/// Ranks `providers` for `c` with the default weights, now.
pub fn rank(providers: &[Provider], c: &ClientNeeds, top_k: usize) -> Ranking {
    rank_with(providers, c, &Weights::default(), top_k, Utc::now().timestamp_millis())
}

pub use alliance::SRS_CONCERN_BELOW;

#[cfg(test)]
mod alliance_fit_tests;
#[cfg(test)]
mod fit_tests;

#[cfg(test)]
mod tests;
