//! The taxonomy crosswalk: what a real directory's service taxonomy terms say about a provider, for services
//! that carry no `continuum` attributes ([`crate::facets`]). A 211 export or an Open Referral feed tags its
//! services with terms of the **AIRS/211 Taxonomy** (`RP-1500.1400-800`) or of **Open Eligibility**
//! (`Peer Support`); each term this table knows implies Continuum facets: a provider kind, levels of care,
//! modalities, problem-domain specialties and, for hotlines, the phone format.
//!
//! How a term is recognised:
//! - AIRS/211: by the shape of its `code` (`RP`, `RP-1500`, `RP-1500.1400`, `RP-1500.1400-800`,
//!   `RP-1500.1400-800.05`; letters, then 4 digits, `.` 4 digits, `-` 3 digits, `.` 2 digits), whatever the
//!   taxonomy is called (`AIRS/211 LA County`, `211`, ...). A combined code (`RP-1500.3300 * YG-8000.1500`,
//!   a service term and a target population) is read by its first part. The **longest** entry that is the
//!   code itself or one of its ancestors wins: `RP-1400.8000-825` (suicide counseling) before `RP-1400`
//!   (counseling).
//! - Open Eligibility: by the term's `name` (case-insensitive), when its taxonomy says Open Eligibility
//!   (`taxonomy`, `vocabulary`, or the `taxonomy_detail` / `taxonomies` row's `name` or `uri`). A bare
//!   name without its taxonomy is not guessed at: "Counseling" means different things in different
//!   vocabularies.
//!
//! How the facets combine (applied by [`crate::mapping`]):
//! - explicit `continuum` attributes always win, facet by facet: a crosswalk kind is used only when the
//!   service has no `kind:*`; its levels only when the service has neither `level:*` nor `kind:*` (an
//!   explicit kind keeps its own default levels); modalities, specialties and formats only when the service
//!   states none of that facet;
//! - the kind is the one implied by the first term (in document order) that implies one; levels,
//!   modalities, specialties and formats are the union over every known term;
//! - every facet filled from the crosswalk is named in the listing's `defaults`, with the term that implied
//!   it (`kind: crisis_service (from AIRS RP-1500.1400-800 "Suicide Prevention Hotlines")`), so an importer
//!   sees what was inferred;
//! - a service whose terms imply no kind is refused, the reason naming the terms it had.
//!
//! Where the codes come from. The AIRS/211 Taxonomy is 211 LA County's licensed work and is not
//! published as open data; no code below is made up: each is one that 211 systems publish with that meaning
//! (the names are theirs), from public sources:
//! - [N] 211-Connect's Norse (github.com/211-Connect/Norse, `load-tests/data/queries.js`): the AIRS codes
//!   behind a 211 search platform's categories ("Crisis Services": `RP-1500`, `RP-1500.1400`,
//!   `RP-1500.3300`, `RP-1500.1400-500`; "Abuse/Trauma Counseling": `RP-1400.8000-020.03/.05/.15`; "Anger
//!   Management": `RP-1400.8000-070`; "Adolescent/Youth Counseling": `RP-1400.8000-050`; "988/Suicide
//!   Crisis": `RP-1500.1400-800`; "Addiction/Substance Use" support groups: `PN-8100.0500-*`; "Abuse -
//!   Violence Support Groups": `PN-8100.0200-*`; "Alcohol & Substance Use Support": `RX-*`);
//! - [SB] Santa Barbara 211's category map (built from SB211's taxonomy CSV, January 2025, in public code):
//!   counseling under `RP-1400` (`RP-1400.2500` general, `RP-1400.8000-100` Bereavement and Grief
//!   Counseling, `-020.15` Child Abuse Counseling, `-500` Marriage Counseling, `-645` Parent Child
//!   Interactive Therapy, `-655` Postpartum Depression, `-825` Suicide Counseling), crisis lines under
//!   `RP-1500.1400` (`-200` Domestic Violence Hotlines, `-250` General Crisis Intervention Hotlines, `-400`
//!   LGBTQ2+ Helplines, `-750` Sexual Assault Hotlines), substance use under `RX` (`RX-8450.8000-050`
//!   Alcoholism Counseling, `-180` Drug Abuse Counseling, `RX-1700.*` detoxification), support groups
//!   under `PN-8100` (`PN-8100.0200-180` Domestic Violence Support Groups, `PN-8100.0500-070` / `-180`
//!   Alcohol / Drug Support Groups);
//! - Open Referral's Miami 211 extractor (github.com/openreferral/open211-miami-data-api,
//!   `spec/fixtures/extracted_provider_taxonomy.csv`): `PN-8100.4500-240` Gay/Lesbian/Bisexual/Transgender
//!   Support Groups; 211 call-line analyses: `RP-1500.1400-500` Mental Health Hotlines, `RP-1500.1400-800`
//!   Suicide Prevention Hotlines.
//!
//! No public source gave the AIRS codes of intensive outpatient, partial hospitalization (day treatment)
//! or inpatient programs with their meaning, so they are not here: such services still need `kind:iop` /
//! `kind:php` attributes (their refusal says so). Open Eligibility terms are Open Referral's copy of the
//! taxonomy (github.com/openreferral/openeligibility, `taxonomy.csv`, vocabulary "Open Eligibility", ids
//! 1101...; the same terms as github.com/auntbertha/openeligibility); the four marked [OE-2021] are from
//! the 2021.11.25 revision proposed to that repository (its pull request 34: "Mental Health Care" >
//! "Counseling" > "Group Therapy", "Individual Counseling", "Family Counseling"; "Anger Management").

