//! HSDS 3.0 (Open Referral) directories at `/hsds`: import into and export from the matching directory.
//!
//! | route | does |
//! |---|---|
//! | `POST /hsds/import` (JSON: nested services, an API page, or tables) | maps the document with `continuum-hsds`, lists the caller's organization's providers, and sends the new and changed listings through ONE `ImportProviders` stream per 5,000 items with the caller's token (matching decides whether the caller is a provider admin); answers the summary: created / updated / unchanged / refused listings with reasons, and every HSDS field with no counterpart |
//! | `GET /hsds/export` | the directory (`ListProviders`, every page; `?organization_id=` narrows it) as a JSON array of nested HSDS services, importable as is |
//! | `GET /hsds/services` | the same as an HSDS API page (`{"contents": [...], "total_items": ...}`) |
//!
//! The body is bounded by the gateway's body limit (`CONTINUUM_GATEWAY_MAX_BODY_BYTES`; above it 413, an
//! OperationOutcome with issue code `too-long` naming the limit, like every other refusal);
//! larger directories go through `continuum directory import`, which uses the same [`import`] driver.
//! Errors are the gateway's one mapping (`crate::error`): an unreadable document is 400, a token without an
//! organization 401, a caller who may not import 403 (from matching), a service that is down 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use continuum_hsds::{ImportSummary, Mapped};
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use fhir_model::r4b::codes::IssueType;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tonic::codegen::{Body, Bytes as GrpcBytes, StdError};

use crate::error::{Error, Issue, Result};
use crate::startup::AppState;
use crate::upstream::Caller;

/// Items per `ImportProviders` stream (the service takes at most 10,000 and 16 MiB).
pub const PER_STREAM: usize = 5_000;

/// The routes under `/hsds`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hsds/import", post(import_route))
        .route("/hsds/export", get(export_route))
        .route("/hsds/services", get(services_route))
}

/// `body` as a JSON answer.
fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(e) => {
            Error::Unexpected(anyhow::anyhow!("serializing an HSDS answer: {e}")).into_response()
        }
    }
}

/// Reads an HSDS document for `organization_id`; an unreadable one is a 400.
pub fn read_document(body: &[u8], organization_id: &str) -> Result<Mapped> {
    continuum_hsds::read(body, organization_id)
        .map_err(|e| Error::BadRequest(vec![Issue::general(IssueType::Structure, e.to_string())]))
}

async fn import_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    crate::fhir::require_media_type(&headers, &["application/json"])?;
    let org = caller.organization_hint().map(str::to_owned).ok_or_else(|| {
        Error::Unauthenticated("the bearer token names no organization (`org` claim)".to_owned())
    })?;
    let mapped = read_document(&body, &org)?;
    let mut client = state.upstreams.matching.clone();
    let summary = import(&mut client, &caller, &org, &mapped, |_, _| {}).await?;
    tracing::info!(
        services = summary.services,
        created = summary.created,
        updated = summary.updated,
        unchanged = summary.unchanged,
        refused = summary.refused,
        "hsds import"
    );
    Ok(json(StatusCode::OK, &summary))
}

/// `?organization_id=` of the export routes.
#[derive(Debug, Default, Deserialize)]
pub struct ExportQuery {
    /// Only this organization's providers.
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// The caller's view of the directory (of `?organization_id=` when given) as HSDS services.
async fn exported(state: &AppState, headers: &HeaderMap, q: &ExportQuery) -> Result<Vec<Value>> {
    let caller = Caller::from_headers(headers)?;
    let mut client = state.upstreams.matching.clone();
    let providers = list_providers(&mut client, &caller, q.organization_id.as_deref()).await?;
    Ok(continuum_hsds::export_services(&providers))
}

/// `GET /hsds/export`: the services as one JSON array (the file `directory import --format hsds` reads).
async fn export_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    Ok(json(StatusCode::OK, &exported(&state, &headers, &q).await?))
}

/// `GET /hsds/services`: the same services as one page of the HSDS API's paginated list.
async fn services_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    let contents = exported(&state, &headers, &q).await?;
    let n = contents.len();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "total_items": n, "total_pages": 1, "page_number": 1, "size": n,
            "first_page": true, "last_page": true, "empty": n == 0, "contents": contents,
        }),
    ))
}

