//! The referral service's background workers, each a `continuum_outbox` runner: `outbox` (the relay
//! that gives a slot back to matching when a referral ends before care started) and `deadlines` (the
//! sweeper that escalates silent referrals, expires them after a second silence and re-routes after a
//! "no").

pub mod deadlines;
pub mod outbox;
