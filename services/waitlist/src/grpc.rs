//! The tonic adapter of the waitlist service: converts protos to domain types (validating every field and
//! naming each bad one by its proto path), calls the store, the domain rules, the cache holds and the
//! peers (referral when an offer is accepted; intake to re-screen a check-in's answers), and converts back.
//! No business rule lives here.
//!
//! Check-ins: answers (PHQ-9, GAD-7, a clinician's imminent-risk judgement) go to intake's
//! `RecordReassessment` first, with a service token acting for the entry's organization, outside any
//! transaction; intake's risk and urgency then feed the domain rules. When intake cannot answer, the
//! check-in is still recorded on the waitlist's own rules and the response says the re-screen is pending.
//!
//! Access (every handler, from `continuum_auth::caller`) is decided in `app::access`: the caller's
//! organization — for a peer service, the organization of the user it acts for — enqueues only clients it
//! owns (intake says so), reads and changes only its own entries and offers (another organization's are
//! `NOT_FOUND`), and opens only its own providers' slots.
//!
//! Capacity events: an `OpenSlots` with an `event_id` comes from matching's capacity-event worker. Its
//! slots are real capacity in matching, so each offered slot is taken there first under its own hold key
//! (`matching`), the offer carries that key to its successors and, when accepted, to the referral
//! (`capacity_hold_key`: not taken again); an event makes its offers once.

use std::collections::HashSet;

use chrono::TimeDelta;
use continuum_auth::{Caller, OnBehalfOf};
use continuum_errors::Violations;
use continuum_proto::intake::v1 as intake_pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::referral::v1 as referral_pb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1 as pb;
use continuum_proto::waitlist::v1::waitlist_service_server::WaitlistService;
use continuum_runtime::PeerChannel;
use continuum_runtime::care::{CareRelationships, Needs};
use continuum_vocab::{AgeGroup, CareFormat, LevelOfCare, PaymentOption, RiskLevel, Urgency, time};
use tonic::{Request, Response, Status};

use crate::app::access;
use crate::bridge::{self, BridgeNeeds, BridgeRecord, BridgeStatus};
use crate::bridge_filler::BridgeFiller;
use crate::clock::SharedClock;
use crate::domain::{self, Band, BandLimits, Entry, NewEntry, Offer};
use crate::error::{Error, ErrorReason, PeerError, Result};
use crate::holds::Holds;
use crate::matching::{MatchingPeer, Take};
use crate::store::{CheckInRecord, EntryFilter, Store};

/// Default and largest `ListWaitlist` page.
const PAGE_DEFAULT: usize = 50;
const PAGE_MAX: usize = 200;

/// The gRPC face of the waitlist service.
#[derive(Clone, Debug)]
pub struct WaitlistApi {
    store: Store,
    holds: Holds,
    clock: SharedClock,
    referral: ReferralServiceClient<PeerChannel>,
    intake: IntakeServiceClient<PeerChannel>,
    bridges: Option<BridgeFiller>,
    /// Matching, for whose provider a slot is and the slots of capacity events (`OpenSlots`).
    capacity: Option<MatchingPeer>,
    /// Intake, for whether the caller's organization owns a client it enqueues.
    relationships: Option<CareRelationships>,
}

/// What became of the re-screen of a check-in's answers.
enum RescreenResult {
    /// Nothing to re-screen (no answers, no imminent-risk judgement).
    NotAsked,
    /// Intake re-screened.
    Done(domain::Rescreen),
    /// Intake could not re-screen; the waitlist's own rules apply and the re-screen is still to be done.
    Pending,
}

impl WaitlistApi {
    /// An adapter over `store` and `holds`, reading time from `clock`, creating referrals through `referral`
    /// and re-screening check-ins through `intake`.
    pub fn new(
        store: Store,
        holds: Holds,
        clock: SharedClock,
        referral: ReferralServiceClient<PeerChannel>,
        intake: IntakeServiceClient<PeerChannel>,
    ) -> Self {
        Self {
            store,
            holds,
            clock,
            referral,
            intake,
            bridges: None,
            capacity: None,
            relationships: None,
        }
    }

    /// Asks matching through `matching` whose provider a slot is, and takes the slots of capacity events
    /// there (without it `OpenSlots` is answered `UNAVAILABLE`).
    pub fn with_capacity(self, matching: MatchingPeer) -> Self {
        Self { capacity: Some(matching), ..self }
    }

    /// Asks intake through `relationships` whether the caller's organization owns a client it enqueues
    /// (without it `Enqueue` is answered `UNAVAILABLE`).
    pub fn with_relationships(self, relationships: CareRelationships) -> Self {
        Self { relationships: Some(relationships), ..self }
    }

    /// The matching client, or `UNAVAILABLE` when none is configured.
    fn matching(&self) -> Result<&MatchingPeer> {
        self.capacity
            .as_ref()
            .ok_or_else(|| Error::Unavailable("matching is not configured".to_owned()))
    }

