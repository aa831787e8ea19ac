//! The tonic adapter of the intake service: decodes each request (`convert`), calls the use case in
//! `app` with the request's context (the caller the auth layer attached and its purpose of use), and
//! encodes the answer. No rule and no access decision lives here. Personal health information is never
//! logged here: only ids and codes.

use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::IntakeService;
use prost::Message;
use tonic::{Request, Response, Status};

use crate::app::access::Relationship;
use crate::app::{App, Context};
use crate::convert::{self, intake_to_proto};

/// The gRPC face of the intake service.
#[derive(Clone, Debug)]
pub struct IntakeApi {
    app: App,
}

impl IntakeApi {
    /// An adapter over the use cases of `app`.
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

/// The audit context of a request: its caller and the purpose its `x-continuum-purpose` header names.
fn context<T>(req: &Request<T>) -> Result<Context, Status> {
    let caller = continuum_auth::caller(req)?;
    let purpose = req.metadata().get("x-continuum-purpose").and_then(|v| v.to_str().ok());
    Ok(Context::new(caller, purpose))
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_intake(
        &self,
        req: Request<pb::SubmitIntakeRequest>,
    ) -> Result<Response<pb::SubmitIntakeResponse>, Status> {
        let ctx = context(&req)?;
        let req = req.into_inner();
        let fingerprint = crate::domain::fingerprint(&req.encode_to_vec());
        let submission = convert::submission_from_proto(req)?;
        let (intake, replayed) = self.app.submit(&ctx, submission, fingerprint).await?;
        continuum_telemetry::annotate(&[
            ("continuum.intake_id", intake.id.as_str()),
            ("continuum.organization_id", intake.submission.organization_id.as_str()),
            ("continuum.routing_status", intake.routing.status.code()),
        ]);
        Ok(Response::new(pb::SubmitIntakeResponse {
            intake: Some(intake_to_proto(&intake)),
            replayed,
        }))
    }

    async fn get_intake(
        &self,
        req: Request<pb::GetIntakeRequest>,
    ) -> Result<Response<pb::GetIntakeResponse>, Status> {
        let ctx = context(&req)?;
        let (id, referral_id) = convert::get_from_proto(req.get_ref())?;
        let (intake, shared) = self.app.get_intake(&ctx, &id, referral_id.as_ref()).await?;
        Ok(Response::new(pb::GetIntakeResponse {
            intake: Some(convert::shared_intake_to_proto(&intake, shared.as_ref())),
        }))
    }

    async fn list_intakes(
        &self,
        req: Request<pb::ListIntakesRequest>,
    ) -> Result<Response<pb::ListIntakesResponse>, Status> {
        let ctx = context(&req)?;
        let (query, page) = convert::query_from_proto(req.get_ref())?;
        let (rows, next_page_token) = self.app.list_intakes(&ctx, query, &page).await?;
        Ok(Response::new(pb::ListIntakesResponse {
            intakes: rows.iter().map(intake_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn record_reassessment(
        &self,
        req: Request<pb::RecordReassessmentRequest>,
    ) -> Result<Response<pb::RecordReassessmentResponse>, Status> {
        let ctx = context(&req)?;
        let reassessment = convert::reassessment_from_proto(req.get_ref())?;
        let done = self.app.reassess(&ctx, reassessment).await?;
        Ok(Response::new(convert::reassessed_to_proto(&done)))
    }

    async fn record_consent(
        &self,
        req: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let ctx = context(&req)?;
        let change = convert::consent_from_proto(req.get_ref())?;
        let consent = self.app.change_consent(&ctx, change).await?;
        Ok(Response::new(pb::RecordConsentResponse {
            consent: Some(convert::consent_to_proto(&consent)),
        }))
    }

    async fn revoke_consent(
        &self,
        req: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        let ctx = context(&req)?;
        let change = convert::revocation_from_proto(req.get_ref())?;
        let consent = self.app.change_consent(&ctx, change).await?;
        Ok(Response::new(pb::RevokeConsentResponse {
            consent: Some(convert::consent_to_proto(&consent)),
        }))
    }

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let ctx = context(&req)?;
        let client_id = convert::client_id(&req.get_ref().client_id)?;
        let events = self.app.care_events(&ctx, &client_id).await?;
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let (query, page) = convert::audit_query_from_proto(req.get_ref())?;
        let (events, next_page_token) = self.app.audit_events(&caller, query, &page).await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.into_iter().map(convert::audit_event_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn check_care_relationship(
        &self,
        req: Request<pb::CheckCareRelationshipRequest>,
    ) -> Result<Response<pb::CheckCareRelationshipResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let question = convert::relationship_from_proto(req.get_ref())?;
        let (found, owner_organization_id) = self.app.care_relationship(&caller, question).await?;
        let (relationship, referral_ids) = match found {
            Relationship::Owner => (pb::CareRelationship::Owner, Vec::new()),
            Relationship::Recipient(ids) => (pb::CareRelationship::ReferralRecipient, ids),
        };
        Ok(Response::new(pb::CheckCareRelationshipResponse {
            relationship: relationship as i32,
            owner_organization_id,
            referral_ids,
        }))
    }

    async fn list_clinical_tasks(
        &self,
        req: Request<pb::ListClinicalTasksRequest>,
    ) -> Result<Response<pb::ListClinicalTasksResponse>, Status> {
        let ctx = context(&req)?;
        let (organization_id, filter, page) = convert::task_query_from_proto(req.get_ref())?;
        let (tasks, next_page_token) =
            self.app.list_tasks(&ctx, &organization_id, filter, &page).await?;
        Ok(Response::new(pb::ListClinicalTasksResponse {
            tasks: tasks.iter().map(convert::task_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn complete_clinical_task(
        &self,
        req: Request<pb::CompleteClinicalTaskRequest>,
    ) -> Result<Response<pb::CompleteClinicalTaskResponse>, Status> {
        let ctx = context(&req)?;
        let (id, expected_version) = convert::complete_task_from_proto(req.get_ref())?;
        let task = self.app.complete_task(&ctx, &id, expected_version).await?;
        Ok(Response::new(pb::CompleteClinicalTaskResponse {
            task: Some(convert::task_to_proto(&task)),
        }))
    }
}
