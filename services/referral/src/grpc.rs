//! The tonic adapter of the referral service: converts protos to domain types (validating every field and
//! naming each bad one by its proto path), runs the domain rules, the store and the matching calls in
//! order, and converts back. The rules themselves live in `domain`.
//!
//! Tenant scoping (every handler, from `continuum_auth::caller`): a peer service (`service` role) acts for
//! any organization; a person creates referrals only as their own organization, reads a referral only when
//! their organization is referrer or recipient (otherwise `NOT_FOUND`, so existence does not leak), lists
//! and watches only their own organization, and acts only for it, recorded as themselves. The handoff
//! packet goes to the recipient organization only (people of the referrer or any other organization get
//! `NOT_FOUND`; a peer service only when acting for the recipient), and its content is what intake
//! releases to that organization under the client's consent (see `intake`).

use chrono::Utc;
use continuum_auth::{Caller, OnBehalfOf};
use continuum_errors::Violations;
use continuum_proto::referral::v1 as pb;
use continuum_proto::referral::v1::referral_service_server::ReferralService;
use continuum_runtime::Shutdown;
use continuum_runtime::care::{CareRelationships, Needs};
use continuum_vocab::{Urgency, time};
use tonic::{Request, Response, Status};

use crate::app::access::{self, list_organization, reads_packet, scope_command, sees};
use crate::deadlines::Deadlines;
use crate::domain::{
    self, Action, Actor, ActorRole, Command, Event, NewReferral, Referral, Refusal, RejectionReason,
};
use crate::error::{Error, ErrorReason, Result};
use crate::intake::IntakePeer;
use crate::matching::MatchingPeer;
use crate::outbox::Relay;
use crate::store::{Change, EventDraft, FeedPosition, ReferralDraft, ReferralFilter, Store};
use crate::timeline::CareSources;

/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
/// Longest note on an event.
pub const MAX_NOTE: usize = 500;
/// Longest actor user id.
pub const MAX_USER_ID: usize = 128;
/// Default and largest page sizes of `ListReferrals`.
pub const PAGE_SIZE: (u64, u64) = (50, 200);

/// The gRPC face of the referral service.
#[derive(Clone, Debug)]
pub struct ReferralApi {
    store: Store,
    matching: MatchingPeer,
    intake: IntakePeer,
    relationships: CareRelationships,
    relay: Relay,
    deadlines: Deadlines,
    shutdown: Shutdown,
    sources: Option<CareSources>,
}

/// The services a referral API calls: matching (slots), intake (handoff packets, care relationships).
#[derive(Clone, Debug)]
pub struct ReferralPeers {
    /// Matching: slots taken and given back.
    pub matching: MatchingPeer,
    /// Intake: handoff packets.
    pub intake: IntakePeer,
    /// Intake: whether the caller's organization owns a client.
    pub relationships: CareRelationships,
}

impl ReferralApi {
    /// An adapter over `store`, calling `peers`, giving slots back through `relay`, re-routing through
    /// `deadlines`; watch streams end when `shutdown` is cancelled.
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

    /// This adapter, adding the intake, waitlist and feedback steps read from `sources` to care timelines
    /// (without them a timeline holds the referral steps only).
    #[must_use]
    pub fn with_care_sources(mut self, sources: CareSources) -> Self {
        self.sources = Some(sources);
        self
    }
}

// ----- proto enums <-> domain -----

fn status_to_proto(s: domain::Status) -> i32 {
    use domain::Status as S;
    use pb::ReferralStatus as P;
    (match s {
        S::Draft => P::Draft,
        S::Requested => P::Requested,
        S::Accepted => P::Accepted,
        S::Rejected => P::Rejected,
        S::Cancelled => P::Cancelled,
        S::InProgress => P::InProgress,
        S::OnHold => P::OnHold,
        S::Failed => P::Failed,
        S::Completed => P::Completed,
        S::EnteredInError => P::EnteredInError,
    }) as i32
}

