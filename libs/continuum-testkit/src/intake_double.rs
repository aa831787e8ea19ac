//! A test double of the intake service for the component tests of the services that ask intake about
//! care relationships (referral, waitlist, matching). It answers `CheckCareRelationship` exactly as intake
//! would for the clients a test recorded with [`own`] — the owner, for its own clients; `NOT_FOUND` for
//! anyone and anything else (there are no referrals here, so no recipients) — and is unavailable for
//! every other RPC, like an intake that cannot re-screen or release a packet. The end-to-end tests run the
//! real intake instead.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::{IntakeService, IntakeServiceServer};
use continuum_runtime::Shutdown;
use tonic::{Request, Response, Status};

/// Client id -> (organization, intake id): one map for a whole test binary (ids are fresh UUIDs, so tests
/// never see each other's).
static OWNED: LazyLock<Mutex<HashMap<String, (String, String)>>> = LazyLock::new(Default::default);

/// Records that `organization_id` took intake `intake_id` of client `client_id`.
pub fn own(organization_id: &str, client_id: &str, intake_id: &str) {
    if let Ok(mut owned) = OWNED.lock() {
        owned.insert(
            client_id.to_ascii_lowercase(),
            (organization_id.to_ascii_lowercase(), intake_id.to_ascii_lowercase()),
        );
    }
}

/// Serves the double on a fresh loopback port until `shutdown`; returns its address.
pub async fn serve(shutdown: Shutdown) -> SocketAddr {
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the intake double");
    let addr = listener.local_addr().expect("the intake double's address");
    // Whom the caller asks for: the organization of its (unverified) service token.
    let svc = IntakeServiceServer::with_interceptor(IntakeDouble, |mut req: Request<()>| {
        let org = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| {
                jsonwebtoken::dangerous::insecure_decode::<continuum_auth::Claims>(t).ok()
            })
            .map(|d| d.claims.org.to_ascii_lowercase())
            .unwrap_or_default();
        req.extensions_mut().insert(AskedFor(org));
        Ok(req)
    });
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                continuum_runtime::incoming(listener),
                shutdown.cancelled_owned(),
            )
            .await;
    });
    addr
}

#[derive(Clone, Debug)]
struct AskedFor(String);

/// The double itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct IntakeDouble;

fn unavailable<T>() -> Result<Response<T>, Status> {
    Err(Status::unavailable("intake double: only care relationships"))
}

#[tonic::async_trait]
impl IntakeService for IntakeDouble {
    async fn check_care_relationship(
        &self,
        req: Request<pb::CheckCareRelationshipRequest>,
    ) -> Result<Response<pb::CheckCareRelationshipResponse>, Status> {
        let asked_for = req.extensions().get::<AskedFor>().map(|a| a.0.clone()).unwrap_or_default();
        let r = req.into_inner();
        let found =
            OWNED.lock().ok().and_then(|o| o.get(&r.client_id.to_ascii_lowercase()).cloned());
        match found {
            Some((org, intake))
                if org == asked_for
                    && (r.intake_id.is_empty() || intake == r.intake_id.to_ascii_lowercase()) =>
            {
                Ok(Response::new(pb::CheckCareRelationshipResponse {
                    relationship: pb::CareRelationship::Owner as i32,
                    owner_organization_id: org,
                    referral_ids: Vec::new(),
                }))
            }
            _ => Err(Status::not_found("client not found")),
        }
    }

    async fn submit_intake(
        &self,
        _: Request<pb::SubmitIntakeRequest>,
    ) -> Result<Response<pb::SubmitIntakeResponse>, Status> {
        unavailable()
    }

    async fn get_intake(
        &self,
        _: Request<pb::GetIntakeRequest>,
    ) -> Result<Response<pb::GetIntakeResponse>, Status> {
        unavailable()
    }

    async fn list_intakes(
        &self,
        _: Request<pb::ListIntakesRequest>,
    ) -> Result<Response<pb::ListIntakesResponse>, Status> {
        unavailable()
    }

    async fn record_reassessment(
        &self,
        _: Request<pb::RecordReassessmentRequest>,
    ) -> Result<Response<pb::RecordReassessmentResponse>, Status> {
        unavailable()
    }

    async fn list_audit_events(
        &self,
        _: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        unavailable()
    }

    async fn record_consent(
        &self,
        _: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        unavailable()
    }

    async fn revoke_consent(
        &self,
        _: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::RevokeConsentResponse>, Status> {
        unavailable()
    }

    async fn list_care_events(
        &self,
        _: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        unavailable()
    }

    async fn list_clinical_tasks(
        &self,
        _: Request<pb::ListClinicalTasksRequest>,
    ) -> Result<Response<pb::ListClinicalTasksResponse>, Status> {
        unavailable()
    }

    async fn complete_clinical_task(
        &self,
        _: Request<pb::CompleteClinicalTaskRequest>,
    ) -> Result<Response<pb::CompleteClinicalTaskResponse>, Status> {
        unavailable()
    }
}
