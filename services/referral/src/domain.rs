//! Pure referral rules: the statuses and actions (FHIR Task as used for referrals, CLINICAL.md
//! "Referrals"), the explicit transition table with who may do what, response deadlines with their
//! escalation and expiry, the choice of the next alternative after a "no", and the retry schedule of the
//! outbox. System events (escalate, expire, re-route, referrer notified) are recorded by Continuum only and
//! are outside the transition table. No I/O here; the store persists, the adapter converts protos.

use std::time::Duration;

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use continuum_vocab::Urgency;

macro_rules! coded {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The stable lowercase code (stored in the database, written to logs).
            pub fn code(self) -> &'static str {
                match self { $($name::$var => $code),+ }
            }

            /// The value for a stored code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$var),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.code()) }
        }
    };
}

coded! {
    /// Referral status (FHIR Task status as used for referrals).
    Status {
        /// Drafted, not yet sent.
        Draft => "draft",
        /// Sent, awaiting the recipient's answer.
        Requested => "requested",
        /// Accepted by the recipient.
        Accepted => "accepted",
        /// Rejected by the recipient.
        Rejected => "rejected",
        /// Cancelled by the referrer.
        Cancelled => "cancelled",
        /// Care has started (first appointment attended).
        InProgress => "in_progress",
        /// Paused.
        OnHold => "on_hold",
        /// Could not be completed.
        Failed => "failed",
        /// Completed.
        Completed => "completed",
        /// Recorded by mistake.
        EnteredInError => "entered_in_error",
    }
}

impl Status {
    /// Whether the recipient may read the handoff packet in this status: only while the referral is open
    /// with it or care went ahead (requested, accepted, in progress, on hold, completed). A draft was never
    /// sent; after a "no", a cancellation, a failure or an error nothing more is shared.
    pub fn shares_packet(self) -> bool {
        matches!(
            self,
            Status::Requested
                | Status::Accepted
                | Status::InProgress
                | Status::OnHold
                | Status::Completed
        )
    }

    /// Whether no action can move the referral on any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Rejected
                | Status::Cancelled
                | Status::Failed
                | Status::Completed
                | Status::EnteredInError
        )
    }
}

coded! {
    /// An action on an existing referral.
    Action {
        /// Recipient acknowledges receipt (event only).
        MarkReceived => "mark_received",
        /// Recipient accepts.
        Accept => "accept",
        /// Recipient rejects, with a reason.
        Reject => "reject",
        /// Referrer cancels.
        Cancel => "cancel",
        /// Recipient schedules the first appointment (event only).
        Schedule => "schedule",
        /// Recipient records a no-show (event only).
        RecordNoShow => "record_no_show",
        /// Recipient records a cancelled appointment (event only).
        CancelAppointment => "cancel_appointment",
        /// Recipient records the first appointment attended: the loop closes.
        RecordFirstAppointmentAttended => "record_first_appointment_attended",
        /// Recipient records the second appointment attended (event only; the hidden wait ends).
        RecordSecondAppointmentAttended => "record_second_appointment_attended",
        /// Recipient completes care.
        Complete => "complete",
        /// Recipient records failure.
        Fail => "fail",
        /// Either side pauses.
        Hold => "hold",
        /// Either side resumes.
        Resume => "resume",
        /// Referrer sends a draft.
        Send => "send",
        /// Either side (or a coordinator) marks the referral as entered in error.
        EnterInError => "enter_in_error",
        /// System: a silent referral (or one no alternative could take) is escalated to a coordinator.
        Escalate => "escalate",
        /// System: a second silence after the escalation: requested -> failed, then re-routed.
        Expire => "expire",
        /// System: the client was re-routed to a new referral.
        Reroute => "reroute",
        /// System: the loop closed and the referrer was notified.
        NotifyReferrer => "notify_referrer",
    }
}

