//! The status of an `outbox.deliver` span says how the delivery went (issue 14, point 6): `Error` with the
//! gRPC code while matching cannot take the slot back, `Ok` once it has.
//!
//! A test binary of its own: the capturing subscriber is installed process-wide (a thread-local one misses
//! callsites whose interest other test threads cached first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/helpers.rs"]
mod helpers;

use std::time::{Duration, Instant};

use continuum_proto::referral::v1 as pb;
use continuum_telemetry::capture::{Captured, CapturedSpan};

use crate::helpers::*;

/// What every test of this binary logged and exported.
fn captured() -> &'static Captured {
    continuum_telemetry::capture::global()
}

/// Waits (at most 20 s) for an `outbox.deliver` span of `referral_id` with `status`.
async fn deliver_span(referral_id: &str, status: &str) -> CapturedSpan {
    let attribute = format!("referral_id={referral_id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = captured().spans().into_iter().find(|s| {
            s.name == "outbox.deliver" && s.status == status && s.attributes.contains(&attribute)
        });
        if let Some(span) = found {
            return span;
        }
        let seen: Vec<CapturedSpan> =
            captured().spans().into_iter().filter(|s| s.name == "outbox.deliver").collect();
        assert!(Instant::now() < deadline, "no {status} outbox.deliver span; saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_delivery_span_is_error_when_it_failed_and_ok_when_it_succeeded() {
    captured();
    let mut app = spawn_app().await;
    let p = app.provider(1).await;
    let r = app.create("traced-release", &p.id).await;
    app.stop_matching().await;
    app.act(&r, pb::ReferralAction::Reject, pb::ActorRole::Recipient).await.unwrap();

    // The worker's attempts while matching is down fail with UNAVAILABLE: only the code is described.
    let failed = deliver_span(&r.id, "error").await;
    assert_eq!(failed.description, "UNAVAILABLE", "{failed:?}");

    app.restart_matching().await;
    assert!(app.wait_for_slots(&p.id, 1, Duration::from_secs(20)).await, "slot given back");
    let delivered = deliver_span(&r.id, "ok").await;
    assert_eq!(delivered.trace_id, failed.trace_id, "both attempts are in the rejection's trace");
    assert!(delivered.description.is_empty());
}

/// The deadline sweeper's "silent referral swept" line carries the trace of the request that created
/// the referral (issue 14, point 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_sweepers_line_carries_the_referrals_trace_id() {
    captured();
    let mut app = spawn_app().await;
    let p = app.provider(1).await;
    let r = app.create("traced-sweep", &p.id).await;
    let parent = app.store.referral_trace_parent(&r.id).await.unwrap();
    let trace_id = parent.split('-').nth(1).expect("the referral keeps its traceparent").to_owned();

    let t1 = chrono::Utc::now() + chrono::TimeDelta::days(5);
    assert_eq!(app.deadlines.sweep(t1).await.unwrap().escalated, vec![r.id.clone()]);
    let line = captured()
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "silent referral swept" && l["referral_id"] == r.id.as_str())
        .expect("the sweep logs the escalation");
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}
