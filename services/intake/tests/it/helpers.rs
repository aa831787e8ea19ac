//! `spawn_app` and request builders for the intake tests.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::{AuthedChannel, Backing, Bearer};

pub const ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000a1";

pub struct TestApp {
    pub client: IntakeServiceClient<AuthedChannel>,
    pub addr: String,
    pub shutdown: Shutdown,
    pub backing: Backing,
    pub matching_shutdown: Option<Shutdown>,
    pub matching_backing: Option<Backing>,
    pub matching_addr: Option<String>,
    pub referral_addr: Option<String>,
    pub peer_shutdowns: Vec<Shutdown>,
    pub peer_backings: Vec<Backing>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(s) = &self.matching_shutdown {
            s.cancel();
        }
        for s in &self.peer_shutdowns {
            s.cancel();
        }
    }
}

impl TestApp {
    /// The intakes of the test organization, as ListIntakes answers them (first page).
    pub async fn own_intakes(&mut self) -> Vec<pb::Intake> {
        self.client
            .list_intakes(pb::ListIntakesRequest {
                organization_id: ORG.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .intakes
    }
}

/// The organization whose providers the scenario directories list.
pub const PROVIDER_ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";

/// A TCP relay on loopback to `upstream` that passes every byte toward it at once and holds back every
/// byte of its answers until `true` is sent on the returned sender: a call made through it lands while
/// its caller hears nothing back. Its address and that sender.
pub async fn answers_held_back(upstream: &str) -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (release, released) = tokio::sync::watch::channel(false);
    let upstream = upstream.to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_server, mut to_server) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
            });
            let mut released = released.clone();
            tokio::spawn(async move {
                if released.wait_for(|open| *open).await.is_ok() {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                }
            });
        }
    });
    (addr, release)
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

/// The real matching service on its own fresh backing (empty directory), trusting the service secret of
/// `auth`: its address, its shutdown and its backing.
pub async fn spawn_matching(auth: &Backing) -> (String, Shutdown, Backing) {
    let mb = Backing::fresh().await;
    let mut mcommon = mb.common();
    mcommon.auth = auth.common().auth;
    let ms = matching::config::Settings::new("127.0.0.1:0".parse().unwrap(), mcommon);
    let mapp = matching::startup::Application::build(ms).await.unwrap();
    let maddr = mapp.local_addr().to_string();
    let msd = Shutdown::new();
    tokio::spawn(mapp.run(msd.clone()));
    (maddr, msd, mb)
}

/// Intake with the real matching service (empty directory) and the other peers down.
pub async fn spawn_with_matching() -> TestApp {
    let backing = Backing::fresh().await;
    // The peer trusts the same service secret as intake.
    let (maddr, msd, mb) = spawn_matching(&backing).await;
    let mut app = spawn_with(
        backing,
        [maddr.clone(), closed_addr().await, closed_addr().await],
        Some(msd),
        Some(mb),
    )
    .await;
    app.matching_addr = Some(maddr);
    app
}

/// The referral service in-process on a fresh backing of its own, sharing `auth`'s auth secret, calling
/// matching at `matching_addr` and intake at `intake_addr`: its address, shutdown and backing.
pub async fn spawn_referral(
    auth: &Backing,
    matching_addr: &str,
    intake_addr: &str,
) -> (String, Shutdown, Backing) {
    let rb = Backing::fresh().await;
    let mut rcommon = rb.common();
    rcommon.auth = auth.common().auth;
    let mut rsettings = referral::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        matching_addr.to_owned(),
        rcommon,
    );
    rsettings.intake_addr = intake_addr.to_owned();
    let rapp = referral::startup::Application::build(rsettings).await.unwrap();
    let raddr = rapp.local_addr().to_string();
    let rsd = Shutdown::new();
    tokio::spawn(rapp.run(rsd.clone()));
    (raddr, rsd, rb)
}

/// Intake with the real matching and referral services in-process (sharing intake's auth secret); the
/// waitlist is down, so a client that would be waitlisted stays pending.
pub async fn spawn_with_matching_and_referral() -> TestApp {
    let backing = Backing::fresh().await;
    let (maddr, msd, mb) = spawn_matching(&backing).await;
    // Referral asks intake whether the referring organization owns the client: intake's address is picked
    // before either is built. The port was free when picked and then let go, so a test running beside
    // this one can take it meanwhile (an outgoing connection's ephemeral port): then both are built again
    // on another.
    let mut taken = 0;
    loop {
        let intake_addr = closed_addr().await;
        let (raddr, rsd, rb) = spawn_referral(&backing, &maddr, &intake_addr).await;
        let peers = [maddr.clone(), raddr.clone(), closed_addr().await];
        match build(intake_addr.parse().unwrap(), &backing, peers).await {
            Ok(built) => {
                let mut app = start(built, backing, Some(msd), Some(mb));
                app.matching_addr = Some(maddr);
                app.referral_addr = Some(raddr);
                app.peer_shutdowns.push(rsd);
                app.peer_backings.push(rb);
                return app;
            }
            Err(e) if taken < 5 => {
                taken += 1;
                rsd.cancel();
                eprintln!("intake's picked address was taken ({e:#}); picking another");
            }
            Err(e) => panic!("build: {e:?}"),
        }
    }
}