    /// The offers of matching capacity event `event_id`: under the provider's lock, one slot per waiting
    /// entry (at most `slots`) is taken in matching under its own hold key before it is offered, so a new
    /// intake cannot take it while the offer is pending; the offers and the event are recorded together
    /// (an event makes its offers once). Nobody waiting: no take, no offer (so a slot given back by a chain
    /// that found nobody does not loop).
    async fn open_event_slots(
        &self,
        caller: &Caller,
        provider_id: &str,
        event_id: &str,
        slots: usize,
    ) -> Result<Vec<Offer>> {
        let matching = self.matching()?;
        // The slots are taken for the organization the event acts for: the provider's.
        let who = OnBehalfOf::caller(caller);
        let now = self.clock.now();
        if self.store.event_seen(event_id).await? {
            return Ok(Vec::new());
        }
        let want = slots.min(self.store.eligible_count(provider_id, now).await?);
        let mut keys = Vec::with_capacity(want);
        for n in 0..want {
            let key = crate::matching::slot_key(event_id, n);
            match matching.take(&who, provider_id, &key).await {
                Take::Taken => keys.push(key),
                Take::NoCapacity => break,
                Take::Unavailable(e) if keys.is_empty() => return Err(e.into_error("matching")),
                Take::Unavailable(_) => break,
            }
        }
        if keys.is_empty() {
            self.store
                .event_without_offers(&caller.organization_id, provider_id, event_id, now)
                .await?;
            return Ok(Vec::new());
        }
        // A replica that handled the same event first made the offers with the same slot keys.
        Ok(self
            .store
            .open_event_slots(&caller.organization_id, provider_id, event_id, &keys, now)
            .await?
            .unwrap_or_default())
    }

    /// The same adapter choosing each new entry's bridge program from matching's directory through
    /// `bridges` (without it, entries get the rule-based kind and their choice stays pending).
    pub fn with_bridges(self, bridges: BridgeFiller) -> Self {
        Self { bridges: Some(bridges), ..self }
    }

