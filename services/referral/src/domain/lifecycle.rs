//! The referral lifecycle: the statuses and actions (FHIR Task as used for referrals, CLINICAL.md
//! "Referrals") mirroring their proto enums, the explicit transition table with who may do what, and what
//! an allowed action does (care started, slot given back). System events (escalate, expire, re-route,
//! referrer notified) are recorded by Continuum only and are outside the transition table.

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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
        /// Recipient records the second appointment attended (event only; the hidden wait ends).
        RecordSecondAppointmentAttended => "record_second_appointment_attended",
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

/// The role a caller from `caller_org` acts in for `action` on a referral between `referrer_org` and
/// `recipient_org`, taken from who they are and never from the request: the sides their organization holds
/// (recipient first, then referrer), then the coordinator when `may_coordinate` (the caller holds the
/// coordinator role) — the first of those that may take the action, or else the first they hold (so the
/// refusal names a role). `None` when the caller's organization is on neither side.
pub fn acting_role(
    action: Action,
    caller_org: &str,
    may_coordinate: bool,
    referrer_org: &str,
    recipient_org: &str,
) -> Option<ActorRole> {
    let held = [ActorRole::Recipient, ActorRole::Referrer, ActorRole::Coordinator]
        .into_iter()
        .filter(|&role| {
            (role != ActorRole::Coordinator || may_coordinate)
                && actor_belongs(role, caller_org, referrer_org, recipient_org)
        });
    let mut first = None;
    for role in held {
        if role_may(role, action) {
            return Some(role);
        }
        first.get_or_insert(role);
    }
    first
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
