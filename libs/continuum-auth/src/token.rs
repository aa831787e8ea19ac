//! Bearer tokens: settings, claims, verification and minting.
//!
//! User tokens are JWTs signed by the organization's identity provider with an asymmetric key (RS256,
//! ES256 or EdDSA) from a JWKS file; a symmetric HS256 "dev secret" is accepted only when configured, for
//! local development (`continuum up` generates one). Service tokens are short-lived HS256 JWTs signed
//! with the service secret shared by the Continuum services; they carry a `svc` claim, the organization
//! acted for, and the original user. Only a token verified with the service secret can hold the `service`
//! role.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{Caller, Role};

/// Authentication settings (environment variables).
#[derive(Clone, Debug, clap::Args)]
pub struct AuthSettings {
    /// JWKS file with the public keys that sign user tokens (RS256, ES256, EdDSA).
    #[arg(long, env = "CONTINUUM_AUTH_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Symmetric HS256 secret accepted for user tokens: local development only.
    #[arg(long, env = "CONTINUUM_AUTH_DEV_SECRET", hide_env_values = true)]
    pub dev_secret: Option<String>,
    /// HS256 secret for service-to-service tokens (defaults to the dev secret).
    #[arg(long, env = "CONTINUUM_AUTH_SERVICE_SECRET", hide_env_values = true)]
    pub service_secret: Option<String>,
    /// Expected token issuer.
    #[arg(long, env = "CONTINUUM_AUTH_ISSUER", default_value = "continuum")]
    pub issuer: String,
    /// Expected token audience.
    #[arg(long, env = "CONTINUUM_AUTH_AUDIENCE", default_value = "continuum")]
    pub audience: String,
    /// Requests per minute allowed per organization (service calls are exempt).
    #[arg(long, env = "CONTINUUM_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u64,
}

impl AuthSettings {
    /// Development settings with `secret` for both user and service tokens.
    pub fn dev(secret: &str) -> Self {
        Self {
            jwks_file: None,
            dev_secret: Some(secret.to_owned()),
            service_secret: None,
            issuer: "continuum".into(),
            audience: "continuum".into(),
            rate_limit_per_minute: 1200,
        }
    }

    fn service_secret(&self) -> Option<&str> {
        self.service_secret.as_deref().or(self.dev_secret.as_deref()).filter(|s| !s.is_empty())
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
    dev: Option<DecodingKey>,
    service: Option<DecodingKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("user_keys", &self.user_keys.len()).field("dev", &self.dev.is_some()).finish_non_exhaustive()
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
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Some(Algorithm::ES256),
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        _ => None,
    }
}

