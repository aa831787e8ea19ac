//! Starts and stops the four service processes of one test stack.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use continuum_auth::Role;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use continuum_testkit::{AuthedChannel, Backing, Bearer};
use tonic::transport::Channel;

/// The referring clinic of the flow tests.
pub const CLINIC: &str = "0190d5a0-0000-7000-8000-0000000000c1";
/// The organization whose clinicians take referrals.
pub const PROVIDER_ORG: &str = "0190d5a0-0000-7000-8000-0000000000c2";
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The services, in start order.
pub const SERVICES: [&str; 4] = ["matching", "referral", "waitlist", "intake"];

/// One running stack.
pub struct Stack {
    pub backing: Backing,
    pub addrs: HashMap<&'static str, String>,
    procs: HashMap<&'static str, Child>,
    log_dir: PathBuf,
    extra_env: Vec<(String, String)>,
    /// Where each service serves `/metrics`.
    pub metrics: HashMap<&'static str, String>,
}

/// `n` distinct free loopback addresses for processes the test starts.
///
/// A port is picked here and bound by a child process later, so something else can take it in between.
/// Ports the kernel hands out on its own (`bind` to port 0, and the local port of every outgoing
/// connection, of which the tests make many: PostgreSQL, Redis, the services' peer calls) come from its
/// ephemeral range, so a port picked there can be taken by any connection in that gap; a run failed on
/// that ("Address already in use" at a service's start). These ports come from the range just below it
/// instead, which only an explicit bind uses. One cursor per test process walks that range from an offset
/// of its process id, so two stacks of one test binary never pick the same port, and each port is checked
/// free by binding it (all are held until every port is picked, so none repeats within the call).
pub fn free_addrs(n: usize) -> Vec<std::net::SocketAddr> {
    use std::sync::Mutex;
    static CURSOR: Mutex<Option<u16>> = Mutex::new(None);
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    // The range below the ephemeral one: 10,000 ports above the well-known and registered ones people run
    // servers on by hand (5432, 6379, 8080, ...); at least 1,024 ports whatever the kernel's setting.
    let high = ephemeral_low.max(11_024);
    let low = high - 10_000;
    let span = u32::from(high - low);
    let mut cursor = CURSOR.lock().unwrap();
    let mut next = cursor.unwrap_or_else(|| low + (std::process::id() % span) as u16);
    let mut held = Vec::with_capacity(n);
    let mut tried = 0;
    while held.len() < n {
        assert!(tried < span, "no free loopback port in {low}..{high}");
        tried += 1;
        let port = next;
        next = if next + 1 >= high { low } else { next + 1 };
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    *cursor = Some(next);
    held.iter().map(|l| l.local_addr().unwrap()).collect()
}

impl Stack {
    /// Starts all four services and waits until each reports SERVING.
    pub async fn start() -> Stack {
        Self::start_with(Vec::new()).await
    }

    /// Like [`Stack::start`], with extra environment variables for every process.
    pub async fn start_with(extra_env: Vec<(String, String)>) -> Stack {
        Self::start_only(&SERVICES, extra_env).await
    }

    /// Starts only `services` (the others' addresses are reserved, nothing listens there), with extra
    /// environment variables.
    pub async fn start_only(services: &[&'static str], extra_env: Vec<(String, String)>) -> Stack {
        let backing = Backing::fresh().await;
        let mut free = free_addrs(2 * SERVICES.len()).into_iter();
        let mut addrs = HashMap::new();
        let mut metrics = HashMap::new();
        for s in SERVICES {
            addrs.insert(s, free.next().unwrap().to_string());
            metrics.insert(s, free.next().unwrap().to_string());
        }
        let log_dir = backing.data_dir().join("logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut stack =
            Stack { backing, addrs, procs: HashMap::new(), log_dir, extra_env, metrics };
        for s in services {
            stack.start_service(s).await;
        }
        stack
    }

    /// Starts (or restarts) one service process and waits for SERVING.
    pub async fn start_service(&mut self, service: &'static str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{service}.log")))
            .unwrap();
        let metrics_addr = self.metrics[service].clone();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_continuum"));
        cmd.arg("serve")
            .arg(service)
            .env_clear()
            .env("CONTINUUM_LISTEN_ADDR", &self.addrs[service])
            .env("CONTINUUM_INTAKE_ADDR", &self.addrs["intake"])
            .env("CONTINUUM_MATCHING_ADDR", &self.addrs["matching"])
            .env("CONTINUUM_REFERRAL_ADDR", &self.addrs["referral"])
            .env("CONTINUUM_WAITLIST_ADDR", &self.addrs["waitlist"])
            .env("CONTINUUM_ROUTING_POLL_MS", "100")
            .env("CONTINUUM_FOLLOWUP_INTERVAL_SECS", "1")
            .env("CONTINUUM_ROUTING_MAX_BACKOFF_SECS", "1")
            .env("CONTINUUM_SHUTDOWN_GRACE_SECS", "2")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("CONTINUUM_METRICS_ADDR", &metrics_addr)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (k, v) in self.backing.env().into_iter().chain(self.extra_env.iter().cloned()) {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawning a service process");
        self.procs.insert(service, child);
        self.wait_serving(service).await;
    }

    /// Starts the HTTP gateway (`continuum serve gateway`) in front of the four services, on a free port, and
    /// waits until its `/healthz` says all four are serving; returns its address.
    pub async fn start_gateway(&mut self) -> String {
        self.start_gateway_named("gateway").await
    }

    /// Starts one more gateway replica, known as `name` (its process and log), sharing the backing's Redis
    /// (when there is one) for console sessions, like [`Stack::start_gateway`].
    pub async fn start_gateway_named(&mut self, name: &'static str) -> String {
        let addr = free_addrs(1).remove(0).to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{name}.log")))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_continuum"));
        cmd.arg("serve")
            .arg("gateway")
            .env_clear()
            .env("CONTINUUM_LISTEN_ADDR", &addr)
            .env("CONTINUUM_INTAKE_ADDR", &self.addrs["intake"])
            .env("CONTINUUM_MATCHING_ADDR", &self.addrs["matching"])
            .env("CONTINUUM_REFERRAL_ADDR", &self.addrs["referral"])
            .env("CONTINUUM_WAITLIST_ADDR", &self.addrs["waitlist"])
            .env("CONTINUUM_SHUTDOWN_GRACE_SECS", "2")
            .env("CONTINUUM_METRICS_ADDR", "off")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        // Only what the gateway uses of the backing: the Redis of console sessions, never the database.
        for (k, v) in self.backing.env() {
            if k == "CONTINUUM_REDIS_URL" || k == "CONTINUUM_CACHE_NAMESPACE" {
                cmd.env(k, v);
            }
        }
        self.procs.insert(name, cmd.spawn().expect("spawning the gateway"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.procs.get_mut(name)
                && let Some(status) = child.try_wait().unwrap()
            {
                panic!("the gateway exited with {status}; log:\n{}", self.log(name));
            }
            if http(&addr, "GET", "/healthz", &[], b"").await.is_some_and(|r| r.status == 200) {
                return addr;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not become ready; log:\n{}",
                self.log(name)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops one service process (SIGTERM, then SIGKILL if it does not exit) and waits until it is gone.
    pub async fn stop_service(&mut self, service: &'static str) {
        if let Some(mut child) = self.procs.remove(service) {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn wait_serving(&mut self, service: &'static str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = self.addrs[service].clone();
        loop {
            if let Some(child) = self.procs.get_mut(service)
                && let Some(status) = child.try_wait().unwrap()
            {
                panic!(
                    "{service} exited with {status} during start-up; log:\n{}",
                    self.log(service)
                );
            }
            if let Ok(ch) = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await
            {
                let mut h = HealthClient::new(ch);
                if let Ok(r) =
                    h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await
                    && r.into_inner().status == ServingStatus::Serving as i32
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{service} did not become SERVING; log:\n{}",
                self.log(service)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The captured log of one service.
    pub fn log(&self, service: &str) -> String {
        std::fs::read_to_string(self.log_dir.join(format!("{service}.log"))).unwrap_or_default()
    }

    /// A channel to `service` calling as `roles` of `org`.
    pub fn channel_as(&self, service: &str, org: &str, roles: &[Role]) -> AuthedChannel {
        let channel = continuum_runtime::peer_channel(&self.addrs[service]).unwrap();
        tonic::service::interceptor::InterceptedService::new(
            channel,
            Bearer::new(&self.backing.token(org, roles)),
        )
    }

    /// A channel to `service` calling with a validly signed token of `org` that is not registered (an
    /// organization this deployment does not serve, unless registered otherwise).
    pub fn channel_unregistered(&self, service: &str, org: &str, roles: &[Role]) -> AuthedChannel {
        let channel = continuum_runtime::peer_channel(&self.addrs[service]).unwrap();
        tonic::service::interceptor::InterceptedService::new(
            channel,
            Bearer::new(&self.backing.unregistered_token(org, roles)),
        )
    }

    /// A channel to `service` calling as a peer service acting for a user of `org` (what another
    /// Continuum service sends on that user's behalf).
    pub fn channel_as_service(&self, service: &str, org: &str) -> AuthedChannel {
        let channel = continuum_runtime::peer_channel(&self.addrs[service]).unwrap();
        tonic::service::interceptor::InterceptedService::new(
            channel,
            Bearer::new(&self.backing.service_token(org)),
        )
    }

    /// Intake, as the clinic's intake clerk, clinician and coordinator.
    pub fn intake(&self) -> IntakeServiceClient<AuthedChannel> {
        IntakeServiceClient::new(self.channel_as(
            "intake",
            CLINIC,
            &[Role::IntakeClerk, Role::Clinician, Role::Coordinator],
        ))
    }

    /// Matching, as the provider organization's administrator.
    pub fn matching(&self) -> MatchingServiceClient<AuthedChannel> {
        MatchingServiceClient::new(self.channel_as(
            "matching",
            PROVIDER_ORG,
            &[Role::ProviderAdmin],
        ))
    }

    /// Referral, as the clinic's coordinator.
    pub fn referral(&self) -> ReferralServiceClient<AuthedChannel> {
        ReferralServiceClient::new(self.channel_as("referral", CLINIC, &[Role::Coordinator]))
    }

    /// Waitlist, as the clinic's coordinator.
    pub fn waitlist(&self) -> WaitlistServiceClient<AuthedChannel> {
        WaitlistServiceClient::new(self.channel_as("waitlist", CLINIC, &[Role::Coordinator]))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, mut child) in self.procs.drain() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Fetches a service's Prometheus scrape (plain HTTP/1.0 GET on loopback).
pub async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    out
}

/// One HTTP answer.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh loopback connection (`Connection: close`, the body read to the end): a
/// client with nothing of our code in it, as a clinic's would be. `None` when nothing answers.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.ok()?;
    s.write_all(body).await.ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Some(HttpResponse { status, headers, body })
}

/// The payload of a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

/// Polls `f` every 100 ms until it yields `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An adult outpatient CBT clinician of the provider organization (US-CA, English, self-pay, video).
pub fn clinician(name: &str, slots: i32) -> continuum_proto::matching::v1::Provider {
    continuum_testkit::clinician(
        PROVIDER_ORG,
        name,
        &[continuum_proto::common::v1::Modality::Cbt],
        slots,
    )
}

/// A complete adult intake of the clinic with moderate depression, which that clinician fits.
pub fn intake_request(key: &str) -> continuum_proto::intake::v1::SubmitIntakeRequest {
    use continuum_proto::common::v1 as common;
    use continuum_proto::intake::v1 as ipb;
    ipb::SubmitIntakeRequest {
        idempotency_key: key.into(),
        organization_id: CLINIC.into(),
        client: Some(ipb::ClientDetails {
            given_name: "Robin".into(),
            family_name: "Flow".into(),
            date_of_birth: Some(common::Date { year: 1988, month: 9, day: 3 }),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
            ..Default::default()
        }),
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }),
            ..Default::default()
        }),
        consent: Some(ipb::Consent { share_with_referral_recipient: true }),
        ..Default::default()
    }
}
