//! The matching service: owns the provider directory (clinicians and programs), their capacity and session
//! feedback, and ranks providers for a client with an explained score.
//!
//! Layout (the same names in every service): `grpc` (the tonic adapter: decode, call `app`, encode),
//! `convert` (proto <-> domain, validating every field), `app` (the use cases: access, ports), `domain`
//! (pure rules: validation, hard constraints, scoring, alliance), `store` (every database query),
//! `workers` (background work on the shared outbox runner), plus `telemetry` (the metrics it exports),
//! `config`, `startup` and `error`.
//! Matching's own pieces: `batch` (the batch assignment request), `care_events` (what the care timeline
//! shows of session feedback) and `directory_cache` (the in-memory directory snapshot Recommend ranks).

pub mod app;
pub mod batch;
pub mod care_events;
pub mod config;
pub mod convert;
pub mod directory_cache;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workers;
