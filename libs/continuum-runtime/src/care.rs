//! How every service asks intake whether the organization it serves may act for a client: the question
//! behind "a waitlist entry, a referral, a check-in or session feedback is recorded only for a client the
//! caller's organization may already act for". Intake owns clients and decides (it took the client's
//! intake, or received a live referral of the client from the organization that did); the asking service
//! only learns the answer. The question is asked on the caller's behalf, so intake decides for the
//! caller's organization and user — never for the asking service.

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
    pub async fn check(
        &self,
        caller: &Caller,
        client_id: &str,
        intake_id: Option<&str>,
        needs: Needs,
    ) -> Result<()> {
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
