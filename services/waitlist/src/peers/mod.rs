//! Clients of the services the waitlist calls: `matching` (whose provider a slot is, the slots of
//! capacity events taken and given back, bridge programs from the directory), `referral` (the referral of
//! an accepted offer, a placement's appointments) and `intake` (re-screening a check-in's answers). Each
//! maps the peer's answers to ours in one place. Whether the caller's organization owns a client is
//! intake's shared answer (`continuum_runtime::care`).

pub mod intake;
pub mod matching;
pub mod referral;