use continuum_proto::common::v1::{CareFormat as F, LevelOfCare as L, Modality as M};
use continuum_proto::matching::v1::{ProblemDomain as D, ProviderKind as K};
use serde_json::Value;

use crate::facets::{self, Facets};

/// The taxonomies the crosswalk reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocabulary {
    /// The AIRS/211 Taxonomy (codes).
    Airs,
    /// Open Eligibility (names).
    OpenEligibility,
}

impl Vocabulary {
    fn label(self) -> &'static str {
        match self {
            Vocabulary::Airs => "AIRS",
            Vocabulary::OpenEligibility => "Open Eligibility",
        }
    }
}

/// What one taxonomy term implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The AIRS code (or code prefix), or the Open Eligibility name.
    pub key: &'static str,
    /// What the term is (its name in the sources).
    pub meaning: &'static str,
    /// The provider kind it implies, if any.
    pub kind: Option<K>,
    /// Levels of care.
    pub levels: &'static [L],
    /// Modalities.
    pub modalities: &'static [M],
    /// Problem-domain specialties.
    pub specialties: &'static [D],
    /// Care formats (hotlines: phone).
    pub formats: &'static [F],
}

const fn entry(
    key: &'static str,
    meaning: &'static str,
    kind: Option<K>,
    levels: &'static [L],
    modalities: &'static [M],
    specialties: &'static [D],
    formats: &'static [F],
) -> Entry {
    Entry { key, meaning, kind, levels, modalities, specialties, formats }
}

const OUT: &[L] = &[L::Outpatient];
const CRISIS: &[L] = &[L::Crisis];
const PEER: &[L] = &[L::SelfGuidedPeer];
const NONE_L: &[L] = &[];
const NONE_M: &[M] = &[];
const NONE_D: &[D] = &[];
const NONE_F: &[F] = &[];

