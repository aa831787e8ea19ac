//! Who may see or change which waitlist entry, offer and provider's slots: the one place the waitlist
//! service decides access (docs/security.md, "Care relationships").
//!
//! - An entry (and its offers and check-ins) belongs to the organization that enqueued it; only the
//!   organization that took the client's intake enqueues the client (intake answers that). For anyone
//!   else an entry or offer is `NOT_FOUND`, reads and writes alike.
//! - Lists and metrics are of the caller's own organization.
//! - Only a provider's own organization opens its slots (matching's directory says whose it is); anyone
//!   else gets `NOT_FOUND`. The answer lists the offers made to the caller's own waiting clients and only
//!   counts those made to other organizations' clients.
//!
//! A peer service's call is decided exactly like its user's: its token names the organization of the user
//! it acts for, and the `service` role widens nothing here. Pure functions; no I/O here.

use continuum_auth::Caller;

use crate::domain::{Entry, Offer};
use crate::error::{Error, Result};

/// `entry` when the caller's organization enqueued it; `NOT_FOUND` otherwise.
pub fn visible(caller: &Caller, entry: Entry) -> Result<Entry> {
    if caller.belongs_to(entry.organization_id.as_str()) {
        Ok(entry)
    } else {
        tracing::info!(entry_id = %entry.id, organization_id = %caller.organization_id, "entry hidden from another organization");
        Err(Error::not_found("waitlist entry", entry.id))
    }
}

/// `offer` (to `entry`) when the caller's organization enqueued the entry; `NOT_FOUND` (the offer)
/// otherwise.
pub fn visible_offer(caller: &Caller, offer: Offer, entry: Entry) -> Result<(Offer, Entry)> {
    if caller.belongs_to(entry.organization_id.as_str()) {
        Ok((offer, entry))
    } else {
        tracing::info!(offer_id = %offer.id, organization_id = %caller.organization_id, "offer hidden from another organization");
        Err(Error::not_found("offer", offer.id))
    }
}

/// The organization a list or metrics call reads: the caller's own (empty means theirs; another one is
/// `PERMISSION_DENIED`).
pub fn own_scope(caller: &Caller, requested: Option<String>) -> Result<String> {
    match requested {
        None => Ok(caller.organization_id.clone()),
        Some(o) if caller.belongs_to(&o) => Ok(caller.organization_id.clone()),
        Some(_) => Err(Error::PermissionDenied(
            "you may only read your own organization's waitlist".to_owned(),
        )),
    }
}

/// A new entry's organization must be the caller's.
pub fn enqueues_for_own_organization(caller: &Caller, organization_id: &str) -> Result<()> {
    if caller.belongs_to(organization_id) {
        Ok(())
    } else {
        Err(Error::PermissionDenied("you may only enqueue for your own organization".to_owned()))
    }
}

/// Whether the caller may open the slots of `provider_id`, listed in matching's directory under
/// `provider_organization_id` (`None`: no such provider): only its own organization; `NOT_FOUND` for
/// anyone else, as for a provider that does not exist.
pub fn opens_slots_of(
    caller: &Caller,
    provider_id: &str,
    provider_organization_id: Option<&str>,
) -> Result<()> {
    match provider_organization_id {
        Some(org) if caller.belongs_to(org) => Ok(()),
        _ => {
            tracing::info!(provider_id = %provider_id, organization_id = %caller.organization_id, "slots of another organization's provider refused");
            Err(Error::not_found("provider", provider_id))
        }
    }
}

/// Splits the offers a slot opening made (each with the organization of the entry it went to) into those
/// the caller may see (its own organization's waiting clients) and a count of the others.
pub fn offers_shown(caller: &Caller, offers: Vec<(Offer, String)>) -> (Vec<Offer>, usize) {
    let (own, other): (Vec<_>, Vec<_>) =
        offers.into_iter().partition(|(_, org)| caller.belongs_to(org));
    (own.into_iter().map(|(o, _)| o).collect(), other.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use continuum_auth::Role;

    use super::*;

    const A: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000a";
    const B: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000b";

    fn caller(org: &str, role: Role) -> Caller {
        Caller {
            user_id: "u".into(),
            organization_id: org.into(),
            roles: vec![role],
            acting_for: None,
        }
    }

    #[test]
    fn lists_are_of_the_callers_own_organization_for_people_and_services_alike() {
        for role in [Role::Coordinator, Role::Ops, Role::Service] {
            assert_eq!(own_scope(&caller(A, role), None).unwrap(), A);
            assert_eq!(own_scope(&caller(A, role), Some(A.to_uppercase())).unwrap(), A);
            assert!(
                matches!(
                    own_scope(&caller(A, role), Some(B.to_owned())),
                    Err(Error::PermissionDenied(_))
                ),
                "{role:?}"
            );
        }
    }

    #[test]
    fn only_the_providers_organization_opens_its_slots() {
        assert!(opens_slots_of(&caller(A, Role::ProviderAdmin), "p", Some(A)).is_ok());
        assert!(opens_slots_of(&caller(A, Role::Service), "p", Some(A)).is_ok());
        for (who, org) in [
            (caller(B, Role::Coordinator), Some(A)),
            (caller(B, Role::Service), Some(A)),
            (caller(A, Role::Coordinator), None),
        ] {
            assert!(
                matches!(opens_slots_of(&who, "p", org), Err(Error::NotFound { .. })),
                "{who:?} {org:?}"
            );
        }
    }
}
