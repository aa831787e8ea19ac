//! How every service asks intake whether the organization it serves may act for a client: the question
//! behind "a waitlist entry, a referral, a check-in or session feedback is recorded only for a client the
//! caller's organization may already act for". Intake owns clients and decides (it took the client's
//! intake, or received a live referral of the client from the organization that did); the asking service
//! only learns the answer. The question is asked on the caller's behalf, so intake decides for the
//! caller's organization and user — never for the asking service. Intake's own routing calls are not
//! asked back: intake has decided already ([`vouched_by_intake`]).

use continuum_auth::{Caller, OnBehalfOf};
use continuum_errors::{Error, PeerError, Result};
use continuum_proto::intake::v1 as ipb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;

use crate::PeerChannel;

/// Which relationship a use case needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// The organization that took the client's intake (creating referrals, waitlist entries, check-ins).
    Owner,
    /// The owner, or the recipient of a live referral of the client from the owner (session feedback).
    OwnerOrRecipient,
}

/// A lazily connected client of intake's `CheckCareRelationship`.
#[derive(Clone, Debug)]
pub struct CareRelationships {
    client: IntakeServiceClient<PeerChannel>,
}

impl CareRelationships {
    /// Asks intake at `addr` (`host:port` or URL), signing calls as `service`; connects on first use.
    pub fn connect_lazy(
        common: &crate::CommonSettings,
        addr: &str,
        service: &'static str,
    ) -> anyhow::Result<Self> {
        Ok(Self { client: IntakeServiceClient::new(common.authed_peer(addr, service)?) })
    }

    /// `Ok(())` when the caller's organization has the relationship `needs` with `client_id` (and, when
    /// given, `intake_id` is that client's intake it covers). `NOT_FOUND` otherwise — naming the intake when
    /// one was given, else the client — so another organization's client and one that does not exist are
    /// answered alike. `UNAVAILABLE` when intake cannot answer (the caller may retry).
    ///
    /// Intake is not asked back about its own call ([`vouched_by_intake`]).
    pub async fn check(
        &self,
        caller: &Caller,
        client_id: &str,
        intake_id: Option<&str>,
        needs: Needs,
    ) -> Result<()> {
        if vouched_by_intake(caller, intake_id, needs) {
            return Ok(());
        }
        let req = OnBehalfOf::caller(caller).request(ipb::CheckCareRelationshipRequest {
            client_id: client_id.to_owned(),
            intake_id: intake_id.unwrap_or_default().to_owned(),
            owner_only: needs == Needs::Owner,
        });
        match self.client.clone().check_care_relationship(req).await {
            Ok(_) => Ok(()),
            Err(s) => match PeerError::from(&s) {
                e if e.is_not_found() => Err(match intake_id {
                    Some(id) => Error::not_found("intake", id),
                    None => Error::not_found("client", client_id),
                }),
                e => {
                    tracing::warn!(peer = "intake", code = ?e.code, "intake could not answer a care-relationship question");
                    Err(e.into_error("intake"))
                }
            },
        }
    }
}

/// Whether intake itself vouches for the relationship: the caller is intake (a service token signed as
/// `intake`), asking for the owner of an intake it names. Intake is who answers `CheckCareRelationship`,
/// and its routing calls (`CreateReferral`, `Enqueue`) act for the organization that took the intake,
/// with the client and intake ids of that intake's own record: asking it back would ask it what it has
/// just decided (issue 12: a gRPC call and a database read fewer per routed intake). Nothing else is
/// vouched for: another service's calls, a user's, intake's without an intake id, and every
/// recipient-or-owner question are asked as before. A token is intake's only when verified with the
/// service secret, and whoever holds that secret can already act for any organization: this trusts no
/// one more than before.
pub fn vouched_by_intake(caller: &Caller, intake_id: Option<&str>, needs: Needs) -> bool {
    needs == Needs::Owner && intake_id.is_some_and(|i| !i.is_empty()) && caller.is_peer("intake")
}

#[cfg(test)]
mod tests {
    use continuum_auth::Role;

    use super::*;

    fn caller(user_id: &str, roles: &[Role]) -> Caller {
        Caller {
            user_id: user_id.into(),
            organization_id: "0190a1b2-c3d4-7e5f-8a9b-0000000000a1".into(),
            roles: roles.to_vec(),
            acting_for: Some("clerk-1".into()),
        }
    }

    #[test]
    fn only_intake_itself_vouches_and_only_as_owner_of_an_intake_it_names() {
        let intake = caller("service:intake", &[Role::Service]);
        assert!(vouched_by_intake(&intake, Some("intake-1"), Needs::Owner));
        // Every other question is asked.
        assert!(!vouched_by_intake(&intake, None, Needs::Owner));
        assert!(!vouched_by_intake(&intake, Some(""), Needs::Owner));
        assert!(!vouched_by_intake(&intake, Some("intake-1"), Needs::OwnerOrRecipient));
        for other in ["service:referral", "service:gateway", "service:waitlist", "service:intakes"]
        {
            let peer = caller(other, &[Role::Service]);
            assert!(!vouched_by_intake(&peer, Some("intake-1"), Needs::Owner), "{other}");
        }
        // A user token naming itself after intake holds no service role.
        let user = caller("service:intake", &[Role::Coordinator, Role::IntakeClerk]);
        assert!(!vouched_by_intake(&user, Some("intake-1"), Needs::Owner));
    }
}