impl Action {
    /// The stable timeline kind of the event this action records.
    pub fn event_kind(self) -> &'static str {
        match self {
            Action::MarkReceived => "referral.received",
            Action::Accept => "referral.accepted",
            Action::Reject => "referral.rejected",
            Action::Cancel => "referral.cancelled",
            Action::Schedule => "referral.scheduled",
            Action::RecordNoShow => "referral.no_show",
            Action::CancelAppointment => "referral.appointment_cancelled",
            Action::RecordFirstAppointmentAttended => "referral.first_appointment_attended",
            Action::RecordSecondAppointmentAttended => "referral.second_appointment_attended",
            Action::Complete => "referral.completed",
            Action::Fail => "referral.failed",
            Action::Hold => "referral.on_hold",
            Action::Resume => "referral.resumed",
            Action::Send => "referral.sent",
            Action::EnterInError => "referral.entered_in_error",
            Action::Escalate => "referral.escalated",
            Action::Expire => "referral.expired",
            Action::Reroute => "referral.rerouted",
            Action::NotifyReferrer => "referral.referrer_notified",
        }
    }

    /// Which side of the referral this action belongs to (CLINICAL.md: the referrer requests and
    /// cancels; the recipient accepts, rejects, schedules, completes or fails).
    pub fn side(self) -> Side {
        match self {
            Action::Send | Action::Cancel => Side::Referrer,
            Action::MarkReceived
            | Action::Accept
            | Action::Reject
            | Action::Schedule
            | Action::RecordNoShow
            | Action::CancelAppointment
            | Action::RecordFirstAppointmentAttended
            | Action::RecordSecondAppointmentAttended
            | Action::Complete
            | Action::Fail => Side::Recipient,
            Action::Hold | Action::Resume | Action::EnterInError => Side::Either,
            Action::Escalate | Action::Expire | Action::Reroute | Action::NotifyReferrer => {
                Side::System
            }
        }
    }

    /// Whether the action is about an appointment (and may carry an appointment time).
    pub fn concerns_appointment(self) -> bool {
        matches!(
            self,
            Action::Schedule
                | Action::RecordNoShow
                | Action::CancelAppointment
                | Action::RecordFirstAppointmentAttended
                | Action::RecordSecondAppointmentAttended
        )
    }
}

/// The kind of the event recorded when a referral is created.
pub const CREATED_KIND: &str = "referral.created";

/// Which party an action belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The referring organization.
    Referrer,
    /// The recipient organization.
    Recipient,
    /// Either of them.
    Either,
    /// Continuum itself (the deadline sweeper, loop closing); never through `TransitionReferral`.
    System,
}

coded! {
    /// Who acts.
    ActorRole {
        /// The referring organization.
        Referrer => "referrer",
        /// The recipient organization.
        Recipient => "recipient",
        /// A care coordinator: may do anything the referrer or the recipient may.
        Coordinator => "coordinator",
        /// Continuum itself (workers); records events, never acts through the transition table.
        System => "system",
    }
}

coded! {
    /// Why a recipient rejected a referral.
    RejectionReason {
        /// No capacity.
        NoCapacity => "no_capacity",
        /// The level of care is not offered.
        LevelOfCareNotOffered => "level_of_care_not_offered",
        /// Payment not accepted.
        Payment => "payment",
        /// The client declined.
        ClientDeclined => "client_declined",
        /// Other (explained in the note).
        Other => "other",
    }
}

/// Whether `role` may perform `action` at all (before looking at the status).
pub fn role_may(role: ActorRole, action: Action) -> bool {
    match role {
        ActorRole::Coordinator => action.side() != Side::System,
        ActorRole::Referrer => matches!(action.side(), Side::Referrer | Side::Either),
        ActorRole::Recipient => matches!(action.side(), Side::Recipient | Side::Either),
        ActorRole::System => false,
    }
}

/// Whether an actor of `role` from `actor_org` speaks for that role on a referral between
/// `referrer_org` and `recipient_org`. A coordinator must belong to one of the two organizations (tenancy:
/// nobody acts on another organization's referrals).
pub fn actor_belongs(
    role: ActorRole,
    actor_org: &str,
    referrer_org: &str,
    recipient_org: &str,
) -> bool {
    match role {
        ActorRole::Referrer => actor_org == referrer_org,
        ActorRole::Recipient => actor_org == recipient_org,
        ActorRole::Coordinator => actor_org == referrer_org || actor_org == recipient_org,
        ActorRole::System => false,
    }
}

