//! The tonic adapter of the referral service: decodes each request (`convert`), calls the use case in
//! `app` with the caller the auth layer attached, and encodes the answer. No rule and no access decision
//! lives here.

use std::pin::Pin;

use continuum_proto::referral::v1 as pb;
use continuum_proto::referral::v1::referral_service_server::ReferralService;
use continuum_vocab::ids::ReferralId;
use continuum_vocab::time;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::convert::{self, referral_to_proto};

/// The gRPC face of the referral service.
#[derive(Clone, Debug)]
pub struct ReferralApi {
    app: App,
}

impl ReferralApi {
    /// An adapter over the use cases of `app`.
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

/// Records the referral an RPC is about on its span.
fn record_referral(id: &ReferralId) {
    tracing::Span::current().record("referral_id", tracing::field::display(id));
}

#[tonic::async_trait]
impl ReferralService for ReferralApi {
    type WatchReferralsStream =
        Pin<Box<dyn Stream<Item = Result<pb::WatchReferralsResponse, Status>> + Send>>;

    #[tracing::instrument(name = "WatchReferrals", skip_all)]
    async fn watch_referrals(
        &self,
        req: Request<pb::WatchReferralsRequest>,
    ) -> Result<Response<Self::WatchReferralsStream>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let from = convert::watch_from_proto(req.get_ref())?;
        let events = self.app.watch(&caller, from).await?;
        let stream = events.map(|e| e.map(|e| convert::watched_to_proto(&e)).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(name = "CreateReferral", skip_all, fields(referral_id))]
    async fn create_referral(
        &self,
        req: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::CreateReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (new, held) = convert::create_from_proto(req.into_inner())?;
        let (r, replayed) = self.app.create_referral(&caller, new, held).await?;
        record_referral(&r.id);
        Ok(Response::new(pb::CreateReferralResponse {
            referral: Some(referral_to_proto(&r)),
            replayed,
        }))
    }

    #[tracing::instrument(name = "GetReferral", skip_all, fields(referral_id))]
    async fn get_referral(
        &self,
        req: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = convert::referral_id(&req.get_ref().referral_id)?;
        record_referral(&id);
        let r = self.app.get_referral(&caller, &id).await?;
        Ok(Response::new(pb::GetReferralResponse { referral: Some(referral_to_proto(&r)) }))
    }

    #[tracing::instrument(name = "GetHandoffPacket", skip_all, fields(referral_id))]
    async fn get_handoff_packet(
        &self,
        req: Request<pb::GetHandoffPacketRequest>,
    ) -> Result<Response<pb::GetHandoffPacketResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = convert::referral_id(&req.get_ref().referral_id)?;
        record_referral(&id);
        let p = self.app.handoff_packet(&caller, &id).await?;
        Ok(Response::new(pb::GetHandoffPacketResponse {
            packet: Some(pb::HandoffPacket {
                referral_id: p.referral.id.into_string(),
                recipient_organization_id: p.referral.recipient_organization_id.into_string(),
                shared_categories: p.shared_categories,
                intake: Some(p.intake),
                read_at: Some(time::to_proto(chrono::Utc::now())),
            }),
        }))
    }

    #[tracing::instrument(name = "ListReferrals", skip_all)]
    async fn list_referrals(
        &self,
        req: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (query, page) = convert::query_from_proto(req.get_ref())?;
        let (rows, next_page_token) = self.app.list_referrals(&caller, query, &page).await?;
        Ok(Response::new(pb::ListReferralsResponse {
            referrals: rows.iter().map(referral_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(name = "TransitionReferral", skip_all, fields(referral_id))]
    async fn transition_referral(
        &self,
        req: Request<pb::TransitionReferralRequest>,
    ) -> Result<Response<pb::TransitionReferralResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = convert::command_from_proto(req.into_inner())?;
        record_referral(&cmd.referral_id);
        let r = self.app.transition(&caller, cmd).await?;
        Ok(Response::new(pb::TransitionReferralResponse { referral: Some(referral_to_proto(&r)) }))
    }

    #[tracing::instrument(name = "GetCareTimeline", skip_all)]
    async fn get_care_timeline(
        &self,
        req: Request<pb::GetCareTimelineRequest>,
    ) -> Result<Response<pb::GetCareTimelineResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let client_id = convert::client_id(&req.get_ref().client_id)?;
        let t = self.app.care_timeline(&caller, &client_id).await?;
        Ok(Response::new(pb::GetCareTimelineResponse {
            entries: t.entries,
            unavailable_sources: t.unavailable.iter().map(|s| (*s).to_owned()).collect(),
        }))
    }
}
