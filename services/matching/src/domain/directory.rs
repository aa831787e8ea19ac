//! The in-memory directory snapshot that ranking runs over (pure, no I/O).
//!
//! Every provider is compiled once, when it enters the snapshot, into bitsets and interned code ids for
//! the hard constraints and the fit model (levels, ages, payments, formats, modalities, specialties and
//! outcome ratings as bitmasks; jurisdictions, languages and identity/faith/cultural codes as interned
//! ids). A request is compiled the same way, so checking a provider is a handful of mask tests and
//! scoring it allocates nothing; reasons are written only for the top k. The snapshot is immutable
//! behind an `Arc`: a write builds a patched copy ([`Directory::patched`]) and readers keep the one
//! they started with.

use std::collections::HashMap;
use std::sync::Arc;

use continuum_vocab::{CareFormat, CarePhase, Modality, RelationalStyle};

use super::fit::{self, Weights};
use super::snapshot_store::{Entries, Interner};
use super::{CONSTRAINTS, ClientNeeds, OutcomeRating, Provider, ProviderKind, Ranking, Scored};

/// Interned ids below this are kept inline as a bitmask (no pointer chase); the rest in a slice.
const INLINE_IDS: u32 = 128;

/// A small set of interned ids: a bitmask for ids below `INLINE_IDS`, a slice for the rest.
#[derive(Clone, Debug, Default)]
pub(crate) struct IdSet {
    mask: u128,
    rest: Box<[u32]>,
}

impl IdSet {
    fn of(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut mask = 0u128;
        let mut rest = Vec::new();
        for id in ids {
            if id < INLINE_IDS { mask |= 1u128 << id } else { rest.push(id) }
        }
        Self { mask, rest: rest.into_boxed_slice() }
    }

    /// Whether the two sets share an id.
    fn meets(&self, other: &IdSet) -> bool {
        self.mask & other.mask != 0
            || (!self.rest.is_empty()
                && !other.rest.is_empty()
                && self.rest.iter().any(|x| other.rest.contains(x)))
    }
}

fn bit(proto: i32) -> u32 {
    u32::try_from(proto - 1).ok().filter(|b| *b < 32).map_or(0, |b| 1u32 << b)
}

fn mask<T: Copy>(xs: &[T], f: impl Fn(T) -> i32) -> u32 {
    xs.iter().fold(0, |m, x| m | bit(f(*x)))
}

/// Modalities that suit longer-term, attachment- and trauma-informed work (history fit after program
/// cycling).
const LONG_TERM: [Modality; 4] =
    [Modality::Psychodynamic, Modality::Mentalization, Modality::Ifs, Modality::Somatic];

/// What the hard constraints read of a provider, in one cache line: ranking reads it for every provider
/// of the snapshot, and with 20,000 providers a scan that touched two or three cache lines per provider
/// (the fields spread over an entry of a few hundred bytes) spent half its time waiting on memory
/// (issue 12). Ids past the inline masks are in the provider's [`IdSet`]s ([`Compiled`]).
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub(crate) struct Gate {
    pub(crate) jurisdictions: u128,
    pub(crate) languages: u128,
    pub(crate) levels: u32,
    pub(crate) ages: u32,
    pub(crate) payments: u32,
    pub(crate) formats: u32,
    pub(crate) modalities: u32,
    pub(crate) accepting: bool,
    pub(crate) crisis: bool,
    pub(crate) trauma_processing: bool,
    /// Whether the jurisdictions, or the languages, go past the inline mask.
    pub(crate) more_jurisdictions: bool,
    pub(crate) more_languages: bool,
}

