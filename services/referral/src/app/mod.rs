//! The referral service's use cases: the only place that decides access (`access`) and talks to the
//! ports — the store, matching (slots), intake (handoff packets, care relationships), the outbox relay,
//! the deadline sweeper and the timeline sources. The gRPC adapter decodes a request (`crate::convert`),
//! calls one method here with the caller the auth layer attached, and encodes the answer; the rules
//! themselves are pure (`crate::domain`).

pub mod access;
mod watch;

use chrono::{DateTime, Utc};
use continuum_auth::{Caller, OnBehalfOf};
use continuum_errors::page::Page;
use continuum_proto::common::v1::CareEvent;
use continuum_proto::intake::v1::Intake;
use continuum_runtime::Shutdown;
use continuum_runtime::care::{CareRelationships, Needs};
use continuum_vocab::Urgency;
use continuum_vocab::ids::{ClientId, OrganizationId, ProviderId, ReferralId};

pub use self::watch::{WATCH_BATCH, WATCH_POLL, Watched};
use crate::domain::{
    self, Action, Actor, ActorRole, Command, NewReferral, Referral, Refusal, Status,
};
use crate::error::{Error, ErrorReason, Result};
use crate::peers::intake::IntakePeer;
use crate::peers::matching::MatchingPeer;
use crate::peers::timeline::{self, CareSources, PeerSteps};
use crate::store::{Change, EventDraft, ReferralDraft, ReferralFilter, Store};
use crate::workers::deadlines::Deadlines;
use crate::workers::outbox::Relay;

/// Which referrals to list.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferralQuery {
    /// Whose (the caller's own organization when absent).
    pub organization_id: Option<OrganizationId>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this urgency.
    pub urgency: Option<Urgency>,
    /// Only referrals still requested and past their deadline now.
    pub overdue_only: bool,
    /// Only referrals of this client.
    pub client_id: Option<ClientId>,
    /// Only referrals to one of these providers (none: any provider).
    pub provider_ids: Vec<ProviderId>,
}

/// Where a watch starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchFrom {
    /// Whose events (the caller's own organization when absent).
    pub organization_id: Option<OrganizationId>,
    /// Resume strictly after this event id.
    pub cursor: Option<String>,
    /// Without a cursor: start with the events that occurred at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// A handoff packet as its recipient reads it.
#[derive(Clone, Debug)]
pub struct Packet {
    /// The referral.
    pub referral: Referral,
    /// What intake released to the recipient under the client's consent.
    pub intake: Intake,
    /// The consent categories shared.
    pub shared_categories: Vec<i32>,
}

/// A client's care timeline.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// Steps, oldest first.
    pub entries: Vec<CareEvent>,
    /// The sources that could not be read now.
    pub unavailable: Vec<&'static str>,
}

/// The services a referral calls: matching (slots), intake (handoff packets, care relationships).
#[derive(Clone, Debug)]
pub struct ReferralPeers {
    /// Matching: slots taken and given back.
    pub matching: MatchingPeer,
    /// Intake: handoff packets.
    pub intake: IntakePeer,
    /// Intake: whether the caller's organization owns a client.
    pub relationships: CareRelationships,
}

/// The referral use cases over their ports.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    matching: MatchingPeer,
    intake: IntakePeer,
    relationships: CareRelationships,
    relay: Relay,
    deadlines: Deadlines,
    shutdown: Shutdown,
    sources: Option<CareSources>,
}

impl App {
    /// Use cases over `store`, calling `peers`, giving slots back through `relay`, re-routing through
    /// `deadlines`; watches end when `shutdown` is cancelled.
    pub fn new(
        store: Store,
        peers: ReferralPeers,
        relay: Relay,
        deadlines: Deadlines,
        shutdown: Shutdown,
    ) -> Self {
        let ReferralPeers { matching, intake, relationships } = peers;
        Self { store, matching, intake, relationships, relay, deadlines, shutdown, sources: None }
    }

    /// These use cases, adding the intake, waitlist and feedback steps read from `sources` to care
    /// timelines (without them a timeline holds the referral steps only).
    #[must_use]
    pub fn with_care_sources(mut self, sources: CareSources) -> Self {
        self.sources = Some(sources);
        self
    }

