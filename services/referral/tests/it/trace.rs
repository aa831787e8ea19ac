//! Background work continues the trace of the request that created it: a referral stores the
//! `traceparent` of its `CreateReferral`, and the deadline sweeper's steps on it (escalation, expiry, the
//! re-route that creates a new referral) run in spans of that same trace, so the new referral it creates
//! carries the original trace id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};

use crate::helpers::*;

/// The trace id part of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

#[tokio::test]
async fn the_deadline_sweeper_continues_the_trace_of_the_request_that_created_the_referral() {
    // Spans get real OpenTelemetry ids (no log output, no export). Installed process-wide: a thread-local
    // default misses callsites whose interest other test threads cached first.
    let _ = tracing::subscriber::set_global_default(continuum_telemetry::ids_only_subscriber());
    let mut app = spawn_app().await;
    let first = app.provider(1).await;
    let next = app.provider(1).await;
    let mut req = create_request("traced", &first.id);
    req.alternative_provider_ids = vec![next.id.clone()];
    let r = app.client.create_referral(req).await.unwrap().into_inner().referral.unwrap();

    let created = app.store.referral_trace_parent(&r.id).await.unwrap();
    assert_eq!(
        trace_id(&created).len(),
        32,
        "the creating request's traceparent is stored: {created:?}"
    );
    assert_ne!(trace_id(&created), "0".repeat(32));

    // Escalation, then expiry and the re-route, all by the sweeper outside any request.
    let t1 = Utc::now() + TimeDelta::days(5);
    assert_eq!(app.deadlines.sweep(t1).await.unwrap().escalated, vec![r.id.clone()]);
    let swept = app.deadlines.sweep(t1 + TimeDelta::days(5)).await.unwrap();
    let new_id = swept.rerouted[0].1.clone().expect("re-routed to the alternative");

    let rerouted = app.store.referral_trace_parent(&new_id).await.unwrap();
    assert_eq!(trace_id(&rerouted), trace_id(&created), "the re-route joined the original trace");
    assert_ne!(rerouted, created, "under the sweeper's own span, not the original one");
    assert!(app.store.referral_trace_parent("no-such-referral").await.unwrap().is_empty());
}
