//! The tonic adapter of the intake service: validates every field of a request (collecting all problems,
//! each named by its proto path), converts to domain types, calls the domain, store and router, and
//! converts back. Personal health information is never logged here: only ids and codes.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use continuum_cache::SharedCache;
use continuum_errors::Violations;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::IntakeService;
use continuum_vocab::{CareFormat, LevelOfCare, Modality, PaymentOption, RelationalStyle, RiskLevel, time};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::domain::{self, ClientDetails, Consent, CssrsAnswers, Intake, NewIntake, Preferences, RoutingDecision, RoutingStatus, Screeners};
use crate::error::{Error, Result};
use crate::routing::{LEASE, Router};
use crate::store::{AuditRecord, Inserted, IntakeFilter, Store};

use continuum_auth::{Caller, Role};

const RPC_SUBMIT: &str = "continuum.intake.v1.IntakeService/SubmitIntake";
const RPC_GET: &str = "continuum.intake.v1.IntakeService/GetIntake";
const RPC_LIST: &str = "continuum.intake.v1.IntakeService/ListIntakes";
const RPC_REASSESS: &str = "continuum.intake.v1.IntakeService/RecordReassessment";

/// The purpose of use recorded with each audit row: the caller's `x-continuum-purpose` header when it is
/// a plain code, otherwise the default for the caller's role.
fn purpose_of<T>(req: &Request<T>, caller: &Caller) -> String {
    if let Some(p) = req.metadata().get("x-continuum-purpose").and_then(|v| v.to_str().ok()) {
        if !p.is_empty() && p.len() <= 64 && p.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return p.to_owned();
        }
    }
    if caller.has(Role::Clinician) {
        "treatment".to_owned()
    } else if caller.has(Role::Coordinator) || caller.is_service() {
        "care_coordination".to_owned()
    } else {
        "intake".to_owned()
    }
}

/// Who is asking, and why: the audit context of one request.
struct Context {
    caller: Caller,
    purpose: String,
}

impl Context {
    fn of<T>(req: &Request<T>) -> Result<Self, Status> {
        let caller = continuum_auth::caller(req)?;
        let purpose = purpose_of(req, &caller);
        Ok(Self { caller, purpose })
    }

    fn row(&self, action: &'static str, record_type: &'static str, intake: &Intake, rpc: &'static str) -> AuditRecord {
        AuditRecord {
            user_id: self.caller.audit_user().to_owned(),
            organization_id: self.caller.organization_id.clone(),
            action,
            record_type,
            record_id: if record_type == "assessment" { intake.assessment.id.clone() } else { intake.id.clone() },
            client_id: intake.client_id.clone(),
            rpc,
            purpose: self.purpose.clone(),
            trace_id: String::new(),
        }
    }

    /// An intake of another organization is reported as not found: existence does not leak.
    fn check_owner(&self, intake: &Intake) -> Result<()> {
        if self.caller.may_access(&intake.submission.organization_id) {
            Ok(())
        } else {
            Err(Error::not_found("intake", intake.id.clone()))
        }
    }
}

/// How long a submission waits for its routing before answering with routing pending.
const INLINE_ROUTING_BUDGET: Duration = Duration::from_secs(15);

/// The gRPC face of the intake service.
#[derive(Clone, Debug)]
pub struct IntakeApi {
    store: Store,
    router: Router,
    cache: SharedCache,
}

impl IntakeApi {
    /// An adapter over the store, router and cache.
    pub fn new(store: Store, router: Router, cache: SharedCache) -> Self {
        Self { store, router, cache }
    }
}

fn date(v: &mut Violations, field: &str, d: Option<&continuum_proto::common::v1::Date>) -> Option<NaiveDate> {
    let Some(d) = d else {
        v.add(field, "is required");
        return None;
    };
    let parsed = u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|_| (1900..=9999).contains(&d.year));
    match parsed {
        None => {
            v.add(field, "is not a real calendar date");
            None
        }
        Some(x) if x > Utc::now().date_naive() => {
            v.add(field, "must not be in the future");
            None
        }
        Some(x) => Some(x),
    }
}