    /// Stores the bridge record of a just-enqueued (or replayed) entry and, when the directory can be
    /// asked, asks matching now within a short limit. A failure here never fails the enqueue: the entry
    /// is stored and keeps its rule-based kind; a store error is logged and the replay of the same key
    /// creates the record.
    async fn bridge_at_enqueue(
        &self,
        entry: &Entry,
        needs: Option<&BridgeNeeds>,
    ) -> Option<BridgeRecord> {
        let now = self.clock.now();
        let rule = entry
            .bridge_support
            .unwrap_or_else(|| domain::bridge_support(entry.age_group, entry.band));
        let askable = needs.is_some() && entry.age_group.is_some();
        let (status, reason) = if askable {
            (BridgeStatus::Pending, bridge::pending_reason(rule, entry.age_group, entry.band))
        } else {
            (
                BridgeStatus::NotRequested,
                bridge::not_requested_reason(rule, entry.age_group, entry.band, needs.is_some()),
            )
        };
        let record = match self
            .store
            .ensure_bridge(&entry.id, status, rule, needs.filter(|_| askable), &reason, now)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(entry_id = %entry.id, error = %e, "bridge record not stored; a replay of the enqueue stores it");
                return None;
            }
        };
        if record.status != BridgeStatus::Pending {
            return Some(record);
        }
        let Some(bridges) = &self.bridges else { return Some(record) };
        match bridges.choose_now(entry, &record, crate::bridge_filler::ENQUEUE_WAIT).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(entry_id = %entry.id, error = %e, "bridge choice not recorded; the background retry makes it");
                Some(record)
            }
        }
    }

    /// Re-screens a check-in's answers through intake's `RecordReassessment` for the entry's intake, with a
    /// service token acting for the entry's organization (and the user who recorded the check-in). Intake
    /// stores the new assessment and, when risk rises onto the crisis pathway, routes the client to crisis
    /// care itself. Any failure leaves the re-screen pending: the check-in is still recorded.
    async fn rescreen(
        &self,
        entry: &Entry,
        phq9: Option<&[i32]>,
        gad7: Option<&[i32]>,
        imminent: bool,
        user: &str,
    ) -> RescreenResult {
        let req = intake_pb::RecordReassessmentRequest {
            intake_id: entry.intake_id.clone(),
            screeners: Some(intake_pb::Screeners {
                phq9: phq9.map(|items| intake_pb::Phq9 { items: items.to_vec() }),
                gad7: gad7.map(|items| intake_pb::Gad7 { items: items.to_vec() }),
                ..Default::default()
            }),
            clinician_reports_imminent_risk: imminent,
            ..Default::default()
        };
        let mut client = self.intake.clone();
        let resp = match client
            .record_reassessment(continuum_auth::on_behalf_of(
                req,
                &entry.organization_id,
                Some(user),
            ))
            .await
        {
            Ok(resp) => resp.into_inner(),
            Err(status) => {
                // Only the code: the peer's message may describe the answers.
                tracing::warn!(entry_id = %entry.id, intake_id = %entry.intake_id, peer = "intake", code = ?status.code(), "re-screen failed; left pending");
                return RescreenResult::Pending;
            }
        };
        let Some(a) = resp.assessment else {
            tracing::warn!(entry_id = %entry.id, peer = "intake", "re-screen answered without an assessment; left pending");
            return RescreenResult::Pending;
        };
        match (RiskLevel::from_proto(a.risk_level), Urgency::from_proto(a.urgency)) {
            (Some(risk), Some(urgency)) => RescreenResult::Done(domain::Rescreen {
                assessment_id: a.id,
                risk,
                urgency,
                risk_increased: resp.risk_increased,
                rerouted: resp.rerouted,
            }),
            _ => {
                tracing::warn!(entry_id = %entry.id, peer = "intake", "re-screen answered without a risk level or urgency; left pending");
                RescreenResult::Pending
            }
        }
    }

    fn limits(&self) -> BandLimits {
        self.store.policy().bands
    }

    /// The proto form of an entry with its offers, as of now.
    async fn entry_with_offers(&self, e: &Entry) -> Result<pb::WaitlistEntry> {
        let offers = self.store.offers_of(&e.id).await?;
        let mut p = entry_to_proto(e, &offers, self.clock.now(), &self.limits());
        if let Some(r) = self.store.bridge_of(&e.id).await? {
            apply_bridge(&mut p, &r);
        }
        Ok(p)
    }

    /// Calls referral's `CreateReferral` for an accepted offer; returns the referral id.
    async fn create_referral(
        &self,
        offer: &Offer,
        entry: &Entry,
        scheduled_at: chrono::DateTime<chrono::Utc>,
        user: &str,
    ) -> Result<String> {
        let req = referral_pb::CreateReferralRequest {
            // The same offer always makes the same key, so a retry after UNAVAILABLE never creates a second one.
            idempotency_key: format!("offer:{}", offer.id),
            client_id: entry.client_id.clone(),
            intake_id: entry.intake_id.clone(),
            referrer_organization_id: entry.organization_id.clone(),
            provider_id: offer.provider_id.clone(),
            urgency: entry.band.urgency().to_proto(),
            // The slot opened for this offer is the one being taken.
            allow_overbook: true,
            scheduled_at: Some(time::to_proto(scheduled_at)),
            // A placement from the waitlist is already accepted; there is nothing to re-route to.
            alternative_provider_ids: Vec::new(),
            // A slot of a matching capacity event is already taken in matching under this key.
            capacity_hold_key: offer.slot_key.clone().unwrap_or_default(),
        };
        let mut client = self.referral.clone();
        match client
            .create_referral(continuum_auth::on_behalf_of(req, &entry.organization_id, Some(user)))
            .await
        {
            Ok(resp) => match resp.into_inner().referral {
                Some(r) if !r.id.is_empty() => Ok(r.id),
                _ => Err(Error::Unexpected(anyhow::anyhow!(
                    "referral service answered without a referral"
                ))),
            },
            Err(status) => Err(peer_error(status.into())),
        }
    }
}

/// How a failed call to the referral service is answered: retryable failures are `UNAVAILABLE` (nothing was
/// changed here, and the idempotency key makes the retry safe); every other answer is a refusal,
/// `FAILED_PRECONDITION` `REFERRAL_REFUSED`. Only the status code and the peer's stable reason are kept:
/// the peer's message is not passed on or logged.
fn peer_error(e: PeerError) -> Error {
    tracing::warn!(peer = "referral", code = ?e.code, "CreateReferral failed");
    if e.is_retryable() {
        return Error::Unavailable(format!("referral service: {:?}", e.code));
    }
    // The peer's stable reason code (never its message) tells the coordinator why.
    let why = e.reason.map(continuum_errors::reason_code).unwrap_or_default();
    Error::precondition(
        ErrorReason::ReferralRefused,
        format!("the referral service refused the referral ({:?} {why})", e.code),
    )
}

/// The proto form of an offer.
pub fn offer_to_proto(o: &Offer) -> pb::Offer {
    pb::Offer {
        id: o.id.clone(),
        entry_id: o.entry_id.clone(),
        provider_id: o.provider_id.clone(),
        status: o.status.to_proto(),
        offered_at: Some(time::to_proto(o.offered_at)),
        expires_at: Some(time::to_proto(o.expires_at)),
        referral_id: o.referral_id.clone().unwrap_or_default(),
    }
}

