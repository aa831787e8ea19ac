//! Who may change which directory entry and record what about which client: the one place the matching
//! service decides access (docs/security.md, "Care relationships").
//!
//! - The directory (providers, rankings, assignments over request-supplied scores) is shared: every
//!   organization reads it. It holds professional listings, never client data.
//! - A provider's organization writes its entry and its capacity: its provider administrators, or a peer
//!   service acting for one of its users. For anyone else the entry is `NOT_FOUND`.
//! - One exception, which closed-loop referral needs: a peer service acting for another organization may
//!   take **one** slot under a hold key (the referral or waitlist offer that organization makes to this
//!   provider), and give back **one** slot named by a hold taken on this provider. Never more, never by a
//!   person, never a change of the listing.
//! - Session feedback is recorded by the provider's organization, about a client that intake says it may
//!   act for (it took the client's intake, or received a live referral of the client from the owner); the
//!   feedback is read back only by the provider's organization.
//!
//! Pure functions over facts the use cases fetched; no I/O here.

use continuum_auth::Caller;

use crate::error::{Error, Result};

/// What an `UpdateCapacity` asks for, as far as access is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityAsk {
    /// A take of one slot under a hold key (`delta = -1`, `hold_key` set, nothing given back).
    TakeOne,
    /// A give-back of one slot naming the hold it was taken under (`delta = +1`, `gives_back_hold_key`);
    /// `held_here`: that hold was taken on this provider.
    GiveBackOne {
        /// Whether the named hold exists on this provider.
        held_here: bool,
    },
    /// Anything else: setting the count, other deltas, takes without a key.
    Other,
}

impl CapacityAsk {
    /// Classifies a change: `delta` (`None` for a set), whether a hold key names it, and whether it gives
    /// back a hold (and whether that hold is this provider's).
    pub fn of(delta: Option<i32>, has_hold_key: bool, gives_back: Option<bool>) -> Self {
        match (delta, has_hold_key, gives_back) {
            (Some(-1), true, None) => CapacityAsk::TakeOne,
            (Some(1), _, Some(held_here)) => CapacityAsk::GiveBackOne { held_here },
            _ => CapacityAsk::Other,
        }
    }
}

/// The entry of `provider_organization_id` (`provider_id`) when the caller's organization owns it;
/// `NOT_FOUND` otherwise (a write to another organization's entry looks like one to no entry).
pub fn owns_provider(
    caller: &Caller,
    provider_id: &str,
    provider_organization_id: &str,
) -> Result<()> {
    if caller.belongs_to(provider_organization_id) {
        Ok(())
    } else {
        tracing::info!(provider_id = %provider_id, organization_id = %caller.organization_id, "directory entry of another organization hidden from a write");
        Err(Error::not_found("provider", provider_id))
    }
}

/// Whether the caller may make `ask` on the capacity of a provider of `provider_organization_id`.
pub fn may_change_capacity(
    caller: &Caller,
    provider_id: &str,
    provider_organization_id: &str,
    ask: CapacityAsk,
) -> Result<()> {
    if caller.belongs_to(provider_organization_id) {
        return Ok(());
    }
    match ask {
        CapacityAsk::TakeOne | CapacityAsk::GiveBackOne { held_here: true }
            if caller.is_service() =>
        {
            Ok(())
        }
        _ => owns_provider(caller, provider_id, provider_organization_id),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use continuum_auth::Role;

    use super::*;

    const OWNER: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000a1";
    const OTHER: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000b2";

    fn caller(org: &str, role: Role) -> Caller {
        Caller {
            user_id: "u".into(),
            organization_id: org.into(),
            roles: vec![role],
            acting_for: None,
        }
    }

    #[test]
    fn asks_are_classified_narrowly() {
        assert_eq!(CapacityAsk::of(Some(-1), true, None), CapacityAsk::TakeOne);
        assert_eq!(
            CapacityAsk::of(Some(-1), false, None),
            CapacityAsk::Other,
            "a take without a key"
        );
        assert_eq!(CapacityAsk::of(Some(-2), true, None), CapacityAsk::Other, "more than one slot");
        assert_eq!(
            CapacityAsk::of(Some(1), true, Some(true)),
            CapacityAsk::GiveBackOne { held_here: true }
        );
        assert_eq!(CapacityAsk::of(Some(2), true, Some(true)), CapacityAsk::Other);
        assert_eq!(
            CapacityAsk::of(Some(1), true, None),
            CapacityAsk::Other,
            "a rise naming no hold"
        );
        assert_eq!(CapacityAsk::of(None, false, None), CapacityAsk::Other, "setting the count");
    }

    #[test]
    fn the_owner_changes_anything_others_only_take_and_give_back_one_as_a_service() {
        let ok = |c: &Caller, ask| may_change_capacity(c, "p", OWNER, ask).is_ok();
        for role in [Role::ProviderAdmin, Role::Service] {
            assert!(ok(&caller(OWNER, role), CapacityAsk::Other));
        }
        let peer = caller(OTHER, Role::Service);
        assert!(ok(&peer, CapacityAsk::TakeOne));
        assert!(ok(&peer, CapacityAsk::GiveBackOne { held_here: true }));
        assert!(
            !ok(&peer, CapacityAsk::GiveBackOne { held_here: false }),
            "a hold of another provider"
        );
        assert!(!ok(&peer, CapacityAsk::Other));
        let person = caller(OTHER, Role::ProviderAdmin);
        for ask in
            [CapacityAsk::TakeOne, CapacityAsk::GiveBackOne { held_here: true }, CapacityAsk::Other]
        {
            assert!(
                matches!(
                    may_change_capacity(&person, "p", OWNER, ask),
                    Err(Error::NotFound { .. })
                ),
                "{ask:?}"
            );
        }
    }
}
