//! Who may see or act on which referral: the one place the referral service decides access
//! (docs/security.md, "Care relationships").
//!
//! - A referral is seen and acted on by its two parties only: the referring organization and the
//!   recipient organization. For anyone else it is `NOT_FOUND`, reads and writes alike.
//! - A referral is created only by the organization that took the client's intake (intake answers that,
//!   on the caller's behalf), as the referrer.
//! - The handoff packet goes to the recipient organization only; what it carries intake decides.
//! - Lists and watches are of the caller's own organization.
//!
//! A peer service's call is decided exactly like its user's: its token names the organization of the user
//! it acts for, and the `service` role widens nothing here. Pure functions; no I/O here.

use continuum_auth::{Caller, Role};

use crate::domain::{self, Action, Actor, Referral};
use crate::error::{Error, Result};

/// Whether the caller's organization is a party to a referral between `referrer` and `recipient`.
pub fn sees(caller: &Caller, referrer: &str, recipient: &str) -> bool {
    caller.belongs_to(referrer) || caller.belongs_to(recipient)
}

/// `referral` when the caller's organization is a party to it; `NOT_FOUND` otherwise, so its existence
/// does not leak.
pub fn visible(caller: &Caller, referral: Referral) -> Result<Referral> {
    if sees(
        caller,
        referral.referrer_organization_id.as_str(),
        referral.recipient_organization_id.as_str(),
    ) {
        Ok(referral)
    } else {
        tracing::info!(referral_id = %referral.id, organization_id = %caller.organization_id, "referral hidden from another organization");
        Err(Error::not_found("referral", referral.id))
    }
}

/// Whether the caller may read the handoff packet of a referral to `recipient`: the recipient
/// organization only. The referrer already holds the whole intake; nobody else may see it through the
/// referral.
pub fn reads_packet(caller: &Caller, recipient: &str) -> bool {
    caller.belongs_to(recipient)
}

/// A new referral's referring organization must be the caller's.
pub fn refers_for_own_organization(caller: &Caller, referrer: &str) -> Result<()> {
    if caller.belongs_to(referrer) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "you may only refer on behalf of your own organization".to_owned(),
        ))
    }
}

/// The organization a `ListReferrals` or `WatchReferrals` call reads: the caller's own (absent means
/// theirs; another one is `PERMISSION_DENIED`).
pub fn list_organization(caller: &Caller, requested: Option<String>) -> Result<String> {
    match requested {
        None => Ok(caller.organization_id.clone()),
        Some(o) if caller.belongs_to(&o) => Ok(o),
        Some(_) => Err(Error::PermissionDenied(
            "you may only list your own organization's referrals".to_owned(),
        )),
    }
}