/// The transition table: the status `action` leads to from `status`, or `None` when the action is not
/// allowed there. Event-only actions keep the status. `care_started` says whether the first appointment
/// was attended: resuming a hold goes back to where the referral was (accepted before care started,
/// in-progress after), so a resumed referral never forgets that its loop is closed.
pub fn target(status: Status, action: Action, care_started: bool) -> Option<Status> {
    use Action as A;
    use Status as S;
    match (action, status) {
        (A::Send, S::Draft) => Some(S::Requested),
        (A::Cancel, S::Draft | S::Requested | S::Accepted | S::OnHold) => Some(S::Cancelled),
        (A::MarkReceived, S::Requested) => Some(S::Requested),
        (A::Accept, S::Requested) => Some(S::Accepted),
        (A::Reject, S::Requested) => Some(S::Rejected),
        (A::Schedule | A::RecordNoShow | A::CancelAppointment, S::Accepted) => Some(S::Accepted),
        (A::RecordFirstAppointmentAttended, S::Accepted) => Some(S::InProgress),
        (A::RecordSecondAppointmentAttended, S::InProgress) => Some(S::InProgress),
        (A::Complete, S::InProgress) => Some(S::Completed),
        (A::Fail, S::Accepted | S::InProgress) => Some(S::Failed),
        (A::Hold, S::Accepted | S::InProgress) => Some(S::OnHold),
        (A::Resume, S::OnHold) => Some(if care_started { S::InProgress } else { S::Accepted }),
        (A::EnterInError, s) if !s.is_terminal() => Some(S::EnteredInError),
        _ => None,
    }
}

/// What an allowed action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Status after the action (equal to the current one for event-only actions).
    pub to: Status,
    /// Whether this action starts care (the first appointment was attended).
    pub starts_care: bool,
    /// Whether the provider's slot goes back to matching: the referral ends before care started.
    pub releases_slot: bool,
}

/// Why an action is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The action is not allowed from the current status, for anyone.
    TransitionNotAllowed {
        /// Current status.
        status: Status,
        /// Requested action.
        action: Action,
    },
    /// The action exists from this status, but not for this role.
    ActorNotAllowed {
        /// Acting role.
        role: ActorRole,
        /// Requested action.
        action: Action,
    },
}

/// Decides `action` by `role` on a referral in `status`.
pub fn decide(
    status: Status,
    care_started: bool,
    action: Action,
    role: ActorRole,
) -> Result<Decision, Refusal> {
    let to = target(status, action, care_started)
        .ok_or(Refusal::TransitionNotAllowed { status, action })?;
    if !role_may(role, action) {
        return Err(Refusal::ActorNotAllowed { role, action });
    }
    Ok(Decision {
        to,
        starts_care: action == Action::RecordFirstAppointmentAttended,
        releases_slot: releases_slot(to, care_started),
    })
}

/// Whether moving to `to` ends the referral without care having started (REJECT, CANCEL, ENTER_IN_ERROR,
/// FAIL before the first appointment was attended): then the slot taken at creation goes back. Every
/// referral takes its slot when it is created (drafts are not created through the API today); if drafts
/// ever are, they must take the slot on SEND or this rule must also ask whether a slot was taken.
pub fn releases_slot(to: Status, care_started: bool) -> bool {
    !care_started
        && matches!(
            to,
            Status::Rejected | Status::Cancelled | Status::Failed | Status::EnteredInError
        )
}

/// The status of a new referral: accepted when it arrives already scheduled (an accepted waitlist offer),
/// otherwise requested.
pub fn initial_status(scheduled: bool) -> Status {
    if scheduled { Status::Accepted } else { Status::Requested }
}

/// When the recipient must have answered a referral created at `created`: emergency within 4 hours,
/// urgent within 1 business day, anything else within 2 business days (CLINICAL.md, "Referrals").
pub fn response_due_at(urgency: Urgency, created: DateTime<Utc>) -> DateTime<Utc> {
    match urgency {
        Urgency::Emergency => created.checked_add_signed(TimeDelta::hours(4)).unwrap_or(created),
        Urgency::Urgent => add_business_days(created, 1),
        Urgency::Routine | Urgency::Soon => add_business_days(created, 2),
    }
}

