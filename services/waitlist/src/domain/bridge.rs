//! Bridge support while waiting (CLINICAL.md, "Waitlists"), pure and without I/O: the kind of support
//! the rule gives every new entry ([`bridge_support`]), and the choice of a concrete bridge program among
//! the options matching's directory returns ([`choose`]).
//!
//! At enqueue every entry gets a rule-based bridge kind ([`bridge_support`]); when the enqueue carries
//! the client's [`BridgeNeeds`] (jurisdiction, language, payment, formats: codes only) the waitlist also
//! asks matching (`BatchRecommendForClient`, one ranking per level) for bridge-type programs that pass matching's hard constraints
//! for the client (age group, jurisdiction, language, payment, format, accepting new clients) at the
//! low-intensity levels of care bridge programs offer ([`BRIDGE_LEVELS`]), and [`choose`] picks one:
//!
//! 1. only bridge-type programs count ([`ProgramKind`]: matching's `bridge_support` kind — single-session
//!    interventions and parent sessions — skills groups and peer support);
//! 2. the kind the rule prefers first (a parent session is a `bridge_support` program with family
//!    involvement), then, for a child, any other program with family involvement, then any bridge program;
//! 3. within a tier, a program with an open slot now before one without, then matching's ranking.
//!
//! When matching cannot be asked the entry is still accepted with the rule-based kind and the choice stays
//! [`BridgeStatus::Pending`] until a background retry (`crate::workers::bridge_filler`) makes it; nothing
//! about the enqueue waits on it.

use continuum_vocab::ids::EntryId;
use continuum_vocab::{AgeGroup, CareFormat, LevelOfCare, PaymentOption};
use serde::{Deserialize, Serialize};

use super::Band;

/// A support offered to every waiting client from enqueue until care starts (CLINICAL.md, "Waitlists").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BridgeSupport {
    /// A single-session intervention: one structured session, available at once.
    SingleSession,
    /// A skills group (coping, behavioural activation, anxiety management).
    SkillsGroup,
    /// Peer support.
    PeerSupport,
    /// A parent-focused session (for children: one bridge session with parents of anxious children cut
    /// child anxiety until treatment began).
    ParentSession,
}

impl BridgeSupport {
    /// Every support.
    pub const ALL: [BridgeSupport; 4] = [
        BridgeSupport::SingleSession,
        BridgeSupport::SkillsGroup,
        BridgeSupport::PeerSupport,
        BridgeSupport::ParentSession,
    ];

    /// The stable code (stored, and sent in `WaitlistEntry.bridge_support`).
    pub fn code(self) -> &'static str {
        match self {
            BridgeSupport::SingleSession => "single_session",
            BridgeSupport::SkillsGroup => "skills_group",
            BridgeSupport::PeerSupport => "peer_support",
            BridgeSupport::ParentSession => "parent_session",
        }
    }

    /// The support for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.code() == code)
    }
}

/// The bridge support of a new entry, chosen from its age group and band. The waitlist has no directory
/// lookup of its own (matching owns the directory), so this rule picks the kind of support and the
/// coordinator books a concrete one:
/// - children: a parent-focused session (the evidence is for parents of anxious children);
/// - adolescents: a single-session intervention (effective and available at once at that age);
/// - adults and older adults (or unknown age) by band: urgent -> single session (it can happen this week,
///   before the short wait ends), soon -> skills group, routine -> peer support (the longest wait needs
///   the most sustained contact).
pub fn bridge_support(age_group: Option<AgeGroup>, band: Band) -> BridgeSupport {
    match (age_group, band) {
        (Some(AgeGroup::Child), _) => BridgeSupport::ParentSession,
        (Some(AgeGroup::Adolescent), _) | (_, Band::Urgent) => BridgeSupport::SingleSession,
        (_, Band::Soon) => BridgeSupport::SkillsGroup,
        (_, Band::Routine) => BridgeSupport::PeerSupport,
    }
}

/// Levels of care asked, in order: bridge programs are low-intensity (peer and community supports are
/// "self-guided / peer"; single sessions and skills groups are outpatient).
pub const BRIDGE_LEVELS: [LevelOfCare; 2] = [LevelOfCare::SelfGuidedPeer, LevelOfCare::Outpatient];

/// Options asked of matching per level (its maximum).
pub const OPTIONS_PER_LEVEL: i32 = 50;

/// What the waitlist needs to ask the directory for a bridge program (validated codes, no identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BridgeNeeds {
    /// Jurisdiction, ISO 3166-2.
    pub jurisdiction: String,
    /// Language of care, BCP-47.
    pub language: String,
    /// How the client pays.
    pub payment_option: PaymentOption,
    /// Formats the client can attend (empty = any).
    pub formats: Vec<CareFormat>,
}

