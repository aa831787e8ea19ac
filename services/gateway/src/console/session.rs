//! Console sessions, kept server-side in the cache every gateway replica shares (Redis when
//! `CONTINUUM_REDIS_URL` is set, so any replica serves any signed-in user; the process's memory otherwise),
//! with nothing in the browser but a random id.
//!
//! - The session id is 256 random bits (base64url) in the cookie `continuum_session`: `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and `Secure` unless the gateway listens on loopback (plain HTTP on
//!   127.0.0.1 under `continuum up`).
//! - The record is stored under the SHA-256 of the id and sealed (AES-256-GCM) under a key derived from the
//!   id (HKDF-SHA256), so what the cache holds names no live cookie and reads as nothing without one: a
//!   Redis dump or `MONITOR` hands out neither sessions nor bearer tokens.
//! - A session holds the user's bearer token (forwarded to the services on every call, never logged), a
//!   CSRF token (the synchronizer token every form posts back; [`Sessions::check_csrf`] compares in
//!   constant time), what the token says about the user (display only: the services decide access from
//!   the verified token), and one flash message.
//! - Idle expiry (default 30 minutes without a request) and absolute expiry (default 8 hours, and never
//!   past the token's own `exp`): the record's time-to-live in the cache is what remains of both, renewed
//!   by each page, so ended sessions leave the cache by themselves. Sign-out deletes the record; a page
//!   served at that moment renews it only if it still exists, so a signed-out session never comes back.
//! - No personal health information is kept here: pages are read from the services at each request.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use continuum_cache::SharedCache;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The session cookie's name.
pub const COOKIE: &str = "continuum_session";

/// Who is signed in (from the token's claims, unverified: for display and defaults only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `sub`.
    pub user: String,
    /// `org` (lowercase).
    pub organization_id: String,
    /// A display name for the organization, when known (the development sign-in knows it).
    pub organization_name: Option<String>,
    /// Role codes.
    pub roles: Vec<String>,
    /// `exp`, when the token has one.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Identity {
    /// Whether the token names `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// The claims of a JWT's payload (unverified): the services verify the token on every call.
    pub fn from_token(token: &str) -> Self {
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .unwrap_or_default();
        let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Self {
            user: text("sub"),
            organization_id: text("org").to_ascii_lowercase(),
            organization_name: None,
            roles: claims
                .get("roles")
                .and_then(|r| r.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            expires_at: claims
                .get("exp")
                .and_then(serde_json::Value::as_i64)
                .and_then(|s| DateTime::from_timestamp(s, 0)),
        }
    }
}

/// A one-shot message shown on the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    /// `ok`, `warn` or `error`.
    pub level: &'static str,
    /// The text (no personal health information: ids and codes only).
    pub text: String,
}

/// A flash message as the session record keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Stored {
    level: String,
    text: String,
}

impl From<Stored> for Flash {
    fn from(s: Stored) -> Self {
        // One of the three levels the pages style; anything else reads as an error.
        let level = ["ok", "warn"].into_iter().find(|l| *l == s.level).unwrap_or("error");
        Self { level, text: s.text }
    }
}

/// One signed-in user's session (also the sealed record the cache holds).
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    token: String,
    /// The synchronizer token every form carries.
    pub csrf: String,
    /// Who is signed in.
    pub identity: Identity,
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    expires: DateTime<Utc>,
    flash: Option<Stored>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token nor the CSRF token.
        f.debug_struct("Session")
            .field("identity", &self.identity)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The bearer token the services get.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The session's caller, for upstream calls.
    pub fn caller(&self) -> Option<crate::upstream::Caller> {
        crate::upstream::Caller::bearer(&self.token).ok()
    }
}

/// Session lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    /// Without a request for this long, a session ends.
    pub idle: Duration,
    /// A session ends this long after sign-in whatever happens.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(8 * 3600) }
    }
}

/// The session store.
#[derive(Clone)]
pub struct Sessions {
    cache: SharedCache,
    rng: Arc<SystemRandom>,
    lifetimes: Lifetimes,
    secure_cookie: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cache", &self.cache.kind())
            .field("lifetimes", &self.lifetimes)
            .field("secure_cookie", &self.secure_cookie)
            .finish_non_exhaustive()
    }
}

