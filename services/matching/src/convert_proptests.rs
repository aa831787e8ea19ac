//! Property tests of matching's request validators: any request — a valid one with arbitrary strings,
//! out-of-range numbers, NaNs, unknown enum values and long lists written over any of its fields —
//! converts, or is refused with `INVALID_ARGUMENT` naming only field paths that exist in the proto, in a
//! bounded answer (`continuum_testkit::wire`).

#![allow(clippy::unwrap_used)]

use continuum_proto::matching::v1 as pb;
use continuum_testkit::requests;
use continuum_testkit::wire::{check_rpc, mutated};
use proptest::prelude::*;

const UPSERT: &str = "continuum.matching.v1.UpsertProviderRequest";
const IMPORT: &str = "continuum.matching.v1.ImportProvidersRequest";
const RECOMMEND: &str = "continuum.matching.v1.RecommendRequest";
const FOR_CLIENT: &str = "continuum.matching.v1.RecommendForClientRequest";
const CAPACITY: &str = "continuum.matching.v1.UpdateCapacityRequest";
const FEEDBACK: &str = "continuum.matching.v1.RecordSessionFeedbackRequest";
const LIST: &str = "continuum.matching.v1.ListProvidersRequest";
const BATCH: &str = "continuum.matching.v1.AssignBatchRequest";
const RECOMMEND_MANY: &str = "continuum.matching.v1.BatchRecommendForClientRequest";

fn upsert(r: pb::UpsertProviderRequest) -> crate::error::Result<crate::domain::ProviderDraft> {
    super::provider_from_proto(r.provider, r.expected_version)
}

fn recommend(r: pb::RecommendRequest) -> crate::error::Result<(crate::domain::ClientNeeds, usize)> {
    continuum_errors::both(super::needs_from_proto(r.client, None, ""), super::top_k(r.top_k, ""))
}

fn recommend_for_client(
    r: pb::RecommendForClientRequest,
) -> crate::error::Result<(crate::domain::ClientNeeds, usize)> {
    continuum_errors::both(super::needs_from_proto(r.client, r.fit, ""), super::top_k(r.top_k, ""))
}

fn for_client(top_k: i32) -> pb::RecommendForClientRequest {
    pb::RecommendForClientRequest {
        client: Some(requests::client_profile()),
        fit: Some(requests::client_fit()),
        top_k,
    }
}

fn feedback() -> pb::RecordSessionFeedbackRequest {
    pb::RecordSessionFeedbackRequest {
        provider_id: requests::PROVIDER.into(),
        client_id: requests::CLIENT.into(),
        session_number: 2,
        srs_items: vec![9.0, 8.5, 9.0, 9.5],
        ors_items: vec![5.0, 6.0, 4.5, 5.5],
        client: Some(requests::client_profile()),
        fit: Some(requests::client_fit()),
        ..Default::default()
    }
}

fn batch() -> pb::AssignBatchRequest {
    pb::AssignBatchRequest {
        clients: vec![pb::BatchClient {
            client_id: "c1".into(),
            priority: 2,
            candidates: vec![pb::BatchCandidate { provider_id: "p1".into(), score: 700 }],
        }],
        capacities: vec![pb::BatchCapacity { provider_id: "p1".into(), capacity: 1 }],
    }
}

#[test]
fn the_valid_requests_convert() {
    assert!(upsert(requests::upsert_provider()).is_ok());
    assert!(recommend(requests::recommend()).is_ok());
    assert!(recommend_for_client(for_client(3)).is_ok());
    let many = pb::BatchRecommendForClientRequest { requests: vec![for_client(3), for_client(0)] };
    let asks = super::batch_recommend_from_proto(many).unwrap_or_default();
    assert_eq!(asks.iter().map(|(_, k)| *k).collect::<Vec<_>>(), [3, 10], "in order, 0 meaning 10");
    assert!(super::feedback_command(feedback()).is_ok());
    assert!(crate::batch::batch_from_proto(&batch()).is_ok());
}

