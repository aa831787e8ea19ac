//! Pure waitlist rules: bands and their maximum waits, fair-aging priority, the crisis interlock, re-banding
//! from check-in screeners, check-in bookkeeping, the bridge support of every entry, the risk rise that
//! takes a client off the list into the interlock, wait estimates and the waiting-time metrics. No I/O
//! here; the store loads and saves, the adapter converts, and every rule takes "now" as an argument so it
//! can be tested exactly.

use std::cmp::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use continuum_errors::Violations;
use continuum_vocab::{AgeGroup, LevelOfCare, RiskLevel, Urgency};

use crate::error::{Error, ErrorReason, Result};

/// Version of the rules below (re-banding, outreach, estimates); stored with every check-in.
pub const RULES_VERSION: &str = "waitlist-rules/2026-11-25.1";

/// Consecutive unanswered check-ins that open outreach (CLINICAL.md, "Waitlists").
pub const OUTREACH_AFTER_MISSES: i32 = 2;

/// Days of accepted offers the wait estimate looks back over.
pub const THROUGHPUT_WINDOW_DAYS: i64 = 90;

/// The default first appointment of an accepted offer when none is given: this many days after accepting.
pub const DEFAULT_APPOINTMENT_AFTER_DAYS: i64 = 7;

/// Most candidate providers one entry may list.
pub const MAX_CANDIDATES: usize = 50;

/// Most slots one `OpenSlots` call may open.
pub const MAX_SLOTS: i32 = 1000;

/// Priority band, each with a maximum acceptable wait (see [`BandLimits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Band {
    /// Seen within 7 days by default.
    Urgent,
    /// Seen within 28 days by default.
    Soon,
    /// Seen within 42 days by default.
    Routine,
}

impl Band {
    /// Every band, most urgent first (proto number = index + 1).
    pub const ALL: [Band; 3] = [Band::Urgent, Band::Soon, Band::Routine];

    /// The band for a proto number; `None` for unspecified or unknown.
    pub fn from_proto(v: i32) -> Option<Self> {
        usize::try_from(v)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The proto number.
    pub fn to_proto(self) -> i32 {
        match self {
            Band::Urgent => 1,
            Band::Soon => 2,
            Band::Routine => 3,
        }
    }

    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            Band::Urgent => "urgent",
            Band::Soon => "soon",
            Band::Routine => "routine",
        }
    }

    /// The band for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.code() == code)
    }

    /// 0 for the most urgent band; the tie-breaker after the wait fraction.
    pub fn rank(self) -> u8 {
        match self {
            Band::Urgent => 0,
            Band::Soon => 1,
            Band::Routine => 2,
        }
    }

    /// The more urgent of two bands.
    pub fn most_urgent(self, other: Band) -> Band {
        if other.rank() < self.rank() { other } else { self }
    }

    /// The referral urgency of a placement from this band.
    pub fn urgency(self) -> Urgency {
        match self {
            Band::Urgent => Urgency::Urgent,
            Band::Soon => Urgency::Soon,
            Band::Routine => Urgency::Routine,
        }
    }

    /// Reads a required band field, recording a violation when unset or unknown.
    pub fn require(v: &mut Violations, field: &str, value: i32) -> Option<Self> {
        let r = Self::from_proto(value);
        if r.is_none() {
            v.add(field, if value == 0 { "is required" } else { "is not a known value" });
        }
        r
    }

    /// Reads an optional band field (0 means absent), recording a violation for unknown numbers.
    pub fn optional(v: &mut Violations, field: &str, value: i32) -> Option<Self> {
        if value == 0 {
            return None;
        }
        let r = Self::from_proto(value);
        if r.is_none() {
            v.add(field, "is not a known value");
        }
        r
    }
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryStatus {
    /// Waiting for a slot.
    Waiting,
    /// Holding exactly one pending offer.
    Offered,
    /// Placed (an offer was accepted and a referral created).
    Placed,
    /// Removed, with a reason.
    Removed,
}

impl EntryStatus {
    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "waiting",
            EntryStatus::Offered => "offered",
            EntryStatus::Placed => "placed",
            EntryStatus::Removed => "removed",
        }
    }

    /// The status for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [EntryStatus::Waiting, EntryStatus::Offered, EntryStatus::Placed, EntryStatus::Removed]
            .into_iter()
            .find(|s| s.code() == code)
    }

    /// The proto number.
    pub fn to_proto(self) -> i32 {
        match self {
            EntryStatus::Waiting => 1,
            EntryStatus::Offered => 2,
            EntryStatus::Placed => 3,
            EntryStatus::Removed => 4,
        }
    }

    /// Whether the entry is still on the list (waiting or holding an offer).
    pub fn is_active(self) -> bool {
        matches!(self, EntryStatus::Waiting | EntryStatus::Offered)
    }
}

/// Where an offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferStatus {
    /// Holding the slot until it expires.
    Pending,
    /// Accepted (a referral was created).
    Accepted,
    /// Declined by the client, or withdrawn because the entry was removed.
    Declined,
    /// Expired unanswered.
    Expired,
}

impl OfferStatus {
    /// The stable code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            OfferStatus::Pending => "pending",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Expired => "expired",
        }
    }

    /// The status for a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [OfferStatus::Pending, OfferStatus::Accepted, OfferStatus::Declined, OfferStatus::Expired]
            .into_iter()
            .find(|s| s.code() == code)
    }

    /// The proto number.
    pub fn to_proto(self) -> i32 {
        match self {
            OfferStatus::Pending => 1,
            OfferStatus::Accepted => 2,
            OfferStatus::Declined => 3,
            OfferStatus::Expired => 4,
        }
    }
}

/// The maximum acceptable wait of each band, in days (configurable; defaults from CLINICAL.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandLimits {
    /// Urgent band maximum (default 7).
    pub urgent_days: u32,
    /// Soon band maximum (default 28).
    pub soon_days: u32,
    /// Routine band maximum (default 42).
    pub routine_days: u32,
}

impl Default for BandLimits {
    fn default() -> Self {
        Self { urgent_days: 7, soon_days: 28, routine_days: 42 }
    }
}

impl BandLimits {
    /// The maximum wait of `band`, in days (at least 1).
    pub fn max_days(&self, band: Band) -> u32 {
        match band {
            Band::Urgent => self.urgent_days,
            Band::Soon => self.soon_days,
            Band::Routine => self.routine_days,
        }
        .max(1)
    }

    /// The maximum wait of `band`.
    pub fn max(&self, band: Band) -> TimeDelta {
        TimeDelta::days(i64::from(self.max_days(band)))
    }
}

/// The configurable waitlist rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long an offer holds its slot, in hours.
    pub offer_hold_hours: u32,
    /// Days between check-ins.
    pub check_in_days: u32,
    /// Band maxima.
    pub bands: BandLimits,
}

impl Default for Policy {
    fn default() -> Self {
        Self { offer_hold_hours: 48, check_in_days: 14, bands: BandLimits::default() }
    }
}

impl Policy {
    /// How long an offer holds its slot.
    pub fn hold(&self) -> TimeDelta {
        TimeDelta::hours(i64::from(self.offer_hold_hours))
    }