/// `t` moved forward by `days` business days (Monday to Friday), keeping the time of day. A start on a
/// weekend counts from the following Monday: Saturday + 1 business day is Monday. Days are UTC days;
/// organizations' time zones and public holidays are not modelled yet.
pub fn add_business_days(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let mut at = t;
    let mut left = days;
    while left > 0 {
        let Some(next) = at.checked_add_signed(TimeDelta::days(1)) else {
            return at;
        };
        at = next;
        if !matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    at
}

/// Whether a referral is overdue at `now`: still requested and past its response deadline.
pub fn is_overdue(status: Status, response_due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == Status::Requested && response_due_at < now
}

/// What the deadline sweeper does to a referral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineStep {
    /// First silence: escalate to a coordinator (the referral stays requested).
    Escalate,
    /// Second silence (a whole new response window after the escalation): requested -> failed, and the
    /// client is re-routed to the next alternative.
    Expire,
}

/// The second deadline: a whole new response window, counted from the escalation.
pub fn second_deadline(urgency: Urgency, escalated_at: DateTime<Utc>) -> DateTime<Utc> {
    response_due_at(urgency, escalated_at)
}

/// What the sweeper does at `now` to a referral in `status`: only an unanswered (requested) referral past
/// its deadline is touched: escalated first, expired after a second silence.
pub fn deadline_step(
    status: Status,
    urgency: Urgency,
    response_due_at: DateTime<Utc>,
    escalated_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DeadlineStep> {
    if status != Status::Requested {
        return None;
    }
    match escalated_at {
        None if response_due_at < now => Some(DeadlineStep::Escalate),
        Some(at) if second_deadline(urgency, at) < now => Some(DeadlineStep::Expire),
        _ => None,
    }
}

/// Whether a referral ending in `to` by `action` re-routes the client: a rejection, or an expiry after a
/// second silence, while alternatives remain. (A cancellation is the referrer's own choice; a failure
/// after acceptance is for the coordinator to judge.)
pub fn reroutes(action: Action, alternatives: &[String]) -> bool {
    matches!(action, Action::Reject | Action::Expire) && !alternatives.is_empty()
}

/// The providers a re-route tries, best first: the alternatives without the provider that just said no
/// (nor any duplicate).
pub fn reroute_candidates(alternatives: &[String], refused_provider: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(alternatives.len());
    for p in alternatives {
        if p != refused_provider && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The alternatives the new referral carries after re-routing to `chosen`: every other candidate, in the
/// same order (one without a slot today may have one when the next "no" comes).
pub fn remaining_after(candidates: &[String], chosen: &str) -> Vec<String> {
    candidates.iter().filter(|p| p.as_str() != chosen).cloned().collect()
}

/// The idempotency key of the referral that re-routes `referral_id`.
pub fn reroute_key(referral_id: &str) -> String {
    format!("reroute:{referral_id}")
}

/// The matching hold key of a re-route's slot at `provider_id` (one per provider tried, so a refused take
/// at one provider never blocks the take at the next).
pub fn reroute_hold_key(referral_id: &str, provider_id: &str) -> String {
    format!("referral:reroute:{referral_id}:{provider_id}")
}

/// Most alternatives one referral may carry.
pub const MAX_ALTERNATIVES: usize = 20;

/// Retry delays of an outbox delivery: 1 s doubling, at most a minute.
pub const RETRY: continuum_outbox::Backoff =
    continuum_outbox::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// A referral as the domain sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Referral {
    /// Id (UUIDv7).
    pub id: String,
    /// Idempotency key of its creation.
    pub idempotency_key: String,
    /// Client.
    pub client_id: String,
    /// Intake it came from.
    pub intake_id: String,
    /// Referring organization.
    pub referrer_organization_id: String,
    /// Recipient organization (the provider's).
    pub recipient_organization_id: String,
    /// Provider referred to.
    pub provider_id: String,
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
    pub alternative_provider_ids: Vec<String>,
    /// Whether a re-route is owed (rejected or expired with alternatives, not yet re-routed).
    pub needs_reroute: bool,
    /// The referral this one was re-routed to.
    pub rerouted_to_referral_id: Option<String>,
    /// The referral this one re-routes.
    pub rerouted_from_referral_id: Option<String>,
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
    pub referral_id: String,
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
    pub client_id: String,
    /// Intake.
    pub intake_id: String,
    /// Referring organization.
    pub referrer_organization_id: String,
    /// Provider.
    pub provider_id: String,
    /// Urgency.
    pub urgency: Urgency,
    /// Take the slot even when none is open.
    pub allow_overbook: bool,
    /// First appointment, when created already scheduled.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Ranked alternatives a "no" re-routes to (provider ids, best first).
    pub alternative_provider_ids: Vec<String>,
}

impl NewReferral {
    /// Whether `existing` (found under the same idempotency key) is the referral this request describes.
    /// A key reused for a different client, intake, provider or referrer is refused rather than answered
    /// with another organization's referral.
    pub fn same_as(&self, existing: &Referral) -> bool {
        existing.client_id == self.client_id
            && existing.intake_id == self.intake_id
            && existing.referrer_organization_id == self.referrer_organization_id
            && existing.provider_id == self.provider_id
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
pub fn scoped_key(referrer_organization_id: &str, key: &str) -> String {
    format!("{referrer_organization_id}:{key}")
}

/// The matching hold key of giving a referral's slot back (applied at most once per referral).
pub fn release_hold_key(referral_id: &str) -> String {
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
    pub referral_id: String,
    /// Version being changed.
    pub expected_version: i64,
    /// Action.
    pub action: Action,
    /// Who acts.
    pub actor: Actor,
    /// Rejection reason (only when rejecting, and then required).
    pub rejection_reason: Option<RejectionReason>,
    /// Operational note (up to 500 characters).
    pub note: Option<String>,
    /// Appointment time (required when scheduling).
    pub appointment_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use chrono::TimeZone;

    const ROLES: [ActorRole; 4] =
        [ActorRole::Referrer, ActorRole::Recipient, ActorRole::Coordinator, ActorRole::System];

    /// The whole table, written out once more by hand: (action, from, to before care, allowed sides).
    fn expected(action: Action, from: Status, care_started: bool) -> Option<Status> {
        use Action as A;
        use Status as S;
        let allowed: &[(A, &[S], S)] = &[
            (A::Send, &[S::Draft], S::Requested),
            (A::Cancel, &[S::Draft, S::Requested, S::Accepted, S::OnHold], S::Cancelled),
            (A::MarkReceived, &[S::Requested], S::Requested),
            (A::Accept, &[S::Requested], S::Accepted),
            (A::Reject, &[S::Requested], S::Rejected),
            (A::Schedule, &[S::Accepted], S::Accepted),
            (A::RecordNoShow, &[S::Accepted], S::Accepted),
            (A::CancelAppointment, &[S::Accepted], S::Accepted),
            (A::RecordFirstAppointmentAttended, &[S::Accepted], S::InProgress),
            (A::RecordSecondAppointmentAttended, &[S::InProgress], S::InProgress),
            (A::Complete, &[S::InProgress], S::Completed),
            (A::Fail, &[S::Accepted, S::InProgress], S::Failed),
            (A::Hold, &[S::Accepted, S::InProgress], S::OnHold),
            (A::Resume, &[S::OnHold], S::Accepted),
            (
                A::EnterInError,
                &[S::Draft, S::Requested, S::Accepted, S::InProgress, S::OnHold],
                S::EnteredInError,
            ),
        ];
        allowed
            .iter()
            .find(|(a, froms, _)| *a == action && froms.contains(&from))
            .map(|(_, _, to)| if action == A::Resume && care_started { S::InProgress } else { *to })
    }

    #[test]
    fn every_status_action_pair_matches_the_table() {
        let mut allowed = 0;
        for &status in Status::ALL {
            for &action in Action::ALL {
                for care in [false, true] {
                    assert_eq!(
                        target(status, action, care),
                        expected(action, status, care),
                        "{status} x {action} (care {care})"
                    );
                    if care {
                        continue;
                    }
                    if target(status, action, care).is_some() {
                        allowed += 1;
                    }
                }
            }
        }
        assert_eq!(allowed, 24, "number of allowed (status, action) pairs");
    }

    #[test]
    fn the_packet_is_shared_only_while_the_referral_is_open_or_care_went_ahead() {
        let shared: Vec<Status> =
            Status::ALL.iter().copied().filter(|s| s.shares_packet()).collect();
        assert_eq!(
            shared,
            vec![
                Status::Requested,
                Status::Accepted,
                Status::InProgress,
                Status::OnHold,
                Status::Completed
            ]
        );
        // Every end without care, and a draft never sent, share nothing.
        for s in [
            Status::Draft,
            Status::Rejected,
            Status::Cancelled,
            Status::Failed,
            Status::EnteredInError,
        ] {
            assert!(!s.shares_packet(), "{s}");
        }
    }

    #[test]
    fn terminal_statuses_allow_nothing() {
        for &status in Status::ALL.iter().filter(|s| s.is_terminal()) {
            for &action in Action::ALL {
                for &role in &ROLES {
                    assert_eq!(
                        decide(status, false, action, role),
                        Err(Refusal::TransitionNotAllowed { status, action }),
                        "{status} x {action}"
                    );
                }
            }
        }
    }

    #[test]
    fn roles_follow_the_sides() {
        for &action in Action::ALL {
            let (referrer, recipient) = match action.side() {
                Side::Referrer => (true, false),
                Side::Recipient => (false, true),
                Side::Either => (true, true),
                Side::System => {
                    // System events are recorded by Continuum, never requested by anyone.
                    for role in ROLES {
                        assert!(!role_may(role, action), "{role} x {action}");
                    }
                    continue;
                }
            };
            assert_eq!(role_may(ActorRole::Referrer, action), referrer, "{action}");
            assert_eq!(role_may(ActorRole::Recipient, action), recipient, "{action}");
            assert!(role_may(ActorRole::Coordinator, action), "{action}");
            assert!(!role_may(ActorRole::System, action), "{action}");
        }
        assert_eq!(Action::Send.side(), Side::Referrer);
        assert_eq!(Action::Cancel.side(), Side::Referrer);
        assert_eq!(Action::Accept.side(), Side::Recipient);
        assert_eq!(Action::Reject.side(), Side::Recipient);
        assert_eq!(Action::Complete.side(), Side::Recipient);
        assert_eq!(Action::Hold.side(), Side::Either);
        assert_eq!(Action::EnterInError.side(), Side::Either);
    }

    #[test]
    fn decide_checks_status_then_role() {
        assert_eq!(
            decide(Status::Requested, false, Action::Accept, ActorRole::Referrer),
            Err(Refusal::ActorNotAllowed { role: ActorRole::Referrer, action: Action::Accept })
        );
        assert_eq!(
            decide(Status::Accepted, false, Action::Accept, ActorRole::Referrer),
            Err(Refusal::TransitionNotAllowed { status: Status::Accepted, action: Action::Accept })
        );
        assert_eq!(
            decide(Status::Requested, false, Action::Cancel, ActorRole::Recipient),
            Err(Refusal::ActorNotAllowed { role: ActorRole::Recipient, action: Action::Cancel })
        );
        let d = decide(Status::Requested, false, Action::Accept, ActorRole::Coordinator).unwrap();
        assert_eq!(d, Decision { to: Status::Accepted, starts_care: false, releases_slot: false });
        let d = decide(
            Status::Accepted,
            false,
            Action::RecordFirstAppointmentAttended,
            ActorRole::Recipient,
        )
        .unwrap();
        assert_eq!(d, Decision { to: Status::InProgress, starts_care: true, releases_slot: false });
    }

    #[test]
    fn slot_goes_back_only_when_ending_before_care() {
        let r =
            |status, care, action, role| decide(status, care, action, role).unwrap().releases_slot;
        assert!(r(Status::Requested, false, Action::Reject, ActorRole::Recipient));
        assert!(r(Status::Requested, false, Action::Cancel, ActorRole::Referrer));
        assert!(r(Status::Accepted, false, Action::Cancel, ActorRole::Referrer));
        assert!(r(Status::OnHold, false, Action::Cancel, ActorRole::Referrer));
        assert!(r(Status::Requested, false, Action::EnterInError, ActorRole::Coordinator));
        assert!(r(Status::Accepted, false, Action::Fail, ActorRole::Recipient));
        assert!(!r(Status::InProgress, true, Action::Fail, ActorRole::Recipient));
        assert!(!r(Status::InProgress, true, Action::Complete, ActorRole::Recipient));
        assert!(!r(Status::InProgress, true, Action::EnterInError, ActorRole::Referrer));
        assert!(!r(Status::OnHold, true, Action::Cancel, ActorRole::Referrer));
        assert!(!r(Status::Requested, false, Action::Accept, ActorRole::Recipient));
        assert!(!r(Status::Accepted, false, Action::Hold, ActorRole::Recipient));
    }

    #[test]
    fn resume_returns_to_where_the_hold_started() {
        assert_eq!(target(Status::OnHold, Action::Resume, false), Some(Status::Accepted));
        assert_eq!(target(Status::OnHold, Action::Resume, true), Some(Status::InProgress));
    }

    #[test]
    fn actors_must_speak_for_their_side() {
        let (a, b, c) = ("org-a", "org-b", "org-c");
        assert!(actor_belongs(ActorRole::Referrer, a, a, b));
        assert!(!actor_belongs(ActorRole::Referrer, b, a, b));
        assert!(actor_belongs(ActorRole::Recipient, b, a, b));
        assert!(!actor_belongs(ActorRole::Recipient, a, a, b));
        assert!(actor_belongs(ActorRole::Coordinator, a, a, b));
        assert!(actor_belongs(ActorRole::Coordinator, b, a, b));
        assert!(!actor_belongs(ActorRole::Coordinator, c, a, b));
        assert!(!actor_belongs(ActorRole::System, a, a, b));
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn business_days_skip_weekends() {
        // 2026-01-05 is a Monday.
        assert_eq!(add_business_days(at(2026, 1, 5, 9), 1), at(2026, 1, 6, 9));
        assert_eq!(add_business_days(at(2026, 1, 5, 9), 2), at(2026, 1, 7, 9));
        // Thursday + 2 = Monday; Friday + 1 = Monday; Friday + 2 = Tuesday.
        assert_eq!(add_business_days(at(2026, 1, 8, 9), 2), at(2026, 1, 12, 9));
        assert_eq!(add_business_days(at(2026, 1, 9, 17), 1), at(2026, 1, 12, 17));
        assert_eq!(add_business_days(at(2026, 1, 9, 17), 2), at(2026, 1, 13, 17));
        // Saturday and Sunday count from Monday.
        assert_eq!(add_business_days(at(2026, 1, 10, 12), 1), at(2026, 1, 12, 12));
        assert_eq!(add_business_days(at(2026, 1, 11, 12), 2), at(2026, 1, 13, 12));
        assert_eq!(add_business_days(at(2026, 1, 11, 12), 0), at(2026, 1, 11, 12));
        // Never panics at the end of time.
        let _ = add_business_days(DateTime::<Utc>::MAX_UTC, 2);
    }

    #[test]
    fn response_deadlines_by_urgency() {
        let friday = at(2026, 1, 9, 15);
        assert_eq!(response_due_at(Urgency::Emergency, friday), at(2026, 1, 9, 19));
        assert_eq!(response_due_at(Urgency::Urgent, friday), at(2026, 1, 12, 15));
        assert_eq!(response_due_at(Urgency::Soon, friday), at(2026, 1, 13, 15));
        assert_eq!(response_due_at(Urgency::Routine, friday), at(2026, 1, 13, 15));
        assert_eq!(
            response_due_at(Urgency::Emergency, DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn overdue_means_unanswered_past_the_deadline() {
        let due = at(2026, 1, 9, 15);
        assert!(is_overdue(Status::Requested, due, at(2026, 1, 9, 16)));
        assert!(!is_overdue(Status::Requested, due, at(2026, 1, 9, 14)));
        assert!(!is_overdue(Status::Accepted, due, at(2026, 1, 9, 16)));
    }

    #[test]
    fn codes_round_trip_and_kinds_are_stable() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(*s));
        }
        for a in Action::ALL {
            assert_eq!(Action::from_code(a.code()), Some(*a));
            assert!(a.event_kind().starts_with("referral."));
        }
        for r in ActorRole::ALL {
            assert_eq!(ActorRole::from_code(r.code()), Some(*r));
        }
        for r in RejectionReason::ALL {
            assert_eq!(RejectionReason::from_code(r.code()), Some(*r));
        }
        assert_eq!(
            Action::RecordFirstAppointmentAttended.event_kind(),
            "referral.first_appointment_attended"
        );
        assert_eq!(Action::Accept.event_kind(), "referral.accepted");
        assert_eq!(Status::from_code("nope"), None);
    }

    #[test]
    fn hold_keys() {
        assert_eq!(take_hold_key("k-1"), "referral:k-1");
        assert_eq!(take_hold_key(&scoped_key("org-a", "k-1")), "referral:org-a:k-1");
        assert_ne!(
            take_hold_key(&scoped_key("org-a", "k-1")),
            take_hold_key(&scoped_key("org-b", "k-1"))
        );
        assert_eq!(release_hold_key("r-1"), "referral-release:r-1");
        assert_eq!(initial_status(true), Status::Accepted);
        assert_eq!(initial_status(false), Status::Requested);
    }

    #[test]
    fn deadlines_escalate_then_expire() {
        let created = at(2026, 1, 5, 9); // Monday
        let due = response_due_at(Urgency::Routine, created); // Wednesday 09:00
        let step =
            |status, escalated, now| deadline_step(status, Urgency::Routine, due, escalated, now);
        assert_eq!(step(Status::Requested, None, at(2026, 1, 7, 8)), None);
        assert_eq!(step(Status::Requested, None, at(2026, 1, 7, 10)), Some(DeadlineStep::Escalate));
        assert_eq!(step(Status::Accepted, None, at(2026, 1, 7, 10)), None);
        let escalated = Some(at(2026, 1, 7, 10));
        // The second window is two more business days from the escalation: Friday 10:00.
        assert_eq!(second_deadline(Urgency::Routine, at(2026, 1, 7, 10)), at(2026, 1, 9, 10));
        assert_eq!(step(Status::Requested, escalated, at(2026, 1, 9, 9)), None);
        assert_eq!(
            step(Status::Requested, escalated, at(2026, 1, 9, 11)),
            Some(DeadlineStep::Expire)
        );
        assert_eq!(step(Status::Rejected, escalated, at(2026, 1, 9, 11)), None);
        // Crisis referrals escalate within hours.
        let crisis_due = response_due_at(Urgency::Emergency, created);
        assert_eq!(
            deadline_step(
                Status::Requested,
                Urgency::Emergency,
                crisis_due,
                None,
                at(2026, 1, 5, 14)
            ),
            Some(DeadlineStep::Escalate)
        );
    }

    #[test]
    fn reroutes_go_to_the_next_alternatives_in_order() {
        let alts: Vec<String> = ["a", "b", "a", "c"].iter().map(|s| (*s).to_owned()).collect();
        assert!(reroutes(Action::Reject, &alts));
        assert!(reroutes(Action::Expire, &alts));
        assert!(!reroutes(Action::Cancel, &alts));
        assert!(!reroutes(Action::Reject, &[]));
        let c = reroute_candidates(&alts, "b");
        assert_eq!(c, vec!["a".to_owned(), "c".to_owned()]);
        assert_eq!(remaining_after(&c, "a"), vec!["c".to_owned()]);
        assert_eq!(reroute_key("r-1"), "reroute:r-1");
        assert_eq!(reroute_hold_key("r-1", "p"), "referral:reroute:r-1:p");
    }
}
