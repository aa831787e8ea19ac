//! The intake service: receives intakes from clinics, scores the screeners, assesses risk, level of care
//! and urgency, stores everything in one transaction with a pending routing task, and routes the client
//! exactly once — to a referral when an option has capacity, to the waitlist when none has — finishing in
//! the background when a downstream service is unavailable.
//!
//! Layout: `app` (who may read or change which intake: care-relationship access), `care_events` (what the
//! care timeline shows of intake), `config`, `startup`, `grpc` (proto <-> domain, validation, consent-limited reads), `domain`
//! (scoring, assessment, the rules file that parameterises them, consent scope: pure), `routing` (the
//! orchestration over matching, referral and waitlist, and its worker), `store` (every query), `error`.
//! The clinical rules are data (`rules/intake-rules.json`), explained rule by rule in
//! `docs/clinical-rules.md`.

pub mod app;
pub mod care_events;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod routing;
pub mod startup;
pub mod store;
