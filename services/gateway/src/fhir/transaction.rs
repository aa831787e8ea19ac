//! `POST /fhir` with a transaction Bundle: one intake, submitted as ONE `SubmitIntake`.
//!
//! The Bundle carries one Patient, one QuestionnaireResponse per instrument (see `questionnaires`), at most
//! one Consent, and optional Observations of clinician ratings. `Bundle.identifier.value` (or, without it,
//! the `If-None-Exist: identifier=<value>` header) is the idempotency key: the same key answers the same
//! intake, never a second routing.
//!
//! Patient -> client: `name[0]` (given, family), `birthDate`, `telecom` (first email, first phone),
//! `communication` (the preferred language, else the first), `address[0]` (`state` as ISO 3166-2 `US-CA`,
//! or `country` + `state`), `identifier[0].value` (the clinic's own client id), `managingOrganization`
//! (the submitting organization; without it, the organization of the caller's token), and the extension
//! `payment-option` (valueCode: commercial-insurance, public-insurance, self-pay, sliding-scale, free).
//! Consent -> share with the referral recipient when `status` is active and `provision.type` is not deny.
//! Observation (code from Continuum's `clinician-rating` system) -> `imminent-risk` (valueBoolean),
//! `functional-impairment` and `stage-of-change` (valueCodeableConcept).
//!
//! The gateway checks only what it must to build the request (shapes, codes, complete instruments); every
//! value is judged by intake, and a refusal comes back as an OperationOutcome whose issues point at the
//! Bundle elements the bad fields came from ([`FieldMap`]).
//!
//! The answer is a `transaction-response` Bundle: one entry per request entry (`201 Created`, or `200 OK`
//! for a replay), then the ServiceRequest for the recommended level of care, the referral as a Task (with its
//! ETag), or the waitlist placement as an Appointment (`status` waitlist), and crisis resources as a
//! CommunicationRequest when the crisis pathway fired.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::referral::v1 as rpb;
use fhir_model::r4b::codes::{
    AppointmentStatus, BundleType, ConsentProvisionType, ConsentState, ContactPointSystem,
    IssueSeverity, IssueType, ParticipationStatus, RequestIntent, RequestPriority, RequestStatus,
};
use fhir_model::r4b::resources::{
    Appointment, AppointmentParticipant, Bundle, BundleEntry, BundleEntryResponse,
    CommunicationRequest, CommunicationRequestPayload, CommunicationRequestPayloadContent, Consent,
    Observation, ObservationValue, OperationOutcome, OperationOutcomeIssue, Patient,
    QuestionnaireResponse, Resource, ServiceRequest,
};
use fhir_model::r4b::types::{Annotation, ExtensionValue};
use http::{HeaderMap, StatusCode};

use super::model::{concept, date_time, first_code, reference};
use super::paths::FieldMap;
use super::questionnaires::read_response;
use super::vocab::{self, system};
use crate::error::{Error, Issue, Result};
use crate::startup::AppState;
use crate::upstream::Caller;

/// What an intake Bundle became: the request and where each of its fields came from.
#[derive(Debug)]
pub struct Converted {
    /// The request.
    pub request: ipb::SubmitIntakeRequest,
    /// Proto field path -> FHIRPath.
    pub fields: FieldMap,
    /// The resource type of each request entry, in order.
    pub entry_types: Vec<String>,
}

/// Parses one entry's resource as `T`, or names why not.
fn typed<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    at: &str,
) -> std::result::Result<T, Issue> {
    serde_json::from_value(value.clone())
        .map_err(|e| Issue::at(IssueType::Structure, at, format!("not a valid resource: {e}")))
}

/// The idempotency key of `If-None-Exist: identifier=[system|]value`.
fn if_none_exist_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("if-none-exist")?.to_str().ok()?;
    let value = v.trim().strip_prefix("identifier=")?;
    let value = value.rsplit_once('|').map_or(value, |(_, v)| v);
    (!value.is_empty()).then(|| value.to_owned())
}