    /// The referral `id` if `caller` may see it; `NOT_FOUND` otherwise, so its existence does not leak.
    pub async fn get_referral(&self, caller: &Caller, id: &ReferralId) -> Result<Referral> {
        access::visible(caller, self.store.get_referral(id).await?)
    }

    /// Creates a referral for the caller's own organization and client (replaying an earlier creation
    /// under the same idempotency key). With `held`, the provider's slot was already taken in matching
    /// under that hold key (an accepted waitlist offer; only a Continuum service may say so), so no
    /// capacity is taken again. The answer says whether it was replayed.
    pub async fn create_referral(
        &self,
        caller: &Caller,
        new: NewReferral,
        held: Option<String>,
    ) -> Result<(Referral, bool)> {
        access::refers_for_own_organization(caller, new.referrer_organization_id.as_str())?;
        if held.is_some() && !caller.is_service() {
            // Naming a hold skips the capacity take: only Continuum's own services (the waitlist) may.
            return Err(Error::PermissionDenied(
                "only a Continuum service may name a capacity hold".to_owned(),
            ));
        }
        // Only the organization that took the client's intake refers the client (intake decides; another
        // organization's client and a client that does not exist are both NOT_FOUND).
        self.relationships
            .check(caller, new.client_id.as_str(), Some(new.intake_id.as_str()), Needs::Owner)
            .await?;
        self.create_held(caller, new, held).await
    }

    /// Creates a referral; with `held`, the provider's slot was already taken in matching under that hold
    /// key (an accepted waitlist offer), so no capacity is taken again. A first-open referral goes to the
    /// first provider it names that has a slot (one take in matching).
    async fn create_held(
        &self,
        caller: &Caller,
        mut new: NewReferral,
        held: Option<String>,
    ) -> Result<(Referral, bool)> {
        if let Some(existing) = self
            .store
            .find_by_idempotency_key(&new.referrer_organization_id, &new.idempotency_key)
            .await?
        {
            if let Some(key) = &held {
                // A retry after a failure to record the key below records it now.
                self.store.record_capacity_hold(&existing.id, key).await?;
            }
            return replayed(existing, &new);
        }
        let taken = match &held {
            Some(_) => {
                tracing::info!(provider_id = %new.provider_id, "slot already held in matching; not taken again");
                self.matching.held_slot(&OnBehalfOf::caller(caller), &new.provider_id).await?
            }
            None => {
                let hold_key = domain::take_hold_key(&domain::scoped_key(
                    &new.referrer_organization_id,
                    &new.idempotency_key,
                ));
                let who = OnBehalfOf::caller(caller);
                if new.first_open_alternative {
                    let (provider, taken) = self
                        .matching
                        .take_first_open(
                            &who,
                            &new.provider_id,
                            &new.alternative_provider_ids,
                            &hold_key,
                        )
                        .await?;
                    new = new.sent_to(provider);
                    taken
                } else {
                    self.matching
                        .take_slot(&who, &new.provider_id, &hold_key, new.allow_overbook)
                        .await?
                }
            }
        };
        let now = Utc::now();
        let status = domain::initial_status(new.scheduled_at.is_some());
        let mut events = vec![EventDraft {
            action: None,
            from_status: None,
            to_status: status,
            actor: Actor {
                role: ActorRole::Referrer,
                organization_id: new.referrer_organization_id.to_string(),
                user_id: None,
            },
            rejection_reason: None,
            note: None,
            appointment_at: None,
        }];
        if let Some(at) = new.scheduled_at {
            // An accepted waitlist offer arrives with its appointment: Continuum records the scheduling on
            // the recipient's behalf.
            events.push(EventDraft {
                action: Some(Action::Schedule),
                from_status: Some(status),
                to_status: status,
                actor: Actor {
                    role: ActorRole::System,
                    organization_id: taken.recipient_organization_id.to_string(),
                    user_id: None,
                },
                rejection_reason: None,
                note: None,
                appointment_at: Some(at),
            });
        }
        let draft = ReferralDraft {
            response_due_at: self.deadlines.response_due_at(new.urgency, now),
            recipient_organization_id: taken.recipient_organization_id,
            overbooked: taken.overbooked,
            status,
            now,
            events,
            new: new.clone(),
            rerouted_from: None,
        };
        match self.store.create_referral(draft).await {
            Ok(r) => {
                if let Some(key) = &held {
                    self.store.record_capacity_hold(&r.id, key).await?;
                }
                tracing::info!(
                    referral_id = %r.id,
                    provider_id = %r.provider_id,
                    status = r.status.code(),
                    urgency = r.urgency.code(),
                    overbooked = r.overbooked,
                    "referral created"
                );
                Ok((r, false))
            }
            // A concurrent twin with the same key committed first; matching took the slot only once.
            Err(Error::AlreadyExists { .. }) => {
                let existing = self
                    .store
                    .find_by_idempotency_key(&new.referrer_organization_id, &new.idempotency_key)
                    .await?
                    .ok_or_else(|| {
                        Error::Unexpected(anyhow::anyhow!(
                            "unique idempotency key without a referral"
                        ))
                    })?;
                replayed(existing, &new)
            }
            Err(e) => Err(e),
        }
    }

