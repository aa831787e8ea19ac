//! The referral service's client of the matching service: taking a provider's slot when a referral is
//! created and giving it back when a referral ends before care started, and the one place where matching's
//! answers become ours. Both calls carry a hold key, so matching applies each at most once and every call
//! here is safe to retry. Every call acts for the referring organization (and its user, when one started
//! the work): matching lets another organization take one slot under a hold key and give back one slot
//! taken on the same provider, nothing more.

use continuum_auth::OnBehalfOf;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::ids::{OrganizationId, ProviderId};
use tonic::{Code, Status};

use crate::error::{Error, ErrorReason, PeerError, Result};

/// A lazily connected client of the matching service.
#[derive(Clone, Debug)]
pub struct MatchingPeer {
    client: MatchingServiceClient<PeerChannel>,
}

/// A slot taken for a referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The provider's organization: the referral's recipient.
    pub recipient_organization_id: OrganizationId,
    /// Whether the slot was taken although none was open.
    pub overbooked: bool,
}

impl Taken {
    /// A slot of `provider` (as matching answered it) taken for a referral.
    fn of(provider: &pb::Provider, overbooked: bool) -> Result<Self> {
        Ok(Self {
            recipient_organization_id: OrganizationId::from_stored(&provider.organization_id)?,
            overbooked,
        })
    }
}

/// Why a release could not be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseError {
    /// Matching is unreachable or failed transiently: try again later.
    Retry(PeerError),
    /// Matching refused the release for good (the provider is gone, or the count is at its maximum).
    GiveUp(PeerError),
}

/// How a refused take maps to our error: no capacity and an unknown provider are business refusals;
/// anything retryable is `Unavailable` so the caller retries with the same idempotency key.
fn take_error(e: PeerError) -> Error {
    if e.code == Code::FailedPrecondition && e.is(ErrorReason::NoCapacity) {
        Error::precondition(ErrorReason::NoCapacity, "the provider has no open slot")
    } else if e.is_not_found() {
        Error::precondition(ErrorReason::ProviderNotFound, "the provider is not in the directory")
    } else {
        e.into_error("matching")
    }
}