/// Converts an intake Bundle into `SubmitIntake`; `organization_hint` is the caller's token organization.
pub fn convert(
    bundle: &serde_json::Value,
    headers: &HeaderMap,
    organization_hint: Option<&str>,
) -> std::result::Result<Converted, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut fields = FieldMap::default();
    let mut request = ipb::SubmitIntakeRequest::default();
    if bundle.get("resourceType").and_then(|v| v.as_str()) != Some("Bundle") {
        return Err(vec![Issue::at(IssueType::Structure, "Bundle", "the body must be a Bundle")]);
    }
    if bundle.get("type").and_then(|v| v.as_str()) != Some("transaction") {
        return Err(vec![Issue::at(
            IssueType::Value,
            "Bundle.type",
            "only transaction Bundles are supported",
        )]);
    }
    // The key.
    match bundle.pointer("/identifier/value").and_then(|v| v.as_str()) {
        Some(key) => {
            request.idempotency_key = key.to_owned();
            fields.insert("idempotency_key", "Bundle.identifier.value");
        }
        None => match if_none_exist_key(headers) {
            Some(key) => request.idempotency_key = key,
            None => issues.push(Issue::at(
                IssueType::Required,
                "Bundle.identifier",
                "Bundle.identifier.value (or If-None-Exist: identifier=<key>) is the idempotency key and is required",
            )),
        },
    }
    let entries = bundle.get("entry").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    fields.insert("screeners", "Bundle.entry");
    let mut entry_types = Vec::with_capacity(entries.len());
    let mut patient_at = None;
    let mut screeners = ipb::Screeners::default();
    let mut instruments_seen: Vec<(&str, usize)> = Vec::new();
    let mut consent_seen = false;
    for (i, entry) in entries.iter().enumerate() {
        let base = format!("Bundle.entry[{i}].resource");
        let Some(resource) = entry.get("resource") else {
            issues.push(Issue::at(
                IssueType::Required,
                format!("Bundle.entry[{i}]"),
                "entry has no resource",
            ));
            entry_types.push(String::new());
            continue;
        };
        let kind =
            resource.get("resourceType").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        if let Some(method) = entry.pointer("/request/method").and_then(|v| v.as_str())
            && method != "POST"
        {
            issues.push(Issue::at(
                IssueType::NotSupported,
                format!("Bundle.entry[{i}].request.method"),
                "an intake Bundle's entries are created (POST)",
            ));
        }
        entry_types.push(kind.clone());
        match kind.as_str() {
            "Patient" => {
                if patient_at.is_some() {
                    issues.push(Issue::at(IssueType::Value, &base, "an intake Bundle has exactly one Patient"));
                    continue;
                }
                patient_at = Some(i);
                match typed::<Patient>(resource, &base) {
                    Ok(p) => read_patient(&p, &base, organization_hint, &mut request, &mut fields, &mut issues),
                    Err(issue) => issues.push(issue),
                }
            }
            "QuestionnaireResponse" => match typed::<QuestionnaireResponse>(resource, &base) {
                Ok(qr) => match read_response(&qr, &base, &mut screeners, &mut fields) {
                    Ok(instrument) => {
                        if let Some((_, first)) = instruments_seen.iter().find(|(id, _)| *id == instrument.id) {
                            issues.push(Issue::at(
                                IssueType::Value,
                                &base,
                                format!("{} is already answered in Bundle.entry[{first}]", instrument.id),
                            ));
                        }
                        instruments_seen.push((instrument.id, i));
                    }
                    Err(mut more) => issues.append(&mut more),
                },
                Err(issue) => issues.push(issue),
            },
            "Consent" => {
                if consent_seen {
                    issues.push(Issue::at(IssueType::Value, &base, "an intake Bundle has at most one Consent"));
                    continue;
                }
                consent_seen = true;
                match typed::<Consent>(resource, &base) {
                    Ok(c) => {
                        let permits = c.provision.as_ref().and_then(|p| p.r#type.as_ref())
                            != Some(&ConsentProvisionType::Deny);
                        request.consent = Some(ipb::Consent {
                            share_with_referral_recipient: c.status == ConsentState::Active && permits,
                        });
                        fields.insert("consent", base.clone());
                    }
                    Err(issue) => issues.push(issue),
                }
            }
            "Observation" => match typed::<Observation>(resource, &base) {
                Ok(o) => read_observation(&o, &base, &mut request, &mut fields, &mut issues),
                Err(issue) => issues.push(issue),
            },
            other => issues.push(Issue::at(
                IssueType::NotSupported,
                format!("{base}.resourceType"),
                format!(
                    "{other:?} is not part of an intake Bundle (Patient, QuestionnaireResponse, Consent, Observation)"
                ),
            )),
        }
    }
    if patient_at.is_none() {
        issues.push(Issue::at(
            IssueType::Required,
            "Bundle.entry",
            "an intake Bundle needs a Patient",
        ));
    }
    request.screeners = Some(screeners);
    if issues.is_empty() { Ok(Converted { request, fields, entry_types }) } else { Err(issues) }
}