/// The matching provider kinds that are bridge-type programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    /// Matching's `bridge_support` kind: single-session interventions and parent sessions.
    BridgeSupport,
    /// A skills group.
    SkillsGroup,
    /// Peer support.
    PeerSupport,
}

impl ProgramKind {
    /// Every kind.
    pub const ALL: [ProgramKind; 3] =
        [ProgramKind::BridgeSupport, ProgramKind::SkillsGroup, ProgramKind::PeerSupport];

    /// Matching's `ProviderKind` code of this kind.
    pub fn code(self) -> &'static str {
        match self {
            ProgramKind::BridgeSupport => "bridge_support",
            ProgramKind::SkillsGroup => "skills_group",
            ProgramKind::PeerSupport => "peer_support",
        }
    }

    /// The kind for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One bridge-type option matching returned, in its rank order.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The program's provider id in matching's directory.
    pub provider_id: String,
    /// Public display name (a professional listing, not client data).
    pub display_name: String,
    /// The kind of bridge program.
    pub kind: ProgramKind,
    /// Whether the program involves the family (parents of children).
    pub family_involvement: bool,
    /// Whether it has an open slot now.
    pub has_capacity: bool,
}

continuum_vocab::coded_enum! {
    /// Where the choice of a bridge program stands; mirrors `continuum.waitlist.v1.BridgeStatus`.
    BridgeStatus {
        /// Matching could not be asked yet; retried in the background.
        Pending => "pending",
        /// A program is chosen.
        Chosen => "chosen",
        /// No bridge program in the directory fits: a coordinator books the rule-based kind.
        NoneFits => "none_fits",
        /// The enqueue carried no bridge needs (or no age group): the rule-based kind only.
        NotRequested => "not_requested",
        /// The entry left the waitlist while the choice was pending.
        Closed => "closed",
    }
}

/// An entry's bridge support as stored: the kind given, and the directory program when chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct BridgeRecord {
    /// The entry.
    pub entry_id: EntryId,
    /// Where the choice stands.
    pub status: BridgeStatus,
    /// The kind of support given (the rule's until a program is chosen, then the program's).
    pub support: BridgeSupport,
    /// The client's needs, when given (kept so a pending choice can be made later).
    pub needs: Option<BridgeNeeds>,
    /// The chosen provider.
    pub provider_id: Option<String>,
    /// The chosen provider's kind.
    pub provider_kind: Option<ProgramKind>,
    /// Plain-language reason.
    pub reason: String,
    /// Failed attempts to ask matching.
    pub attempts: i32,
    /// When the next attempt is due, ms since the epoch.
    pub next_attempt_at_ms: i64,
    /// `traceparent` of the enqueue that asked for it ("" when unknown): background retries continue it.
    pub trace_parent: String,
}

/// The outcome of a choice (what the store records over a pending record).
#[derive(Clone, Debug, PartialEq)]
pub struct BridgeChoice {
    /// `Chosen` or `NoneFits`.
    pub status: BridgeStatus,
    /// Kind of support given.
    pub support: BridgeSupport,
    /// The chosen provider.
    pub provider_id: Option<String>,
    /// Its kind.
    pub provider_kind: Option<ProgramKind>,
    /// Plain-language reason.
    pub reason: String,
}

/// Why the rule picked `support` (for reasons).
pub fn rule_context(support: BridgeSupport, age_group: Option<AgeGroup>, band: Band) -> String {
    match (support, age_group) {
        (BridgeSupport::ParentSession, _) => {
            "the parent-focused session the rule gives children".to_owned()
        }
        (BridgeSupport::SingleSession, Some(AgeGroup::Adolescent)) => {
            "the single-session intervention the rule gives adolescents".to_owned()
        }
        (s, _) => format!("the {} the rule gives the {} band", label(s), band.code()),
    }
}

fn label(s: BridgeSupport) -> &'static str {
    match s {
        BridgeSupport::SingleSession => "single-session intervention",
        BridgeSupport::SkillsGroup => "skills group",
        BridgeSupport::PeerSupport => "peer support",
        BridgeSupport::ParentSession => "parent-focused session",
    }
}