fn items(v: &mut Violations, field: &str, values: &[i32], count: usize, max: i32) -> Option<Vec<u8>> {
    let mut ok = true;
    if values.len() != count {
        v.add(field, format!("must have exactly {count} items, got {}", values.len()));
        ok = false;
    }
    for (i, x) in values.iter().enumerate() {
        if !(0..=max).contains(x) {
            v.add(format!("{field}[{i}]"), format!("must be between 0 and {max}"));
            ok = false;
        }
    }
    ok.then(|| values.iter().map(|x| u8::try_from(*x).unwrap_or(0)).collect())
}

/// Validates screeners under `prefix` (for example `screeners`).
pub fn screeners_from_proto(v: &mut Violations, prefix: &str, s: Option<&pb::Screeners>) -> Screeners {
    let Some(s) = s else { return Screeners::default() };
    Screeners {
        phq9: s.phq9.as_ref().and_then(|p| items(v, &format!("{prefix}.phq9.items"), &p.items, 9, 3)),
        gad7: s.gad7.as_ref().and_then(|g| items(v, &format!("{prefix}.gad7.items"), &g.items, 7, 3)),
        cssrs: s.cssrs.as_ref().map(|c| CssrsAnswers {
            wish_to_be_dead: c.wish_to_be_dead,
            suicidal_thoughts: c.suicidal_thoughts,
            thoughts_with_method: c.thoughts_with_method,
            intent_without_plan: c.intent_without_plan,
            intent_with_plan: c.intent_with_plan,
            suicidal_behaviour: c.suicidal_behaviour,
            behaviour_past_three_months: c.behaviour_past_three_months,
        }),
    }
}

fn check_email(v: &mut Violations, field: &str, s: &str) {
    if s.is_empty() {
        return;
    }
    let ok = s.len() <= 254 && s.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.')) && !s.contains(char::is_whitespace);
    if !ok {
        v.add(field, "must be an e-mail address");
    }
}

