//! Clients of the services intake calls: matching (recommendations), referral (referrals made for a
//! routing, and the referral facts access rests on: `referral`) and waitlist (entries for a routing).

pub mod referral;

use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use continuum_runtime::PeerChannel;

/// Clients of the three downstream services.
#[derive(Clone, Debug)]
pub struct Peers {
    /// Matching.
    pub matching: MatchingServiceClient<PeerChannel>,
    /// Referral.
    pub referral: ReferralServiceClient<PeerChannel>,
    /// Waitlist.
    pub waitlist: WaitlistServiceClient<PeerChannel>,
}

impl Peers {
    /// Lazily connecting clients for the three peers, signing calls as the intake service.
    pub fn connect(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        let c = &settings.common;
        Ok(Self {
            matching: MatchingServiceClient::new(c.authed_peer(&settings.matching_addr, "intake")?),
            referral: ReferralServiceClient::new(c.authed_peer(&settings.referral_addr, "intake")?),
            waitlist: WaitlistServiceClient::new(c.authed_peer(&settings.waitlist_addr, "intake")?),
        })
    }
}
