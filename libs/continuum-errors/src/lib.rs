//! The closed set of errors a Continuum service can return, and the one place where they become gRPC
//! statuses (with `google.rpc` details: `BadRequest`, `ErrorInfo`, `ResourceInfo`).
//!
//! Handlers return [`Error`]; the tonic adapter converts with `Status::from`. Internal errors are logged
//! with their cause chain and answered with a generic message, so no database text or personal health
//! information ever reaches a caller.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` every Continuum error carries.
pub const DOMAIN: &str = "continuum.health";

/// Convenience alias used across services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error a service can return to a caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: every offending field, named by its proto path.
    #[error("invalid argument: {0}")]
    InvalidArgument(Violations),
    /// The named record does not exist (or is not visible to the caller).
    #[error("{resource_type} not found")]
    NotFound {
        /// Kind of record ("intake", "provider").
        resource_type: &'static str,
        /// Its id as given by the caller.
        id: String,
    },
    /// The record already exists.
    #[error("{resource_type} already exists")]
    AlreadyExists {
        /// Kind of record.
        resource_type: &'static str,
        /// Its id, when known.
        id: String,
    },
    /// A business rule refuses the request; `reason` is a stable UPPER_SNAKE code.
    #[error("{reason}: {message}")]
    FailedPrecondition {
        /// Stable machine-readable reason (`ErrorInfo.reason`).
        reason: &'static str,
        /// Human-readable explanation (never personal health information).
        message: String,
    },
    /// A concurrent change won (optimistic concurrency): re-read and retry.
    #[error("{reason}: {message}")]
    Aborted {
        /// Stable reason, usually `VERSION_MISMATCH`.
        reason: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The caller is authenticated but may not do this (another organization's data, a role without
    /// the permission).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A dependency (database, peer service) is unavailable; retrying later may succeed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything unexpected. Logged in full, answered generically.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    /// A `NOT_FOUND` for `resource_type` with `id`.
    pub fn not_found(resource_type: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { resource_type, id: id.into() }
    }

    /// A `FAILED_PRECONDITION` with a stable reason.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition { reason, message: message.into() }
    }

    /// An `ABORTED` for a stale version.
    pub fn version_mismatch(resource_type: &'static str, expected: i64, actual: i64) -> Self {
        Self::Aborted {
            reason: "VERSION_MISMATCH",
            message: format!("{resource_type} is at version {actual}, not {expected}"),
        }
    }

    /// An `INVALID_ARGUMENT` naming one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Violations::default();
        v.add(field, description);
        Self::InvalidArgument(v)
    }
}

/// Field violations collected while validating one request: every problem, not just the first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

/// One bad field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Proto field path (`client.date_of_birth.month`, `screeners.phq9.items[3]`).
    pub field: String,
    /// What is wrong, without echoing the value.
    pub description: String,
}

impl Violations {
    /// Records one bad field.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation { field: field.into(), description: description.into() });
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded violations.
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was recorded, otherwise `Err(InvalidArgument)` with all of them.
    pub fn finish<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() { Ok(value) } else { Err(Error::InvalidArgument(self)) }
    }

    /// Adds a violation when `field` is empty or longer than `max` characters.
    pub fn require_str(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Adds a violation when a non-empty `value` is longer than `max` characters.
    pub fn optional_str(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    /// Parses a required UUID, recording a violation when it is missing or malformed.
    pub fn require_uuid(&mut self, field: &str, value: &str) -> Option<String> {
        if value.is_empty() {
            self.add(field, "is required");
            return None;
        }
        self.optional_uuid(field, value)
    }

    /// Parses an optional UUID (empty means absent), recording a violation when malformed.
    pub fn optional_uuid(&mut self, field: &str, value: &str) -> Option<String> {
        if value.is_empty() {
            return None;
        }
        if is_uuid(value) {
            Some(value.to_ascii_lowercase())
        } else {
            self.add(field, "must be a UUID");
            None
        }
    }
}

/// Whether `s` is a hyphenated UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self.0.iter().map(|v| v.field.as_str()).collect();
        write!(f, "bad fields: {}", fields.join(", "))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(v) => {
                let mut details = ErrorDetails::new();
                for fv in v.iter() {
                    details.add_bad_request_violation(fv.field.clone(), fv.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, v.to_string(), details)
            }
            Error::NotFound { resource_type, id } => {
                let mut details = ErrorDetails::new();
                details.set_resource_info(resource_type, id, "", "not found");
                Status::with_error_details(
                    Code::NotFound,
                    format!("{resource_type} not found"),
                    details,
                )
            }
            Error::AlreadyExists { resource_type, id } => {
                let mut details = ErrorDetails::new();
                details.set_resource_info(resource_type, id, "", "already exists");
                Status::with_error_details(
                    Code::AlreadyExists,
                    format!("{resource_type} already exists"),
                    details,
                )
            }
            Error::FailedPrecondition { reason, message } => {
                Status::with_error_details(Code::FailedPrecondition, message, info(reason))
            }
            Error::Aborted { reason, message } => {
                Status::with_error_details(Code::Aborted, message, info(reason))
            }
            Error::PermissionDenied(message) => Status::with_error_details(
                Code::PermissionDenied,
                message,
                info("PERMISSION_DENIED"),
            ),
            Error::Unavailable(message) => {
                tracing::warn!(error = %message, "dependency unavailable");
                Status::with_error_details(
                    Code::Unavailable,
                    "a dependency is unavailable; retry later",
                    info("UNAVAILABLE"),
                )
            }
            Error::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "unexpected error");
                Status::internal("internal error")
            }
        }
    }
}

fn info(reason: &str) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, std::collections::HashMap::<String, String>::new());
    details
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::AlreadyExists { resource_type: "record", id: String::new() };
        }
        match err {
            sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_) => {
                Error::Unavailable(format!("database: {err}"))
            }
            other => Error::Unexpected(anyhow::Error::new(other).context("database")),
        }
    }
}

/// Reads the stable reason of a status's `ErrorInfo`, if any (for clients and tests).
pub fn reason_of(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|i| i.reason)
}

/// Reads the field paths of a status's `BadRequest`, if any (for clients and tests).
pub fn bad_fields_of(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_lists_every_field() {
        let mut v = Violations::default();
        v.add("a.b", "is required");
        v.add("c[2]", "out of range");
        let status = Status::from(Error::InvalidArgument(v));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_fields_of(&status), vec!["a.b".to_string(), "c[2]".to_string()]);
    }

    #[test]
    fn precondition_carries_reason() {
        let status = Status::from(Error::precondition("NO_CAPACITY", "full"));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(reason_of(&status).as_deref(), Some("NO_CAPACITY"));
    }

    #[test]
    fn unexpected_hides_details() {
        let status = Status::from(Error::Unexpected(anyhow::anyhow!("secret table name")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn uuid_check() {
        assert!(is_uuid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(!is_uuid("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"));
        assert!(!is_uuid(""));
    }
}
