//! TLS on the external gRPC port: with a certificate configured, a client that verifies it gets through
//! and a plaintext client does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::{Backing, Bearer};

use crate::helpers::ORG_A;

#[tokio::test]
async fn tls_serves_verified_clients_only() {
    let backing = Backing::fresh().await;
    let certs = continuum_testkit::tls_cert_dir();
    let mut common = backing.common();
    common.tls_cert_file = Some(certs.join("localhost.crt"));
    common.tls_key_file = Some(certs.join("localhost.key"));
    let app = matching::startup::Application::build(matching::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        common,
    ))
    .await
    .unwrap();
    let port = app.local_addr().port();
    let shutdown = Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let token = backing.token(ORG_A, &[Role::ProviderAdmin]);

    let mut client_settings = backing.common();
    client_settings.tls_ca_file = Some(certs.join("localhost.crt"));
    let secure = client_settings.peer(&format!("localhost:{port}")).unwrap();
    let mut client = MatchingServiceClient::with_interceptor(secure, Bearer::new(&token));
    client
        .list_providers(pb::ListProvidersRequest::default())
        .await
        .expect("a verified TLS client gets through");

    let plain = continuum_runtime::peer_channel(&format!("127.0.0.1:{port}")).unwrap();
    let mut plain = MatchingServiceClient::with_interceptor(plain, Bearer::new(&token));
    assert!(
        plain.list_providers(pb::ListProvidersRequest::default()).await.is_err(),
        "plaintext is refused"
    );
    shutdown.cancel();

    let mut half = backing.common();
    half.tls_cert_file = Some(certs.join("localhost.crt"));
    let built = matching::startup::Application::build(matching::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        half,
    ))
    .await;
    let run = match built {
        Ok(app) => app.run(Shutdown::new()).await,
        Err(e) => Err(e),
    };
    assert!(run.is_err(), "a certificate without its key is a configuration error");
}
