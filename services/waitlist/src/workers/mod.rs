//! The waitlist service's background workers, each run until shutdown on one cancellation token (and
//! callable one round at a time from tests with a chosen "now"): `sweeper` (expires unanswered offers and
//! passes their slots on, reports the waitlist gauges), `slot_releases` (gives matching back the slots of
//! capacity events nobody took), `followup` (reads placed clients' referrals for the first and second
//! appointments attended) and `bridge_filler` (chooses a waiting client's bridge program from matching's
//! directory, at enqueue and as the background retry while matching is down).

pub mod bridge_filler;
pub mod followup;
pub mod slot_releases;
pub mod sweeper;
