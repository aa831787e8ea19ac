//! Who may read or change which intake and client: the one place the intake service decides access
//! (docs/security.md, "Care relationships"). Every use case asks here before it reads or writes.
//!
//! - The organization that took an intake owns it and its client (a client id belongs to the one
//!   organization whose intakes carry it): it reads and changes everything.
//! - The recipient organization of a **live** referral of that intake, **made by the owner**, reads the
//!   intake limited to the categories the client consented to share with that recipient (and with that
//!   referral). Referral answers what the referral is; intake, which owns the client, decides.
//! - Anyone else — including a peer service acting for anyone else — gets `NOT_FOUND`, for reads and
//!   writes alike, so another organization's record looks exactly like one that does not exist.
//!
//! Pure functions over facts the use cases fetched; no I/O here.

use continuum_auth::Caller;
use continuum_proto::referral::v1 as rpb;

use crate::domain::{ClinicalTask, ConsentCategory, Intake};
use crate::error::{Error, Result};

/// A referral as referral answered it: what a recipient's access rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralFacts {
    /// Referral id.
    pub id: String,
    /// The intake it was made from.
    pub intake_id: String,
    /// The client referred.
    pub client_id: String,
    /// Who made it.
    pub referrer_organization_id: String,
    /// Who received it.
    pub recipient_organization_id: String,
    /// Whether it is live: open with the recipient, or care went ahead there.
    pub live: bool,
}

/// Whether a referral in `status` still carries its recipient's access: requested, accepted, in progress,
/// on hold, or completed (care went ahead). Draft, rejected, cancelled, failed and entered-in-error
/// referrals carry none.
pub fn is_live(status: i32) -> bool {
    use rpb::ReferralStatus as S;
    matches!(
        S::try_from(status),
        Ok(S::Requested | S::Accepted | S::InProgress | S::OnHold | S::Completed)
    )
}

impl From<&rpb::Referral> for ReferralFacts {
    fn from(r: &rpb::Referral) -> Self {
        Self {
            id: r.id.clone(),
            intake_id: r.intake_id.clone(),
            client_id: r.client_id.clone(),
            referrer_organization_id: r.referrer_organization_id.clone(),
            recipient_organization_id: r.recipient_organization_id.clone(),
            live: is_live(r.status),
        }
    }
}

/// Who took an intake: the facts access is decided from (ids only, read without decrypting anything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    /// The intake.
    pub intake_id: String,
    /// Its client.
    pub client_id: String,
    /// The organization that took it.
    pub organization_id: String,
}

impl From<&Intake> for Owned {
    fn from(i: &Intake) -> Self {
        Self {
            intake_id: i.id.to_string(),
            client_id: i.client_id.to_string(),
            organization_id: i.submission.organization_id.to_string(),
        }
    }
}

/// How the caller's organization is related to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relationship {
    /// It took the client's intakes.
    Owner,
    /// It received these live referrals of the client from the owner (ids).
    Recipient(Vec<String>),
}

/// The clinical task when the caller's organization must do it (it took the intake); `NOT_FOUND`
/// otherwise, like the intake itself.
pub fn owned_task(caller: &Caller, task: ClinicalTask) -> Result<ClinicalTask> {
    if caller.belongs_to(task.organization_id.as_str()) {
        Ok(task)
    } else {
        Err(hidden("clinical task", task.id.as_str(), caller))
    }
}

/// The intake when the caller's organization took it; `NOT_FOUND` otherwise.
pub fn owned(caller: &Caller, intake: Intake) -> Result<Intake> {
    if caller.belongs_to(intake.submission.organization_id.as_str()) {
        Ok(intake)
    } else {
        Err(hidden("intake", intake.id.as_str(), caller))
    }
}

/// Whether `referral` makes the caller a recipient of `intake`: it is live, of this intake and client,
/// made by the organization that took the intake, and received by the caller's organization.
fn receives(caller: &Caller, intake: &Owned, referral: &ReferralFacts) -> bool {
    referral.live
        && referral.intake_id == intake.intake_id
        && referral.client_id == intake.client_id
        && referral.referrer_organization_id.eq_ignore_ascii_case(&intake.organization_id)
        && caller.belongs_to(&referral.recipient_organization_id)
        && !caller.belongs_to(&intake.organization_id)
}

/// The categories of `intake` the caller may read as the recipient of `referral` (what referral answered
/// for that id, on the caller's behalf; `None` when it answered NOT_FOUND). `NOT_FOUND` when the referral
/// does not make the caller a recipient of this intake, or the client consented to share nothing with it.
pub fn recipient_categories(
    caller: &Caller,
    intake: &Intake,
    referral: Option<&ReferralFacts>,
) -> Result<Vec<ConsentCategory>> {
    let Some(referral) = referral.filter(|r| receives(caller, &Owned::from(intake), r)) else {
        return Err(hidden("intake", intake.id.as_str(), caller));
    };
    let categories =
        intake.submission.consent.categories_for(&caller.organization_id, Some(&referral.id));
    if categories.is_empty() {
        return Err(hidden("intake", intake.id.as_str(), caller));
    }
    Ok(categories)
}