    /// Time between check-ins.
    pub fn check_in_interval(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.check_in_days))
    }
}

/// A waitlist entry as the domain sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Id (UUIDv7).
    pub id: String,
    /// Idempotency key of the enqueue that created it.
    pub idempotency_key: String,
    /// Client.
    pub client_id: String,
    /// Intake the client came from.
    pub intake_id: String,
    /// Owning (referring) organization.
    pub organization_id: String,
    /// Current band.
    pub band: Band,
    /// Risk level given at enqueue, if any.
    pub risk_level: Option<RiskLevel>,
    /// Providers the client waits for, best first (lowercase UUIDs).
    pub candidate_provider_ids: Vec<String>,
    /// Status.
    pub status: EntryStatus,
    /// When enqueued (the start of the wait).
    pub enqueued_at: DateTime<Utc>,
    /// Level of care needed.
    pub level_of_care: Option<LevelOfCare>,
    /// Age group.
    pub age_group: Option<AgeGroup>,
    /// Why removed, when removed.
    pub removal_reason: Option<String>,
    /// Check-ins missed in a row.
    pub missed_check_ins: i32,
    /// Whether outreach is open (two check-ins in a row went unanswered).
    pub outreach_open: bool,
    /// When the next check-in is due.
    pub next_check_in_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version (bumped by every change).
    pub version: i64,
    /// The bridge support offered while waiting (`None` only for entries stored before it existed).
    pub bridge_support: Option<BridgeSupport>,
    /// Whether a check-in showed a rise in risk and the entry left for the crisis interlock.
    pub interlock_required: bool,
}

impl Entry {
    /// Whether the client waits for `provider_id`.
    pub fn waits_for(&self, provider_id: &str) -> bool {
        self.candidate_provider_ids.iter().any(|p| p == provider_id)
    }

    /// Whether the two entries wait for at least one common provider.
    pub fn shares_provider_with(&self, other: &Entry) -> bool {
        self.candidate_provider_ids.iter().any(|p| other.waits_for(p))
    }

    /// The entry's wait fraction: up to `now` while on the list, frozen at its last change once placed or
    /// removed.
    pub fn wait_fraction(&self, now: DateTime<Utc>, limits: &BandLimits) -> f64 {
        let until = if self.status.is_active() { now } else { self.updated_at };
        wait_fraction(self.enqueued_at, self.band, until, limits)
    }
}

/// A new entry, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEntry {
    /// Idempotency key.
    pub idempotency_key: String,
    /// Client.
    pub client_id: String,
    /// Intake.
    pub intake_id: String,
    /// Owning organization.
    pub organization_id: String,
    /// Band.
    pub band: Band,
    /// Risk level, if given.
    pub risk_level: Option<RiskLevel>,
    /// Candidate providers, best first.
    pub candidate_provider_ids: Vec<String>,
    /// Level of care.
    pub level_of_care: Option<LevelOfCare>,
    /// Age group.
    pub age_group: Option<AgeGroup>,
}

/// A slot offered to an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Id (UUIDv7).
    pub id: String,
    /// The entry offered to.
    pub entry_id: String,
    /// The provider whose slot it is.
    pub provider_id: String,
    /// Status.
    pub status: OfferStatus,
    /// When made.
    pub offered_at: DateTime<Utc>,
    /// When the hold ends.
    pub expires_at: DateTime<Utc>,
    /// When answered (accepted, declined, withdrawn) or expired.
    pub responded_at: Option<DateTime<Utc>>,
    /// The referral created on acceptance.
    pub referral_id: Option<String>,
    /// The matching hold key of the slot, when the slot is real capacity taken in matching (offers made
    /// for a matching capacity event, and their successors). Accepting passes it to the referral, which
    /// then does not take capacity again.
    pub slot_key: Option<String>,
}

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

/// The removal reason of an entry that left the waitlist for the crisis interlock.
pub const RISK_RISE_REASON: &str = "risk_rise_interlock";

/// Whether an answered check-in that intake could NOT re-screen shows a rise in risk that takes the
/// client off the waitlist into the crisis interlock: PHQ-9 item 9 (thoughts of self-harm) above 0, or a
/// risk level given with the check-in at high or imminent. Without intake's risk assessment the waitlist
/// cannot tell moderate from high risk after a positive item 9 (which needs a same-day risk assessment
/// whatever the total), so it errs to the interlock. A severe score without either re-bands to urgent but
/// keeps the client waiting. When intake did re-screen, [`rescreen_rise`] decides instead.
pub fn risk_rise(phq9: Option<&[i32]>, risk: Option<RiskLevel>) -> bool {
    phq9.and_then(|items| items.get(8)).is_some_and(|x| *x > 0)
        || risk.is_some_and(RiskLevel::is_crisis)
}

/// What intake's re-screen (`RecordReassessment`) of a check-in said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescreen {
    /// The new assessment's id.
    pub assessment_id: String,
    /// The new assessment's risk level.
    pub risk: RiskLevel,
    /// How soon the new assessment says the client must be seen.
    pub urgency: Urgency,
    /// Risk rose compared with the previous assessment.
    pub risk_increased: bool,
    /// Intake put the client on the crisis pathway and routed them to crisis care itself.
    pub rerouted: bool,
}

/// Whether a check-in that intake re-screened takes the client off the waitlist into the interlock: the
/// re-screen (or a risk level given with the check-in) is on the crisis pathway (high or imminent), which
/// covers intake's `risk_increased` onto the crisis pathway. A rise below it (moderate: PHQ-9 item 9
/// without a C-SSRS, C-SSRS item 3) is expedited to the urgent band through intake's urgency, as
/// CLINICAL.md asks ("Moderate risk ... expedited: urgent band"), and the client keeps their place.
pub fn rescreen_rise(rescreen: &Rescreen, given: Option<RiskLevel>) -> bool {
    rescreen.risk.is_crisis() || given.is_some_and(RiskLevel::is_crisis)
}

/// The band intake's urgency asks for (emergency is the crisis pathway and leaves the list anyway).
pub fn band_for_urgency(urgency: Urgency) -> Band {
    match urgency {
        Urgency::Emergency | Urgency::Urgent => Band::Urgent,
        Urgency::Soon => Band::Soon,
        Urgency::Routine => Band::Routine,
    }
}

/// The crisis interlock: a client at high or imminent risk is never only put on a waitlist.
pub fn crisis_interlock(risk: Option<RiskLevel>) -> Result<()> {
    match risk {
        Some(r) if r.is_crisis() => Err(Error::precondition(
            ErrorReason::HighRiskNotWaitlisted,
            "a client at high or imminent risk is routed to crisis care, not put on a waitlist",
        )),
        _ => Ok(()),
    }
}

/// Whether a replayed enqueue (same idempotency key) asks for the same thing as the stored entry: the same
/// client, intake and organization. A key reused for another client is refused, never answered with
/// someone else's entry.
pub fn same_request(existing: &Entry, new: &NewEntry) -> bool {
    existing.client_id == new.client_id
        && existing.intake_id == new.intake_id
        && existing.organization_id == new.organization_id
}

