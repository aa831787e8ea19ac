//! Bearer tokens: settings, claims, verification and minting.
//!
//! User tokens are JWTs signed by the organization's identity provider with an asymmetric key (RS256,
//! ES256 or EdDSA) from a JWKS file or a JWKS URL (fetched at start-up and refreshed in the background, so
//! the identity provider can rotate keys without a restart); a symmetric HS256 "dev secret" is accepted only when configured, for
//! local development (`continuum up` generates one). Service tokens are short-lived HS256 JWTs signed
//! with the service secret shared by the Continuum services; they carry a `svc` claim, the organization
//! acted for, and the original user. Only a token verified with the service secret can hold the `service`
//! role.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::recent::Recent;
use crate::{Caller, Role};

/// Authentication settings (environment variables).
#[derive(Clone, Debug, clap::Args)]
pub struct AuthSettings {
    /// JWKS file with the public keys that sign user tokens (RS256, ES256, EdDSA).
    #[arg(long, env = "CONTINUUM_AUTH_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// JWKS URL (https; http on loopback only) with the public keys that sign user tokens; fetched at
    /// start-up (a failure stops the start) and refreshed every `jwks_refresh_secs` (a failed refresh
    /// keeps the keys already loaded).
    #[arg(long, env = "CONTINUUM_AUTH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Extra CA certificate (PEM) trusted for the JWKS URL, for an identity provider with a private CA.
    #[arg(long, env = "CONTINUUM_AUTH_JWKS_CA_FILE")]
    pub jwks_ca_file: Option<PathBuf>,
    /// Seconds between two fetches of the JWKS URL.
    #[arg(long, env = "CONTINUUM_AUTH_JWKS_REFRESH_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub jwks_refresh_secs: u64,
    /// Symmetric HS256 secret accepted for user tokens: local development only.
    #[arg(long, env = "CONTINUUM_AUTH_DEV_SECRET", hide_env_values = true)]
    pub dev_secret: Option<SecretString>,
    /// HS256 secret for service-to-service tokens (defaults to the dev secret).
    #[arg(long, env = "CONTINUUM_AUTH_SERVICE_SECRET", hide_env_values = true)]
    pub service_secret: Option<SecretString>,
    /// Expected token issuer.
    #[arg(long, env = "CONTINUUM_AUTH_ISSUER", default_value = "continuum")]
    pub issuer: String,
    /// Expected token audience.
    #[arg(long, env = "CONTINUUM_AUTH_AUDIENCE", default_value = "continuum")]
    pub audience: String,
    /// The organization registry (JSON; see `continuum_auth::registry`). Unset: `organizations.json` in
    /// the data directory. A token naming an organization not listed there is refused.
    #[arg(long, env = "CONTINUUM_ORGANIZATIONS_FILE")]
    pub organizations_file: Option<PathBuf>,
    /// Requests per minute allowed per organization (service calls are exempt).
    #[arg(long, env = "CONTINUUM_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u64,
}

impl AuthSettings {
    /// Development settings with `secret` for both user and service tokens.
    pub fn dev(secret: &str) -> Self {
        Self {
            jwks_file: None,
            jwks_url: None,
            jwks_ca_file: None,
            jwks_refresh_secs: 300,
            dev_secret: Some(secret.into()),
            service_secret: None,
            issuer: "continuum".into(),
            audience: "continuum".into(),
            organizations_file: None,
            rate_limit_per_minute: 1200,
        }
    }

    fn service_secret(&self) -> Option<&str> {
        self.service_secret
            .as_ref()
            .or(self.dev_secret.as_ref())
            .map(ExposeSecret::expose_secret)
            .filter(|s| !s.is_empty())
    }
}

/// The claims Continuum reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Organization id.
    pub org: String,
    /// Role codes.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at.
    #[serde(default)]
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Service name, on service tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svc: Option<String>,
    /// The original user, on service tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<String>,
}

/// Why a token was refused (never echoes the token).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No `authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// Algorithm not accepted, or no key for it.
    #[error("token algorithm or key not accepted")]
    Algorithm,
    /// Signature, expiry, not-before, issuer or audience check failed.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
}