/// AIRS/211 codes (and code prefixes) and what they imply; see the module comment for the sources.
pub const AIRS: &[Entry] = &[
    entry("RP-1400", "counseling [N, SB]", Some(K::Clinician), OUT, NONE_M, NONE_D, NONE_F),
    entry(
        "RP-1400.8000-020",
        "abuse counseling [N: Abuse/Trauma Counseling; SB]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::Trauma],
        NONE_F,
    ),
    entry(
        "RP-1400.8000-070",
        "Anger Management [N]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::EmotionRegulation],
        NONE_F,
    ),
    entry(
        "RP-1400.8000-100",
        "Bereavement and Grief Counseling [SB]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::Grief],
        NONE_F,
    ),
    entry(
        "RP-1400.8000-500",
        "Marriage Counseling [SB]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::SocialConflict],
        NONE_F,
    ),
    entry(
        "RP-1400.8000-645",
        "Parent Child Interactive Therapy [SB]",
        Some(K::Clinician),
        OUT,
        &[M::FamilyTherapy],
        NONE_D,
        NONE_F,
    ),
    entry(
        "RP-1400.8000-655",
        "Postpartum Depression counseling [SB]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::Depression],
        NONE_F,
    ),
    entry(
        "RP-1400.8000-825",
        "Suicide Counseling [SB]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::Suicidality],
        NONE_F,
    ),
    entry(
        "RP-1500",
        "crisis intervention [N: Crisis Services]",
        Some(K::CrisisService),
        CRISIS,
        &[M::CrisisIntervention],
        NONE_D,
        NONE_F,
    ),
    entry(
        "RP-1500.1400",
        "crisis hotlines [SB, N]",
        Some(K::CrisisService),
        CRISIS,
        &[M::CrisisIntervention],
        NONE_D,
        &[F::Phone],
    ),
    entry(
        "RP-1500.1400-800",
        "Suicide Prevention Hotlines [N: 988/Suicide Crisis]",
        Some(K::CrisisService),
        CRISIS,
        &[M::CrisisIntervention],
        &[D::Suicidality],
        &[F::Phone],
    ),
    entry(
        "RX",
        "substance use disorder services [SB, N]",
        None,
        NONE_L,
        NONE_M,
        &[D::SubstanceUse],
        NONE_F,
    ),
    entry(
        "RX-8450.8000",
        "substance use counseling [SB: Alcoholism / Drug Abuse Counseling]",
        Some(K::Clinician),
        OUT,
        NONE_M,
        &[D::SubstanceUse],
        NONE_F,
    ),
    entry(
        "PN-8100",
        "support groups [SB, N]",
        Some(K::PeerSupport),
        PEER,
        &[M::PeerSupport],
        NONE_D,
        NONE_F,
    ),
    entry(
        "PN-8100.0200",
        "abuse survivor support groups [SB: Domestic Violence Support Groups; N]",
        Some(K::PeerSupport),
        PEER,
        &[M::PeerSupport],
        &[D::Trauma],
        NONE_F,
    ),
    entry(
        "PN-8100.0500",
        "substance use support groups [SB: Alcohol / Drug Support Groups; N]",
        Some(K::PeerSupport),
        PEER,
        &[M::PeerSupport],
        &[D::SubstanceUse],
        NONE_F,
    ),
];