    /// The handoff packet of referral `id` for its recipient: `NOT_FOUND` for anyone else, refused once
    /// the referral no longer shares it; its content is what intake releases under the client's consent.
    pub async fn handoff_packet(&self, caller: &Caller, id: &ReferralId) -> Result<Packet> {
        let r = self.store.get_referral(id).await?;
        if !access::reads_packet(caller, r.recipient_organization_id.as_str()) {
            tracing::info!(referral_id = %id, organization_id = %caller.organization_id, "handoff packet hidden from a non-recipient");
            return Err(Error::not_found("referral", id.as_str()));
        }
        if !r.status.shares_packet() {
            return Err(Error::precondition(
                ErrorReason::ReferralClosed,
                format!("a referral in status {} shares no handoff packet", r.status),
            ));
        }
        let intake = self.intake.read_for_recipient(caller, &r.id, &r.intake_id).await?;
        let shared_categories: Vec<i32> = crate::peers::intake::shared_categories(&intake)
            .into_iter()
            .map(|c| c as i32)
            .collect();
        tracing::info!(referral_id = %r.id, intake_id = %r.intake_id, categories = shared_categories.len(), "handoff packet read");
        Ok(Packet { referral: r, intake, shared_categories })
    }

    /// A page of the caller's organization's referrals, newest first, and the next page's token.
    pub async fn list_referrals(
        &self,
        caller: &Caller,
        query: ReferralQuery,
        page: &Page,
    ) -> Result<(Vec<Referral>, String)> {
        let organization_id =
            access::list_organization(caller, query.organization_id.map(String::from))?;
        let filter = ReferralFilter {
            organization_id,
            status: query.status,
            urgency: query.urgency,
            overdue_at: query.overdue_only.then(Utc::now),
            client_id: query.client_id,
            provider_ids: query.provider_ids,
        };
        let mut rows =
            self.store.list_referrals(&filter, page.after.as_deref(), page.fetch()).await?;
        let next = page.finish(&mut rows, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Starts a watch of the caller's organization's referral events (see [`Watched`]).
    pub async fn watch(&self, caller: &Caller, from: WatchFrom) -> Result<Watched> {
        let organization_id =
            access::list_organization(caller, from.organization_id.map(String::from))?;
        let since = if from.cursor.is_none() { from.since } else { None };
        let cursor = match (from.cursor, from.since) {
            (None, None) => None,
            // A well-formed id that names no event: refused like any other bad cursor.
            (Some(id), _) => Some(self.store.feed_position(&id).await?.ok_or_else(|| {
                Error::invalid("cursor", "is not a cursor from an earlier response")
            })?),
            (None, Some(since)) => self.store.feed_before(since).await?,
        };
        tracing::info!(organization_id = %organization_id, resumed = cursor.is_some(), "watch started");
        Ok(watch::start(self.store.clone(), organization_id, cursor, since, self.shutdown.clone()))
    }

    /// Applies one action to a referral for the caller, recorded as the caller.
    pub async fn transition(&self, caller: &Caller, cmd: Command) -> Result<Referral> {
        // Another organization's referral is not found, before anything about it is checked.
        let current = self.get_referral(caller, &cmd.referral_id).await?;
        let actor = access::actor_for(
            caller,
            cmd.action,
            current.referrer_organization_id.as_str(),
            current.recipient_organization_id.as_str(),
        )?;
        if current.version != cmd.expected_version {
            return Err(Error::version_mismatch("referral", cmd.expected_version, current.version));
        }
        let decision =
            domain::decide(current.status, current.care_started(), cmd.action, actor.role)
                .map_err(refusal_to_error)?;
        let now = Utc::now();
        // The loop closes when the first appointment is attended: the referrer is told (an event their
        // coordinators see in WatchReferrals), in the same transaction.
        let extra_events = if decision.starts_care {
            vec![EventDraft {
                action: Some(Action::NotifyReferrer),
                from_status: Some(decision.to),
                to_status: decision.to,
                actor: Actor {
                    role: ActorRole::System,
                    organization_id: current.referrer_organization_id.to_string(),
                    user_id: None,
                },
                rejection_reason: None,
                note: None,
                appointment_at: None,
            }]
        } else {
            Vec::new()
        };
        let needs_reroute = domain::reroutes(cmd.action, &current.alternative_provider_ids);
        let change = Change {
            referral_id: current.id.clone(),
            expected_version: cmd.expected_version,
            to: decision.to,
            starts_care: decision.starts_care,
            event: EventDraft {
                action: Some(cmd.action),
                from_status: Some(current.status),
                to_status: decision.to,
                actor,
                rejection_reason: cmd.rejection_reason,
                note: cmd.note,
                appointment_at: cmd.appointment_at,
            },
            release_provider_id: decision.releases_slot.then(|| current.provider_id.clone()),
            now,
            escalate: false,
            needs_reroute,
            extra_events,
        };
        let applied = self.store.apply(change).await?;
        tracing::info!(
            referral_id = %applied.referral.id,
            action = cmd.action.code(),
            from = current.status.code(),
            to = decision.to.code(),
            version = applied.referral.version,
            "referral transitioned"
        );
        if let Some(outbox_id) = applied.outbox_id {
            // Delivery changes only the outbox, never the referral: the committed referral stays current.
            self.relay.deliver_now(&outbox_id).await;
        }
        if needs_reroute {
            // A "no" goes straight to the next alternative; what fails here the sweeper retries.
            self.deadlines.reroute_now(&applied.referral.id, now).await;
            return self.store.get_referral(&applied.referral.id).await;
        }
        Ok(applied.referral)
    }

    /// The care timeline of `client_id` as the caller may see it: the steps of referrals their
    /// organization is a party to, merged with what the other services show them.
    pub async fn care_timeline(&self, caller: &Caller, client_id: &ClientId) -> Result<Timeline> {
        let (items, peers) = match &self.sources {
            Some(sources) => {
                let (items, peers) =
                    tokio::join!(self.store.timeline(client_id), sources.steps(client_id, caller));
                (items?, peers)
            }
            None => (self.store.timeline(client_id).await?, PeerSteps::default()),
        };
        let referral_steps = items
            .iter()
            // A human sees only the steps of referrals their organization is a party to.
            .filter(|i| {
                access::sees(caller, &i.referrer_organization_id, &i.recipient_organization_id)
            })
            .map(timeline::referral_entry)
            .collect();
        let entries = timeline::merge(referral_steps, peers.events);
        tracing::info!(client_id = %client_id, entries = entries.len(), unavailable = peers.unavailable.len(), "care timeline read");
        Ok(Timeline { entries, unavailable: peers.unavailable })
    }
}

fn refusal_to_error(r: Refusal) -> Error {
    match r {
        Refusal::TransitionNotAllowed { status, action } => Error::precondition(
            ErrorReason::TransitionNotAllowed,
            format!("a referral in status {status} does not allow {action}"),
        ),
        Refusal::ActorNotAllowed { role, action } => Error::precondition(
            ErrorReason::ActorNotAllowed,
            format!("the {role} may not {action} a referral"),
        ),
    }
}

fn replayed(existing: Referral, new: &NewReferral) -> Result<(Referral, bool)> {
    if !new.same_as(&existing) {
        return Err(Error::precondition(
            ErrorReason::IdempotencyKeyReused,
            "the idempotency key was already used for a different referral",
        ));
    }
    tracing::info!(referral_id = %existing.id, status = existing.status.code(), "referral replayed");
    Ok((existing, true))
}
