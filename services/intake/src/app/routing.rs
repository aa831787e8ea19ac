//! Routing: follows the assessment to a referral or a waitlist entry, exactly once per intake.
//!
//! A routing task is created with the intake (same transaction). The request that submitted the intake
//! runs it at once under a lease; if a downstream service is unavailable the task stays pending and the
//! background worker (on any replica) retries it with exponential back-off once the lease lapses.
//!
//! Exactly-once comes from three things together: (1) the ranked plan from matching is stored before any
//! other call (for a new intake, asked before the intake is stored and written with it), so every retry
//! follows the same plan (a retry that finds a provider of a plan stored earlier full asks matching once
//! for a fresh plan, which is stored before any of its options is called); (2) a candidate is skipped
//! only on a definite refusal (no capacity: nothing was created), never on an unavailable peer; (3)
//! referral and waitlist calls carry the idempotency key `intake:<id>`, so a call repeated after a lost
//! answer returns what the first one made instead of making a second.
//!
//! Outside the crisis pathway a referral falls back at once on its alternatives (first-open): referral
//! refers the client to the first option of the plan that still has a slot, in the same call, so the
//! decision names whichever option that was, and a refusal answers for every option the call offered.

use continuum_vocab::ids::IntakeId;
use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_auth::on_behalf_of;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::waitlist::v1 as wpb;
use continuum_vocab::{CarePhase, LevelOfCare, Modality, Urgency};
use tonic::Code;

use crate::domain::{
    Assessment, Candidate, Intake, NewIntake, Priorities, RoutingDecision, RoutingPlan,
    RoutingStatus, Rules, explain_choice, order_candidates,
};
use crate::error::{ErrorReason, PeerError, Result};
pub use crate::peers::Peers;
use crate::store::{RoutingTask, Store};

/// How long one routing attempt may hold its lease.
pub const LEASE: Duration = Duration::from_secs(30);

/// How long SubmitIntake waits for matching's plan before it stores the intake; past it the intake is
/// stored without a plan, and its inline routing asks again (within what is left of its budget).
pub const FIRST_PLAN_WAIT: Duration = Duration::from_secs(2);

/// Runs routing tasks.
#[derive(Clone, Debug)]
pub struct Router {
    store: Store,
    peers: Peers,
    rules: std::sync::Arc<Rules>,
    owner: String,
    max_backoff: Duration,
    /// Whether an attempt of this router was deferred since its last success: the next success means the
    /// peers answer again, and the deferred routings are brought forward ([`Store::expedite_routings`]).
    deferred: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

enum Step {
    Done(Box<RoutingDecision>),
    /// Try again later, for the reason given (the plan followed so far is stored).
    Retry(&'static str),
}

/// The downstream idempotency key of an intake's routing; a re-route after a reassessment gets its own.
fn key(intake: &Intake) -> String {
    match &intake.routing.reroute_for_assessment {
        None => format!("intake:{}", intake.id),
        Some(a) => format!("intake:{}:reroute:{a}", intake.id),
    }
}

/// Whether a peer's answer is a definite "this candidate cannot take the client" (nothing was created).
fn is_definite_refusal(e: &PeerError) -> bool {
    e.code == Code::FailedPrecondition
        && (e.is(ErrorReason::NoCapacity) || e.is(ErrorReason::ProviderNotFound))
}

/// The step after a peer's failure that is neither a definite refusal nor worth retrying (a bad request,
/// a record the peer does not let us reach): a coordinator decides; nothing is retried forever.
fn refused_by(
    peer: &'static str,
    e: PeerError,
    mut decision: RoutingDecision,
    intake_id: &str,
) -> Step {
    tracing::error!(intake_id, peer, code = ?e.code, reason = ?e.reason, "a peer refused the routing for good; coordinator needed");
    decision.status = RoutingStatus::NeedsCoordinator;
    decision.reason =
        format!("{peer} refused the routing ({:?}); a coordinator must route this client", e.code);
    Step::Done(Box::new(decision))
}

/// The step when matching could not give a plan: retried later when it may answer then, else a
/// coordinator decides.
fn unplanned(e: PeerError, intake: &Intake) -> Step {
    if e.is_retryable() {
        Step::Retry("matching_unavailable")
    } else {
        refused_by("matching", e, intake.routing.clone(), intake.id.as_str())
    }
}

fn band_for(urgency: Urgency) -> wpb::Band {
    match urgency {
        Urgency::Emergency | Urgency::Urgent => wpb::Band::Urgent,
        Urgency::Soon => wpb::Band::Soon,
        Urgency::Routine => wpb::Band::Routine,
    }
}

/// Back-off before attempt `attempts + 1` (the shared policy): 0.5 s after the first attempt, doubling,
/// capped at `max`.
pub fn backoff(attempts: i32, max: Duration) -> Duration {
    continuum_outbox::Backoff::new(Duration::from_millis(500), max)
        .after(u32::try_from(attempts.max(0) + 1).unwrap_or(u32::MAX))
}

impl Router {
    /// A router whose leases are held under a fresh owner id.
    pub fn new(
        store: Store,
        peers: Peers,
        rules: std::sync::Arc<Rules>,
        max_backoff: Duration,
    ) -> Self {
        Self {
            store,
            peers,
            rules,
            owner: uuid::Uuid::now_v7().to_string(),
            max_backoff,
            deferred: std::sync::Arc::default(),
        }
    }

