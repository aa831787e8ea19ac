//! The tonic adapter of the waitlist service: decodes each request (`convert`), calls the use case in
//! `app` with the caller the auth layer attached, and encodes the answer. No rule, no access decision and
//! no call to the store or a peer lives here.

use continuum_proto::waitlist::v1 as pb;
use continuum_proto::waitlist::v1::waitlist_service_server::WaitlistService;
use tonic::{Request, Response, Status};

use crate::app::App;
use crate::convert::{self, entry_to_proto};

/// The gRPC face of the waitlist service.
#[derive(Clone, Debug)]
pub struct WaitlistApi {
    app: App,
}

impl WaitlistApi {
    /// An adapter over the use cases of `app`.
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl WaitlistService for WaitlistApi {
    async fn enqueue(
        &self,
        req: Request<pb::EnqueueRequest>,
    ) -> Result<Response<pb::EnqueueResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (new, needs) = convert::enqueue_from_proto(req.into_inner())?;
        let (entry, replayed) = self.app.enqueue(&caller, new, needs).await?;
        Ok(Response::new(pb::EnqueueResponse { entry: Some(entry_to_proto(&entry)), replayed }))
    }

    async fn get_entry(
        &self,
        req: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::GetEntryResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = convert::entry_id(&req.get_ref().entry_id)?;
        let entry = self.app.get_entry(&caller, &id).await?;
        Ok(Response::new(pb::GetEntryResponse { entry: Some(entry_to_proto(&entry)) }))
    }

    async fn list_waitlist(
        &self,
        req: Request<pb::ListWaitlistRequest>,
    ) -> Result<Response<pb::ListWaitlistResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (query, page) = convert::list_from_proto(req.get_ref())?;
        let (entries, next_page_token) = self.app.list_waitlist(&caller, query, &page).await?;
        Ok(Response::new(pb::ListWaitlistResponse {
            entries: entries.iter().map(entry_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn open_slots(
        &self,
        req: Request<pb::OpenSlotsRequest>,
    ) -> Result<Response<pb::OpenSlotsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = convert::open_slots_from_proto(req.get_ref())?;
        let opened = self.app.open_slots(&caller, cmd).await?;
        Ok(Response::new(convert::opened_to_proto(&opened)))
    }

    async fn respond_to_offer(
        &self,
        req: Request<pb::RespondToOfferRequest>,
    ) -> Result<Response<pb::RespondToOfferResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let answer = convert::answer_from_proto(req.get_ref())?;
        let answered = self.app.respond_to_offer(&caller, answer).await?;
        Ok(Response::new(convert::answered_to_proto(&answered)))
    }

    async fn record_check_in(
        &self,
        req: Request<pb::RecordCheckInRequest>,
    ) -> Result<Response<pb::RecordCheckInResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = convert::check_in_from_proto(req.get_ref())?;
        let checked = self.app.record_check_in(&caller, cmd).await?;
        Ok(Response::new(convert::checked_in_to_proto(&checked)))
    }

    async fn estimate_wait(
        &self,
        req: Request<pb::EstimateWaitRequest>,
    ) -> Result<Response<pb::EstimateWaitResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let id = convert::entry_id(&req.get_ref().entry_id)?;
        let estimate = self.app.estimate_wait(&caller, &id).await?;
        Ok(Response::new(convert::estimate_to_proto(estimate)))
    }

    async fn remove_entry(
        &self,
        req: Request<pb::RemoveEntryRequest>,
    ) -> Result<Response<pb::RemoveEntryResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let removal = convert::removal_from_proto(req.get_ref())?;
        let entry = self.app.remove_entry(&caller, removal).await?;
        Ok(Response::new(pb::RemoveEntryResponse { entry: Some(entry_to_proto(&entry)) }))
    }

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let client_id = convert::client_id(&req.get_ref().client_id)?;
        let events = self.app.care_events(&caller, &client_id).await?;
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn get_waitlist_metrics(
        &self,
        req: Request<pb::GetWaitlistMetricsRequest>,
    ) -> Result<Response<pb::GetWaitlistMetricsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (organization_id, length_weeks) = convert::metrics_from_proto(req.get_ref())?;
        let rows = self.app.metrics(&caller, organization_id, length_weeks).await?;
        Ok(Response::new(pb::GetWaitlistMetricsResponse {
            organizations: rows.into_iter().map(convert::metrics_to_proto).collect(),
        }))
    }
}