fn status_from_proto(v: i32) -> Option<domain::Status> {
    use domain::Status as S;
    use pb::ReferralStatus as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::Draft => S::Draft,
        P::Requested => S::Requested,
        P::Accepted => S::Accepted,
        P::Rejected => S::Rejected,
        P::Cancelled => S::Cancelled,
        P::InProgress => S::InProgress,
        P::OnHold => S::OnHold,
        P::Failed => S::Failed,
        P::Completed => S::Completed,
        P::EnteredInError => S::EnteredInError,
    })
}

fn action_to_proto(a: Action) -> i32 {
    use pb::ReferralAction as P;
    (match a {
        Action::MarkReceived => P::MarkReceived,
        Action::Accept => P::Accept,
        Action::Reject => P::Reject,
        Action::Cancel => P::Cancel,
        Action::Schedule => P::Schedule,
        Action::RecordNoShow => P::RecordNoShow,
        Action::CancelAppointment => P::CancelAppointment,
        Action::RecordFirstAppointmentAttended => P::RecordFirstAppointmentAttended,
        Action::RecordSecondAppointmentAttended => P::RecordSecondAppointmentAttended,
        Action::Complete => P::Complete,
        Action::Fail => P::Fail,
        Action::Hold => P::Hold,
        Action::Resume => P::Resume,
        Action::Send => P::Send,
        Action::EnterInError => P::EnterInError,
        Action::Escalate => P::Escalate,
        Action::Expire => P::Expire,
        Action::Reroute => P::Reroute,
        Action::NotifyReferrer => P::NotifyReferrer,
    }) as i32
}

fn action_from_proto(v: i32) -> Option<Action> {
    use pb::ReferralAction as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::MarkReceived => Action::MarkReceived,
        P::Accept => Action::Accept,
        P::Reject => Action::Reject,
        P::Cancel => Action::Cancel,
        P::Schedule => Action::Schedule,
        P::RecordNoShow => Action::RecordNoShow,
        P::CancelAppointment => Action::CancelAppointment,
        P::RecordFirstAppointmentAttended => Action::RecordFirstAppointmentAttended,
        P::RecordSecondAppointmentAttended => Action::RecordSecondAppointmentAttended,
        P::Complete => Action::Complete,
        P::Fail => Action::Fail,
        P::Hold => Action::Hold,
        P::Resume => Action::Resume,
        P::Send => Action::Send,
        P::EnterInError => Action::EnterInError,
        P::Escalate => Action::Escalate,
        P::Expire => Action::Expire,
        P::Reroute => Action::Reroute,
        P::NotifyReferrer => Action::NotifyReferrer,
    })
}

fn role_to_proto(r: ActorRole) -> i32 {
    use pb::ActorRole as P;
    (match r {
        ActorRole::Referrer => P::Referrer,
        ActorRole::Recipient => P::Recipient,
        ActorRole::Coordinator => P::Coordinator,
        ActorRole::System => P::System,
    }) as i32
}

fn role_from_proto(v: i32) -> Option<ActorRole> {
    use pb::ActorRole as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::Referrer => ActorRole::Referrer,
        P::Recipient => ActorRole::Recipient,
        P::Coordinator => ActorRole::Coordinator,
        P::System => ActorRole::System,
    })
}

fn reason_to_proto(r: RejectionReason) -> i32 {
    use pb::RejectionReason as P;
    (match r {
        RejectionReason::NoCapacity => P::NoCapacity,
        RejectionReason::LevelOfCareNotOffered => P::LevelOfCareNotOffered,
        RejectionReason::Payment => P::Payment,
        RejectionReason::ClientDeclined => P::ClientDeclined,
        RejectionReason::Other => P::Other,
    }) as i32
}

fn reason_from_proto(v: i32) -> Option<RejectionReason> {
    use pb::RejectionReason as P;
    Some(match P::try_from(v).ok()? {
        P::Unspecified => return None,
        P::NoCapacity => RejectionReason::NoCapacity,
        P::LevelOfCareNotOffered => RejectionReason::LevelOfCareNotOffered,
        P::Payment => RejectionReason::Payment,
        P::ClientDeclined => RejectionReason::ClientDeclined,
        P::Other => RejectionReason::Other,
    })
}

