//! `GET /fhir/metadata`: the CapabilityStatement, listing exactly what the router in `super` serves (a test
//! walks this statement and calls each interaction it names).

use axum::response::Response;
use fhir_model::r4b::codes::{
    CapabilityStatementKind, FHIRVersion, PublicationStatus, ResourceType, ResourceVersionPolicy,
    RestfulCapabilityMode, SearchParamType,
};
use fhir_model::r4b::resources::{
    CapabilityStatement, CapabilityStatementRest, CapabilityStatementRestInteraction,
    CapabilityStatementRestResource, CapabilityStatementRestResourceInteraction,
    CapabilityStatementRestResourceSearchParam, CapabilityStatementRestSecurity,
    CapabilityStatementSoftware,
};
use fhir_model::{BuilderError, DateTime};
use http::StatusCode;

use super::model::concept;
use crate::error::Result;

/// `GET /fhir/metadata`.
pub async fn metadata() -> Result<Response> {
    Ok(super::fhir_json(StatusCode::OK, &statement()?))
}

fn interactions(
    codes: &[(&str, &str)],
) -> std::result::Result<Vec<Option<CapabilityStatementRestResourceInteraction>>, BuilderError> {
    codes
        .iter()
        .map(|(code, doc)| {
            CapabilityStatementRestResourceInteraction::builder()
                .code((*code).to_owned())
                .documentation((*doc).to_owned())
                .build()
                .map(Some)
        })
        .collect()
}

fn search_param(
    name: &str,
    kind: SearchParamType,
    doc: &str,
) -> std::result::Result<Option<CapabilityStatementRestResourceSearchParam>, BuilderError> {
    CapabilityStatementRestResourceSearchParam::builder()
        .name(name.to_owned())
        .r#type(kind)
        .documentation(doc.to_owned())
        .build()
        .map(Some)
}

/// The statement.
pub fn statement() -> std::result::Result<CapabilityStatement, BuilderError> {
    let task = CapabilityStatementRestResource::builder()
        .r#type(ResourceType::Task)
        .documentation(
            "Closed-loop referrals (Gravity SDOH pattern). status: draft, requested, received, accepted, \
             rejected, cancelled, in-progress, on-hold, failed, completed, entered-in-error; finer steps in \
             businessStatus. The recipient organization changes status/businessStatus with PATCH (JSON \
             Patch) or PUT and If-Match; each change is one referral transition."
                .to_owned(),
        )
        .interaction(interactions(&[
            ("read", "A referral the caller's organization is party to (any other: 404)."),
            ("search-type", "Referrals of an organization, as owner (recipient) or requester."),
            ("patch", "JSON Patch of /status, /businessStatus, /statusReason; If-Match required."),
            ("update", "PUT of the Task as read with status/businessStatus changed; If-Match or meta.versionId."),
        ])?)
        .versioning(ResourceVersionPolicy::Versioned)
        .search_param(vec![
            search_param("owner", SearchParamType::Reference, "Organization/<id>: the recipient")?,
            search_param("requester", SearchParamType::Reference, "Organization/<id>: the referrer")?,
            search_param("status", SearchParamType::Token, "Task status")?,
            search_param("_count", SearchParamType::Number, "Page size, 1..50")?,
        ])
        .build()?;
    let questionnaire = CapabilityStatementRestResource::builder()
        .r#type(ResourceType::Questionnaire)
        .documentation(
            "The instruments intake scores: phq-9, gad-7, pcl-5, c-ssrs-screener, readiness-ruler."
                .to_owned(),
        )
        .interaction(interactions(&[
            ("read", "One instrument."),
            ("search-type", "Every instrument, or the one named by url."),
        ])?)
        .search_param(vec![search_param("url", SearchParamType::Uri, "Canonical URL")?])
        .build()?;
    let service_request = CapabilityStatementRestResource::builder()
        .r#type(ResourceType::ServiceRequest)
        .documentation(
            "The level of care recommended for an intake (its id is the intake's).".to_owned(),
        )
        .interaction(interactions(&[("read", "The organization that took the intake.")])?)
        .build()?;
    let transaction = CapabilityStatementRestInteraction::builder()
        .code("transaction".to_owned())
        .documentation(
            "An intake: Patient, QuestionnaireResponse(s) of the instruments, Consent, optional \
             Observation(s) of clinician ratings. Bundle.identifier (or If-None-Exist: identifier=...) is the \
             idempotency key. Answers a transaction-response with the ServiceRequest, the referral Task or the \
             waitlist Appointment, and crisis resources (CommunicationRequest) when the crisis pathway fired."
                .to_owned(),
        )
        .build()?;
    let rest = CapabilityStatementRest::builder()
        .mode(RestfulCapabilityMode::Server)
        .security(
            CapabilityStatementRestSecurity::builder()
                .description(
                    "Bearer tokens (Authorization: Bearer ...), the same as the gRPC services', forwarded \
                     to them unchanged; metadata and Questionnaires need none."
                        .to_owned(),
                )
                .service(vec![Some(concept(
                    "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "OAuth",
                    Some("OAuth"),
                )?)])
                .build()?,
        )
        .resource(vec![Some(questionnaire), Some(service_request), Some(task)])
        .interaction(vec![Some(transaction)])
        .build()?;
    CapabilityStatement::builder()
        .id("continuum-gateway".to_owned())
        .name("ContinuumGateway".to_owned())
        .title("Continuum FHIR R4 edge".to_owned())
        .status(PublicationStatus::Active)
        // The date this statement last changed (the published capabilities, not the build).
        .date(DateTime::Date(fhir_model::Date::Date(
            fhir_model::time::Date::from_calendar_date(2026, fhir_model::time::Month::December, 3)
                .unwrap_or(fhir_model::time::Date::MIN),
        )))
        .kind(CapabilityStatementKind::Instance)
        .software(
            CapabilityStatementSoftware::builder()
                .name("continuum-gateway".to_owned())
                .version(env!("CARGO_PKG_VERSION").to_owned())
                .build()?,
        )
        .fhir_version(FHIRVersion::N401)
        .format(vec![Some("application/fhir+json".to_owned()), Some("json".to_owned())])
        .patch_format(vec![Some("application/json-patch+json".to_owned())])
        .rest(vec![Some(rest)])
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_statement_is_r4_and_round_trips() {
        let json = serde_json::to_value(super::statement().unwrap()).unwrap();
        assert_eq!(json["fhirVersion"], "4.0.1");
        let back: fhir_model::r4b::resources::CapabilityStatement =
            serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), json);
    }
}
