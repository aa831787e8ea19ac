//! Health endpoints: `/livez` answers while the process serves (liveness); `/healthz` asks each of the four
//! services' gRPC health checking and answers 200 only when all four are SERVING (readiness), with each
//! one's state in the body. Each check also sets `continuum_dependency_up{dependency=<service>}`.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::startup::AppState;

/// How long one upstream health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /livez`.
pub async fn liveness() -> &'static str {
    "ok\n"
}

/// `GET /healthz`.
pub async fn readiness(State(state): State<AppState>) -> Response {
    let checks = state.upstreams.health.iter().map(|(name, client)| {
        let name: &'static str = name;
        let mut client = client.clone();
        async move {
            let answer = tokio::time::timeout(
                CHECK_TIMEOUT,
                client.check(HealthCheckRequest { service: String::new() }),
            )
            .await;
            let status = match answer {
                Ok(Ok(r)) => ServingStatus::try_from(r.into_inner().status)
                    .unwrap_or(ServingStatus::Unknown)
                    .as_str_name(),
                Ok(Err(s)) if s.code() == tonic::Code::Unavailable => "UNREACHABLE",
                Ok(Err(_)) => "ERROR",
                Err(_) => "TIMEOUT",
            };
            continuum_telemetry::names::set_dependency_up(name, status == "SERVING");
            (name, status)
        }
    });
    let results = futures_join(checks).await;
    let all = results.iter().all(|(_, s)| *s == "SERVING");
    let upstreams: serde_json::Map<String, serde_json::Value> =
        results.iter().map(|(n, s)| ((*n).to_owned(), (*s).into())).collect();
    let body =
        serde_json::json!({"status": if all { "pass" } else { "fail" }, "upstreams": upstreams});
    let code = if all { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
