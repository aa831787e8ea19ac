//! The intake service: receives intakes from clinics, scores the screeners, assesses risk, level of care
//! and urgency, stores everything atomically with a pending routing task, and routes the client
//! exactly once — to a referral when an option has capacity, to the waitlist when none has — finishing in
//! the background when a downstream service is unavailable.
//!
//! Layout (the same in every service): `grpc` (the tonic adapter: decode, call `app`, encode) ->
//! `convert` (proto <-> domain, naming every bad field; consent-limited projections) -> `app` (the use
//! cases with their audit, `access` (who may read or change which intake and client) and `routing` (the
//! orchestration over matching, referral and waitlist)) -> `domain` (scoring, assessment, the rules file
//! that parameterises them, consent scope: pure) and `store` (every query). Beside them: `peers`
//! (clients of matching, referral and waitlist), `workers` (the routing worker), `care_events` (what the
//! care timeline shows of intake), `telemetry` (the metrics it exports), `config`, `startup` and
//! `error`.
//! The clinical rules are data (`rules/intake-rules.json`), explained rule by rule in
//! `docs/clinical-rules.md`.

pub mod app;
pub mod care_events;
pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod peers;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workers;