/// Open Eligibility term names and what they imply; see the module comment for the sources.
pub const OPEN_ELIGIBILITY: &[Entry] = &[
    entry(
        "Psychiatric Emergency Services",
        "ids 1126, 1231",
        Some(K::CrisisService),
        CRISIS,
        &[M::CrisisIntervention],
        NONE_D,
        NONE_F,
    ),
    entry("Counseling", "ids 1220, 1304", Some(K::Clinician), OUT, NONE_M, NONE_D, NONE_F),
    entry("Peer Support", "id 1310", Some(K::PeerSupport), PEER, &[M::PeerSupport], NONE_D, NONE_F),
    entry(
        "Support Groups",
        "id 1312",
        Some(K::PeerSupport),
        PEER,
        &[M::PeerSupport],
        NONE_D,
        NONE_F,
    ),
    entry(
        "12-Step",
        "ids 1179, 1313",
        Some(K::PeerSupport),
        PEER,
        &[M::PeerSupport],
        &[D::SubstanceUse],
        NONE_F,
    ),
    entry("Bereavement", "ids 1186, 1288, 1314", None, NONE_L, NONE_M, &[D::Grief], NONE_F),
    entry("Addiction & Recovery", "id 1178", None, NONE_L, NONE_M, &[D::SubstanceUse], NONE_F),
    entry("Detox", "id 1180", None, NONE_L, NONE_M, &[D::SubstanceUse], NONE_F),
    entry("Outpatient Treatment", "ids 1181, 1230", None, OUT, NONE_M, NONE_D, NONE_F),
    entry(
        "Residential Treatment",
        "ids 1182, 1229, 1300",
        None,
        &[L::Residential],
        NONE_M,
        NONE_D,
        NONE_F,
    ),
    entry("Individual Counseling", "[OE-2021]", Some(K::Clinician), OUT, NONE_M, NONE_D, NONE_F),
    entry(
        "Family Counseling",
        "[OE-2021]",
        Some(K::Clinician),
        OUT,
        &[M::FamilyTherapy],
        NONE_D,
        NONE_F,
    ),
    entry("Group Therapy", "[OE-2021]", Some(K::SkillsGroup), OUT, NONE_M, NONE_D, NONE_F),
    entry("Anger Management", "[OE-2021]", None, NONE_L, NONE_M, &[D::EmotionRegulation], NONE_F),
];

/// One non-`continuum` taxonomy term of a service, as the document gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    /// The vocabulary it was recognised as, if any.
    pub vocabulary: Option<Vocabulary>,
    /// Its code (an AIRS code upper-cased and without a `* target` part).
    pub code: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The taxonomy the document names.
    pub taxonomy: String,
}

impl Term {
    /// How the term is named to an importer: `AIRS RP-1500 "Crisis Intervention"`.
    pub fn label(&self) -> String {
        let name = self.name.as_deref().map(|n| format!(" {n:?}")).unwrap_or_default();
        match (self.vocabulary, &self.code) {
            (Some(v @ Vocabulary::Airs), Some(c)) => format!("{} {c}{name}", v.label()),
            (Some(v @ Vocabulary::OpenEligibility), _) => format!("{}{name}", v.label()),
            (_, Some(c)) => format!("taxonomy {:?} {c}{name}", self.taxonomy),
            (_, None) => format!("taxonomy {:?}{name}", self.taxonomy),
        }
    }

    /// The crosswalk entry of this term, if it has one.
    pub fn entry(&self) -> Option<&'static Entry> {
        match self.vocabulary? {
            Vocabulary::Airs => airs_entry(self.code.as_deref()?),
            Vocabulary::OpenEligibility => open_eligibility_entry(self.name.as_deref()?),
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// Whether `code` has the shape of an AIRS/211 code (`RP`, `RP-1500`, ..., `RP-1500.1400-800.05`).
pub fn is_airs_code(code: &str) -> bool {
    let b = code.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) {
        return false;
    }
    let mut rest = &b[letters..];
    for (sep, digits) in [(b'-', 4), (b'.', 4), (b'-', 3), (b'.', 2)] {
        if rest.is_empty() {
            return true;
        }
        if rest[0] != sep
            || rest.len() < 1 + digits
            || !rest[1..=digits].iter().all(u8::is_ascii_digit)
        {
            return false;
        }
        rest = &rest[1 + digits..];
    }
    rest.is_empty()
}

/// The longest AIRS entry that is `code` or one of its ancestors.
pub fn airs_entry(code: &str) -> Option<&'static Entry> {
    AIRS.iter()
        .filter(|e| {
            code == e.key
                || code
                    .strip_prefix(e.key)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
        })
        .max_by_key(|e| e.key.len())
}