fn read_patient(
    p: &Patient,
    base: &str,
    organization_hint: Option<&str>,
    request: &mut ipb::SubmitIntakeRequest,
    fields: &mut FieldMap,
    issues: &mut Vec<Issue>,
) {
    let mut client = ipb::ClientDetails::default();
    fields.insert("client", base);
    if let Some(name) = p.name.first().and_then(Option::as_ref) {
        client.given_name = name.given.first().cloned().flatten().unwrap_or_default();
        client.family_name = name.family.clone().unwrap_or_default();
        fields.insert("client.given_name", format!("{base}.name[0].given[0]"));
        fields.insert("client.family_name", format!("{base}.name[0].family"));
    } else {
        fields.insert("client.given_name", format!("{base}.name"));
        fields.insert("client.family_name", format!("{base}.name"));
    }
    fields.insert("client.date_of_birth", format!("{base}.birthDate"));
    client.date_of_birth = p.birth_date.as_ref().map(|d| match d {
        fhir_model::Date::Date(d) => common::Date {
            year: d.year(),
            month: i32::from(u8::from(d.month())),
            day: i32::from(d.day()),
        },
        // A partial date is passed on as it is; intake asks for a whole one.
        fhir_model::Date::YearMonth(y, m) => {
            common::Date { year: *y, month: i32::from(u8::from(*m)), day: 0 }
        }
        fhir_model::Date::Year(y) => common::Date { year: *y, month: 0, day: 0 },
    });
    for (k, t) in p.telecom.iter().enumerate() {
        let Some(t) = t else { continue };
        let value = t.value.clone().unwrap_or_default();
        match t.system {
            Some(ContactPointSystem::Email) if client.email.is_empty() => {
                client.email = value;
                fields.insert("client.email", format!("{base}.telecom[{k}].value"));
            }
            Some(ContactPointSystem::Phone) if client.phone.is_empty() => {
                client.phone = value;
                fields.insert("client.phone", format!("{base}.telecom[{k}].value"));
            }
            _ => {}
        }
    }
    let communication =
        p.communication.iter().enumerate().filter_map(|(k, c)| c.as_ref().map(|c| (k, c)));
    let chosen = communication
        .clone()
        .find(|(_, c)| c.preferred == Some(true))
        .or_else(|| communication.clone().next());
    fields.insert("client.preferred_language", format!("{base}.communication"));
    if let Some((k, c)) = chosen {
        client.preferred_language =
            first_code(Some(&c.language)).map(str::to_owned).unwrap_or_default();
        fields.insert("client.preferred_language", format!("{base}.communication[{k}].language"));
    }
    fields.insert("client.jurisdiction", format!("{base}.address"));
    if let Some(a) = p.address.first().and_then(Option::as_ref) {
        let state = a.state.clone().unwrap_or_default();
        client.jurisdiction = match (&a.country, state.contains('-')) {
            (_, true) => state,
            (Some(country), false) if !state.is_empty() => format!("{country}-{state}"),
            _ => state,
        };
        fields.insert("client.jurisdiction", format!("{base}.address[0].state"));
    }
    fields.insert("client.payment_option", format!("{base}.extension"));
    let payment_url = vocab::payment_extension_url();
    for (k, e) in p.extension.iter().enumerate() {
        if e.url != payment_url {
            continue;
        }
        let at = format!("{base}.extension[{k}].valueCode");
        match &e.value {
            Some(ExtensionValue::Code(code)) => {
                match vocab::PAYMENT_OPTIONS.iter().find(|(c, _)| c == code) {
                    Some((_, option)) => {
                        client.payment_option = *option as i32;
                        fields.insert("client.payment_option", at);
                    }
                    None => issues.push(Issue::at(
                        IssueType::CodeInvalid,
                        at,
                        format!(
                            "payment option must be one of {}",
                            vocab::PAYMENT_OPTIONS.map(|(c, _)| c).join(", ")
                        ),
                    )),
                }
            }
            _ => issues.push(Issue::at(IssueType::Value, at, "payment-option takes a valueCode")),
        }
    }
    if let Some(id) = p.identifier.first().and_then(Option::as_ref).and_then(|i| i.value.clone()) {
        request.external_client_id = id;
        fields.insert("external_client_id", format!("{base}.identifier[0].value"));
    }
    let managing = p.managing_organization.as_ref().and_then(|r| r.reference.as_deref());
    match managing {
        Some(r) => {
            request.organization_id = r.strip_prefix("Organization/").unwrap_or(r).to_owned();
            fields.insert("organization_id", format!("{base}.managingOrganization"));
        }
        None => {
            request.organization_id = organization_hint.unwrap_or_default().to_owned();
            fields.insert("organization_id", format!("{base}.managingOrganization"));
        }
    }
    request.client = Some(client);
}

