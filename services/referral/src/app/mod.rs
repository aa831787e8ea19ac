//! The referral service's application layer: what its use cases may do for whom. `access` decides which
//! organization may see or act on which referral (the only place that does); a referral is created only
//! for a client intake says the caller's organization owns (`crate::intake::IntakePeer::owns`).

pub mod access;