fn check_phone(v: &mut Violations, field: &str, s: &str) {
    if s.is_empty() {
        return;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let ok = s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && (6..=20).contains(&digits);
    if !ok {
        v.add(field, "must be a phone number (digits, spaces, + - ( ) .)");
    }
}

/// Validates a submission into a `NewIntake`, naming every bad field.
pub fn submission_from_proto(r: pb::SubmitIntakeRequest) -> Result<NewIntake> {
    let mut v = Violations::default();
    v.require_str("idempotency_key", &r.idempotency_key, 128);
    let org = v.require_uuid("organization_id", &r.organization_id);
    v.optional_str("submitting_clinician_id", &r.submitting_clinician_id, 128);
    v.optional_str("external_client_id", &r.external_client_id, 128);
    v.optional_str("presenting_concerns_text", &r.presenting_concerns_text, 10_000);
    let client = match r.client.as_ref() {
        None => {
            v.add("client", "is required");
            None
        }
        Some(c) => {
            v.require_str("client.given_name", &c.given_name, 200);
            v.require_str("client.family_name", &c.family_name, 200);
            let dob = date(&mut v, "client.date_of_birth", c.date_of_birth.as_ref());
            check_email(&mut v, "client.email", &c.email);
            check_phone(&mut v, "client.phone", &c.phone);
            v.optional_str("client.pronouns", &c.pronouns, 64);
            continuum_vocab::check_language(&mut v, "client.preferred_language", &c.preferred_language);
            continuum_vocab::check_jurisdiction(&mut v, "client.jurisdiction", &c.jurisdiction);
            let pay = PaymentOption::require(&mut v, "client.payment_option", c.payment_option);
            dob.zip(pay).map(|(date_of_birth, payment_option)| ClientDetails {
                given_name: c.given_name.trim().to_owned(),
                family_name: c.family_name.trim().to_owned(),
                date_of_birth,
                email: c.email.trim().to_owned(),
                phone: c.phone.trim().to_owned(),
                pronouns: c.pronouns.trim().to_owned(),
                preferred_language: c.preferred_language.clone(),
                jurisdiction: c.jurisdiction.clone(),
                payment_option,
            })
        }
    };
    let screeners = screeners_from_proto(&mut v, "screeners", r.screeners.as_ref());
    if screeners.is_empty() && !r.clinician_reports_imminent_risk {
        v.add("screeners", "at least one screener (PHQ-9, GAD-7 or C-SSRS) is required");
    }
    let prefs = r.preferences.unwrap_or_default();
    let preferences = Preferences {
        modalities_avoided: Modality::list(&mut v, "preferences.modalities_avoided", &prefs.modalities_avoided),
        formats: CareFormat::list(&mut v, "preferences.formats", &prefs.formats),
        relational_style: RelationalStyle::from_proto(&mut v, "preferences.relational_style", prefs.relational_style.as_ref()),
    };
    let consent = Consent { share_with_referral_recipient: r.consent.is_some_and(|c| c.share_with_referral_recipient) };
    let (Some(organization_id), Some(client)) = (org, client) else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(NewIntake {
        idempotency_key: r.idempotency_key,
        organization_id,
        submitting_clinician_id: r.submitting_clinician_id,
        external_client_id: r.external_client_id,
        client,
        presenting_concerns_text: r.presenting_concerns_text,
        screeners,
        preferences,
        consent,
        clinician_reports_imminent_risk: r.clinician_reports_imminent_risk,
    })
}

fn screeners_to_proto(s: &Screeners) -> pb::Screeners {
    pb::Screeners {
        phq9: s.phq9.as_ref().map(|i| pb::Phq9 { items: i.iter().map(|x| i32::from(*x)).collect() }),
        gad7: s.gad7.as_ref().map(|i| pb::Gad7 { items: i.iter().map(|x| i32::from(*x)).collect() }),
        cssrs: s.cssrs.map(|c| pb::Cssrs {
            wish_to_be_dead: c.wish_to_be_dead,
            suicidal_thoughts: c.suicidal_thoughts,
            thoughts_with_method: c.thoughts_with_method,
            intent_without_plan: c.intent_without_plan,
            intent_with_plan: c.intent_with_plan,
            suicidal_behaviour: c.suicidal_behaviour,
            behaviour_past_three_months: c.behaviour_past_three_months,
        }),
    }
}

/// The proto form of an assessment.
pub fn assessment_to_proto(a: &domain::Assessment) -> pb::Assessment {
    pb::Assessment {
        id: a.id.clone(),
        risk_level: a.risk_level.to_proto(),
        level_of_care: a.level_of_care.to_proto(),
        phase: a.phase.map_or(0, |p| p.to_proto()),
        age_group: a.age_group.to_proto(),
        urgency: a.urgency.to_proto(),
        scores: a
            .scores
            .iter()
            .map(|s| pb::ScreenerScore {
                instrument: match s.instrument {
                    domain::Instrument::Phq9 => pb::Instrument::Phq9,
                    domain::Instrument::Gad7 => pb::Instrument::Gad7,
                    domain::Instrument::Cssrs => pb::Instrument::Cssrs,
                } as i32,
                total: s.total,
                band: s.band.clone(),
                positive: s.positive,
                flags: s.flags.clone(),
            })
            .collect(),
        fired_rules: a
            .fired_rules
            .iter()
            .map(|r| pb::FiredRule {
                rule_id: r.rule_id.clone(),
                description: r.description.clone(),
                inputs: r.inputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            })
            .collect(),
        rules_version: a.rules_version.clone(),
        assessed_at: Some(time::to_proto(a.assessed_at)),
    }
}

fn routing_status_to_proto(s: RoutingStatus) -> pb::RoutingStatus {
    match s {
        RoutingStatus::Pending => pb::RoutingStatus::Pending,
        RoutingStatus::Referred => pb::RoutingStatus::Referred,
        RoutingStatus::Waitlisted => pb::RoutingStatus::Waitlisted,
        RoutingStatus::NeedsCoordinator => pb::RoutingStatus::NeedsCoordinator,
    }
}

/// The proto form of a routing decision.
pub fn routing_to_proto(d: &RoutingDecision) -> pb::RoutingDecision {
    pb::RoutingDecision {
        status: routing_status_to_proto(d.status) as i32,
        referral_id: d.referral_id.clone().unwrap_or_default(),
        provider_id: d.provider_id.clone().unwrap_or_default(),
        waitlist_entry_id: d.waitlist_entry_id.clone().unwrap_or_default(),
        candidate_provider_ids: d.candidate_provider_ids.clone(),
        reason: d.reason.clone(),
        attempts: d.attempts,
        decided_at: d.decided_at.map(time::to_proto),
        crisis_resources: d.crisis_resources.clone(),
    }
}

/// The proto form of an intake.
pub fn intake_to_proto(i: &Intake) -> pb::Intake {
    let s = &i.submission;
    let c = &s.client;
    pb::Intake {
        id: i.id.clone(),
        organization_id: s.organization_id.clone(),
        client_id: i.client_id.clone(),
        submitting_clinician_id: s.submitting_clinician_id.clone(),
        external_client_id: s.external_client_id.clone(),
        client: Some(pb::ClientDetails {
            given_name: c.given_name.clone(),
            family_name: c.family_name.clone(),
            date_of_birth: Some(continuum_proto::common::v1::Date {
                year: chrono::Datelike::year(&c.date_of_birth),
                month: i32::try_from(chrono::Datelike::month(&c.date_of_birth)).unwrap_or(0),
                day: i32::try_from(chrono::Datelike::day(&c.date_of_birth)).unwrap_or(0),
            }),
            email: c.email.clone(),
            phone: c.phone.clone(),
            pronouns: c.pronouns.clone(),
            preferred_language: c.preferred_language.clone(),
            jurisdiction: c.jurisdiction.clone(),
            payment_option: c.payment_option.to_proto(),
        }),
        presenting_concerns_text: s.presenting_concerns_text.clone(),
        screeners: Some(screeners_to_proto(&s.screeners)),
        preferences: Some(pb::Preferences {
            modalities_avoided: s.preferences.modalities_avoided.iter().map(|m| m.to_proto()).collect(),
            formats: s.preferences.formats.iter().map(|f| f.to_proto()).collect(),
            relational_style: Some(s.preferences.relational_style.to_proto()),
        }),
        consent: Some(pb::Consent { share_with_referral_recipient: s.consent.share_with_referral_recipient }),
        assessment: Some(assessment_to_proto(&i.assessment)),
        routing: Some(routing_to_proto(&i.routing)),
        received_at: Some(time::to_proto(i.received_at)),
    }
}

impl IntakeApi {
    async fn replay(&self, ctx: &Context, intake_id: &str, stored_fingerprint: &str, fingerprint: &str) -> Result<pb::SubmitIntakeResponse> {
        if stored_fingerprint != fingerprint {
            return Err(Error::precondition(
                "IDEMPOTENCY_KEY_REUSED",
                "this idempotency key was used for a different intake; use a new key",
            ));
        }
        let intake = self.store.get_intake(intake_id).await?;
        ctx.check_owner(&intake)?;
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_SUBMIT)]).await?;
        tracing::info!(intake_id, routing = intake.routing.status.code(), "submission replayed");
        Ok(pb::SubmitIntakeResponse { intake: Some(intake_to_proto(&intake)), replayed: true })
    }

    async fn submit(&self, ctx: &Context, req: pb::SubmitIntakeRequest) -> Result<pb::SubmitIntakeResponse> {
        let fingerprint = domain::fingerprint(&req.encode_to_vec());
        let submission = submission_from_proto(req)?;
        if !ctx.caller.may_access(&submission.organization_id) {
            return Err(Error::PermissionDenied("intakes can be submitted only for your own organization".into()));
        }
        let cache_key = format!("idempotency:{}:{}", submission.organization_id, submission.idempotency_key);
        // Fast path for client retries; the unique index in the database stays the authority.
        // A stale hint (for example a key whose intake is gone) falls through to the database.
        if let Ok(Some(hit)) = self.cache.get(&cache_key).await {
            if let Some((id, fp)) = hit.split_once('/') {
                match self.replay(ctx, id, fp, &fingerprint).await {
                    Err(Error::NotFound { .. }) => {}
                    other => return other,
                }
            }
        }
        let now = Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        let assessment = domain::assess(uuid::Uuid::now_v7().to_string(), &submission, now);
        let mut pending = RoutingDecision::pending("routing in progress");
        if assessment.risk_level.is_crisis() {
            pending.crisis_resources = domain::crisis_resources(&submission.client.jurisdiction);
        }
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let inserted = self
            .store
            .insert_intake(id, submission, fingerprint.clone(), assessment, pending, now, self.router.owner(), lease_until)
            .await?;
        let mut intake = match inserted {
            Inserted::Replayed { intake_id, fingerprint: stored } => return self.replay(ctx, &intake_id, &stored, &fingerprint).await,
            Inserted::Created(intake) => *intake,
        };
        self.store.audit(vec![ctx.row("write", "intake", &intake, RPC_SUBMIT)]).await?;
        let _ = self
            .cache
            .set(&cache_key, &format!("{}/{fingerprint}", intake.id), Duration::from_secs(24 * 3600))
            .await;
        tracing::info!(
            intake_id = %intake.id,
            risk = intake.assessment.risk_level.code(),
            level = intake.assessment.level_of_care.code(),
            "intake accepted"
        );
        // Route now; a slow or absent peer leaves the routing pending for the worker.
        match tokio::time::timeout(INLINE_ROUTING_BUDGET, self.router.route(&intake.id)).await {
            Ok(Ok(decision)) => intake.routing = decision,
            Ok(Err(e)) => tracing::warn!(intake_id = %intake.id, error = %e, "inline routing failed; left pending"),
            Err(_) => tracing::warn!(intake_id = %intake.id, "inline routing timed out; left pending"),
        }
        Ok(pb::SubmitIntakeResponse { intake: Some(intake_to_proto(&intake)), replayed: false })
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_intake(&self, req: Request<pb::SubmitIntakeRequest>) -> Result<Response<pb::SubmitIntakeResponse>, Status> {
        let ctx = Context::of(&req)?;
        Ok(Response::new(self.submit(&ctx, req.into_inner()).await?))
    }

    async fn get_intake(&self, req: Request<pb::GetIntakeRequest>) -> Result<Response<pb::GetIntakeResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("intake_id", &req.intake_id);
        let id = v.finish(id)?.unwrap_or_default();
        let intake = self.store.get_intake(&id).await?;
        ctx.check_owner(&intake)?;
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_GET)]).await?;
        Ok(Response::new(pb::GetIntakeResponse { intake: Some(intake_to_proto(&intake)) }))
    }

    async fn list_intakes(&self, req: Request<pb::ListIntakesRequest>) -> Result<Response<pb::ListIntakesResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        // Empty means the caller's own organization.
        let org = if req.organization_id.is_empty() {
            Some(ctx.caller.organization_id.clone())
        } else {
            v.require_uuid("organization_id", &req.organization_id)
        };
        let risk = RiskLevel::optional(&mut v, "risk_level", req.risk_level);
        let level = LevelOfCare::optional(&mut v, "level_of_care", req.level_of_care);
        let routing_status = match pb::RoutingStatus::try_from(req.routing_status) {
            Ok(pb::RoutingStatus::Unspecified) => None,
            Ok(pb::RoutingStatus::Pending) => Some(RoutingStatus::Pending),
            Ok(pb::RoutingStatus::Referred) => Some(RoutingStatus::Referred),
            Ok(pb::RoutingStatus::Waitlisted) => Some(RoutingStatus::Waitlisted),
            Ok(pb::RoutingStatus::NeedsCoordinator) => Some(RoutingStatus::NeedsCoordinator),
            Err(_) => {
                v.add("routing_status", "is not a known value");
                None
            }
        };
        let after = req.received_after.as_ref().and_then(|t| {
            let r = time::from_proto(t);
            if r.is_none() {
                v.add("received_after", "is not a valid timestamp");
            }
            r
        });
        let before = req.received_before.as_ref().and_then(|t| {
            let r = time::from_proto(t);
            if r.is_none() {
                v.add("received_before", "is not a valid timestamp");
            }
            r
        });
        let cursor = v.optional_uuid("page_token", &req.page_token);
        let limit: u64 = match req.page_size {
            0 => 50,
            n @ 1..=200 => u64::try_from(n).unwrap_or(50),
            _ => {
                v.add("page_size", "must be between 1 and 200");
                50
            }
        };
        let org = v.finish(org)?.unwrap_or_default();
        if !ctx.caller.may_access(&org) {
            return Err(Error::PermissionDenied("you may list only your own organization's intakes".into()).into());
        }
        let filter = IntakeFilter {
            organization_id: org,
            risk_level: risk,
            level_of_care: level,
            routing_status,
            received_after: after,
            received_before: before,
        };
        let mut rows = self.store.list_intakes(&filter, cursor.as_deref(), limit + 1).await?;
        let next = if rows.len() as u64 > limit {
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            rows.last().map(|i| i.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        self.store.audit(rows.iter().map(|i| ctx.row("read", "intake", i, RPC_LIST)).collect()).await?;
        Ok(Response::new(pb::ListIntakesResponse { intakes: rows.iter().map(intake_to_proto).collect(), next_page_token: next }))
    }

    async fn record_reassessment(
        &self,
        req: Request<pb::RecordReassessmentRequest>,
    ) -> Result<Response<pb::RecordReassessmentResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("intake_id", &req.intake_id);
        let screeners = screeners_from_proto(&mut v, "screeners", req.screeners.as_ref());
        if screeners.is_empty() && !req.clinician_reports_imminent_risk {
            v.add("screeners", "at least one screener is required");
        }
        let id = v.finish(id)?.unwrap_or_default();
        let mut intake = self.store.get_intake(&id).await.map_err(Error::from)?;
        ctx.check_owner(&intake)?;
        let assessment = domain::assessment::assess_screeners(
            uuid::Uuid::now_v7().to_string(),
            &screeners,
            intake.submission.client.date_of_birth,
            req.clinician_reports_imminent_risk,
            Utc::now(),
        );
        self.store.insert_reassessment(&intake, &assessment).await?;
        let previous = std::mem::replace(&mut intake.assessment, assessment.clone());
        self.store.audit(vec![ctx.row("write", "assessment", &intake, RPC_REASSESS)]).await?;
        let risk_increased = assessment.risk_level > previous.risk_level;
        tracing::info!(intake_id = %intake.id, risk = assessment.risk_level.code(), risk_increased, "reassessed");
        Ok(Response::new(pb::RecordReassessmentResponse {
            assessment: Some(assessment_to_proto(&assessment)),
            previous: Some(assessment_to_proto(&previous)),
            risk_increased,
        }))
    }

    async fn list_audit_events(&self, req: Request<pb::ListAuditEventsRequest>) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let client = v.optional_uuid("client_id", &req.client_id);
        v.optional_str("user_id", &req.user_id, 200);
        let after = v.optional_uuid("page_token", &req.page_token);
        let limit: u64 = match req.page_size {
            0 => 100,
            n @ 1..=500 => u64::try_from(n).unwrap_or(100),
            _ => {
                v.add("page_size", "must be between 1 and 500");
                100
            }
        };
        if client.is_none() && req.user_id.is_empty() {
            v.add("client_id", "give a client_id or a user_id");
        }
        v.finish(())?;
        let user = (!req.user_id.is_empty()).then_some(req.user_id.as_str());
        let mut events = self.store.list_audit(client.as_deref(), user, after.as_deref(), limit + 1).await?;
        let next = if events.len() as u64 > limit {
            events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            events.last().map(|e| e.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events
                .into_iter()
                .map(|e| pb::AuditEvent {
                    id: e.id,
                    occurred_at: Some(time::to_proto(e.occurred_at)),
                    user_id: e.record.user_id,
                    organization_id: e.record.organization_id,
                    action: e.record.action.to_owned(),
                    record_type: e.record.record_type.to_owned(),
                    record_id: e.record.record_id,
                    client_id: e.record.client_id,
                    rpc: e.record.rpc.to_owned(),
                    purpose: e.record.purpose,
                    trace_id: e.record.trace_id,
                })
                .collect(),
            next_page_token: next,
        }))
    }
}
