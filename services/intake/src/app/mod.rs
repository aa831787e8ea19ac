//! The intake service's use cases: the only place that decides access (`access`) and talks to the ports
//! — the store, the router (`routing`) and referral (the facts a recipient's access rests on). The gRPC
//! adapter decodes a request (`crate::convert`), calls one method here with the request's [`Context`]
//! (who asks, and why), and encodes the answer; scoring and assessment are pure (`crate::domain`). Every
//! read and write of an intake is audited here, with the purpose of use.

pub mod access;
pub mod routing;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use continuum_auth::{Caller, Role};
use continuum_errors::page::Page;
use continuum_proto::common::v1::CareEvent;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId, ReferralId};

use self::access::Relationship;
use self::routing::{LEASE, Router};
use crate::domain::{
    self, Assessment, Consent, ConsentCategory, ConsentGrant, Dysregulation, Intake, NewIntake,
    OverrideRequest, RoutingDecision, RoutingStatus, Rules, ScoreChange, Screeners,
};
use crate::error::{Error, ErrorReason, Result};
use crate::peers::referral::ReferralPeer;
use crate::store::{AuditEvent, AuditRecord, Inserted, IntakeFilter, NewRouting, Store};

const RPC_SUBMIT: &str = "continuum.intake.v1.IntakeService/SubmitIntake";
const RPC_GET: &str = "continuum.intake.v1.IntakeService/GetIntake";
const RPC_LIST: &str = "continuum.intake.v1.IntakeService/ListIntakes";
const RPC_REASSESS: &str = "continuum.intake.v1.IntakeService/RecordReassessment";
const RPC_RECORD_CONSENT: &str = "continuum.intake.v1.IntakeService/RecordConsent";
const RPC_REVOKE_CONSENT: &str = "continuum.intake.v1.IntakeService/RevokeConsent";
const RPC_CARE_EVENTS: &str = "continuum.intake.v1.IntakeService/ListCareEvents";

/// How long a submission waits for its routing before answering with routing pending.
const INLINE_ROUTING_BUDGET: Duration = Duration::from_secs(15);

/// Who is asking, and why: the audit context of one request.
#[derive(Clone, Debug)]
pub struct Context {
    /// The caller the auth layer attached.
    pub caller: Caller,
    /// The purpose of use recorded with each audit row.
    pub purpose: String,
}

impl Context {
    /// The context of `caller`, with the purpose from its `x-continuum-purpose` header when that is a
    /// plain code (lowercase letters and `_`, up to 64), otherwise the default for the caller's role.
    pub fn new(caller: Caller, purpose_header: Option<&str>) -> Self {
        let purpose = match purpose_header {
            Some(p)
                if !p.is_empty()
                    && p.len() <= 64
                    && p.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
            {
                p.to_owned()
            }
            _ if caller.has(Role::Clinician) => "treatment".to_owned(),
            _ if caller.has(Role::Coordinator) || caller.is_service() => {
                "care_coordination".to_owned()
            }
            _ => "intake".to_owned(),
        };
        Self { caller, purpose }
    }

    fn row(
        &self,
        action: &'static str,
        record_type: &'static str,
        intake: &Intake,
        rpc: &'static str,
    ) -> AuditRecord {
        AuditRecord {
            user_id: self.caller.audit_user().to_owned(),
            organization_id: self.caller.organization_id.clone(),
            owner_organization_id: intake.submission.organization_id.to_string(),
            action,
            record_type,
            record_id: if record_type == "assessment" {
                intake.assessment.id.clone()
            } else {
                intake.id.to_string()
            },
            client_id: intake.client_id.to_string(),
            rpc,
            purpose: self.purpose.clone(),
            trace_id: continuum_telemetry::current_trace_id(),
        }
    }
}

/// What a reader who is not the owner may see of an intake: the categories its client consented to
/// share with the reader's organization, and the supports that would reveal substance use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// Consented categories (never empty).
    pub categories: Vec<ConsentCategory>,
    /// Supports added by substance-use rules (removed without that category).
    pub substance_supports: Vec<String>,
}

/// Which intakes to list.
#[derive(Clone, Debug)]
pub struct IntakeQuery {
    /// Whose (the caller's own organization when absent).
    pub organization_id: Option<OrganizationId>,
    /// The filters (its organization is set from the above).
    pub filter: IntakeFilter,
}

