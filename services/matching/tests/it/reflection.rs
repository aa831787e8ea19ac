//! Reflection lists exactly what the port serves (issue 14, point 6): the matching service, health and
//! reflection, not the other three Continuum services whose descriptors it also holds. Both reflection
//! versions agree, and a listed service's descriptor resolves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tonic_reflection::pb::{v1, v1alpha};

use crate::helpers::spawn_app;

const LISTED: [&str; 4] = [
    "continuum.matching.v1.MatchingService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

#[tokio::test]
async fn reflection_lists_only_the_services_of_this_port() {
    let app = spawn_app().await;
    let channel = continuum_runtime::peer_channel(&app.addr.to_string()).unwrap();

    use v1::server_reflection_request::MessageRequest as Req;
    use v1::server_reflection_response::MessageResponse as Resp;
    let ask =
        |m: Req| v1::ServerReflectionRequest { host: String::new(), message_request: Some(m) };
    let mut answers = v1::server_reflection_client::ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter([
            ask(Req::ListServices(String::new())),
            ask(Req::FileContainingSymbol(LISTED[0].into())),
        ]))
        .await
        .unwrap()
        .into_inner();
    let Some(Resp::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, LISTED, "v1 lists what this port serves");
    let Some(Resp::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("the matching service's descriptor is served")
    };
    assert!(!files.file_descriptor_proto.is_empty());

    use v1alpha::server_reflection_request::MessageRequest as AlphaReq;
    use v1alpha::server_reflection_response::MessageResponse as AlphaResp;
    let mut answers =
        v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(AlphaReq::ListServices(String::new())),
            }]))
            .await
            .unwrap()
            .into_inner();
    let Some(AlphaResp::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, LISTED, "v1alpha lists the same");
}
