//! `matching_requests`: every RPC of the matching service, from bytes through prost and
//! `matching::convert` (and `matching::batch`); `ImportProviders` is a stream, so its bytes are a
//! sequence of length-delimited items, each validated as the handler validates it. An accepted
//! `AssignBatch` is solved, and its assignment must respect every capacity.

use continuum_proto::matching::v1 as pb;
use matching::{batch, convert};
use prost::Message;

use crate::harness::{Rpc, dispatch, rpc};

/// The RPCs, by selector byte (modulo their number). Append only: the seed corpus names them by index.
pub const RPCS: &[Rpc] = &[
    Rpc {
        name: "UpsertProvider",
        message: "continuum.matching.v1.UpsertProviderRequest",
        run: upsert,
    },
    Rpc { name: "GetProvider", message: "continuum.matching.v1.GetProviderRequest", run: get },
    Rpc { name: "ListProviders", message: "continuum.matching.v1.ListProvidersRequest", run: list },
    Rpc {
        name: "UpdateCapacity",
        message: "continuum.matching.v1.UpdateCapacityRequest",
        run: capacity,
    },
    Rpc { name: "Recommend", message: "continuum.matching.v1.RecommendRequest", run: recommend },
    Rpc {
        name: "RecommendForClient",
        message: "continuum.matching.v1.RecommendForClientRequest",
        run: recommend_for_client,
    },
    Rpc { name: "AssignBatch", message: "continuum.matching.v1.AssignBatchRequest", run: assign },
    Rpc {
        name: "RecordSessionFeedback",
        message: "continuum.matching.v1.RecordSessionFeedbackRequest",
        run: feedback,
    },
    Rpc {
        name: "ImportProviders",
        message: "continuum.matching.v1.ImportProvidersRequest",
        run: import,
    },
    Rpc {
        name: "ListCareEvents",
        message: "continuum.matching.v1.ListCareEventsRequest",
        run: care,
    },
    Rpc {
        name: "BatchRecommendForClient",
        message: "continuum.matching.v1.BatchRecommendForClientRequest",
        run: recommend_many,
    },
];

/// Runs one input.
pub fn run(data: &[u8]) {
    dispatch(RPCS, data);
}

fn upsert(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::UpsertProviderRequest| convert::provider_from_proto(r.provider, r.expected_version),
        |_| {},
    );
}

fn get(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::GetProviderRequest| convert::provider_id(&r.provider_id), |_| {});
}

fn list(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListProvidersRequest| convert::provider_query(&r), |_| {});
}

fn capacity(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::capacity_command, |_| {});
}

fn recommend(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::RecommendRequest| {
            continuum_errors::both(
                convert::needs_from_proto(r.client, None, ""),
                convert::top_k(r.top_k, ""),
            )
        },
        |(_, k)| assert!((1..=50).contains(k), "top_k {k}"),
    );
}

fn recommend_for_client(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::RecommendForClientRequest| {
            continuum_errors::both(
                convert::needs_from_proto(r.client, r.fit, ""),
                convert::top_k(r.top_k, ""),
            )
        },
        |(_, k)| assert!((1..=50).contains(k), "top_k {k}"),
    );
}

fn recommend_many(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::batch_recommend_from_proto, |asks| {
        assert!((1..=convert::MAX_BATCH_RECOMMEND).contains(&asks.len()), "{} asks", asks.len());
        assert!(asks.iter().all(|(_, k)| (1..=50).contains(k)), "top_k out of range");
    });
}

fn assign(m: &'static str, b: &[u8]) {
    rpc(
        m,
        b,
        |r: pb::AssignBatchRequest| {
            batch::batch_from_proto(&r).and_then(|x| Ok((batch::solve_batch(&x)?, x)))
        },
        |(solved, x)| {
            // Every client once, assigned or not; no provider over its capacity.
            assert_eq!(solved.assignments.len() + solved.unassigned.len(), x.client_ids.len());
            for (p, id) in x.provider_ids.iter().enumerate() {
                let taken = solved.assignments.iter().filter(|(_, q)| q == id).count();
                let cap = x.instance.capacities.get(p).copied().unwrap_or(0);
                assert!(taken <= cap as usize, "provider {p}: {taken} over capacity {cap}");
            }
            assert!(solved.objective >= 0, "objective {}", solved.objective);
        },
    );
}

fn feedback(m: &'static str, b: &[u8]) {
    rpc(m, b, convert::feedback_command, |_| {});
}

fn care(m: &'static str, b: &[u8]) {
    rpc(m, b, |r: pb::ListCareEventsRequest| convert::client_id(&r.client_id), |_| {});
}

/// A stream of items: each a length-delimited `ImportProvidersRequest`, validated on its own (the
/// stream's own limits are the importer's, in `app`).
fn import(m: &'static str, b: &[u8]) {
    let mut rest = b;
    while !rest.is_empty() {
        let Ok(len) = prost::decode_length_delimiter(rest) else { return };
        let start = prost::length_delimiter_len(len);
        let Some(item) = rest.get(start..start.saturating_add(len)) else { return };
        rpc(m, item, convert::import_item_from_proto, |i| {
            assert!(!i.key.is_empty() && i.key.chars().count() <= convert::MAX_IMPORT_KEY_CHARS);
        });
        rest = &rest[start + len..];
    }
}

/// An import stream of `items`, as [`import`] reads it (for the seed corpus).
pub fn import_stream(items: &[pb::ImportProvidersRequest]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        item.encode_length_delimited(&mut out).unwrap_or_default();
    }
    out
}