/// The proto form of an entry with `offers` (newest first), its wait fraction as of `now`.
pub fn entry_to_proto(
    e: &Entry,
    offers: &[Offer],
    now: chrono::DateTime<chrono::Utc>,
    limits: &BandLimits,
) -> pb::WaitlistEntry {
    pb::WaitlistEntry {
        id: e.id.clone(),
        client_id: e.client_id.clone(),
        intake_id: e.intake_id.clone(),
        organization_id: e.organization_id.clone(),
        band: e.band.to_proto(),
        candidate_provider_ids: e.candidate_provider_ids.clone(),
        status: e.status.to_proto(),
        enqueued_at: Some(time::to_proto(e.enqueued_at)),
        wait_fraction: e.wait_fraction(now, limits),
        level_of_care: e.level_of_care.map_or(0, LevelOfCare::to_proto),
        age_group: e.age_group.map_or(0, AgeGroup::to_proto),
        removal_reason: e.removal_reason.clone().unwrap_or_default(),
        offers: offers.iter().map(offer_to_proto).collect(),
        missed_check_ins: e.missed_check_ins,
        next_check_in_at: Some(time::to_proto(e.next_check_in_at)),
        version: e.version,
        bridge_support: e.bridge_support.map(|b| b.code().to_owned()).unwrap_or_default(),
        interlock_required: e.interlock_required,
        // Filled from the entry's bridge record by `apply_bridge` when it has one.
        bridge_provider_id: String::new(),
        bridge_provider_kind: String::new(),
        bridge_reason: String::new(),
        bridge_status: 0,
    }
}

/// Sets the bridge fields of an entry's proto from its bridge record: the kind of support given (the
/// chosen program's, else the rule's), the chosen provider and kind, the reason and the status.
pub fn apply_bridge(p: &mut pb::WaitlistEntry, r: &BridgeRecord) {
    p.bridge_support = r.support.code().to_owned();
    p.bridge_provider_id = r.provider_id.clone().unwrap_or_default();
    p.bridge_provider_kind = r.provider_kind.map(|k| k.code().to_owned()).unwrap_or_default();
    p.bridge_reason = r.reason.clone();
    p.bridge_status = r.status.to_proto();
}

/// Validates the optional bridge needs of an enqueue, naming each bad field under `bridge_needs.`.
pub fn bridge_needs_from_proto(
    v: &mut Violations,
    needs: Option<pb::BridgeNeeds>,
) -> Option<BridgeNeeds> {
    let n = needs?;
    continuum_vocab::check_jurisdiction(v, "bridge_needs.jurisdiction", &n.jurisdiction);
    continuum_vocab::check_language(v, "bridge_needs.language", &n.language);
    let payment_option = PaymentOption::require(v, "bridge_needs.payment_option", n.payment_option);
    let formats = CareFormat::list(v, "bridge_needs.formats", &n.formats);
    Some(BridgeNeeds {
        jurisdiction: n.jurisdiction,
        language: n.language,
        payment_option: payment_option?,
        formats,
    })
}

