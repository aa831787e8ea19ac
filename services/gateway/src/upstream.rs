//! The gateway's clients of the four services, and the caller's identity they carry.
//!
//! The rule this module keeps: the gateway never acts as itself. Every upstream call carries the bearer token
//! of the HTTP caller, unchanged (same tokens, same roles), so each service authenticates the caller, applies
//! its role policy and decides access (and writes its audit rows) exactly as for a gRPC client. The gateway
//! mints nothing and holds no service secret. Every call runs in a `grpc.client` span whose W3C trace context
//! is injected into the call, so a FHIR request is one trace with the services' spans.

use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;

use crate::config::Settings;

/// A channel to one service: a client span around each call, and the trace context injected inside it.
pub type UpstreamChannel = continuum_telemetry::ClientTrace<
    tonic::service::interceptor::InterceptedService<Channel, TraceContext>,
>;

/// Injects the current span's W3C trace context into each outgoing call (the call's client span, since the
/// interceptor runs inside [`continuum_telemetry::ClientTrace`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContext;

impl tonic::service::Interceptor for TraceContext {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        continuum_telemetry::inject(req.metadata_mut());
        Ok(req)
    }
}

/// The HTTP caller: their bearer credentials as received, forwarded on every upstream call.
#[derive(Clone)]
pub struct Caller {
    authorization: MetadataValue<Ascii>,
    organization_hint: Option<String>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Caller").field("organization_hint", &self.organization_hint).finish()
    }
}

/// Why a request carries no usable credentials.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialsError {
    /// No `Authorization` header.
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// Not `Bearer <token>`, or not a header value gRPC metadata can carry.
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    Malformed,
}

impl Caller {
    /// The caller of an HTTP request with these headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Self, CredentialsError> {
        let value = headers.get(http::header::AUTHORIZATION).ok_or(CredentialsError::Missing)?;
        let text = value.to_str().map_err(|_| CredentialsError::Malformed)?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(CredentialsError::Malformed)?;
        let authorization = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| CredentialsError::Malformed)?;
        Ok(Self { authorization, organization_hint: organization_claim(token) })
    }

    /// The caller holding bearer `token` (the console's session keeps the token and calls as its user).
    pub fn bearer(token: &str) -> Result<Self, CredentialsError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(CredentialsError::Missing);
        }
        let authorization = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| CredentialsError::Malformed)?;
        Ok(Self { authorization, organization_hint: organization_claim(token) })
    }

    /// The organization the token names (its `org` claim), read WITHOUT verifying the token: only a default
    /// for a field the called service then checks against the verified token (an intake submitted for an
    /// organization the caller does not belong to is refused there). Never an access decision.
    pub fn organization_hint(&self) -> Option<&str> {
        self.organization_hint.as_deref()
    }

    /// `message` as a request made with the caller's credentials.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.metadata_mut().insert("authorization", self.authorization.clone());
        req
    }
}

/// The `org` claim of a JWT's payload, if it has one that looks like an id (unverified: see
/// [`Caller::organization_hint`]).
fn organization_claim(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let org = claims.get("org")?.as_str()?;
    (org.len() <= 64 && org.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .then(|| org.to_ascii_lowercase())
}

/// The four services.
#[derive(Clone, Debug)]
pub struct Upstreams {
    /// Intake.
    pub intake: IntakeServiceClient<UpstreamChannel>,
    /// Matching.
    pub matching: MatchingServiceClient<UpstreamChannel>,
    /// Referral.
    pub referral: ReferralServiceClient<UpstreamChannel>,
    /// Waitlist.
    pub waitlist: WaitlistServiceClient<UpstreamChannel>,
    /// Health checking of each (name, client), for `/healthz`.
    pub health: Vec<(&'static str, HealthClient<Channel>)>,
}

impl Upstreams {
    /// Lazily connected clients of the services named in `settings` (a service that is down at start-up is
    /// not an error: `/healthz` says so, and calls answer 503 until it is back).
    pub fn connect_lazy(settings: &Settings) -> anyhow::Result<Self> {
        let ca = match &settings.tls_ca_file {
            None => None,
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
        };
        let channel = |name: &str, addr: &str| {
            channel(addr, ca.as_deref()).with_context(|| format!("{name} address {addr:?}"))
        };
        let intake = channel("intake", &settings.intake_addr)?;
        let matching = channel("matching", &settings.matching_addr)?;
        let referral = channel("referral", &settings.referral_addr)?;
        let waitlist = channel("waitlist", &settings.waitlist_addr)?;
        let traced = |c: &Channel| {
            continuum_telemetry::ClientTrace::new(
                tonic::service::interceptor::InterceptedService::new(c.clone(), TraceContext),
            )
        };
        Ok(Self {
            intake: IntakeServiceClient::new(traced(&intake)),
            matching: MatchingServiceClient::new(traced(&matching)),
            referral: ReferralServiceClient::new(traced(&referral)),
            waitlist: WaitlistServiceClient::new(traced(&waitlist)),
            health: vec![
                ("intake", HealthClient::new(intake)),
                ("matching", HealthClient::new(matching)),
                ("referral", HealthClient::new(referral)),
                ("waitlist", HealthClient::new(waitlist)),
            ],
        })
    }
}

/// A channel to a service at `addr` (`host:port` or a URL) that connects on first use and reconnects by
/// itself; TLS verified with `ca` when given (the address then uses https).
pub fn channel(addr: &str, ca: Option<&[u8]>) -> anyhow::Result<Channel> {
    let host = addr.trim_start_matches("https://").trim_start_matches("http://");
    let endpoint = match ca {
        None => {
            let url = if addr.starts_with("http://") || addr.starts_with("https://") {
                addr.to_owned()
            } else {
                format!("http://{addr}")
            };
            Endpoint::from_shared(url).context("service address")?
        }
        Some(pem) => {
            let domain = host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned();
            let tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(pem))
                .domain_name(domain);
            Endpoint::from_shared(format!("https://{host}"))
                .context("service address")?
                .tls_config(tls)
                .context("service TLS")?
        }
    };
    let connect_timeout = Duration::from_secs(2);
    let connector = continuum_process::connect::PeerConnector::new(
        connect_timeout,
        Some(Duration::from_secs(60)),
    );
    Ok(endpoint
        .connect_timeout(connect_timeout)
        .timeout(Duration::from_secs(10))
        .connect_with_connector_lazy(connector))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn credentials_are_a_bearer_token_forwarded_as_received() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"u","org":"0190D5A0-0000-7000-8000-000000000001"}"#);
        let token = format!("x.{payload}.y");
        let caller = Caller::from_headers(&headers(&format!("Bearer {token}"))).unwrap();
        assert_eq!(caller.organization_hint(), Some("0190d5a0-0000-7000-8000-000000000001"));
        let req = caller.request(());
        assert_eq!(req.metadata().get("authorization").unwrap(), &format!("Bearer {token}"));
        assert!(!format!("{caller:?}").contains(&token), "the token is never printed");

        assert_eq!(
            Caller::from_headers(&http::HeaderMap::new()).unwrap_err(),
            CredentialsError::Missing
        );
        assert_eq!(
            Caller::from_headers(&headers("Basic abc")).unwrap_err(),
            CredentialsError::Malformed
        );
        assert_eq!(
            Caller::from_headers(&headers("Bearer ")).unwrap_err(),
            CredentialsError::Malformed
        );
        // An opaque token still passes through (the service decides); it just names no organization.
        assert_eq!(
            Caller::from_headers(&headers("Bearer opaque")).unwrap().organization_hint(),
            None
        );
    }
}
