//! The tonic adapter of the intake service: validates every field of a request (collecting all problems,
//! each named by its proto path), converts to domain types, calls the domain, store and router, and
//! converts back. Personal health information is never logged here: only ids and codes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use continuum_cache::SharedCache;
use continuum_errors::Violations;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::IntakeService;
use continuum_vocab::{
    CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle, RiskLevel, time,
};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::access::{self, Relationship};
use crate::app::referrals::ReferralPeer;
use crate::domain::{
    self, Approach, Availability, ClientDetails, Concern, Consent, ConsentCategory, ConsentGrant,
    CssrsAnswers, Dysregulation, Frequency, Impairment, Intake, NewIntake, OverrideRequest,
    Preferences, RoutingDecision, RoutingStatus, Rules, Screeners, Setting, StageOfChange,
    Stressor, SubstanceUse, Support, TreatmentEpisode, TreatmentOutcome, WindowRating,
};
use crate::error::{Error, ErrorReason, Result};
use crate::routing::{LEASE, Router};
use crate::store::{AuditRecord, Inserted, IntakeFilter, Store};

use continuum_auth::{Caller, Phi, Role};

const RPC_SUBMIT: &str = "continuum.intake.v1.IntakeService/SubmitIntake";
const RPC_GET: &str = "continuum.intake.v1.IntakeService/GetIntake";
const RPC_LIST: &str = "continuum.intake.v1.IntakeService/ListIntakes";
const RPC_REASSESS: &str = "continuum.intake.v1.IntakeService/RecordReassessment";
const RPC_RECORD_CONSENT: &str = "continuum.intake.v1.IntakeService/RecordConsent";
const RPC_REVOKE_CONSENT: &str = "continuum.intake.v1.IntakeService/RevokeConsent";
const RPC_CARE_EVENTS: &str = "continuum.intake.v1.IntakeService/ListCareEvents";

/// The purpose of use recorded with each audit row: the caller's `x-continuum-purpose` header when it is
/// a plain code, otherwise the default for the caller's role.
fn purpose_of<T>(req: &Request<T>, caller: &Caller) -> String {
    if let Some(p) = req.metadata().get("x-continuum-purpose").and_then(|v| v.to_str().ok())
        && !p.is_empty()
        && p.len() <= 64
        && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return p.to_owned();
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
            owner_organization_id: intake.submission.organization_id.clone(),
            action,
            record_type,
            record_id: if record_type == "assessment" {
                intake.assessment.id.clone()
            } else {
                intake.id.clone()
            },
            client_id: intake.client_id.clone(),
            rpc,
            purpose: self.purpose.clone(),
            trace_id: continuum_telemetry::current_trace_id(),
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
    rules: Arc<Rules>,
    referrals: ReferralPeer,
}

impl IntakeApi {
    /// An adapter over the store, router and cache, assessing with `rules` and asking `referrals` about
    /// the referrals a recipient's access rests on.
    pub fn new(
        store: Store,
        router: Router,
        cache: SharedCache,
        rules: Arc<Rules>,
        referrals: ReferralPeer,
    ) -> Self {
        Self { store, router, cache, rules, referrals }
    }
}

/// Reads an optional intake-vocabulary enum (0 = absent); unknown numbers are violations.
macro_rules! optional_code {
    ($ty:ty, $v:expr, $field:expr, $value:expr) => {{
        let value: i32 = $value;
        if value == 0 {
            None
        } else {
            let r = <$ty>::from_proto(value);
            if r.is_none() {
                $v.add($field, "is not a known value");
            }
            r
        }
    }};
}

/// Reads a repeated intake-vocabulary enum, naming each bad entry; duplicates are dropped.
macro_rules! code_list {
    ($ty:ty, $v:expr, $field:expr, $values:expr) => {{
        let mut out: Vec<$ty> = Vec::new();
        for (i, value) in $values.iter().enumerate() {
            match <$ty>::from_proto(*value) {
                Some(x) => {
                    if !out.contains(&x) {
                        out.push(x)
                    }
                }
                None => $v.add(format!("{}[{i}]", $field), "is not a known value"),
            }
        }
        out
    }};
}

fn optional_date(
    v: &mut Violations,
    field: &str,
    d: Option<&continuum_proto::common::v1::Date>,
) -> Option<NaiveDate> {
    d.and_then(|d| date(v, field, Some(d)))
}

fn date_to_proto(d: NaiveDate) -> continuum_proto::common::v1::Date {
    use chrono::Datelike;
    continuum_proto::common::v1::Date {
        year: d.year(),
        month: i32::try_from(d.month()).unwrap_or(0),
        day: i32::try_from(d.day()).unwrap_or(0),
    }
}

/// Short lowercase codes (identity, faith, cultural preferences): at most 20, each 1..64 of [a-z0-9:_-].
fn code_strings(v: &mut Violations, field: &str, values: &[String]) -> Vec<String> {
    if values.len() > 20 {
        v.add(field, "at most 20 codes");
    }
    let mut out = Vec::new();
    for (i, c) in values.iter().enumerate() {
        let ok = (1..=64).contains(&c.len())
            && c.chars().all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || ":_-".contains(x));
        if ok {
            if !out.contains(c) {
                out.push(c.clone());
            }
        } else {
            v.add(
                format!("{field}[{i}]"),
                "must be a lowercase code (a-z, 0-9, ':', '_', '-'; up to 64)",
            );
        }
    }
    out
}