/// A provider compiled for fast checks and scoring.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub(crate) gate: Gate,
    pub(crate) jurisdictions: IdSet,
    pub(crate) languages: IdSet,
    pub(crate) specialties: u32,
    pub(crate) effective: u32,
    pub(crate) ineffective: u32,
    pub(crate) identity: Box<[u32]>,
    pub(crate) faith: Box<[u32]>,
    pub(crate) cultural: Box<[u32]>,
    pub(crate) schedule: u32,
    pub(crate) telehealth: bool,
    pub(crate) in_person: bool,
    pub(crate) region: Box<str>,
    pub(crate) coordinates: Option<super::PreparedPoint>,
    pub(crate) long_term: bool,
    pub(crate) style: RelationalStyle,
    /// Alliance value from all the provider's ratings (used when the client's segment has none).
    pub(crate) alliance_value: f64,
    /// (interned segment id, alliance value for clients of that segment), for segments with ratings.
    pub(crate) alliance_segments: Box<[(u32, f64)]>,
    /// Bit `id` set for each segment id below `INLINE_IDS` in `alliance_segments`, so ranking skips the
    /// pointer chase for the many providers without ratings from the client's segment.
    pub(crate) segment_mask: u128,
    pub(crate) open_slots: i32,
    /// (start ms, open seats) of cohorts with open seats, by start.
    pub(crate) cohorts: Box<[(i64, i32)]>,
    pub(crate) typical_wait_days: i32,
}

/// One provider of the snapshot.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The provider as stored.
    pub provider: Arc<Provider>,
    /// Its compiled form.
    pub compiled: Compiled,
    /// Its id as a number ordered as the ids are ([`id_order`]).
    pub id_order: Option<u128>,
}

/// `id` as a number ordered as the id strings are, when it is a canonical (lowercase, hyphenated) UUID,
/// as every stored provider id is: ranking breaks ties between equal scores by id, and with 20,000
/// providers comparing the strings (a lookup and a `memcmp` per tie) was a tenth of a routed intake's
/// processing (issue 12). `None` for an id of another form (compared as a string).
pub fn id_order(id: &str) -> Option<u128> {
    let u = uuid::Uuid::try_parse(id).ok()?;
    let mut buf = uuid::Uuid::encode_buffer();
    (u.hyphenated().encode_lower(&mut buf) == id).then(|| u.as_u128())
}

/// A ranked option: its score, its place in the snapshot and its id's order.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f64,
    index: usize,
    id_order: Option<u128>,
}

/// An immutable snapshot of the directory.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    entries: Entries,
    /// Position of each provider id in `entries`, shared between snapshots until a provider is added.
    index: Arc<HashMap<String, usize>>,
    codes: Interner,
    jurisdiction_codes: Interner,
    language_codes: Interner,
    segment_codes: Interner,
    watermark_ms: i64,
    version: i64,
}

/// A client request compiled against a snapshot.
#[derive(Clone, Debug)]
pub struct Query {
    pub(crate) level: u32,
    pub(crate) age: u32,
    pub(crate) jurisdictions: IdSet,
    pub(crate) language: IdSet,
    pub(crate) payment: u32,
    pub(crate) needs_crisis: bool,
    pub(crate) stabilisation: bool,
    pub(crate) formats: u32,
    pub(crate) avoided: u32,
    pub(crate) tried: u32,
    pub(crate) wanted: u32,
    pub(crate) excluded: Vec<usize>,
    pub(crate) domains: u32,
    pub(crate) main_domain: u32,
    pub(crate) other_domains: u32,
    pub(crate) identity: Vec<Option<u32>>,
    pub(crate) faith: Vec<Option<u32>>,
    pub(crate) cultural: Vec<Option<u32>>,
    pub(crate) schedule: u32,
    pub(crate) accepts_in_person: bool,
    pub(crate) accepts_telehealth: bool,
    pub(crate) region: String,
    pub(crate) location: Option<super::PreparedPoint>,
    pub(crate) style: RelationalStyle,
    pub(crate) programs_cycled: i32,
    pub(crate) now_ms: i64,
    /// Interned id of the client's segment, when some provider has ratings from it.
    pub(crate) segment: Option<u32>,
    /// The client's segment code ([`super::alliance::ClientSegment::code`]).
    pub(crate) segment_code: Option<String>,
    /// Plain-language description of the client's segment (for the reason).
    pub(crate) segment_label: Option<String>,
}

impl Compiled {
    /// The alliance-learning value for a client of `segment`: the segment's shrunk estimate when the
    /// provider has ratings from it, else the provider's overall one. A short linear scan (providers have
    /// ratings from few segments), no allocation.
    #[inline]
    pub(crate) fn alliance_for(&self, segment: Option<u32>) -> f64 {
        let Some(id) = segment else { return self.alliance_value };
        if id < INLINE_IDS && self.segment_mask & (1u128 << id) == 0 {
            return self.alliance_value;
        }
        self.alliance_segments
            .iter()
            .find(|(s, _)| *s == id)
            .map_or(self.alliance_value, |(_, v)| *v)
    }
}