/// The Open Eligibility entry named `name` (case-insensitive).
pub fn open_eligibility_entry(name: &str) -> Option<&'static Entry> {
    let name = name.trim();
    OPEN_ELIGIBILITY.iter().find(|e| e.key.eq_ignore_ascii_case(name))
}

/// Whether a taxonomy name or URI says Open Eligibility.
fn says_open_eligibility(s: &str) -> bool {
    let squashed: String =
        s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    squashed.contains("openeligibility")
}

/// The term of a non-`continuum` attribute (none for a `continuum` attribute or one without a term).
pub fn term_of(attr: &Value) -> Option<Term> {
    if facets::is_continuum_attribute(attr) {
        return None;
    }
    let t = attr.get("taxonomy_term").filter(|t| t.is_object())?;
    let detail = t.get("taxonomy_detail").filter(|d| d.is_object());
    let named = [text(t, "taxonomy"), text(t, "vocabulary")]
        .into_iter()
        .chain(detail.map(|d| text(d, "name")))
        .chain(detail.map(|d| text(d, "uri")))
        .flatten()
        .any(says_open_eligibility);
    let raw_code = text(t, "code");
    let airs = raw_code
        .map(|c| c.split('*').next().unwrap_or_default().trim().to_ascii_uppercase())
        .filter(|c| !named && is_airs_code(c));
    let vocabulary = if named {
        Some(Vocabulary::OpenEligibility)
    } else if airs.is_some() {
        Some(Vocabulary::Airs)
    } else {
        None
    };
    Some(Term {
        vocabulary,
        code: airs.or_else(|| raw_code.map(str::to_owned)),
        name: text(t, "name").map(str::to_owned),
        taxonomy: facets::attribute_taxonomy(attr),
    })
}

/// Whether the crosswalk knows the term of `attr` (its attribute is then read, not unmapped).
pub fn knows(attr: &Value) -> bool {
    term_of(attr).is_some_and(|t| t.entry().is_some())
}

/// What the crosswalk added to a service's facets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inferred {
    /// Each facet filled, named with the term that implied it.
    pub defaults: Vec<String>,
    /// The labels of the service's non-`continuum` terms (for a refusal).
    pub terms: Vec<String>,
}

/// Facet values and the terms that implied them.
type Sourced = Vec<(i32, String)>;

/// The proto name of an enum value.
type NameOf = fn(i32) -> Option<&'static str>;

fn collect<T: Copy + Into<i32>>(into: &mut Sourced, values: &[T], source: &str) {
    for v in values {
        let v: i32 = (*v).into();
        if !into.iter().any(|(x, _)| *x == v) {
            into.push((v, source.to_owned()));
        }
    }
}

fn kind_name(v: i32) -> Option<&'static str> {
    K::try_from(v).ok().map(|x| x.as_str_name())
}
fn level_name(v: i32) -> Option<&'static str> {
    L::try_from(v).ok().map(|x| x.as_str_name())
}
fn modality_name(v: i32) -> Option<&'static str> {
    M::try_from(v).ok().map(|x| x.as_str_name())
}
fn domain_name(v: i32) -> Option<&'static str> {
    D::try_from(v).ok().map(|x| x.as_str_name())
}
fn format_name(v: i32) -> Option<&'static str> {
    F::try_from(v).ok().map(|x| x.as_str_name())
}

/// `facet: a (from X), b (from Y)`.
fn named(facet: &str, prefix: &str, name_of: NameOf, values: &[(i32, String)]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(v, source)| {
            let name = name_of(*v).map_or_else(|| v.to_string(), |n| facets::code_of(prefix, n));
            format!("{name} (from {source})")
        })
        .collect();
    format!("{facet}: {}", parts.join(", "))
}