#[test]
fn a_batch_of_rankings_names_every_bad_field_under_its_index() {
    let mut second = for_client(51);
    if let Some(c) = second.client.as_mut() {
        c.level_of_care = 999;
    }
    let third = pb::RecommendForClientRequest { client: None, ..for_client(3) };
    let req = pb::BatchRecommendForClientRequest { requests: vec![for_client(3), second, third] };
    assert_eq!(
        super::batch_recommend_from_proto(req).unwrap_err().bad_fields(),
        ["requests[1].client.level_of_care", "requests[1].top_k", "requests[2].client"]
    );
    let none = pb::BatchRecommendForClientRequest { requests: Vec::new() };
    assert_eq!(super::batch_recommend_from_proto(none).unwrap_err().bad_fields(), ["requests"]);
    // Over the limit: one bad field, the items unread (their own faults are not listed).
    let mut bad = for_client(3);
    bad.client = None;
    let many =
        pb::BatchRecommendForClientRequest { requests: vec![bad; super::MAX_BATCH_RECOMMEND + 1] };
    assert_eq!(super::batch_recommend_from_proto(many).unwrap_err().bad_fields(), ["requests"]);
}

#[test]
fn a_delta_without_an_absolute_value_is_a_bad_field() {
    // i32::MIN.abs() overflows: it panicked the handler (overflow checks) or passed the range check.
    for delta in [i32::MIN, -i32::MAX, i32::MAX] {
        let req = pb::UpdateCapacityRequest {
            provider_id: requests::PROVIDER.into(),
            change: Some(pb::update_capacity_request::Change::Delta(delta)),
            ..Default::default()
        };
        match super::capacity_command(req) {
            Err(crate::error::Error::InvalidArgument(v)) => {
                let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
                assert_eq!(fields, ["delta"], "{delta}");
            }
            other => panic!("{delta}: expected INVALID_ARGUMENT, got {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn upsert_provider(bytes in mutated(UPSERT, &requests::upsert_provider())) {
        check_rpc(UPSERT, &bytes, upsert)?;
    }

    #[test]
    fn import_providers_item(bytes in mutated(IMPORT, &pb::ImportProvidersRequest {
        provider: Some(requests::provider()),
        expected_version: 0,
        import_key: "row-1".into(),
    })) {
        check_rpc(IMPORT, &bytes, super::import_item_from_proto)?;
    }

    #[test]
    fn recommend_request(bytes in mutated(RECOMMEND, &requests::recommend())) {
        check_rpc(RECOMMEND, &bytes, recommend)?;
    }

    #[test]
    fn recommend_for_client_request(bytes in mutated(FOR_CLIENT, &for_client(3))) {
        check_rpc(FOR_CLIENT, &bytes, recommend_for_client)?;
    }

    #[test]
    fn batch_recommend_for_client_request(bytes in mutated(RECOMMEND_MANY,
        &pb::BatchRecommendForClientRequest { requests: vec![for_client(3), for_client(5)] },
    )) {
        check_rpc(RECOMMEND_MANY, &bytes, super::batch_recommend_from_proto)?;
    }

    #[test]
    fn update_capacity(bytes in mutated(CAPACITY, &pb::UpdateCapacityRequest {
        provider_id: requests::PROVIDER.into(),
        change: Some(pb::update_capacity_request::Change::Delta(-1)),
        hold_key: "intake:1".into(),
        ..Default::default()
    })) {
        check_rpc(CAPACITY, &bytes, super::capacity_command)?;
    }

    #[test]
    fn record_session_feedback(bytes in mutated(FEEDBACK, &feedback())) {
        check_rpc(FEEDBACK, &bytes, super::feedback_command)?;
    }

    #[test]
    fn list_providers_and_assign_batch(
        list in mutated(LIST, &pb::ListProvidersRequest { page_size: 10, ..Default::default() }),
        assign in mutated(BATCH, &batch()),
    ) {
        check_rpc(LIST, &list, |r: pb::ListProvidersRequest| super::provider_query(&r))?;
        check_rpc(BATCH, &assign, |r: pb::AssignBatchRequest| {
            crate::batch::batch_from_proto(&r).and_then(|b| crate::batch::solve_batch(&b))
        })?;
    }
}
