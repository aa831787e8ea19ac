//! The gateway's errors, and the ONE place where an error becomes an HTTP answer: a FHIR `OperationOutcome`
//! with the HTTP status FHIR's RESTful API gives it.
//!
//! | cause | HTTP | `issue.code` |
//! |---|---|---|
//! | the request cannot be used (not JSON, not the resource expected, an element it needs missing) | 400 | `structure` / `required` / `value` / `not-supported` |
//! | no or malformed bearer token; upstream `UNAUTHENTICATED` | 401 | `login` |
//! | upstream `PERMISSION_DENIED` | 403 | `forbidden` |
//! | upstream `NOT_FOUND` (another organization's record is not found, always) | 404 | `not-found` |
//! | upstream `ALREADY_EXISTS`, `ABORTED`, `FAILED_PRECONDITION` with `IDEMPOTENCY_KEY_REUSED` | 409 | `conflict` / `duplicate` |
//! | a stale `If-Match` (upstream `ABORTED` with `VERSION_MISMATCH`) | 412 | `conflict` |
//! | a change without `If-Match` | 428 | `required` |
//! | a body over the gateway's limit (`CONTINUUM_GATEWAY_MAX_BODY_BYTES`), on `/fhir` and `/hsds` ([`body_too_large`]) | 413 | `too-long` |
//! | upstream `INVALID_ARGUMENT` (one issue per `BadRequest` field, its proto path mapped back onto a FHIRPath `expression`); upstream `FAILED_PRECONDITION` (business rules) | 422 | `value` / `required` / `business-rule` |
//! | upstream `RESOURCE_EXHAUSTED` | 429 | `throttled` |
//! | upstream `UNAVAILABLE` / `DEADLINE_EXCEEDED` | 503 / 504 | `transient` / `timeout` |
//! | anything else | 500 | `exception` (the cause is logged, the answer names only the trace id) |
//!
//! Messages answered to the caller are the services' own (written for callers, without personal health
//! information); what is logged is codes and reasons only.

use axum::response::{IntoResponse, Response};
use fhir_model::r4b::codes::{IssueSeverity, IssueType};
use fhir_model::r4b::resources::{OperationOutcome, OperationOutcomeIssue};
use http::StatusCode;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::fhir::paths::FieldMap;

/// One problem to report, as an `OperationOutcome.issue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// `issue.code`.
    pub code: IssueType,
    /// `issue.diagnostics`.
    pub diagnostics: String,
    /// `issue.expression`: the FHIRPath of the element at fault, when there is one.
    pub expression: Option<String>,
}

impl Issue {
    /// An issue with the element at `expression`.
    pub fn at(
        code: IssueType,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        Self { code, diagnostics: diagnostics.into(), expression: Some(expression.into()) }
    }

    /// An issue about the request as a whole.
    pub fn general(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self { code, diagnostics: diagnostics.into(), expression: None }
    }
}

/// Everything a gateway request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot be used as sent (400), one issue per problem.
    #[error("bad request")]
    BadRequest(Vec<Issue>),
    /// No usable credentials (401).
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// No such resource here (404): an unknown type, instrument or id shape.
    #[error("not found: {0}")]
    NotFound(String),
    /// The media type of the body is not one this endpoint takes (415).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than the gateway takes (413); `limit` is the limit in bytes.
    #[error("payload too large: over {limit} bytes")]
    PayloadTooLarge {
        /// The gateway's body limit, in bytes.
        limit: usize,
    },
    /// A change that needs `If-Match` came without it (428).
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    /// `If-Match` does not name the current version, found before any change was tried (412).
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// Understood, but not something this server does with it (422), one issue per problem.
    #[error("unprocessable")]
    Unprocessable(Vec<Issue>),
    /// A service refused or failed the call; `fields` maps its `BadRequest` field paths back onto the
    /// request's FHIRPath expressions.
    #[error("upstream answered {}", .status.code())]
    Upstream {
        /// The service's status.
        status: tonic::Status,
        /// Where each proto field of the request came from.
        fields: Option<FieldMap>,
    },
    /// A bug or an impossible state (500).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Error::Upstream { status, fields: None }
    }
}

impl From<fhir_model::BuilderError> for Error {
    fn from(e: fhir_model::BuilderError) -> Self {
        Error::Unexpected(anyhow::anyhow!("building a FHIR resource: {e}"))
    }
}

impl From<crate::upstream::CredentialsError> for Error {
    fn from(e: crate::upstream::CredentialsError) -> Self {
        Error::Unauthenticated(e.to_string())
    }
}