/// Whether `c` gives the support the rule prefers.
fn is_preferred(c: &Candidate, rule: BridgeSupport) -> bool {
    match rule {
        BridgeSupport::SingleSession => c.kind == ProgramKind::BridgeSupport,
        BridgeSupport::ParentSession => {
            c.kind == ProgramKind::BridgeSupport && c.family_involvement
        }
        BridgeSupport::SkillsGroup => c.kind == ProgramKind::SkillsGroup,
        BridgeSupport::PeerSupport => c.kind == ProgramKind::PeerSupport,
    }
}

/// The support a chosen program gives.
fn support_of(c: &Candidate, rule: BridgeSupport, child: bool) -> BridgeSupport {
    match c.kind {
        ProgramKind::BridgeSupport
            if c.family_involvement && (child || rule == BridgeSupport::ParentSession) =>
        {
            BridgeSupport::ParentSession
        }
        ProgramKind::BridgeSupport => BridgeSupport::SingleSession,
        ProgramKind::SkillsGroup => BridgeSupport::SkillsGroup,
        ProgramKind::PeerSupport => BridgeSupport::PeerSupport,
    }
}

/// What the hard constraints were (for reasons).
const CONSTRAINTS_TEXT: &str = "the client's age group, jurisdiction, language, payment and format";

/// Chooses a bridge program among `candidates` (bridge-type options in matching's rank order, duplicates
/// allowed) for an entry whose rule-based kind is `rule`. See the module docs for the order.
pub fn choose(
    rule: BridgeSupport,
    age_group: Option<AgeGroup>,
    band: Band,
    candidates: &[Candidate],
) -> BridgeChoice {
    let child = age_group == Some(AgeGroup::Child);
    let mut unique: Vec<&Candidate> = Vec::with_capacity(candidates.len());
    for c in candidates {
        if !unique.iter().any(|u| u.provider_id == c.provider_id) {
            unique.push(c);
        }
    }
    let tier = |c: &Candidate| -> u8 {
        if is_preferred(c, rule) {
            0
        } else if !child || c.family_involvement {
            1
        } else {
            2
        }
    };
    let best = unique.iter().enumerate().min_by_key(|(rank, c)| (tier(c), !c.has_capacity, *rank));
    let context = rule_context(rule, age_group, band);
    let Some((rank, c)) = best else {
        return BridgeChoice {
            status: BridgeStatus::NoneFits,
            support: rule,
            provider_id: None,
            provider_kind: None,
            reason: format!(
                "no bridge program in the directory fits {CONSTRAINTS_TEXT}: a coordinator books {context}"
            ),
        };
    };
    let why = match tier(c) {
        0 => format!("the kind of support preferred ({context})"),
        1 if child => {
            format!("no program fits as {context}, so the best program that involves the family")
        }
        1 => format!("no program fits as {context}, so the best other bridge program"),
        _ => format!(
            "no program fits as {context} or involves the family, so the best other bridge program"
        ),
    };
    let capacity = if c.has_capacity { "open slot now" } else { "no open slot now" };
    BridgeChoice {
        status: BridgeStatus::Chosen,
        support: support_of(c, rule, child),
        provider_id: Some(c.provider_id.clone()),
        provider_kind: Some(c.kind),
        reason: format!(
            "{} ({}): {why}; ranked {} of {} bridge program(s) matching found for {CONSTRAINTS_TEXT}; {capacity}",
            c.display_name,
            c.kind.code(),
            rank + 1,
            unique.len()
        ),
    }
}

/// The reason of a record whose choice is still pending.
pub fn pending_reason(rule: BridgeSupport, age_group: Option<AgeGroup>, band: Band) -> String {
    format!(
        "matching's directory could not be asked yet: {} for now; a bridge program is chosen as soon as matching answers",
        rule_context(rule, age_group, band)
    )
}

/// The reason of a record for which the directory cannot be asked (`needs` or the age group missing).
pub fn not_requested_reason(
    rule: BridgeSupport,
    age_group: Option<AgeGroup>,
    band: Band,
    has_needs: bool,
) -> String {
    let missing = if has_needs {
        "the enqueue gave no age group"
    } else {
        "the enqueue gave no bridge_needs (jurisdiction, language, payment)"
    };
    format!(
        "{missing}, so the directory was not asked: a coordinator books {}",
        rule_context(rule, age_group, band)
    )
}

/// How long to wait before the next attempt after `attempts` failed ones: `base_secs` doubling, at most
/// an hour (the shared back-off).
pub fn retry_delay_ms(attempts: i32, base_secs: u64) -> i64 {
    let backoff = continuum_outbox::Backoff::new(
        std::time::Duration::from_secs(base_secs.max(1)),
        std::time::Duration::from_secs(3600),
    );
    backoff.after_ms(u32::try_from(attempts.saturating_add(1)).unwrap_or(1))
}