fn dysregulation_from_proto(
    v: &mut Violations,
    prefix: &str,
    d: Option<&pb::DysregulationSigns>,
) -> Option<Dysregulation> {
    let d = d?;
    Some(Dysregulation {
        overwhelm: optional_code!(Frequency, v, format!("{prefix}.overwhelm"), d.overwhelm),
        shutdown: optional_code!(Frequency, v, format!("{prefix}.shutdown"), d.shutdown),
        dissociation: optional_code!(
            Frequency,
            v,
            format!("{prefix}.dissociation"),
            d.dissociation
        ),
        recent_self_harm: d.recent_self_harm,
        clinician_window: optional_code!(
            WindowRating,
            v,
            format!("{prefix}.clinician_window_rating"),
            d.clinician_window_rating
        ),
    })
}

fn dysregulation_to_proto(d: &Dysregulation) -> pb::DysregulationSigns {
    pb::DysregulationSigns {
        overwhelm: d.overwhelm.map_or(0, Frequency::to_proto),
        shutdown: d.shutdown.map_or(0, Frequency::to_proto),
        dissociation: d.dissociation.map_or(0, Frequency::to_proto),
        recent_self_harm: d.recent_self_harm,
        clinician_window_rating: d.clinician_window.map_or(0, WindowRating::to_proto),
    }
}

fn override_from_proto(
    v: &mut Violations,
    prefix: &str,
    o: Option<&pb::AssessmentOverride>,
) -> Option<OverrideRequest> {
    let o = o?;
    let level = LevelOfCare::optional(v, &format!("{prefix}.level_of_care"), o.level_of_care);
    let phase = CarePhase::optional(v, &format!("{prefix}.phase"), o.phase);
    if o.level_of_care == 0 && o.phase == 0 {
        v.add(format!("{prefix}.level_of_care"), "an override needs a level of care or a phase");
    }
    v.require_str(&format!("{prefix}.reason"), &o.reason, 2000);
    v.require_str(&format!("{prefix}.clinician_id"), &o.clinician_id, 128);
    Some(OverrideRequest {
        level_of_care: level,
        phase,
        reason: o.reason.trim().to_owned(),
        clinician_id: o.clinician_id.trim().to_owned(),
    })
}

fn override_to_proto(o: &OverrideRequest) -> pb::AssessmentOverride {
    pb::AssessmentOverride {
        level_of_care: o.level_of_care.map_or(0, LevelOfCare::to_proto),
        phase: o.phase.map_or(0, CarePhase::to_proto),
        reason: o.reason.clone(),
        clinician_id: o.clinician_id.clone(),
    }
}

fn history_from_proto(
    v: &mut Violations,
    episodes: &[pb::TreatmentEpisode],
) -> Vec<TreatmentEpisode> {
    if episodes.len() > 50 {
        v.add("treatment_history", "at most 50 episodes");
    }
    let mut out = Vec::new();
    for (i, e) in episodes.iter().enumerate() {
        let f = format!("treatment_history[{i}]");
        let modality = Modality::optional(v, &format!("{f}.modality"), e.modality);
        let level = LevelOfCare::optional(v, &format!("{f}.level_of_care"), e.level_of_care);
        if e.modality == 0 && e.level_of_care == 0 {
            v.add(
                format!("{f}.modality"),
                "an episode needs a modality or a program level of care",
            );
        }
        let started = date(v, &format!("{f}.started"), e.started.as_ref());
        let ended = optional_date(v, &format!("{f}.ended"), e.ended.as_ref());
        if let (Some(s), Some(x)) = (started, ended)
            && x < s
        {
            v.add(format!("{f}.ended"), "must not be before started");
        }
        let outcome = match TreatmentOutcome::from_proto(e.outcome) {
            Some(o) => Some(o),
            None => {
                v.add(
                    format!("{f}.outcome"),
                    if e.outcome == 0 { "is required" } else { "is not a known value" },
                );
                None
            }
        };
        if let (Some(started), Some(outcome)) = (started, outcome) {
            out.push(TreatmentEpisode { modality, level_of_care: level, started, ended, outcome });
        }
    }
    out
}

fn grant_to_proto(g: &ConsentGrant) -> pb::ConsentGrant {
    pb::ConsentGrant {
        recipient_organization_id: g.recipient_organization_id.clone().unwrap_or_default(),
        categories: g.categories.iter().map(|c| c.to_proto()).collect(),
        referral_id: g.referral_id.clone().unwrap_or_default(),
    }
}

