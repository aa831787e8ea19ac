//! The referral service: owns closed-loop referrals (FHIR Task statuses plus finer business events), their
//! full event history, and the client's care timeline across providers. It takes a provider's slot in
//! matching when a referral is created and gives it back, through a transactional outbox, when a referral
//! ends before care started.
//!
//! Layout: `app` (who may see or act on which referral: care-relationship access), `config` (settings
//! from the environment), `startup` (build and run the server and the outbox
//! worker), `grpc` (the tonic adapter: proto <-> domain, nothing else), `domain` (pure rules: the transition
//! table, response deadlines, retry delays), `store` (every database query), `matching` (the client of the
//! matching service and how its answers map to ours), `intake` (the client of the intake service that
//! reads a referral's consent-limited handoff packet for its recipient), `outbox` (delivering capacity releases with retries),
//! `deadlines` (escalating silent referrals and re-routing after a "no"), `timeline` (the care timeline:
//! referral steps merged with the intake, waitlist and feedback steps read from those services) and `error`.

pub mod app;
pub mod config;
pub mod deadlines;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod intake;
pub mod matching;
pub mod outbox;
pub mod startup;
pub mod store;
pub mod timeline;
