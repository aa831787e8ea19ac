//! The tonic adapter of the matching service: decodes each request (`convert`), calls the use case in
//! `app` with the caller the auth layer attached, and encodes the outcome. No rule and no access decision
//! lives here.

use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_server::MatchingService;
use tonic::{Request, Response, Status, Streaming};

use crate::app::App;
use crate::convert;
pub use crate::convert::{provider_from_proto, provider_to_proto};

/// The gRPC face of the matching service.
#[derive(Clone, Debug)]
pub struct MatchingApi {
    app: App,
}

impl MatchingApi {
    /// An adapter over the use cases of `app`.
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl MatchingService for MatchingApi {
    async fn upsert_provider(
        &self,
        req: Request<pb::UpsertProviderRequest>,
    ) -> Result<Response<pb::UpsertProviderResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let draft = provider_from_proto(req.provider, req.expected_version)?;
        let p = self.app.upsert_provider(&caller, draft).await?;
        Ok(Response::new(pb::UpsertProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn get_provider(
        &self,
        req: Request<pb::GetProviderRequest>,
    ) -> Result<Response<pb::GetProviderResponse>, Status> {
        let id = convert::provider_id(&req.into_inner().provider_id)?;
        let p = self.app.get_provider(&id).await?;
        Ok(Response::new(pb::GetProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn list_providers(
        &self,
        req: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let query = convert::provider_query(&req.into_inner())?;
        let (page, next_page_token) = self.app.list_providers(query).await?;
        let providers = page.iter().map(provider_to_proto).collect();
        Ok(Response::new(pb::ListProvidersResponse { providers, next_page_token }))
    }

    async fn update_capacity(
        &self,
        req: Request<pb::UpdateCapacityRequest>,
    ) -> Result<Response<pb::UpdateCapacityResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = convert::capacity_command(req.into_inner())?;
        let (p, applied) = self.app.update_capacity(&caller, cmd).await?;
        Ok(Response::new(pb::UpdateCapacityResponse {
            provider: Some(provider_to_proto(&p)),
            applied,
        }))
    }

    async fn recommend(
        &self,
        req: Request<pb::RecommendRequest>,
    ) -> Result<Response<pb::RecommendResponse>, Status> {
        let req = req.into_inner();
        let (needs, top_k) = continuum_errors::both(
            convert::needs_from_proto(req.client, None, ""),
            convert::top_k(req.top_k, ""),
        )?;
        let r = self.app.recommend(&needs, top_k).await?;
        Ok(Response::new(convert::recommendation_to_proto(&r)))
    }

    async fn recommend_for_client(
        &self,
        req: Request<pb::RecommendForClientRequest>,
    ) -> Result<Response<pb::RecommendForClientResponse>, Status> {
        let req = req.into_inner();
        let needs = convert::needs_from_proto(req.client, req.fit, "");
        let (needs, top_k) = continuum_errors::both(needs, convert::top_k(req.top_k, ""))?;
        let r = self.app.recommend(&needs, top_k).await?;
        Ok(Response::new(pb::RecommendForClientResponse {
            ranking: Some(convert::recommendation_to_proto(&r)),
        }))
    }

    async fn batch_recommend_for_client(
        &self,
        req: Request<pb::BatchRecommendForClientRequest>,
    ) -> Result<Response<pb::BatchRecommendForClientResponse>, Status> {
        let asks = convert::batch_recommend_from_proto(req.into_inner())?;
        let rankings = self.app.recommend_many(&asks).await?;
        let responses = rankings
            .iter()
            .map(|r| pb::RecommendForClientResponse {
                ranking: Some(convert::recommendation_to_proto(r)),
            })
            .collect();
        Ok(Response::new(pb::BatchRecommendForClientResponse { responses }))
    }

    async fn import_providers(
        &self,
        req: Request<Streaming<pb::ImportProvidersRequest>>,
    ) -> Result<Response<pb::ImportProvidersResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (_, extensions, mut stream) = req.into_parts();
        let mut import = self.app.importer(&caller);
        let mut index = 0usize;
        // An error from the stream (undecodable item, transport error, cancel, deadline) or a broken limit
        // returns here and drops the import: nothing of the stream is stored.
        while let Some(item) = stream.message().await? {
            let size = prost::Message::encoded_len(&item);
            let id = item.provider.as_ref().map(|p| p.id.clone()).unwrap_or_default();
            import.add(index, size, id, convert::import_item_from_proto(item))?;
            index += 1;
        }
        // tonic ends a cancelled request stream like a complete one; only a complete one commits.
        continuum_runtime::stream_end::StreamEnd::check(&extensions)?;
        Ok(Response::new(convert::import_summary_to_proto(import.commit().await?)))
    }

    async fn assign_batch(
        &self,
        req: Request<pb::AssignBatchRequest>,
    ) -> Result<Response<pb::AssignBatchResponse>, Status> {
        let batch = crate::batch::batch_from_proto(&req.into_inner())?;
        let solved = crate::batch::solve_batch(&batch)?;
        let assignments = solved
            .assignments
            .into_iter()
            .map(|(client_id, provider_id)| pb::Assignment { client_id, provider_id })
            .collect();
        Ok(Response::new(pb::AssignBatchResponse {
            assignments,
            objective: solved.objective,
            unassigned_client_ids: solved.unassigned,
        }))
    }

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let client_id = convert::client_id(&req.into_inner().client_id)?;
        let events = self.app.care_events(&caller, &client_id).await?;
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn record_session_feedback(
        &self,
        req: Request<pb::RecordSessionFeedbackRequest>,
    ) -> Result<Response<pb::RecordSessionFeedbackResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let cmd = convert::feedback_command(req.into_inner())?;
        let outcome = self.app.record_feedback(&caller, cmd).await?;
        Ok(Response::new(convert::feedback_outcome_to_proto(&outcome)))
    }
}
