//! Request bytes in flight are bounded (issue 17, point 4): a call that would take a connection past its
//! budget is refused with RESOURCE_EXHAUSTED before the handler sees it, stores nothing, and the budget
//! is back once the call has ended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_proto::matching::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_connection_past_its_in_flight_budget_is_refused_and_gets_it_back() {
    let mut app = spawn_app_with(|s| s.common.inflight_bytes_per_connection = 64 * 1024).await;
    let mut big = clinician("big", 1);
    big.display_name = "x".repeat(100 * 1024);
    let err = app
        .client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(big), expected_version: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // The same connection can call again: the refused call gave its bytes back.
    let small = create(&mut app, clinician("small", 1)).await;
    let listed = app
        .client
        .list_providers(pb::ListProvidersRequest { page_size: 50, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .providers;
    assert_eq!(listed.iter().map(|p| &p.id).collect::<Vec<_>>(), vec![&small.id]);
}
