//! The intake service's application layer: what its use cases may do for whom. `access` decides which
//! organization may read or change which intake and client (the only place that does); `referrals` asks
//! referral, on the caller's behalf, about the referrals that access rests on.

pub mod access;
pub mod referrals;