/// Fills the facets the service's `continuum` attributes leave empty from the crosswalk (see the module
/// comment for the rules), and says what it filled.
pub fn fill(attrs: &[Value], f: &mut Facets) -> Inferred {
    let terms: Vec<Term> = attrs.iter().filter_map(term_of).collect();
    let mut out = Inferred { terms: terms.iter().map(Term::label).collect(), ..Default::default() };
    let mut kind: Option<(i32, String)> = None;
    let (mut levels, mut modalities, mut specialties, mut formats) =
        (Sourced::new(), Sourced::new(), Sourced::new(), Sourced::new());
    for t in &terms {
        let Some(e) = t.entry() else { continue };
        let source = t.label();
        if kind.is_none()
            && let Some(k) = e.kind
        {
            kind = Some((k as i32, source.clone()));
        }
        collect(&mut levels, e.levels, &source);
        collect(&mut modalities, e.modalities, &source);
        collect(&mut specialties, e.specialties, &source);
        collect(&mut formats, e.formats, &source);
    }
    let explicit_kind = f.kind.is_some();
    if !explicit_kind && let Some((k, source)) = kind {
        f.kind = Some(k);
        out.defaults.push(named("kind", "PROVIDER_KIND", kind_name, &[(k, source)]));
    }
    if !explicit_kind && f.levels.is_empty() && !levels.is_empty() {
        f.levels = levels.iter().map(|(v, _)| *v).collect();
        out.defaults.push(named("levels_of_care", "LEVEL_OF_CARE", level_name, &levels));
    }
    let rest: [(&str, &str, NameOf, &mut Vec<i32>, &Sourced); 3] = [
        ("modalities", "MODALITY", modality_name, &mut f.modalities, &modalities),
        ("specialties", "PROBLEM_DOMAIN", domain_name, &mut f.specialties, &specialties),
        ("formats", "CARE_FORMAT", format_name, &mut f.formats, &formats),
    ];
    for (facet, prefix, name_of, into, found) in rest {
        if into.is_empty() && !found.is_empty() {
            *into = found.iter().map(|(v, _)| *v).collect();
            out.defaults.push(named(facet, prefix, name_of, found));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn airs(code: &str, name: &str) -> Value {
        json!({"id": code, "taxonomy_term": {"id": code, "code": code, "name": name, "taxonomy": "AIRS/211 LA County"}})
    }

    #[test]
    fn airs_codes_are_recognised_by_shape() {
        for ok in ["R", "RP", "RP-1500", "RP-1500.1400", "RP-1500.1400-800", "RP-1500.1400-800.05"]
        {
            assert!(is_airs_code(ok), "{ok}");
        }
        for bad in [
            "",
            "rp-1500",
            "RPX-1500",
            "RP-150",
            "RP-1500.14",
            "RP-1500-800",
            "kind:iop",
            "1220",
            "F30",
        ] {
            assert!(!is_airs_code(bad), "{bad}");
        }
    }

    #[test]
    fn the_longest_known_ancestor_wins() {
        let key = |c: &str| airs_entry(c).map(|e| e.key);
        assert_eq!(key("RP-1400"), Some("RP-1400"));
        assert_eq!(key("RP-1400.2500"), Some("RP-1400"));
        assert_eq!(key("RP-1400.8000-825"), Some("RP-1400.8000-825"));
        assert_eq!(key("RP-1400.8000-020.15"), Some("RP-1400.8000-020"));
        assert_eq!(key("RP-1500.1400-250"), Some("RP-1500.1400"));
        assert_eq!(key("RP-1500.1400-800"), Some("RP-1500.1400-800"));
        assert_eq!(key("RP-1500.3300"), Some("RP-1500"));
        assert_eq!(key("RX-8450.8000-180"), Some("RX-8450.8000"));
        assert_eq!(key("RX-1700.0500"), Some("RX"));
        assert_eq!(key("PN-8100.0500-070"), Some("PN-8100.0500"));
        assert_eq!(key("PN-8100.4500-240"), Some("PN-8100"));
        // Not an ancestor: a sibling code sharing digits, or another branch.
        assert_eq!(key("RP-14001"), None);
        assert_eq!(key("RP"), None);
        assert_eq!(key("BD-1800.2000"), None);
        assert_eq!(key("RXA-1"), None);
    }

    #[test]
    fn terms_are_read_from_either_vocabulary_and_only_when_it_is_said() {
        let t = term_of(&airs("rp-1500.3300 * YG-8000.1500", "Crisis")).unwrap();
        assert_eq!(t.vocabulary, Some(Vocabulary::Airs));
        assert_eq!(t.code.as_deref(), Some("RP-1500.3300"));
        assert_eq!(t.entry().unwrap().key, "RP-1500");
        let oe = |taxonomy: Value| {
            let mut term = json!({"id": "t", "code": "1310", "name": "peer support"});
            term.as_object_mut().unwrap().extend(taxonomy.as_object().unwrap().clone());
            term_of(&json!({"taxonomy_term": term})).unwrap()
        };
        for said in [
            json!({"taxonomy": "Open Eligibility"}),
            json!({"vocabulary": "open-eligibility"}),
            json!({"taxonomy_detail": {"name": "OpenEligibility"}}),
            json!({"taxonomy_detail": {"name": "x", "uri": "http://openeligibility.org"}}),
        ] {
            let t = oe(said.clone());
            assert_eq!(t.vocabulary, Some(Vocabulary::OpenEligibility), "{said}");
            assert_eq!(t.entry().unwrap().key, "Peer Support");
        }
        let unsaid = oe(json!({"taxonomy": "Local categories"}));
        assert_eq!(unsaid.vocabulary, None);
        assert!(unsaid.entry().is_none(), "a bare name is not guessed at");
        assert!(
            term_of(&json!({"taxonomy_term": {"code": "kind:iop", "taxonomy": "continuum"}}))
                .is_none()
        );
    }

    #[test]
    fn explicit_facets_win_and_inferred_ones_are_named() {
        let attrs = vec![
            airs("RP-1400.8000-825", "Suicide Counseling"),
            airs("PN-8100.0500-070", "Alcohol Support Groups"),
        ];
        let mut f = Facets::default();
        let inferred = fill(&attrs, &mut f);
        assert_eq!(f.kind, Some(K::Clinician as i32), "the first term implying a kind");
        assert_eq!(f.levels, vec![L::Outpatient as i32, L::SelfGuidedPeer as i32]);
        assert_eq!(f.modalities, vec![M::PeerSupport as i32]);
        assert_eq!(f.specialties, vec![D::Suicidality as i32, D::SubstanceUse as i32]);
        assert_eq!(
            inferred.defaults,
            vec![
                "kind: clinician (from AIRS RP-1400.8000-825 \"Suicide Counseling\")",
                "levels_of_care: outpatient (from AIRS RP-1400.8000-825 \"Suicide Counseling\"), self_guided_peer (from AIRS PN-8100.0500-070 \"Alcohol Support Groups\")",
                "modalities: peer_support (from AIRS PN-8100.0500-070 \"Alcohol Support Groups\")",
                "specialties: suicidality (from AIRS RP-1400.8000-825 \"Suicide Counseling\"), substance_use (from AIRS PN-8100.0500-070 \"Alcohol Support Groups\")",
            ]
        );

        let mut explicit = Facets {
            kind: Some(K::Iop as i32),
            specialties: vec![D::Depression as i32],
            ..Default::default()
        };
        let inferred = fill(&attrs, &mut explicit);
        assert_eq!(explicit.kind, Some(K::Iop as i32));
        assert!(explicit.levels.is_empty(), "an explicit kind keeps its own levels");
        assert_eq!(explicit.specialties, vec![D::Depression as i32]);
        assert_eq!(
            explicit.modalities,
            vec![M::PeerSupport as i32],
            "an empty facet is still filled"
        );
        assert_eq!(inferred.defaults.len(), 1, "{:?}", inferred.defaults);
        assert!(inferred.defaults[0].starts_with("modalities: peer_support"));
    }
}