/// Validates an enqueue request with its bridge needs, naming every bad field of both in one error.
pub fn enqueue_from_proto(mut req: pb::EnqueueRequest) -> Result<(NewEntry, Option<BridgeNeeds>)> {
    let mut bv = Violations::default();
    let needs = bridge_needs_from_proto(&mut bv, req.bridge_needs.take());
    match (new_entry_from_proto(req), bv.finish(needs)) {
        (Ok(new), Ok(needs)) => Ok((new, needs)),
        (Err(Error::InvalidArgument(mut a)), Err(Error::InvalidArgument(b))) => {
            for f in b.iter() {
                a.add(f.field.clone(), f.description.clone());
            }
            Err(Error::InvalidArgument(a))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Validates an enqueue request, naming every bad field.
pub fn new_entry_from_proto(req: pb::EnqueueRequest) -> Result<NewEntry> {
    let mut v = Violations::default();
    v.require_str("idempotency_key", &req.idempotency_key, 128);
    let client_id = v.require_uuid("client_id", &req.client_id);
    let intake_id = v.require_uuid("intake_id", &req.intake_id);
    let organization_id = v.require_uuid("organization_id", &req.organization_id);
    let band = Band::require(&mut v, "band", req.band);
    let risk_level = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
    let level_of_care = LevelOfCare::optional(&mut v, "level_of_care", req.level_of_care);
    let age_group = AgeGroup::optional(&mut v, "age_group", req.age_group);
    if req.candidate_provider_ids.is_empty() {
        v.add("candidate_provider_ids", "must list at least one provider");
    } else if req.candidate_provider_ids.len() > domain::MAX_CANDIDATES {
        v.add(
            "candidate_provider_ids",
            format!("must list at most {} providers", domain::MAX_CANDIDATES),
        );
    }
    let mut seen = HashSet::new();
    let mut candidates = Vec::with_capacity(req.candidate_provider_ids.len());
    for (i, p) in req.candidate_provider_ids.iter().enumerate() {
        let field = format!("candidate_provider_ids[{i}]");
        if let Some(id) = v.require_uuid(&field, p) {
            if seen.insert(id.clone()) {
                candidates.push(id);
            } else {
                v.add(field, "is listed twice");
            }
        }
    }
    match (client_id, intake_id, organization_id, band) {
        (Some(client_id), Some(intake_id), Some(organization_id), Some(band)) => {
            v.finish(NewEntry {
                idempotency_key: req.idempotency_key,
                client_id,
                intake_id,
                organization_id,
                band,
                risk_level,
                candidate_provider_ids: candidates,
                level_of_care,
                age_group,
            })
        }
        _ => Err(Error::InvalidArgument(v)),
    }
}

impl WaitlistApi {
    /// The entry `id` if `caller` may see it (`NOT_FOUND` otherwise).
    async fn visible_entry(&self, caller: &Caller, id: &str) -> Result<Entry> {
        access::visible(caller, self.store.get_entry(id).await?)
    }

    /// The offer `id` if `caller` may see the entry it was made to (`NOT_FOUND` otherwise).
    async fn visible_offer(&self, caller: &Caller, id: &str) -> Result<(Offer, Entry)> {
        let offer = self.store.get_offer(id).await?;
        let entry = self.store.get_entry(&offer.entry_id).await?;
        access::visible_offer(caller, offer, entry)
    }
}

/// Reads a required id field.
fn required_id(field: &str, value: &str) -> Result<String> {
    let mut v = Violations::default();
    let id = v.require_uuid(field, value);
    v.finish(id.unwrap_or_default())
}

/// Validates one optional screener of a check-in: `expected` items, each 0..=3, only when answered.
fn screener(
    v: &mut Violations,
    field: &str,
    items: &[i32],
    expected: usize,
    answered: bool,
) -> Option<Vec<i32>> {
    if items.is_empty() {
        return None;
    }
    if !answered {
        v.add(field, "must be empty when the check-in was not answered");
        return None;
    }
    if items.len() != expected {
        v.add(field, format!("must have exactly {expected} items"));
    }
    for (i, x) in items.iter().enumerate() {
        if !(0..=3).contains(x) {
            v.add(format!("{field}[{i}]"), "must be between 0 and 3");
        }
    }
    Some(items.to_vec())
}

#[tonic::async_trait]
impl WaitlistService for WaitlistApi {
    async fn enqueue(
        &self,
        req: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (new, needs) = enqueue_from_proto(req.into_inner())?;
        access::enqueues_for_own_organization(&caller, &new.organization_id)?;
        // Only the organization that took the client's intake enqueues the client (intake decides; another
        // organization's client and one that does not exist are both NOT_FOUND).
        let relationships = self
            .relationships
            .as_ref()
            .ok_or_else(|| Error::Unavailable("intake is not configured".to_owned()))?;
        relationships.check(&caller, &new.client_id, Some(&new.intake_id), Needs::Owner).await?;
        if let Err(e) = domain::crisis_interlock(new.risk_level) {
            tracing::warn!(client_id = %new.client_id, intake_id = %new.intake_id, reason = "HIGH_RISK_NOT_WAITLISTED", "enqueue refused");
            return Err(e.into());
        }
        let now = self.clock.now();
        let (entry, replayed) = self.store.enqueue(new.clone(), now).await?;
        if replayed && !domain::same_request(&entry, &new) {
            return Err(Error::precondition(
                ErrorReason::IdempotencyKeyReused,
                "the idempotency key was already used for another enqueue",
            )
            .into());
        }
        tracing::info!(
            entry_id = %entry.id,
            client_id = %entry.client_id,
            band = entry.band.code(),
            candidates = entry.candidate_provider_ids.len(),
            replayed,
            "enqueued"
        );
        let bridge = self.bridge_at_enqueue(&entry, needs.as_ref()).await;
        let offers = self.store.offers_of(&entry.id).await?;
        let mut entry = entry_to_proto(&entry, &offers, self.clock.now(), &self.limits());
        if let Some(r) = &bridge {
            apply_bridge(&mut entry, r);
        }
        Ok(Response::new(pb::EnqueueResponse { entry: Some(entry), replayed }))
    }

    async fn get_entry(
        &self,
        req: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::GetEntryResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = required_id("entry_id", &req.into_inner().entry_id)?;
        let entry = self.visible_entry(&caller, &id).await?;
        Ok(Response::new(pb::GetEntryResponse {
            entry: Some(self.entry_with_offers(&entry).await?),
        }))
    }

    async fn list_waitlist(
        &self,
        req: Request<pb::ListWaitlistRequest>,
    ) -> Result<Response<pb::ListWaitlistResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let organization_id = v.optional_uuid("organization_id", &req.organization_id);
        let provider_id = v.optional_uuid("provider_id", &req.provider_id);
        let band = Band::optional(&mut v, "band", req.band);
        let size = match usize::try_from(req.page_size) {
            Ok(0) => PAGE_DEFAULT,
            Ok(n) if n <= PAGE_MAX => n,
            _ => {
                v.add("page_size", format!("must be between 1 and {PAGE_MAX}"));
                PAGE_DEFAULT
            }
        };
        // The token is the offset of the next page in priority order. The order moves as time passes, so a
        // page boundary is a position, not a bookmark on an entry.
        let offset = if req.page_token.is_empty() {
            0
        } else {
            match req.page_token.parse::<u32>() {
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(_) => {
                    v.add("page_token", "is not a token from a previous page");
                    0
                }
            }
        };
        v.finish(())?;
        let organization_id = Some(access::own_scope(&caller, organization_id)?);
        let now = self.clock.now();
        let limits = self.limits();
        let filter = EntryFilter { organization_id, provider_id, band };
        let ordered = domain::prioritize(self.store.active_entries(&filter).await?, now, &limits);
        let (page, next) = domain::page(ordered, offset, size);
        let bridges =
            self.store.bridges_of(&page.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await?;
        // Listed entries carry no offers (GetEntry has them), to keep pages small.
        Ok(Response::new(pb::ListWaitlistResponse {
            entries: page
                .iter()
                .map(|e| {
                    let mut p = entry_to_proto(e, &[], now, &limits);
                    if let Some(r) = bridges.get(&e.id) {
                        apply_bridge(&mut p, r);
                    }
                    p
                })
                .collect(),
            next_page_token: next.map(|n| n.to_string()).unwrap_or_default(),
        }))
    }

    async fn open_slots(
        &self,
        req: Request<pb::OpenSlotsRequest>,
    ) -> Result<Response<pb::OpenSlotsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let provider_id = v.require_uuid("provider_id", &req.provider_id).unwrap_or_default();
        if !(1..=domain::MAX_SLOTS).contains(&req.slots) {
            v.add("slots", format!("must be between 1 and {}", domain::MAX_SLOTS));
        }
        let event_id =
            if req.event_id.is_empty() { None } else { v.require_uuid("event_id", &req.event_id) };
        v.finish(())?;
        if event_id.is_some() && !caller.is_service() {
            // Capacity events come from matching; a person opening slots leaves out `event_id`.
            return Err(Error::PermissionDenied(
                "only a Continuum service may send a capacity event".to_owned(),
            )
            .into());
        }
        // Only the provider's own organization opens its slots (a capacity event acts for it too).
        let owner = self.matching()?.provider_organization(&OnBehalfOf::caller(&caller), &provider_id).await.map_err(|e| {
            tracing::warn!(peer = "matching", code = ?e.code, "matching could not say whose provider this is");
            e.into_error("matching")
        })?;
        access::opens_slots_of(&caller, &provider_id, owner.as_deref())?;
        let slots = usize::try_from(req.slots).unwrap_or(0);
        let lock = self.holds.lock_provider(&provider_id).await;
        let now = self.clock.now();
        let result = match &event_id {
            Some(event_id) => self.open_event_slots(&caller, &provider_id, event_id, slots).await,
            None => self.store.open_slots(&provider_id, slots, now).await,
        };
        self.holds.unlock(lock).await;
        let offers = result?;
        let mut with_org = Vec::with_capacity(offers.len());
        for o in offers {
            self.holds.record(&o, now).await;
            let org = self.store.get_entry(&o.entry_id).await?.organization_id;
            with_org.push((o, org));
        }
        // The caller sees the offers to its own waiting clients; other organizations' are only counted.
        let (shown, elsewhere) = access::offers_shown(&caller, with_org);
        tracing::info!(provider_id = %provider_id, slots, offers = shown.len() + elsewhere, "slots opened");
        Ok(Response::new(pb::OpenSlotsResponse {
            offers: shown.iter().map(offer_to_proto).collect(),
            offers_to_other_organizations: i32::try_from(elsewhere).unwrap_or(i32::MAX),
        }))
    }

    async fn respond_to_offer(
        &self,
        req: Request<pb::RespondToOfferRequest>,
    ) -> Result<Response<pb::RespondToOfferResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let offer_id = v.require_uuid("offer_id", &req.offer_id).unwrap_or_default();
        let appointment_at = match req.appointment_at.as_ref() {
            Some(t) if req.accept => {
                let parsed = time::from_proto(t);
                if parsed.is_none() {
                    v.add("appointment_at", "is not a valid timestamp");
                }
                parsed
            }
            _ => None,
        };
        v.finish(())?;
        // Checked before anything changes: another organization's offer is "not found".
        let (offer, entry) = self.visible_offer(&caller, &offer_id).await?;

        if !req.accept {
            let now = self.clock.now();
            let freed = self.store.decline(&offer_id, now).await?;
            self.holds.release(&freed.offer.id).await;
            if let Some(next) = &freed.next_offer {
                self.holds.record(next, now).await;
            }
            tracing::info!(
                offer_id = %freed.offer.id,
                entry_id = %freed.entry.id,
                next_offer_id = freed.next_offer.as_ref().map(|n| n.id.as_str()).unwrap_or(""),
                "offer declined"
            );
            return Ok(Response::new(pb::RespondToOfferResponse {
                offer: Some(offer_to_proto(&freed.offer)),
                entry: Some(self.entry_with_offers(&freed.entry).await?),
                next_offer: freed.next_offer.as_ref().map(offer_to_proto),
            }));
        }

        let now = self.clock.now();
        domain::answerable(&offer, now)?;
        let scheduled_at = appointment_at.unwrap_or_else(|| {
            now.checked_add_signed(TimeDelta::days(domain::DEFAULT_APPOINTMENT_AFTER_DAYS))
                .unwrap_or(now)
        });
        // No transaction is open across this call; if it fails nothing here has changed.
        let referral_id =
            self.create_referral(&offer, &entry, scheduled_at, caller.audit_user()).await?;
        let (offer, entry) = self.store.accept(&offer.id, &referral_id, scheduled_at, self.clock.now()).await.inspect_err(|_| {
            // The referral exists but the offer could not be accepted (it expired or was answered meanwhile):
            // a coordinator must cancel the referral.
            tracing::warn!(offer_id = %offer.id, referral_id = %referral_id, "referral created for an offer that could not be accepted");
        })?;
        self.holds.release(&offer.id).await;
        tracing::info!(offer_id = %offer.id, entry_id = %entry.id, referral_id = %referral_id, "offer accepted; entry placed");
        Ok(Response::new(pb::RespondToOfferResponse {
            offer: Some(offer_to_proto(&offer)),
            entry: Some(self.entry_with_offers(&entry).await?),
            next_offer: None,
        }))
    }

    async fn record_check_in(
        &self,
        req: Request<pb::RecordCheckInRequest>,
    ) -> Result<Response<pb::RecordCheckInResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let entry_id = v.require_uuid("entry_id", &req.entry_id).unwrap_or_default();
        let phq9 = screener(&mut v, "phq9_items", &req.phq9_items, 9, req.answered);
        let gad7 = screener(&mut v, "gad7_items", &req.gad7_items, 7, req.answered);
        let risk = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
        if risk.is_some() && !req.answered {
            v.add("risk_level", "must be unset when the check-in was not answered");
        }
        let imminent = req.clinician_reports_imminent_risk;
        if imminent && !req.answered {
            v.add(
                "clinician_reports_imminent_risk",
                "must be false when the check-in was not answered",
            );
        }
        v.finish(())?;
        // A clinician's judgement of imminent risk is imminent risk, whether or not intake can re-screen.
        let risk = if imminent { Some(RiskLevel::Imminent) } else { risk };
        let current = self.visible_entry(&caller, &entry_id).await?;
        let answered = req.answered;
        // Re-screen through intake first (no transaction is open across the call). A closed entry is
        // refused below without troubling intake.
        let wants_rescreen = answered && (phq9.is_some() || gad7.is_some() || imminent);
        let rescreen = if wants_rescreen && current.status.is_active() {
            self.rescreen(&current, phq9.as_deref(), gad7.as_deref(), imminent, caller.audit_user())
                .await
        } else {
            RescreenResult::NotAsked
        };
        let done = match &rescreen {
            RescreenResult::Done(r) => Some(r.clone()),
            _ => None,
        };
        let now = self.clock.now();
        let policy = *self.store.policy();
        let record = CheckInRecord {
            answered,
            phq9: phq9.clone(),
            gad7: gad7.clone(),
            rescreen: match &rescreen {
                RescreenResult::NotAsked => "",
                RescreenResult::Done(_) => "intake",
                RescreenResult::Pending => "pending",
            },
            assessment_id: done.as_ref().map(|r| r.assessment_id.clone()),
        };
        let checked = self
            .store
            .check_in(&entry_id, record, now, |e| {
                domain::check_in_rescreened(
                    e,
                    answered,
                    phq9.as_deref(),
                    gad7.as_deref(),
                    risk,
                    done.as_ref(),
                    now,
                    &policy,
                )
            })
            .await?;
        for o in &checked.withdrawn {
            self.holds.release(&o.id).await;
        }
        for o in &checked.next_offers {
            self.holds.record(o, now).await;
        }
        let (entry, outcome) = (checked.entry, checked.outcome);
        let pending = matches!(rescreen, RescreenResult::Pending);
        tracing::info!(
            entry_id = %entry.id,
            answered,
            missed_check_ins = outcome.missed_check_ins,
            outreach_opened = outcome.outreach_opened,
            band = entry.band.code(),
            interlock_required = outcome.interlock,
            rescreen_pending = pending,
            assessment_id = done.as_ref().map_or("", |r| r.assessment_id.as_str()),
            rescreen_risk = done.as_ref().map_or("", |r| r.risk.code()),
            "check-in recorded"
        );
        if outcome.interlock {
            // Never silent: the caller is told in the response and the entry keeps the reason. When intake
            // re-screened onto the crisis pathway it has routed the client to crisis care itself.
            tracing::warn!(
                entry_id = %entry.id,
                reason = domain::RISK_RISE_REASON,
                rerouted_by_intake = done.as_ref().is_some_and(|r| r.rerouted),
                "risk rose while waiting; entry left for the crisis interlock"
            );
        }
        Ok(Response::new(pb::RecordCheckInResponse {
            entry: Some(self.entry_with_offers(&entry).await?),
            outreach_opened: outcome.outreach_opened,
            interlock_required: outcome.interlock,
            rescreen_pending: pending,
            assessment_id: done.as_ref().map(|r| r.assessment_id.clone()).unwrap_or_default(),
            rescreen_risk_level: done.as_ref().map_or(0, |r| r.risk.to_proto()),
            rescreen_urgency: done.as_ref().map_or(0, |r| r.urgency.to_proto()),
            rerouted: done.as_ref().is_some_and(|r| r.rerouted),
        }))
    }

    async fn estimate_wait(
        &self,
        req: Request<pb::EstimateWaitRequest>,
    ) -> Result<Response<pb::EstimateWaitResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = required_id("entry_id", &req.into_inner().entry_id)?;
        let now = self.clock.now();
        let limits = self.limits();
        let entry = self.visible_entry(&caller, &id).await?;
        if !entry.status.is_active() {
            return Err(Error::precondition(
                ErrorReason::EntryNotWaiting,
                format!("entry is {}", entry.status.code()),
            )
            .into());
        }
        let ordered = domain::prioritize(
            self.store.active_entries(&EntryFilter::default()).await?,
            now,
            &limits,
        );
        let position = domain::position(&entry, &ordered);
        let since =
            now.checked_sub_signed(TimeDelta::days(domain::THROUGHPUT_WINDOW_DAYS)).unwrap_or(now);
        let accepted = self.store.accepted_since(&entry.candidate_provider_ids, since).await?;
        let est =
            domain::estimate(position, accepted, domain::days_left_in_band(&entry, now, &limits));
        Ok(Response::new(pb::EstimateWaitResponse {
            position: est.position,
            low_days: est.low_days,
            high_days: est.high_days,
            basis: est.basis,
        }))
    }

    async fn remove_entry(
        &self,
        req: Request<pb::RemoveEntryRequest>,
    ) -> Result<Response<pb::RemoveEntryResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let entry_id = v.require_uuid("entry_id", &req.entry_id).unwrap_or_default();
        v.require_str("reason", &req.reason, 200);
        v.finish(())?;
        self.visible_entry(&caller, &entry_id).await?;
        let now = self.clock.now();
        let removed = self.store.remove(&entry_id, req.reason.trim(), now).await?;
        for o in &removed.withdrawn {
            self.holds.release(&o.id).await;
        }
        for o in &removed.next_offers {
            self.holds.record(o, now).await;
        }
        tracing::info!(
            entry_id = %removed.entry.id,
            withdrawn_offers = removed.withdrawn.len(),
            next_offers = removed.next_offers.len(),
            "entry removed"
        );
        Ok(Response::new(pb::RemoveEntryResponse {
            entry: Some(self.entry_with_offers(&removed.entry).await?),
        }))
    }

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let client_id = v.require_uuid("client_id", &req.client_id);
        let client_id = v.finish(client_id)?.unwrap_or_default();
        // Only the caller's organization's entries (a peer service acts for one organization too).
        let history = self
            .store
            .client_history(&caller.organization_id.to_ascii_lowercase(), &client_id)
            .await?;
        let events = crate::care_events::of_client(&history);
        tracing::info!(client_id = %client_id, entries = history.len(), events = events.len(), "care events listed");
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn get_waitlist_metrics(
        &self,
        req: Request<pb::GetWaitlistMetricsRequest>,
    ) -> Result<Response<pb::GetWaitlistMetricsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let organization_id = v.optional_uuid("organization_id", &req.organization_id);
        v.finish(())?;
        let organization_id = access::own_scope(&caller, organization_id)?;
        let (entries, check_ins) = self.store.metrics_facts(Some(&organization_id)).await?;
        let mut rows = domain::wait_metrics(&entries, &check_ins, self.clock.now());
        if rows.is_empty() {
            // An organization with no entries yet still gets its (empty) row.
            rows.push(domain::OrgMetrics { organization_id, ..Default::default() });
        }
        Ok(Response::new(pb::GetWaitlistMetricsResponse {
            organizations: rows
                .into_iter()
                .map(|m| pb::OrganizationWaitMetrics {
                    organization_id: m.organization_id,
                    placed: m.placed,
                    waiting: m.waiting,
                    share_seen_within_6_weeks: m.within_6_weeks,
                    share_seen_within_18_weeks: m.within_18_weeks,
                    median_days_to_first_appointment: m.median_days_to_first,
                    median_days_to_second_appointment: m.median_days_to_second,
                    second_appointments_recorded: m.second_recorded,
                    deterioration_events: m.deterioration_events,
                    crisis_events: m.crisis_events,
                })
                .collect(),
        }))
    }
}
