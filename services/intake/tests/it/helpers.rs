//! `spawn_app` and request builders for the intake tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::Backing;
use tonic::transport::Channel;

pub const ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000a1";

pub struct TestApp {
    pub client: IntakeServiceClient<Channel>,
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
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    spawn_with(peers, None, None).await
}

/// Intake with the real matching service (empty directory) and the other peers down.
pub async fn spawn_with_matching() -> TestApp {
    let mb = Backing::fresh().await;
    let ms = matching::config::Settings::new("127.0.0.1:0".parse().unwrap(), mb.common());
    let mapp = matching::startup::Application::build(ms).await.unwrap();
    let maddr = mapp.local_addr().to_string();
    let msd = Shutdown::new();
    tokio::spawn(mapp.run(msd.clone()));
    spawn_with([maddr, closed_addr().await, closed_addr().await], Some(msd), Some(mb)).await
}

async fn spawn_with(peers: [String; 3], matching_shutdown: Option<Shutdown>, matching_backing: Option<Backing>) -> TestApp {
    let backing = Backing::fresh().await;
    let mut settings = intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    settings.routing_poll_ms = 50;
    let app = intake::startup::Application::build(settings).await.expect("build");
    let addr = app.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let client = IntakeServiceClient::new(continuum_runtime::peer_channel(&addr.to_string()).unwrap());
    TestApp { client, shutdown, backing, matching_shutdown, matching_backing }
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
