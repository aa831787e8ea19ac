//! Pure waitlist rules. No I/O here: the store loads and saves, `convert` maps protos, `app` calls the
//! ports, and every rule takes "now" as an argument so it can be tested exactly.
//!
//! Split by topic: `priority` (fair-aging priority, the list order and its pages, the batch choice of
//! several slots), `check_in` (re-banding from check-in screeners and intake's re-screen, outreach after
//! missed check-ins, the risk rise and the crisis interlock), `metrics` (wait estimates and the
//! waiting-time metrics) and `bridge` (the bridge support of every entry and the choice of a bridge
//! program among matching's options). The records (`Entry`, `Offer`, their statuses, the bands and the
//! configurable `Policy`) and the rules about one offer or one enqueue live here; everything is
//! re-exported, so `crate::domain::X` names any of it.

use chrono::{DateTime, TimeDelta, Utc};
use continuum_vocab::ids::{
    ClientId, EntryId, IntakeId, OfferId, OrganizationId, ProviderId, ReferralId,
};
use continuum_vocab::{AgeGroup, LevelOfCare, RiskLevel, Urgency};

use crate::error::{Error, ErrorReason, Result};

pub mod bridge;
mod check_in;
mod metrics;
mod priority;
#[cfg(test)]
mod tests;

pub use bridge::{
    BridgeChoice, BridgeNeeds, BridgeRecord, BridgeStatus, BridgeSupport, Candidate, ProgramKind,
    bridge_support,
};
pub use check_in::*;
pub use metrics::*;
pub use priority::*;

/// Version of the rules below (re-banding, outreach, estimates); stored with every check-in.
pub const RULES_VERSION: &str = "waitlist-rules/2026-11-25.1";

/// The default first appointment of an accepted offer when none is given: this many days after accepting.
pub const DEFAULT_APPOINTMENT_AFTER_DAYS: i64 = 7;

/// Most candidate providers one entry may list.
pub const MAX_CANDIDATES: usize = 50;

/// Most slots one `OpenSlots` call may open.
pub const MAX_SLOTS: i32 = 1000;

continuum_vocab::coded_enum! {
    /// Priority band, each with a maximum acceptable wait (see [`BandLimits`]); mirrors
    /// `continuum.waitlist.v1.Band`.
    Band {
        /// Seen within 7 days by default.
        Urgent => "urgent",
        /// Seen within 28 days by default.
        Soon => "soon",
        /// Seen within 42 days by default.
        Routine => "routine",
    }
}

impl Band {
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
}

continuum_vocab::coded_enum! {
    /// Where an entry stands; mirrors `continuum.waitlist.v1.EntryStatus`.
    EntryStatus {
        /// Waiting for a slot.
        Waiting => "waiting",
        /// Holding exactly one pending offer.
        Offered => "offered",
        /// Placed (an offer was accepted and a referral created).
        Placed => "placed",
        /// Removed, with a reason.
        Removed => "removed",
    }
}

impl EntryStatus {
    /// Whether the entry is still on the list (waiting or holding an offer).
    pub fn is_active(self) -> bool {
        matches!(self, EntryStatus::Waiting | EntryStatus::Offered)
    }
}

continuum_vocab::coded_enum! {
    /// Where an offer stands; mirrors `continuum.waitlist.v1.OfferStatus`.
    OfferStatus {
        /// Holding the slot until it expires.
        Pending => "pending",
        /// Accepted (a referral was created).
        Accepted => "accepted",
        /// Declined by the client, or withdrawn because the entry was removed.
        Declined => "declined",
        /// Expired unanswered.
        Expired => "expired",
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
    /// The maximum wait of each band.
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
    /// The entry's id (UUIDv7).
    pub id: EntryId,
    /// Idempotency key of the enqueue that created it.
    pub idempotency_key: String,
    /// The waiting client.
    pub client_id: ClientId,
    /// Intake the client came from.
    pub intake_id: IntakeId,
    /// Owning (referring) organization.
    pub organization_id: OrganizationId,
    /// The band the entry waits in now.
    pub band: Band,
    /// Risk level given at enqueue, if any.
    pub risk_level: Option<RiskLevel>,
    /// Providers the client waits for, best first (lowercase UUIDs).
    pub candidate_provider_ids: Vec<ProviderId>,
    /// Where the entry stands.
    pub status: EntryStatus,
    /// When enqueued (the start of the wait).
    pub enqueued_at: DateTime<Utc>,
    /// Level of care needed.
    pub level_of_care: Option<LevelOfCare>,
    /// The client's age group, when given.
    pub age_group: Option<AgeGroup>,
    /// Why removed, when removed.
    pub removal_reason: Option<String>,
    /// Check-ins missed in a row.
    pub missed_check_ins: i32,
    /// Whether outreach is open (two check-ins in a row went unanswered).
    pub outreach_open: bool,
    /// When the next check-in is due.
    pub next_check_in_at: DateTime<Utc>,
    /// When the entry last changed.
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
    pub fn waits_for<Q: ?Sized>(&self, provider_id: &Q) -> bool
    where
        ProviderId: PartialEq<Q>,
    {
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
    /// Idempotency key of the enqueue (1..128 characters).
    pub idempotency_key: String,
    /// The client to put on the list.
    pub client_id: ClientId,
    /// Intake the client came from.
    pub intake_id: IntakeId,
    /// Owning (referring) organization.
    pub organization_id: OrganizationId,
    /// The band to wait in.
    pub band: Band,
    /// Risk level, if given.
    pub risk_level: Option<RiskLevel>,
    /// Candidate providers, best first.
    pub candidate_provider_ids: Vec<ProviderId>,
    /// Level of care needed, when given.
    pub level_of_care: Option<LevelOfCare>,
    /// The client's age group, when given.
    pub age_group: Option<AgeGroup>,
}

/// A slot offered to an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The offer's id (UUIDv7).
    pub id: OfferId,
    /// The entry offered to.
    pub entry_id: EntryId,
    /// The provider whose slot it is.
    pub provider_id: ProviderId,
    /// Where the offer stands.
    pub status: OfferStatus,
    /// When the offer was made.
    pub offered_at: DateTime<Utc>,
    /// When the hold ends.
    pub expires_at: DateTime<Utc>,
    /// When answered (accepted, declined, withdrawn) or expired.
    pub responded_at: Option<DateTime<Utc>>,
    /// The referral created on acceptance.
    pub referral_id: Option<ReferralId>,
    /// The matching hold key of the slot, when the slot is real capacity taken in matching (offers made
    /// for a matching capacity event, and their successors). Accepting passes it to the referral, which
    /// then does not take capacity again.
    pub slot_key: Option<String>,
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

/// The entry-version precondition of a change: none, or the entry still at `expected`
/// (`ABORTED`, `VERSION_MISMATCH` otherwise).
pub fn check_version(entry: &Entry, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(v) if v != entry.version => Err(Error::version_mismatch("entry", v, entry.version)),
        _ => Ok(()),
    }
}
