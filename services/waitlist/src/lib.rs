//! The waitlist service: owns waitlist entries, their priority inputs, slot offers and their holds, and
//! check-ins with waiting clients. Nobody at high risk waits here (the crisis interlock), priority is fair
//! aging, an offer that is declined or expires goes to the next person at once, and nobody is removed
//! silently.
//!
//! Layout (the same in every service): `grpc` (the tonic adapter: decode, call `app`, encode) ->
//! `convert` (proto <-> domain, naming every bad field) -> `app` (the use cases: who may see or change
//! which entry, offer and provider's slots, and the calls to the ports) -> `domain` (pure rules: bands and
//! fair-aging priority, the batch choice of several slots, re-banding from check-ins and intake's
//! re-screen, the crisis interlock, estimates and metrics, bridge support) and `store` (every database
//! query). Beside them: `peers` (clients of matching, referral and intake, and how their answers map to
//! ours), `workers` (the offer-expiry sweeper, the slot releases to matching, the placement follow-up and
//! the bridge-program retry), `holds` (the cache: offer holds and the open-slots lock), `care_events`
//! (what the care timeline shows of the waitlist), `clock` (injectable time), `telemetry` (the metrics
//! it exports), `config`, `startup` and `error`.

pub mod app;
pub mod care_events;
pub mod clock;
pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod holds;
pub mod peers;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workers;
