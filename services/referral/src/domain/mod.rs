//! Pure referral rules: the statuses and actions (FHIR Task as used for referrals, CLINICAL.md
//! "Referrals"), the explicit transition table with who may do what, response deadlines with their
//! escalation and expiry, the choice of the next alternative after a "no", and the retry schedule of the
//! outbox. System events (escalate, expire, re-route, referrer notified) are recorded by Continuum only and
//! are outside the transition table. No I/O here; the store persists, `convert` maps protos.
//!
//! Split by topic: `lifecycle` (statuses, actions, the transition table), `deadlines` (response windows,
//! escalation, re-routing); the records (`Referral`, `Event`, commands) and key formats live here.

use std::time::Duration;

use chrono::{DateTime, Utc};
use std::fmt::Display;

use continuum_vocab::Urgency;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId, ProviderId, ReferralId};

mod deadlines;
mod lifecycle;
#[cfg(test)]
mod tests;

pub use deadlines::*;
pub use lifecycle::*;

/// Most alternatives one referral may carry.
pub const MAX_ALTERNATIVES: usize = 20;

/// Retry delays of an outbox delivery: 1 s doubling, at most a minute.
pub const RETRY: continuum_outbox::Backoff =
    continuum_outbox::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// A referral as the domain sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Referral {
    /// Id (UUIDv7).
    pub id: ReferralId,
    /// Idempotency key of its creation.
    pub idempotency_key: String,
    /// Client.
    pub client_id: ClientId,
    /// Intake it came from.
    pub intake_id: IntakeId,
    /// Referring organization.
    pub referrer_organization_id: OrganizationId,
    /// Recipient organization (the provider's).
    pub recipient_organization_id: OrganizationId,
    /// Provider referred to.
    pub provider_id: ProviderId,
    /// Current status.
    pub status: Status,
    /// Urgency.
    pub urgency: Urgency,
    /// Whether the slot was taken over capacity.
    pub overbooked: bool,
    /// Response deadline.
    pub response_due_at: DateTime<Utc>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When the first appointment was attended, once it was.
    pub care_started_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version (1 at creation, +1 per action).
    pub version: i64,
    /// When the silent referral was escalated to a coordinator.
    pub escalated_at: Option<DateTime<Utc>>,
    /// Ranked alternatives a "no" re-routes to (provider ids, best first).
    pub alternative_provider_ids: Vec<ProviderId>,
    /// Whether a re-route is owed (rejected or expired with alternatives, not yet re-routed).
    pub needs_reroute: bool,
    /// The referral this one was re-routed to.
    pub rerouted_to_referral_id: Option<ReferralId>,
    /// The referral this one re-routes.
    pub rerouted_from_referral_id: Option<ReferralId>,
    /// Events, oldest first (empty when listed).
    pub events: Vec<Event>,
}

impl Referral {
    /// Whether care has started (the loop is closed).
    pub fn care_started(&self) -> bool {
        self.care_started_at.is_some()
    }
}

/// Something that happened to a referral: who, when, why.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Id (UUIDv7).
    pub id: String,
    /// Referral.
    pub referral_id: ReferralId,
    /// The action; `None` for the creation event.
    pub action: Option<Action>,
    /// Status before (`None` for the creation event).
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// Acting role.
    pub actor_role: ActorRole,
    /// Acting organization.
    pub actor_organization_id: String,
    /// Acting user, if known.
    pub actor_user_id: Option<String>,
    /// Rejection reason, when rejecting.
    pub rejection_reason: Option<RejectionReason>,
    /// Operational note.
    pub note: Option<String>,
    /// Appointment time, for appointment events.
    pub appointment_at: Option<DateTime<Utc>>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl Event {
    /// The stable timeline kind ("referral.created", "referral.accepted" ...).
    pub fn kind(&self) -> &'static str {
        self.action.map_or(CREATED_KIND, Action::event_kind)
    }
}

/// A validated request to create a referral.
#[derive(Clone, Debug, PartialEq)]
pub struct NewReferral {
    /// Idempotency key (1..128 characters).
    pub idempotency_key: String,
    /// Client.
    pub client_id: ClientId,
    /// Intake.
    pub intake_id: IntakeId,
    /// Referring organization.
    pub referrer_organization_id: OrganizationId,
    /// Provider.
    pub provider_id: ProviderId,
    /// Urgency.
    pub urgency: Urgency,
    /// Take the slot even when none is open.
    pub allow_overbook: bool,
    /// First appointment, when created already scheduled.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Ranked alternatives a "no" re-routes to (provider ids, best first).
    pub alternative_provider_ids: Vec<ProviderId>,
    /// Refer to the first of the alternatives with an open slot when the provider has none.
    pub first_open_alternative: bool,
}

impl NewReferral {
    /// Whether `existing` (found under the same idempotency key) is the referral this request describes.
    /// A key reused for a different client, intake, provider or referrer is refused rather than answered
    /// with another organization's referral. With `first_open_alternative` the referral may have gone to
    /// any of the providers the request names.
    pub fn same_as(&self, existing: &Referral) -> bool {
        let provider = existing.provider_id == self.provider_id
            || (self.first_open_alternative
                && self.alternative_provider_ids.contains(&existing.provider_id));
        existing.client_id == self.client_id
            && existing.intake_id == self.intake_id
            && existing.referrer_organization_id == self.referrer_organization_id
            && provider
    }

    /// This referral sent to `provider`, one of those it names (first-open: the first with a slot): the
    /// others it named, in their order, become its alternatives.
    pub fn sent_to(mut self, provider: ProviderId) -> Self {
        if provider != self.provider_id {
            let mut named = vec![self.provider_id.clone()];
            named.extend_from_slice(&self.alternative_provider_ids);
            self.alternative_provider_ids = remaining_after(&named, &provider);
            self.provider_id = provider;
        }
        self
    }
}

/// The matching hold key of a referral's slot (idempotent per creation key), from the key as stored
/// ([`scoped_key`]), so two organizations' referrals under the same key never share a hold.
pub fn take_hold_key(stored_key: &str) -> String {
    format!("referral:{stored_key}")
}

/// The stored form of a referrer's idempotency key: unique per referring organization, not across them
/// (one organization's key never collides with, or reveals, another's, in referral or in matching's hold
/// keys). Rows written before keys were scoped keep their bare keys.
pub fn scoped_key(referrer_organization_id: impl Display, key: &str) -> String {
    format!("{referrer_organization_id}:{key}")
}

/// The matching hold key of giving a referral's slot back (applied at most once per referral).
pub fn release_hold_key(referral_id: impl Display) -> String {
    format!("referral-release:{referral_id}")
}

/// Who acts on a referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Role.
    pub role: ActorRole,
    /// Organization.
    pub organization_id: String,
    /// User, if known.
    pub user_id: Option<String>,
}

/// A validated request to apply one action.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// Referral.
    pub referral_id: ReferralId,
    /// Version being changed.
    pub expected_version: i64,
    /// Action.
    pub action: Action,
    /// Rejection reason (only when rejecting, and then required).
    pub rejection_reason: Option<RejectionReason>,
    /// Operational note (up to 500 characters).
    pub note: Option<String>,
    /// Appointment time (required when scheduling).
    pub appointment_at: Option<DateTime<Utc>>,
}