struct KeyEntry {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens.
pub struct Verifier {
    user_keys: Vec<KeyEntry>,
    /// Keys from the JWKS URL, replaced whole by each successful refresh.
    url_keys: std::sync::RwLock<Arc<Vec<KeyEntry>>>,
    dev: Option<DecodingKey>,
    service: Option<DecodingKey>,
    issuer: String,
    audience: String,
    /// Tokens verified moments ago and whom they name ([`crate::recent`]); cleared whenever the key set
    /// changes.
    verified: Recent<String, Caller>,
}

/// How long a verified token is answered without checking it again (never past its expiry).
const VERIFIED_FOR: Duration = Duration::from_secs(30);
/// How many verified tokens are kept at most.
const VERIFIED_MAX: usize = 4096;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("user_keys", &self.user_keys.len())
            .field("dev", &self.dev.is_some())
            .finish_non_exhaustive()
    }
}

fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    if let Some(a) = jwk.common.key_algorithm {
        return match a {
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            KeyAlgorithm::RS384 => Some(Algorithm::RS384),
            KeyAlgorithm::RS512 => Some(Algorithm::RS512),
            KeyAlgorithm::PS256 => Some(Algorithm::PS256),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::ES384 => Some(Algorithm::ES384),
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// The asymmetric keys of a JWKS document (`what` names it in errors); symmetric keys are ignored.
fn parse_key_set(text: &str, what: &str) -> anyhow::Result<Vec<KeyEntry>> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(text).with_context(|| format!("parsing the {what}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let Some(alg) = algorithm_of(jwk) else { continue };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            continue; // symmetric keys never come from a key set
        }
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("a key of the {what}"))?;
        keys.push(KeyEntry { kid: jwk.common.key_id.clone(), alg, key });
    }
    anyhow::ensure!(!keys.is_empty(), "the {what} has no usable asymmetric key");
    Ok(keys)
}

