//! The background routing worker's log lines belong to the intake's trace (issue 14, point 6): the
//! "routing deferred" / "routed" line a retry writes carries the trace id of the SubmitIntake that
//! accepted the intake, so a search by that trace id finds how the routing ended.

//!
//! A test binary of its own: the capturing subscriber is installed process-wide (a thread-local one misses
//! callsites whose interest other test threads cached first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use continuum_proto::intake::v1 as pb;
use continuum_telemetry::capture::Captured;

use crate::helpers::{spawn_app, submission};

/// What every test of this binary logged and exported.
fn captured() -> &'static Captured {
    continuum_telemetry::capture::global()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routing_workers_final_line_carries_the_intakes_trace_id() {
    let captured = captured();
    // Every peer is down: the intake is accepted pending and the worker retries it in the background.
    let mut app = spawn_app().await;
    let intake = app
        .client
        .submit_intake(submission("worker-trace-1"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(intake.routing.unwrap().status, pb::RoutingStatus::Pending as i32);
    let submit_trace = captured
        .spans()
        .into_iter()
        .find(|s| s.name == "continuum.intake.v1.IntakeService/SubmitIntake")
        .expect("the SubmitIntake span is exported")
        .trace_id;

    // Attempt 1 is the request's own; attempt 2 is the worker's (one second later).
    let deadline = Instant::now() + Duration::from_secs(20);
    let is_final = |l: &serde_json::Value| {
        l["intake_id"] == intake.id.as_str()
            && (l["message"] == "routing deferred" || l["message"] == "routed")
    };
    let worker_line = loop {
        let found = captured
            .log_lines()
            .into_iter()
            .find(|l| is_final(l) && l["attempts"].as_u64().is_some_and(|a| a >= 2));
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "the worker never retried: {:?}", captured.log_lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(worker_line["trace_id"], submit_trace.as_str(), "worker line: {worker_line}");
    assert_eq!(worker_line["span"], "routing.retry", "{worker_line}");
    // Every final line of this intake, the request's and the worker's, is in the intake's trace.
    for line in captured.log_lines().into_iter().filter(is_final) {
        assert_eq!(line["trace_id"], submit_trace.as_str(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crisis_client_with_no_crisis_service_pages_with_its_line() {
    // Issue 13.10 / 14: a crisis-pathway client with no crisis provider in reach (an empty directory)
    // writes the ERROR page line, not only an INFO "routed".
    let captured = captured();
    let mut app = helpers::spawn_with_matching().await;
    let mut s = submission("crisis-no-service");
    s.screeners = Some(pb::Screeners {
        cssrs: Some(pb::Cssrs { intent_with_plan: true, ..Default::default() }),
        ..Default::default()
    });
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(intake.routing.unwrap().status, pb::RoutingStatus::NeedsCoordinator as i32);
    let page = captured.log_lines().into_iter().find(|l| {
        l["intake_id"] == intake.id.as_str()
            && l["message"] == "crisis client without a crisis referral: coordinator task opened"
    });
    let page = page.unwrap_or_else(|| panic!("no page line: {:?}", captured.log_lines()));
    assert_eq!(page["level"], "ERROR", "{page}");
}