impl Directory {
    /// A snapshot of `providers` (later duplicates of an id replace earlier ones).
    pub fn build(providers: impl IntoIterator<Item = Provider>, weights: &Weights) -> Self {
        let mut d = Directory::default();
        d.upsert_all(providers, weights);
        d
    }

    /// A copy of this snapshot with `providers` inserted or replaced (copy-on-write for readers).
    pub fn patched(
        &self,
        providers: impl IntoIterator<Item = Provider>,
        weights: &Weights,
    ) -> Self {
        let mut d = self.clone();
        d.upsert_all(providers, weights);
        d
    }

    fn upsert_all(&mut self, providers: impl IntoIterator<Item = Provider>, weights: &Weights) {
        for p in providers {
            self.watermark_ms =
                self.watermark_ms.max(p.updated_at.timestamp_millis()).max(p.alliance.changed_ms);
            let compiled = self.compile(&p, weights);
            let id_order = id_order(&p.id);
            let entry = Entry { provider: Arc::new(p), compiled, id_order };
            match self.index.get(&entry.provider.id).copied() {
                Some(i) => self.entries.set(i, entry),
                None => {
                    Arc::make_mut(&mut self.index)
                        .insert(entry.provider.id.clone(), self.entries.len());
                    self.entries.push(entry);
                }
            }
            self.version += 1;
        }
    }

    /// Providers in the snapshot.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the snapshot is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// The latest write time (ms) the snapshot has seen (delta refreshes start from it).
    pub fn watermark_ms(&self) -> i64 {
        self.watermark_ms
    }

