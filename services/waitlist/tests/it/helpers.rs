//! `spawn_app`: builds the waitlist service on port 0 over a fresh backing store, on a manual clock, with a
//! test double of the referral peer and the real matching service (its own database), and returns a
//! connected client. `spawn_replicas` builds two waitlist services over the same backing store (same
//! database; same Redis when configured) and one matching. With `Options::intake_up` the real intake
//! service runs beside it (check-ins re-screen through it, and it decides who owns a client); otherwise a
//! test double of intake answers care-relationship questions from what the test recorded (`own`, and every
//! `enqueue_request`) and is down for everything else, as an intake that cannot re-screen.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use continuum_auth::Role;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::referral::v1 as referral_pb;
use continuum_proto::referral::v1::referral_service_server::{
    ReferralService, ReferralServiceServer,
};
use continuum_proto::waitlist::v1 as pb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use continuum_runtime::Shutdown;
use continuum_testkit::Backing;
pub use continuum_testkit::intake_double::own;
use continuum_testkit::{AuthedChannel, Bearer};
use continuum_vocab::time;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tonic_types::StatusExt;
use waitlist::clock::ManualClock;
use waitlist::holds::Holds;
use waitlist::store::Store;
use waitlist::workers::sweeper::Sweeper;

pub const ORG_A: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000a";
pub const ORG_B: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000b";

/// A fresh UUIDv7 string.
pub fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Where the manual clock starts: 2026-01-05 09:00 UTC.
pub fn start() -> DateTime<Utc> {
    time::from_ms(1_767_603_600_000)
}

/// The test double of the referral service: records every `CreateReferral` and answers with a referral,
/// idempotent on the key like the real one. Other methods are unimplemented.
#[derive(Clone, Debug, Default)]
pub struct FakeReferral {
    calls: Arc<Mutex<Vec<referral_pb::CreateReferralRequest>>>,
    ids: Arc<Mutex<HashMap<String, String>>>,
    refuse: Arc<AtomicBool>,
}

impl FakeReferral {
    /// Every `CreateReferral` received, in order.
    pub fn calls(&self) -> Vec<referral_pb::CreateReferralRequest> {
        self.calls.lock().unwrap().clone()
    }

    /// From now on refuse every referral (FAILED_PRECONDITION, like a provider missing from the directory).
    pub fn refuse(&self) {
        self.refuse.store(true, Ordering::SeqCst);
    }

    /// Serves this double on `listener` until `shutdown`.
    pub fn serve(&self, listener: TcpListener, shutdown: Shutdown) {
        let svc = ReferralServiceServer::new(self.clone());
        tokio::spawn(async move {
            let _ = Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    continuum_runtime::incoming(listener),
                    shutdown.cancelled_owned(),
                )
                .await;
        });
    }
}

#[tonic::async_trait]
impl ReferralService for FakeReferral {
    type WatchReferralsStream =
        tokio_stream::Empty<Result<referral_pb::WatchReferralsResponse, Status>>;

    async fn watch_referrals(
        &self,
        _: Request<referral_pb::WatchReferralsRequest>,
    ) -> Result<Response<Self::WatchReferralsStream>, Status> {
        Err(Status::unimplemented("test double"))
    }

    async fn create_referral(
        &self,
        req: Request<referral_pb::CreateReferralRequest>,
    ) -> Result<Response<referral_pb::CreateReferralResponse>, Status> {
        let r = req.into_inner();
        self.calls.lock().unwrap().push(r.clone());
        if self.refuse.load(Ordering::SeqCst) {
            let mut details = tonic_types::ErrorDetails::new();
            details.set_error_info(
                "PROVIDER_NOT_FOUND",
                "continuum.health",
                HashMap::<String, String>::new(),
            );
            return Err(Status::with_error_details(
                tonic::Code::FailedPrecondition,
                "no such provider",
                details,
            ));
        }
        let (rid, replayed) = {
            let mut ids = self.ids.lock().unwrap();
            match ids.get(&r.idempotency_key) {
                Some(existing) => (existing.clone(), true),
                None => {
                    let rid = id();
                    ids.insert(r.idempotency_key.clone(), rid.clone());
                    (rid, false)
                }
            }
        };
        Ok(Response::new(referral_pb::CreateReferralResponse {
            referral: Some(referral_pb::Referral {
                id: rid,
                client_id: r.client_id,
                intake_id: r.intake_id,
                referrer_organization_id: r.referrer_organization_id,
                provider_id: r.provider_id,
                status: referral_pb::ReferralStatus::Accepted as i32,
                urgency: r.urgency,
                ..Default::default()
            }),
            replayed,
        }))
    }