/// How the caller's organization is related to the client of `intakes` (who took each intake of the client;
/// a client id belongs to one organization), given the referrals of the client the caller's organization
/// is party to.
/// With `intake_id`, the intake must be one of them and a recipient's referral must be of it; with
/// `owner_only` only the owner qualifies. `NOT_FOUND` otherwise (and for a client with no intake).
pub fn relationship(
    caller: &Caller,
    client_id: &str,
    intakes: &[Owned],
    intake_id: Option<&str>,
    owner_only: bool,
    referrals: &[ReferralFacts],
) -> Result<Relationship> {
    let Some(first) = intakes.first() else { return Err(hidden("client", client_id, caller)) };
    let covered: Vec<&Owned> =
        intakes.iter().filter(|i| intake_id.is_none_or(|id| i.intake_id == id)).collect();
    if covered.is_empty() {
        return Err(hidden("client", client_id, caller));
    }
    if caller.belongs_to(&first.organization_id) {
        return Ok(Relationship::Owner);
    }
    if owner_only {
        return Err(hidden("client", client_id, caller));
    }
    let ids: Vec<String> = referrals
        .iter()
        .filter(|r| covered.iter().any(|i| receives(caller, i, r)))
        .map(|r| r.id.clone())
        .collect();
    if ids.is_empty() {
        Err(hidden("client", client_id, caller))
    } else {
        Ok(Relationship::Recipient(ids))
    }
}

/// The answer for a record the caller may not see: `NOT_FOUND`, logged with ids only.
fn hidden(kind: &'static str, id: &str, caller: &Caller) -> Error {
    tracing::info!(record = kind, id = %id, organization_id = %caller.organization_id, "record hidden from an organization without a care relationship");
    Error::not_found(kind, id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use continuum_auth::Role;

    use super::*;
    use crate::domain::testing::intake_of;

    const OWNER: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000a1";
    const RECIPIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000b2";
    const OTHER: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";

    fn caller(org: &str, role: Role) -> Caller {
        Caller {
            user_id: "u".into(),
            organization_id: org.into(),
            roles: vec![role],
            acting_for: None,
        }
    }

    fn referral(intake: &Intake, from: &str, to: &str, live: bool) -> ReferralFacts {
        ReferralFacts {
            id: "r1".into(),
            intake_id: intake.id.to_string(),
            client_id: intake.client_id.to_string(),
            referrer_organization_id: from.into(),
            recipient_organization_id: to.into(),
            live,
        }
    }

    #[test]
    fn only_the_owner_owns_and_a_service_is_no_exception() {
        let i = intake_of(OWNER, true);
        assert!(owned(&caller(OWNER, Role::Clinician), i.clone()).is_ok());
        assert!(owned(&caller(&OWNER.to_uppercase(), Role::Clinician), i.clone()).is_ok());
        for role in [Role::Coordinator, Role::Service] {
            assert!(
                matches!(owned(&caller(OTHER, role), i.clone()), Err(Error::NotFound { .. })),
                "{role:?}"
            );
        }
    }

    #[test]
    fn a_recipient_reads_under_a_live_referral_the_owner_made() {
        let i = intake_of(OWNER, true);
        let them = caller(RECIPIENT, Role::Service);
        assert!(
            !recipient_categories(&them, &i, Some(&referral(&i, OWNER, RECIPIENT, true)))
                .unwrap()
                .is_empty()
        );
        // Every broken link of the chain hides the intake.
        let cases = [
            None,
            Some(referral(&i, OWNER, RECIPIENT, false)), // closed
            Some(referral(&i, RECIPIENT, RECIPIENT, true)), // made by the recipient itself
            Some(referral(&i, OTHER, RECIPIENT, true)),  // made by a third organization
            Some(referral(&i, OWNER, OTHER, true)),      // received by someone else
            Some(ReferralFacts {
                intake_id: "another".into(),
                ..referral(&i, OWNER, RECIPIENT, true)
            }),
            Some(ReferralFacts {
                client_id: "another".into(),
                ..referral(&i, OWNER, RECIPIENT, true)
            }),
        ];
        for case in cases {
            assert!(
                matches!(
                    recipient_categories(&them, &i, case.as_ref()),
                    Err(Error::NotFound { .. })
                ),
                "{case:?}"
            );
        }
        // Consent decides what: none at all hides the intake too.
        let unconsented = intake_of(OWNER, false);
        assert!(matches!(
            recipient_categories(
                &them,
                &unconsented,
                Some(&referral(&unconsented, OWNER, RECIPIENT, true))
            ),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn relationships() {
        let i = intake_of(OWNER, true);
        let all = [Owned::from(&i)];
        let all = &all[..];
        let live = [referral(&i, OWNER, RECIPIENT, true)];
        assert_eq!(
            relationship(
                &caller(OWNER, Role::Service),
                i.client_id.as_str(),
                all,
                Some(i.id.as_str()),
                true,
                &[]
            )
            .unwrap(),
            Relationship::Owner
        );
        assert_eq!(
            relationship(
                &caller(RECIPIENT, Role::Service),
                i.client_id.as_str(),
                all,
                None,
                false,
                &live
            )
            .unwrap(),
            Relationship::Recipient(vec!["r1".into()])
        );
        let not_found = |r: Result<Relationship>| matches!(r, Err(Error::NotFound { .. }));
        assert!(
            not_found(relationship(
                &caller(RECIPIENT, Role::Service),
                i.client_id.as_str(),
                all,
                None,
                true,
                &live
            )),
            "owner only"
        );
        assert!(
            not_found(relationship(
                &caller(OTHER, Role::Service),
                i.client_id.as_str(),
                all,
                None,
                false,
                &live
            )),
            "a third organization"
        );
        assert!(
            not_found(relationship(
                &caller(OWNER, Role::Service),
                i.client_id.as_str(),
                all,
                Some("another"),
                false,
                &[]
            )),
            "not the client's intake"
        );
        assert!(
            not_found(relationship(&caller(OWNER, Role::Service), "nobody", &[], None, false, &[])),
            "no such client"
        );
    }
}
