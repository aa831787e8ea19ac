//! The referral service: owns closed-loop referrals (FHIR Task statuses plus finer business events), their
//! full event history, and the client's care timeline across providers. It takes a provider's slot in
//! matching when a referral is created and gives it back, through a transactional outbox, when a referral
//! ends before care started.
//!
//! Layout (the same in every service): `grpc` (the tonic adapter: decode, call `app`, encode) ->
//! `convert` (proto <-> domain, naming every bad field) -> `app` (the use cases: who may see or act on
//! which referral, and the calls to the ports, watches included) -> `domain` (pure rules: the lifecycle
//! and its transition table, deadlines and re-routing) and `store` (every database query). Beside them:
//! `peers` (clients of matching, intake and the timeline sources, and how their answers map to ours),
//! `workers` (the outbox relay that gives slots back, the deadline sweeper that escalates and
//! re-routes), `telemetry` (the metrics it exports), `config`, `startup` and `error`.

pub mod app;
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