    /// The lease owner id of this router (the submitting request creates tasks leased to it).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The store routing reads and writes (the worker claims through it).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Runs the routing task of `intake_id` once if this router can claim it, and returns the decision as
    /// it stands afterwards (possibly still pending).
    pub async fn route(&self, intake_id: &str) -> Result<RoutingDecision> {
        self.route_with(intake_id, false).await
    }

    /// `route`, from the background worker: the attempt and its outcome (the final "routed" or "routing
    /// deferred" line, or the failure) run in a span that joins the trace of the request that accepted the
    /// intake, so those log lines carry that trace id.
    pub(crate) async fn route_with(
        &self,
        intake_id: &str,
        background: bool,
    ) -> Result<RoutingDecision> {
        use tracing::Instrument;
        let now = Utc::now();
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = self.store.claim_routing(intake_id, &self.owner, now, lease_until).await;
        let task = match claimed {
            Ok(Some(task)) => task,
            Ok(None) => {
                // The queue is keyed by the stored intake id.
                return Ok(self
                    .store
                    .get_intake(&IntakeId::from_stored(intake_id)?)
                    .await?
                    .routing);
            }
            Err(e) => {
                if background {
                    tracing::warn!(intake_id, error = %e, "routing attempt failed");
                }
                return Err(e);
            }
        };
        if !background {
            return self.attempt_and_record(&task).await;
        }
        let span = tracing::info_span!("routing.retry", intake_id, attempt = task.attempts + 1);
        continuum_telemetry::continue_trace(&span, &task.trace_parent);
        async {
            let result = self.attempt_and_record(&task).await;
            if let Err(e) = &result {
                tracing::warn!(intake_id, error = %e, "routing attempt failed");
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Matching's plan for an intake about to be stored, asked within [`FIRST_PLAN_WAIT`] and passed on to
    /// [`Router::route_created`], so the routing starts the moment the intake is stored (issue 12). `Err`
    /// is what the call ended with; `None` when matching did not answer in time.
    pub async fn first_plan(
        &self,
        submission: &NewIntake,
        assessment: &Assessment,
        acting_user_id: &str,
    ) -> Option<std::result::Result<RoutingPlan, PeerError>> {
        let ask = self.ask_plan(submission, assessment, acting_user_id);
        match tokio::time::timeout(FIRST_PLAN_WAIT, ask).await {
            Ok(Ok(plan)) => Some(Ok(plan)),
            Ok(Err(s)) => {
                tracing::warn!(code = ?s.code(), "recommend failed before the intake was stored");
                Some(Err(PeerError::from(&s)))
            }
            Err(_) => {
                tracing::warn!("recommend did not answer in time before the intake was stored");
                None
            }
        }
    }

    /// Runs the routing task that SubmitIntake has just created for `intake` in the intake's own
    /// transaction, leased to this router (as `acting_user_id`), with `first`, matching's answer asked
    /// before the intake was stored ([`Router::first_plan`]; without an answer in time, the attempt asks
    /// again) and, when it is a plan, stored with the task. Nothing needs claiming, reading back or writing
    /// before the peer calls, which saves a claim, four reads and a write per intake on the hot path.
    /// Should the lease lapse meanwhile (the attempt cancelled, or its finish not written), finishing is
    /// refused by the lease check, and the router that claims the task next follows the same stored plan,
    /// so each call it makes again is answered with what this attempt's call made.
    pub async fn route_created(
        &self,
        intake: &Intake,
        acting_user_id: &str,
        first: Option<std::result::Result<RoutingPlan, PeerError>>,
    ) -> Result<RoutingDecision> {
        let (plan, failed) = match first {
            Some(Ok(plan)) => (Some(plan), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let task = RoutingTask {
            intake: intake.clone(),
            plan,
            attempts: 0,
            trace_parent: String::new(),
            acting_user_id: acting_user_id.to_owned(),
        };
        // Matching has just failed for this intake: the outcome is the same as asking again now.
        let step = match failed {
            Some(e) => unplanned(e, intake),
            None => self.attempt(&task).await,
        };
        self.record(&task, step).await
    }

    /// One attempt at a claimed task, and its outcome stored and logged (in the caller's span).
    async fn attempt_and_record(&self, task: &RoutingTask) -> Result<RoutingDecision> {
        let step = self.attempt(task).await;
        self.record(task, step).await
    }

    /// The outcome `step` of an attempt at `task`, stored and logged.
    async fn record(&self, task: &RoutingTask, step: Step) -> Result<RoutingDecision> {
        let intake_id = task.intake.id.as_str();
        let attempts = task.attempts + 1;
        match step {
            Step::Done(decision) => {
                let mut decision = *decision;
                decision.attempts = attempts;
                decision.decided_at = Some(Utc::now());
                decision.rules_version.clone_from(&task.intake.assessment.rules_version);
                let crisis = task.intake.assessment.risk_level.is_crisis();
                // CLINICAL.md, Risk: a crisis-pathway client is routed to crisis care at once; when
                // routing could not refer them, a coordinator acts now — whatever the cause.
                let unreferred = crisis && decision.status != RoutingStatus::Referred;
                let open = unreferred
                    .then(|| crate::domain::tasks::crisis_unreferred(&self.rules, Utc::now()));
                self.store.finish_routing(&task.intake, &self.owner, &decision, open).await?;
                let waited = Utc::now() - task.intake.received_at;
                #[allow(clippy::cast_precision_loss)]
                crate::telemetry::routed(
                    decision.status,
                    crisis,
                    unreferred,
                    waited.num_milliseconds() as f64 / 1000.0,
                );
                if unreferred {
                    tracing::error!(
                        intake_id,
                        status = decision.status.code(),
                        "crisis client without a crisis referral: coordinator task opened"
                    );
                }
                tracing::info!(intake_id, status = decision.status.code(), attempts, "routed");
                self.expedite_if_recovered().await;
                Ok(decision)
            }
            Step::Retry(code) => {
                let mut decision = task.intake.routing.clone();
                decision.attempts = attempts;
                decision.reason = format!("routing pending: {code}; retrying");
                let next: DateTime<Utc> = Utc::now()
                    + chrono::Duration::from_std(backoff(attempts, self.max_backoff))
                        .unwrap_or_default();
                self.store.retry_later(intake_id, &self.owner, &decision, next, code).await?;
                self.deferred.store(true, std::sync::atomic::Ordering::Release);
                tracing::warn!(intake_id, error = code, attempts, "routing deferred");
                Ok(decision)
            }
        }
    }

    /// After a success that follows deferrals: the peers answer again, so every deferred routing is made
    /// due now instead of waiting out its back-off (issue 12: a backlog drains in seconds, not over the
    /// longest back-off). The worker then drains them a batch at a time.
    async fn expedite_if_recovered(&self) {
        if !self.deferred.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        match self.store.expedite_routings(Utc::now()).await {
            Ok(n) => tracing::info!(routings = n, "peers answer again: deferred routings due now"),
            Err(e) => {
                self.deferred.store(true, std::sync::atomic::Ordering::Release);
                tracing::warn!(error = %e, "bringing deferred routings forward failed");
            }
        }
    }

    async fn attempt(&self, task: &RoutingTask) -> Step {
        let intake = &task.intake;
        // A plan stored by an earlier attempt is as old as whatever deferred the routing (an outage can
        // last hours): its "open slot" marks may be long stale. The first provider found full makes such an
        // attempt ask matching once for the directory as it stands (the test
        // `a_provider_found_full_makes_the_routing_follow_a_fresh_plan`). A plan made for this attempt,
        // or moments ago with the intake, is current: a refusal there means a concurrent routing took the
        // slot first, and asking again would only race the same routings (issue 12, measured with 20,000
        // providers: 10-18 % fewer intakes/s when every attempt re-planned, for no fewer refusals).
        let mut may_replan = task.plan.is_some() && task.attempts > 0;
        let mut plan = match &task.plan {
            Some(p) => p.clone(),
            None => match self.plan(task).await {
                Ok(p) => {
                    if let Err(e) = self.store.save_plan(intake.id.as_str(), &self.owner, &p).await
                    {
                        tracing::warn!(intake_id = %intake.id, error = %e, "saving routing plan failed");
                        return Step::Retry("store_unavailable");
                    }
                    p
                }
                Err(e) => return unplanned(e, intake),
            },
        };
        // Consent may have changed since the plan was made (recorded or revoked): re-check it now.
        let consent = &intake.submission.consent;
        plan.recheck_consent(|org| consent.allows_referral_to(org));
        let mut decision = intake.routing.clone();
        decision.candidate_provider_ids = plan.provider_ids();
        decision.rules_applied.clone_from(&plan.rules_applied);
        let applied = if plan.rules_applied.is_empty() {
            String::new()
        } else {
            format!(" [rules: {}]", plan.rules_applied.join(", "))
        };
        if plan.candidates.is_empty() {
            decision.status = RoutingStatus::NeedsCoordinator;
            let excluded: Vec<String> = plan
                .exclusions
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| format!("{c}={n}"))
                .collect();
            decision.reason = format!(
                "{}no provider passed the hard constraints (excluded: {}){applied}",
                if plan.crisis { "crisis pathway: " } else { "" },
                excluded.join(", ")
            );
            if plan.crisis {
                decision.reason.push_str("; coordinator alerted");
            }
            return Step::Done(Box::new(decision));
        }
        if !plan.crisis && !plan.candidates.iter().any(|c| c.consented) {
            // routing.consent_required: nothing is shared with an organization the client did not consent to.
            decision.status = RoutingStatus::NeedsCoordinator;
            decision.reason = format!(
                "no consent to share with the organization of any of {} ranked option(s); a coordinator must record consent{applied}",
                plan.candidates.len()
            );
            return Step::Done(Box::new(decision));
        }
        let urgency = intake.assessment.urgency;
        // Every peer call acts for the organization that took the intake and the user who submitted it
        // (recorded with the task), so the peers decide access for them.
        let org = intake.submission.organization_id.as_str();
        let user = Some(task.acting_user_id.as_str()).filter(|u| !u.is_empty());
        while plan.next < plan.candidates.len() {
            let c = plan.candidates[plan.next].clone();
            // Outside the crisis pathway only providers with an open slot, whose organization the client
            // consented to, are referred to directly.
            let called = plan.crisis || (c.has_capacity && c.consented);
            let mut no_slot = false;
            // Outside the crisis pathway (where the referral overbooks its provider) the referral falls back
            // at once on the first alternative with a slot: routings ranked alike race for the same last
            // slots, and each full provider cost a call to referral and one to matching (issue 12, 20,000
            // providers: 6.8 refusals per routed intake).
            let first_open = called && !plan.crisis;
            let mut offered = vec![plan.next];
            if called {
                // The rest of the plan the client consented to (every crisis-capable option on the crisis
                // pathway), so referral can re-route after a "no" without starting over.
                let alternatives = plan.alternatives_after(plan.next);
                let req = rpb::CreateReferralRequest {
                    idempotency_key: key(intake),
                    client_id: intake.client_id.to_string(),
                    intake_id: intake.id.to_string(),
                    referrer_organization_id: intake.submission.organization_id.to_string(),
                    provider_id: c.provider_id.clone(),
                    urgency: urgency.to_proto(),
                    allow_overbook: plan.crisis,
                    scheduled_at: None,
                    alternative_provider_ids: alternatives
                        .iter()
                        .map(|&j| plan.candidates[j].provider_id.clone())
                        .collect(),
                    first_open_alternative: first_open,
                    capacity_hold_key: String::new(),
                };
                if first_open {
                    offered.extend(&alternatives);
                }
                match self
                    .peers
                    .referral
                    .clone()
                    .create_referral(on_behalf_of(req, org, user))
                    .await
                {
                    Ok(r) => {
                        let r = r.into_inner().referral.unwrap_or_default();
                        // First-open: the option that had the slot.
                        let at = plan.position(&r.provider_id).unwrap_or(plan.next);
                        let c = &plan.candidates[at];
                        decision.status = RoutingStatus::Referred;
                        decision.referral_id = Some(r.id);
                        decision.provider_id = Some(c.provider_id.clone());
                        decision.explanation = explain_choice(&plan, c);
                        let exception = if plan.crisis && !c.consented {
                            " without recorded consent (routing.crisis_consent_exception: coordinator to confirm consent)"
                        } else {
                            ""
                        };
                        decision.reason = if plan.crisis {
                            format!(
                                "crisis pathway: urgent referral to crisis-capable option {} of {}{exception}{applied}",
                                at + 1,
                                plan.candidates.len()
                            )
                        } else {
                            format!(
                                "referred to ranked option {} of {} with an open slot: {}{applied}",
                                at + 1,
                                plan.candidates.len(),
                                decision.explanation.join("; ")
                            )
                        };
                        return Step::Done(Box::new(decision));
                    }
                    Err(s) => {
                        let e = PeerError::from(&s);
                        if e.is_retryable() {
                            tracing::warn!(intake_id = %intake.id, code = ?e.code, "referral call failed");
                            return Step::Retry("referral_unavailable");
                        }
                        if !is_definite_refusal(&e) {
                            return refused_by("referral", e, decision, intake.id.as_str());
                        }
                        no_slot = e.is(ErrorReason::NoCapacity);
                    }
                }
            }
            // A first-open refusal answered for every option it offered: none is called again.
            plan.next = offered.last().map_or(plan.next, |&i| i + 1);
            // The first refusal is the one that may re-plan, so the providers it just found full are the
            // ones the fresh plan must not call again.
            if no_slot
                && std::mem::take(&mut may_replan)
                && let Ok(mut fresh) = self.plan(task).await
            {
                fresh.recheck_consent(|org| consent.allows_referral_to(org));
                let refused: Vec<String> =
                    offered.iter().map(|&i| plan.candidates[i].provider_id.clone()).collect();
                plan = plan.refreshed(fresh, &refused);
                decision.candidate_provider_ids = plan.provider_ids();
            }
            // Only a definite refusal from referral must be remembered before going on (a retry must not
            // ask that candidate again); a candidate passed over here without a call (no open slot, no
            // consent) is passed over again the same way on a retry, so nothing is written for it.
            if called && self.store.save_plan(intake.id.as_str(), &self.owner, &plan).await.is_err()
            {
                return Step::Retry("store_unavailable");
            }
        }
        if plan.crisis {
            // Every crisis-capable option refused outright (removed from the directory): a coordinator acts
            // now; a crisis client is never only waitlisted.
            decision.status = RoutingStatus::NeedsCoordinator;
            decision.reason = "crisis pathway: no crisis-capable option could be referred to; coordinator alerted".to_owned();
            return Step::Done(Box::new(decision));
        }
        let req = wpb::EnqueueRequest {
            idempotency_key: key(intake),
            client_id: intake.client_id.to_string(),
            intake_id: intake.id.to_string(),
            organization_id: intake.submission.organization_id.to_string(),
            band: band_for(urgency) as i32,
            risk_level: intake.assessment.risk_level.to_proto(),
            // Only options the client consented to be referred to are offered from the waitlist.
            candidate_provider_ids: plan
                .candidates
                .iter()
                .filter(|c| c.consented)
                .map(|c| c.provider_id.clone())
                .collect(),
            level_of_care: intake.assessment.level_of_care.to_proto(),
            age_group: intake.assessment.age_group.to_proto(),
            // Codes only: what the waitlist needs to choose a bridge program from matching's directory.
            bridge_needs: Some(wpb::BridgeNeeds {
                jurisdiction: intake.submission.client.jurisdiction.clone(),
                language: intake.submission.client.preferred_language.clone(),
                payment_option: intake.submission.client.payment_option.to_proto(),
                formats: intake
                    .submission
                    .preferences
                    .formats
                    .iter()
                    .map(|f| f.to_proto())
                    .collect(),
            }),
        };
        match self.peers.waitlist.clone().enqueue(on_behalf_of(req, org, user)).await {
            Ok(r) => {
                let e = r.into_inner().entry.unwrap_or_default();
                decision.status = RoutingStatus::Waitlisted;
                decision.waitlist_entry_id = Some(e.id);
                decision.next_check_in_at =
                    e.next_check_in_at.as_ref().and_then(continuum_vocab::time::from_proto);
                let check_in = match decision.next_check_in_at {
                    Some(at) => format!("; first check-in due {}", at.format("%Y-%m-%d")),
                    None => String::new(),
                };
                decision.reason = format!(
                    "no ranked option had an open slot; waitlisted ({} band) for {} option(s){check_in}{applied}",
                    urgency.code(),
                    plan.candidates.iter().filter(|c| c.consented).count()
                );
                Step::Done(Box::new(decision))
            }
            Err(s) => {
                let e = PeerError::from(&s);
                if e.is_retryable() {
                    tracing::warn!(intake_id = %intake.id, code = ?e.code, "waitlist call failed");
                    Step::Retry("waitlist_unavailable")
                } else {
                    refused_by("waitlist", e, decision, intake.id.as_str())
                }
            }
        }
    }

    async fn plan(&self, task: &RoutingTask) -> std::result::Result<RoutingPlan, PeerError> {
        let intake = &task.intake;
        self.ask_plan(&intake.submission, &intake.assessment, &task.acting_user_id).await.map_err(
            |s| {
                tracing::warn!(intake_id = %intake.id, code = ?s.code(), "recommend failed");
                PeerError::from(&s)
            },
        )
    }

    /// Matching's ranking for a submission and its assessment (acting for `acting_user_id` of the
    /// submitting organization), as a routing plan; the status the call ended with otherwise.
    async fn ask_plan(
        &self,
        submission: &NewIntake,
        assessment: &Assessment,
        acting_user_id: &str,
    ) -> std::result::Result<RoutingPlan, tonic::Status> {
        let user = Some(acting_user_id).filter(|u| !u.is_empty());
        let req = on_behalf_of(
            recommend_request(submission, assessment),
            submission.organization_id.as_str(),
            user,
        );
        let r = self.peers.matching.clone().recommend_for_client(req).await?;
        Ok(plan_from(submission, assessment, r.into_inner().ranking.unwrap_or_default()))
    }
}

/// What matching is asked: the assessment's level, phase (stabilisation gates out trauma processing),
/// age group and modalities to avoid (tried without help and the client's exclusions), and the client's
/// logistics. Codes only: no identity leaves intake here.
pub fn recommend_request(s: &NewIntake, a: &Assessment) -> mpb::RecommendForClientRequest {
    let crisis = a.risk_level.is_crisis();
    // Only the client's own exclusions are hard; modalities tried without help are soft ("history fit"):
    // a provider offering only those ranks lower but is not hidden.
    let avoid = &s.preferences.modalities_avoided;
    let profile = mpb::ClientProfile {
        level_of_care: if crisis {
            LevelOfCare::Crisis.to_proto()
        } else {
            a.level_of_care.to_proto()
        },
        age_group: a.age_group.to_proto(),
        jurisdiction: s.client.jurisdiction.clone(),
        language: s.client.preferred_language.clone(),
        payment_option: s.client.payment_option.to_proto(),
        formats: s.preferences.formats.iter().map(|f| f.to_proto()).collect(),
        modalities_avoided: avoid.iter().map(|m| m.to_proto()).collect(),
        needs_crisis_capable: crisis,
        phase: a.phase.map_or(0, |p| p.to_proto()),
        relational_style: Some(s.preferences.relational_style.to_proto()),
    };
    let to_proto = |ms: &[Modality]| ms.iter().map(|m| m.to_proto()).collect::<Vec<_>>();
    let fit = mpb::ClientFit {
        // Presenting concerns are problem domains (one vocabulary, mirrored by both protos).
        problem_domains: s.presenting_concerns.iter().map(|c| c.to_proto()).collect(),
        modalities_wanted: to_proto(&s.preferences.modalities_wanted),
        modalities_tried_without_help: to_proto(&a.modalities_to_avoid),
        identity_preferences: s.preferences.identity_preferences.clone(),
        faith_preferences: s.preferences.faith_preferences.clone(),
        cultural_preferences: s.preferences.cultural_preferences.clone(),
        programs_cycled: if a.program_cycling { 2 } else { 0 },
        ..Default::default()
    };
    mpb::RecommendForClientRequest { client: Some(profile), fit: Some(fit), top_k: 10 }
}

/// Most fit reasons a decision quotes for the chosen option.
const TOP_REASONS: usize = 3;

/// Matching's strongest fit reasons for one option: the components that added most to its score, in
/// plain words ("relational fit: relational style 90% similar to the client's preference").
fn top_reasons(components: &[mpb::ScoreComponent]) -> Vec<String> {
    let mut by_weight: Vec<&mpb::ScoreComponent> =
        components.iter().filter(|c| !c.reason.is_empty() && c.weight * c.value > 0.0).collect();
    by_weight.sort_by(|a, b| (b.weight * b.value).total_cmp(&(a.weight * a.value)));
    by_weight
        .into_iter()
        .take(TOP_REASONS)
        .map(|c| format!("{}: {}", c.name.replace('_', " "), c.reason))
        .collect()
}

/// The routing plan from matching's answer: candidates with their organization, consent and program
/// features, ordered by what the assessment asks for.
pub fn plan_from(submission: &NewIntake, a: &Assessment, r: mpb::RecommendResponse) -> RoutingPlan {
    let crisis = a.risk_level.is_crisis();
    let mut candidates: Vec<Candidate> = r
        .options
        .iter()
        .filter_map(|o| {
            o.provider.as_ref().map(|p| Candidate {
                regulation_focused: p.kind == mpb::ProviderKind::SkillsGroup as i32
                    || p.modalities.iter().any(|m| {
                        Modality::from_proto(*m).is_some_and(Modality::is_regulation_focused)
                    }),
                reasons: top_reasons(&o.components),
                provider_id: p.id.clone(),
                has_capacity: o.has_capacity,
                organization_id: p.organization_id.clone(),
                consented: submission.consent.allows_referral_to(&p.organization_id),
                family_involvement: p.family_involvement,
                trauma_processing: p.kind == mpb::ProviderKind::TraumaIop as i32
                    || p.modalities.iter().any(|m| {
                        Modality::from_proto(*m).is_some_and(Modality::is_trauma_processing)
                    }),
            })
        })
        .collect();
    let priorities = Priorities {
        family_first: a.family_involvement || a.age_group.is_youth(),
        regulation_first: !crisis && a.phase == Some(CarePhase::Stabilisation),
        trauma_first: !crisis && a.phase == Some(CarePhase::TraumaProcessing),
    };
    let mut rules_applied: Vec<String> =
        order_candidates(&mut candidates, priorities).into_iter().map(str::to_owned).collect();
    if crisis {
        rules_applied.insert(0, "routing.crisis_interlock".to_owned());
    }
    RoutingPlan {
        candidates,
        next: 0,
        crisis,
        exclusions: r.exclusions.into_iter().map(|e| (e.constraint, e.excluded)).collect(),
        rules_applied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, family: bool, trauma: bool) -> Candidate {
        Candidate {
            provider_id: id.into(),
            has_capacity: true,
            organization_id: String::new(),
            consented: true,
            family_involvement: family,
            trauma_processing: trauma,
            regulation_focused: id == "b",
            reasons: Vec::new(),
        }
    }

    fn by(family_first: bool, trauma_first: bool) -> Priorities {
        Priorities { family_first, trauma_first, regulation_first: false }
    }

    fn ids(c: &[Candidate]) -> Vec<&str> {
        c.iter().map(|x| x.provider_id.as_str()).collect()
    }

    #[test]
    fn ordering_is_stable_and_only_moves_what_the_assessment_asks_for() {
        let base = vec![
            cand("a", false, false),
            cand("b", true, false),
            cand("c", false, true),
            cand("d", true, true),
        ];
        let mut c = base.clone();
        assert!(order_candidates(&mut c, by(false, false)).is_empty());
        assert_eq!(ids(&c), vec!["a", "b", "c", "d"], "matching's order is kept");
        let mut c = base.clone();
        assert_eq!(order_candidates(&mut c, by(true, false)), vec!["routing.youth_family_first"]);
        assert_eq!(ids(&c), vec!["b", "d", "a", "c"]);
        let mut c = base.clone();
        order_candidates(&mut c, by(false, true));
        assert_eq!(ids(&c), vec!["c", "d", "a", "b"]);
        let mut c = base.clone();
        let stabilise = Priorities { regulation_first: true, ..Priorities::default() };
        assert_eq!(
            order_candidates(&mut c, stabilise),
            vec!["routing.stabilisation_regulation_first"]
        );
        assert_eq!(
            ids(&c),
            vec!["b", "a", "c", "d"],
            "regulation-focused first, order kept otherwise"
        );
        let mut c = base;
        order_candidates(&mut c, by(true, true));
        assert_eq!(ids(&c), vec!["d", "b", "c", "a"], "family first, then trauma-focused within");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max), Duration::from_millis(500));
        assert_eq!(backoff(1, max), Duration::from_secs(1));
        assert_eq!(backoff(3, max), Duration::from_secs(4));
        assert_eq!(backoff(30, max), max);
    }

    fn plan_of(candidates: Vec<Candidate>) -> RoutingPlan {
        RoutingPlan {
            candidates,
            next: 0,
            crisis: false,
            exclusions: Vec::new(),
            rules_applied: Vec::new(),
        }
    }

    #[test]
    fn a_fresh_plan_replaces_a_stale_one_with_the_providers_found_full_marked_full() {
        let mut stale = plan_of(vec![cand("a", false, false), cand("b", false, false)]);
        stale.next = 1;
        // Matching still counts a slot at "a" (a replica's snapshot a moment behind) and has a new "c".
        let fresh = plan_of(vec![cand("a", false, false), cand("c", false, false)]);
        let plan = stale.clone().refreshed(fresh, &["a".to_owned()]);
        assert_eq!(ids(&plan.candidates), vec!["a", "c"]);
        assert_eq!(plan.next, 0);
        assert!(!plan.candidates[0].has_capacity, "a refused provider is not asked again");
        assert!(plan.candidates[1].has_capacity);

        // A fresh plan with nothing the client consented to (or none at all) leaves the stale one in place.
        let mut unconsented = plan_of(vec![cand("c", false, false)]);
        unconsented.recheck_consent(|_| false);
        assert!(
            unconsented.candidates[0].consented,
            "only candidates with an organization are rechecked"
        );
        unconsented.candidates[0].organization_id = "org-x".into();
        unconsented.recheck_consent(|org| org != "org-x");
        assert!(!unconsented.candidates[0].consented);
        let kept = stale.clone().refreshed(unconsented, &["a".to_owned()]);
        assert_eq!((ids(&kept.candidates), kept.next), (vec!["a", "b"], 1));
        let kept = stale.clone().refreshed(plan_of(Vec::new()), &[]);
        assert_eq!((ids(&kept.candidates), kept.next), (vec!["a", "b"], 1));
    }
}
