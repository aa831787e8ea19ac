//! The Continuum gateway: the HTTP edge for clients that do not speak gRPC, in front of the four services.
//!
//! It owns no tables and keeps no personal health information at rest: every request is answered from the
//! services, called over gRPC with the caller's own bearer token (same tokens, same roles; each service
//! decides access and audits as for any gRPC client). Modules:
//!
//! - [`fhir`]: FHIR R4 at `/fhir` (CapabilityStatement, the instruments as Questionnaires, intake Bundles,
//!   referrals as Tasks).
//! - [`hsds`]: HSDS 3.0 directory import and export at `/hsds`.
//! - [`console`]: the coordinator console at `/` (worklist, waitlist board, client path, wait metrics, live
//!   updates), server-rendered HTML over the same services with the signed-in user's token.
//! - [`health`]: `/healthz` (the four services' health) and `/livez`.
//! - [`telemetry`]: one span per request, request metrics, the request timeout.
//! - [`error`]: the one mapping of every failure to an OperationOutcome and an HTTP status.
//! - [`upstream`]: the gRPC clients and the caller's credentials they forward.
//! - [`config`] and [`startup`]: settings, binding, serving, graceful shutdown.
//!
//! Edges are modules ([`fhir`], [`hsds`], [`console`]), each merged into the
//! router in [`startup::router`].

pub mod config;
pub mod console;
pub mod error;
pub mod fhir;
pub mod health;
pub mod hsds;
pub mod startup;
pub mod telemetry;
pub mod upstream;