    async fn get_referral(
        &self,
        _: Request<referral_pb::GetReferralRequest>,
    ) -> Result<Response<referral_pb::GetReferralResponse>, Status> {
        Err(Status::unimplemented("test double"))
    }

    async fn list_referrals(
        &self,
        _: Request<referral_pb::ListReferralsRequest>,
    ) -> Result<Response<referral_pb::ListReferralsResponse>, Status> {
        Err(Status::unimplemented("test double"))
    }

    async fn transition_referral(
        &self,
        _: Request<referral_pb::TransitionReferralRequest>,
    ) -> Result<Response<referral_pb::TransitionReferralResponse>, Status> {
        Err(Status::unimplemented("test double"))
    }

    async fn get_handoff_packet(
        &self,
        _: Request<referral_pb::GetHandoffPacketRequest>,
    ) -> Result<Response<referral_pb::GetHandoffPacketResponse>, Status> {
        Err(Status::unimplemented("test double"))
    }

    async fn get_care_timeline(
        &self,
        _: Request<referral_pb::GetCareTimelineRequest>,
    ) -> Result<Response<referral_pb::GetCareTimelineResponse>, Status> {
        Err(Status::unimplemented("test double"))
    }
}

pub struct TestApp {
    /// Calls as a peer service (passes every role check, acts for any organization).
    pub client: WaitlistServiceClient<AuthedChannel>,
    pub addr: SocketAddr,
    pub shutdown: Shutdown,
    pub clock: Arc<ManualClock>,
    pub sweeper: Sweeper,
    pub holds: Holds,
    pub store: Store,
    pub referral: FakeReferral,
    pub referral_addr: SocketAddr,
    pub backing: Arc<Backing>,
    /// The real intake service, when started (`Options::intake_up`).
    pub intake: Option<IntakePeer>,
    /// Where the waitlist calls matching (the real matching service runs there once started).
    pub matching_addr: SocketAddr,
    /// The real matching service, when started (`Options::matching_up` or `start_matching`).
    pub matching: Option<MatchingPeer>,
    /// The bridge-program chooser of this app (tests run its background round with `fill_due`).
    pub bridges: waitlist::workers::bridge_filler::BridgeFiller,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// How to spawn.
pub struct Options {
    /// Start the referral double (false: its address refuses connections).
    pub referral_up: bool,
    /// Start the real intake service in-process, trusting the waitlist's service secret (false: the intake
    /// double answers care-relationship questions and is down for re-screens).
    pub intake_up: bool,
    /// Start the real matching service in-process (false: its address refuses connections, as with a
    /// matching service that is down, until `start_matching`).
    pub matching_up: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { referral_up: true, intake_up: false, matching_up: true }
    }
}

/// The real intake service running beside a test waitlist (its own database, the waitlist's secret).
pub struct IntakePeer {
    pub addr: SocketAddr,
    /// Keeps intake's data alive for the test.
    pub backing: Backing,
}

/// The real matching service running beside a test waitlist (its own database, the waitlist's secret).
pub struct MatchingPeer {
    pub addr: SocketAddr,
    /// Keeps matching's data alive for the test.
    pub backing: Backing,
}

/// Starts the real matching service on `addr` (port 0 picks one) on its own fresh backing store, trusting
/// the waitlist's service secret so the waitlist's service tokens (and test tokens) are accepted.
async fn spawn_matching(
    waitlist_backing: &Backing,
    addr: SocketAddr,
    shutdown: Shutdown,
) -> MatchingPeer {
    let backing = Backing::fresh().await;
    let mut common = backing.common();
    common.auth = waitlist_backing.common().auth;
    let settings = matching::config::Settings::new(addr, common);
    let app = matching::startup::Application::build(settings).await.expect("build matching");
    let addr = app.local_addr();
    tokio::spawn(app.run(shutdown));
    MatchingPeer { addr, backing }
}

/// An address where nothing listens (connections are refused).
async fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// Starts the real intake service on its own fresh backing store, trusting `auth` (the waitlist's
/// service secret) so the waitlist's service tokens are accepted; its own peers are down.
async fn spawn_intake(waitlist_backing: &Backing, shutdown: Shutdown) -> IntakePeer {
    let backing = Backing::fresh().await;
    let mut common = backing.common();
    common.auth = waitlist_backing.common().auth;
    let peers = [
        refused_addr().await.to_string(),
        refused_addr().await.to_string(),
        refused_addr().await.to_string(),
    ];
    let settings = intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, common);
    let app = intake::startup::Application::build(settings).await.expect("build intake");
    let addr = app.local_addr();
    tokio::spawn(app.run(shutdown));
    IntakePeer { addr, backing }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    let backing = Arc::new(Backing::fresh().await);
    let clock = ManualClock::new(start());
    spawn_on(backing, clock, opts, None).await
}

