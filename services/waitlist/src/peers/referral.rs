//! The waitlist's client of the referral service: creating the referral of an accepted offer (with a
//! service token acting for the entry's organization and the user who accepted) and reading a placed
//! client's referral for the appointments attended since (the placement follow-up). How referral's
//! answers and refusals map to ours is decided here, in one place.

use chrono::{DateTime, Utc};
use continuum_errors::PeerError;
use continuum_proto::referral::v1 as pb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::ids::ReferralId;
use continuum_vocab::time;

use crate::domain::{Entry, Offer};
use crate::error::{Error, ErrorReason, Result};

/// A lazily connected client of the referral service.
#[derive(Clone, Debug)]
pub struct ReferralPeer {
    client: ReferralServiceClient<PeerChannel>,
}

/// What a placement's referral says of its appointments, as read now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attended {
    /// When the first appointment was attended, once recorded.
    pub first_attended_at: Option<DateTime<Utc>>,
    /// When the second appointment was attended, once recorded.
    pub second_attended_at: Option<DateTime<Utc>>,
    /// Whether the referral has ended (rejected, cancelled, failed, completed or entered in error).
    pub ended: bool,
}

impl ReferralPeer {
    /// A peer calling referral through `client`.
    pub fn new(client: ReferralServiceClient<PeerChannel>) -> Self {
        Self { client }
    }

    /// Calls referral's `CreateReferral` for an accepted `offer` to `entry`, with its first appointment
    /// at `scheduled_at`, acting for the entry's organization and `user`; returns the referral id.
    pub async fn create_for_offer(
        &self,
        offer: &Offer,
        entry: &Entry,
        scheduled_at: DateTime<Utc>,
        user: &str,
    ) -> Result<ReferralId> {
        let req = pb::CreateReferralRequest {
            // The same offer always makes the same key, so a retry after UNAVAILABLE never creates a second one.
            idempotency_key: format!("offer:{}", offer.id),
            client_id: entry.client_id.to_string(),
            intake_id: entry.intake_id.to_string(),
            referrer_organization_id: entry.organization_id.to_string(),
            provider_id: offer.provider_id.to_string(),
            urgency: entry.band.urgency().to_proto(),
            // The slot opened for this offer is the one being taken.
            allow_overbook: true,
            scheduled_at: Some(time::to_proto(scheduled_at)),
            // A placement from the waitlist is already accepted; there is nothing to re-route to.
            alternative_provider_ids: Vec::new(),
            // The offer is for this provider's slot, no other.
            first_open_alternative: false,
            // A slot of a matching capacity event is already taken in matching under this key.
            capacity_hold_key: offer.slot_key.clone().unwrap_or_default(),
        };
        let mut client = self.client.clone();
        match client
            .create_referral(continuum_auth::on_behalf_of(
                req,
                entry.organization_id.as_str(),
                Some(user),
            ))
            .await
        {
            Ok(resp) => match resp.into_inner().referral {
                Some(r) if !r.id.is_empty() => ReferralId::from_stored(&r.id),
                _ => Err(Error::Unexpected(anyhow::anyhow!(
                    "referral service answered without a referral"
                ))),
            },
            Err(status) => Err(create_error(status.into())),
        }
    }

    /// Reads referral `referral_id` acting for `organization_id` (the entry's) and says what it shows of
    /// the appointments; `None` when referral answered without a referral.
    pub async fn attended(
        &self,
        referral_id: &str,
        organization_id: &str,
    ) -> Result<Option<Attended>, PeerError> {
        let req = continuum_auth::on_behalf_of(
            pb::GetReferralRequest { referral_id: referral_id.to_owned() },
            organization_id,
            None,
        );
        let mut client = self.client.clone();
        match client.get_referral(req).await {
            Ok(resp) => Ok(resp.into_inner().referral.as_ref().map(attended)),
            Err(status) => Err(PeerError::from(&status)),
        }
    }
}

/// How a failed `CreateReferral` is answered: retryable failures are `UNAVAILABLE` (nothing was changed
/// here, and the idempotency key makes the retry safe); every other answer is a refusal,
/// `FAILED_PRECONDITION` `REFERRAL_REFUSED`. Only the status code and the peer's stable reason are kept:
/// the peer's message is not passed on or logged.
fn create_error(e: PeerError) -> Error {
    tracing::warn!(peer = "referral", code = ?e.code, "CreateReferral failed");
    if e.is_retryable() {
        return Error::Unavailable(format!("referral service: {:?}", e.code));
    }
    // The peer's stable reason code (never its message) tells the coordinator why.
    let why = e.reason.map(continuum_errors::reason_code).unwrap_or_default();
    Error::precondition(
        ErrorReason::ReferralRefused,
        format!("the referral service refused the referral ({:?} {why})", e.code),
    )
}

/// What `referral` (as read now) says of its appointments. An attended appointment's time is its
/// appointment time when recorded with one, else when it was recorded; the first record of each counts.
pub fn attended(referral: &pb::Referral) -> Attended {
    use pb::{ReferralAction as A, ReferralStatus as S};
    let when = |action: A| {
        referral.events.iter().filter(|e| e.action == action as i32).find_map(|e| {
            e.appointment_at.as_ref().or(e.occurred_at.as_ref()).and_then(time::from_proto)
        })
    };
    Attended {
        first_attended_at: when(A::RecordFirstAppointmentAttended),
        second_attended_at: when(A::RecordSecondAppointmentAttended),
        ended: matches!(
            S::try_from(referral.status),
            Ok(S::Rejected | S::Cancelled | S::Failed | S::Completed | S::EnteredInError)
        ),
    }
}