async fn spawn_with(
    backing: Backing,
    peers: [String; 3],
    matching_shutdown: Option<Shutdown>,
    matching_backing: Option<Backing>,
) -> TestApp {
    spawn_on("127.0.0.1:0".parse().unwrap(), backing, peers, matching_shutdown, matching_backing)
        .await
}

async fn spawn_on(
    listen: std::net::SocketAddr,
    backing: Backing,
    peers: [String; 3],
    matching_shutdown: Option<Shutdown>,
    matching_backing: Option<Backing>,
) -> TestApp {
    let built = build(listen, &backing, peers).await.expect("build");
    start(built, backing, matching_shutdown, matching_backing)
}

/// Intake on `listen`, calling `peers`, on `backing` (not started).
async fn build(
    listen: std::net::SocketAddr,
    backing: &Backing,
    peers: [String; 3],
) -> anyhow::Result<intake::startup::Application> {
    let mut settings = intake::config::Settings::new(listen, peers, backing.common());
    settings.routing_poll_ms = 50;
    intake::startup::Application::build(settings).await
}

/// Starts a built intake and a client calling it as the organization's clerk, clinician and coordinator.
fn start(
    app: intake::startup::Application,
    backing: Backing,
    matching_shutdown: Option<Shutdown>,
    matching_backing: Option<Backing>,
) -> TestApp {
    let addr = app.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(app.run(shutdown.clone()));
    let token = backing.token(ORG, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
    let client = IntakeServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&addr.to_string()).unwrap(),
        Bearer::new(&token),
    );
    TestApp {
        client,
        addr: addr.to_string(),
        shutdown,
        backing,
        matching_shutdown,
        matching_backing,
        matching_addr: None,
        referral_addr: None,
        peer_shutdowns: Vec::new(),
        peer_backings: Vec::new(),
    }
}

impl TestApp {
    /// A client calling as `roles` of `org`.
    pub fn client_as(&self, org: &str, roles: &[Role]) -> IntakeServiceClient<AuthedChannel> {
        let token = self.backing.token(org, roles);
        IntakeServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&self.addr).unwrap(),
            Bearer::new(&token),
        )
    }

    /// A matching client acting as the provider organization's admin.
    pub fn matching_admin(&self) -> MatchingServiceClient<AuthedChannel> {
        Self::matching_admin_at(&self.backing, self.matching_addr.as_deref().unwrap())
    }

    /// A client of matching at `addr` acting as the provider organization's admin (tokens of `auth`).
    pub fn matching_admin_at(auth: &Backing, addr: &str) -> MatchingServiceClient<AuthedChannel> {
        let token = auth.token(PROVIDER_ORG, &[Role::ProviderAdmin]);
        MatchingServiceClient::with_interceptor(
            continuum_runtime::peer_channel(addr).unwrap(),
            Bearer::new(&token),
        )
    }

    /// A referral client acting as the clinic's coordinator.
    pub fn referral_coordinator(&self) -> ReferralServiceClient<AuthedChannel> {
        let token = self.backing.token(ORG, &[Role::Coordinator, Role::Clinician]);
        ReferralServiceClient::with_interceptor(
            continuum_runtime::peer_channel(self.referral_addr.as_deref().unwrap()).unwrap(),
            Bearer::new(&token),
        )
    }

    /// Adds a provider to the directory and returns its id.
    pub async fn add_provider(&self, p: mpb::Provider) -> String {
        add_provider_via(self.matching_admin(), p).await
    }

    /// A client sending `bearer` as is.
    pub fn client_with(&self, bearer: Bearer) -> IntakeServiceClient<AuthedChannel> {
        IntakeServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&self.addr).unwrap(),
            bearer,
        )
    }
}

/// The intake store over `backing`'s database (as the service opens it), for tests that drive a worker
/// with a chosen "now" or read what a call left behind.
pub async fn open_store(backing: &Backing) -> intake::store::Store {
    store_over(backing, open_db(backing).await)
}

