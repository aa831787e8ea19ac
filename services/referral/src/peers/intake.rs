//! The referral service's client of the intake service: reading a referral's intake for its recipient
//! organization (the handoff packet), and the one place where intake's answers become ours. (Whether the
//! caller's organization owns a client, which only the owner's referrals need, is
//! `continuum_runtime::care`.)
//!
//! The rule it keeps: referral never decides who may act for a client or what of an intake a recipient may
//! see. It asks intake with a service token acting for the caller's organization and user; intake decides
//! from the care relationship (it asks referral back about the referral named) and releases only the
//! categories the client consented to share with that recipient (`NOT_FOUND` when none), writing one audit
//! row for the read (that user, that organization, purpose `care_coordination`).

use continuum_auth::{Caller, OnBehalfOf};
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::ids::{IntakeId, ReferralId};
use tonic::metadata::MetadataValue;

use crate::error::{Error, PeerError, Result};

/// The purpose of use intake records for a handoff read.
pub const PURPOSE: &str = "care_coordination";

/// A lazily connected client of the intake service.
#[derive(Clone, Debug)]
pub struct IntakePeer {
    client: IntakeServiceClient<PeerChannel>,
}

/// How a refused read maps to our error: intake's `NOT_FOUND` (no such intake, no live referral of it to
/// this organization, or nothing consented to it) is the packet's `NOT_FOUND`; retryable failures are
/// `UNAVAILABLE`; anything else is unexpected.
fn read_error(e: PeerError, referral_id: &str) -> Error {
    if e.is_not_found() {
        Error::not_found("handoff_packet", referral_id)
    } else {
        e.into_error("intake")
    }
}

impl IntakePeer {
    /// A client of intake at `addr` (`host:port` or URL). Connects on first use, so an intake service that
    /// is down at start-up is not an error.
    pub fn connect_lazy(
        addr: &str,
        common: &continuum_runtime::CommonSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self { client: IntakeServiceClient::new(common.authed_peer(addr, "referral")?) })
    }

    /// Reads `intake_id` as intake releases it to the caller's organization as the recipient of
    /// `referral_id`, on behalf of the caller's user.
    pub async fn read_for_recipient(
        &self,
        caller: &Caller,
        referral_id: &ReferralId,
        intake_id: &IntakeId,
    ) -> Result<pb::Intake> {
        let mut req = OnBehalfOf::caller(caller).request(pb::GetIntakeRequest {
            intake_id: intake_id.to_string(),
            referral_id: referral_id.to_string(),
        });
        req.metadata_mut().insert("x-continuum-purpose", MetadataValue::from_static(PURPOSE));
        let mut client = self.client.clone();
        match client.get_intake(req).await {
            Ok(resp) => resp.into_inner().intake.ok_or_else(|| {
                Error::Unexpected(anyhow::anyhow!("intake answered without an intake"))
            }),
            Err(s) => {
                tracing::info!(referral_id = %referral_id, intake_id = %intake_id, code = ?s.code(), "handoff read refused by intake");
                Err(read_error(s.into(), referral_id.as_str()))
            }
        }
    }
}

/// The consent categories whose information `intake` (as released to a recipient) carries, in category
/// order. Intake clears every category not consented; a consented category with nothing recorded is not
/// listed, because it carries nothing.
pub fn shared_categories(intake: &pb::Intake) -> Vec<pb::ConsentCategory> {
    use pb::ConsentCategory as C;
    let present = [
        (C::IdentityAndContact, intake.client.is_some()),
        (
            C::ScreeningAndAssessment,
            intake.screeners.is_some()
                || intake.assessment.is_some()
                || intake.dysregulation.is_some(),
        ),
        (
            C::PresentingConcerns,
            !intake.presenting_concerns_text.is_empty() || !intake.presenting_concerns.is_empty(),
        ),
        (C::TreatmentHistory, !intake.treatment_history.is_empty()),
        (
            C::SocialContext,
            !intake.stressors.is_empty()
                || !intake.supports.is_empty()
                || intake.preferences.is_some(),
        ),
        (C::SubstanceUse, intake.substance_use != 0),
    ];
    present.into_iter().filter(|(_, p)| *p).map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn categories_follow_what_intake_released() {
        assert!(shared_categories(&pb::Intake::default()).is_empty());
        let i = pb::Intake {
            client: Some(pb::ClientDetails::default()),
            assessment: Some(pb::Assessment::default()),
            presenting_concerns: vec![pb::PresentingConcern::Depression as i32],
            ..Default::default()
        };
        assert_eq!(
            shared_categories(&i),
            vec![
                pb::ConsentCategory::IdentityAndContact,
                pb::ConsentCategory::ScreeningAndAssessment,
                pb::ConsentCategory::PresentingConcerns
            ]
        );
        let j = pb::Intake {
            preferences: Some(pb::Preferences::default()),
            substance_use: 2,
            ..Default::default()
        };
        assert_eq!(
            shared_categories(&j),
            vec![pb::ConsentCategory::SocialContext, pb::ConsentCategory::SubstanceUse]
        );
    }

    #[test]
    fn maps_intake_refusals() {
        let read = |code| read_error(PeerError::from(tonic::Status::new(code, "x")), "r");
        assert!(matches!(read(tonic::Code::NotFound), Error::NotFound { .. }));
        assert!(matches!(read(tonic::Code::Unavailable), Error::Unavailable(_)));
        assert!(matches!(read(tonic::Code::DeadlineExceeded), Error::Unavailable(_)));
        assert!(matches!(read(tonic::Code::PermissionDenied), Error::Unexpected(_)));
        assert!(matches!(read(tonic::Code::InvalidArgument), Error::Unexpected(_)));
    }
}
