//! Background work continues the trace of the request that created it: an offer stores the
//! `traceparent` of the `OpenSlots` that made it, the sweeper expires it in a span of that trace, and the
//! next offer it makes in that step carries the same trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_proto::waitlist::v1 as pb;

use crate::helpers::*;

/// The trace id part of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

#[tokio::test]
async fn the_offer_sweeper_continues_the_trace_of_the_request_that_made_the_offer() {
    // Spans get real OpenTelemetry ids (no log output, no export). Installed process-wide: a thread-local
    // default misses callsites whose interest other test threads cached first.
    let _ = tracing::subscriber::set_global_default(continuum_telemetry::ids_only_subscriber());
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let a = app.enqueue(pb::Band::Urgent, &[&p]).await;
    app.advance(TimeDelta::hours(1));
    let b = app.enqueue(pb::Band::Urgent, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, a.id);
    let made = app.store.offer_trace_parent(&offer.id).await.unwrap();
    assert_eq!(trace_id(&made).len(), 32, "the OpenSlots traceparent is stored: {made:?}");

    app.advance(TimeDelta::hours(49));
    let swept = app.sweeper.sweep_expired(app.clock_now()).await.unwrap();
    let next = swept[0].next_offer.clone().expect("the slot moves on");
    assert_eq!(next.entry_id, b.id);
    let moved = app.store.offer_trace_parent(&next.id).await.unwrap();
    assert_eq!(
        trace_id(&moved),
        trace_id(&made),
        "the expiry and the next offer joined the original trace"
    );
    assert_ne!(moved, made, "under the sweeper's own span, not the original one");
}