/// Every provider of the directory (of `organization_id` when given), all pages.
pub async fn list_providers<T>(
    client: &mut MatchingServiceClient<T>,
    caller: &Caller,
    organization_id: Option<&str>,
) -> std::result::Result<Vec<pb::Provider>, tonic::Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = GrpcBytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_providers(caller.request(pb::ListProvidersRequest {
                organization_id: organization_id.unwrap_or_default().to_owned(),
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        out.extend(page.providers);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// Imports `mapped` for `organization_id` with the caller's token: lists the organization's providers,
/// plans the items ([`continuum_hsds::plan_import`]) and streams them, [`PER_STREAM`] per
/// `ImportProviders` call. `progress(sent, total)` is called as matching reads each item. A failure of the
/// first stream is the error; a later one (only past 5,000 listings) leaves its items refused with the
/// cause in the summary (the earlier streams are stored).
pub async fn import<T>(
    client: &mut MatchingServiceClient<T>,
    caller: &Caller,
    organization_id: &str,
    mapped: &Mapped,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> std::result::Result<ImportSummary, tonic::Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = GrpcBytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let existing = list_providers(client, caller, Some(organization_id)).await?;
    let mut plan = continuum_hsds::plan_import(mapped, &existing);
    let total = plan.items.len();
    let sent = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(progress);
    progress(0, total);
    let mut first = 0;
    while first < total {
        let n = PER_STREAM.min(total - first);
        let chunk: Vec<pb::ImportProvidersRequest> = plan.items[first..first + n].to_vec();
        let (s, p) = (sent.clone(), progress.clone());
        let stream = tokio_stream::StreamExt::map(tokio_stream::iter(chunk), move |item| {
            let now = s.fetch_add(1, Ordering::Relaxed) + 1;
            p(now, total);
            item
        });
        match client.import_providers(caller.request(stream)).await {
            Ok(answer) => plan.record(first, n, &answer.into_inner()),
            Err(status) if first == 0 => return Err(status),
            Err(status) => {
                plan.record_failure(
                    first,
                    total - first,
                    &format!("{:?}: {}", status.code(), status.message()),
                );
                break;
            }
        }
        first += n;
    }
    Ok(plan.summary())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use base64::Engine as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::Settings;

    /// The gateway's router with a body limit of `max` bytes, in front of services that are not there
    /// (every case below is answered before any upstream call).
    async fn app(max: usize) -> Router {
        let nowhere = || "127.0.0.1:1".to_owned();
        let settings = Settings::new(
            "127.0.0.1:0".parse().unwrap(),
            [nowhere(), nowhere(), nowhere(), nowhere()],
        );
        crate::startup::router(AppState::from_settings(&settings).await.unwrap(), max)
    }

    fn token(claims: &str) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        format!("Bearer x.{payload}.y")
    }

    async fn post(max: usize, auth: Option<&str>, body: Vec<u8>) -> StatusCode {
        let mut req = http::Request::post("/hsds/import")
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        app(max)
            .await
            .oneshot(req.body(axum::body::Body::from(body)).unwrap())
            .await
            .unwrap()
            .status()
    }

    /// An over-limit body is answered like every other refusal: an OperationOutcome naming the limit,
    /// on `/hsds` and on `/fhir`.
    #[tokio::test]
    async fn an_over_limit_body_is_an_operation_outcome_naming_the_limit() {
        for (path, content_type) in [
            ("/hsds/import", "application/json"),
            ("/fhir", "application/fhir+json"),
            ("/fhir/Task/0190d5a0-0000-7000-8000-00000000000a", "application/fhir+json"),
        ] {
            let mut req = if path.starts_with("/fhir/Task") {
                http::Request::put(path)
            } else {
                http::Request::post(path)
            };
            req = req.header(http::header::CONTENT_TYPE, content_type);
            let body = axum::body::Body::from(vec![b' '; 64]);
            let response = app(16).await.oneshot(req.body(body).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            let ct = response.headers()[http::header::CONTENT_TYPE].to_str().unwrap().to_owned();
            assert!(ct.starts_with("application/fhir+json"), "{path}: {ct}");
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            let outcome: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}: {outcome}");
            assert_eq!(outcome["issue"].as_array().unwrap().len(), 1);
            assert_eq!(outcome["issue"][0]["severity"], "error");
            assert_eq!(outcome["issue"][0]["code"], "too-long");
            let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
            assert!(diagnostics.contains("(16 bytes)"), "{path}: {diagnostics}");
        }
        // Under the limit, the same route is not refused for its size.
        let small = http::Request::post("/hsds/import")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from("[]"))
            .unwrap();
        assert_ne!(
            app(16).await.oneshot(small).await.unwrap().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[tokio::test]
    async fn refusals_before_any_call_follow_the_gateway_mapping() {
        let admin = token(r#"{"org":"0190d5a0-0000-7000-8000-000000000001"}"#);
        let doc = br#"[{"id": "s", "name": "x", "status": "active"}]"#.to_vec();
        // Over the body limit: refused unread.
        assert_eq!(post(16, Some(&admin), doc.clone()).await, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(post(1024, None, doc.clone()).await, StatusCode::UNAUTHORIZED);
        assert_eq!(post(1024, Some(&token("{}")), doc).await, StatusCode::UNAUTHORIZED);
        assert_eq!(post(1024, Some(&admin), b"[1, 2".to_vec()).await, StatusCode::BAD_REQUEST);
        assert_eq!(post(1024, Some(&admin), b"{}".to_vec()).await, StatusCode::BAD_REQUEST);
    }
}
