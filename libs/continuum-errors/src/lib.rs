//! The closed set of errors a Continuum service can return, and the one place where they become gRPC
//! statuses (with `google.rpc` details: `BadRequest`, `ErrorInfo`, `ResourceInfo`).
//!
//! Handlers return [`Error`]; the tonic adapter converts with `Status::from`. Internal errors are logged
//! with their cause chain and answered with a generic message, so no database text or personal health
//! information ever reaches a caller.
//!
//! Reasons are [`ErrorReason`] values (`continuum.common.v1.ErrorReason`), never strings; a peer's error
//! becomes a [`PeerError`] in one place, and [`PeerError::is_retryable`] is the one retry policy.

pub mod page;

use std::fmt;

pub use continuum_proto::common::v1::ErrorReason;
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
    /// A business rule refuses the request, for a stable reason.
    #[error("{}: {message}", reason_code(*reason))]
    FailedPrecondition {
        /// Stable machine-readable reason (`ErrorInfo.reason`).
        reason: ErrorReason,
        /// Human-readable explanation (never personal health information).
        message: String,
    },
    /// A concurrent change won (optimistic concurrency): re-read and retry.
    #[error("{}: {message}", reason_code(*reason))]
    Aborted {
        /// Stable reason, usually `VERSION_MISMATCH`.
        reason: ErrorReason,
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
    /// The request message is larger than the service accepts (`limit` bytes); it was not read.
    #[error("request larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A call went over a documented limit of the API (items in one stream, bytes held for one call);
    /// nothing of it was applied. The message names the limit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
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
    pub fn precondition(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::FailedPrecondition { reason, message: message.into() }
    }

    /// The fields an `INVALID_ARGUMENT` names, in order (their proto paths); none for any other error.
    pub fn bad_fields(&self) -> Vec<String> {
        match self {
            Self::InvalidArgument(v) => v.iter().map(|f| f.field.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether this is a `FAILED_PRECONDITION` for `reason`.
    pub fn is_refusal(&self, reason: ErrorReason) -> bool {
        matches!(self, Self::FailedPrecondition { reason: r, .. } if *r == reason)
    }

    /// An `ABORTED` for a stale version.
    pub fn version_mismatch(resource_type: &'static str, expected: i64, actual: i64) -> Self {
        Self::Aborted {
            reason: ErrorReason::VersionMismatch,
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

    /// Whether the repeated field `field` is within its documented maximum of `max` items. Over it, records
    /// ONE violation on the field itself ("must have at most N items") and answers false: the caller then
    /// skips validating the elements, so a hostile list of thousands costs one check, not thousands.
    pub fn within_limit<T>(&mut self, field: &str, items: &[T], max: usize) -> bool {
        if items.len() > max {
            self.add(field, format!("must have at most {max} items"));
            false
        } else {
            true
        }
    }

    /// The items of the repeated field `field` to validate one by one: all of them within the documented
    /// maximum `max`, none over it (then [`Violations::within_limit`] records the one violation).
    pub fn capped<'a, T>(&mut self, field: &str, items: &'a [T], max: usize) -> &'a [T] {
        if self.within_limit(field, items, max) { items } else { &[] }
    }

    /// Takes in the outcome of validating a part: its value when it was good; its bad fields, added to
    /// these, when it was INVALID_ARGUMENT (then `None`); any other error as it is.
    pub fn absorb<T>(&mut self, part: Result<T>) -> Result<Option<T>> {
        match part {
            Ok(value) => Ok(Some(value)),
            Err(Error::InvalidArgument(more)) => {
                self.0.extend(more.0);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Both values, or one INVALID_ARGUMENT naming the bad fields of both parts (`a`'s first); an error of
/// another kind wins over bad fields.
pub fn both<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(Error::InvalidArgument(mut x)), Err(Error::InvalidArgument(y))) => {
            x.0.extend(y.0);
            Err(Error::InvalidArgument(x))
        }
        (Err(Error::InvalidArgument(_)), Err(e)) | (Err(e), _) | (_, Err(e)) => Err(e),
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

/// Most violations one answer lists (the message gives the full count).
pub const MAX_LISTED_VIOLATIONS: usize = 100;
/// Budget of the listed violations' text (fields and descriptions), so that the encoded status details
/// stay well under 8 KB: default clients refuse larger metadata and would never see the INVALID_ARGUMENT.
pub const VIOLATIONS_TEXT_BUDGET: usize = 4 * 1024;
/// Longest field path and description listed.
const MAX_FIELD_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 300;
/// Budget of the field names in the status message.
const MESSAGE_BUDGET: usize = 1024;

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

impl Violations {
    /// How many violations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The violations one answer lists — the first [`MAX_LISTED_VIOLATIONS`], within
    /// [`VIOLATIONS_TEXT_BUDGET`] — and the status message, which names the listed fields within its own
    /// budget and says how many were left out. A hostile request with thousands of bad elements gets a
    /// small, complete-enough answer instead of megabytes of trailers.
    pub fn bounded(&self) -> (&[FieldViolation], String) {
        let mut text = 0;
        let mut n = 0;
        for v in self.0.iter().take(MAX_LISTED_VIOLATIONS) {
            let size = v.field.len().min(MAX_FIELD_CHARS * 4)
                + v.description.len().min(MAX_DESCRIPTION_CHARS * 4)
                + 8;
            if n > 0 && text + size > VIOLATIONS_TEXT_BUDGET {
                break;
            }
            text += size;
            n += 1;
        }
        let listed = &self.0[..n];
        let mut message = String::from("bad fields: ");
        let mut named = 0;
        for v in listed {
            let field = clip(&v.field, MAX_FIELD_CHARS);
            if named > 0 && message.len() + field.len() + 2 > MESSAGE_BUDGET {
                break;
            }
            if named > 0 {
                message.push_str(", ");
            }
            message.push_str(&field);
            named += 1;
        }
        if named < self.0.len() {
            message.push_str(&format!(
                " ... ({} bad fields in all; the first {} are listed in the details)",
                self.0.len(),
                n
            ));
        }
        (listed, message)
    }
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
                let (listed, message) = v.bounded();
                let mut details = ErrorDetails::new();
                for fv in listed {
                    details.add_bad_request_violation(
                        clip(&fv.field, MAX_FIELD_CHARS),
                        clip(&fv.description, MAX_DESCRIPTION_CHARS),
                    );
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
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
                info(ErrorReason::PermissionDenied),
            ),
            Error::Unavailable(message) => {
                tracing::warn!(error = %message, "dependency unavailable");
                Status::with_error_details(
                    Code::Unavailable,
                    "a dependency is unavailable; retry later",
                    info(ErrorReason::Unavailable),
                )
            }
            Error::TooLarge { limit } => Status::resource_exhausted(format!(
                "the request message is larger than the {limit}-byte limit; send less per call"
            )),
            Error::LimitExceeded(message) => Status::resource_exhausted(message),
            Error::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "unexpected error");
                Status::internal("internal error")
            }
        }
    }
}

fn info(reason: ErrorReason) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        reason_code(reason),
        DOMAIN,
        std::collections::HashMap::<String, String>::new(),
    );
    details
}

/// The wire form of a reason in `ErrorInfo.reason`: the value's name without the `ERROR_REASON_` prefix.
pub fn reason_code(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// The reason an `ErrorInfo.reason` names, when it is one of ours.
pub fn reason_from_code(code: &str) -> Option<ErrorReason> {
    ErrorReason::from_str_name(&format!("ERROR_REASON_{code}"))
        .filter(|r| *r != ErrorReason::Unspecified)
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Error::AlreadyExists { resource_type: "record", id: String::new() };
        }
        if db_unreachable(&err) {
            return Error::Unavailable(format!("database: {err}"));
        }
        Error::Unexpected(anyhow::Error::new(err).context("database"))
    }
}