fn read_observation(
    o: &Observation,
    base: &str,
    request: &mut ipb::SubmitIntakeRequest,
    fields: &mut FieldMap,
    issues: &mut Vec<Issue>,
) {
    let rating_system = vocab::clinician_rating_system();
    let code = o
        .code
        .coding
        .iter()
        .flatten()
        .find(|c| c.system.as_deref() == Some(rating_system.as_str()))
        .and_then(|c| c.code.as_deref());
    let value_code = || match &o.value {
        Some(ObservationValue::CodeableConcept(c)) => first_code(Some(c)).map(str::to_owned),
        _ => None,
    };
    let bad_value =
        |what: &str| Issue::at(IssueType::Value, format!("{base}.value"), what.to_owned());
    match code {
        Some("imminent-risk") => match &o.value {
            Some(ObservationValue::Boolean(b)) => {
                request.clinician_reports_imminent_risk = *b;
                fields.insert("clinician_reports_imminent_risk", format!("{base}.valueBoolean"));
            }
            _ => issues.push(bad_value("imminent-risk takes valueBoolean")),
        },
        Some("functional-impairment") => {
            match value_code().and_then(|c| vocab::FUNCTIONAL_IMPAIRMENT.iter().find(|(k, _)| *k == c)) {
                Some((_, v)) => {
                    request.functional_impairment = *v as i32;
                    fields.insert("functional_impairment", format!("{base}.valueCodeableConcept"));
                }
                None => issues.push(bad_value("functional-impairment takes valueCodeableConcept none, mild, moderate or severe")),
            }
        }
        Some("stage-of-change") => {
            match value_code().and_then(|c| vocab::STAGE_OF_CHANGE.iter().find(|(k, _)| *k == c)) {
                Some((_, v)) => {
                    request.stage_of_change = *v as i32;
                    fields.insert("stage_of_change", format!("{base}.valueCodeableConcept"));
                }
                None => issues.push(bad_value(
                    "stage-of-change takes valueCodeableConcept precontemplation, contemplation, preparation, action or maintenance",
                )),
            }
        }
        _ => issues.push(Issue::at(
            IssueType::NotSupported,
            format!("{base}.code"),
            format!("the Observation must be coded in {rating_system}: imminent-risk, functional-impairment or stage-of-change"),
        )),
    }
}

