//! Intake's questions to referral about referrals, asked on the caller's behalf (a service token for the
//! caller's organization and user), so referral shows only what that organization is party to. Referral
//! owns referrals; intake, which owns the client, decides what they allow (`access`).

use crate::app::access::ReferralFacts;
use crate::error::{Error, PeerError, Result};
use continuum_auth::Caller;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_runtime::PeerChannel;

/// Most referrals of one client read for a relationship check (a client has a handful).
const MOST: usize = 200;

/// A lazily connected client of the referral service for access questions.
#[derive(Clone, Debug)]
pub struct ReferralPeer {
    client: ReferralServiceClient<PeerChannel>,
}

/// Referral could not answer: `UNAVAILABLE` when a retry may succeed, unexpected otherwise.
fn failed(e: PeerError) -> Error {
    tracing::warn!(peer = "referral", code = ?e.code, "referral could not answer an access question");
    e.into_error("referral")
}

impl ReferralPeer {
    /// Over `client` (the channel routing already uses).
    pub fn new(client: ReferralServiceClient<PeerChannel>) -> Self {
        Self { client }
    }

    /// Referral `referral_id` as the caller's organization sees it; `None` when referral answers NOT_FOUND
    /// (no such referral, or the caller's organization is not party to it).
    pub async fn get(&self, caller: &Caller, referral_id: &str) -> Result<Option<ReferralFacts>> {
        let req = continuum_auth::on_behalf_of(
            rpb::GetReferralRequest { referral_id: referral_id.to_owned() },
            &caller.organization_id,
            Some(caller.audit_user()),
        );
        match self.client.clone().get_referral(req).await {
            Ok(r) => Ok(r.into_inner().referral.as_ref().map(ReferralFacts::from)),
            Err(s) => match PeerError::from(&s) {
                // No such referral, or not one the caller's organization is party to.
                e if e.is_not_found() => Ok(None),
                e => Err(failed(e)),
            },
        }
    }

    /// The referrals of `client_id` the caller's organization is party to.
    pub async fn of_client(&self, caller: &Caller, client_id: &str) -> Result<Vec<ReferralFacts>> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let req = continuum_auth::on_behalf_of(
                rpb::ListReferralsRequest {
                    client_id: client_id.to_owned(),
                    page_size: 200,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &caller.organization_id,
                Some(caller.audit_user()),
            );
            let page = self
                .client
                .clone()
                .list_referrals(req)
                .await
                .map_err(|s| failed(s.into()))?
                .into_inner();
            out.extend(page.referrals.iter().map(ReferralFacts::from));
            if page.next_page_token.is_empty() || out.len() >= MOST {
                return Ok(out);
            }
            page_token = page.next_page_token;
        }
    }
}