/// Whether a database error says the database could not be reached or went away (a restart, a cut
/// connection, a full pool): the call may succeed when retried, so it answers UNAVAILABLE, never INTERNAL.
/// A statement the database refused for what it says (a constraint, a syntax error) is not one of these.
pub fn db_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx = match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed
        | Sqlx::Protocol(_) => true,
        // Class 08: connection exception; 57P01-57P03: the server is shutting down, crashed or starting.
        Sqlx::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Reads the stable reason of a status's `ErrorInfo`, if it is one of ours.
pub fn reason_of(status: &Status) -> Option<ErrorReason> {
    status.get_details_error_info().and_then(|i| reason_from_code(&i.reason))
}

/// A failed call to a peer service, as the caller needs it: the code and the stable reason the peer
/// named (never its message, which may describe the request), and whether trying again may succeed.
/// Built from a `Status` in exactly one place; [`PeerError::is_retryable`] is the one retry policy of
/// every service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerError {
    /// The gRPC code the peer answered.
    pub code: Code,
    /// The peer's stable reason, when it gave one of ours.
    pub reason: Option<ErrorReason>,
}

impl From<&Status> for PeerError {
    fn from(status: &Status) -> Self {
        Self { code: status.code(), reason: reason_of(status) }
    }
}

impl From<Status> for PeerError {
    fn from(status: Status) -> Self {
        Self::from(&status)
    }
}