impl Error {
    /// A 400 with one issue.
    pub fn bad(
        code: IssueType,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Self {
        Error::BadRequest(vec![Issue::at(code, expression, diagnostics)])
    }

    /// Attaches the request's field map to an upstream refusal (nothing else changes).
    pub fn with_fields(self, map: &FieldMap) -> Self {
        match self {
            Error::Upstream { status, .. } => Error::Upstream { status, fields: Some(map.clone()) },
            other => other,
        }
    }

    /// The HTTP status and the issues this error answers with.
    pub fn outcome(&self) -> (StatusCode, Vec<Issue>) {
        match self {
            Error::BadRequest(issues) => (StatusCode::BAD_REQUEST, issues.clone()),
            Error::Unauthenticated(m) => {
                (StatusCode::UNAUTHORIZED, vec![Issue::general(IssueType::Login, m)])
            }
            Error::NotFound(m) => {
                (StatusCode::NOT_FOUND, vec![Issue::general(IssueType::NotFound, m)])
            }
            Error::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                vec![Issue::general(IssueType::NotSupported, m)],
            ),
            Error::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![Issue::general(
                    IssueType::TooLong,
                    format!(
                        "the request body is larger than this server accepts ({limit} bytes); send a smaller one (large HSDS directories: `continuum directory import`)"
                    ),
                )],
            ),
            Error::PreconditionRequired(m) => {
                (StatusCode::PRECONDITION_REQUIRED, vec![Issue::general(IssueType::Required, m)])
            }
            Error::PreconditionFailed(m) => {
                (StatusCode::PRECONDITION_FAILED, vec![Issue::general(IssueType::Conflict, m)])
            }
            Error::Unprocessable(issues) => (StatusCode::UNPROCESSABLE_ENTITY, issues.clone()),
            Error::Upstream { status, fields } => upstream_outcome(status, fields.as_ref()),
            Error::Unexpected(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![Issue::general(
                    IssueType::Exception,
                    format!("internal error; trace id {}", continuum_telemetry::current_trace_id()),
                )],
            ),
        }
    }
}

/// The `ErrorInfo.reason` of a status, when it has one.
pub fn reason_of(status: &tonic::Status) -> Option<String> {
    status.get_details_error_info().map(|i| i.reason)
}

/// How an upstream status answers: see the module table.
fn upstream_outcome(status: &tonic::Status, fields: Option<&FieldMap>) -> (StatusCode, Vec<Issue>) {
    let reason = reason_of(status);
    let message = match &reason {
        Some(r) => format!("{} ({r})", status.message()),
        None => status.message().to_owned(),
    };
    let one =
        |http: StatusCode, code: IssueType| (http, vec![Issue::general(code, message.clone())]);
    match status.code() {
        Code::InvalidArgument => {
            let mut issues: Vec<Issue> = status
                .get_details_bad_request()
                .map(|b| b.field_violations)
                .unwrap_or_default()
                .into_iter()
                .map(|v| {
                    let code = if v.description.contains("required") {
                        IssueType::Required
                    } else {
                        IssueType::Value
                    };
                    match fields.and_then(|m| m.expression_for(&v.field)) {
                        Some(expression) => Issue::at(code, expression, v.description),
                        // A field the request did not carry (or a path the map does not know): said by name.
                        None => Issue::general(code, format!("{}: {}", v.field, v.description)),
                    }
                })
                .collect();
            if issues.is_empty() {
                issues.push(Issue::general(IssueType::Value, message));
            }
            (StatusCode::UNPROCESSABLE_ENTITY, issues)
        }
        Code::FailedPrecondition if reason.as_deref() == Some("IDEMPOTENCY_KEY_REUSED") => {
            one(StatusCode::CONFLICT, IssueType::Duplicate)
        }
        Code::FailedPrecondition => one(StatusCode::UNPROCESSABLE_ENTITY, IssueType::BusinessRule),
        Code::Aborted if reason.as_deref() == Some("VERSION_MISMATCH") => {
            one(StatusCode::PRECONDITION_FAILED, IssueType::Conflict)
        }
        Code::Aborted => one(StatusCode::CONFLICT, IssueType::Conflict),
        Code::AlreadyExists => one(StatusCode::CONFLICT, IssueType::Duplicate),
        Code::NotFound => one(StatusCode::NOT_FOUND, IssueType::NotFound),
        Code::Unauthenticated => one(StatusCode::UNAUTHORIZED, IssueType::Login),
        Code::PermissionDenied => one(StatusCode::FORBIDDEN, IssueType::Forbidden),
        Code::ResourceExhausted => one(StatusCode::TOO_MANY_REQUESTS, IssueType::Throttled),
        Code::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            vec![Issue::general(IssueType::Transient, "a Continuum service is unavailable; retry")],
        ),
        Code::DeadlineExceeded | Code::Cancelled => (
            StatusCode::GATEWAY_TIMEOUT,
            vec![Issue::general(
                IssueType::Timeout,
                "a Continuum service did not answer in time; retry",
            )],
        ),
        Code::Unimplemented => one(StatusCode::NOT_IMPLEMENTED, IssueType::NotSupported),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            vec![Issue::general(
                IssueType::Exception,
                format!("internal error; trace id {}", continuum_telemetry::current_trace_id()),
            )],
        ),
    }
}