/// A re-screen of an intake.
#[derive(Clone, Debug)]
pub struct Reassessment {
    /// The intake.
    pub intake_id: IntakeId,
    /// The new screeners (they replace the intake's).
    pub screeners: Screeners,
    /// The clinician reports imminent risk.
    pub clinician_reports_imminent_risk: bool,
    /// New dysregulation signs, when observed again.
    pub dysregulation: Option<Dysregulation>,
    /// The clinician's override of this reassessment.
    pub clinician_override: Option<OverrideRequest>,
}

/// What a reassessment found and did.
#[derive(Clone, Debug)]
pub struct Reassessed {
    /// The new assessment.
    pub assessment: Assessment,
    /// Its override reason, when overridden.
    pub reason: Option<String>,
    /// The assessment it replaced.
    pub previous: Assessment,
    /// The previous one's override reason.
    pub previous_reason: Option<String>,
    /// Risk rose.
    pub risk_increased: bool,
    /// The client was re-routed (risk rose onto the crisis pathway).
    pub rerouted: bool,
    /// The routing now.
    pub routing: RoutingDecision,
    /// Score changes with their reliability.
    pub changes: Vec<ScoreChange>,
}

/// A change of an intake's consent.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsentChange {
    /// Grants recorded.
    Record {
        /// The intake.
        intake_id: IntakeId,
        /// New grants.
        grants: Vec<ConsentGrant>,
        /// The blanket share with any referral recipient.
        share_with_referral_recipient: bool,
    },
    /// Grants revoked (all matching the filters; none given means all).
    Revoke {
        /// The intake.
        intake_id: IntakeId,
        /// Only grants to this organization.
        recipient_organization_id: Option<OrganizationId>,
        /// Only grants for this referral.
        referral_id: Option<ReferralId>,
        /// Only these categories.
        categories: Vec<ConsentCategory>,
    },
}

/// Whose audit events to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// About this client.
    pub client_id: Option<ClientId>,
    /// By this user.
    pub user_id: Option<String>,
}

/// Which organization may act for a client, as asked by a peer service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationshipQuestion {
    /// The client.
    pub client_id: ClientId,
    /// The intake the caller acts on, when one.
    pub intake_id: Option<IntakeId>,
    /// Only the owner counts (referral recipients do not).
    pub owner_only: bool,
}

/// The intake use cases over their ports.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    router: Router,
    rules: Arc<Rules>,
    referrals: ReferralPeer,
}

impl App {
    /// Use cases over the store and router, assessing with `rules` and asking `referrals` about the
    /// referrals a recipient's access rests on.
    pub fn new(store: Store, router: Router, rules: Arc<Rules>, referrals: ReferralPeer) -> Self {
        Self { store, router, rules, referrals }
    }

    /// Accepts a submission for the caller's own organization (replaying an earlier one under the same
    /// idempotency key and body `fingerprint`), assesses it, stores it with its pending routing in one
    /// transaction and routes it inline within [`INLINE_ROUTING_BUDGET`]. The answer says whether it was
    /// replayed.
    pub async fn submit(
        &self,
        ctx: &Context,
        submission: NewIntake,
        fingerprint: String,
    ) -> Result<(Intake, bool)> {
        if !ctx.caller.belongs_to(submission.organization_id.as_str()) {
            return Err(Error::PermissionDenied(
                "intakes can be submitted only for your own organization".into(),
            ));
        }
        // A replay (the same idempotency key again) is told by the unique index on the intake row when the
        // new intake's batch is written, and then answered from what that key stored: no lookup before a new
        // intake, the common case. A cache hint in front of the index cost two Redis round trips per intake
        // (6-8 % of intakes/s at 32 in flight, issue 12) to save a replay a ranking and a refused insert.
        let now = Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        let assessment =
            domain::assess(uuid::Uuid::now_v7().to_string(), &submission, &self.rules, now, None);
        self.check_override(&assessment, submission.clinician_override.as_ref())?;
        let mut pending = RoutingDecision::pending("routing in progress");
        if assessment.carries_crisis_resources() {
            pending.crisis_resources = domain::crisis_resources(&submission.client.jurisdiction);
        }
        let tasks = domain::tasks::opened_by(&assessment, &self.rules, now);
        // Matching is asked for the routing plan before the intake is stored, so that routing starts the
        // moment it is (no claim, no read back), and the plan is written with the intake, before any call
        // made on it. When matching cannot answer in time the routing asks again.
        let first_plan =
            self.router.first_plan(&submission, &assessment, ctx.caller.audit_user()).await;
        let routing = NewRouting {
            decision: pending,
            lease_owner: self.router.owner(),
            lease_until: now + chrono::Duration::from_std(LEASE).unwrap_or_default(),
            acting_user_id: ctx.caller.audit_user(),
            plan: first_plan.as_ref().and_then(|p| p.as_ref().ok()),
        };
        let inserted = self
            .store
            .insert_intake(
                id,
                submission,
                fingerprint.clone(),
                assessment,
                routing,
                now,
                &tasks,
                |intake| ctx.row("write", "intake", intake, RPC_SUBMIT),
            )
            .await?;
        let mut intake = match inserted {
            Inserted::Replayed { intake_id, fingerprint: stored } => {
                return self.replay(ctx, &intake_id, &stored, &fingerprint).await;
            }
            Inserted::Created(intake) => *intake,
        };
        tracing::info!(
            intake_id = %intake.id,
            risk = intake.assessment.risk_level.code(),
            level_of_care = intake.assessment.level_of_care.code(),
            "intake accepted"
        );
        // Route now; a slow or absent peer leaves the routing pending for the worker.
        let routing = self.router.route_created(&intake, ctx.caller.audit_user(), first_plan);
        if let Some(decision) = self.within_budget(&intake.id, "routing", routing).await {
            intake.routing = decision;
        }
        Ok((intake, false))
    }