/// Two waitlist services over one backing store, one clock and one matching, each with its own referral
/// double.
pub async fn spawn_replicas() -> (TestApp, TestApp) {
    let backing = Arc::new(Backing::fresh().await);
    let clock = ManualClock::new(start());
    let a = spawn_on(backing.clone(), clock.clone(), Options::default(), None).await;
    let b = spawn_on(
        backing,
        clock,
        Options { matching_up: false, ..Options::default() },
        Some(a.matching_addr),
    )
    .await;
    (a, b)
}

async fn spawn_on(
    backing: Arc<Backing>,
    clock: Arc<ManualClock>,
    opts: Options,
    shared_matching: Option<SocketAddr>,
) -> TestApp {
    let shutdown = Shutdown::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let referral_addr = listener.local_addr().unwrap();
    let referral = FakeReferral::default();
    if opts.referral_up {
        referral.serve(listener, shutdown.clone());
    } else {
        // Nothing listens there any more: connections are refused, as with a referral service that is down.
        drop(listener);
    }
    let intake =
        if opts.intake_up { Some(spawn_intake(&backing, shutdown.clone()).await) } else { None };
    let matching = if opts.matching_up {
        Some(spawn_matching(&backing, "127.0.0.1:0".parse().unwrap(), shutdown.clone()).await)
    } else {
        None
    };
    let matching_addr = match (&matching, shared_matching) {
        (Some(m), _) => m.addr,
        (None, Some(addr)) => addr,
        (None, None) => refused_addr().await,
    };
    let mut settings = waitlist::config::Settings::new(
        "127.0.0.1:0".parse().unwrap(),
        referral_addr.to_string(),
        backing.common(),
    );
    settings.intake_addr = match &intake {
        Some(i) => i.addr.to_string(),
        None => continuum_testkit::intake_double::serve(shutdown.clone()).await.to_string(),
    };
    settings.matching_addr = matching_addr.to_string();
    // Expiry is driven by the tests through `sweeper.sweep_expired`; the background round never interferes.
    settings.sweep_interval_secs = 3600;
    let app = waitlist::startup::Application::build_with_clock(settings, clock.clone())
        .await
        .expect("build");
    let addr = app.local_addr();
    let sweeper = app.sweeper();
    let holds = app.holds().clone();
    let store = app.store().clone();
    let bridges = app.bridge_filler().expect("bridge filler");
    assert_eq!(holds.kind(), if backing.redis_url().is_some() { "redis" } else { "in-process" });
    tokio::spawn(app.run(shutdown.clone()));
    let token = backing.service_token(ORG_A);
    let client = WaitlistServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&addr.to_string()).unwrap(),
        Bearer::new(&token),
    );
    TestApp {
        client,
        addr,
        shutdown,
        clock,
        sweeper,
        holds,
        store,
        referral,
        referral_addr,
        backing,
        intake,
        matching_addr,
        matching,
        bridges,
    }
}