impl PeerError {
    /// Whether the same call (with the same idempotency key) may succeed later: the peer or the network
    /// failed, was busy or not yet configured (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
    /// CANCELLED, UNKNOWN, INTERNAL, UNAUTHENTICATED, UNIMPLEMENTED — the last two while a secret or a
    /// rolling upgrade is being fixed). A refusal for a reason, a bad request, a record not found, a role
    /// without the permission are answers: repeating the call changes nothing.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code,
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::ResourceExhausted
                | Code::Aborted
                | Code::Cancelled
                | Code::Unknown
                | Code::Internal
                | Code::Unauthenticated
                | Code::Unimplemented
        )
    }

    /// Whether the peer refused for `reason`.
    pub fn is(&self, reason: ErrorReason) -> bool {
        self.reason == Some(reason)
    }

    /// Whether the peer answered NOT_FOUND.
    pub fn is_not_found(&self) -> bool {
        self.code == Code::NotFound
    }

    /// Whether the peer answered ALREADY_EXISTS (an idempotent change it had applied already).
    pub fn already_applied(&self) -> bool {
        self.code == Code::AlreadyExists
    }

    /// This failure as our own error when nothing more specific applies: retryable failures are
    /// `UNAVAILABLE` (the caller may retry), anything else is unexpected (logged, answered INTERNAL).
    pub fn into_error(self, peer: &'static str) -> Error {
        if self.is_retryable() {
            Error::Unavailable(format!("{peer} answered {:?}", self.code))
        } else {
            Error::Unexpected(anyhow::anyhow!(
                "{peer} answered {:?} ({:?})",
                self.code,
                self.reason
            ))
        }
    }
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
    fn a_list_over_its_limit_is_one_violation_on_the_field() {
        let mut v = Violations::default();
        assert!(v.within_limit("languages", &[0u8; 20], 20));
        assert!(v.is_empty());
        assert!(!v.within_limit("languages", &vec![0u8; 10_000], 20));
        assert_eq!(
            v.iter().map(|f| (f.field.as_str(), f.description.as_str())).collect::<Vec<_>>(),
            vec![("languages", "must have at most 20 items")]
        );
    }

    #[test]
    fn capped_hands_out_the_items_within_the_limit_and_none_over_it() {
        let mut v = Violations::default();
        assert_eq!(v.capped("ids", &[1, 2, 3], 3), &[1, 2, 3]);
        assert!(v.is_empty());
        assert!(v.capped("ids", &[1, 2, 3, 4], 3).is_empty());
        assert_eq!(v.len(), 1);
        assert_eq!(v.iter().next().map(|f| f.field.as_str()), Some("ids"));
    }

    fn bad(fields: &[&str]) -> Error {
        let mut v = Violations::default();
        for f in fields {
            v.add(*f, "is required");
        }
        Error::InvalidArgument(v)
    }

    #[test]
    fn both_names_the_bad_fields_of_both_parts_in_order() {
        assert_eq!(both::<u8, u8>(Ok(1), Ok(2)).ok(), Some((1, 2)));
        let e = both::<u8, u8>(Err(bad(&["a", "b"])), Err(bad(&["c"]))).err();
        assert_eq!(e.map(|e| e.bad_fields()), Some(vec!["a".into(), "b".into(), "c".into()]));
        let e = both::<u8, u8>(Ok(1), Err(bad(&["c"]))).err();
        assert_eq!(e.map(|e| e.bad_fields()), Some(vec!["c".into()]));
        let e = both::<u8, u8>(Err(bad(&["a"])), Err(Error::not_found("entry", "x"))).err();
        assert!(matches!(e, Some(Error::NotFound { .. })), "{e:?}");
        assert!(
            Error::not_found("entry", "x").bad_fields().is_empty(),
            "no fields but a bad request's"
        );
    }

    #[test]
    fn absorb_keeps_a_good_value_and_adds_a_bad_parts_fields() {
        let mut v = Violations::default();
        v.add("import_key", "is required");
        assert_eq!(v.absorb::<u8>(Ok(7)).ok(), Some(Some(7)));
        assert_eq!(v.absorb::<u8>(Err(bad(&["provider.name"]))).ok(), Some(None));
        assert_eq!(
            Error::InvalidArgument(v.clone()).bad_fields(),
            vec!["import_key", "provider.name"]
        );
        assert!(v.absorb::<u8>(Err(Error::not_found("provider", "x"))).is_err());
    }

    #[test]
    fn a_limit_exceeded_is_resource_exhausted_with_its_message() {
        let status = Status::from(Error::LimitExceeded("more than 10000 items".into()));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.message(), "more than 10000 items");
    }

    #[test]
    fn a_flood_of_violations_gets_a_small_answer_that_says_how_many() {
        let mut v = Violations::default();
        for i in 0..1_000 {
            v.add(format!("grants[0].categories[{i}]"), "is not a known value");
        }
        let status = Status::from(Error::InvalidArgument(v));
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields = bad_fields_of(&status);
        assert!(!fields.is_empty() && fields.len() <= MAX_LISTED_VIOLATIONS, "{}", fields.len());
        assert_eq!(fields[0], "grants[0].categories[0]");
        assert!(status.message().contains("1000 bad fields in all"), "{}", status.message());
        // grpc-status-details-bin is the base64 of the details; the message travels beside it.
        let header_bytes = status.details().len().div_ceil(3) * 4 + status.message().len();
        assert!(header_bytes < 8 * 1024, "{header_bytes} bytes of status metadata");

        let mut long = Violations::default();
        for i in 0..50 {
            long.add(format!("{}{i}", "x".repeat(5_000)), "y".repeat(5_000));
        }
        let status = Status::from(Error::InvalidArgument(long));
        assert!(status.details().len().div_ceil(3) * 4 + status.message().len() < 8 * 1024);
        assert!(!bad_fields_of(&status).is_empty());
    }

    #[test]
    fn a_database_that_went_away_is_unavailable_not_internal() {
        use sea_orm::sqlx::Error as Sqlx;
        use sea_orm::{DbErr, RuntimeErr};
        use std::sync::Arc;
        let exec = |e: Sqlx| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)));
        let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for err in [
            exec(Sqlx::Io(cut)),
            exec(Sqlx::PoolTimedOut),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(Sqlx::PoolClosed))),
            exec(Sqlx::Protocol("unexpected end of stream".into())),
        ] {
            assert!(matches!(Error::from(err), Error::Unavailable(_)));
        }
        let refused = exec(Sqlx::ColumnNotFound("x".into()));
        assert!(matches!(Error::from(refused), Error::Unexpected(_)));
        assert_eq!(Status::from(Error::from(exec(Sqlx::PoolTimedOut))).code(), Code::Unavailable);
    }

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
        let status = Status::from(Error::precondition(ErrorReason::NoCapacity, "full"));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.get_details_error_info().map(|i| i.reason).as_deref(),
            Some("NO_CAPACITY")
        );
        assert_eq!(reason_of(&status), Some(ErrorReason::NoCapacity));
        let peer = PeerError::from(&status);
        assert!(peer.is(ErrorReason::NoCapacity) && !peer.is_retryable());
    }

    #[test]
    fn every_reason_has_a_code_that_reads_back() {
        let mut r = 1;
        while let Ok(reason) = ErrorReason::try_from(r) {
            let code = reason_code(reason);
            assert!(
                !code.starts_with("ERROR_REASON_")
                    && code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            );
            assert_eq!(reason_from_code(code), Some(reason));
            r += 1;
        }
        assert!(r > 15, "every reason is listed");
        assert_eq!(reason_from_code("UNSPECIFIED"), None);
        assert_eq!(reason_from_code("SOMETHING_ELSE"), None);
    }

    #[test]
    fn one_retry_policy() {
        let retry = [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Aborted,
            Code::Internal,
            Code::Unauthenticated,
        ];
        for code in retry {
            assert!(PeerError::from(Status::new(code, "x")).is_retryable(), "{code:?}");
        }
        let answers = [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::FailedPrecondition,
            Code::OutOfRange,
        ];
        for code in answers {
            assert!(!PeerError::from(Status::new(code, "x")).is_retryable(), "{code:?}");
        }
        assert!(matches!(
            PeerError::from(Status::unavailable("x")).into_error("matching"),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            PeerError::from(Status::not_found("x")).into_error("matching"),
            Error::Unexpected(_)
        ));
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
