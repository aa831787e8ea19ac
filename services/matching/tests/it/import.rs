//! ImportProviders is all or nothing per stream (issue 17, point 2): a stream that ends in an error stores
//! nothing, a retried stream stores nothing twice, and a stream is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_proto::matching::v1 as pb;
use prost::bytes::{Buf, BufMut};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::helpers::*;

const P_ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000d1";

fn item(p: pb::Provider, expected_version: i64, key: &str) -> pb::ImportProvidersRequest {
    pb::ImportProvidersRequest { provider: Some(p), expected_version, import_key: key.to_owned() }
}

/// The stream of the issue: create P (with its id), create N (without one), replace P again. The second
/// P makes today's importer write its first batch before the stream ends.
fn p_n_p(prefix: &str) -> Vec<pb::ImportProvidersRequest> {
    let mut p = clinician("P", 1);
    p.id = P_ID.to_owned();
    let mut p2 = p.clone();
    p2.display_name = "P again".into();
    vec![
        item(p, 0, &format!("{prefix}:p:1")),
        item(clinician("N", 2), 0, &format!("{prefix}:n:1")),
        item(p2, 1, &format!("{prefix}:p:2")),
    ]
}

async fn stored_names(app: &mut TestApp) -> Vec<String> {
    let listed = app
        .client
        .list_providers(pb::ListProvidersRequest { page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut names: Vec<String> = listed.providers.into_iter().map(|p| p.display_name).collect();
    names.sort();
    names
}

/// Sends pre-encoded frames as they are, so a stream can carry bytes that are no protobuf message.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = pb::ImportProvidersResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<pb::ImportProvidersResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        prost::Message::decode(bytes)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("answer not decodable: {e}")))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = pb::ImportProvidersResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

/// Sends `frames` to ImportProviders as ORG_A's provider administrator.
async fn import_raw(
    app: &TestApp,
    frames: Vec<Vec<u8>>,
) -> Result<pb::ImportProvidersResponse, tonic::Status> {
    let token = app.backing.token(ORG_A, &[continuum_auth::Role::ProviderAdmin]);
    let mut grpc =
        tonic::client::Grpc::new(continuum_runtime::peer_channel(&app.addr.to_string()).unwrap());
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(tokio_stream::iter(frames));
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/continuum.matching.v1.MatchingService/ImportProviders",
    );
    grpc.client_streaming(req, path, RawCodec).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_stream_ending_in_undecodable_bytes_stores_nothing() {
    let mut app = spawn_app().await;
    let mut frames: Vec<Vec<u8>> =
        p_n_p("garbage").iter().map(prost::Message::encode_to_vec).collect();
    // Not a protobuf message: a field tag followed by a varint that never ends.
    frames.push(vec![0x10, 0xff, 0xff, 0xff]);
    let err = import_raw(&app, frames.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(stored_names(&mut app).await, Vec::<String>::new());

    // The same items ending cleanly are stored, all of them.
    frames.pop();
    let summary = import_raw(&app, frames).await.unwrap();
    assert_eq!((summary.received, summary.created, summary.updated), (3, 2, 1));
    assert_eq!(stored_names(&mut app).await, vec!["N", "P again"]);
}

/// Opens ImportProviders on a bare HTTP/2 connection, sends `items` as gRPC frames without ending the
/// stream, waits for the server to take them, then cancels the call the way a gRPC client does
/// (RST_STREAM with CANCEL).
async fn send_then_cancel(app: &TestApp, items: &[pb::ImportProvidersRequest]) {
    let token = app.backing.token(ORG_A, &[continuum_auth::Role::ProviderAdmin]);
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (h2c, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut h2c = h2c.ready().await.unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}/continuum.matching.v1.MatchingService/ImportProviders", app.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    let (response, mut body) = h2c.send_request(req, false).unwrap();
    for i in items {
        let message = prost::Message::encode_to_vec(i);
        let mut frame = vec![0u8];
        frame.extend(u32::try_from(message.len()).unwrap().to_be_bytes());
        frame.extend(message);
        body.send_data(prost::bytes::Bytes::from(frame), false).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    body.send_reset(h2::Reason::CANCEL);
    drop(response);
}

#[tokio::test]
async fn a_stream_cancelled_by_the_client_stores_nothing() {
    let mut app = spawn_app().await;
    send_then_cancel(&app, &p_n_p("cancel")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored_names(&mut app).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_stream_past_its_deadline_stores_nothing() {
    let mut app = spawn_app().await;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for i in p_n_p("deadline") {
        tx.send(i).await.unwrap();
    }
    let mut req = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.set_timeout(Duration::from_millis(300));
    // The sender stays open: the stream never ends before the deadline.
    let err = app.client.import_providers(req).await.unwrap_err();
    assert!(matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled), "{err:?}");
    drop(tx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored_names(&mut app).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_retried_stream_stores_nothing_twice_and_answers_what_is_stored() {
    let mut app = spawn_app().await;
    let items = p_n_p("retry");
    let first =
        app.client.import_providers(tokio_stream::iter(items.clone())).await.unwrap().into_inner();
    assert_eq!(
        (first.received, first.created, first.updated, first.unchanged, first.failed),
        (3, 2, 1, 0, 0),
        "{:?}",
        first.errors
    );
    let n_id = first.imported[1].provider_id.clone();
    let got: Vec<(i32, &str, &str, i64, i32)> = first
        .imported
        .iter()
        .map(|x| (x.index, x.import_key.as_str(), x.provider_id.as_str(), x.version, x.outcome))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, "retry:p:1", P_ID, 1, pb::ImportOutcome::Created as i32),
            (1, "retry:n:1", n_id.as_str(), 1, pb::ImportOutcome::Created as i32),
            (2, "retry:p:2", P_ID, 2, pb::ImportOutcome::Updated as i32),
        ]
    );

    // The answer was lost; the whole stream is sent again.
    let again =
        app.client.import_providers(tokio_stream::iter(items.clone())).await.unwrap().into_inner();
    assert_eq!(
        (again.received, again.created, again.updated, again.unchanged, again.failed),
        (3, 0, 0, 3, 0),
        "{:?}",
        again.errors
    );
    let ids: Vec<(&str, i64, i32)> =
        again.imported.iter().map(|x| (x.provider_id.as_str(), x.version, x.outcome)).collect();
    let unchanged = pb::ImportOutcome::Unchanged as i32;
    assert_eq!(
        ids,
        vec![(P_ID, 1, unchanged), (n_id.as_str(), 1, unchanged), (P_ID, 2, unchanged)]
    );
    assert_eq!(stored_names(&mut app).await, vec!["N", "P again"]);

    // A key reused for a different item is refused, and the item is not stored.
    let mut other = items[1].clone();
    other.provider.as_mut().unwrap().display_name = "Not N".into();
    let reused = app.client.import_providers(tokio_stream::iter(vec![other])).await.unwrap();
    let reused = reused.into_inner();
    assert_eq!((reused.failed, reused.created), (1, 0));
    assert_eq!(reused.errors[0].code, "FAILED_PRECONDITION");
    assert_eq!(reused.errors[0].reason, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(stored_names(&mut app).await, vec!["N", "P again"]);
}

#[tokio::test]
async fn an_item_needs_a_key_used_once_per_stream() {
    let mut app = spawn_app().await;
    let items = vec![
        item(clinician("Keyless", 1), 0, ""),
        item(clinician("First", 1), 0, "dup"),
        item(clinician("Second", 1), 0, "dup"),
    ];
    let s = app.client.import_providers(tokio_stream::iter(items)).await.unwrap().into_inner();
    assert_eq!((s.received, s.created, s.failed), (3, 1, 2), "{:?}", s.errors);
    assert_eq!((s.errors[0].index, s.errors[0].fields.clone()), (0, vec!["import_key".to_owned()]));
    assert_eq!((s.errors[1].index, s.errors[1].fields.clone()), (2, vec!["import_key".to_owned()]));
    assert_eq!(stored_names(&mut app).await, vec!["First"]);
}

#[tokio::test]
async fn a_stream_over_the_item_limit_is_refused_and_stores_nothing() {
    let mut app = spawn_app().await;
    let items: Vec<_> = (0..=10_000)
        .map(|i| item(clinician(&format!("C{i:05}"), 1), 0, &format!("limit:{i}")))
        .collect();
    let err = app.client.import_providers(tokio_stream::iter(items)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("10000"), "{}", err.message());
    assert_eq!(stored_names(&mut app).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_stream_over_the_byte_limit_is_refused_and_stores_nothing() {
    let mut app = spawn_app().await;
    // Five items of 3.5 MB each: every message is under the 4 MiB limit, the stream is over 16 MiB.
    let items: Vec<_> = (0..5)
        .map(|i| {
            let mut p = clinician(&format!("Big {i}"), 1);
            p.display_name = "x".repeat(3_500_000);
            item(p, 0, &format!("bytes:{i}"))
        })
        .collect();
    let err = app.client.import_providers(tokio_stream::iter(items)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("16 MiB"), "{}", err.message());
    assert_eq!(stored_names(&mut app).await, Vec::<String>::new());
}

#[tokio::test]
async fn capacity_events_and_the_directory_follow_the_one_commit() {
    let mut app = spawn_app().await;
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    let store = matching::store::Store::new(db);
    let c = create(&mut app, clinician("C", 1)).await;
    let considered = |r: pb::RecommendResponse| r.considered;
    let recommend = pb::RecommendRequest { client: Some(adult_profile()), top_k: 5 };
    assert_eq!(considered(app.client.recommend(recommend.clone()).await.unwrap().into_inner()), 1);
    let mut more = c.clone();
    more.open_slots = 5;
    let items = [item(more, c.version, "events:c:2"), item(clinician("N", 1), 0, "events:n:1")];
    let mut frames: Vec<Vec<u8>> = items.iter().map(prost::Message::encode_to_vec).collect();
    frames.push(vec![0x10, 0xff, 0xff, 0xff]);
    import_raw(&app, frames.clone()).await.unwrap_err();
    assert_eq!(store.pending_events().await.unwrap(), 0, "a failed stream opens nothing");
    assert_eq!(considered(app.client.recommend(recommend.clone()).await.unwrap().into_inner()), 1);

    frames.pop();
    let s = import_raw(&app, frames).await.unwrap();
    assert_eq!((s.created, s.updated), (1, 1));
    assert_eq!(store.pending_events().await.unwrap(), 1, "the rise of C, once");
    assert_eq!(considered(app.client.recommend(recommend).await.unwrap().into_inner()), 2);
}