/// Reads a required enum field through `parse`, naming `field` when unset or unknown.
fn require_enum<T>(
    v: &mut Violations,
    field: &str,
    value: i32,
    parse: fn(i32) -> Option<T>,
) -> Option<T> {
    let r = parse(value);
    if r.is_none() {
        v.add(field, if value == 0 { "is required" } else { "is not a known value" });
    }
    r
}

/// Reads an optional enum field (0 means absent) through `parse`, naming `field` when unknown.
fn optional_enum<T>(
    v: &mut Violations,
    field: &str,
    value: i32,
    parse: fn(i32) -> Option<T>,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    let r = parse(value);
    if r.is_none() {
        v.add(field, "is not a known value");
    }
    r
}

/// Reads an optional timestamp, naming `field` when it is not a valid time.
fn optional_time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<chrono::DateTime<Utc>> {
    let t = value?;
    let r = time::from_proto(t);
    if r.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    r
}

fn optional_text(value: &str) -> Option<String> {
    let t = value.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn page_size(v: &mut Violations, requested: i32) -> u64 {
    let (default, max) = PAGE_SIZE;
    match u64::try_from(requested) {
        Ok(0) => default,
        Ok(n) if n <= max => n,
        _ => {
            v.add("page_size", format!("must be between 1 and {max}"));
            default
        }
    }
}

// ----- requests -> domain -----

/// Validates a create request, naming every bad field.
pub fn new_referral_from_proto(req: pb::CreateReferralRequest) -> Result<NewReferral> {
    let mut v = Violations::default();
    v.require_str("idempotency_key", &req.idempotency_key, MAX_IDEMPOTENCY_KEY);
    let client_id = v.require_uuid("client_id", &req.client_id);
    let intake_id = v.require_uuid("intake_id", &req.intake_id);
    let referrer = v.require_uuid("referrer_organization_id", &req.referrer_organization_id);
    let provider_id = v.require_uuid("provider_id", &req.provider_id);
    let urgency = Urgency::require(&mut v, "urgency", req.urgency);
    let scheduled_at = optional_time(&mut v, "scheduled_at", req.scheduled_at.as_ref());
    if req.alternative_provider_ids.len() > domain::MAX_ALTERNATIVES {
        v.add(
            "alternative_provider_ids",
            format!("must list at most {} providers", domain::MAX_ALTERNATIVES),
        );
    }
    let mut alternatives: Vec<String> = Vec::with_capacity(req.alternative_provider_ids.len());
    for (i, p) in req.alternative_provider_ids.iter().enumerate() {
        let field = format!("alternative_provider_ids[{i}]");
        if let Some(id) = v.require_uuid(&field, p) {
            if alternatives.contains(&id) {
                v.add(field, "is listed twice");
            } else {
                alternatives.push(id);
            }
        }
    }
    match (client_id, intake_id, referrer, provider_id, urgency) {
        (
            Some(client_id),
            Some(intake_id),
            Some(referrer_organization_id),
            Some(provider_id),
            Some(urgency),
        ) => v.finish(NewReferral {
            idempotency_key: req.idempotency_key,
            client_id,
            intake_id,
            referrer_organization_id,
            provider_id,
            urgency,
            allow_overbook: req.allow_overbook,
            scheduled_at,
            alternative_provider_ids: alternatives,
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

/// Validates a transition request, naming every bad field.
pub fn command_from_proto(req: pb::TransitionReferralRequest) -> Result<Command> {
    let mut v = Violations::default();
    let referral_id = v.require_uuid("referral_id", &req.referral_id);
    if req.expected_version < 1 {
        v.add("expected_version", "must be 1 or more");
    }
    let action = require_enum(&mut v, "action", req.action, action_from_proto);
    let role = require_enum(&mut v, "actor_role", req.actor_role, role_from_proto);
    let org = v.require_uuid("actor_organization_id", &req.actor_organization_id);
    v.optional_str("actor_user_id", &req.actor_user_id, MAX_USER_ID);
    v.optional_str("note", &req.note, MAX_NOTE);
    let rejection_reason =
        optional_enum(&mut v, "rejection_reason", req.rejection_reason, reason_from_proto);
    let appointment_at = optional_time(&mut v, "appointment_at", req.appointment_at.as_ref());
    if let Some(action) = action {
        if action == Action::Reject && req.rejection_reason == 0 {
            v.add("rejection_reason", "is required when rejecting");
        }
        if action != Action::Reject && req.rejection_reason != 0 {
            v.add("rejection_reason", "is only allowed when rejecting");
        }
        if action == Action::Schedule && req.appointment_at.is_none() {
            v.add("appointment_at", "is required when scheduling");
        }
        if !action.concerns_appointment() && req.appointment_at.is_some() {
            v.add("appointment_at", "is only allowed on appointment actions");
        }
    }
    match (referral_id, action, role, org) {
        (Some(referral_id), Some(action), Some(role), Some(organization_id)) => v.finish(Command {
            referral_id,
            expected_version: req.expected_version,
            action,
            actor: Actor { role, organization_id, user_id: optional_text(&req.actor_user_id) },
            rejection_reason,
            note: optional_text(&req.note),
            appointment_at,
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

// ----- domain -> protos -----

fn event_to_proto(e: &Event) -> pb::ReferralEvent {
    pb::ReferralEvent {
        id: e.id.clone(),
        action: e.action.map_or(0, action_to_proto),
        from_status: e.from_status.map_or(0, status_to_proto),
        to_status: status_to_proto(e.to_status),
        actor_role: role_to_proto(e.actor_role),
        actor_organization_id: e.actor_organization_id.clone(),
        actor_user_id: e.actor_user_id.clone().unwrap_or_default(),
        rejection_reason: e.rejection_reason.map_or(0, reason_to_proto),
        note: e.note.clone().unwrap_or_default(),
        occurred_at: Some(time::to_proto(e.occurred_at)),
        appointment_at: e.appointment_at.map(time::to_proto),
    }
}

/// The proto form of a referral (with its events when they were loaded).
pub fn referral_to_proto(r: &Referral) -> pb::Referral {
    pb::Referral {
        id: r.id.clone(),
        client_id: r.client_id.clone(),
        intake_id: r.intake_id.clone(),
        referrer_organization_id: r.referrer_organization_id.clone(),
        recipient_organization_id: r.recipient_organization_id.clone(),
        provider_id: r.provider_id.clone(),
        status: status_to_proto(r.status),
        urgency: r.urgency.to_proto(),
        response_due_at: Some(time::to_proto(r.response_due_at)),
        created_at: Some(time::to_proto(r.created_at)),
        updated_at: Some(time::to_proto(r.updated_at)),
        version: r.version,
        events: r.events.iter().map(event_to_proto).collect(),
        overbooked: r.overbooked,
        escalated_at: r.escalated_at.map(time::to_proto),
        rerouted_to_referral_id: r.rerouted_to_referral_id.clone().unwrap_or_default(),
        rerouted_from_referral_id: r.rerouted_from_referral_id.clone().unwrap_or_default(),
        alternative_provider_ids: r.alternative_provider_ids.clone(),
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

fn replayed(existing: Referral, new: &NewReferral) -> Result<pb::CreateReferralResponse> {
    if !new.same_as(&existing) {
        return Err(Error::precondition(
            ErrorReason::IdempotencyKeyReused,
            "the idempotency key was already used for a different referral",
        ));
    }
    tracing::info!(referral_id = %existing.id, status = existing.status.code(), "referral replayed");
    Ok(pb::CreateReferralResponse { referral: Some(referral_to_proto(&existing)), replayed: true })
}

impl ReferralApi {
    /// The referral `id` if `caller` may see it; `NOT_FOUND` otherwise, so its existence does not leak.
    async fn visible_referral(&self, caller: &Caller, id: &str) -> Result<Referral> {
        access::visible(caller, self.store.get_referral(id).await?)
    }

    /// Creates a referral; with `held`, the provider's slot was already taken in matching under that hold
    /// key (an accepted waitlist offer), so no capacity is taken again.
    async fn create_held(
        &self,
        caller: &Caller,
        new: NewReferral,
        held: Option<String>,
    ) -> Result<pb::CreateReferralResponse> {
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
                self.matching
                    .take_slot(
                        &OnBehalfOf::caller(caller),
                        &new.provider_id,
                        &domain::take_hold_key(&domain::scoped_key(
                            &new.referrer_organization_id,
                            &new.idempotency_key,
                        )),
                        new.allow_overbook,
                    )
                    .await?
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
                organization_id: new.referrer_organization_id.clone(),
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
                    organization_id: taken.recipient_organization_id.clone(),
                    user_id: None,
                },
                rejection_reason: None,
                note: None,
                appointment_at: Some(at),
            });
        }
        let draft = ReferralDraft {
            response_due_at: domain::response_due_at(new.urgency, now),
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
                tracing::Span::current().record("referral_id", tracing::field::display(&r.id));
                tracing::info!(
                    referral_id = %r.id,
                    provider_id = %r.provider_id,
                    status = r.status.code(),
                    urgency = r.urgency.code(),
                    overbooked = r.overbooked,
                    "referral created"
                );
                Ok(pb::CreateReferralResponse {
                    referral: Some(referral_to_proto(&r)),
                    replayed: false,
                })
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

    async fn transition(&self, caller: &Caller, cmd: Command) -> Result<Referral> {
        // Another organization's referral is not found, before anything about it is checked.
        let current = self.visible_referral(caller, &cmd.referral_id).await?;
        if !domain::actor_belongs(
            cmd.actor.role,
            &cmd.actor.organization_id,
            &current.referrer_organization_id,
            &current.recipient_organization_id,
        ) {
            return Err(Error::precondition(
                ErrorReason::ActorNotAllowed,
                format!("the acting organization is not this referral's {}", cmd.actor.role),
            ));
        }
        if current.version != cmd.expected_version {
            return Err(Error::version_mismatch("referral", cmd.expected_version, current.version));
        }
        let decision =
            domain::decide(current.status, current.care_started(), cmd.action, cmd.actor.role)
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
                    organization_id: current.referrer_organization_id.clone(),
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
                actor: cmd.actor,
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
}

/// How often a watch looks for events committed by other replicas (events of this process wake it at once).
pub const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// Most events a watch reads per query.
pub const WATCH_BATCH: u64 = 200;

/// Streams `organization_id`'s referral events after `resumed_from` into `tx`: the backlog first, then
/// live events, until the client goes away or the service shuts down. Events go out in feed order (commit
/// order, see `store::migration_feed`), each with its event id as cursor; a resumed watch starts strictly
/// after the cursor's feed position. Each round reads only below the feed horizon (on PostgreSQL the
/// oldest transaction still running), so an event another replica commits late — however late — waits
/// for its turn instead of being skipped, and nothing is sent twice.
async fn watch(
    store: Store,
    organization_id: String,
    resumed_from: Option<FeedPosition>,
    tx: tokio::sync::mpsc::Sender<Result<pb::WatchReferralsResponse, Status>>,
    stop: Shutdown,
) {
    let mut changes = store.subscribe();
    let mut last = resumed_from;
    loop {
        let horizon = match store.feed_horizon().await {
            Ok(h) => h,
            Err(e) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        };
        loop {
            let events = match store
                .events_after(&organization_id, last.as_ref(), horizon, WATCH_BATCH)
                .await
            {
                Ok(events) => events,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let full = events.len() as u64 >= WATCH_BATCH;
            for (at, e) in events {
                let item = pb::WatchReferralsResponse {
                    referral_id: e.referral_id.clone(),
                    cursor: e.id.clone(),
                    event: Some(event_to_proto(&e)),
                };
                last = Some(at);
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tx.closed() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(WATCH_POLL).await;
                }
            }
            () = tokio::time::sleep(WATCH_POLL) => {}
        }
    }
}

#[tonic::async_trait]
impl ReferralService for ReferralApi {
    type WatchReferralsStream =
        tokio_stream::wrappers::ReceiverStream<Result<pb::WatchReferralsResponse, Status>>;

    #[tracing::instrument(name = "WatchReferrals", skip_all)]
    async fn watch_referrals(
        &self,
        req: Request<pb::WatchReferralsRequest>,
    ) -> Result<Response<Self::WatchReferralsStream>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let org = list_organization(&mut v, &caller, &req.organization_id)?;
        let cursor = match req.cursor.as_str() {
            "" => None,
            t if continuum_errors::is_uuid(t) => Some(t.to_ascii_lowercase()),
            _ => {
                v.add("cursor", "is not a cursor from an earlier response");
                None
            }
        };
        let org = v.finish(org)?.unwrap_or_default();
        let cursor = match cursor {
            None => None,
            Some(id) => match self.store.feed_position(&id).await? {
                Some(at) => Some(at),
                None => {
                    // A well-formed id that names no event: refused like any other bad cursor.
                    let mut v = Violations::default();
                    v.add("cursor", "is not a cursor from an earlier response");
                    v.finish(())?;
                    None
                }
            },
        };
        tracing::info!(organization_id = %org, resumed = cursor.is_some(), "watch started");
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(watch(self.store.clone(), org, cursor, tx, self.shutdown.clone()));
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    #[tracing::instrument(name = "CreateReferral", skip_all, fields(referral_id))]
    async fn create_referral(
        &self,
        req: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::CreateReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let mut req = req.into_inner();
        let held = std::mem::take(&mut req.capacity_hold_key);
        let new = match (new_referral_from_proto(req), held.len() > 160) {
            (Ok(new), false) => new,
            (Ok(_), true) => {
                return Err(
                    Error::invalid("capacity_hold_key", "must be at most 160 characters").into()
                );
            }
            (Err(Error::InvalidArgument(mut v)), too_long) => {
                if too_long {
                    v.add("capacity_hold_key", "must be at most 160 characters");
                }
                return Err(Error::InvalidArgument(v).into());
            }
            (Err(e), _) => return Err(e.into()),
        };
        access::refers_for_own_organization(&caller, &new.referrer_organization_id)?;
        if !held.is_empty() && !caller.is_service() {
            // Naming a hold skips the capacity take: only Continuum's own services (the waitlist) may.
            return Err(Error::PermissionDenied(
                "only a Continuum service may name a capacity hold".to_owned(),
            )
            .into());
        }
        // Only the organization that took the client's intake refers the client (intake decides; another
        // organization's client and a client that does not exist are both NOT_FOUND).
        self.relationships
            .check(&caller, &new.client_id, Some(&new.intake_id), Needs::Owner)
            .await?;
        Ok(Response::new(self.create_held(&caller, new, (!held.is_empty()).then_some(held)).await?))
    }

    #[tracing::instrument(name = "GetReferral", skip_all, fields(referral_id))]
    async fn get_referral(
        &self,
        req: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("referral_id", &req.referral_id);
        let id = v.finish(id)?.unwrap_or_default();
        tracing::Span::current().record("referral_id", tracing::field::display(&id));
        let r = self.visible_referral(&caller, &id).await?;
        Ok(Response::new(pb::GetReferralResponse { referral: Some(referral_to_proto(&r)) }))
    }

    #[tracing::instrument(name = "GetHandoffPacket", skip_all, fields(referral_id))]
    async fn get_handoff_packet(
        &self,
        req: Request<pb::GetHandoffPacketRequest>,
    ) -> Result<Response<pb::GetHandoffPacketResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("referral_id", &req.referral_id);
        let id = v.finish(id)?.unwrap_or_default();
        tracing::Span::current().record("referral_id", tracing::field::display(&id));
        let r = self.store.get_referral(&id).await?;
        if !reads_packet(&caller, &r.recipient_organization_id) {
            tracing::info!(referral_id = %id, organization_id = %caller.organization_id, "handoff packet hidden from a non-recipient");
            return Err(Error::not_found("referral", id).into());
        }
        if !r.status.shares_packet() {
            return Err(Error::precondition(
                ErrorReason::ReferralClosed,
                format!("a referral in status {} shares no handoff packet", r.status),
            )
            .into());
        }
        let intake = self.intake.read_for_recipient(&caller, &r.id, &r.intake_id).await?;
        let shared_categories: Vec<i32> =
            crate::intake::shared_categories(&intake).into_iter().map(|c| c as i32).collect();
        tracing::info!(referral_id = %r.id, intake_id = %r.intake_id, categories = shared_categories.len(), "handoff packet read");
        Ok(Response::new(pb::GetHandoffPacketResponse {
            packet: Some(pb::HandoffPacket {
                referral_id: r.id.clone(),
                recipient_organization_id: r.recipient_organization_id.clone(),
                shared_categories,
                intake: Some(intake),
                read_at: Some(time::to_proto(Utc::now())),
            }),
        }))
    }

    #[tracing::instrument(name = "ListReferrals", skip_all)]
    async fn list_referrals(
        &self,
        req: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let org = list_organization(&mut v, &caller, &req.organization_id)?;
        let status = optional_enum(&mut v, "status", req.status, status_from_proto);
        let urgency = Urgency::optional(&mut v, "urgency", req.urgency);
        let limit = page_size(&mut v, req.page_size);
        let before = match req.page_token.as_str() {
            "" => None,
            t if continuum_errors::is_uuid(t) => Some(t.to_ascii_lowercase()),
            _ => {
                v.add("page_token", "is not a token from a previous page");
                None
            }
        };
        let client_id = v.optional_uuid("client_id", &req.client_id);
        let org = v.finish(org)?.unwrap_or_default();
        let filter = ReferralFilter {
            organization_id: org,
            status,
            urgency,
            overdue_at: req.overdue_only.then(Utc::now),
            client_id,
        };
        // One more than the page tells whether another page follows.
        let mut page =
            self.store.list_referrals(&filter, before.as_deref(), limit.saturating_add(1)).await?;
        let next_page_token = if page.len() as u64 > limit {
            page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            page.last().map(|r| r.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListReferralsResponse {
            referrals: page.iter().map(referral_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(name = "TransitionReferral", skip_all, fields(referral_id))]
    async fn transition_referral(
        &self,
        req: Request<pb::TransitionReferralRequest>,
    ) -> Result<Response<pb::TransitionReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = scope_command(&caller, command_from_proto(req.into_inner())?)?;
        tracing::Span::current().record("referral_id", tracing::field::display(&cmd.referral_id));
        let r = self.transition(&caller, cmd).await?;
        Ok(Response::new(pb::TransitionReferralResponse { referral: Some(referral_to_proto(&r)) }))
    }

    #[tracing::instrument(name = "GetCareTimeline", skip_all)]
    async fn get_care_timeline(
        &self,
        req: Request<pb::GetCareTimelineRequest>,
    ) -> Result<Response<pb::GetCareTimelineResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let client_id = v.require_uuid("client_id", &req.client_id);
        let client_id = v.finish(client_id)?.unwrap_or_default();
        let (items, peers) = match &self.sources {
            Some(sources) => {
                let (items, peers) = tokio::join!(
                    self.store.timeline(&client_id),
                    sources.steps(&client_id, &caller)
                );
                (items?, peers)
            }
            None => (self.store.timeline(&client_id).await?, crate::timeline::PeerSteps::default()),
        };
        let referral_steps = items
            .iter()
            // A human sees only the steps of referrals their organization is a party to.
            .filter(|i| sees(&caller, &i.referrer_organization_id, &i.recipient_organization_id))
            .map(crate::timeline::referral_entry)
            .collect();
        let entries = crate::timeline::merge(referral_steps, peers.events);
        tracing::info!(client_id = %client_id, entries = entries.len(), unavailable = peers.unavailable.len(), "care timeline read");
        Ok(Response::new(pb::GetCareTimelineResponse {
            entries,
            unavailable_sources: peers.unavailable.iter().map(|s| (*s).to_owned()).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::InvalidArgument(v) => v.iter().map(|f| f.field.clone()).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    #[test]
    fn enums_round_trip() {
        for s in domain::Status::ALL {
            assert_eq!(status_from_proto(status_to_proto(*s)), Some(*s));
        }
        for a in Action::ALL {
            assert_eq!(action_from_proto(action_to_proto(*a)), Some(*a));
        }
        for r in ActorRole::ALL {
            assert_eq!(role_from_proto(role_to_proto(*r)), Some(*r));
        }
        for r in RejectionReason::ALL {
            assert_eq!(reason_from_proto(reason_to_proto(*r)), Some(*r));
        }
        assert_eq!(status_from_proto(0), None);
        assert_eq!(action_from_proto(99), None);
    }

    #[test]
    fn create_names_every_bad_field() {
        let req = pb::CreateReferralRequest {
            idempotency_key: "k".repeat(129),
            client_id: "x".into(),
            intake_id: String::new(),
            referrer_organization_id: "nope".into(),
            provider_id: "also nope".into(),
            urgency: 0,
            allow_overbook: false,
            scheduled_at: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }),
            alternative_provider_ids: vec!["x".into(), ID.into(), ID.into()],
            capacity_hold_key: String::new(),
        };
        let got = fields(new_referral_from_proto(req).unwrap_err());
        assert_eq!(
            got,
            vec![
                "idempotency_key",
                "client_id",
                "intake_id",
                "referrer_organization_id",
                "provider_id",
                "urgency",
                "scheduled_at",
                "alternative_provider_ids[0]",
                "alternative_provider_ids[2]"
            ]
        );
    }

    #[test]
    fn transition_checks_conditional_fields() {
        let base = pb::TransitionReferralRequest {
            referral_id: ID.into(),
            expected_version: 1,
            action: pb::ReferralAction::Reject as i32,
            actor_role: pb::ActorRole::Recipient as i32,
            actor_organization_id: ID.into(),
            ..Default::default()
        };
        assert_eq!(fields(command_from_proto(base.clone()).unwrap_err()), vec!["rejection_reason"]);
        let schedule = pb::TransitionReferralRequest {
            action: pb::ReferralAction::Schedule as i32,
            ..base.clone()
        };
        assert_eq!(fields(command_from_proto(schedule).unwrap_err()), vec!["appointment_at"]);
        let bad = pb::TransitionReferralRequest {
            referral_id: String::new(),
            expected_version: 0,
            action: 0,
            actor_role: 42,
            actor_organization_id: "x".into(),
            note: "n".repeat(501),
            ..Default::default()
        };
        assert_eq!(
            fields(command_from_proto(bad).unwrap_err()),
            vec![
                "referral_id",
                "expected_version",
                "action",
                "actor_role",
                "actor_organization_id",
                "note"
            ]
        );
        let ok = pb::TransitionReferralRequest {
            rejection_reason: pb::RejectionReason::Payment as i32,
            note: "  ".into(),
            ..base
        };
        let cmd = command_from_proto(ok).unwrap();
        assert_eq!(cmd.rejection_reason, Some(RejectionReason::Payment));
        assert_eq!(cmd.note, None);
    }

    #[test]
    fn page_sizes() {
        let mut v = Violations::default();
        assert_eq!(page_size(&mut v, 0), 50);
        assert_eq!(page_size(&mut v, 200), 200);
        assert!(v.is_empty());
        page_size(&mut v, 201);
        page_size(&mut v, -1);
        assert_eq!(v.iter().count(), 2);
    }
}