impl Verifier {
    /// Builds a verifier from the JWKS file and secrets; fails when no way to verify user tokens or
    /// service tokens is configured. Keys from a JWKS URL are loaded by [`Verifier::load`].
    pub fn from_settings(s: &AuthSettings) -> anyhow::Result<Self> {
        let mut user_keys = Vec::new();
        if let Some(path) = &s.jwks_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading JWKS file {}", path.display()))?;
            user_keys = parse_key_set(&text, "JWKS file")?;
        }
        let dev = s
            .dev_secret
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .filter(|x| !x.is_empty())
            .map(|x| DecodingKey::from_secret(x.as_bytes()));
        anyhow::ensure!(
            !user_keys.is_empty() || s.jwks_url.is_some() || dev.is_some(),
            "authentication is not configured: set CONTINUUM_AUTH_JWKS_URL or CONTINUUM_AUTH_JWKS_FILE (or CONTINUUM_AUTH_DEV_SECRET for local development)"
        );
        let service = s.service_secret().map(|x| DecodingKey::from_secret(x.as_bytes()));
        anyhow::ensure!(
            service.is_some(),
            "CONTINUUM_AUTH_SERVICE_SECRET is required for service-to-service calls"
        );
        Ok(Self {
            user_keys,
            url_keys: std::sync::RwLock::new(Arc::new(Vec::new())),
            dev,
            service,
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
            verified: Recent::new(VERIFIED_MAX),
        })
    }

    /// Builds a verifier and, with a JWKS URL, fetches its keys (a failure is an error: a service that
    /// cannot verify anyone should not start) and keeps refreshing them in the background every
    /// `jwks_refresh_secs` for as long as the verifier lives; a failed refresh keeps the last keys.
    pub async fn load(s: &AuthSettings) -> anyhow::Result<Arc<Self>> {
        let verifier = Arc::new(Self::from_settings(s)?);
        let Some(url) = s.jwks_url.clone() else { return Ok(verifier) };
        let ca = s.jwks_ca_file.clone();
        let text = crate::jwks::fetch(&url, ca.as_deref())
            .await
            .context("fetching CONTINUUM_AUTH_JWKS_URL")?;
        let keys = parse_key_set(&text, "JWKS at CONTINUUM_AUTH_JWKS_URL")?;
        tracing::info!(keys = keys.len(), "JWKS loaded from its URL");
        verifier.set_url_keys(keys);
        let weak = Arc::downgrade(&verifier);
        let every = Duration::from_secs(s.jwks_refresh_secs.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(v) = weak.upgrade() else { break };
                match crate::jwks::fetch(&url, ca.as_deref())
                    .await
                    .and_then(|t| parse_key_set(&t, "JWKS at CONTINUUM_AUTH_JWKS_URL"))
                {
                    Ok(keys) => {
                        tracing::debug!(keys = keys.len(), "JWKS refreshed");
                        v.set_url_keys(keys);
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "JWKS refresh failed; keeping the keys already loaded")
                    }
                }
            }
        });
        Ok(verifier)
    }

    fn set_url_keys(&self, keys: Vec<KeyEntry>) {
        let keys = Arc::new(keys);
        match self.url_keys.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        // A token verified with a key that is now gone must not stay accepted.
        self.verified.clear();
    }

    fn current_url_keys(&self) -> Arc<Vec<KeyEntry>> {
        match self.url_keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_audience(&[self.audience.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        v
    }

    fn check(&self, token: &str, alg: Algorithm, key: &DecodingKey) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind as K;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation(alg)).map(|d| d.claims).map_err(
            |e| match e.kind() {
                K::ExpiredSignature => TokenError::Invalid("expired"),
                K::ImmatureSignature => TokenError::Invalid("not yet valid"),
                K::InvalidSignature => TokenError::Invalid("bad signature"),
                K::InvalidIssuer => TokenError::Invalid("wrong issuer"),
                K::InvalidAudience => TokenError::Invalid("wrong audience"),
                K::InvalidAlgorithm => TokenError::Algorithm,
                K::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
                _ => TokenError::Malformed,
            },
        )
    }

    /// Verifies a bearer token and returns the caller. A token verified within the last
    /// [`VERIFIED_FOR`] is answered as it was then, never past its own expiry and never after the key set
    /// changed; a refused token is checked again every time.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let now = Instant::now();
        if let Some(caller) = self.verified.get(token, now) {
            return Ok(caller);
        }
        let (caller, exp) = self.verify_now(token)?;
        // Only until the expiry itself: the leeway past it is for clocks that disagree, not for reuse.
        let left = u64::try_from(exp - now_secs()).unwrap_or(0);
        if left > 0 {
            let until = now + VERIFIED_FOR.min(Duration::from_secs(left));
            self.verified.put(token.to_owned(), caller.clone(), until, now);
        }
        Ok(caller)
    }

    /// Checks `token` from scratch: the caller it names and its expiry (seconds since the epoch).
    fn verify_now(&self, token: &str) -> Result<(Caller, i64), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let claims = match header.alg {
            Algorithm::HS256 => {
                // A service token (svc claim) must verify with the service secret; anything else with the
                // dev secret, and never with service powers.
                let insecure: Option<Claims> =
                    jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
                        .ok()
                        .map(|d| d.claims);
                let is_service = insecure.as_ref().is_some_and(|c| c.svc.is_some());
                if is_service {
                    let key = self.service.as_ref().ok_or(TokenError::Algorithm)?;
                    let c = self.check(token, Algorithm::HS256, key)?;
                    let svc = c.svc.clone().unwrap_or_default();
                    if c.org.is_empty() {
                        return Err(TokenError::Invalid("missing organization"));
                    }
                    // Organization ids are compared as written by the registry and requests: lowercase.
                    let caller = Caller {
                        user_id: format!("service:{svc}"),
                        organization_id: c.org.to_ascii_lowercase(),
                        roles: vec![Role::Service],
                        acting_for: c.act,
                    };
                    return Ok((caller, c.exp));
                }
                let key = self.dev.as_ref().ok_or(TokenError::Algorithm)?;
                self.check(token, Algorithm::HS256, key)?
            }
            alg => {
                let mut last = TokenError::Algorithm;
                let mut found = None;
                let url_keys = self.current_url_keys();
                for k in self
                    .user_keys
                    .iter()
                    .chain(url_keys.iter())
                    .filter(|k| k.alg == alg && (header.kid.is_none() || k.kid == header.kid))
                {
                    match self.check(token, alg, &k.key) {
                        Ok(c) => {
                            found = Some(c);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                found.ok_or(last)?
            }
        };
        if claims.org.is_empty() {
            return Err(TokenError::Invalid("missing organization"));
        }
        let roles: Vec<Role> = claims
            .roles
            .iter()
            .filter_map(|r| Role::from_code(r))
            .filter(|r| *r != Role::Service)
            .collect();
        let caller = Caller {
            user_id: claims.sub,
            organization_id: claims.org.to_ascii_lowercase(),
            roles,
            acting_for: None,
        };
        Ok((caller, claims.exp))
    }
}

/// Mints HS256 tokens: service tokens (always) and development user tokens (`continuum token mint`).
#[derive(Clone)]
pub struct Minter {
    service: EncodingKey,
    dev: Option<EncodingKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Minter {
    /// A minter from the settings (needs the service secret).
    pub fn from_settings(s: &AuthSettings) -> anyhow::Result<Self> {
        let service = s.service_secret().context("CONTINUUM_AUTH_SERVICE_SECRET is required")?;
        Ok(Self {
            service: EncodingKey::from_secret(service.as_bytes()),
            dev: s
                .dev_secret
                .as_ref()
                .map(ExposeSecret::expose_secret)
                .filter(|x| !x.is_empty())
                .map(|x| EncodingKey::from_secret(x.as_bytes())),
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
        })
    }

    fn sign(&self, claims: &Claims, key: &EncodingKey) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).context("signing a token")
    }

    /// A service token for `service` acting for `organization_id` (and `acting_for`, the original user).
    pub fn service_token(
        &self,
        service: &str,
        organization_id: &str,
        acting_for: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now = now_secs();
        self.sign(
            &Claims {
                sub: format!("service:{service}"),
                org: organization_id.to_owned(),
                roles: vec![Role::Service.code().to_owned()],
                exp: now + i64::try_from(ttl.as_secs()).unwrap_or(60),
                nbf: None,
                iat: now,
                iss: self.issuer.clone(),
                aud: self.audience.clone(),
                svc: Some(service.to_owned()),
                act: acting_for.map(str::to_owned),
            },
            &self.service,
        )
    }

    /// A development user token (needs the dev secret).
    pub fn dev_user_token(
        &self,
        user: &str,
        organization_id: &str,
        roles: &[Role],
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let key = self.dev.as_ref().context(
            "minting user tokens needs CONTINUUM_AUTH_DEV_SECRET (local development only)",
        )?;
        let now = now_secs();
        self.sign(
            &Claims {
                sub: user.to_owned(),
                org: organization_id.to_owned(),
                roles: roles.iter().map(|r| r.code().to_owned()).collect(),
                exp: now + i64::try_from(ttl.as_secs()).unwrap_or(3600),
                nbf: None,
                iat: now,
                iss: self.issuer.clone(),
                aud: self.audience.clone(),
                svc: None,
                act: None,
            },
            key,
        )
    }
}

