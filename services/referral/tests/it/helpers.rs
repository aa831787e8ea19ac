//! `spawn_app`: starts matching (own backing store) and referral (pointed at it) on port 0 and returns
//! connected clients, plus builders for valid requests. Matching can be stopped and restarted on the same
//! address to test the outbox.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1 as pb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::{AuthedChannel, Backing, Bearer};
use tokio::task::JoinHandle;

pub const REFERRER: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000a";
pub const RECIPIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000b";
pub const OTHER_ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000c";
pub const CLIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c1";
pub const INTAKE: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000d1";

pub use continuum_testkit::intake_double::own;

/// A running matching service.
pub struct Matching {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Matching {
    /// Builds and starts matching on `addr` over `backing`, verifying tokens with `auth` (the referral
    /// backing's development secret, so both services trust the same tokens).
    async fn start(
        backing: &Backing,
        auth: continuum_auth::AuthSettings,
        addr: SocketAddr,
    ) -> Matching {
        let mut common = backing.common();
        common.auth = auth;
        let settings = matching::config::Settings::new(addr, common);
        let app = matching::startup::Application::build(settings).await.expect("build matching");
        let addr = app.local_addr();
        let shutdown = Shutdown::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Matching { addr, shutdown, task }
    }

    /// Stops matching and waits until its listener is closed.
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("matching task").expect("matching stopped cleanly");
    }
}

pub struct TestApp {
    /// Calls as a peer service acting for a user of the referring organization.
    pub client: ReferralServiceClient<AuthedChannel>,
    /// Calls matching as a provider administrator of the recipient organization.
    pub matching_client: MatchingServiceClient<AuthedChannel>,
    pub addr: SocketAddr,
    pub matching: Option<Matching>,
    pub matching_addr: SocketAddr,
    pub store: referral::store::Store,
    /// The deadline sweeper of the referral under test (call `sweep` with a chosen time).
    pub deadlines: referral::workers::deadlines::Deadlines,
    pub shutdown: Shutdown,
    pub backing: Backing,
    pub matching_backing: Backing,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(m) = &self.matching {
            m.shutdown.cancel();
        }
    }
}

pub async fn spawn_app() -> TestApp {
    let backing = Backing::fresh().await;
    let matching_backing = Backing::fresh().await;
    let m =
        Matching::start(&matching_backing, backing.common().auth, "127.0.0.1:0".parse().unwrap())
            .await;
    let matching_addr = m.addr;

    // The intake double answers who owns a client (the referrer owns CLIENT's INTAKE); handoff reads are
    // unavailable there (the end-to-end tests read real packets). The waitlist is down.
    let shutdown = Shutdown::new();
    let intake = continuum_testkit::intake_double::serve(shutdown.clone()).await;
    own(REFERRER, CLIENT, INTAKE);
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let settings = referral::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        matching_addr.to_string(),
        backing.common(),
    )
    .with_intake_addr(intake.to_string())
    .with_waitlist_addr(closed.to_string());
    let app = referral::startup::Application::build(settings).await.expect("build referral");
    let addr = app.local_addr();
    let store = app.store().clone();
    let deadlines = app.deadlines();
    tokio::spawn(app.run(shutdown.clone()));

    let client = ReferralServiceClient::with_interceptor(
        channel(addr),
        Bearer::new(&backing.service_token(REFERRER)),
    );
    let admin =
        backing.token(RECIPIENT, &[Role::ProviderAdmin, Role::Coordinator, Role::Clinician]);
    let matching_client =
        MatchingServiceClient::with_interceptor(channel(matching_addr), Bearer::new(&admin));
    TestApp {
        client,
        matching_client,
        addr,
        matching: Some(m),
        matching_addr,
        store,
        deadlines,
        shutdown,
        backing,
        matching_backing,
    }
}

fn channel(addr: SocketAddr) -> tonic::transport::Channel {
    continuum_runtime::peer_channel(&addr.to_string()).unwrap()
}

impl TestApp {
    /// The first page of [`REFERRER`]'s referrals.
    pub async fn referrers_referrals(&mut self) -> Vec<pb::Referral> {
        let req =
            pb::ListReferralsRequest { organization_id: REFERRER.into(), ..Default::default() };
        self.client.list_referrals(req).await.unwrap().into_inner().referrals
    }

    /// Stops matching (referral keeps running).
    pub async fn stop_matching(&mut self) {
        if let Some(m) = self.matching.take() {
            m.stop().await;
        }
    }

    /// Starts a new matching on the address and backing store of the first one.
    pub async fn restart_matching(&mut self) {
        assert!(self.matching.is_none(), "matching is still running");
        self.matching = Some(
            Matching::start(&self.matching_backing, self.backing.common().auth, self.matching_addr)
                .await,
        );
    }

    /// A referral client calling as a person of `org` with `roles`.
    pub fn client_as(&self, org: &str, roles: &[Role]) -> ReferralServiceClient<AuthedChannel> {
        ReferralServiceClient::with_interceptor(
            channel(self.addr),
            Bearer::new(&self.backing.token(org, roles)),
        )
    }