/// An `OperationOutcome` with `issues` (all of severity `error`).
pub fn operation_outcome(
    issues: &[Issue],
) -> std::result::Result<OperationOutcome, fhir_model::BuilderError> {
    let mut built = Vec::with_capacity(issues.len());
    for i in issues {
        let mut issue = OperationOutcomeIssue::builder()
            .severity(IssueSeverity::Error)
            .code(i.code)
            .diagnostics(i.diagnostics.clone());
        if let Some(e) = &i.expression {
            issue = issue.expression(vec![Some(e.clone())]);
        }
        built.push(Some(issue.build()?));
    }
    OperationOutcome::builder().issue(built).build()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (http, issues) = self.outcome();
        match &self {
            Error::Unexpected(e) => tracing::error!(error = %format!("{e:#}"), "request failed"),
            Error::Upstream { status, .. } => {
                let reason = reason_of(status).unwrap_or_default();
                if http.is_server_error() {
                    tracing::warn!(grpc_code = ?status.code(), reason = %reason, http_status = http.as_u16(), "upstream call failed");
                } else {
                    tracing::info!(grpc_code = ?status.code(), reason = %reason, http_status = http.as_u16(), "upstream refused");
                }
            }
            _ => tracing::info!(
                http_status = http.as_u16(),
                issues = issues.len(),
                "request refused"
            ),
        }
        let mut response = match operation_outcome(&issues) {
            Ok(outcome) => crate::fhir::fhir_json(http, &outcome),
            Err(e) => {
                tracing::error!(error = %e, "building an OperationOutcome failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        };
        if http == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Re-answers a body refused for its size under `/fhir` and `/hsds` through the mapping above.
///
/// The body limit (`DefaultBodyLimit`) is enforced by the extractor reading the body, before a handler
/// runs, and axum answers it as plain text; this middleware (layered over the whole router with the limit as
/// its state) replaces that answer with [`Error::PayloadTooLarge`]'s, so the caller gets the same
/// OperationOutcome as for every other refusal. The console's routes (HTML) keep their own answers.
pub async fn body_too_large(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let edge = ["/fhir", "/hsds"]
        .iter()
        .any(|p| path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
    let response = next.run(request).await;
    let answered_already = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/fhir+json"));
    if edge && response.status() == StatusCode::PAYLOAD_TOO_LARGE && !answered_already {
        return Error::PayloadTooLarge { limit }.into_response();
    }
    response
}

/// The result of a gateway handler.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    fn with_reason(code: Code, reason: &str) -> tonic::Status {
        let mut d = ErrorDetails::new();
        d.set_error_info(reason, "continuum", std::collections::HashMap::<String, String>::new());
        tonic::Status::with_error_details(code, "refused", d)
    }

    #[test]
    fn statuses_answer_as_fhir_says() {
        let http = |s: tonic::Status| Error::from(s).outcome().0.as_u16();
        assert_eq!(http(tonic::Status::not_found("x")), 404);
        assert_eq!(http(tonic::Status::unauthenticated("x")), 401);
        assert_eq!(http(tonic::Status::permission_denied("x")), 403);
        assert_eq!(http(with_reason(Code::Aborted, "VERSION_MISMATCH")), 412);
        assert_eq!(http(tonic::Status::aborted("x")), 409);
        assert_eq!(http(with_reason(Code::FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")), 409);
        assert_eq!(http(with_reason(Code::FailedPrecondition, "TRANSITION_NOT_ALLOWED")), 422);
        assert_eq!(http(tonic::Status::invalid_argument("x")), 422);
        assert_eq!(http(tonic::Status::unavailable("x")), 503);
        assert_eq!(http(tonic::Status::internal("secret detail")), 500);
        let (_, issues) = Error::from(tonic::Status::internal("secret detail")).outcome();
        assert!(!issues[0].diagnostics.contains("secret"), "internal causes are not answered");
    }

    #[test]
    fn bad_fields_become_one_issue_each_at_their_fhirpath() {
        let mut d = ErrorDetails::new();
        d.add_bad_request_violation("screeners.phq9.items[4]", "must be between 0 and 3");
        d.add_bad_request_violation("client.payment_option", "is required");
        let status = tonic::Status::with_error_details(Code::InvalidArgument, "bad", d);
        let mut map = FieldMap::default();
        map.insert("screeners.phq9.items[4]", "Bundle.entry[1].resource.item[4].answer[0]");
        let (http, issues) = Error::from(status).with_fields(&map).outcome();
        assert_eq!(http, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(issues.len(), 2);
        assert_eq!(
            issues[0].expression.as_deref(),
            Some("Bundle.entry[1].resource.item[4].answer[0]")
        );
        assert_eq!(issues[0].code, IssueType::Value);
        assert_eq!(issues[1].expression, None);
        assert_eq!(issues[1].code, IssueType::Required);
        assert!(issues[1].diagnostics.starts_with("client.payment_option"));
    }
}