/// A fresh random secret (base64url, 256 bits) for local development.
pub fn random_secret() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    // SystemRandom only fails when the OS has no entropy source; fall back to a v4 UUID pair then.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use base64::Engine;
    use ring::signature::KeyPair;

    const SECRET: &str = "dev-secret-for-tests-only-0123456789";

    fn claims(exp_in: i64, nbf_in: Option<i64>) -> Claims {
        let now = now_secs();
        Claims {
            sub: "u1".into(),
            org: "org-1".into(),
            roles: vec!["coordinator".into(), "service".into()],
            exp: now + exp_in,
            nbf: nbf_in.map(|n| now + n),
            iat: now,
            iss: "continuum".into(),
            aud: "continuum".into(),
            svc: None,
            act: None,
        }
    }

    fn hs(c: &Claims, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn ed_keypair() -> (EncodingKey, String) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (EncodingKey::from_ed_der(pkcs8.as_ref()), x)
    }

    fn verifier_with_jwks(x: &str) -> (Verifier, tempfile_path::TempPath) {
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "idp-1", "alg": "EdDSA", "use": "sig"}]});
        let path = tempfile_path::TempPath::new(&jwks.to_string());
        let mut s = AuthSettings::dev(SECRET);
        s.dev_secret = None;
        s.service_secret = Some(SecretString::from("service-secret"));
        s.jwks_file = Some(path.0.clone());
        (Verifier::from_settings(&s).unwrap(), path)
    }

    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(contents: &str) -> Self {
                let p = std::env::temp_dir().join(format!("jwks-{}.json", uuid::Uuid::new_v4()));
                std::fs::write(&p, contents).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn secrets_never_print() {
        let mut s = AuthSettings::dev("dev-secret-value");
        s.service_secret = Some(SecretString::from("service-secret-value"));
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("dev-secret-value") && !shown.contains("service-secret-value"),
            "{shown}"
        );
        let keys = crate::crypto::CryptoSettings {
            encryption_keys: Some(SecretString::from("k1:c2VjcmV0LWtleQ==")),
            encryption_active_key: None,
        };
        assert!(!format!("{keys:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn a_valid_dev_token_gives_the_caller_without_service_powers() {
        let v = Verifier::from_settings(&AuthSettings::dev(SECRET)).unwrap();
        let caller = v.verify(&hs(&claims(600, None), SECRET)).unwrap();
        assert_eq!(caller.organization_id, "org-1");
        assert_eq!(
            caller.roles,
            vec![Role::Coordinator],
            "only the service secret grants the service role"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let v = Verifier::from_settings(&AuthSettings::dev(SECRET)).unwrap();
        assert_eq!(
            v.verify(&hs(&claims(-3600, None), SECRET)),
            Err(TokenError::Invalid("expired"))
        );
        assert_eq!(
            v.verify(&hs(&claims(3600, Some(1800)), SECRET)),
            Err(TokenError::Invalid("not yet valid"))
        );
        assert_eq!(
            v.verify(&hs(&claims(600, None), "another-secret")),
            Err(TokenError::Invalid("bad signature"))
        );
        assert_eq!(v.verify("not.a.jwt"), Err(TokenError::Malformed));
        assert_eq!(v.verify(""), Err(TokenError::Malformed));
        // Tampered payload: swap the organization, keep the signature.
        let good = hs(&claims(600, None), SECRET);
        let parts: Vec<&str> = good.split('.').collect();
        let mut c = claims(600, None);
        c.org = "org-2".into();
        let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&c).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(v.verify(&forged), Err(TokenError::Invalid("bad signature")));
        // alg "none" and an asymmetric token with no configured key.
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(v.verify(&format!("{none_header}.{}.", parts[1])).is_err());
        let (ed, _) = ed_keypair();
        let ed_token =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims(600, None), &ed).unwrap();
        assert_eq!(v.verify(&ed_token), Err(TokenError::Algorithm));
        // Wrong issuer / audience.
        let mut c = claims(600, None);
        c.iss = "someone-else".into();
        assert_eq!(v.verify(&hs(&c, SECRET)), Err(TokenError::Invalid("wrong issuer")));
    }

    #[test]
    fn asymmetric_tokens_verify_against_the_key_set() {
        let (ed, x) = ed_keypair();
        let (v, _keep) = verifier_with_jwks(&x);
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = Some("idp-1".into());
        let token = jsonwebtoken::encode(&h, &claims(600, None), &ed).unwrap();
        assert_eq!(v.verify(&token).unwrap().roles, vec![Role::Coordinator]);
        // Without the dev secret configured, HS256 user tokens are refused: no symmetric fallback.
        assert_eq!(v.verify(&hs(&claims(600, None), SECRET)), Err(TokenError::Algorithm));
        let (other, _) = ed_keypair();
        let forged = jsonwebtoken::encode(&h, &claims(600, None), &other).unwrap();
        assert_eq!(v.verify(&forged), Err(TokenError::Invalid("bad signature")));
    }

    #[test]
    fn service_tokens_carry_the_organization_and_user() {
        let s = AuthSettings::dev(SECRET);
        let v = Verifier::from_settings(&s).unwrap();
        let m = Minter::from_settings(&s).unwrap();
        let t = m.service_token("intake", "org-9", Some("u7"), Duration::from_secs(60)).unwrap();
        let c = v.verify(&t).unwrap();
        assert!(c.is_service());
        assert_eq!((c.organization_id.as_str(), c.acting_for.as_deref()), ("org-9", Some("u7")));
        // A service token signed with anything but the service secret is refused.
        let mut s2 = AuthSettings::dev(SECRET);
        s2.service_secret = Some(SecretString::from("different-service-secret"));
        let v2 = Verifier::from_settings(&s2).unwrap();
        assert_eq!(v2.verify(&t), Err(TokenError::Invalid("bad signature")));
    }

    #[test]
    fn configuration_is_required() {
        let mut s = AuthSettings::dev(SECRET);
        s.dev_secret = None;
        assert!(Verifier::from_settings(&s).is_err());
    }

    /// Serves `body()` over HTTPS with the test certificate for `localhost`, answering every request with
    /// the current key set (or 500 while `fail` is set).
    async fn serve_jwks(
        body: Arc<std::sync::Mutex<String>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    ) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../continuum-testkit/certs");
        let certs: Vec<_> =
            rustls::pki_types::CertificateDer::pem_file_iter(dir.join("localhost.crt"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("localhost.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, body, fail) = (acceptor.clone(), body.clone(), fail.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = vec![0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let response = if fail.load(std::sync::atomic::Ordering::SeqCst) {
                        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                    } else {
                        let b = body.lock().unwrap().clone();
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                            b.len()
                        )
                    };
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    fn jwks_of(x: &str, kid: &str) -> String {
        serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}]}).to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_from_a_jwks_url_are_loaded_refreshed_and_kept_through_a_failed_refresh() {
        let (first, x1) = ed_keypair();
        let (second, x2) = ed_keypair();
        let body = Arc::new(std::sync::Mutex::new(jwks_of(&x1, "k1")));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let port = serve_jwks(body.clone(), fail.clone()).await;
        let mut s = AuthSettings::dev(SECRET);
        s.dev_secret = None;
        s.service_secret = Some(SecretString::from("service-secret"));
        s.jwks_url = Some(format!("https://localhost:{port}/.well-known/jwks.json"));
        s.jwks_refresh_secs = 1;

        // Without trusting the test CA the TLS check fails, so nothing starts.
        assert!(Verifier::load(&s).await.is_err(), "an untrusted certificate is refused");
        s.jwks_ca_file = Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../continuum-testkit/certs/localhost.crt"),
        );
        let v = Verifier::load(&s).await.unwrap();
        let signed = |key: &EncodingKey, kid: &str| {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = Some(kid.into());
            jsonwebtoken::encode(&h, &claims(600, None), key).unwrap()
        };
        // Verified once, a token is answered from memory for a while (`Recent`): below, rotating the
        // keys must still retire it at once.
        let before_rotation = signed(&first, "k1");
        assert_eq!(v.verify(&before_rotation).unwrap().organization_id, "org-1");
        assert!(v.verify(&signed(&second, "k2")).is_err(), "not published yet");

        // A failed refresh keeps the keys already loaded.
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(v.verify(&signed(&first, "k1")).is_ok(), "kept through a failed refresh");

        // The identity provider rotates: the next refresh picks up the new key and drops the old one.
        *body.lock().unwrap() = jwks_of(&x2, "k2");
        fail.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut rotated = false;
        for _ in 0..50 {
            if v.verify(&signed(&second, "k2")).is_ok() {
                rotated = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(rotated, "the rotated key was fetched");
        assert!(v.verify(&signed(&first, "k1")).is_err(), "the retired key no longer verifies");
        assert!(
            v.verify(&before_rotation).is_err(),
            "a token verified before the rotation is not accepted from memory after it"
        );

        // A URL answering an error at start-up stops the start.
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(Verifier::load(&s).await.is_err());
    }
}
