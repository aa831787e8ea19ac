//! The background sweeper's final line belongs to the trace of the work it finishes (issue 14, point 6):
//! "offer expired" carries the trace id stored with the offer (the OpenSlots call that made it).
//!
//! A test binary of its own: the capturing subscriber is installed process-wide (a thread-local one misses
//! callsites whose interest other test threads cached first).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/helpers.rs"]
mod helpers;

use chrono::TimeDelta;
use continuum_proto::waitlist::v1 as pb;
use continuum_telemetry::capture::Captured;

use crate::helpers::*;

/// What every test of this binary logged and exported.
fn captured() -> &'static Captured {
    continuum_telemetry::capture::global()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offer_expired_line_carries_the_offers_trace_id() {
    captured();
    let mut app = spawn_app().await;
    let p = app.provider().await;
    app.enqueue(pb::Band::Urgent, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    let parent = app.store.offer_trace_parent(&offer.id).await.unwrap();
    let trace_id = parent.split('-').nth(1).expect("the offer keeps its traceparent").to_owned();

    app.advance(TimeDelta::hours(49));
    assert_eq!(app.sweeper.sweep_expired(app.clock_now()).await.unwrap().len(), 1);
    let line = captured()
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "offer expired" && l["offer_id"] == offer.id.as_str())
        .expect("the sweep logs the expiry");
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}
