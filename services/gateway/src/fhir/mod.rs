//! FHIR R4 (4.0.1) at `/fhir`, JSON only (`application/fhir+json`).
//!
//! | interaction | becomes |
//! |---|---|
//! | `GET /fhir/metadata` | the CapabilityStatement ([`capability`]): exactly what is listed here |
//! | `GET /fhir/Questionnaire/{id}` (and the search `GET /fhir/Questionnaire`) | the five instruments intake scores ([`questionnaires`]) |
//! | `POST /fhir` (transaction Bundle: Patient, QuestionnaireResponse, Consent, Observation) | one `SubmitIntake`; a transaction-response Bundle with the ServiceRequest, the referral as a Task or the waitlist placement as an Appointment, and crisis resources ([`transaction`]) |
//! | `GET /fhir/ServiceRequest/{id}` | `GetIntake`: the level of care recommended for an intake |
//! | `GET /fhir/Task?owner=&requester=&status=`, `GET /fhir/Task/{id}` | `ListReferrals` / `GetReferral` ([`task`]) |
//! | `PATCH` / `PUT /fhir/Task/{id}` with `If-Match` | one `TransitionReferral` at that version |
//!
//! Resources are built and read with the typed model of `fhir-model` (its R4B model: the JSON of every
//! resource used here is R4's; the CapabilityStatement says 4.0.1). Nothing is kept: every answer is read
//! from the services at the time of the request, with the caller's own token. Errors are OperationOutcomes
//! (see `crate::error`).

pub mod capability;
pub mod model;
pub mod paths;
pub mod questionnaires;
pub mod task;
pub mod transaction;
pub mod vocab;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::startup::AppState;

/// The media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";

/// The FHIR version the gateway speaks.
pub const FHIR_VERSION: &str = "4.0.1";

/// The routes under `/fhir`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fhir", post(transaction::transaction))
        .route("/fhir/", post(transaction::transaction))
        .route("/fhir/metadata", get(capability::metadata))
        .route("/fhir/Questionnaire", get(questionnaires::search))
        .route("/fhir/Questionnaire/{id}", get(questionnaires::read))
        .route("/fhir/ServiceRequest/{id}", get(transaction::read_service_request))
        .route("/fhir/Task", get(task::search))
        .route("/fhir/Task/{id}", get(task::read).patch(task::patch).put(task::update))
        .route("/fhir/{*rest}", axum::routing::any(unsupported))
}

/// Anything else under `/fhir`: not a capability of this server.
async fn unsupported() -> Error {
    Error::NotFound("not supported by this server: see GET /fhir/metadata for what is".to_owned())
}

/// `body` as a FHIR JSON answer with `status`.
pub fn fhir_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(http::header::CONTENT_TYPE, http::HeaderValue::from_static(FHIR_JSON))],
            bytes,
        )
            .into_response(),
        Err(e) => {
            Error::Unexpected(anyhow::anyhow!("serializing a FHIR resource: {e}")).into_response()
        }
    }
}

/// Refuses a body whose `Content-Type` is not one of `accepted` (a missing one is taken as the first).
pub fn require_media_type(headers: &HeaderMap, accepted: &[&str]) -> Result<()> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else { return Ok(()) };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type must be one of {}",
            accepted.join(", ")
        )))
    }
}

/// Parses a JSON body; a body that is not JSON is a 400 naming where it broke.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| {
        Error::BadRequest(vec![crate::error::Issue::general(
            fhir_model::r4b::codes::IssueType::Structure,
            format!("the body is not JSON: {e}"),
        )])
    })
}

/// The weak ETag of a version (`W/"3"`).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The version an `If-Match` value names (`W/"3"`, `"3"` or `3`); `None` when it is not one.
pub fn parse_etag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v.trim_matches('"');
    v.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag(&etag(3)), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("7"), Some(7));
        assert_eq!(parse_etag("W/\"x\""), None);
        assert_eq!(parse_etag("0"), None);
    }
}
