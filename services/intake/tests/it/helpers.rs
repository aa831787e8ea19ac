//! `spawn_app` and request builders for the intake tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_runtime::Shutdown;
use continuum_auth::Role;
use continuum_testkit::{AuthedChannel, Backing, Bearer};

pub const ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000a1";

pub struct TestApp {
    pub client: IntakeServiceClient<AuthedChannel>,
    pub addr: String,
    pub shutdown: Shutdown,
    pub backing: Backing,
    pub matching_shutdown: Option<Shutdown>,
    pub matching_backing: Option<Backing>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(s) = &self.matching_shutdown {
            s.cancel();
        }
    }
}

/// A loopback address where nothing listens.
pub async fn closed_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a.to_string()
}

/// Intake with every peer down.
pub async fn spawn_app() -> TestApp {
    let backing = Backing::fresh().await;
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    spawn_with(backing, peers, None, None).await
}

/// Intake with the real matching service (empty directory) and the other peers down.
pub async fn spawn_with_matching() -> TestApp {
    let backing = Backing::fresh().await;
    let mb = Backing::fresh().await;
    // The peer trusts the same service secret as intake.
    let mut mcommon = mb.common();
    mcommon.auth = backing.common().auth;
    let ms = matching::config::Settings::new("127.0.0.1:0".parse().unwrap(), mcommon);
    let mapp = matching::startup::Application::build(ms).await.unwrap();
    let maddr = mapp.local_addr().to_string();
    let msd = Shutdown::new();
    tokio::spawn(mapp.run(msd.clone()));
    spawn_with(backing, [maddr, closed_addr().await, closed_addr().await], Some(msd), Some(mb)).await
}

async fn spawn_with(backing: Backing, peers: [String; 3], matching_shutdown: Option<Shutdown>, matching_backing: Option<Backing>) -> TestApp {
    let mut settings = intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    settings.routing_poll_ms = 50;
    let app = intake::startup::Application::build(settings).await.expect("build");
    let addr = app.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let token = backing.token(ORG, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
    let client = IntakeServiceClient::with_interceptor(continuum_runtime::peer_channel(&addr.to_string()).unwrap(), Bearer::new(&token));
    TestApp { client, addr: addr.to_string(), shutdown, backing, matching_shutdown, matching_backing }
}

impl TestApp {
    /// A client calling as `roles` of `org`.
    pub fn client_as(&self, org: &str, roles: &[Role]) -> IntakeServiceClient<AuthedChannel> {
        let token = self.backing.token(org, roles);
        IntakeServiceClient::with_interceptor(continuum_runtime::peer_channel(&self.addr).unwrap(), Bearer::new(&token))
    }

    /// A client sending `bearer` as is.
    pub fn client_with(&self, bearer: Bearer) -> IntakeServiceClient<AuthedChannel> {
        IntakeServiceClient::with_interceptor(continuum_runtime::peer_channel(&self.addr).unwrap(), bearer)
    }
}

/// A complete, valid adult submission with moderate depression.
pub fn submission(key: &str) -> pb::SubmitIntakeRequest {
    pb::SubmitIntakeRequest {
        idempotency_key: key.into(),
        organization_id: ORG.into(),
        submitting_clinician_id: "clin-7".into(),
        external_client_id: format!("ext-{key}"),
        client: Some(pb::ClientDetails {
            given_name: "Avery".into(),
            family_name: "Example".into(),
            date_of_birth: Some(common::Date { year: 1990, month: 4, day: 12 }),
            email: "avery@example.org".into(),
            phone: "+1 415 555 0100".into(),
            pronouns: "they/them".into(),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
        }),
        presenting_concerns_text: "low mood since spring".into(),
        screeners: Some(pb::Screeners {
            phq9: Some(pb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }),
            gad7: Some(pb::Gad7 { items: vec![1, 1, 1, 1, 0, 0, 0] }),
            cssrs: None,
        }),
        preferences: Some(pb::Preferences::default()),
        consent: Some(pb::Consent { share_with_referral_recipient: true }),
        clinician_reports_imminent_risk: false,
    }
}
