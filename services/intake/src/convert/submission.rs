//! Decoding a submission and its parts (client, screeners, history, preferences, consent grants,
//! dysregulation, the clinician override), naming every bad field by its proto path.

use chrono::{NaiveDate, Utc};
use continuum_auth::Phi;
use continuum_errors::{Error, Result, Violations};
use continuum_proto::intake::v1 as pb;
use continuum_vocab::ids::{OrganizationId, ReferralId};
use continuum_vocab::{
    CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};

use crate::domain::{
    Approach, Availability, ClientDetails, Concern, Consent, ConsentCategory, ConsentGrant,
    CssrsAnswers, Dysregulation, Frequency, Impairment, NewIntake, OverrideRequest, Preferences,
    Screeners, Setting, StageOfChange, Stressor, SubstanceUse, Support, TreatmentEpisode,
    TreatmentOutcome, WindowRating,
};

fn optional_date(
    v: &mut Violations,
    field: &str,
    d: Option<&continuum_proto::common::v1::Date>,
) -> Option<NaiveDate> {
    d.and_then(|d| date(v, field, Some(d)))
}

/// Short lowercase codes (identity, faith, cultural preferences): at most 20, each 1..64 of [a-z0-9:_-].
fn code_strings(v: &mut Violations, field: &str, values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in v.capped(field, values, 20).iter().enumerate() {
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

pub(super) fn dysregulation_from_proto(
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

pub(super) fn override_from_proto(
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
        acknowledge_below_risk: o.acknowledge_below_risk,
    })
}

fn history_from_proto(
    v: &mut Violations,
    episodes: &[pb::TreatmentEpisode],
) -> Vec<TreatmentEpisode> {
    let mut out = Vec::new();
    for (i, e) in v.capped("treatment_history", episodes, 50).iter().enumerate() {
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

/// Consent grants of the repeated field `field` (`consent_grants` of a submission, `grants` of a
/// `RecordConsent`), each bad one named under that field.
pub(super) fn grants_from_proto(
    v: &mut Violations,
    field: &str,
    grants: &[pb::ConsentGrant],
) -> Vec<ConsentGrant> {
    let mut out = Vec::new();
    for (i, g) in v.capped(field, grants, 50).iter().enumerate() {
        let f = format!("{field}[{i}]");
        let recipient = OrganizationId::optional(
            v,
            &format!("{f}.recipient_organization_id"),
            &g.recipient_organization_id,
        );
        let referral_id = ReferralId::optional(v, &format!("{f}.referral_id"), &g.referral_id);
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
    // More than `count` items: the one violation above, the items unread.
    let values_to_check = if values.len() > count { &[][..] } else { values };
    for (i, x) in values_to_check.iter().enumerate() {
        if !(0..=max).contains(x) {
            v.add(format!("{field}[{i}]"), format!("must be between 0 and {max}"));
            ok = false;
        }
    }
    ok.then(|| values.iter().map(|x| u8::try_from(*x).unwrap_or(0)).collect())
}

/// Whether any screener was given at all, valid or not: "at least one screener is required" is said only
/// when none was (a screener given but invalid has its own violations already).
pub fn screeners_given(s: Option<&pb::Screeners>) -> bool {
    s.is_some_and(|s| {
        s.phq9.is_some()
            || s.gad7.is_some()
            || s.cssrs.is_some()
            || s.pcl5.is_some()
            || s.readiness_ruler.is_some()
    })
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
    let org = OrganizationId::require(&mut v, "organization_id", &r.organization_id);
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
    if !screeners_given(r.screeners.as_ref()) && !r.clinician_reports_imminent_risk {
        v.add(
            "screeners",
            "at least one screener (PHQ-9, GAD-7, C-SSRS, PCL-5 or readiness ruler) is required",
        );
    }
    let prefs = r.preferences.unwrap_or_default();
    for (i, l) in v
        .capped("preferences.additional_languages", &prefs.additional_languages, 10)
        .iter()
        .enumerate()
    {
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
        grants: grants_from_proto(&mut v, "consent_grants", &r.consent_grants),
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