/// The cache key of session `id`: the hex SHA-256 of the id.
fn key_of(id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut out = String::with_capacity(16 + 64);
    out.push_str("console-session:");
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The key a session's record is sealed under, derived from its id (which only the browser holds).
fn sealing_key(id: &str) -> anyhow::Result<LessSafeKey> {
    let prk =
        hkdf::Salt::new(hkdf::HKDF_SHA256, b"continuum console session v1").extract(id.as_bytes());
    let okm = prk
        .expand(&[b"record"], &AES_256_GCM)
        .map_err(|_| anyhow::anyhow!("deriving the session key"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn std_delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::hours(1))
}

/// Constant-time equality of two strings (the CSRF check).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// A store in `cache`; cookies are `Secure` when `secure_cookie`.
    pub fn new(cache: SharedCache, lifetimes: Lifetimes, secure_cookie: bool) -> Self {
        Self { cache, rng: Arc::new(SystemRandom::new()), lifetimes, secure_cookie }
    }

    /// Whether cookies carry `Secure`.
    pub fn secure_cookie(&self) -> bool {
        self.secure_cookie
    }

    fn random(&self) -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).map_err(|_| anyhow::anyhow!("no randomness"))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The record of `s` sealed under `id`'s key (nonce, then ciphertext and tag; base64url).
    fn seal(&self, id: &str, s: &Session) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let mut body = serde_json::to_vec(s)?;
        sealing_key(id)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key_of(id).as_bytes()),
                &mut body,
            )
            .map_err(|_| anyhow::anyhow!("sealing the session"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// A sealed record opened with `id`'s key; `None` when it does not open (not this id's record).
    fn open(id: &str, sealed: &str) -> Option<Session> {
        let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let mut body = raw.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&raw).ok()?;
        let plain = sealing_key(id)
            .ok()?
            .open_in_place(nonce, Aad::from(key_of(id).as_bytes()), &mut body)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// How long the cache keeps `s` from `now`: what remains of its idle and absolute lifetimes
    /// (`None` when nothing does).
    fn remaining(&self, s: &Session, now: DateTime<Utc>) -> Option<Duration> {
        (self.ends_at(s) - now).to_std().ok().filter(|d| !d.is_zero())
    }

    /// The live session with this id at `now`, or `None` (an ended one is deleted).
    async fn load(&self, id: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Session>> {
        let key = key_of(id);
        let Some(sealed) = self.cache.get(&key).await.context("reading a console session")? else {
            return Ok(None);
        };
        match Self::open(id, &sealed).filter(|s| self.remaining(s, now).is_some()) {
            Some(s) => Ok(Some(s)),
            None => {
                self.cache.delete(&key).await.context("deleting a console session")?;
                Ok(None)
            }
        }
    }

    /// Writes `s` back if its record still exists; false when it was deleted meanwhile (signed out) or
    /// has no lifetime left.
    async fn renew(&self, id: &str, s: &Session, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let Some(ttl) = self.remaining(s, now) else { return Ok(false) };
        let sealed = self.seal(id, s)?;
        self.cache
            .set_if_present(&key_of(id), &sealed, ttl)
            .await
            .context("renewing a console session")
    }

    /// Starts a session for `token` at `now`; returns the session id (the cookie's value).
    pub async fn create(
        &self,
        token: &str,
        identity: Identity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let id = self.random()?;
        let mut expires = now + std_delta(self.lifetimes.absolute);
        if let Some(exp) = identity.expires_at {
            expires = expires.min(exp);
        }
        let session = Session {
            token: token.to_owned(),
            csrf: self.random()?,
            identity,
            created: now,
            last_seen: now,
            expires,
            flash: None,
        };
        let ttl = self.remaining(&session, now).unwrap_or(Duration::from_secs(1));
        let sealed = self.seal(&id, &session)?;
        self.cache.set(&key_of(&id), &sealed, ttl).await.context("storing a console session")?;
        Ok(id)
    }

    /// The live session with this id at `now` (touching it), taking its flash message; `None` when
    /// unknown, ended or signed out.
    pub async fn get(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<(Session, Option<Flash>)>> {
        let Some(mut s) = self.load(id, now).await? else { return Ok(None) };
        s.last_seen = now;
        let flash = s.flash.take().map(Flash::from);
        if !self.renew(id, &s, now).await? {
            return Ok(None);
        }
        Ok(Some((s, flash)))
    }

    /// The live session with this id at `now`, without touching it (its idle clock keeps running) and
    /// without taking its flash: the event stream, which must not keep an unattended session alive.
    pub async fn peek(&self, id: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Session>> {
        self.load(id, now).await
    }

    /// When the session `s` ends if nothing touches it again.
    pub fn ends_at(&self, s: &Session) -> DateTime<Utc> {
        s.expires.min(s.last_seen + std_delta(self.lifetimes.idle))
    }

    /// Sets the flash message shown on the session's next page (nothing when the session ended).
    pub async fn flash(
        &self,
        id: &str,
        level: &'static str,
        text: impl Into<String>,
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        if let Some(mut s) = self.load(id, now).await? {
            s.flash = Some(Stored { level: level.to_owned(), text: text.into() });
            self.renew(id, &s, now).await?;
        }
        Ok(())
    }

    /// Ends a session.
    pub async fn end(&self, id: &str) -> anyhow::Result<()> {
        self.cache.delete(&key_of(id)).await.context("ending a console session")
    }

    /// The `Set-Cookie` value that hands out session `id`.
    pub fn cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.lifetimes.absolute.as_secs(),
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// Whether `sent` is the session's CSRF token.
    pub fn check_csrf(session: &Session, sent: Option<&str>) -> bool {
        sent.is_some_and(|t| !t.is_empty() && same(t, &session.csrf))
    }
}

/// The session id a request's `Cookie` header carries.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn lifetimes() -> Lifetimes {
        Lifetimes { idle: Duration::from_secs(600), absolute: Duration::from_secs(3600) }
    }

    fn store(secure: bool) -> Sessions {
        Sessions::new(Arc::new(continuum_cache::InProcessCache::new("t")), lifetimes(), secure)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        now() + chrono::TimeDelta::seconds(secs)
    }

    #[tokio::test]
    async fn sessions_expire_when_idle_and_at_their_absolute_end() {
        let s = store(false);
        let id = s.create("tok", Identity::default(), now()).await.unwrap();
        assert_eq!(id.len(), 43, "256 bits, base64url");
        let (session, _) = s.get(&id, at(500)).await.unwrap().unwrap();
        assert_eq!(session.token(), "tok");
        // Touched at +500 s: alive at +1000 s; idle from +1000 s, gone after +1600 s.
        assert!(s.get(&id, at(1000)).await.unwrap().is_some());
        assert!(s.get(&id, at(1601)).await.unwrap().is_none(), "idle expiry");
        assert!(s.cache.get(&key_of(&id)).await.unwrap().is_none(), "an ended session is deleted");

        let id = s.create("tok", Identity::default(), now()).await.unwrap();
        for step in 1..=6 {
            assert!(s.get(&id, at(step * 500)).await.unwrap().is_some());
        }
        assert!(s.get(&id, at(3601)).await.unwrap().is_none(), "absolute expiry");

        // Never past the token's own expiry.
        let identity = Identity { expires_at: Some(at(60)), ..Identity::default() };
        let id = s.create("tok", identity, now()).await.unwrap();
        assert!(s.get(&id, at(61)).await.unwrap().is_none());
        assert!(s.get("unknown", now()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn csrf_tokens_are_per_session_and_compared_exactly() {
        let s = store(false);
        let a = s.create("tok", Identity::default(), now()).await.unwrap();
        let b = s.create("tok", Identity::default(), now()).await.unwrap();
        let (sa, _) = s.get(&a, now()).await.unwrap().unwrap();
        let (sb, _) = s.get(&b, now()).await.unwrap().unwrap();
        assert_ne!(sa.csrf, sb.csrf);
        assert!(Sessions::check_csrf(&sa, Some(&sa.csrf)));
        assert!(!Sessions::check_csrf(&sa, Some(&sb.csrf)));
        assert!(!Sessions::check_csrf(&sa, Some("")));
        assert!(!Sessions::check_csrf(&sa, None));
        assert!(!Sessions::check_csrf(&sa, Some(&sa.csrf[..10])));
        assert!(!format!("{sa:?}").contains(&sa.csrf), "Debug prints no secret");
        assert!(!format!("{sa:?}").contains("tok"));
    }

    #[test]
    fn cookies_are_httponly_strict_and_secure_off_loopback() {
        let plain = store(false).cookie("abc");
        assert!(plain.starts_with("continuum_session=abc; Path=/; HttpOnly; SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let secure = store(true).cookie("abc");
        assert!(secure.ends_with("; Secure"));
        assert!(store(true).clear_cookie().contains("Max-Age=0"));

        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, "a=1; continuum_session=xyz; b=2".parse().unwrap());
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&http::HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn flash_messages_show_once() {
        let s = store(false);
        let id = s.create("tok", Identity::default(), now()).await.unwrap();
        s.flash(&id, "ok", "done").await.unwrap();
        assert_eq!(s.get(&id, now()).await.unwrap().unwrap().1.unwrap().text, "done");
        assert!(s.get(&id, now()).await.unwrap().unwrap().1.is_none());
        s.end(&id).await.unwrap();
        assert!(s.get(&id, now()).await.unwrap().is_none());
        s.flash(&id, "ok", "late").await.unwrap();
        assert!(s.cache.get(&key_of(&id)).await.unwrap().is_none(), "a flash brings nothing back");
    }

    /// Two gateway replicas on one cache (Redis in CI's second pass, else one in-process cache): a session
    /// started on one is served by the other, the record names neither the cookie nor the token, a record
    /// opened with another id's key reads as nothing, and sign-out on one ends it on both.
    #[tokio::test]
    async fn replicas_share_sessions_and_the_cache_holds_only_sealed_records() {
        let url = std::env::var("CONTINUUM_TEST_REDIS_URL").ok();
        let ns = format!("t-{}", uuid::Uuid::new_v4());
        let cache = continuum_cache::open(url.as_deref(), &ns).await.unwrap();
        let a = Sessions::new(cache.clone(), lifetimes(), false);
        // With Redis, the second replica has its own connection; in-process, one cache is all there is.
        let second = match &url {
            Some(_) => continuum_cache::open(url.as_deref(), &ns).await.unwrap(),
            None => cache.clone(),
        };
        let b = Sessions::new(second, lifetimes(), false);
        let real = Utc::now();
        let identity = Identity {
            user: "u1".into(),
            roles: vec!["coordinator".into()],
            ..Identity::default()
        };
        let id = a.create("header.payload-secret.sig", identity.clone(), real).await.unwrap();
        a.flash(&id, "warn", "from replica a").await.unwrap();

        let (on_b, flash) = b.get(&id, real).await.unwrap().expect("replica b serves the session");
        assert_eq!(on_b.token(), "header.payload-secret.sig");
        assert_eq!(on_b.identity, identity);
        assert_eq!(flash, Some(Flash { level: "warn", text: "from replica a".into() }));

        let stored = cache.get(&key_of(&id)).await.unwrap().expect("stored under the id's digest");
        assert!(cache.get(&id).await.unwrap().is_none(), "not stored under the cookie's value");
        for secret in ["payload-secret", id.as_str(), on_b.csrf.as_str(), "coordinator"] {
            assert!(!stored.contains(secret), "the record shows {secret:?}");
        }
        let other = a.random().unwrap();
        assert!(Sessions::open(&other, &stored).is_none(), "another id's key opens nothing");
        assert!(Sessions::open(&id, &stored).is_some());

        b.end(&id).await.unwrap();
        assert!(a.get(&id, real).await.unwrap().is_none(), "signed out on b is signed out on a");
        assert!(a.peek(&id, real).await.unwrap().is_none());
    }

    #[test]
    fn identity_comes_from_the_token_claims() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"sub":"u1","org":"0190D5A0-0000-7000-8000-000000000001","roles":["coordinator"],"exp":1800000000}"#,
        );
        let id = Identity::from_token(&format!("h.{payload}.s"));
        assert_eq!(id.user, "u1");
        assert_eq!(id.organization_id, "0190d5a0-0000-7000-8000-000000000001");
        assert!(id.has_role("coordinator"));
        assert_eq!(id.expires_at, Some(now()));
        assert_eq!(Identity::from_token("opaque"), Identity::default());
    }
}