impl MatchingPeer {
    /// A client of matching at `addr` (`host:port` or URL). Connects on first use, so a matching service
    /// that is down at start-up is not an error.
    pub fn connect_lazy(
        addr: &str,
        common: &continuum_runtime::CommonSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self { client: MatchingServiceClient::new(common.authed_peer(addr, "referral")?) })
    }

    async fn change(
        &self,
        who: &OnBehalfOf,
        provider_id: &str,
        delta: i32,
        hold_key: &str,
        allow_overbook: bool,
    ) -> Result<pb::Provider, Status> {
        self.change_giving_back(who, provider_id, delta, hold_key, allow_overbook, "").await
    }

    async fn change_giving_back(
        &self,
        who: &OnBehalfOf,
        provider_id: &str,
        delta: i32,
        hold_key: &str,
        allow_overbook: bool,
        gives_back: &str,
    ) -> Result<pb::Provider, Status> {
        self.update(
            who,
            pb::UpdateCapacityRequest {
                provider_id: provider_id.to_owned(),
                change: Some(pb::update_capacity_request::Change::Delta(delta)),
                hold_key: hold_key.to_owned(),
                allow_overbook,
                gives_back_hold_key: gives_back.to_owned(),
                ..Default::default()
            },
        )
        .await
    }

    async fn update(
        &self,
        who: &OnBehalfOf,
        req: pb::UpdateCapacityRequest,
    ) -> Result<pb::Provider, Status> {
        let resp = self.client.clone().update_capacity(who.request(req)).await?.into_inner();
        resp.provider.ok_or_else(|| Status::internal("matching answered without a provider"))
    }

    async fn provider(&self, who: &OnBehalfOf, provider_id: &str) -> Result<pb::Provider, Status> {
        let mut client = self.client.clone();
        let resp = client
            .get_provider(
                who.request(pb::GetProviderRequest { provider_id: provider_id.to_owned() }),
            )
            .await?
            .into_inner();
        resp.provider.ok_or_else(|| Status::internal("matching answered without a provider"))
    }

    /// Takes one slot of `provider_id` under `hold_key` (at most once per key).
    ///
    /// With `allow_overbook` the take is first tried as a normal one and repeated as an overbooking only
    /// when matching answers `NO_CAPACITY`: that way `overbooked` is true exactly when no slot was open,
    /// and not when an urgent referral took the provider's last real slot (matching's answer alone, zero
    /// open slots afterwards, cannot tell the two apart). A refused take records nothing in matching, so
    /// the second call under the same hold key is still a first application.
    pub async fn take_slot(
        &self,
        who: &OnBehalfOf,
        provider_id: &ProviderId,
        hold_key: &str,
        allow_overbook: bool,
    ) -> Result<Taken> {
        let provider_id = provider_id.as_str();
        let (result, overbooked) = match self.change(who, provider_id, -1, hold_key, false).await {
            Err(s) if allow_overbook && PeerError::from(&s).is(ErrorReason::NoCapacity) => {
                (self.change(who, provider_id, -1, hold_key, true).await, true)
            }
            other => (other, false),
        };
        let provider = match result {
            Ok(p) => p,
            // A concurrent twin of this request applied the same hold key a moment earlier: the slot is
            // taken once, which is what we want; read the provider for its organization.
            Err(s) if PeerError::from(&s).already_applied() => {
                self.provider(who, provider_id).await.map_err(|s| take_error(s.into()))?
            }
            Err(s) => return Err(take_error(s.into())),
        };
        Taken::of(&provider, overbooked)
    }

    /// Takes one slot under `hold_key` (at most once per key) from the first of `provider_id`, then
    /// `or_providers` in order, that has one, in one call: the provider it came from and the take.
    /// `NO_CAPACITY` when none of them has an open slot (nothing was taken).
    pub async fn take_first_open(
        &self,
        who: &OnBehalfOf,
        provider_id: &ProviderId,
        or_providers: &[ProviderId],
        hold_key: &str,
    ) -> Result<(ProviderId, Taken)> {
        let req = pb::UpdateCapacityRequest {
            provider_id: provider_id.to_string(),
            change: Some(pb::update_capacity_request::Change::Delta(-1)),
            hold_key: hold_key.to_owned(),
            or_provider_ids: or_providers.iter().map(ToString::to_string).collect(),
            ..Default::default()
        };
        let provider = self.update(who, req).await.map_err(|s| take_error(s.into()))?;
        Ok((ProviderId::from_stored(&provider.id)?, Taken::of(&provider, false)?))
    }

    /// A slot of `provider_id` that is already taken in matching (under a hold key of the caller's, such as
    /// an accepted waitlist offer's): nothing is taken; matching is read for the provider's organization.
    pub async fn held_slot(&self, who: &OnBehalfOf, provider_id: &ProviderId) -> Result<Taken> {
        let provider =
            self.provider(who, provider_id.as_str()).await.map_err(|s| take_error(s.into()))?;
        Taken::of(&provider, false)
    }

    /// Gives one slot of `provider_id` back under `hold_key` (at most once per key). `taken_under` names the
    /// hold key the slot was taken under, so matching returns a program's seat to the cohort it came from.
    pub async fn release_slot(
        &self,
        who: &OnBehalfOf,
        provider_id: &ProviderId,
        delta: i32,
        hold_key: &str,
        taken_under: Option<&str>,
    ) -> Result<(), ReleaseError> {
        match self
            .change_giving_back(
                who,
                provider_id.as_str(),
                delta,
                hold_key,
                false,
                taken_under.unwrap_or_default(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(s) => match PeerError::from(&s) {
                // The same release applied concurrently: done.
                e if e.already_applied() => Ok(()),
                e if e.is_retryable() => Err(ReleaseError::Retry(e)),
                e => Err(ReleaseError::GiveUp(e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal built the way matching builds it (through `continuum-errors`), without a network.
    fn refusal(reason: ErrorReason) -> PeerError {
        PeerError::from(Status::from(Error::precondition(reason, "x")))
    }

    #[test]
    fn maps_matching_refusals() {
        assert!(take_error(refusal(ErrorReason::NoCapacity)).is_refusal(ErrorReason::NoCapacity));
        assert!(
            take_error(Status::not_found("x").into()).is_refusal(ErrorReason::ProviderNotFound)
        );
        assert!(matches!(take_error(Status::unavailable("x").into()), Error::Unavailable(_)));
        assert!(matches!(take_error(Status::deadline_exceeded("x").into()), Error::Unavailable(_)));
        assert!(matches!(take_error(refusal(ErrorReason::CapacityLimit)), Error::Unexpected(_)));
        assert!(matches!(take_error(Status::invalid_argument("x").into()), Error::Unexpected(_)));
    }
}
