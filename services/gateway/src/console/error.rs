//! The console's one mapping from a failure to an HTML answer. Upstream statuses take the HTTP status the
//! FHIR edge gives them (`crate::error`, the same table), with a sentence a coordinator can act on; a
//! version conflict is not an error page but the current state with a plain message (see
//! `worklist::transition`). Logged: codes and reasons only, never a message body or a form value.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic::Code;

use super::html::{Markup, e};
use super::{Nav, page};

/// Everything a console request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A service refused or failed the call.
    #[error("upstream answered {}", .0.code())]
    Upstream(tonic::Status),
    /// No session (or an expired one) on a request that cannot redirect (a POST, the event stream).
    #[error("signed out")]
    SignedOut,
    /// A form without the session's CSRF token.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// A form that cannot be used as sent.
    #[error("bad form: {0}")]
    BadForm(String),
    /// The session store (Redis, when the gateway shares sessions through it) did not answer.
    #[error("session store: {0:#}")]
    Sessions(anyhow::Error),
    /// A bug or an impossible state.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<tonic::Status> for ConsoleError {
    fn from(s: tonic::Status) -> Self {
        ConsoleError::Upstream(s)
    }
}

/// What a coordinator reads for an upstream status: (HTTP status, title, sentence).
pub fn explain(status: &tonic::Status) -> (StatusCode, &'static str, String) {
    let (http, _) = crate::error::Error::from(status.clone()).outcome();
    let reason = crate::error::reason_of(status);
    let said = || {
        let m = status.message();
        match &reason {
            Some(r) => format!("{m} ({r})"),
            None => m.to_owned(),
        }
    };
    match status.code() {
        Code::Unauthenticated => (
            http,
            "Please sign in again",
            "The services no longer accept your sign-in (it expired or was revoked).".to_owned(),
        ),
        Code::PermissionDenied => (
            http,
            "Not allowed",
            format!("Your role may not do this here: {}", said()),
        ),
        Code::NotFound => (
            http,
            "Not found",
            "Nothing with that id is visible to your organization.".to_owned(),
        ),
        Code::Aborted => (
            http,
            "Changed by someone else",
            "This record changed since you loaded it; nothing was changed. Reload to see its current state."
                .to_owned(),
        ),
        Code::FailedPrecondition | Code::InvalidArgument | Code::AlreadyExists => {
            (http, "Not done", said())
        }
        Code::ResourceExhausted => {
            (http, "Too many requests", "Your organization's request limit was reached; retry in a minute.".to_owned())
        }
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => (
            http,
            "Service unavailable",
            "A Continuum service did not answer; retry in a moment.".to_owned(),
        ),
        _ => (
            http,
            "Something went wrong",
            format!("Internal error; trace id {}", continuum_telemetry::current_trace_id()),
        ),
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (http, title, text) = match &self {
            ConsoleError::Upstream(status) => {
                let reason = crate::error::reason_of(status).unwrap_or_default();
                let (http, title, text) = explain(status);
                if http.is_server_error() {
                    tracing::warn!(grpc_code = ?status.code(), reason = %reason, http_status = http.as_u16(), "console: upstream call failed");
                } else {
                    tracing::info!(grpc_code = ?status.code(), reason = %reason, http_status = http.as_u16(), "console: upstream refused");
                }
                (http, title, text)
            }
            ConsoleError::SignedOut => (
                StatusCode::UNAUTHORIZED,
                "Please sign in",
                "Your session ended (signed out, idle too long, or expired).".to_owned(),
            ),
            ConsoleError::Csrf => {
                tracing::info!(http_status = 403, "console: form refused (CSRF token)");
                (
                    StatusCode::FORBIDDEN,
                    "Form refused",
                    "This form did not carry your session's security token (an old page, or a request from another site). Nothing was changed."
                        .to_owned(),
                )
            }
            ConsoleError::BadForm(m) => (StatusCode::BAD_REQUEST, "Form not usable", m.clone()),
            ConsoleError::Sessions(err) => {
                tracing::warn!(error = %format!("{err:#}"), http_status = 503, "console: session store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sessions unavailable",
                    "The console cannot read sessions just now (its session store does not answer); nothing was changed. Retry in a moment."
                        .to_owned(),
                )
            }
            ConsoleError::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    format!("Internal error; trace id {}", continuum_telemetry::current_trace_id()),
                )
            }
        };
        let mut m = Markup::new();
        html!(m, "<div class=\"flash error\" role=\"alert\"><p>{}</p></div>", e(&text));
        if matches!(http, StatusCode::UNAUTHORIZED) {
            html!(m, "<p><a href=\"/sign-in\">Sign in</a></p>");
        } else {
            html!(m, "<p><a href=\"/\">Back to the worklist</a></p>");
        }
        page(http, title, Nav::None, None, &m)
    }
}

/// The result of a console handler.
pub type Result<T> = std::result::Result<T, ConsoleError>;

/// Answers a form whose upstream call failed. A refusal the coordinator can read and act on (a rule, a
/// missing record, their role, a stale version) becomes a flash message, `"{what}: {title}. {text}"`, on
/// the page they came from (`back`); anything else (the services down, a bug) is the error page.
pub async fn refused(
    signed: &super::Signed,
    console: &super::Console,
    status: tonic::Status,
    what: &str,
    back: &str,
) -> Result<Response> {
    if !matches!(
        status.code(),
        Code::FailedPrecondition
            | Code::NotFound
            | Code::InvalidArgument
            | Code::PermissionDenied
            | Code::Aborted
    ) {
        return Err(status.into());
    }
    let (_, title, text) = explain(&status);
    tracing::info!(
        grpc_code = ?status.code(),
        reason = %crate::error::reason_of(&status).unwrap_or_default(),
        "console: action refused"
    );
    signed.flash(console, "error", format!("{what}: {title}. {text}")).await;
    Ok(super::see_other(back))
}