/// Whether an offer can be answered at `now`: only a pending offer whose hold has not ended
/// (`OFFER_NOT_PENDING`, `OFFER_EXPIRED`).
pub fn answerable(offer: &Offer, now: DateTime<Utc>) -> Result<()> {
    if offer.status != OfferStatus::Pending {
        Err(Error::precondition(
            ErrorReason::OfferNotPending,
            format!("offer is {}", offer.status.code()),
        ))
    } else if offer.expires_at <= now {
        Err(Error::precondition(ErrorReason::OfferExpired, "the offer's hold has ended"))
    } else {
        Ok(())
    }
}

/// The fraction of `band`'s maximum wait already waited between `enqueued_at` and `now` (0 when `now` is
/// before `enqueued_at`; above 1 means overdue).
pub fn wait_fraction(
    enqueued_at: DateTime<Utc>,
    band: Band,
    now: DateTime<Utc>,
    limits: &BandLimits,
) -> f64 {
    let waited = (now - enqueued_at).num_milliseconds().max(0);
    let max = limits.max(band).num_milliseconds().max(1);
    // Both are far below 2^53 ms for any real date, so the conversion is exact.
    waited as f64 / max as f64
}

/// Fair-aging priority: the larger wait fraction first, then the more urgent band, then the earlier
/// arrival, then the id (so the order is total and the same on every replica).
pub fn priority_cmp(a: (f64, &Entry), b: (f64, &Entry)) -> Ordering {
    b.0.total_cmp(&a.0)
        .then_with(|| a.1.band.rank().cmp(&b.1.band.rank()))
        .then_with(|| a.1.enqueued_at.cmp(&b.1.enqueued_at))
        .then_with(|| a.1.id.cmp(&b.1.id))
}

/// `entries` in priority order at `now`.
pub fn prioritize(entries: Vec<Entry>, now: DateTime<Utc>, limits: &BandLimits) -> Vec<Entry> {
    let mut keyed: Vec<(f64, Entry)> =
        entries.into_iter().map(|e| (e.wait_fraction(now, limits), e)).collect();
    keyed.sort_by(|a, b| priority_cmp((a.0, &a.1), (b.0, &b.1)));
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// The batch priority of an entry for the slot assigner, from its fair-aging wait fraction: 5 when
/// overdue (fraction >= 1), 4 from 0.75, 3 from 0.5, 2 from 0.25, 1 below.
pub fn batch_priority(wait_fraction: f64) -> u32 {
    match wait_fraction {
        f if f >= 1.0 => 5,
        f if f >= 0.75 => 4,
        f if f >= 0.5 => 3,
        f if f >= 0.25 => 2,
        _ => 1,
    }
}

/// How much an entry wants a provider, from the provider's rank in its candidate list (best first): 1000
/// for the first choice, 50 less for each later one, never below 500. The floor keeps a preference from
/// outweighing more than a doubling of priority, so an overdue client (priority 5) always beats a recent
/// one (priority 1 or 2) whatever their choices, and nobody is starved by ever-new first choices.
pub fn batch_score(rank: usize) -> u32 {
    let step = u32::try_from(rank).unwrap_or(u32::MAX).saturating_mul(50);
    1000u32.saturating_sub(step).max(500)
}

/// Chooses which WAITING entries get the slots opened at several providers at once (`slots`: provider id
/// and slots opened there), with the exact batch assigner (`continuum-assign`): it maximises the sum of
/// [`batch_priority`] x [`batch_score`] over the offers made, each entry getting at most one offer and
/// each provider at most its slots. `waiting` must be in priority order ([`prioritize`]); entries that do
/// not wait for a provider are not eligible for it. Among choices of equal weight the earlier entry in
/// priority order wins (an exchange that keeps the optimum), so the result is deterministic and as fair
/// as the optimum allows. Returns (entry id, provider id) pairs, in priority order of the entries.
pub fn assign_slots(
    waiting: &[Entry],
    slots: &[(String, usize)],
    now: DateTime<Utc>,
    limits: &BandLimits,
) -> Result<Vec<(String, String)>> {
    use continuum_assign::{Edge, Instance, Solver};
    let weight_of = |c: usize, p: usize| -> Option<u32> {
        let e = waiting.get(c)?;
        let (provider, _) = slots.get(p)?;
        let rank = e.candidate_provider_ids.iter().position(|x| x == provider)?;
        Some(batch_priority(e.wait_fraction(now, limits)) * batch_score(rank))
    };
    let to_u32 = |n: usize| {
        u32::try_from(n).map_err(|_| Error::Unexpected(anyhow::anyhow!("slot batch too large")))
    };
    let mut edges = Vec::new();
    for (c, e) in waiting.iter().enumerate() {
        for (p, (provider, _)) in slots.iter().enumerate() {
            if let Some(rank) = e.candidate_provider_ids.iter().position(|x| x == provider) {
                edges.push(Edge {
                    client: to_u32(c)?,
                    provider: to_u32(p)?,
                    score: batch_score(rank),
                });
            }
        }
    }
    let instance = Instance {
        capacities: slots.iter().map(|(_, n)| to_u32(*n)).collect::<Result<_>>()?,
        priorities: waiting.iter().map(|e| batch_priority(e.wait_fraction(now, limits))).collect(),
        edges,
    };
    let mut solver = Solver::try_new(&instance)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("slot batch instance: {}", e.message)))?;
    let mut chosen: Vec<Option<usize>> =
        solver.solve().assignment.iter().map(|a| a.and_then(|p| usize::try_from(p).ok())).collect();
    // Tie-break by priority order: at each provider, the offers of one weight go to the earliest entries
    // of that weight among those holding them and those left without any offer. Swapping equal weights
    // keeps the sum, each entry's single offer and each provider's slot count.
    for p in 0..slots.len() {
        let mut weights: Vec<u32> = (0..waiting.len())
            .filter(|&c| chosen[c] == Some(p))
            .filter_map(|c| weight_of(c, p))
            .collect();
        weights.sort_unstable();
        weights.dedup();
        for w in weights {
            let holders: Vec<usize> = (0..waiting.len())
                .filter(|&c| chosen[c] == Some(p) && weight_of(c, p) == Some(w))
                .collect();
            let pool: Vec<usize> = (0..waiting.len())
                .filter(|&c| {
                    (chosen[c] == Some(p) || chosen[c].is_none()) && weight_of(c, p) == Some(w)
                })
                .take(holders.len())
                .collect();
            for c in holders {
                chosen[c] = None;
            }
            for c in pool {
                chosen[c] = Some(p);
            }
        }
    }
    Ok(chosen
        .iter()
        .enumerate()
        .filter_map(|(c, p)| Some((waiting.get(c)?.id.clone(), slots.get((*p)?)?.0.clone())))
        .collect())
}

/// A page of `items` starting at `offset`, and the offset of the next page when there is one.
pub fn page<T>(items: Vec<T>, offset: usize, size: usize) -> (Vec<T>, Option<usize>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let end = offset.saturating_add(page.len());
    (page, (end < total).then_some(end))
}

/// Sum of screener items (already validated to 0..=3).
pub fn total(items: &[i32]) -> i32 {
    items.iter().sum()
}

