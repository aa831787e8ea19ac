//! The deadline sweeper and re-routing: closed-loop referrals nobody falls through.
//!
//! [`Deadlines::sweep`] (run by a background worker every sweep interval, and by tests with a chosen
//! "now") escalates a referral still unanswered at its response deadline to a coordinator (event
//! `referral.escalated`, `escalated_at` set); after a second silence (a whole new response window from the
//! escalation) it expires the referral (requested -> failed, the slot goes back through the outbox). A
//! rejected or expired referral that carries ranked alternatives owes a re-route: a new referral to the
//! first alternative with an open slot (idempotency key `reroute:<old id>`), linked both ways, so a "no"
//! never sends the client back to the start. When no alternative can take the client, the old referral is
//! escalated again for a coordinator to act on. Alternatives come from the referrer (intake passes the
//! remaining candidates of its plan, which the client consented to be referred to).
//!
//! Every step is a conditional update (version check, or `needs_reroute = true`), so several replicas may
//! sweep at once and each step happens once; a recipient answering at the same moment wins or loses
//! cleanly. Logs carry ids and codes only.
//!
//! Each referral's step runs in a `referral.deadline` span that continues the trace of the request that
//! created the referral (its stored `traceparent`), so an escalation, expiry or re-route done later by the
//! sweeper — and the outbox row and new referral it creates — belong to the original intake's trace.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_auth::OnBehalfOf;
use continuum_runtime::Shutdown;
use continuum_vocab::Urgency;
use continuum_vocab::ids::ReferralId;
use tracing::Instrument;

use crate::domain::{self, Action, Actor, ActorRole, DeadlineStep, NewReferral, Referral, Status};
use crate::error::{Error, Result};
use crate::peers::matching::MatchingPeer;
use crate::store::{Change, EventDraft, ReferralDraft, Store};
use crate::workers::outbox::Relay;

/// Most referrals one sweep round handles per kind of work (the next round takes the rest).
pub const BATCH: u64 = 200;

/// Note on the escalation recorded when no alternative could take a re-routed client.
pub const NO_ALTERNATIVE: &str = "no_alternative_with_capacity";

/// What one sweep did (ids only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Referrals escalated to a coordinator.
    pub escalated: Vec<String>,
    /// Referrals expired after a second silence.
    pub expired: Vec<String>,
    /// Re-routes settled: (old referral, new referral or `None` when no alternative could take the client).
    pub rerouted: Vec<(String, Option<String>)>,
}

/// The deadline sweeper.
#[derive(Clone, Debug)]
pub struct Deadlines {
    store: Store,
    matching: MatchingPeer,
    relay: Relay,
    /// A fixed response window for every urgency (demos and tests), instead of the clinical defaults.
    window: Option<chrono::TimeDelta>,
}

fn system(organization_id: &str) -> Actor {
    Actor { role: ActorRole::System, organization_id: organization_id.to_owned(), user_id: None }
}

fn system_event(action: Action, status: Status, actor_org: &str, note: Option<&str>) -> EventDraft {
    EventDraft {
        action: Some(action),
        from_status: Some(status),
        to_status: status,
        actor: system(actor_org),
        rejection_reason: None,
        note: note.map(str::to_owned),
        appointment_at: None,
    }
}

impl Deadlines {
    /// A sweeper over `store`, taking slots through `matching` and giving them back through `relay`.
    pub fn new(store: Store, matching: MatchingPeer, relay: Relay) -> Self {
        Self { store, matching, relay, window: None }
    }

    /// This sweeper with every response window (first and second) fixed to `window`, when set
    /// (`CONTINUUM_REFERRAL_RESPONSE_WINDOW_SECS`; demos and browser tests only).
    #[must_use]
    pub fn with_response_window(mut self, window: Option<Duration>) -> Self {
        self.window = window.and_then(|w| chrono::TimeDelta::from_std(w).ok());
        self
    }

    /// When the recipient of a referral of `urgency` created at `created` must answer.
    pub fn response_due_at(&self, urgency: Urgency, created: DateTime<Utc>) -> DateTime<Utc> {
        domain::response_due_within(urgency, created, self.window)
    }