impl TestApp {
    /// The shared clock's time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        use waitlist::clock::Clock;
        self.clock.now()
    }

    /// A waitlist client calling as a person of `org` with `roles`.
    pub fn client_as(&self, org: &str, roles: &[Role]) -> WaitlistServiceClient<AuthedChannel> {
        self.client_with_token(&self.backing.token(org, roles))
    }

    /// A client sending `token`.
    pub fn client_with_token(&self, token: &str) -> WaitlistServiceClient<AuthedChannel> {
        let channel = continuum_runtime::peer_channel(&self.addr.to_string()).unwrap();
        WaitlistServiceClient::with_interceptor(channel, Bearer::new(token))
    }

    /// An intake client calling the in-process intake as an intake clerk, clinician and coordinator of
    /// `org` (tokens signed with the shared secret).
    pub fn intake_client(&self, org: &str) -> IntakeServiceClient<AuthedChannel> {
        let addr = self.intake.as_ref().expect("intake started").addr.to_string();
        let token =
            self.backing.token(org, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
        IntakeServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&addr).unwrap(),
            Bearer::new(&token),
        )
    }

    /// A waitlist client sending no credentials.
    pub fn anonymous_client(&self) -> WaitlistServiceClient<AuthedChannel> {
        WaitlistServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&self.addr.to_string()).unwrap(),
            Bearer::none(),
        )
    }

    /// Moves the shared clock forward.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// Starts the referral double at this app's referral address (after a test kept it down).
    pub async fn start_referral(&self) {
        let listener =
            TcpListener::bind(self.referral_addr).await.expect("rebinding the referral address");
        self.referral.serve(listener, self.shutdown.clone());
    }

    /// Starts the real matching service at this app's matching address (after a test kept it down).
    pub async fn start_matching(&mut self) {
        let peer = spawn_matching(&self.backing, self.matching_addr, self.shutdown.clone()).await;
        self.matching = Some(peer);
    }

    /// A matching client calling the in-process matching as a provider administrator of `org`.
    pub fn matching_client(
        &self,
        org: &str,
    ) -> continuum_proto::matching::v1::matching_service_client::MatchingServiceClient<AuthedChannel>
    {
        let token = self.backing.token(org, &[Role::ProviderAdmin, Role::Coordinator]);
        continuum_proto::matching::v1::matching_service_client::MatchingServiceClient::with_interceptor(
            continuum_runtime::peer_channel(&self.matching_addr.to_string()).unwrap(),
            Bearer::new(&token),
        )
    }

    /// A provider of `ORG_A` in matching's directory (accepting, no open slots), whose slots `ORG_A` opens.
    pub async fn provider(&self) -> String {
        self.add_provider(continuum_testkit::clinician(
            ORG_A,
            "Dr Waitlist",
            &[continuum_proto::common::v1::Modality::Cbt],
            0,
        ))
        .await
    }

    /// Adds `p` to matching's directory as `ORG_A`'s provider administrator; returns its id.
    pub async fn add_provider(&self, p: continuum_proto::matching::v1::Provider) -> String {
        self.matching_client(ORG_A)
            .upsert_provider(continuum_proto::matching::v1::UpsertProviderRequest {
                provider: Some(p),
                expected_version: 0,
            })
            .await
            .expect("create provider")
            .into_inner()
            .provider
            .unwrap()
            .id
    }

    /// Enqueues a valid entry for `providers` in `band`.
    pub async fn enqueue(&mut self, band: pb::Band, providers: &[&str]) -> pb::WaitlistEntry {
        let req = enqueue_request(band, providers);
        self.client.enqueue(req).await.expect("enqueue").into_inner().entry.unwrap()
    }

    pub async fn get(&mut self, entry_id: &str) -> pb::WaitlistEntry {
        self.client
            .get_entry(pb::GetEntryRequest { entry_id: entry_id.to_owned() })
            .await
            .expect("get entry")
            .into_inner()
            .entry
            .unwrap()
    }

    pub async fn open(&mut self, provider_id: &str, slots: i32) -> Vec<pb::Offer> {
        self.client
            .open_slots(pb::OpenSlotsRequest {
                provider_id: provider_id.to_owned(),
                slots,
                ..Default::default()
            })
            .await
            .expect("open slots")
            .into_inner()
            .offers
    }

    pub async fn respond(
        &mut self,
        offer_id: &str,
        accept: bool,
    ) -> Result<pb::RespondToOfferResponse, Status> {
        self.client
            .respond_to_offer(pb::RespondToOfferRequest {
                offer_id: offer_id.to_owned(),
                answer: Some(if accept {
                    pb::respond_to_offer_request::Answer::Accept(
                        pb::respond_to_offer_request::Accept { appointment_at: None },
                    )
                } else {
                    pb::respond_to_offer_request::Answer::Decline(
                        pb::respond_to_offer_request::Decline {},
                    )
                }),
            })
            .await
            .map(Response::into_inner)
    }

    pub async fn list(&mut self, req: pb::ListWaitlistRequest) -> pb::ListWaitlistResponse {
        self.client.list_waitlist(req).await.expect("list").into_inner()
    }
}

/// A valid enqueue request of `ORG_A` with a fresh key, client and intake (recorded as `ORG_A`'s with the
/// intake double).
pub fn enqueue_request(band: pb::Band, providers: &[&str]) -> pb::EnqueueRequest {
    let (client_id, intake_id) = (id(), id());
    own(ORG_A, &client_id, &intake_id);
    pb::EnqueueRequest {
        idempotency_key: format!("intake-{}", id()),
        client_id,
        intake_id,
        organization_id: ORG_A.into(),
        band: band as i32,
        risk_level: continuum_proto::common::v1::RiskLevel::Low as i32,
        candidate_provider_ids: providers.iter().map(|p| (*p).to_owned()).collect(),
        level_of_care: continuum_proto::common::v1::LevelOfCare::Outpatient as i32,
        age_group: continuum_proto::common::v1::AgeGroup::Adult as i32,
        bridge_needs: None,
    }
}

pub fn status_of(e: &pb::WaitlistEntry) -> pb::EntryStatus {
    pb::EntryStatus::try_from(e.status).unwrap()
}

pub fn offer_status(o: &pb::Offer) -> pb::OfferStatus {
    pb::OfferStatus::try_from(o.status).unwrap()
}

pub fn ids_of(entries: &[pb::WaitlistEntry]) -> Vec<String> {
    entries.iter().map(|e| e.id.clone()).collect()
}
