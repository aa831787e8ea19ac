//! The waitlist service: owns waitlist entries, their priority inputs, slot offers and their holds, and
//! check-ins with waiting clients. Nobody at high risk waits here (the crisis interlock), priority is fair
//! aging, an offer that is declined or expires goes to the next person at once, and nobody is removed
//! silently.
//!
//! Layout: `app` (who may see or change which entry, offer and provider's slots: care-relationship
//! access), `bridge` (pure: choosing a bridge program among matching's options), `bridge_filler` (asking
//! matching's directory for it at enqueue and retrying in the background while matching is down), `care_events` (what the care timeline shows of the waitlist), `config` (settings from the environment), `startup` (build and run the server and the expiry
//! sweeper), `grpc` (the tonic adapter: proto <-> domain and the calls to the referral and intake peers),
//! `domain` (pure rules: priority, the batch choice of several slots, re-banding from intake's re-screen or
//! the local rules, estimates), `store` (every database query), `holds` (the cache: offer holds and the
//! open-slots lock), `sweeper` (expiry of unanswered offers), `matching` (taking and giving back the matching slots of capacity events), `slot_releases` (the worker giving unoffered slots back), `followup` (reading placed clients' referrals for the first
//! and second appointments attended), `clock` (injectable time) and `error`.

pub mod app;
pub mod bridge;
pub mod bridge_filler;
pub mod care_events;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod followup;
pub mod grpc;
pub mod holds;
pub mod matching;
pub mod slot_releases;
pub mod startup;
pub mod store;
pub mod sweeper;