    /// A referral client sending a service token of the peer service `service` acting for `org`.
    pub fn client_of_peer(&self, service: &str, org: &str) -> ReferralServiceClient<AuthedChannel> {
        ReferralServiceClient::with_interceptor(
            channel(self.addr),
            Bearer::new(&self.backing.service_token_of(service, org)),
        )
    }

    /// A referral client sending no credentials.
    pub fn anonymous_client(&self) -> ReferralServiceClient<AuthedChannel> {
        ReferralServiceClient::with_interceptor(channel(self.addr), Bearer::none())
    }

    /// Creates a provider of the recipient organization with `slots` open slots.
    pub async fn provider(&mut self, slots: i32) -> mpb::Provider {
        self.matching_client
            .upsert_provider(mpb::UpsertProviderRequest {
                provider: Some(clinician("Dr R", slots)),
                expected_version: 0,
            })
            .await
            .expect("create provider")
            .into_inner()
            .provider
            .unwrap()
    }

    pub async fn open_slots(&mut self, provider_id: &str) -> i32 {
        self.matching_client
            .get_provider(mpb::GetProviderRequest { provider_id: provider_id.to_owned() })
            .await
            .expect("get provider")
            .into_inner()
            .provider
            .unwrap()
            .open_slots
    }

    /// Polls matching for up to `within` until the provider has `slots` open slots.
    pub async fn wait_for_slots(
        &mut self,
        provider_id: &str,
        slots: i32,
        within: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self
                .matching_client
                .get_provider(mpb::GetProviderRequest { provider_id: provider_id.to_owned() })
                .await
                .ok()
                .and_then(|r| r.into_inner().provider)
                .map(|p| p.open_slots);
            if got == Some(slots) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the outbox for up to `within` until no row waits for delivery. The worker records a delivery
    /// only after matching has applied it, so a slot can be back a moment before its row is done.
    pub async fn wait_for_empty_outbox(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.store.outbox_pending().await.unwrap() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates a referral to `provider_id` under `key`.
    pub async fn create(&mut self, key: &str, provider_id: &str) -> pb::Referral {
        self.client
            .create_referral(create_request(key, provider_id))
            .await
            .expect("create referral")
            .into_inner()
            .referral
            .unwrap()
    }

    /// A referral client calling as a peer service acting for a user of `org`.
    pub fn service_for(&self, org: &str) -> ReferralServiceClient<AuthedChannel> {
        ReferralServiceClient::with_interceptor(
            channel(self.addr),
            Bearer::new(&self.backing.service_token(org)),
        )
    }

    /// Applies `action` as `role` at the referral's current version: the recipient or the referrer through
    /// a peer service acting for that side's organization, the coordinator as a coordinator of the
    /// referrer's organization (the acting side comes from the caller, never from the request).
    pub async fn act(
        &mut self,
        r: &pb::Referral,
        action: pb::ReferralAction,
        role: pb::ActorRole,
    ) -> Result<pb::Referral, tonic::Status> {
        let req = action_request(r, action);
        let reply = match role {
            pb::ActorRole::Coordinator => {
                self.client_as(REFERRER, &[Role::Coordinator]).transition_referral(req).await
            }
            _ => self.service_for(org_of(role)).transition_referral(req).await,
        };
        reply.map(|x| x.into_inner().referral.unwrap())
    }

    pub async fn get(&mut self, id: &str) -> pb::Referral {
        self.client
            .get_referral(pb::GetReferralRequest { referral_id: id.to_owned() })
            .await
            .expect("get")
            .into_inner()
            .referral
            .unwrap()
    }
}

/// A valid adult outpatient clinician of the recipient organization.
pub fn clinician(name: &str, slots: i32) -> mpb::Provider {
    continuum_testkit::clinician(RECIPIENT, name, &[common::Modality::Cbt], slots)
}

pub fn create_request(key: &str, provider_id: &str) -> pb::CreateReferralRequest {
    pb::CreateReferralRequest {
        idempotency_key: key.into(),
        client_id: CLIENT.into(),
        intake_id: INTAKE.into(),
        referrer_organization_id: REFERRER.into(),
        provider_id: provider_id.into(),
        urgency: common::Urgency::Routine as i32,
        allow_overbook: false,
        scheduled_at: None,
        alternative_provider_ids: vec![],
        first_open_alternative: false,
        capacity_hold_key: String::new(),
    }
}

/// The organization that speaks for `role` on referrals between REFERRER and RECIPIENT.
pub fn org_of(role: pb::ActorRole) -> &'static str {
    match role {
        pb::ActorRole::Recipient => RECIPIENT,
        _ => REFERRER,
    }
}

/// A request applying `action` to `r` at its current version (the caller is whoever sends it).
pub fn action_request(
    r: &pb::Referral,
    action: pb::ReferralAction,
) -> pb::TransitionReferralRequest {
    continuum_testkit::requests::transition(&r.id, r.version, action)
}

pub fn status(r: &pb::Referral) -> pb::ReferralStatus {
    pb::ReferralStatus::try_from(r.status).unwrap()
}
