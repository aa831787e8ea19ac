//! Response deadlines (CLINICAL.md, "Referrals"): when a recipient must answer, what the sweeper does to
//! a silent referral (escalate, then expire), and which alternative a "no" re-routes the client to.

use std::fmt::Display;

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use continuum_vocab::Urgency;

use super::{Action, Status};

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

/// [`response_due_at`], or `created + window` for every urgency when a fixed window is configured
/// (`CONTINUUM_REFERRAL_RESPONSE_WINDOW_SECS`: demos and browser tests, where a deadline must pass within
/// minutes; never a clinical setting).
pub fn response_due_within(
    urgency: Urgency,
    created: DateTime<Utc>,
    window: Option<TimeDelta>,
) -> DateTime<Utc> {
    match window {
        Some(w) => created.checked_add_signed(w).unwrap_or(created),
        None => response_due_at(urgency, created),
    }
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
    deadline_step_within(status, urgency, response_due_at, escalated_at, now, None)
}

/// [`deadline_step`] with the second window fixed to `window` when one is configured (see
/// [`response_due_within`]).
pub fn deadline_step_within(
    status: Status,
    urgency: Urgency,
    response_due_at: DateTime<Utc>,
    escalated_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Option<TimeDelta>,
) -> Option<DeadlineStep> {
    if status != Status::Requested {
        return None;
    }
    match escalated_at {
        None if response_due_at < now => Some(DeadlineStep::Escalate),
        Some(at) if response_due_within(urgency, at, window) < now => Some(DeadlineStep::Expire),
        _ => None,
    }
}

/// Whether a referral ending in `to` by `action` re-routes the client: a rejection, or an expiry after a
/// second silence, while alternatives remain. (A cancellation is the referrer's own choice; a failure
/// after acceptance is for the coordinator to judge.)
pub fn reroutes<P>(action: Action, alternatives: &[P]) -> bool {
    matches!(action, Action::Reject | Action::Expire) && !alternatives.is_empty()
}

/// The providers a re-route tries, best first: the alternatives without the provider that just said no
/// (nor any duplicate).
pub fn reroute_candidates<P, Q>(alternatives: &[P], refused_provider: &Q) -> Vec<P>
where
    P: Clone + PartialEq + PartialEq<Q>,
    Q: ?Sized,
{
    let mut out: Vec<P> = Vec::with_capacity(alternatives.len());
    for p in alternatives {
        if p != refused_provider && !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// The alternatives the new referral carries after re-routing to `chosen`: every other candidate, in the
/// same order (one without a slot today may have one when the next "no" comes).
pub fn remaining_after<P, Q>(candidates: &[P], chosen: &Q) -> Vec<P>
where
    P: Clone + PartialEq<Q>,
    Q: ?Sized,
{
    candidates.iter().filter(|p| *p != chosen).cloned().collect()
}

/// The idempotency key of the referral that re-routes `referral_id`.
pub fn reroute_key(referral_id: impl Display) -> String {
    format!("reroute:{referral_id}")
}

/// The matching hold key of a re-route's slot at `provider_id` (one per provider tried, so a refused take
/// at one provider never blocks the take at the next).
pub fn reroute_hold_key(referral_id: impl Display, provider_id: impl Display) -> String {
    format!("referral:reroute:{referral_id}:{provider_id}")
}
