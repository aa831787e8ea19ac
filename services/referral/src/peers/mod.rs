//! Clients of the services referral calls: `matching` (slots taken, held and given back), `intake`
//! (consent-limited handoff packets) and `timeline` (the care steps other services report). Each maps the
//! peer's answers to ours in one place.

pub mod intake;
pub mod matching;
pub mod timeline;