/// `POST /fhir`.
pub async fn transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    super::require_media_type(&headers, &["application/fhir+json", "application/json"])?;
    let bundle = super::parse_json(&body)?;
    let converted =
        convert(&bundle, &headers, caller.organization_hint()).map_err(Error::BadRequest)?;
    let mut client = state.upstreams.intake.clone();
    let answer = client
        .submit_intake(caller.request(converted.request))
        .await
        .map_err(|s| Error::from(s).with_fields(&converted.fields))?
        .into_inner();
    let intake = answer.intake.ok_or_else(|| {
        Error::Unexpected(anyhow::anyhow!("SubmitIntake answered without an intake"))
    })?;
    let routing = intake.routing.clone().unwrap_or_default();
    tracing::info!(
        intake_id = %intake.id,
        routing_status = routing.status,
        replayed = answer.replayed,
        "intake bundle submitted"
    );
    let referral = if routing.referral_id.is_empty() {
        None
    } else {
        let mut referrals = state.upstreams.referral.clone();
        referrals
            .get_referral(
                caller
                    .request(rpb::GetReferralRequest { referral_id: routing.referral_id.clone() }),
            )
            .await?
            .into_inner()
            .referral
    };
    let bundle = response_bundle(
        &intake,
        answer.replayed,
        &converted.entry_types,
        referral.as_ref(),
        &state.base_url,
    )?;
    // A transaction answers 200 whether its entries were created or replayed (each entry says which).
    Ok(super::fhir_json(StatusCode::OK, &bundle))
}

fn entry_response(
    status: &str,
    location: Option<String>,
    etag: Option<String>,
) -> std::result::Result<BundleEntryResponse, fhir_model::BuilderError> {
    let mut b = BundleEntryResponse::builder().status(status.to_owned());
    if let Some(l) = location {
        b = b.location(l);
    }
    if let Some(e) = etag {
        b = b.etag(e);
    }
    b.build()
}

fn full_url(base_url: &str, kind: &str, id: &str) -> Option<String> {
    (!base_url.is_empty()).then(|| format!("{base_url}/fhir/{kind}/{id}"))
}

/// The ServiceRequest of an intake: the level of care its assessment recommends, for its client.
pub fn service_request(
    intake: &ipb::Intake,
) -> std::result::Result<ServiceRequest, fhir_model::BuilderError> {
    let assessment = intake.assessment.clone().unwrap_or_default();
    let mut b = ServiceRequest::builder()
        .id(intake.id.clone())
        .status(RequestStatus::Active)
        .intent(RequestIntent::Order)
        .subject(reference("Patient", &intake.client_id)?)
        .requester(reference("Organization", &intake.organization_id)?);
    if let Some((code, display)) = vocab::level_of_care(
        common::LevelOfCare::try_from(assessment.level_of_care).unwrap_or_default(),
    ) {
        b = b.code(concept(&system("level-of-care"), code, Some(display))?);
    }
    if let Some(p) =
        vocab::priority(common::Urgency::try_from(assessment.urgency).unwrap_or_default())
    {
        b = b.priority(p);
    }
    if let Some((code, display)) =
        vocab::risk_level(common::RiskLevel::try_from(assessment.risk_level).unwrap_or_default())
    {
        b = b.reason_code(vec![Some(concept(&system("risk-level"), code, Some(display))?)]);
    }
    if let Some(t) = date_time(intake.received_at.as_ref()) {
        b = b.authored_on(t);
    }
    b.build()
}