impl Verifier {
    /// Builds a verifier; fails when no way to verify user tokens or service tokens is configured.
    pub fn from_settings(s: &AuthSettings) -> anyhow::Result<Self> {
        let mut user_keys = Vec::new();
        if let Some(path) = &s.jwks_file {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading JWKS file {}", path.display()))?;
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text).context("parsing the JWKS file")?;
            for jwk in &set.keys {
                let Some(alg) = algorithm_of(jwk) else { continue };
                if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    continue; // symmetric keys never come from a key set
                }
                let key = DecodingKey::from_jwk(jwk).context("a JWKS key")?;
                user_keys.push(KeyEntry { kid: jwk.common.key_id.clone(), alg, key });
            }
            anyhow::ensure!(!user_keys.is_empty(), "the JWKS file has no usable asymmetric key");
        }
        let dev = s.dev_secret.as_deref().filter(|x| !x.is_empty()).map(|x| DecodingKey::from_secret(x.as_bytes()));
        anyhow::ensure!(
            !user_keys.is_empty() || dev.is_some(),
            "authentication is not configured: set CONTINUUM_AUTH_JWKS_FILE (or CONTINUUM_AUTH_DEV_SECRET for local development)"
        );
        let service = s.service_secret().map(|x| DecodingKey::from_secret(x.as_bytes()));
        anyhow::ensure!(service.is_some(), "CONTINUUM_AUTH_SERVICE_SECRET is required for service-to-service calls");
        Ok(Self { user_keys, dev, service, issuer: s.issuer.clone(), audience: s.audience.clone() })
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
        jsonwebtoken::decode::<Claims>(token, key, &self.validation(alg)).map(|d| d.claims).map_err(|e| match e.kind() {
            K::ExpiredSignature => TokenError::Invalid("expired"),
            K::ImmatureSignature => TokenError::Invalid("not yet valid"),
            K::InvalidSignature => TokenError::Invalid("bad signature"),
            K::InvalidIssuer => TokenError::Invalid("wrong issuer"),
            K::InvalidAudience => TokenError::Invalid("wrong audience"),
            K::InvalidAlgorithm => TokenError::Algorithm,
            K::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
            _ => TokenError::Malformed,
        })
    }

    /// Verifies a bearer token and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let claims = match header.alg {
            Algorithm::HS256 => {
                // A service token (svc claim) must verify with the service secret; anything else with the
                // dev secret, and never with service powers.
                let insecure: Option<Claims> = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).ok().map(|d| d.claims);
                let is_service = insecure.as_ref().is_some_and(|c| c.svc.is_some());
                if is_service {
                    let key = self.service.as_ref().ok_or(TokenError::Algorithm)?;
                    let c = self.check(token, Algorithm::HS256, key)?;
                    let svc = c.svc.clone().unwrap_or_default();
                    return Ok(Caller { user_id: format!("service:{svc}"), organization_id: c.org, roles: vec![Role::Service], acting_for: c.act });
                }
                let key = self.dev.as_ref().ok_or(TokenError::Algorithm)?;
                self.check(token, Algorithm::HS256, key)?
            }
            alg => {
                let mut last = TokenError::Algorithm;
                let mut found = None;
                for k in self.user_keys.iter().filter(|k| k.alg == alg && (header.kid.is_none() || k.kid == header.kid)) {
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
        let roles: Vec<Role> = claims.roles.iter().filter_map(|r| Role::from_code(r)).filter(|r| *r != Role::Service).collect();
        Ok(Caller { user_id: claims.sub, organization_id: claims.org, roles, acting_for: None })
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
            dev: s.dev_secret.as_deref().filter(|x| !x.is_empty()).map(|x| EncodingKey::from_secret(x.as_bytes())),
            issuer: s.issuer.clone(),
            audience: s.audience.clone(),
        })
    }

    fn sign(&self, claims: &Claims, key: &EncodingKey) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).context("signing a token")
    }

    /// A service token for `service` acting for `organization_id` (and `acting_for`, the original user).
    pub fn service_token(&self, service: &str, organization_id: &str, acting_for: Option<&str>, ttl: Duration) -> anyhow::Result<String> {
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
    pub fn dev_user_token(&self, user: &str, organization_id: &str, roles: &[Role], ttl: Duration) -> anyhow::Result<String> {
        let key = self.dev.as_ref().context("minting user tokens needs CONTINUUM_AUTH_DEV_SECRET (local development only)")?;
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
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), c, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
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
        s.service_secret = Some("service-secret".into());
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
    fn a_valid_dev_token_gives_the_caller_without_service_powers() {
        let v = Verifier::from_settings(&AuthSettings::dev(SECRET)).unwrap();
        let caller = v.verify(&hs(&claims(600, None), SECRET)).unwrap();
        assert_eq!(caller.organization_id, "org-1");
        assert_eq!(caller.roles, vec![Role::Coordinator], "only the service secret grants the service role");
    }

    #[test]
    fn bad_tokens_are_refused() {
        let v = Verifier::from_settings(&AuthSettings::dev(SECRET)).unwrap();
        assert_eq!(v.verify(&hs(&claims(-3600, None), SECRET)), Err(TokenError::Invalid("expired")));
        assert_eq!(v.verify(&hs(&claims(3600, Some(1800)), SECRET)), Err(TokenError::Invalid("not yet valid")));
        assert_eq!(v.verify(&hs(&claims(600, None), "another-secret")), Err(TokenError::Invalid("bad signature")));
        assert_eq!(v.verify("not.a.jwt"), Err(TokenError::Malformed));
        assert_eq!(v.verify(""), Err(TokenError::Malformed));
        // Tampered payload: swap the organization, keep the signature.
        let good = hs(&claims(600, None), SECRET);
        let parts: Vec<&str> = good.split('.').collect();
        let mut c = claims(600, None);
        c.org = "org-2".into();
        let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(v.verify(&forged), Err(TokenError::Invalid("bad signature")));
        // alg "none" and an asymmetric token with no configured key.
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(v.verify(&format!("{none_header}.{}.", parts[1])).is_err());
        let (ed, _) = ed_keypair();
        let ed_token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims(600, None), &ed).unwrap();
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
        s2.service_secret = Some("different-service-secret".into());
        let v2 = Verifier::from_settings(&s2).unwrap();
        assert_eq!(v2.verify(&t), Err(TokenError::Invalid("bad signature")));
    }

    #[test]
    fn configuration_is_required() {
        let mut s = AuthSettings::dev(SECRET);
        s.dev_secret = None;
        assert!(Verifier::from_settings(&s).is_err());
    }
}
