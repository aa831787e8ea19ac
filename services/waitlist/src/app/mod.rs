//! The waitlist service's use cases: the only place that decides access (`access`) and talks to the ports
//! — the store, the cache holds, the clock, matching (whose provider a slot is, the slots of capacity
//! events, bridge programs), referral (the referral of an accepted offer) and intake (who owns a client,
//! re-screens of check-in answers). The gRPC adapter decodes a request (`crate::convert`), calls one method
//! here with the caller the auth layer attached, and encodes the answer; the rules themselves are pure
//! (`crate::domain`).
//!
//! Split by use case: `entries` (enqueue with its bridge support, read, list, estimate, remove, metrics,
//! care events), `offers` (opening slots, capacity events, answering an offer) and `check_ins`
//! (re-screening through intake, re-banding, the crisis interlock). The commands they take and the
//! results they give live here.

pub mod access;
mod check_ins;
mod entries;
mod offers;

use chrono::{DateTime, Utc};
use continuum_auth::Caller;
use continuum_runtime::care::CareRelationships;
use continuum_vocab::RiskLevel;
use continuum_vocab::ids::{EntryId, OfferId, OrganizationId, ProviderId};

use crate::clock::SharedClock;
use crate::domain::{Band, BandLimits, BridgeRecord, Entry, Offer, Rescreen};
use crate::error::Result;
use crate::holds::Holds;
use crate::peers::intake::IntakePeer;
use crate::peers::matching::MatchingPeer;
use crate::peers::referral::ReferralPeer;
use crate::store::Store;
use crate::workers::bridge_filler::BridgeFiller;

/// An entry as a use case answers it: with its offers (newest first; none in lists), its bridge record
/// when it has one, and its wait fraction as of the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryView {
    /// The entry.
    pub entry: Entry,
    /// Its offers, newest first (empty when listed: `GetEntry` has them).
    pub offers: Vec<Offer>,
    /// Its bridge record, which overrides the entry's own bridge support when present.
    pub bridge: Option<BridgeRecord>,
    /// The share of its band's maximum wait used up as of the answer (see [`Entry::wait_fraction`]).
    pub wait_fraction: f64,
}

/// Which entries to list, in priority order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitlistQuery {
    /// Whose entries (the caller's own organization when absent).
    pub organization_id: Option<OrganizationId>,
    /// Only entries waiting for this provider.
    pub provider_id: Option<ProviderId>,
    /// Only entries in this band.
    pub band: Option<Band>,
}

/// A validated request to open slots of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSlots {
    /// The provider whose slots opened.
    pub provider_id: ProviderId,
    /// How many slots opened (1 to `domain::MAX_SLOTS`).
    pub slots: usize,
    /// The matching capacity event these slots come from; `None` when a person opens them.
    pub event_id: Option<String>,
}

/// What opening slots did, as the caller may see it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedSlots {
    /// The offers made to the caller's own organization's waiting clients.
    pub shown: Vec<Offer>,
    /// How many offers went to other organizations' clients (only counted).
    pub elsewhere: usize,
}

/// A validated answer to an offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferAnswer {
    /// The offer answered.
    pub offer_id: OfferId,
    /// Accepted (a referral is created) or declined (the slot goes to the next entry).
    pub accept: bool,
    /// The first appointment of an accepted offer, when given (otherwise a week after accepting).
    pub appointment_at: Option<DateTime<Utc>>,
}

/// What answering an offer did.
#[derive(Clone, Debug, PartialEq)]
pub struct Answered {
    /// The offer after the answer.
    pub offer: Offer,
    /// The entry it was made to, after the answer.
    pub entry: EntryView,
    /// The offer a declined slot went to next, if anyone was eligible.
    pub next_offer: Option<Offer>,
}

/// A validated check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    /// The entry checked in with.
    pub entry_id: EntryId,
    /// Whether the client answered.
    pub answered: bool,
    /// PHQ-9 items (9, each 0..=3), when answered.
    pub phq9: Option<Vec<i32>>,
    /// GAD-7 items (7, each 0..=3), when answered.
    pub gad7: Option<Vec<i32>>,
    /// A risk level given with the check-in, when answered.
    pub risk: Option<RiskLevel>,
    /// Whether a clinician reports imminent risk (only when answered).
    pub imminent: bool,
    /// The entry version the check-in was made against, when the caller sets the precondition.
    pub expected_version: Option<i64>,
}

/// What a check-in did.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedIn {
    /// The entry after it.
    pub entry: EntryView,
    /// Whether this check-in opened outreach (the second missed in a row).
    pub outreach_opened: bool,
    /// Whether risk rose and the entry left the waitlist for the crisis interlock.
    pub interlock_required: bool,
    /// Whether intake could not re-screen the answers (the waitlist's own rules applied).
    pub rescreen_pending: bool,
    /// Intake's re-screen, when it made one.
    pub rescreen: Option<Rescreen>,
}

/// A validated removal of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The entry removed.
    pub entry_id: EntryId,
    /// Why, in the coordinator's words (trimmed, up to 200 characters).
    pub reason: String,
    /// The entry version being removed, when the caller sets the precondition.
    pub expected_version: Option<i64>,
}

/// The services the waitlist calls.
#[derive(Clone, Debug)]
pub struct WaitlistPeers {
    /// Referral: the referral of an accepted offer.
    pub referral: ReferralPeer,
    /// Intake: re-screens of check-in answers.
    pub intake: IntakePeer,
    /// Matching: whose provider a slot is, and the slots of capacity events.
    pub matching: MatchingPeer,
    /// Intake: whether the caller's organization owns a client it enqueues.
    pub relationships: CareRelationships,
}

/// The waitlist use cases over their ports.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    holds: Holds,
    clock: SharedClock,
    referral: ReferralPeer,
    intake: IntakePeer,
    matching: MatchingPeer,
    relationships: CareRelationships,
    bridges: BridgeFiller,
}

impl App {
    /// Use cases over `store` and the offer `holds`, reading time from `clock`, calling `peers`, and
    /// choosing each new entry's bridge program through `bridges`.
    pub fn new(
        store: Store,
        holds: Holds,
        clock: SharedClock,
        peers: WaitlistPeers,
        bridges: BridgeFiller,
    ) -> Self {
        let WaitlistPeers { referral, intake, matching, relationships } = peers;
        Self { store, holds, clock, referral, intake, matching, relationships, bridges }
    }

    /// The band maxima in force.
    fn limits(&self) -> BandLimits {
        self.store.policy().bands
    }

    /// The entry `id` if `caller` may see it (`NOT_FOUND` otherwise).
    async fn visible_entry(&self, caller: &Caller, id: &EntryId) -> Result<Entry> {
        access::visible(caller, self.store.get_entry(id).await?)
    }

    /// The offer `id` if `caller` may see the entry it was made to (`NOT_FOUND` otherwise).
    async fn visible_offer(&self, caller: &Caller, id: &OfferId) -> Result<(Offer, Entry)> {
        let offer = self.store.get_offer(id).await?;
        let entry = self.store.get_entry(&offer.entry_id).await?;
        access::visible_offer(caller, offer, entry)
    }

    /// `e` with its offers and bridge record, as of now.
    async fn view(&self, e: Entry) -> Result<EntryView> {
        let offers = self.store.offers_of(&e.id).await?;
        let wait_fraction = e.wait_fraction(self.clock.now(), &self.limits());
        let bridge = self.store.bridge_of(&e.id).await?;
        Ok(EntryView { entry: e, offers, bridge, wait_fraction })
    }
}
