//! Errors of the referral service: the shared closed set (see `continuum-errors`), converted to gRPC
//! statuses in exactly one place (`From<Error> for tonic::Status`).

pub use continuum_errors::{Error, ErrorReason, PeerError, Result};