    /// Refuses a clinician override that lowers the level of care below what the assessed risk requires
    /// unless the clinician acknowledged it (`override.below_risk_acknowledged`).
    fn check_override(
        &self,
        assessment: &domain::Assessment,
        o: Option<&domain::OverrideRequest>,
    ) -> Result<()> {
        match o.and_then(|o| {
            domain::overrides::override_needs_acknowledgement(assessment, o, &self.rules)
        }) {
            Some((field, message)) => {
                Err(Error::invalid(format!("clinician_override.{field}"), message))
            }
            None => Ok(()),
        }
    }

    async fn replay(
        &self,
        ctx: &Context,
        intake_id: &str,
        stored_fingerprint: &str,
        fingerprint: &str,
    ) -> Result<(Intake, bool)> {
        if stored_fingerprint != fingerprint {
            return Err(Error::precondition(
                ErrorReason::IdempotencyKeyReused,
                "this idempotency key was used for a different intake; use a new key",
            ));
        }
        let intake = access::owned(
            &ctx.caller,
            self.store.get_intake(&IntakeId::from_stored(intake_id)?).await?,
        )?;
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_SUBMIT)]).await?;
        tracing::info!(intake_id, routing = intake.routing.status.code(), "submission replayed");
        Ok((intake, true))
    }

    /// Routes `intake_id` now, within [`INLINE_ROUTING_BUDGET`]; `None` leaves it pending for the worker.
    async fn route_inline(
        &self,
        intake_id: &IntakeId,
        what: &'static str,
    ) -> Option<RoutingDecision> {
        self.within_budget(intake_id, what, self.router.route(intake_id.as_str())).await
    }

    /// `routing` (of `intake_id`) within [`INLINE_ROUTING_BUDGET`]; `None` leaves it pending for the
    /// worker.
    async fn within_budget(
        &self,
        intake_id: &IntakeId,
        what: &'static str,
        routing: impl std::future::Future<Output = Result<RoutingDecision>>,
    ) -> Option<RoutingDecision> {
        match tokio::time::timeout(INLINE_ROUTING_BUDGET, routing).await {
            Ok(Ok(decision)) => Some(decision),
            Ok(Err(e)) => {
                tracing::warn!(intake_id = %intake_id, error = %e, what, "inline routing failed; left pending");
                None
            }
            Err(_) => {
                tracing::warn!(intake_id = %intake_id, what, "inline routing timed out; left pending");
                None
            }
        }
    }

    /// Intake `id` as the caller may read it: whole for its owner; for anyone else only as the
    /// recipient of a live referral (`referral_id`) the owner made, and only what the client consented
    /// to share with them (`Some(Shared)`). Everyone else, and a recipient without consent, gets
    /// `NOT_FOUND`.
    pub async fn get_intake(
        &self,
        ctx: &Context,
        id: &IntakeId,
        referral_id: Option<&ReferralId>,
    ) -> Result<(Intake, Option<Shared>)> {
        let referral_id = referral_id.map(ReferralId::as_str);
        let found = self.store.get_intake(id).await;
        let (intake, shared) = match found {
            Ok(intake) if ctx.caller.belongs_to(intake.submission.organization_id.as_str()) => {
                (intake, None)
            }
            other => {
                // Referral is asked before the intake's absence is told, so another organization's
                // intake and one that does not exist are answered alike, even while referral is down.
                // Revoking consent stops a recipient's reads at once.
                let referral = match referral_id {
                    Some(r) => self.referrals.get(&ctx.caller, r).await?,
                    None => None,
                };
                let intake = other?;
                let categories =
                    access::recipient_categories(&ctx.caller, &intake, referral.as_ref())?;
                if categories.is_empty() {
                    return Err(Error::not_found("intake", id.as_str()));
                }
                let substance_supports = self
                    .rules
                    .supports
                    .iter()
                    .filter(|r| r.when_substance_use_at.is_some())
                    .flat_map(|r| r.add.iter().cloned())
                    .collect();
                (intake, Some(Shared { categories, substance_supports }))
            }
        };
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_GET)]).await?;
        Ok((intake, shared))
    }

    /// A page of the caller's organization's intakes, newest first, and the next page's token.
    pub async fn list_intakes(
        &self,
        ctx: &Context,
        query: IntakeQuery,
        page: &Page,
    ) -> Result<(Vec<Intake>, String)> {
        let organization_id = query
            .organization_id
            .map(String::from)
            .unwrap_or_else(|| ctx.caller.organization_id.clone());
        if !ctx.caller.belongs_to(&organization_id) {
            return Err(Error::PermissionDenied(
                "you may list only your own organization's intakes".into(),
            ));
        }
        let filter = IntakeFilter { organization_id, ..query.filter };
        let mut rows =
            self.store.list_intakes(&filter, page.after.as_deref(), page.fetch()).await?;
        let next = page.finish(&mut rows, |i| i.id.to_string());
        self.store
            .audit(rows.iter().map(|i| ctx.row("read", "intake", i, RPC_LIST)).collect())
            .await?;
        Ok((rows, next))
    }

    /// Re-screens one of the caller's organization's intakes. The re-screen replaces the screeners and,
    /// when given, the dysregulation signs; everything else (history, stressors, preferences) is the
    /// intake's. The intake's override is not carried over: a reassessment stands on the rules unless the
    /// clinician overrides again. When risk rises onto the crisis pathway the client is re-routed to
    /// crisis-capable care at once (an earlier routing was made for lower risk); other rises are reported
    /// (`risk_increased`) for the waitlist to re-band.
    pub async fn reassess(&self, ctx: &Context, r: Reassessment) -> Result<Reassessed> {
        let mut intake = access::owned(&ctx.caller, self.store.get_intake(&r.intake_id).await?)?;
        let mut rescreen = intake.submission.clone();
        rescreen.screeners = r.screeners;
        rescreen.clinician_reports_imminent_risk = r.clinician_reports_imminent_risk;
        let reason = r.clinician_override.as_ref().map(|o| o.reason.clone());
        rescreen.clinician_override = r.clinician_override;
        if r.dysregulation.is_some() {
            rescreen.dysregulation = r.dysregulation;
        }
        let assessment = domain::assess(
            uuid::Uuid::now_v7().to_string(),
            &rescreen,
            &self.rules,
            Utc::now(),
            Some(&intake.assessment),
        );
        self.check_override(&assessment, rescreen.clinician_override.as_ref())?;
        let tasks = domain::tasks::opened_by(&assessment, &self.rules, assessment.assessed_at);
        self.store.insert_reassessment(&intake, &assessment, reason.as_deref(), &tasks).await?;
        let previous = std::mem::replace(&mut intake.assessment, assessment.clone());
        let previous_reason = Intake { assessment: previous.clone(), ..intake.clone() }
            .override_reason()
            .map(str::to_owned);
        intake.latest_override_reason = reason;
        self.store.audit(vec![ctx.row("write", "assessment", &intake, RPC_REASSESS)]).await?;
        let risk_increased = assessment.risk_level > previous.risk_level;
        let changes = domain::reliable_changes(&previous, &assessment, &self.rules);
        let reliable = changes.iter().filter(|c| c.reliable).count();
        tracing::info!(intake_id = %intake.id, risk = assessment.risk_level.code(), risk_increased, reliable_changes = reliable, "reassessed");
        let mut rerouted = false;
        if assessment.risk_level.is_crisis()
            && !previous.risk_level.is_crisis()
            && intake.routing.status != RoutingStatus::Pending
        {
            let mut pending = RoutingDecision::pending(
                "re-routing: risk rose to the crisis pathway (reassessment.reroute_on_crisis)",
            );
            pending.crisis_resources =
                domain::crisis_resources(&intake.submission.client.jurisdiction);
            pending.reroute_for_assessment = Some(assessment.id.clone());
            let lease_until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
            if self
                .store
                .reopen_routing(
                    intake.id.as_str(),
                    &pending,
                    self.router.owner(),
                    lease_until,
                    ctx.caller.audit_user(),
                )
                .await?
            {
                rerouted = true;
                intake.routing = pending;
                tracing::warn!(intake_id = %intake.id, risk = assessment.risk_level.code(), "risk rose to the crisis pathway: re-routing");
                if let Some(decision) = self.route_inline(&intake.id, "re-routing").await {
                    intake.routing = decision;
                }
            }
        }
        Ok(Reassessed {
            assessment,
            reason: intake.latest_override_reason,
            previous,
            previous_reason,
            risk_increased,
            rerouted,
            routing: intake.routing,
            changes,
        })
    }

    /// Records or revokes consent on one of the caller's organization's intakes; the consent after.
    pub async fn change_consent(&self, ctx: &Context, change: ConsentChange) -> Result<Consent> {
        let (id, rpc) = match &change {
            ConsentChange::Record { intake_id, .. } => (intake_id.clone(), RPC_RECORD_CONSENT),
            ConsentChange::Revoke { intake_id, .. } => (intake_id.clone(), RPC_REVOKE_CONSENT),
        };
        let intake = access::owned(&ctx.caller, self.store.get_intake(&id).await?)?;
        let mut consent = intake.submission.consent.clone();
        let now = Utc::now();
        let user = ctx.caller.audit_user();
        let what = match change {
            ConsentChange::Record { grants, share_with_referral_recipient, .. } => {
                consent.record(grants, share_with_referral_recipient, now, user);
                "consent recorded"
            }
            ConsentChange::Revoke {
                recipient_organization_id, referral_id, categories, ..
            } => {
                consent.revoke(
                    recipient_organization_id.as_ref().map(OrganizationId::as_str),
                    referral_id.as_ref().map(ReferralId::as_str),
                    &categories,
                    now,
                    user,
                );
                "consent revoked"
            }
        };
        let intake = self.store.update_consent(&id, &consent).await?;
        self.store.audit(vec![ctx.row("write", "consent", &intake, rpc)]).await?;
        tracing::info!(intake_id = %intake.id, grants = consent.grants.len(), "{what}");
        Ok(intake.submission.consent)
    }

    /// What the care timeline shows of `client_id`'s intakes to the caller: only their own
    /// organization's (another organization's steps are not shown at all).
    pub async fn care_events(&self, ctx: &Context, client_id: &ClientId) -> Result<Vec<CareEvent>> {
        let history = self.store.client_history(&ctx.caller.organization_id, client_id).await?;
        self.store
            .audit(
                history
                    .iter()
                    .map(|(intake, _)| ctx.row("read", "intake", intake, RPC_CARE_EVENTS))
                    .collect(),
            )
            .await?;
        let events = crate::care_events::of_client(&history);
        tracing::info!(client_id = %client_id, intakes = history.len(), events = events.len(), "care events listed");
        Ok(events)
    }

    /// A page of the audit events about the caller's own organization's records, whoever read or wrote
    /// them, and the next page's token.
    pub async fn audit_events(
        &self,
        caller: &Caller,
        query: AuditQuery,
        page: &Page,
    ) -> Result<(Vec<AuditEvent>, String)> {
        let mut events = self
            .store
            .list_audit(
                &caller.organization_id,
                query.client_id.as_ref(),
                query.user_id.as_deref(),
                page.after.as_deref(),
                page.fetch(),
            )
            .await?;
        let next = page.finish(&mut events, |e| e.id.clone());
        Ok((events, next))
    }

    /// Whether the caller's organization may act for a client (and, given one, on that intake): as the
    /// owner, or as the recipient of live referrals of the client. The owner's organization comes with
    /// the answer. Anyone else gets `NOT_FOUND`, like a client nobody took.
    pub async fn care_relationship(
        &self,
        caller: &Caller,
        q: RelationshipQuestion,
    ) -> Result<(Relationship, String)> {
        let intakes = self.store.ownership_of_client(&q.client_id).await?;
        let owner = intakes.first().map(|i| i.organization_id.clone()).unwrap_or_default();
        // Referral is asked only when the caller's organization could be a recipient: never for the
        // owner or an owner-only question. A client nobody took is asked about too, so another
        // organization's client and one that does not exist are answered alike, even while referral is
        // down.
        let asks_referral = !caller.belongs_to(&owner) && !q.owner_only;
        let referrals = if asks_referral {
            self.referrals.of_client(caller, q.client_id.as_str()).await?
        } else {
            Vec::new()
        };
        let found = access::relationship(
            caller,
            q.client_id.as_str(),
            &intakes,
            q.intake_id.as_ref().map(IntakeId::as_str),
            q.owner_only,
            &referrals,
        )?;
        Ok((found, owner))
    }
}