/// A re-band: the band after a check-in and the rules that raised it (empty when nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reband {
    /// The band after the check-in (never less urgent than before).
    pub band: Band,
    /// Ids of the rules that fired.
    pub rules: Vec<&'static str>,
}

/// Re-bands from check-in screeners (validated PHQ-9: 9 items, GAD-7: 7 items, each 0..=3):
/// - `reband.phq9_severe`: PHQ-9 total >= 20 -> urgent;
/// - `reband.gad7_severe`: GAD-7 total >= 15 -> urgent;
/// - `reband.phq9_item9`: PHQ-9 item 9 (thoughts of self-harm) > 0 -> urgent (CLINICAL.md: moderate risk is
///   expedited to the urgent band and needs a same-day risk assessment);
/// - `reband.phq9_moderately_severe`: PHQ-9 total 15..=19 -> at least soon;
/// - `reband.gad7_moderate`: GAD-7 total 10..=14 -> at least soon.
///
/// The band is never lowered automatically: improvement is a clinician's call.
pub fn reband(current: Band, phq9: Option<&[i32]>, gad7: Option<&[i32]>) -> Reband {
    let mut rules = Vec::new();
    let mut target = current;
    let mut raise = |to: Band, rule: &'static str| {
        if to.rank() < current.rank() {
            rules.push(rule);
        }
        target = target.most_urgent(to);
    };
    if let Some(items) = phq9 {
        let t = total(items);
        if t >= 20 {
            raise(Band::Urgent, "reband.phq9_severe");
        } else if t >= 15 {
            raise(Band::Soon, "reband.phq9_moderately_severe");
        }
        if items.get(8).is_some_and(|x| *x > 0) {
            raise(Band::Urgent, "reband.phq9_item9");
        }
    }
    if let Some(items) = gad7 {
        let t = total(items);
        if t >= 15 {
            raise(Band::Urgent, "reband.gad7_severe");
        } else if t >= 10 {
            raise(Band::Soon, "reband.gad7_moderate");
        }
    }
    Reband { band: target, rules }
}

/// What a check-in changes on an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckInOutcome {
    /// Band after the check-in.
    pub band: Band,
    /// Rules that raised the band.
    pub rules: Vec<&'static str>,
    /// Check-ins missed in a row after this one.
    pub missed_check_ins: i32,
    /// Whether outreach is open after this one.
    pub outreach_open: bool,
    /// Whether this check-in opened outreach.
    pub outreach_opened: bool,
    /// When the next check-in is due.
    pub next_check_in_at: DateTime<Utc>,
    /// PHQ-9 total, when re-screened.
    pub phq9_total: Option<i32>,
    /// GAD-7 total, when re-screened.
    pub gad7_total: Option<i32>,
    /// Risk rose: the entry leaves the waitlist for the crisis interlock (never silently).
    pub interlock: bool,
}

/// Applies a check-in to `entry` at `now`.
///
/// Answered: the miss count resets, outreach closes (the client has been reached), the next check-in is
/// due one interval from now, and the band is re-screened with [`reband`]. Unanswered: the miss count
/// grows and the due date moves one interval on; at [`OUTREACH_AFTER_MISSES`] misses in a row outreach
/// opens (`outreach_opened` is true only for the check-in that opened it). Nobody is ever removed here.
/// Only entries still on the list can check in (`ENTRY_NOT_WAITING`).
pub fn check_in(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    check_in_with_risk(entry, answered, phq9, gad7, None, now, policy)
}

/// [`check_in`] with a risk level given by the caller, without intake's re-screen: an answered check-in
/// showing a [`risk_rise`] sets `interlock` (the entry leaves the waitlist).
pub fn check_in_with_risk(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    risk: Option<RiskLevel>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    check_in_rescreened(entry, answered, phq9, gad7, risk, None, now, policy)
}

/// [`check_in_with_risk`] with intake's re-screen, when intake made one. With it the band is the more
/// urgent of the waitlist's own [`reband`] and the band of intake's urgency (rule
/// `reband.intake_urgency`; never lowered), and the interlock follows [`rescreen_rise`]. Without it the
/// waitlist's own rules alone decide ([`reband`], [`risk_rise`]).
#[allow(clippy::too_many_arguments)]
pub fn check_in_rescreened(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    risk: Option<RiskLevel>,
    rescreen: Option<&Rescreen>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    if !entry.status.is_active() {
        return Err(Error::precondition(
            ErrorReason::EntryNotWaiting,
            format!("entry is {}", entry.status.code()),
        ));
    }
    let next_check_in_at = now.checked_add_signed(policy.check_in_interval()).unwrap_or(now);
    if answered {
        let mut r = reband(entry.band, phq9, gad7);
        if let Some(rs) = rescreen {
            let asked = band_for_urgency(rs.urgency);
            if asked.rank() < r.band.rank() {
                r.rules.push("reband.intake_urgency");
                r.band = asked;
            }
        }
        let interlock = match rescreen {
            Some(rs) => rescreen_rise(rs, risk),
            None => risk_rise(phq9, risk),
        };
        Ok(CheckInOutcome {
            band: r.band,
            rules: r.rules,
            missed_check_ins: 0,
            outreach_open: false,
            outreach_opened: false,
            next_check_in_at,
            phq9_total: phq9.map(total),
            gad7_total: gad7.map(total),
            interlock,
        })
    } else {
        let missed = entry.missed_check_ins.saturating_add(1);
        let opens = missed >= OUTREACH_AFTER_MISSES && !entry.outreach_open;
        Ok(CheckInOutcome {
            band: entry.band,
            rules: Vec::new(),
            missed_check_ins: missed,
            outreach_open: entry.outreach_open || opens,
            outreach_opened: opens,
            next_check_in_at,
            phq9_total: None,
            gad7_total: None,
            interlock: false,
        })
    }
}

/// Weeks of the NHS Talking Therapies standards (75% within 6 weeks, 95% within 18 weeks).
pub const SEEN_WITHIN_WEEKS: (i64, i64) = (6, 18);

/// What the metrics need of one entry.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitFacts {
    /// Owning organization.
    pub organization_id: String,
    /// Start of the wait.
    pub enqueued_at: DateTime<Utc>,
    /// Status.
    pub status: EntryStatus,
    /// First appointment, when placed.
    pub first_appointment_at: Option<DateTime<Utc>>,
    /// Second appointment, when recorded.
    pub second_appointment_at: Option<DateTime<Utc>>,
}

/// What the metrics need of one check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInFacts {
    /// Organization of the entry.
    pub organization_id: String,
    /// The re-screen raised the band.
    pub deteriorated: bool,
    /// Risk rose (crisis interlock).
    pub crisis: bool,
}

/// Waiting-time metrics of one organization (see `OrganizationWaitMetrics` in the proto for meanings).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrgMetrics {
    /// Organization.
    pub organization_id: String,
    /// Entries placed.
    pub placed: i32,
    /// Entries still on the list.
    pub waiting: i32,
    /// Share seen within 6 weeks.
    pub within_6_weeks: f64,
    /// Share seen within 18 weeks.
    pub within_18_weeks: f64,
    /// Median days to the first appointment.
    pub median_days_to_first: f64,
    /// Median days to the second appointment.
    pub median_days_to_second: f64,
    /// Second appointments recorded.
    pub second_recorded: i32,
    /// Deterioration events while waiting.
    pub deterioration_events: i32,
    /// Crisis events while waiting.
    pub crisis_events: i32,
}

fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 86_400_000.0
}

/// The median of `xs` (0 when empty).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len().is_multiple_of(2) { (xs[mid - 1] + xs[mid]) / 2.0 } else { xs[mid] }
}

/// The share of entries seen within `weeks` at `now`: placed with a first appointment within `weeks` of
/// enqueue, over the placed entries plus the active ones that have already waited longer than `weeks`
/// (they can no longer be seen in time, and leaving them out would hide the longest waits).
fn share_within(entries: &[&WaitFacts], weeks: i64, now: DateTime<Utc>) -> f64 {
    let limit = (weeks * 7) as f64;
    let mut within = 0u32;
    let mut total = 0u32;
    for e in entries {
        match (e.status, e.first_appointment_at) {
            (EntryStatus::Placed, Some(first)) => {
                total += 1;
                if days(e.enqueued_at, first) <= limit {
                    within += 1;
                }
            }
            (s, _) if s.is_active() && days(e.enqueued_at, now) > limit => total += 1,
            _ => {}
        }
    }
    if total == 0 { 0.0 } else { f64::from(within) / f64::from(total) }
}

/// Metrics per organization (ordered by organization id) from every entry and check-in, at `now`.
pub fn wait_metrics(
    entries: &[WaitFacts],
    check_ins: &[CheckInFacts],
    now: DateTime<Utc>,
) -> Vec<OrgMetrics> {
    let mut orgs: Vec<&str> = entries.iter().map(|e| e.organization_id.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    orgs.into_iter()
        .map(|org| {
            let mine: Vec<&WaitFacts> =
                entries.iter().filter(|e| e.organization_id == org).collect();
            let placed: Vec<&WaitFacts> = mine
                .iter()
                .copied()
                .filter(|e| e.status == EntryStatus::Placed && e.first_appointment_at.is_some())
                .collect();
            let firsts = placed
                .iter()
                .filter_map(|e| e.first_appointment_at.map(|f| days(e.enqueued_at, f)))
                .collect();
            let seconds: Vec<f64> = mine
                .iter()
                .filter_map(|e| e.second_appointment_at.map(|s| days(e.enqueued_at, s)))
                .collect();
            let checks: Vec<&CheckInFacts> =
                check_ins.iter().filter(|c| c.organization_id == org).collect();
            OrgMetrics {
                organization_id: org.to_owned(),
                placed: count(placed.len()),
                waiting: count(mine.iter().filter(|e| e.status.is_active()).count()),
                within_6_weeks: share_within(&mine, SEEN_WITHIN_WEEKS.0, now),
                within_18_weeks: share_within(&mine, SEEN_WITHIN_WEEKS.1, now),
                median_days_to_first: median(firsts),
                second_recorded: count(seconds.len()),
                median_days_to_second: median(seconds),
                deterioration_events: count(checks.iter().filter(|c| c.deteriorated).count()),
                crisis_events: count(checks.iter().filter(|c| c.crisis).count()),
            }
        })
        .collect()
}

/// A wait estimate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Entries ahead.
    pub position: i32,
    /// Low end, in days.
    pub low_days: i32,
    /// High end, in days.
    pub high_days: i32,
    /// How it was made, in plain words.
    pub basis: String,
}

/// How many active entries are ahead of `entry` in priority order and wait for at least one of its
/// providers. `prioritized` is every active entry in priority order (it may include `entry` itself).
pub fn position(entry: &Entry, prioritized: &[Entry]) -> usize {
    prioritized
        .iter()
        .take_while(|e| e.id != entry.id)
        .filter(|e| e.shares_provider_with(entry))
        .count()
}

/// Whole days left before `entry` reaches its band's maximum wait at `now` (0 when overdue).
pub fn days_left_in_band(entry: &Entry, now: DateTime<Utc>, limits: &BandLimits) -> i64 {
    let left_ms = (limits.max(entry.band) - (now - entry.enqueued_at)).num_milliseconds().max(0);
    let day = 86_400_000;
    (left_ms + day - 1) / day
}

