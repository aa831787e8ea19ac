//! `spawn_app`: builds the service on port 0 over a fresh backing store and returns a connected client.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::{Backing, Bearer};

pub const ORG_A: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000a";
pub const ORG_B: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000b";

pub use continuum_testkit::intake_double::own;

/// Records `client_id` as a client of `ORG_A` (the organization the tests call as), so intake would let
/// `ORG_A` record session feedback about it.
pub fn client_of_org_a(client_id: &str) -> &str {
    own(ORG_A, client_id, client_id);
    client_id
}

pub struct TestApp {
    pub client: MatchingServiceClient<continuum_testkit::AuthedChannel>,
    pub addr: std::net::SocketAddr,
    pub shutdown: Shutdown,
    pub backing: Backing,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with `adjust` applied to the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut matching::config::Settings)) -> TestApp {
    let backing = Backing::fresh().await;
    let shutdown = Shutdown::new();
    let mut settings =
        matching::config::Settings::new("127.0.0.1:0".parse().unwrap(), backing.common());
    adjust(&mut settings);
    // Intake's answers about clients come from the intake double (what `own` recorded).
    settings.intake_addr =
        continuum_testkit::intake_double::serve(shutdown.clone()).await.to_string();
    let app = matching::startup::Application::build(settings).await.expect("build");
    let addr = app.local_addr();
    tokio::spawn(app.run(shutdown.clone()));
    // Calls go in as a provider administrator, coordinator and clinician of ORG_A.
    let token = backing.token(ORG_A, &[Role::ProviderAdmin, Role::Coordinator, Role::Clinician]);
    let client = MatchingServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&addr.to_string()).unwrap(),
        Bearer::new(&token),
    );
    TestApp { client, addr, shutdown, backing }
}

/// A valid adult outpatient clinician in US-CA speaking English, open for self-pay video clients.
pub fn clinician(name: &str, slots: i32) -> pb::Provider {
    continuum_testkit::clinician(ORG_A, name, &[common::Modality::Cbt], slots)
}

pub fn adult_profile() -> pb::ClientProfile {
    pb::ClientProfile {
        level_of_care: common::LevelOfCare::Outpatient as i32,
        age_group: common::AgeGroup::Adult as i32,
        jurisdiction: "US-CA".into(),
        language: "en".into(),
        payment_option: common::PaymentOption::SelfPay as i32,
        ..Default::default()
    }
}

pub async fn create(app: &mut TestApp, p: pb::Provider) -> pb::Provider {
    app.client
        .upsert_provider(pb::UpsertProviderRequest { provider: Some(p), expected_version: 0 })
        .await
        .expect("create provider")
        .into_inner()
        .provider
        .unwrap()
}