    /// Escalates and expires what is due at `now`, then settles every owed re-route.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Swept> {
        let mut swept = Swept::default();
        for r in self.store.past_deadline(now, BATCH).await? {
            let (action, to, reason) = match domain::deadline_step_within(
                r.status,
                r.urgency,
                r.response_due_at,
                r.escalated_at,
                now,
                self.window,
            ) {
                Some(DeadlineStep::Escalate) => {
                    (Action::Escalate, Status::Requested, "response_deadline_passed")
                }
                Some(DeadlineStep::Expire) => {
                    (Action::Expire, Status::Failed, "second_deadline_passed")
                }
                None => continue,
            };
            let span = self.span_for(&r.id, "deadline").await;
            if !self.step(&r, action, to, now).instrument(span.clone()).await? {
                continue;
            }
            // In the step's span, so the line carries the trace of the request that made the referral.
            span.in_scope(|| {
                tracing::warn!(referral_id = %r.id, action = action.code(), reason, "silent referral swept")
            });
            if action == Action::Escalate {
                swept.escalated.push(r.id.to_string())
            } else {
                swept.expired.push(r.id.to_string())
            }
        }
        for r in self.store.owing_reroute(BATCH).await? {
            let span = self.span_for(&r.id, "reroute").await;
            match self.reroute(&r, now).instrument(span.clone()).await {
                Ok(Some(settled)) => swept.rerouted.push(settled),
                Ok(None) => {}
                // Matching unreachable: the re-route stays owed and the next round retries it.
                Err(e) => span.in_scope(|| {
                    tracing::warn!(referral_id = %r.id, error = %e, "re-route failed; will retry")
                }),
            }
        }
        Ok(swept)
    }

    /// The span of one sweeper step on `referral_id`, continuing the trace of the request that created it.
    async fn span_for(&self, referral_id: &ReferralId, step: &'static str) -> tracing::Span {
        let span = tracing::info_span!("referral.deadline", referral_id = %referral_id, step);
        match self.store.referral_trace_parent(referral_id.as_str()).await {
            Ok(parent) => continuum_telemetry::continue_trace(&span, &parent),
            Err(e) => {
                tracing::debug!(referral_id = %referral_id, error = %e, "no stored trace to continue")
            }
        }
        span
    }

    /// Applies a system step on `r` at its current version; `false` when someone changed it meanwhile.
    async fn step(
        &self,
        r: &Referral,
        action: Action,
        to: Status,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let expire = action == Action::Expire;
        let change = Change {
            referral_id: r.id.clone(),
            expected_version: r.version,
            to,
            starts_care: false,
            event: EventDraft {
                to_status: to,
                ..system_event(action, r.status, r.referrer_organization_id.as_str(), None)
            },
            release_provider_id: (expire && domain::releases_slot(to, r.care_started()))
                .then(|| r.provider_id.clone()),
            now,
            escalate: action == Action::Escalate,
            needs_reroute: expire && domain::reroutes(action, &r.alternative_provider_ids),
            extra_events: Vec::new(),
        };
        match self.store.apply(change).await {
            Ok(applied) => {
                if let Some(outbox_id) = applied.outbox_id {
                    self.relay.deliver_now(&outbox_id).await;
                }
                Ok(true)
            }
            Err(Error::Aborted { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Settles the re-route `referral_id` owes, right after the change that caused it (best effort: what
    /// fails here is retried by the worker).
    pub async fn reroute_now(&self, referral_id: &ReferralId, now: DateTime<Utc>) {
        let attempt = async {
            let r = self.store.get_referral(referral_id).await?;
            if r.needs_reroute { self.reroute(&r, now).await.map(|_| ()) } else { Ok(()) }
        };
        if let Err(e) = attempt.await {
            tracing::warn!(referral_id = %referral_id, error = %e, "immediate re-route failed; the worker will retry");
        }
    }

    /// Re-routes the client of `old` to the first alternative with an open slot. `Ok(None)` when another
    /// replica settled it first; an `Unavailable` error leaves the re-route owed.
    async fn reroute(
        &self,
        old: &Referral,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, Option<String>)>> {
        let key = domain::reroute_key(&old.id);
        // A crash after the new referral was created but before the old one was linked: link it now.
        let new =
            match self.store.find_by_idempotency_key(&old.referrer_organization_id, &key).await? {
                Some(existing) => Some(existing),
                None => self.create_at_next_alternative(old, &key, now).await?,
            };
        let event = match &new {
            Some(n) => system_event(
                Action::Reroute,
                old.status,
                old.referrer_organization_id.as_str(),
                Some(n.id.as_str()),
            ),
            None => system_event(
                Action::Escalate,
                old.status,
                old.referrer_organization_id.as_str(),
                Some(NO_ALTERNATIVE),
            ),
        };
        let new_id = new.map(|n| n.id);
        if !self.store.settle_reroute(&old.id, new_id.as_ref(), event, now).await? {
            return Ok(None);
        }
        match &new_id {
            Some(n) => {
                tracing::info!(referral_id = %old.id, rerouted_to = %n, "client re-routed to the next alternative")
            }
            None => {
                tracing::warn!(referral_id = %old.id, reason = NO_ALTERNATIVE, "re-route impossible; escalated to a coordinator")
            }
        }
        Ok(Some((old.id.to_string(), new_id.map(String::from))))
    }

    /// Takes a slot at the first alternative that has one and creates the new referral there; `None` when
    /// no alternative has a slot (or none is left).
    async fn create_at_next_alternative(
        &self,
        old: &Referral,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Referral>> {
        let candidates =
            domain::reroute_candidates(&old.alternative_provider_ids, &old.provider_id);
        for provider_id in &candidates {
            // A crisis client is never left without a place: the first alternative takes them over capacity.
            let overbook = old.urgency == Urgency::Emergency;
            let hold_key = domain::reroute_hold_key(&old.id, provider_id);
            // The re-route is the referring organization's: Continuum acts for it.
            let who = OnBehalfOf::recorded(old.referrer_organization_id.as_str(), None);
            let taken = match self.matching.take_slot(&who, provider_id, &hold_key, overbook).await
            {
                Ok(t) => t,
                Err(Error::FailedPrecondition { reason, .. }) => {
                    tracing::info!(referral_id = %old.id, provider_id = %provider_id, reason = continuum_errors::reason_code(reason), "alternative cannot take the client");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = domain::initial_status(false);
            let draft = ReferralDraft {
                new: NewReferral {
                    idempotency_key: key.to_owned(),
                    client_id: old.client_id.clone(),
                    intake_id: old.intake_id.clone(),
                    referrer_organization_id: old.referrer_organization_id.clone(),
                    provider_id: provider_id.clone(),
                    urgency: old.urgency,
                    allow_overbook: overbook,
                    scheduled_at: None,
                    alternative_provider_ids: domain::remaining_after(&candidates, provider_id),
                    first_open_alternative: false,
                },
                recipient_organization_id: taken.recipient_organization_id,
                overbooked: taken.overbooked,
                status,
                response_due_at: self.response_due_at(old.urgency, now),
                now,
                events: vec![EventDraft {
                    action: None,
                    from_status: None,
                    to_status: status,
                    actor: system(old.referrer_organization_id.as_str()),
                    rejection_reason: None,
                    note: Some(format!("rerouted_from:{}", old.id)),
                    appointment_at: None,
                }],
                rerouted_from: Some(old.id.clone()),
            };
            let created = match self.store.create_referral(draft).await {
                Ok(r) => Some(r),
                // Another replica created it first (matching took its slot only once per hold key).
                Err(Error::AlreadyExists { .. }) => {
                    self.store.find_by_idempotency_key(&old.referrer_organization_id, key).await?
                }
                Err(e) => return Err(e),
            };
            if let Some(r) = &created {
                // The slot was taken under the re-route's key, not the referral's own: recorded, so giving it
                // back later refills the cohort it came from.
                self.store.record_capacity_hold(&r.id, &hold_key).await?;
            }
            return Ok(created);
        }
        Ok(None)
    }

    /// Sweeps every `every` until `shutdown` is cancelled. Errors are logged and the next round retries.
    pub async fn run(self, every: Duration, shutdown: Shutdown) {
        // The gauge exists from start-up, not only after the first interval.
        self.report_overdue(Utc::now()).await;
        continuum_outbox::run_every("deadline sweeper", every, shutdown, || self.round()).await;
    }

    async fn report_overdue(&self, now: DateTime<Utc>) {
        if let Ok(n) = self.store.count_overdue(now).await {
            metrics::gauge!("continuum_referrals_overdue").set(n as f64);
        }
    }

    async fn round(&self) {
        let now = Utc::now();
        self.report_overdue(now).await;
        match self.sweep(now).await {
            Ok(s) if !(s.escalated.is_empty() && s.expired.is_empty() && s.rerouted.is_empty()) => {
                tracing::info!(
                    escalated = s.escalated.len(),
                    expired = s.expired.len(),
                    rerouted = s.rerouted.len(),
                    "deadline sweep"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deadline sweep failed; retrying next round"),
        }
    }
}