/// The wait estimate rule. With `accepted` placements at the entry's providers in the last
/// [`THROUGHPUT_WINDOW_DAYS`] days, the recent rate is `r = accepted / 90` per day. The optimistic end
/// assumes placements run at 1.5 r and only the `position` entries ahead must be placed first:
/// `low = floor(position / (1.5 r))`. The pessimistic end assumes 0.5 r and counts this entry's own
/// placement: `high = ceil((position + 1) / (0.5 r))`. Without any recent placement there is no rate to
/// project, so the range is 0 up to the days left before the band's maximum wait (`days_left`).
pub fn estimate(position: usize, accepted: u64, days_left: i64) -> Estimate {
    let pos = i32::try_from(position).unwrap_or(i32::MAX);
    let clamp = |x: f64| {
        if x.is_finite() && x < f64::from(i32::MAX) { x.max(0.0) as i32 } else { i32::MAX }
    };
    if accepted == 0 {
        return Estimate {
            position: pos,
            low_days: 0,
            high_days: i32::try_from(days_left).unwrap_or(i32::MAX),
            basis: format!(
                "{position} waiting ahead for the same providers; no placements with these providers in the last \
                 {THROUGHPUT_WINDOW_DAYS} days, so no rate to project: the range runs to the end of the band's \
                 maximum wait ({days_left} days left)"
            ),
        };
    }
    let rate = accepted as f64 / THROUGHPUT_WINDOW_DAYS as f64;
    let low = (position as f64 / (rate * 1.5)).floor();
    let high = ((position as f64 + 1.0) / (rate * 0.5)).ceil();
    Estimate {
        position: pos,
        low_days: clamp(low),
        high_days: clamp(high),
        basis: format!(
            "{position} waiting ahead for the same providers; {accepted} placements with these providers in the \
             last {THROUGHPUT_WINDOW_DAYS} days ({rate:.2} a day); the low end assumes placements at 1.5 times \
             that pace, the high end at half of it"
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use continuum_vocab::time;

    fn t0() -> DateTime<Utc> {
        time::from_ms(1_764_000_000_000)
    }

    fn entry(id: &str, band: Band, enqueued_days_ago: i64, providers: &[&str]) -> Entry {
        Entry {
            id: id.to_owned(),
            idempotency_key: format!("k-{id}"),
            client_id: "c".into(),
            intake_id: "i".into(),
            organization_id: "o".into(),
            band,
            risk_level: None,
            candidate_provider_ids: providers.iter().map(|p| (*p).to_owned()).collect(),
            status: EntryStatus::Waiting,
            enqueued_at: t0() - TimeDelta::days(enqueued_days_ago),
            level_of_care: None,
            age_group: None,
            removal_reason: None,
            missed_check_ins: 0,
            outreach_open: false,
            next_check_in_at: t0(),
            updated_at: t0(),
            version: 1,
            bridge_support: None,
            interlock_required: false,
        }
    }

    fn ids(v: &[Entry]) -> Vec<&str> {
        v.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn band_round_trips() {
        for b in Band::ALL {
            assert_eq!(Band::from_proto(b.to_proto()), Some(b));
            assert_eq!(Band::from_code(b.code()), Some(b));
        }
        assert_eq!(Band::from_proto(0), None);
        assert_eq!(Band::from_proto(4), None);
        assert_eq!(Band::from_proto(-1), None);
        assert_eq!(Band::Urgent.urgency(), Urgency::Urgent);
        assert_eq!(Band::Routine.most_urgent(Band::Soon), Band::Soon);
    }

    #[test]
    fn wait_fraction_is_waited_over_band_max() {
        let l = BandLimits::default();
        assert!(
            (wait_fraction(t0() - TimeDelta::days(7), Band::Urgent, t0(), &l) - 1.0).abs() < 1e-12
        );
        assert!(
            (wait_fraction(t0() - TimeDelta::days(21), Band::Routine, t0(), &l) - 0.5).abs()
                < 1e-12
        );
        assert_eq!(wait_fraction(t0() + TimeDelta::days(1), Band::Soon, t0(), &l), 0.0);
    }

    #[test]
    fn fair_aging_puts_the_most_overdue_first_then_band_then_arrival() {
        let l = BandLimits::default();
        // routine 42 days waited = 1.0; urgent 3.5 days = 0.5; soon 14 days = 0.5; urgent 1 day = 0.14.
        let entries = vec![
            entry("urgent-new", Band::Urgent, 1, &["p"]),
            entry("soon-half", Band::Soon, 14, &["p"]),
            entry("routine-overdue", Band::Routine, 42, &["p"]),
            entry("urgent-half", Band::Urgent, 0, &["p"]),
        ];
        let mut entries = entries;
        entries[3].enqueued_at = t0() - TimeDelta::hours(84);
        let order = prioritize(entries, t0(), &l);
        assert_eq!(ids(&order), vec!["routine-overdue", "urgent-half", "soon-half", "urgent-new"]);
    }

    #[test]
    fn ties_break_by_arrival_then_id() {
        let l = BandLimits::default();
        let mut a = entry("b", Band::Soon, 0, &["p"]);
        let mut b = entry("a", Band::Soon, 0, &["p"]);
        // Same fraction (0), band and arrival: the smaller id first.
        assert_eq!(ids(&prioritize(vec![a.clone(), b.clone()], t0(), &l)), vec!["a", "b"]);
        // Both arrive after "now" (clock skew clamps the wait to 0): the earlier arrival first.
        a.enqueued_at = t0() + TimeDelta::minutes(1);
        b.enqueued_at = t0() + TimeDelta::minutes(2);
        assert_eq!(ids(&prioritize(vec![b, a], t0(), &l)), vec!["b", "a"]);
    }

    #[test]
    fn the_crisis_interlock_refuses_high_and_imminent_risk() {
        assert!(crisis_interlock(None).is_ok());
        assert!(crisis_interlock(Some(RiskLevel::Moderate)).is_ok());
        for r in [RiskLevel::High, RiskLevel::Imminent] {
            match crisis_interlock(Some(r)) {
                Err(Error::FailedPrecondition { reason, .. }) => {
                    assert_eq!(reason, ErrorReason::HighRiskNotWaitlisted)
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn reband_raises_but_never_lowers() {
        let phq = |total: i32| -> Vec<i32> {
            let mut v = vec![0; 9];
            let mut left = total;
            for x in v.iter_mut().take(8) {
                *x = left.min(3);
                left -= *x;
            }
            v
        };
        let gad = |total: i32| -> Vec<i32> {
            let mut v = vec![0; 7];
            let mut left = total;
            for x in &mut v {
                *x = left.min(3);
                left -= *x;
            }
            v
        };
        assert_eq!(reband(Band::Routine, Some(&phq(20)), None).band, Band::Urgent);
        assert_eq!(reband(Band::Routine, None, Some(&gad(15))).band, Band::Urgent);
        assert_eq!(reband(Band::Routine, Some(&phq(15)), None).band, Band::Soon);
        assert_eq!(reband(Band::Routine, Some(&phq(19)), Some(&gad(14))).band, Band::Soon);
        assert_eq!(reband(Band::Routine, None, Some(&gad(10))).band, Band::Soon);
        assert_eq!(reband(Band::Routine, Some(&phq(14)), Some(&gad(9))).band, Band::Routine);
        // Never lowered: an urgent entry with mild scores stays urgent, and soon stays soon.
        let calm = reband(Band::Urgent, Some(&phq(2)), Some(&gad(1)));
        assert_eq!(calm, Reband { band: Band::Urgent, rules: vec![] });
        assert_eq!(
            reband(Band::Soon, Some(&phq(16)), None),
            Reband { band: Band::Soon, rules: vec![] }
        );
        let r = reband(Band::Routine, Some(&phq(21)), Some(&gad(16)));
        assert_eq!(r.band, Band::Urgent);
        assert!(r.rules.contains(&"reband.phq9_severe"));
        // Item 9 > 0 expedites whatever the total.
        let mut item9 = vec![0; 9];
        item9[8] = 1;
        let r = reband(Band::Routine, Some(&item9), None);
        assert_eq!(r, Reband { band: Band::Urgent, rules: vec!["reband.phq9_item9"] });
    }

    #[test]
    fn two_missed_check_ins_open_outreach_once_and_an_answer_resets() {
        let p = Policy::default();
        let mut e = entry("e", Band::Soon, 3, &["p"]);
        let first = check_in(&e, false, None, None, t0(), &p).unwrap();
        assert_eq!(
            (first.missed_check_ins, first.outreach_open, first.outreach_opened),
            (1, false, false)
        );
        e.missed_check_ins = first.missed_check_ins;
        let second = check_in(&e, false, None, None, t0(), &p).unwrap();
        assert_eq!(
            (second.missed_check_ins, second.outreach_open, second.outreach_opened),
            (2, true, true)
        );
        e.missed_check_ins = second.missed_check_ins;
        e.outreach_open = true;
        let third = check_in(&e, false, None, None, t0(), &p).unwrap();
        assert_eq!(
            (third.missed_check_ins, third.outreach_open, third.outreach_opened),
            (3, true, false)
        );
        let answered = check_in(&e, true, None, None, t0(), &p).unwrap();
        assert_eq!((answered.missed_check_ins, answered.outreach_open), (0, false));
        assert_eq!(answered.next_check_in_at, t0() + TimeDelta::days(14));
        e.status = EntryStatus::Placed;
        assert!(matches!(
            check_in(&e, true, None, None, t0(), &p),
            Err(Error::FailedPrecondition { reason: ErrorReason::EntryNotWaiting, .. })
        ));
    }

    #[test]
    fn position_counts_only_entries_ahead_sharing_a_provider() {
        let l = BandLimits::default();
        let all = prioritize(
            vec![
                entry("a", Band::Routine, 40, &["p1"]),
                entry("b", Band::Routine, 30, &["p2"]),
                entry("c", Band::Routine, 20, &["p1", "p2"]),
                entry("me", Band::Routine, 10, &["p1"]),
                entry("d", Band::Routine, 5, &["p1"]),
            ],
            t0(),
            &l,
        );
        let me = all.iter().find(|e| e.id == "me").unwrap().clone();
        assert_eq!(position(&me, &all), 2);
    }

    #[test]
    fn estimate_follows_the_documented_rule() {
        // 45 placements in 90 days = 0.5 a day; 3 ahead: low = floor(3 / 0.75) = 4, high = ceil(4 / 0.25) = 16.
        let e = estimate(3, 45, 10);
        assert_eq!((e.position, e.low_days, e.high_days), (3, 4, 16));
        let none = estimate(2, 0, 11);
        assert_eq!((none.low_days, none.high_days), (0, 11));
        assert!(none.basis.contains("no placements"));
        let first = estimate(0, 90, 5);
        assert_eq!((first.low_days, first.high_days), (0, 2));
    }

    #[test]
    fn days_left_rounds_up_and_stops_at_zero() {
        let l = BandLimits::default();
        let mut e = entry("e", Band::Urgent, 0, &["p"]);
        e.enqueued_at = t0() - TimeDelta::hours(36);
        assert_eq!(days_left_in_band(&e, t0(), &l), 6);
        e.enqueued_at = t0() - TimeDelta::days(9);
        assert_eq!(days_left_in_band(&e, t0(), &l), 0);
    }

    #[test]
    fn only_pending_unexpired_offers_can_be_answered() {
        let mut o = Offer {
            id: "o".into(),
            entry_id: "e".into(),
            provider_id: "p".into(),
            status: OfferStatus::Pending,
            offered_at: t0(),
            expires_at: t0() + TimeDelta::hours(48),
            responded_at: None,
            referral_id: None,
            slot_key: None,
        };
        assert!(answerable(&o, t0()).is_ok());
        let reason = |r: Result<()>| match r {
            Err(Error::FailedPrecondition { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(reason(answerable(&o, t0() + TimeDelta::hours(48))), ErrorReason::OfferExpired);
        o.status = OfferStatus::Declined;
        assert_eq!(reason(answerable(&o, t0())), ErrorReason::OfferNotPending);
    }

    #[test]
    fn pages_by_offset() {
        let (p, next) = page((0..5).collect(), 0, 2);
        assert_eq!((p, next), (vec![0, 1], Some(2)));
        let (p, next) = page((0..5).collect::<Vec<_>>(), 4, 2);
        assert_eq!((p, next), (vec![4], None));
        let (p, next) = page((0..5).collect::<Vec<_>>(), 9, 2);
        assert_eq!((p, next), (Vec::<i32>::new(), None));
    }

    #[test]
    fn bridge_support_by_age_and_band() {
        use BridgeSupport as B;
        assert_eq!(bridge_support(Some(AgeGroup::Child), Band::Routine), B::ParentSession);
        assert_eq!(bridge_support(Some(AgeGroup::Child), Band::Urgent), B::ParentSession);
        assert_eq!(bridge_support(Some(AgeGroup::Adolescent), Band::Routine), B::SingleSession);
        assert_eq!(bridge_support(Some(AgeGroup::Adult), Band::Urgent), B::SingleSession);
        assert_eq!(bridge_support(Some(AgeGroup::OlderAdult), Band::Soon), B::SkillsGroup);
        assert_eq!(bridge_support(None, Band::Routine), B::PeerSupport);
        for b in B::ALL {
            assert_eq!(B::from_code(b.code()), Some(b));
        }
    }

    #[test]
    fn a_risk_rise_requires_the_interlock() {
        let p = Policy::default();
        let e = entry("e", Band::Routine, 3, &["p"]);
        let mut item9 = vec![0; 9];
        item9[8] = 1;
        assert!(
            check_in_with_risk(&e, true, Some(&item9), None, None, t0(), &p).unwrap().interlock
        );
        assert!(
            check_in_with_risk(&e, true, None, None, Some(RiskLevel::High), t0(), &p)
                .unwrap()
                .interlock
        );
        // Severe but without self-harm thoughts or a high-risk re-screen: expedited, still waiting.
        let severe = vec![3, 3, 3, 3, 3, 3, 3, 0, 0];
        let out =
            check_in_with_risk(&e, true, Some(&severe), None, Some(RiskLevel::Moderate), t0(), &p)
                .unwrap();
        assert!(!out.interlock);
        assert_eq!(out.band, Band::Urgent);
        assert!(!check_in(&e, false, None, None, t0(), &p).unwrap().interlock);
    }

    /// Greedy "first N": each provider in turn takes its best WAITING entries in priority order.
    fn greedy(waiting: &[Entry], slots: &[(String, usize)]) -> Vec<(String, String)> {
        let mut taken: Vec<(String, String)> = Vec::new();
        for (p, n) in slots {
            let mine: Vec<&Entry> = waiting
                .iter()
                .filter(|e| e.waits_for(p) && !taken.iter().any(|(id, _)| *id == e.id))
                .take(*n)
                .collect();
            taken.extend(mine.into_iter().map(|e| (e.id.clone(), p.clone())));
        }
        taken
    }

    fn weight(waiting: &[Entry], plan: &[(String, String)], l: &BandLimits) -> u32 {
        plan.iter()
            .map(|(id, p)| {
                let e = waiting.iter().find(|e| e.id == *id).unwrap();
                let rank = e.candidate_provider_ids.iter().position(|x| x == p).unwrap();
                batch_priority(e.wait_fraction(t0(), l)) * batch_score(rank)
            })
            .sum()
    }

    #[test]
    fn batch_priority_and_score_follow_the_documented_scale() {
        assert_eq!([0.0, 0.25, 0.5, 0.75, 1.0, 3.0].map(batch_priority), [1, 2, 3, 4, 5, 5]);
        assert_eq!([0, 1, 4, 10, 49].map(batch_score), [1000, 950, 800, 500, 500]);
    }

    #[test]
    fn the_batch_assigner_fills_slots_greedy_leaves_empty_and_gives_no_entry_two_offers() {
        let l = BandLimits::default();
        // Both overdue; "flexible" (older) waits for P then Q, "only-p" waits for P alone. One slot each.
        let waiting = prioritize(
            vec![
                entry("flexible", Band::Routine, 50, &["P", "Q"]),
                entry("only-p", Band::Routine, 45, &["P"]),
            ],
            t0(),
            &l,
        );
        let slots = vec![("P".to_owned(), 1), ("Q".to_owned(), 1)];
        let g = greedy(&waiting, &slots);
        // Greedy gives P to the older entry, and Q finds nobody left: one slot stays empty.
        assert_eq!(g, vec![("flexible".to_owned(), "P".to_owned())]);
        let b = assign_slots(&waiting, &slots, t0(), &l).unwrap();
        assert_eq!(
            b,
            vec![("flexible".to_owned(), "Q".to_owned()), ("only-p".to_owned(), "P".to_owned())]
        );
        assert!(weight(&waiting, &b, &l) > weight(&waiting, &g, &l));
        // No entry gets two offers, no provider more than its slots, every pair eligible.
        let mut ids: Vec<&str> = b.iter().map(|(e, _)| e.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), b.len());
        for (p, n) in &slots {
            assert!(b.iter().filter(|(_, q)| q == p).count() <= *n);
        }
        for (e, p) in &b {
            assert!(waiting.iter().any(|x| x.id == *e && x.waits_for(p)));
        }
    }

    #[test]
    fn one_provider_batches_weigh_preference_against_a_small_priority_gap() {
        let l = BandLimits::default();
        // Routine band (42 days): 9 days = 0.21 (priority 1); 8 days = 0.19 (priority 1); 30 days = 0.71 (3).
        // P is "late-choice"'s 11th choice (score 500) and the first choice of the other two (1000).
        let mut late: Vec<String> = (0..10).map(|i| format!("X{i}")).collect();
        late.push("P".into());
        let late: Vec<&str> = late.iter().map(String::as_str).collect();
        let waiting = prioritize(
            vec![
                entry("long-overdue-ish", Band::Routine, 30, &["P"]),
                entry("late-choice", Band::Routine, 9, &late),
                entry("first-choice", Band::Routine, 8, &["P"]),
            ],
            t0(),
            &l,
        );
        assert_eq!(ids(&waiting), vec!["long-overdue-ish", "late-choice", "first-choice"]);
        let slots = vec![("P".to_owned(), 2)];
        let g = greedy(&waiting, &slots);
        let b = assign_slots(&waiting, &slots, t0(), &l).unwrap();
        assert_eq!(
            g.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
            vec!["long-overdue-ish", "late-choice"]
        );
        assert_eq!(
            b.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(),
            vec!["long-overdue-ish", "first-choice"]
        );
        // Equal weights go down the priority order (deterministic tie-break).
        let tied = prioritize(
            vec![
                entry("a", Band::Routine, 3, &["P"]),
                entry("b", Band::Routine, 2, &["P"]),
                entry("c", Band::Routine, 1, &["P"]),
            ],
            t0(),
            &l,
        );
        let b = assign_slots(&tied, &slots, t0(), &l).unwrap();
        assert_eq!(b.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(assign_slots(&[], &slots, t0(), &l).unwrap().is_empty());
    }

    #[test]
    fn intakes_rescreen_rebands_and_only_the_crisis_pathway_takes_the_entry_off() {
        let p = Policy::default();
        let e = entry("e", Band::Routine, 3, &["p"]);
        let rs = |risk, urgency| Rescreen {
            assessment_id: "a".into(),
            risk,
            urgency,
            risk_increased: false,
            rerouted: false,
        };
        let mut item9 = vec![0; 9];
        item9[8] = 1;
        // Moderate risk (item 9 without a C-SSRS): intake asks for urgent; the client keeps their place.
        let out = check_in_rescreened(
            &e,
            true,
            Some(&item9),
            None,
            None,
            Some(&rs(RiskLevel::Moderate, Urgency::Urgent)),
            t0(),
            &p,
        )
        .unwrap();
        assert!(!out.interlock);
        assert_eq!(out.band, Band::Urgent);
        // Intake's urgency alone raises the band (mild scores locally), under its own rule id.
        let out = check_in_rescreened(
            &e,
            true,
            Some(&[1, 1, 1, 1, 1, 1, 1, 1, 0][..]),
            None,
            None,
            Some(&rs(RiskLevel::None, Urgency::Soon)),
            t0(),
            &p,
        )
        .unwrap();
        assert_eq!((out.band, out.rules.clone()), (Band::Soon, vec!["reband.intake_urgency"]));
        // Never lowered by a calmer re-screen.
        let urgent = entry("u", Band::Urgent, 1, &["p"]);
        assert_eq!(
            check_in_rescreened(
                &urgent,
                true,
                None,
                None,
                None,
                Some(&rs(RiskLevel::None, Urgency::Routine)),
                t0(),
                &p
            )
            .unwrap()
            .band,
            Band::Urgent
        );
        // The crisis pathway (intake's high or imminent, or a given high risk) takes the entry off.
        for r in [RiskLevel::High, RiskLevel::Imminent] {
            assert!(
                check_in_rescreened(
                    &e,
                    true,
                    None,
                    None,
                    None,
                    Some(&rs(r, Urgency::Emergency)),
                    t0(),
                    &p
                )
                .unwrap()
                .interlock
            );
        }
        assert!(
            check_in_rescreened(
                &e,
                true,
                None,
                None,
                Some(RiskLevel::High),
                Some(&rs(RiskLevel::Low, Urgency::Routine)),
                t0(),
                &p
            )
            .unwrap()
            .interlock
        );
        // Without intake's answer the local rule errs to the interlock on item 9.
        assert!(
            check_in_rescreened(&e, true, Some(&item9), None, None, None, t0(), &p)
                .unwrap()
                .interlock
        );
        assert_eq!(band_for_urgency(Urgency::Emergency), Band::Urgent);
    }

    #[test]
    fn metrics_tell_the_truth_about_waiting() {
        let fact = |org: &str, waited_days: i64, status, first_after: Option<i64>| WaitFacts {
            organization_id: org.into(),
            enqueued_at: t0() - TimeDelta::days(waited_days),
            status,
            first_appointment_at: first_after
                .map(|d| t0() - TimeDelta::days(waited_days) + TimeDelta::days(d)),
            second_appointment_at: None,
        };
        let entries = vec![
            fact("a", 100, EntryStatus::Placed, Some(20)),
            fact("a", 100, EntryStatus::Placed, Some(50)),
            fact("a", 200, EntryStatus::Placed, Some(130)),
            // Waiting 60 days: already past 6 weeks, not yet past 18.
            fact("a", 60, EntryStatus::Waiting, None),
            fact("a", 10, EntryStatus::Offered, None),
            fact("a", 10, EntryStatus::Removed, None),
            fact("b", 5, EntryStatus::Waiting, None),
        ];
        let checks = vec![
            CheckInFacts { organization_id: "a".into(), deteriorated: true, crisis: false },
            CheckInFacts { organization_id: "a".into(), deteriorated: true, crisis: true },
            CheckInFacts { organization_id: "b".into(), deteriorated: false, crisis: false },
        ];
        let m = wait_metrics(&entries, &checks, t0());
        assert_eq!(m.len(), 2);
        let a = &m[0];
        assert_eq!((a.organization_id.as_str(), a.placed, a.waiting), ("a", 3, 2));
        // 6 weeks: 1 of (3 placed + 1 waiting past 42 days); 18 weeks: 2 of 3 placed.
        assert!((a.within_6_weeks - 0.25).abs() < 1e-9);
        assert!((a.within_18_weeks - 2.0 / 3.0).abs() < 1e-9);
        assert!((a.median_days_to_first - 50.0).abs() < 1e-9);
        assert_eq!((a.second_recorded, a.median_days_to_second), (0, 0.0));
        assert_eq!((a.deterioration_events, a.crisis_events), (2, 1));
        let b = &m[1];
        assert_eq!(
            (b.placed, b.waiting, b.within_6_weeks, b.median_days_to_first),
            (0, 1, 0.0, 0.0)
        );
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