/// The transaction-response Bundle of a submitted intake.
pub fn response_bundle(
    intake: &ipb::Intake,
    replayed: bool,
    entry_types: &[String],
    referral: Option<&rpb::Referral>,
    base_url: &str,
) -> std::result::Result<Bundle, fhir_model::BuilderError> {
    let created = if replayed { "200 OK" } else { "201 Created" };
    let routing = intake.routing.clone().unwrap_or_default();
    let mut entries = Vec::new();
    for kind in entry_types {
        let location = match kind.as_str() {
            "Patient" => Some(format!("Patient/{}", intake.client_id)),
            _ => None,
        };
        entries.push(Some(
            BundleEntry::builder().response(entry_response(created, location, None)?).build()?,
        ));
    }
    // The ServiceRequest, with an informational outcome while routing is not finished.
    let status = ipb::RoutingStatus::try_from(routing.status).unwrap_or_default();
    let mut sr_response =
        entry_response(created, Some(format!("ServiceRequest/{}", intake.id)), None)?;
    if matches!(status, ipb::RoutingStatus::Pending | ipb::RoutingStatus::NeedsCoordinator) {
        let text = match status {
            ipb::RoutingStatus::Pending => {
                "routing pending: a Continuum service was unavailable; the intake is kept and routed in the background"
            }
            _ => {
                "routing needs a coordinator: no option could take the client; a coordinator was alerted"
            }
        };
        let outcome = OperationOutcome::builder()
            .issue(vec![Some(
                OperationOutcomeIssue::builder()
                    .severity(IssueSeverity::Information)
                    .code(IssueType::Incomplete)
                    .diagnostics(text.to_owned())
                    .build()?,
            )])
            .build()?;
        sr_response = BundleEntryResponse::builder()
            .status(created.to_owned())
            .location(format!("ServiceRequest/{}", intake.id))
            .outcome(Resource::OperationOutcome(outcome))
            .build()?;
    }
    let mut sr_entry = BundleEntry::builder()
        .resource(Resource::ServiceRequest(service_request(intake)?))
        .response(sr_response);
    if let Some(u) = full_url(base_url, "ServiceRequest", &intake.id) {
        sr_entry = sr_entry.full_url(u);
    }
    entries.push(Some(sr_entry.build()?));
    if let Some(r) = referral {
        let mut e = BundleEntry::builder()
            .resource(Resource::Task(super::task::task(r)?))
            .response(entry_response(
                created,
                Some(format!("Task/{}/_history/{}", r.id, r.version)),
                Some(super::etag(r.version)),
            )?);
        if let Some(u) = full_url(base_url, "Task", &r.id) {
            e = e.full_url(u);
        }
        entries.push(Some(e.build()?));
    }
    if !routing.waitlist_entry_id.is_empty() {
        let mut appointment = Appointment::builder()
            .id(routing.waitlist_entry_id.clone())
            .status(AppointmentStatus::Waitlist)
            .based_on(vec![Some(reference("ServiceRequest", &intake.id)?)])
            .participant(vec![Some(
                AppointmentParticipant::builder()
                    .actor(reference("Patient", &intake.client_id)?)
                    .status(ParticipationStatus::NeedsAction)
                    .build()?,
            )]);
        if let Some(t) = date_time(routing.decided_at.as_ref()) {
            appointment = appointment.created(t);
        }
        if let Some(next) = date_time(routing.next_check_in_at.as_ref()) {
            appointment = appointment.comment(format!(
                "On the waitlist; next check-in {}",
                serde_json::to_value(&next)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
        entries.push(Some(
            BundleEntry::builder()
                .resource(Resource::Appointment(appointment.build()?))
                .response(entry_response(created, None, None)?)
                .build()?,
        ));
    }
    if !routing.crisis_resources.is_empty() {
        let payload = routing
            .crisis_resources
            .iter()
            .map(|r| {
                CommunicationRequestPayload::builder()
                    .content(CommunicationRequestPayloadContent::String(r.clone()))
                    .build()
                    .map(Some)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let request = CommunicationRequest::builder()
            .status(RequestStatus::Active)
            .priority(RequestPriority::Stat)
            .subject(reference("Patient", &intake.client_id)?)
            .based_on(vec![Some(reference("ServiceRequest", &intake.id)?)])
            .payload(payload)
            .note(vec![Some(
                Annotation::builder()
                    .text("Crisis pathway: give the client these crisis resources now.".to_owned())
                    .build()?,
            )])
            .build()?;
        entries.push(Some(
            BundleEntry::builder()
                .resource(Resource::CommunicationRequest(request))
                .response(entry_response(created, None, None)?)
                .build()?,
        ));
    }
    Bundle::builder().r#type(BundleType::TransactionResponse).entry(entries).build()
}

/// `GET /fhir/ServiceRequest/{id}`: the recommended level of care of an intake (the organization that took
/// it; anyone else: 404).
pub async fn read_service_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    let mut client = state.upstreams.intake.clone();
    let intake = client
        .get_intake(
            caller.request(ipb::GetIntakeRequest { intake_id: id, referral_id: String::new() }),
        )
        .await?
        .into_inner()
        .intake
        .ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!("GetIntake answered without an intake"))
        })?;
    Ok(super::fhir_json(StatusCode::OK, &service_request(&intake)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A complete intake Bundle (the README's example).
    pub fn bundle(phq9: &[i32]) -> serde_json::Value {
        let items: Vec<_> = phq9
            .iter()
            .enumerate()
            .map(|(i, v)| serde_json::json!({"linkId": (i + 1).to_string(), "answer": [{"valueInteger": v}]}))
            .collect();
        serde_json::json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "identifier": {"system": "urn:example:clinic", "value": "fhir-0001"},
            "entry": [
                {"fullUrl": "urn:uuid:p1", "request": {"method": "POST", "url": "Patient"}, "resource": {
                    "resourceType": "Patient",
                    "name": [{"given": ["Avery"], "family": "Example"}],
                    "birthDate": "1990-04-12",
                    "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}, "preferred": true}],
                    "address": [{"country": "US", "state": "CA"}],
                    "extension": [{"url": "https://continuum.example.org/fhir/StructureDefinition/payment-option", "valueCode": "self-pay"}]
                }},
                {"request": {"method": "POST", "url": "QuestionnaireResponse"}, "resource": {
                    "resourceType": "QuestionnaireResponse", "status": "completed",
                    "questionnaire": "https://continuum.example.org/fhir/Questionnaire/phq-9",
                    "subject": {"reference": "urn:uuid:p1"},
                    "item": items
                }},
                {"request": {"method": "POST", "url": "Consent"}, "resource": {
                    "resourceType": "Consent", "status": "active",
                    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
                    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                    "provision": {"type": "permit"}
                }}
            ]
        })
    }

    #[test]
    fn a_bundle_becomes_one_submission_with_every_field_mapped() {
        let c = convert(
            &bundle(&[2, 2, 1, 1, 1, 1, 1, 2, 0]),
            &HeaderMap::new(),
            Some("0190d5a0-0000-7000-8000-000000000001"),
        )
        .unwrap();
        let r = &c.request;
        assert_eq!(r.idempotency_key, "fhir-0001");
        assert_eq!(r.organization_id, "0190d5a0-0000-7000-8000-000000000001");
        let client = r.client.clone().unwrap();
        assert_eq!((client.given_name.as_str(), client.family_name.as_str()), ("Avery", "Example"));
        assert_eq!(client.date_of_birth, Some(common::Date { year: 1990, month: 4, day: 12 }));
        assert_eq!(client.jurisdiction, "US-CA");
        assert_eq!(client.preferred_language, "en");
        assert_eq!(client.payment_option, common::PaymentOption::SelfPay as i32);
        assert_eq!(
            r.screeners.clone().unwrap().phq9.unwrap().items,
            vec![2, 2, 1, 1, 1, 1, 1, 2, 0]
        );
        assert!(r.consent.unwrap().share_with_referral_recipient);
        assert_eq!(c.entry_types, vec!["Patient", "QuestionnaireResponse", "Consent"]);
        assert_eq!(
            c.fields.expression_for("client.date_of_birth.month").as_deref(),
            Some("Bundle.entry[0].resource.birthDate")
        );
        assert_eq!(
            c.fields.expression_for("screeners.phq9.items[8]").as_deref(),
            Some("Bundle.entry[1].resource.item[8].answer[0]")
        );
    }

    #[test]
    fn clinician_ratings_come_from_observations() {
        let mut b = bundle(&[1; 9]);
        let rating = |code: &str, value: serde_json::Value| {
            let mut o = serde_json::json!({"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "https://continuum.example.org/fhir/CodeSystem/clinician-rating", "code": code}]}});
            o.as_object_mut().unwrap().extend(value.as_object().unwrap().clone());
            serde_json::json!({"request": {"method": "POST", "url": "Observation"}, "resource": o})
        };
        let entries = b["entry"].as_array_mut().unwrap();
        entries.push(rating("imminent-risk", serde_json::json!({"valueBoolean": true})));
        entries.push(rating(
            "functional-impairment",
            serde_json::json!({"valueCodeableConcept": {"coding": [{"code": "severe"}]}}),
        ));
        let c = convert(&b, &HeaderMap::new(), None).unwrap();
        assert!(c.request.clinician_reports_imminent_risk);
        assert_eq!(c.request.functional_impairment, ipb::FunctionalImpairment::Severe as i32);
        assert_eq!(
            c.fields.expression_for("functional_impairment").as_deref(),
            Some("Bundle.entry[4].resource.valueCodeableConcept")
        );
        b["entry"]
            .as_array_mut()
            .unwrap()
            .push(rating("mood", serde_json::json!({"valueInteger": 3})));
        let issues = convert(&b, &HeaderMap::new(), None).unwrap_err();
        assert_eq!(issues[0].expression.as_deref(), Some("Bundle.entry[5].resource.code"));
    }

    #[test]
    fn what_the_gateway_cannot_map_is_a_400_issue_at_its_element() {
        let mut b = bundle(&[1; 9]);
        b["entry"][0]["resource"]["extension"][0]["valueCode"] = "barter".into();
        b["entry"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"resource": {"resourceType": "Coverage"}}));
        b.as_object_mut().unwrap().remove("identifier");
        let issues = convert(&b, &HeaderMap::new(), None).unwrap_err();
        let at: Vec<_> = issues.iter().filter_map(|i| i.expression.clone()).collect();
        assert!(
            at.contains(&"Bundle.entry[0].resource.extension[0].valueCode".to_owned()),
            "{at:?}"
        );
        assert!(at.contains(&"Bundle.entry[3].resource.resourceType".to_owned()), "{at:?}");
        assert!(at.contains(&"Bundle.identifier".to_owned()), "{at:?}");
        // The key may come from If-None-Exist instead.
        let mut h = HeaderMap::new();
        h.insert("if-none-exist", "identifier=urn:x|key-7".parse().unwrap());
        assert_eq!(
            convert(&bundle(&[1; 9]), &h, None).unwrap().request.idempotency_key,
            "fhir-0001"
        );
        let mut no_id = bundle(&[1; 9]);
        no_id.as_object_mut().unwrap().remove("identifier");
        assert_eq!(convert(&no_id, &h, None).unwrap().request.idempotency_key, "key-7");
    }
}