/// The actor of a transition, from the caller alone (the request names no actor): their organization's
/// side on the referral (`domain::acting_role`: recipient, referrer, then coordinator when they hold the
/// coordinator role — a peer service's token does not), recorded as themselves (a peer service as the user
/// it acts for). A caller whose organization is on neither side was already answered NOT_FOUND
/// when the referral was read; answering PERMISSION_DENIED here too keeps that true if the order changes.
pub fn actor_for(
    caller: &Caller,
    action: Action,
    referrer: &str,
    recipient: &str,
) -> Result<Actor> {
    let organization_id = caller.organization_id.to_ascii_lowercase();
    let role = domain::acting_role(
        action,
        &organization_id,
        caller.has(Role::Coordinator),
        referrer,
        recipient,
    )
    .ok_or_else(|| {
        Error::PermissionDenied("you may only act on your own organization's referrals".to_owned())
    })?;
    Ok(Actor { role, organization_id, user_id: Some(caller.audit_user().to_owned()) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::ActorRole;

    const A: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000a";
    const B: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000b";
    const C: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000c";

    fn person(org: &str, roles: &[Role]) -> Caller {
        Caller {
            user_id: "u-1".into(),
            organization_id: org.into(),
            roles: roles.to_vec(),
            acting_for: None,
        }
    }

    #[test]
    fn only_the_parties_see_a_referral_and_a_service_is_no_exception() {
        assert!(sees(&person(A, &[Role::Clinician]), A, B));
        assert!(sees(&person(&B.to_uppercase(), &[Role::Clinician]), A, B));
        assert!(!sees(&person(C, &[Role::Coordinator]), A, B));
        assert!(
            !sees(&person(C, &[Role::Service]), A, B),
            "a peer acting for a third organization"
        );
        assert!(sees(&person(B, &[Role::Service]), A, B));
    }

    #[test]
    fn only_the_recipient_reads_the_packet() {
        assert!(reads_packet(&person(B, &[Role::Clinician]), B));
        assert!(reads_packet(&person(&B.to_uppercase(), &[Role::Coordinator]), B));
        assert!(!reads_packet(&person(A, &[Role::Coordinator]), B));
        assert!(!reads_packet(&person(C, &[Role::Clinician]), B));
        assert!(!reads_packet(&person(C, &[Role::Service]), B));
        assert!(reads_packet(&person(B, &[Role::Service]), B));
    }

    #[test]
    fn lists_are_of_the_callers_own_organization() {
        for role in [Role::Coordinator, Role::Service] {
            assert_eq!(list_organization(&person(A, &[role]), None).unwrap(), A);
            assert_eq!(list_organization(&person(A, &[role]), Some(A.to_owned())).unwrap(), A);
            assert!(
                matches!(
                    list_organization(&person(A, &[role]), Some(B.to_owned())),
                    Err(Error::PermissionDenied(_))
                ),
                "{role:?}"
            );
        }
    }

    #[test]
    fn callers_act_as_themselves_for_their_own_side() {
        let ab = (A, B);
        let actor = |caller: &Caller, action, (referrer, recipient): &(&str, &str)| {
            actor_for(caller, action, referrer, recipient)
        };
        let b_clinician = person(&B.to_uppercase(), &[Role::Clinician]);
        let actor = actor(&b_clinician, Action::Accept, &ab).unwrap();
        assert_eq!((actor.role, actor.organization_id.as_str()), (ActorRole::Recipient, B));
        assert_eq!(actor.user_id.as_deref(), Some("u-1"));
        // The referrer may not accept: the refusal names the side it holds.
        let role = |caller: &Caller, action, (referrer, recipient): &(&str, &str)| {
            actor_for(caller, action, referrer, recipient).unwrap().role
        };
        assert_eq!(role(&person(A, &[Role::Clinician]), Action::Accept, &ab), ActorRole::Referrer);
        assert_eq!(role(&person(A, &[Role::Clinician]), Action::Cancel, &ab), ActorRole::Referrer);
        // A coordinator of either side acts as coordinator where that side may not act.
        assert_eq!(
            role(&person(A, &[Role::Coordinator]), Action::Accept, &ab),
            ActorRole::Coordinator
        );
        assert_eq!(
            role(&person(A, &[Role::Coordinator]), Action::Cancel, &ab),
            ActorRole::Referrer
        );
        // Both sides in one organization: the side that may act.
        let aa = (A, A);
        assert_eq!(role(&person(A, &[Role::Clinician]), Action::Cancel, &aa), ActorRole::Referrer);
        assert_eq!(role(&person(A, &[Role::Clinician]), Action::Accept, &aa), ActorRole::Recipient);
        // A third organization is on neither side, whatever its roles.
        assert!(matches!(
            actor_for(&person(C, &[Role::Coordinator]), Action::Cancel, A, B),
            Err(Error::PermissionDenied(_))
        ));
        // A peer service acts for its user's organization, recorded as that user.
        let svc = Caller { acting_for: Some("the-user".into()), ..person(B, &[Role::Service]) };
        assert_eq!(
            actor_for(&svc, Action::Accept, A, B).unwrap().user_id.as_deref(),
            Some("the-user")
        );
    }
}
