//! The matching service: owns the provider directory (clinicians and programs), their capacity and session
//! feedback, and ranks providers for a client with an explained score.
//!
//! Layout: `capacity_events` (the worker telling the waitlist when capacity rises), `care_events` (what the care timeline shows of session feedback), `config` (settings from the environment), `startup` (build and run the server), `grpc` (the
//! tonic adapter: proto <-> domain, nothing else), `domain` (pure rules: validation, hard constraints,
//! scoring), `convert` (proto <-> domain with validation), `directory_cache` (the in-memory directory
//! snapshot Recommend ranks), `store` (every database query) and `error`.

pub mod app;
pub mod batch;
pub mod capacity_events;
pub mod care_events;
pub mod config;
pub mod convert;
pub mod directory_cache;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod startup;
pub mod store;