    /// A counter that grows with every provider applied to the snapshot.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// One provider by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Provider>> {
        self.index.get(id).and_then(|i| self.entries.get(*i)).map(|e| &e.provider)
    }

    fn compile(&mut self, p: &Provider, w: &Weights) -> Compiled {
        let prof = &p.profile;
        let ids = |codes: &mut Interner, xs: &[String]| -> Box<[u32]> {
            xs.iter().map(|x| codes.intern(x)).collect()
        };
        let mut effective = 0;
        let mut ineffective = 0;
        for o in prof.outcome_strengths.iter().filter(|o| o.counts()) {
            let b = 1u32 << o.domain.index();
            match o.rating {
                OutcomeRating::Effective => effective |= b,
                // Neutral and unmeasured score alike (0.5).
                OutcomeRating::Neutral => {}
                OutcomeRating::Ineffective => ineffective |= b,
            }
        }
        let mut cohorts: Vec<(i64, i32)> = prof
            .cohorts
            .iter()
            .filter(|c| c.open_seats > 0)
            .map(|c| (c.start_ms, c.open_seats))
            .collect();
        cohorts.sort_unstable();
        let languages = IdSet::of(
            prof.languages
                .iter()
                .map(|l| continuum_vocab::primary_language(l))
                .map(|l| self.language_codes.intern(&l))
                .collect::<Vec<_>>(),
        );
        let jurisdictions = IdSet::of(
            prof.jurisdictions
                .iter()
                .map(|j| self.jurisdiction_codes.intern(j))
                .collect::<Vec<_>>(),
        );
        let overall = p.alliance.shrunk_srs(w.srs_prior_mean, w.srs_prior_ratings);
        let alliance_segments: Box<[(u32, f64)]> = p
            .alliance_segments
            .iter()
            .filter(|(_, s)| s.ratings > 0)
            .map(|(code, s)| {
                (
                    self.segment_codes.intern(code),
                    fit::alliance_value(super::alliance::segment_srs(
                        *s,
                        overall,
                        w.srs_segment_prior_ratings,
                    )),
                )
            })
            .collect();
        Compiled {
            gate: Gate {
                jurisdictions: jurisdictions.mask,
                languages: languages.mask,
                levels: mask(&prof.levels_of_care, |x| x.to_proto()),
                ages: mask(&prof.age_groups, |x| x.to_proto()),
                payments: mask(&prof.payment_options, |x| x.to_proto()),
                formats: mask(&prof.formats, |x| x.to_proto()),
                modalities: mask(&prof.modalities, |x| x.to_proto()),
                accepting: p.accepting_new_clients,
                crisis: prof.crisis_capable,
                trauma_processing: p.offers_trauma_processing(),
                more_jurisdictions: !jurisdictions.rest.is_empty(),
                more_languages: !languages.rest.is_empty(),
            },
            jurisdictions,
            languages,
            specialties: prof.specialties.iter().fold(0, |m, d| m | (1u32 << d.index())),
            effective,
            ineffective,
            identity: prof.identity.as_deref().map(|c| ids(&mut self.codes, c)).unwrap_or_default(),
            faith: ids(&mut self.codes, &prof.faith_options),
            cultural: ids(&mut self.codes, &prof.cultural_options),
            schedule: prof.schedule.iter().fold(0, |m, s| m | (1u32 << s.index())),
            telehealth: prof.offers_telehealth(),
            in_person: prof.formats.contains(&CareFormat::InPerson),
            region: prof.location.region.as_str().into(),
            coordinates: prof.location.coordinates.map(super::prepare_point),
            long_term: p.kind == ProviderKind::Clinician
                && prof.modalities.iter().any(|m| LONG_TERM.contains(m)),
            style: p.alliance.observed_style(prof.relational_style),
            alliance_value: fit::alliance_value(overall),
            segment_mask: alliance_segments
                .iter()
                .filter(|(id, _)| *id < INLINE_IDS)
                .fold(0u128, |m, (id, _)| m | (1u128 << id)),
            alliance_segments,
            open_slots: p.open_slots,
            cohorts: cohorts.into_boxed_slice(),
            typical_wait_days: prof.typical_wait_days,
        }
    }

    /// Compiles a client's needs against this snapshot.
    pub fn query(&self, c: &ClientNeeds, now_ms: i64) -> Query {
        let country = c.jurisdiction.split_once('-').map(|(country, _)| country);
        let lookup = |xs: &[String]| xs.iter().map(|x| self.codes.get(x)).collect::<Vec<_>>();
        let domains = c.fit.problem_domains.iter().fold(0, |m, d| m | (1u32 << d.index()));
        let main_domain = c.fit.problem_domains.first().map_or(0, |d| 1u32 << d.index());
        let telehealth = [CareFormat::Video, CareFormat::Phone];
        let segment = super::alliance::ClientSegment::of(c.age_group, &c.fit.problem_domains);
        Query {
            level: bit(c.level_of_care.to_proto()),
            age: bit(c.age_group.to_proto()),
            jurisdictions: IdSet::of(
                [
                    self.jurisdiction_codes.get(&c.jurisdiction),
                    country.and_then(|x| self.jurisdiction_codes.get(x)),
                ]
                .into_iter()
                .flatten(),
            ),
            language: IdSet::of(
                self.language_codes.get(&continuum_vocab::primary_language(&c.language)),
            ),
            payment: mask(c.payment_option.usable(), |x| x.to_proto()),
            needs_crisis: c.needs_crisis_capable,
            stabilisation: c.phase == Some(CarePhase::Stabilisation),
            formats: mask(&c.formats, |x| x.to_proto()),
            avoided: mask(&c.modalities_avoided, |x| x.to_proto()),
            tried: mask(&c.fit.modalities_tried, |x| x.to_proto())
                | mask(&c.modalities_avoided, |x| x.to_proto()),
            wanted: mask(&c.fit.modalities_wanted, |x| x.to_proto()),
            excluded: c
                .fit
                .excluded_provider_ids
                .iter()
                .filter_map(|id| self.index.get(id).copied())
                .collect(),
            domains,
            main_domain,
            other_domains: domains & !main_domain,
            identity: lookup(&c.fit.identity_preferences),
            faith: lookup(&c.fit.faith_preferences),
            cultural: lookup(&c.fit.cultural_preferences),
            schedule: c.fit.schedule.iter().fold(0, |m, s| m | (1u32 << s.index())),
            accepts_in_person: c.formats.is_empty() || c.formats.contains(&CareFormat::InPerson),
            accepts_telehealth: c.formats.is_empty()
                || c.formats.iter().any(|f| telehealth.contains(f)),
            region: c.fit.region.clone(),
            location: c.fit.location.map(super::prepare_point),
            style: c.relational_style,
            programs_cycled: c.fit.programs_cycled,
            now_ms,
            segment: self.segment_codes.get(&segment.code()),
            segment_code: Some(segment.code()),
            segment_label: Some(segment.describe()),
        }
    }

    /// Ranks the snapshot for `c`: hard constraints first (each exclusion counted under the first
    /// constraint failed), then the weighted components; the best `top_k` get their reasons.
    pub fn rank(&self, c: &ClientNeeds, weights: &Weights, top_k: usize, now_ms: i64) -> Ranking {
        let q = self.query(c, now_ms);
        let mut counts = [0i32; CONSTRAINTS.len()];
        // Best first. Ties go to the smaller provider id.
        let mut best: Vec<Candidate> = Vec::with_capacity(top_k + 1);
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(k) = failed(&e.compiled, &q, i) {
                counts[k] += 1;
                continue;
            }
            if top_k == 0 {
                continue;
            }
            let score = fit::score(&fit::values(&e.compiled, &q, weights), weights);
            let c = Candidate { score, index: i, id_order: e.id_order };
            if best.len() == top_k {
                let Some(worst) = best.last() else { continue };
                if !self.better(&c, worst) {
                    continue;
                }
                best.pop();
            }
            let pos = best.partition_point(|b| self.better(b, &c));
            best.insert(pos, c);
        }
        let options = best
            .into_iter()
            .filter_map(|c| self.entries.get(c.index).map(|e| (c.score, e)))
            .map(|(s, e)| {
                let mut provider = (*e.provider).clone();
                // A program's open capacity is its joinable cohorts' open seats as of this query, not as of
                // the last write: a cohort that left the joining window since then no longer counts.
                if !provider.profile.cohorts.is_empty() {
                    provider.open_slots =
                        super::capacity::open_seats_now(&provider.profile.cohorts, q.now_ms);
                }
                Scored {
                    provider,
                    score: s,
                    components: fit::explain(&e.provider, &e.compiled, &q, weights),
                }
            })
            .collect();
        Ranking {
            options,
            exclusions: CONSTRAINTS.iter().copied().zip(counts).collect(),
            considered: i32::try_from(self.entries.len()).unwrap_or(i32::MAX),
        }
    }

    /// Whether `a` ranks above `b`: a higher score, or the same score and a smaller provider id.
    fn better(&self, a: &Candidate, b: &Candidate) -> bool {
        match a.score.total_cmp(&b.score) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => match (a.id_order, b.id_order) {
                (Some(x), Some(y)) => x < y,
                _ => match (self.entries.get(a.index), self.entries.get(b.index)) {
                    (Some(x), Some(y)) => x.provider.id < y.provider.id,
                    _ => false,
                },
            },
        }
    }
}

/// Index into `CONSTRAINTS` of the first hard constraint provider `i` fails, if any. Must agree with
/// [`super::failed_constraint`] (a property test checks it).
fn failed(p: &Compiled, q: &Query, i: usize) -> Option<usize> {
    let g = &p.gate;
    // The inline masks decide unless both sides have ids past them (then the whole sets do).
    let meets = |mask: u128, more: bool, whole: &IdSet, wanted: &IdSet| {
        mask & wanted.mask != 0 || (more && whole.meets(wanted))
    };
    let ok = [
        g.accepting,
        g.levels & q.level != 0,
        g.ages & q.age != 0,
        meets(g.jurisdictions, g.more_jurisdictions, &p.jurisdictions, &q.jurisdictions),
        meets(g.languages, g.more_languages, &p.languages, &q.language),
        g.payments & q.payment != 0,
        !q.needs_crisis || g.crisis,
        !q.stabilisation || !g.trauma_processing,
        q.formats == 0 || g.formats & q.formats != 0,
        (g.modalities == 0 || g.modalities & !q.avoided != 0) && !q.excluded.contains(&i),
    ];
    ok.iter().position(|x| !x)
}
