//! Health checks and reflection calls export no span (issue 14, point 6: at probe rates they were 18 root
//! traces per minute per pod), while every other RPC still exports its server span.
//!
//! A test binary of its own: the capturing subscriber is installed process-wide (a thread-local one misses
//! callsites whose interest other test threads cached first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use continuum_proto::matching::v1 as pb;
use continuum_telemetry::capture::{Captured, CapturedSpan};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

use crate::helpers::spawn_app;

/// What every test of this binary logged and exported.
fn captured() -> &'static Captured {
    continuum_telemetry::capture::global()
}

fn server_spans() -> Vec<CapturedSpan> {
    captured().spans().into_iter().filter(|s| s.kind == "server").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_and_reflection_export_no_span_and_other_calls_do() {
    captured();
    let mut app = spawn_app().await;
    let channel = continuum_runtime::peer_channel(&app.addr.to_string()).unwrap();

    for service in ["", continuum_proto::service_names::MATCHING] {
        let answer = HealthClient::new(channel.clone())
            .check(HealthCheckRequest { service: service.into() })
            .await
            .unwrap();
        assert_eq!(answer.into_inner().status, 1, "SERVING");
    }
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .unwrap()
        .into_inner();
    assert!(answers.message().await.unwrap().is_some(), "reflection answered");
    drop(answers);

    app.client.list_providers(pb::ListProvidersRequest::default()).await.unwrap();
    let name = "continuum.matching.v1.MatchingService/ListProviders";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server_spans().iter().any(|s| s.name == name) {
        assert!(
            Instant::now() < deadline,
            "the ListProviders span is exported: {:?}",
            server_spans()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The health and reflection calls came first, and left nothing.
    let names: Vec<String> = server_spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec![name.to_owned()], "only the ListProviders call exported a server span");
}
