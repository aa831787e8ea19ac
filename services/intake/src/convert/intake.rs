//! Encoding intakes, assessments, routings and consent as protos, and the consent-limited projection of
//! an intake for a recipient.

use chrono::NaiveDate;
use continuum_proto::intake::v1 as pb;
use continuum_vocab::{CarePhase, LevelOfCare, Modality, time};

use crate::app::Shared;
use crate::domain::{
    self, Approach, ClinicalTask, Consent, ConsentCategory, ConsentGrant, Dysregulation, Frequency,
    Impairment, Intake, OverrideRequest, RoutingDecision, RoutingStatus, Screeners, Setting,
    StageOfChange, SubstanceUse, TaskStatus, WindowRating,
};

fn date_to_proto(d: NaiveDate) -> continuum_proto::common::v1::Date {
    use chrono::Datelike;
    continuum_proto::common::v1::Date {
        year: d.year(),
        month: i32::try_from(d.month()).unwrap_or(0),
        day: i32::try_from(d.day()).unwrap_or(0),
    }
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

fn override_to_proto(o: &OverrideRequest) -> pb::AssessmentOverride {
    pb::AssessmentOverride {
        level_of_care: o.level_of_care.map_or(0, LevelOfCare::to_proto),
        phase: o.phase.map_or(0, CarePhase::to_proto),
        reason: o.reason.clone(),
        clinician_id: o.clinician_id.clone(),
        acknowledge_below_risk: o.acknowledge_below_risk,
    }
}

fn grant_to_proto(g: &ConsentGrant) -> pb::ConsentGrant {
    pb::ConsentGrant {
        recipient_organization_id: g
            .recipient_organization_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        categories: g.categories.iter().map(|c| c.to_proto()).collect(),
        referral_id: g.referral_id.as_ref().map(ToString::to_string).unwrap_or_default(),
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

pub(super) fn instrument_to_proto(i: domain::Instrument) -> pb::Instrument {
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
        warnings: a.warnings.clone(),
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
        explanation: d.explanation.clone(),
        rules_applied: d.rules_applied.clone(),
        rules_version: d.rules_version.clone(),
        next_check_in_at: d.next_check_in_at.map(time::to_proto),
    }
}

fn task_status_to_proto(s: TaskStatus) -> pb::ClinicalTaskStatus {
    match s {
        TaskStatus::Open => pb::ClinicalTaskStatus::Open,
        TaskStatus::Overdue => pb::ClinicalTaskStatus::Overdue,
        TaskStatus::Completed => pb::ClinicalTaskStatus::Completed,
    }
}

/// The proto form of a clinical task.
pub fn task_to_proto(t: &ClinicalTask) -> pb::ClinicalTask {
    pb::ClinicalTask {
        id: t.id.to_string(),
        kind: t.kind.to_proto(),
        status: task_status_to_proto(t.status()) as i32,
        intake_id: t.intake_id.to_string(),
        client_id: t.client_id.to_string(),
        organization_id: t.organization_id.to_string(),
        assessment_id: t.assessment_id.clone(),
        opened_at: Some(time::to_proto(t.opened_at)),
        due_at: Some(time::to_proto(t.due_at)),
        escalated_at: t.escalated_at.map(time::to_proto),
        completed_at: t.completed_at.map(time::to_proto),
        completed_by: t.completed_by.clone(),
        version: t.version,
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

/// The proto form of an intake.
pub fn intake_to_proto(i: &Intake) -> pb::Intake {
    let s = &i.submission;
    let c = &s.client;
    pb::Intake {
        id: i.id.to_string(),
        organization_id: s.organization_id.to_string(),
        client_id: i.client_id.to_string(),
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
        assessment: Some(assessment_to_proto(&i.assessment, i.override_reason())),
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
        tasks: i.tasks.iter().map(task_to_proto).collect(),
    }
}

/// The proto form of an intake as `shared` allows: the whole intake for its owner, what the client
/// consented to share for a recipient.
pub fn shared_intake_to_proto(intake: &Intake, shared: Option<&Shared>) -> pb::Intake {
    let full = intake_to_proto(intake);
    match shared {
        None => full,
        Some(s) => limit_to_consent(full, &s.categories, &s.substance_supports).unwrap_or_default(),
    }
}