/// The proto form of a consent with its history.
pub fn consent_to_proto(c: &Consent) -> pb::ConsentRecord {
    pb::ConsentRecord {
        share_with_referral_recipient: c.share_with_referral_recipient,
        grants: c.grants.iter().map(grant_to_proto).collect(),
        history: c
            .history
            .iter()
            .map(|h| pb::ConsentChange {
                changed_at: Some(time::to_proto(h.changed_at)),
                action: h.action.clone(),
                recipient_organization_id: h.recipient_organization_id.clone().unwrap_or_default(),
                categories: h.categories.iter().map(|c| c.to_proto()).collect(),
                user_id: h.user_id.clone(),
                referral_id: h.referral_id.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn grants_from_proto(v: &mut Violations, grants: &[pb::ConsentGrant]) -> Vec<ConsentGrant> {
    if grants.len() > 50 {
        v.add("consent_grants", "at most 50 grants");
    }
    let mut out = Vec::new();
    for (i, g) in grants.iter().enumerate() {
        let f = format!("consent_grants[{i}]");
        let recipient = v
            .optional_uuid(&format!("{f}.recipient_organization_id"), &g.recipient_organization_id);
        let referral_id = v.optional_uuid(&format!("{f}.referral_id"), &g.referral_id);
        let categories = code_list!(ConsentCategory, v, format!("{f}.categories"), g.categories);
        if g.categories.is_empty() {
            v.add(format!("{f}.categories"), "at least one category is required");
        }
        if categories.contains(&ConsentCategory::SubstanceUse) {
            // 42 CFR Part 2: substance-use information goes only under a consent of its own, naming whom.
            if categories.len() > 1 {
                v.add(
                    format!("{f}.categories"),
                    "substance-use information needs a grant of its own (SUBSTANCE_USE only)",
                );
            }
            if g.recipient_organization_id.is_empty() {
                v.add(
                    format!("{f}.recipient_organization_id"),
                    "a substance-use grant must name its recipient organization",
                );
            }
        }
        out.push(ConsentGrant { recipient_organization_id: recipient, referral_id, categories });
    }
    out
}

fn date(
    v: &mut Violations,
    field: &str,
    d: Option<&continuum_proto::common::v1::Date>,
) -> Option<NaiveDate> {
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

fn items(
    v: &mut Violations,
    field: &str,
    values: &[i32],
    count: usize,
    max: i32,
) -> Option<Vec<u8>> {
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
pub fn screeners_from_proto(
    v: &mut Violations,
    prefix: &str,
    s: Option<&pb::Screeners>,
) -> Screeners {
    let Some(s) = s else { return Screeners::default() };
    Screeners {
        phq9: s
            .phq9
            .as_ref()
            .and_then(|p| items(v, &format!("{prefix}.phq9.items"), &p.items, 9, 3)),
        gad7: s
            .gad7
            .as_ref()
            .and_then(|g| items(v, &format!("{prefix}.gad7.items"), &g.items, 7, 3)),
        cssrs: s.cssrs.as_ref().map(|c| CssrsAnswers {
            wish_to_be_dead: c.wish_to_be_dead,
            suicidal_thoughts: c.suicidal_thoughts,
            thoughts_with_method: c.thoughts_with_method,
            intent_without_plan: c.intent_without_plan,
            intent_with_plan: c.intent_with_plan,
            suicidal_behaviour: c.suicidal_behaviour,
            behaviour_past_three_months: c.behaviour_past_three_months,
        }),
        pcl5: s
            .pcl5
            .as_ref()
            .and_then(|p| items(v, &format!("{prefix}.pcl5.items"), &p.items, 20, 4)),
        readiness_ruler: s.readiness_ruler.as_ref().and_then(|r| {
            if (0..=10).contains(&r.rating) {
                u8::try_from(r.rating).ok()
            } else {
                v.add(format!("{prefix}.readiness_ruler.rating"), "must be between 0 and 10");
                None
            }
        }),
    }
}

fn check_email(v: &mut Violations, field: &str, s: &str) {
    if s.is_empty() {
        return;
    }
    let ok = s.len() <= 254
        && s.split_once('@').is_some_and(|(a, b)| {
            !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.')
        })
        && !s.contains(char::is_whitespace);
    if !ok {
        v.add(field, "must be an e-mail address");
    }
}

fn check_phone(v: &mut Violations, field: &str, s: &str) {
    if s.is_empty() {
        return;
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let ok =
        s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && (6..=20).contains(&digits);
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
            continuum_vocab::check_language(
                &mut v,
                "client.preferred_language",
                &c.preferred_language,
            );
            continuum_vocab::check_jurisdiction(&mut v, "client.jurisdiction", &c.jurisdiction);
            let pay = PaymentOption::require(&mut v, "client.payment_option", c.payment_option);
            dob.zip(pay).map(|(date_of_birth, payment_option)| ClientDetails {
                given_name: Phi::new(c.given_name.trim().to_owned()),
                family_name: Phi::new(c.family_name.trim().to_owned()),
                date_of_birth: Phi::new(date_of_birth),
                email: Phi::new(c.email.trim().to_owned()),
                phone: Phi::new(c.phone.trim().to_owned()),
                pronouns: Phi::new(c.pronouns.trim().to_owned()),
                preferred_language: c.preferred_language.clone(),
                jurisdiction: c.jurisdiction.clone(),
                payment_option,
            })
        }
    };
    let screeners = screeners_from_proto(&mut v, "screeners", r.screeners.as_ref());
    if screeners.is_empty() && !r.clinician_reports_imminent_risk {
        v.add(
            "screeners",
            "at least one screener (PHQ-9, GAD-7, C-SSRS, PCL-5 or readiness ruler) is required",
        );
    }
    let prefs = r.preferences.unwrap_or_default();
    if prefs.additional_languages.len() > 10 {
        v.add("preferences.additional_languages", "at most 10 languages");
    }
    for (i, l) in prefs.additional_languages.iter().enumerate() {
        continuum_vocab::check_language(
            &mut v,
            &format!("preferences.additional_languages[{i}]"),
            l,
        );
    }
    let preferences = Preferences {
        modalities_avoided: Modality::list(
            &mut v,
            "preferences.modalities_avoided",
            &prefs.modalities_avoided,
        ),
        formats: CareFormat::list(&mut v, "preferences.formats", &prefs.formats),
        relational_style: RelationalStyle::from_proto(
            &mut v,
            "preferences.relational_style",
            prefs.relational_style.as_ref(),
        ),
        modalities_wanted: Modality::list(
            &mut v,
            "preferences.modalities_wanted",
            &prefs.modalities_wanted,
        ),
        approach: optional_code!(Approach, v, "preferences.approach", prefs.approach),
        setting: optional_code!(Setting, v, "preferences.setting", prefs.setting),
        identity_preferences: code_strings(
            &mut v,
            "preferences.identity_preferences",
            &prefs.identity_preferences,
        ),
        faith_preferences: code_strings(
            &mut v,
            "preferences.faith_preferences",
            &prefs.faith_preferences,
        ),
        cultural_preferences: code_strings(
            &mut v,
            "preferences.cultural_preferences",
            &prefs.cultural_preferences,
        ),
        additional_languages: prefs.additional_languages.clone(),
        availability: code_list!(Availability, v, "preferences.availability", prefs.availability),
    };
    let consent = Consent {
        share_with_referral_recipient: r.consent.is_some_and(|c| c.share_with_referral_recipient),
        grants: grants_from_proto(&mut v, &r.consent_grants),
        history: Vec::new(),
    };
    let presenting_concerns = code_list!(Concern, v, "presenting_concerns", r.presenting_concerns);
    let dysregulation = dysregulation_from_proto(&mut v, "dysregulation", r.dysregulation.as_ref());
    let functional_impairment =
        optional_code!(Impairment, v, "functional_impairment", r.functional_impairment);
    let substance_use = optional_code!(SubstanceUse, v, "substance_use", r.substance_use);
    let stressors = code_list!(Stressor, v, "stressors", r.stressors);
    let supports = code_list!(Support, v, "supports", r.supports);
    let treatment_history = history_from_proto(&mut v, &r.treatment_history);
    let stage_of_change = optional_code!(StageOfChange, v, "stage_of_change", r.stage_of_change);
    let clinician_override =
        override_from_proto(&mut v, "clinician_override", r.clinician_override.as_ref());
    let (Some(organization_id), Some(client)) = (org, client) else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(NewIntake {
        idempotency_key: r.idempotency_key,
        organization_id,
        submitting_clinician_id: r.submitting_clinician_id,
        external_client_id: r.external_client_id,
        client,
        presenting_concerns_text: Phi::new(r.presenting_concerns_text),
        screeners,
        preferences,
        consent,
        clinician_reports_imminent_risk: r.clinician_reports_imminent_risk,
        presenting_concerns,
        dysregulation,
        functional_impairment,
        substance_use,
        stressors,
        supports,
        treatment_history,
        stage_of_change,
        clinician_override,
    })
}

fn screeners_to_proto(s: &Screeners) -> pb::Screeners {
    pb::Screeners {
        phq9: s
            .phq9
            .as_ref()
            .map(|i| pb::Phq9 { items: i.iter().map(|x| i32::from(*x)).collect() }),
        gad7: s
            .gad7
            .as_ref()
            .map(|i| pb::Gad7 { items: i.iter().map(|x| i32::from(*x)).collect() }),
        cssrs: s.cssrs.map(|c| pb::Cssrs {
            wish_to_be_dead: c.wish_to_be_dead,
            suicidal_thoughts: c.suicidal_thoughts,
            thoughts_with_method: c.thoughts_with_method,
            intent_without_plan: c.intent_without_plan,
            intent_with_plan: c.intent_with_plan,
            suicidal_behaviour: c.suicidal_behaviour,
            behaviour_past_three_months: c.behaviour_past_three_months,
        }),
        pcl5: s
            .pcl5
            .as_ref()
            .map(|i| pb::Pcl5 { items: i.iter().map(|x| i32::from(*x)).collect() }),
        readiness_ruler: s.readiness_ruler.map(|r| pb::ReadinessRuler { rating: i32::from(r) }),
    }
}

fn instrument_to_proto(i: domain::Instrument) -> pb::Instrument {
    match i {
        domain::Instrument::Phq9 => pb::Instrument::Phq9,
        domain::Instrument::Gad7 => pb::Instrument::Gad7,
        domain::Instrument::Cssrs => pb::Instrument::Cssrs,
        domain::Instrument::Pcl5 => pb::Instrument::Pcl5,
        domain::Instrument::ReadinessRuler => pb::Instrument::ReadinessRuler,
    }
}

/// The proto form of an assessment; `override_reason` is the recorded reason of its clinician override
/// (kept in the encrypted submission, given only to the owner's reads).
pub fn assessment_to_proto(
    a: &domain::Assessment,
    override_reason: Option<&str>,
) -> pb::Assessment {
    pb::Assessment {
        trauma_focused_indicated: a.trauma_focused_indicated,
        stage_of_change: a.stage_of_change.map_or(0, StageOfChange::to_proto),
        engagement: a.engagement.map_or(0, domain::Engagement::to_proto),
        modalities_to_avoid: a.modalities_to_avoid.iter().map(|m| m.to_proto()).collect(),
        program_cycling: a.program_cycling,
        supports_to_add: a.supports_to_add.clone(),
        family_involvement: a.family_involvement,
        care_emphases: a.care_emphases.clone(),
        clinician_override: a.clinician_override.as_ref().map(|o| pb::AppliedOverride {
            assessed_level_of_care: o.assessed_level_of_care.to_proto(),
            level_of_care: o.level_of_care.map_or(0, LevelOfCare::to_proto),
            assessed_phase: o.assessed_phase.map_or(0, CarePhase::to_proto),
            phase: o.phase.map_or(0, CarePhase::to_proto),
            reason: override_reason.unwrap_or_default().to_owned(),
            clinician_id: o.clinician_id.clone(),
        }),
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
                instrument: instrument_to_proto(s.instrument) as i32,
                total: s.total,
                band: s.band.clone(),
                positive: s.positive,
                flags: s.flags.clone(),
                subscales: s.subscales.iter().map(|(k, v)| (k.clone(), *v)).collect(),
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

/// Limits an intake read by a peer service acting for another organization (a referral recipient) to
/// what the client consented to share with that organization: identity and contact, screening and
/// assessment, presenting concerns, treatment history, social context; substance-use information only
/// under its own grant (and every rule and support that would reveal it is removed without it). Free-text
/// override reasons and other organizations' grants never leave the owner. `None` when the client did not
/// consent to share anything with that organization.
pub fn limit_to_consent(
    mut p: pb::Intake,
    categories: &[ConsentCategory],
    substance_supports: &[String],
) -> Option<pb::Intake> {
    use ConsentCategory as C;
    if categories.is_empty() {
        return None;
    }
    let has = |c: C| categories.contains(&c);
    if !has(C::IdentityAndContact) {
        p.client = None;
        p.external_client_id.clear();
        p.submitting_clinician_id.clear();
    }
    if !has(C::ScreeningAndAssessment) {
        p.screeners = None;
        p.assessment = None;
        p.dysregulation = None;
        p.functional_impairment = 0;
    }
    if !has(C::PresentingConcerns) {
        p.presenting_concerns_text.clear();
        p.presenting_concerns.clear();
    }
    if !has(C::TreatmentHistory) {
        p.treatment_history.clear();
    }
    if !has(C::SocialContext) {
        p.stressors.clear();
        p.supports.clear();
        p.preferences = None;
    }
    if !has(C::SubstanceUse) {
        p.substance_use = 0;
        p.presenting_concerns.retain(|c| *c != pb::PresentingConcern::SubstanceUse as i32);
        if let Some(a) = p.assessment.as_mut() {
            a.fired_rules.retain(|r| !r.rule_id.contains("substance_use"));
            a.supports_to_add.retain(|s| !substance_supports.contains(s));
        }
    }
    if let Some(o) = p.assessment.as_mut().and_then(|a| a.clinician_override.as_mut()) {
        o.reason.clear();
    }
    p.clinician_override = None;
    p.consent_grants.clear();
    Some(p)
}

/// The recorded reason of the override applied to an intake's latest assessment: the reassessment's own
/// when it came with one, else the submission's.
fn override_reason(i: &Intake) -> Option<&str> {
    i.assessment.clinician_override.as_ref()?;
    i.latest_override_reason.as_deref().or(i
        .submission
        .clinician_override
        .as_ref()
        .map(|o| o.reason.as_str()))
}

/// `intake` as it stood with `assessment` as its latest (for the override reason of a previous one).
fn intake_with(intake: &Intake, assessment: &domain::Assessment) -> Intake {
    Intake { assessment: assessment.clone(), ..intake.clone() }
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
            given_name: c.given_name.expose().clone(),
            family_name: c.family_name.expose().clone(),
            date_of_birth: Some(date_to_proto(*c.date_of_birth.expose())),
            email: c.email.expose().clone(),
            phone: c.phone.expose().clone(),
            pronouns: c.pronouns.expose().clone(),
            preferred_language: c.preferred_language.clone(),
            jurisdiction: c.jurisdiction.clone(),
            payment_option: c.payment_option.to_proto(),
        }),
        presenting_concerns_text: s.presenting_concerns_text.expose().clone(),
        screeners: Some(screeners_to_proto(&s.screeners)),
        preferences: Some(pb::Preferences {
            modalities_avoided: s
                .preferences
                .modalities_avoided
                .iter()
                .map(|m| m.to_proto())
                .collect(),
            formats: s.preferences.formats.iter().map(|f| f.to_proto()).collect(),
            relational_style: Some(s.preferences.relational_style.to_proto()),
            modalities_wanted: s
                .preferences
                .modalities_wanted
                .iter()
                .map(|m| m.to_proto())
                .collect(),
            approach: s.preferences.approach.map_or(0, Approach::to_proto),
            setting: s.preferences.setting.map_or(0, Setting::to_proto),
            identity_preferences: s.preferences.identity_preferences.clone(),
            faith_preferences: s.preferences.faith_preferences.clone(),
            cultural_preferences: s.preferences.cultural_preferences.clone(),
            additional_languages: s.preferences.additional_languages.clone(),
            availability: s.preferences.availability.iter().map(|a| a.to_proto()).collect(),
        }),
        consent: Some(pb::Consent {
            share_with_referral_recipient: s.consent.share_with_referral_recipient,
        }),
        assessment: Some(assessment_to_proto(&i.assessment, override_reason(i))),
        routing: Some(routing_to_proto(&i.routing)),
        received_at: Some(time::to_proto(i.received_at)),
        presenting_concerns: s.presenting_concerns.iter().map(|c| c.to_proto()).collect(),
        dysregulation: s.dysregulation.as_ref().map(dysregulation_to_proto),
        functional_impairment: s.functional_impairment.map_or(0, Impairment::to_proto),
        substance_use: s.substance_use.map_or(0, SubstanceUse::to_proto),
        stressors: s.stressors.iter().map(|x| x.to_proto()).collect(),
        supports: s.supports.iter().map(|x| x.to_proto()).collect(),
        treatment_history: s
            .treatment_history
            .iter()
            .map(|e| pb::TreatmentEpisode {
                modality: e.modality.map_or(0, Modality::to_proto),
                level_of_care: e.level_of_care.map_or(0, LevelOfCare::to_proto),
                started: Some(date_to_proto(e.started)),
                ended: e.ended.map(date_to_proto),
                outcome: e.outcome.to_proto(),
            })
            .collect(),
        stage_of_change: s.stage_of_change.map_or(0, StageOfChange::to_proto),
        consent_grants: s.consent.grants.iter().map(grant_to_proto).collect(),
        clinician_override: s.clinician_override.as_ref().map(override_to_proto),
    }
}

impl IntakeApi {
    async fn replay(
        &self,
        ctx: &Context,
        intake_id: &str,
        stored_fingerprint: &str,
        fingerprint: &str,
    ) -> Result<pb::SubmitIntakeResponse> {
        if stored_fingerprint != fingerprint {
            return Err(Error::precondition(
                ErrorReason::IdempotencyKeyReused,
                "this idempotency key was used for a different intake; use a new key",
            ));
        }
        let intake = access::owned(&ctx.caller, self.store.get_intake(intake_id).await?)?;
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_SUBMIT)]).await?;
        tracing::info!(intake_id, routing = intake.routing.status.code(), "submission replayed");
        Ok(pb::SubmitIntakeResponse { intake: Some(intake_to_proto(&intake)), replayed: true })
    }

    async fn submit(
        &self,
        ctx: &Context,
        req: pb::SubmitIntakeRequest,
    ) -> Result<pb::SubmitIntakeResponse> {
        let fingerprint = domain::fingerprint(&req.encode_to_vec());
        let submission = submission_from_proto(req)?;
        if !ctx.caller.belongs_to(&submission.organization_id) {
            return Err(Error::PermissionDenied(
                "intakes can be submitted only for your own organization".into(),
            ));
        }
        let cache_key =
            format!("idempotency:{}:{}", submission.organization_id, submission.idempotency_key);
        // Fast path for client retries; the unique index in the database stays the authority.
        // A stale hint (for example a key whose intake is gone) falls through to the database.
        if let Ok(Some(hit)) = self.cache.get(&cache_key).await
            && let Some((id, fp)) = hit.split_once('/')
        {
            match self.replay(ctx, id, fp, &fingerprint).await {
                Err(Error::NotFound { .. }) => {}
                other => return other,
            }
        }
        let now = Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        let assessment =
            domain::assess(uuid::Uuid::now_v7().to_string(), &submission, &self.rules, now, None);
        let mut pending = RoutingDecision::pending("routing in progress");
        if assessment.risk_level.is_crisis() {
            pending.crisis_resources = domain::crisis_resources(&submission.client.jurisdiction);
        }
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let inserted = self
            .store
            .insert_intake(
                id,
                submission,
                fingerprint.clone(),
                assessment,
                pending,
                now,
                self.router.owner(),
                lease_until,
                ctx.caller.audit_user(),
            )
            .await?;
        let mut intake = match inserted {
            Inserted::Replayed { intake_id, fingerprint: stored } => {
                return self.replay(ctx, &intake_id, &stored, &fingerprint).await;
            }
            Inserted::Created(intake) => *intake,
        };
        self.store.audit(vec![ctx.row("write", "intake", &intake, RPC_SUBMIT)]).await?;
        let _ = self
            .cache
            .set(
                &cache_key,
                &format!("{}/{fingerprint}", intake.id),
                Duration::from_secs(24 * 3600),
            )
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
            Ok(Err(e)) => {
                tracing::warn!(intake_id = %intake.id, error = %e, "inline routing failed; left pending")
            }
            Err(_) => {
                tracing::warn!(intake_id = %intake.id, "inline routing timed out; left pending")
            }
        }
        Ok(pb::SubmitIntakeResponse { intake: Some(intake_to_proto(&intake)), replayed: false })
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_intake(
        &self,
        req: Request<pb::SubmitIntakeRequest>,
    ) -> Result<Response<pb::SubmitIntakeResponse>, Status> {
        let ctx = Context::of(&req)?;
        Ok(Response::new(self.submit(&ctx, req.into_inner()).await?))
    }

    async fn get_intake(
        &self,
        req: Request<pb::GetIntakeRequest>,
    ) -> Result<Response<pb::GetIntakeResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("intake_id", &req.intake_id);
        let referral_id = v.optional_uuid("referral_id", &req.referral_id);
        let id = v.finish(id)?.unwrap_or_default();
        let found = self.store.get_intake(&id).await;
        let (shared, intake) = match found {
            Ok(intake) if ctx.caller.belongs_to(&intake.submission.organization_id) => {
                (intake_to_proto(&intake), intake)
            }
            other => {
                // Anyone but the owner reads only as the recipient of a live referral the owner made, and
                // only what the client consented to share with it (revoking consent stops this at once).
                // Referral is asked before the intake's absence is told, so another organization's intake
                // and one that does not exist are answered alike, even while referral is down.
                let referral = match &referral_id {
                    Some(r) => self.referrals.get(&ctx.caller, r).await?,
                    None => None,
                };
                let intake = other?;
                let categories =
                    access::recipient_categories(&ctx.caller, &intake, referral.as_ref())?;
                let substance_supports: Vec<String> = self
                    .rules
                    .supports
                    .iter()
                    .filter(|r| r.when_substance_use_at.is_some())
                    .flat_map(|r| r.add.iter().cloned())
                    .collect();
                let limited =
                    limit_to_consent(intake_to_proto(&intake), &categories, &substance_supports)
                        .ok_or_else(|| Error::not_found("intake", id.clone()))?;
                (limited, intake)
            }
        };
        self.store.audit(vec![ctx.row("read", "intake", &intake, RPC_GET)]).await?;
        Ok(Response::new(pb::GetIntakeResponse { intake: Some(shared) }))
    }

    async fn list_intakes(
        &self,
        req: Request<pb::ListIntakesRequest>,
    ) -> Result<Response<pb::ListIntakesResponse>, Status> {
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
        if !ctx.caller.belongs_to(&org) {
            return Err(Error::PermissionDenied(
                "you may list only your own organization's intakes".into(),
            )
            .into());
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
        self.store
            .audit(rows.iter().map(|i| ctx.row("read", "intake", i, RPC_LIST)).collect())
            .await?;
        Ok(Response::new(pb::ListIntakesResponse {
            intakes: rows.iter().map(intake_to_proto).collect(),
            next_page_token: next,
        }))
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
        let dysregulation =
            dysregulation_from_proto(&mut v, "dysregulation", req.dysregulation.as_ref());
        let clinician_override =
            override_from_proto(&mut v, "clinician_override", req.clinician_override.as_ref());
        let id = v.finish(id)?.unwrap_or_default();
        let mut intake = access::owned(&ctx.caller, self.store.get_intake(&id).await?)?;
        // The re-screen replaces the screeners and, when given, the dysregulation signs; everything else
        // (history, stressors, preferences) is the intake's. The intake's override is not carried over: a
        // reassessment stands on the rules unless the clinician overrides again with this request.
        let mut rescreen = intake.submission.clone();
        rescreen.screeners = screeners;
        rescreen.clinician_reports_imminent_risk = req.clinician_reports_imminent_risk;
        let reason = clinician_override.as_ref().map(|o| o.reason.clone());
        rescreen.clinician_override = clinician_override;
        if dysregulation.is_some() {
            rescreen.dysregulation = dysregulation;
        }
        let assessment = domain::assess(
            uuid::Uuid::now_v7().to_string(),
            &rescreen,
            &self.rules,
            Utc::now(),
            Some(&intake.assessment),
        );
        self.store.insert_reassessment(&intake, &assessment, reason.as_deref()).await?;
        let previous = std::mem::replace(&mut intake.assessment, assessment.clone());
        let previous_reason = override_reason(&intake_with(&intake, &previous)).map(str::to_owned);
        intake.latest_override_reason = reason;
        self.store.audit(vec![ctx.row("write", "assessment", &intake, RPC_REASSESS)]).await?;
        let risk_increased = assessment.risk_level > previous.risk_level;
        let changes = domain::reliable_changes(&previous, &assessment, &self.rules);
        let reliable = changes.iter().filter(|c| c.reliable).count();
        tracing::info!(intake_id = %intake.id, risk = assessment.risk_level.code(), risk_increased, reliable_changes = reliable, "reassessed");
        // Re-route when risk rises onto the crisis pathway: crisis-capable care at once (an earlier routing
        // was made for lower risk). Other rises are reported (`risk_increased`) for the waitlist to re-band.
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
                    &intake.id,
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
                match tokio::time::timeout(INLINE_ROUTING_BUDGET, self.router.route(&intake.id))
                    .await
                {
                    Ok(Ok(decision)) => intake.routing = decision,
                    Ok(Err(e)) => {
                        tracing::warn!(intake_id = %intake.id, error = %e, "inline re-routing failed; left pending")
                    }
                    Err(_) => {
                        tracing::warn!(intake_id = %intake.id, "inline re-routing timed out; left pending")
                    }
                }
            }
        }
        Ok(Response::new(pb::RecordReassessmentResponse {
            assessment: Some(assessment_to_proto(
                &assessment,
                intake.latest_override_reason.as_deref(),
            )),
            previous: Some(assessment_to_proto(&previous, previous_reason.as_deref())),
            risk_increased,
            rerouted,
            routing: Some(routing_to_proto(&intake.routing)),
            changes: changes
                .iter()
                .map(|c| pb::ScoreChange {
                    instrument: instrument_to_proto(c.instrument) as i32,
                    previous_total: c.previous_total,
                    current_total: c.current_total,
                    change: c.change(),
                    reliable: c.reliable,
                    direction: c.direction().to_owned(),
                    threshold: c.threshold,
                })
                .collect(),
        }))
    }

    async fn record_consent(
        &self,
        req: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("intake_id", &req.intake_id);
        let grants = grants_from_proto(&mut v, &req.grants);
        if grants.is_empty() && req.grants.is_empty() && !req.share_with_referral_recipient {
            v.add("grants", "give at least one grant or share_with_referral_recipient");
        }
        let id = v.finish(id)?.unwrap_or_default();
        let intake = access::owned(&ctx.caller, self.store.get_intake(&id).await?)?;
        let mut consent = intake.submission.consent.clone();
        consent.record(
            grants,
            req.share_with_referral_recipient,
            Utc::now(),
            ctx.caller.audit_user(),
        );
        let intake = self.store.update_consent(&id, &consent).await?;
        self.store.audit(vec![ctx.row("write", "consent", &intake, RPC_RECORD_CONSENT)]).await?;
        tracing::info!(intake_id = %intake.id, grants = consent.grants.len(), "consent recorded");
        Ok(Response::new(pb::RecordConsentResponse {
            consent: Some(consent_to_proto(&intake.submission.consent)),
        }))
    }

    async fn revoke_consent(
        &self,
        req: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("intake_id", &req.intake_id);
        let recipient =
            v.optional_uuid("recipient_organization_id", &req.recipient_organization_id);
        let referral = v.optional_uuid("referral_id", &req.referral_id);
        let categories = code_list!(ConsentCategory, v, "categories", req.categories);
        let id = v.finish(id)?.unwrap_or_default();
        let intake = access::owned(&ctx.caller, self.store.get_intake(&id).await?)?;
        let mut consent = intake.submission.consent.clone();
        consent.revoke(
            recipient.as_deref(),
            referral.as_deref(),
            &categories,
            Utc::now(),
            ctx.caller.audit_user(),
        );
        let intake = self.store.update_consent(&id, &consent).await?;
        self.store.audit(vec![ctx.row("write", "consent", &intake, RPC_REVOKE_CONSENT)]).await?;
        tracing::info!(intake_id = %intake.id, grants = consent.grants.len(), "consent revoked");
        Ok(Response::new(pb::RevokeConsentResponse {
            consent: Some(consent_to_proto(&intake.submission.consent)),
        }))
    }

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let ctx = Context::of(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let client_id = v.require_uuid("client_id", &req.client_id);
        let client_id = v.finish(client_id)?.unwrap_or_default();
        // Only the caller's own organization's intakes: another organization's steps are not shown at all.
        let history = self.store.client_history(&ctx.caller.organization_id, &client_id).await?;
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
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
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
        // The events about the caller's own organization's records, whoever read or wrote them.
        let mut events = self
            .store
            .list_audit(
                &caller.organization_id,
                client.as_deref(),
                user,
                after.as_deref(),
                limit + 1,
            )
            .await?;
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
                    owner_organization_id: e.record.owner_organization_id,
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

    async fn check_care_relationship(
        &self,
        req: Request<pb::CheckCareRelationshipRequest>,
    ) -> Result<Response<pb::CheckCareRelationshipResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let client_id = v.require_uuid("client_id", &req.client_id);
        let intake_id = v.optional_uuid("intake_id", &req.intake_id);
        let client_id = v.finish(client_id)?.unwrap_or_default();
        let intakes = self.store.ownership_of_client(&client_id).await?;
        let owner = intakes.first().map(|i| i.organization_id.clone()).unwrap_or_default();
        // Referral is asked only when the caller's organization could be a recipient: never for the owner or
        // an owner-only question. A client nobody took is asked about too, so another organization's client
        // and one that does not exist are answered alike, even while referral is down.
        let asks_referral = !caller.belongs_to(&owner) && !req.owner_only;
        let referrals = if asks_referral {
            self.referrals.of_client(&caller, &client_id).await?
        } else {
            Vec::new()
        };
        let found = access::relationship(
            &caller,
            &client_id,
            &intakes,
            intake_id.as_deref(),
            req.owner_only,
            &referrals,
        )?;
        let (relationship, referral_ids) = match found {
            Relationship::Owner => (pb::CareRelationship::Owner, Vec::new()),
            Relationship::Recipient(ids) => (pb::CareRelationship::ReferralRecipient, ids),
        };
        Ok(Response::new(pb::CheckCareRelationshipResponse {
            relationship: relationship as i32,
            owner_organization_id: owner,
            referral_ids,
        }))
    }
}