/// Intake's database connection on `backing` (migrated).
pub async fn open_db(backing: &Backing) -> sea_orm::DatabaseConnection {
    continuum_db::connect_and_migrate::<intake::store::Migrator>("intake", &backing.common().db())
        .await
        .unwrap()
}

/// The intake store over `db` with `backing`'s field keys.
pub fn store_over(backing: &Backing, db: sea_orm::DatabaseConnection) -> intake::store::Store {
    let common = backing.common();
    let cipher = continuum_auth::crypto::FieldCipher::from_settings_or_file(
        &common.crypto,
        &common.data_dir.join("intake.keys"),
    )
    .unwrap();
    intake::store::Store::new(db, std::sync::Arc::new(cipher))
}

/// Adds `p` to the directory through `matching` and returns its id.
pub async fn add_provider_via(
    mut matching: MatchingServiceClient<AuthedChannel>,
    p: mpb::Provider,
) -> String {
    matching
        .upsert_provider(mpb::UpsertProviderRequest { provider: Some(p), expected_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap()
        .id
}

/// `message` as the auth layer hands it to the handler: from a clinician of `org`.
pub fn as_clinician<T>(message: T, org: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.extensions_mut().insert(continuum_auth::Caller {
        user_id: "clin-9".into(),
        organization_id: org.into(),
        roles: vec![Role::Clinician],
        acting_for: None,
    });
    r
}

/// The handler over `store`, without the auth layer (the caller is attached by hand: [`as_clinician`]),
/// calling matching, referral and waitlist at `peers`.
pub async fn direct_api(
    backing: &Backing,
    store: intake::store::Store,
    peers: [String; 3],
) -> intake::grpc::IntakeApi {
    let settings =
        intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    let peers = intake::peers::Peers::connect(&settings).unwrap();
    let referrals = intake::peers::referral::ReferralPeer::new(peers.referral.clone());
    let rules = std::sync::Arc::new(intake::domain::Rules::embedded().unwrap());
    let router = router_with(store.clone(), peers, rules.clone());
    intake::grpc::IntakeApi::new(intake::app::App::new(store, router, rules, referrals))
}

/// A router over `store` calling matching, referral and waitlist at `peers`, for tests that run a routing
/// attempt themselves.
pub fn router_over(
    backing: &Backing,
    store: intake::store::Store,
    peers: [String; 3],
) -> intake::app::routing::Router {
    let settings =
        intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    let peers = intake::peers::Peers::connect(&settings).unwrap();
    let rules = std::sync::Arc::new(intake::domain::Rules::embedded().unwrap());
    router_with(store, peers, rules)
}

fn router_with(
    store: intake::store::Store,
    peers: intake::peers::Peers,
    rules: std::sync::Arc<intake::domain::Rules>,
) -> intake::app::routing::Router {
    intake::app::routing::Router::new(store, peers, rules, std::time::Duration::from_secs(1))
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
            ..Default::default()
        }),
        preferences: Some(pb::Preferences::default()),
        consent: Some(pb::Consent { share_with_referral_recipient: true }),
        clinician_reports_imminent_risk: false,
        ..Default::default()
    }
}

/// An accepting adult outpatient clinician of the provider organization in US-CA, English, self-pay, video,
/// with `modalities` and `slots` open slots.
pub fn clinician(name: &str, modalities: &[common::Modality], slots: i32) -> mpb::Provider {
    continuum_testkit::clinician(PROVIDER_ORG, name, modalities, slots)
}

/// A PCL-5 with the given total (items filled from the first, 4 at most each).
pub fn pcl5(total: i32) -> pb::Pcl5 {
    let mut items = vec![0; 20];
    let mut left = total;
    for x in items.iter_mut() {
        let take = left.min(4);
        *x = take;
        left -= take;
    }
    pb::Pcl5 { items }
}

/// Another intake replica on `app`'s database, sharing nothing else with it (its own in-process cache,
/// no peers): what it knows of earlier submissions it learns from the database. Cancel the shutdown when
/// done.
pub async fn another_replica(app: &TestApp) -> (IntakeServiceClient<AuthedChannel>, Shutdown) {
    let mut common = app.backing.common();
    common.redis_url = None;
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    let settings = intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, common);
    let replica = intake::startup::Application::build(settings).await.expect("build");
    let addr = replica.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(replica.run(shutdown.clone()));
    let token = app.backing.token(ORG, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
    let client = IntakeServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&addr.to_string()).unwrap(),
        Bearer::new(&token),
    );
    (client, shutdown)
}
