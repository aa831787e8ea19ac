//! Console sessions, kept server-side in the gateway's memory (nothing on disk, nothing in the browser but
//! a random id).
//!
//! - The session id is 256 random bits (base64url) in the cookie `continuum_session`: `HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, and `Secure` unless the gateway listens on loopback (plain HTTP on
//!   127.0.0.1 under `continuum up`). The store is keyed by the SHA-256 of the id, so a memory dump does
//!   not hand out live cookies.
//! - A session holds the user's bearer token (forwarded to the services on every call, never written
//!   anywhere), a CSRF token (the synchronizer token every form posts back; [`Sessions::check_csrf`]
//!   compares in constant time), what the token says about the user (display only: the services decide
//!   access from the verified token), and one flash message.
//! - Idle expiry (default 30 minutes without a request) and absolute expiry (default 8 hours, and never
//!   past the token's own `exp`); expired sessions are dropped on access and swept when the store grows.
//! - No personal health information is kept here: pages are read from the services at each request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const COOKIE: &str = "continuum_session";

/// Most sessions held at once (the oldest are dropped past it).
const MAX_SESSIONS: usize = 10_000;

/// Who is signed in (from the token's claims, unverified: for display and defaults only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

/// One signed-in user's session.
#[derive(Clone)]
pub struct Session {
    token: Arc<str>,
    /// The synchronizer token every form carries.
    pub csrf: String,
    /// Who is signed in.
    pub identity: Identity,
    created: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    expires: DateTime<Utc>,
    flash: Option<Flash>,
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
    inner: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    rng: Arc<SystemRandom>,
    lifetimes: Lifetimes,
    secure_cookie: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("lifetimes", &self.lifetimes)
            .field("secure_cookie", &self.secure_cookie)
            .finish_non_exhaustive()
    }
}

fn digest(id: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
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
    /// A store; cookies are `Secure` when `secure_cookie`.
    pub fn new(lifetimes: Lifetimes, secure_cookie: bool) -> Self {
        Self {
            inner: Arc::new(Mutex::new(HashMap::new())),
            rng: Arc::new(SystemRandom::new()),
            lifetimes,
            secure_cookie,
        }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session for `token` at `now`; returns the session id (the cookie's value).
    pub fn create(
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
            token: Arc::from(token),
            csrf: self.random()?,
            identity,
            created: now,
            last_seen: now,
            expires,
            flash: None,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            let idle = std_delta(self.lifetimes.idle);
            map.retain(|_, s| s.expires > now && s.last_seen + idle > now);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(digest(&id), session);
        Ok(id)
    }

    /// The live session with this id at `now` (touching it), taking its flash message; `None` when
    /// unknown or expired (an expired one is dropped).
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<(Session, Option<Flash>)> {
        let key = digest(id);
        let mut map = self.lock();
        let live = map
            .get(&key)
            .is_some_and(|s| s.expires > now && s.last_seen + std_delta(self.lifetimes.idle) > now);
        if !live {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_seen = now;
        let flash = s.flash.take();
        Some((s.clone(), flash))
    }

    /// The live session with this id at `now`, without touching it (its idle clock keeps running) and
    /// without taking its flash: the event stream, which must not keep an unattended session alive.
    pub fn peek(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let map = self.lock();
        let s = map.get(&digest(id))?;
        (s.expires > now && s.last_seen + std_delta(self.lifetimes.idle) > now).then(|| s.clone())
    }

    /// When the session `s` ends if nothing touches it again.
    pub fn ends_at(&self, s: &Session) -> DateTime<Utc> {
        s.expires.min(s.last_seen + std_delta(self.lifetimes.idle))
    }

    /// Sets the flash message shown on the session's next page.
    pub fn flash(&self, id: &str, level: &'static str, text: impl Into<String>) {
        if let Some(s) = self.lock().get_mut(&digest(id)) {
            s.flash = Some(Flash { level, text: text.into() });
        }
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// How many sessions are held (tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    fn store(secure: bool) -> Sessions {
        Sessions::new(
            Lifetimes { idle: Duration::from_secs(600), absolute: Duration::from_secs(3600) },
            secure,
        )
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_absolute_end() {
        let s = store(false);
        let id = s.create("tok", Identity::default(), now()).unwrap();
        assert_eq!(id.len(), 43, "256 bits, base64url");
        let (session, _) = s.get(&id, now() + chrono::TimeDelta::seconds(500)).unwrap();
        assert_eq!(session.token(), "tok");
        // Touched at +500 s: alive at +1000 s; idle from +1000 s, gone after +1600 s.
        assert!(s.get(&id, now() + chrono::TimeDelta::seconds(1000)).is_some());
        assert!(s.get(&id, now() + chrono::TimeDelta::seconds(1601)).is_none(), "idle expiry");
        assert!(s.is_empty(), "an expired session is dropped");

        let id = s.create("tok", Identity::default(), now()).unwrap();
        for step in 1..=6 {
            assert!(s.get(&id, now() + chrono::TimeDelta::seconds(step * 500)).is_some());
        }
        assert!(s.get(&id, now() + chrono::TimeDelta::seconds(3601)).is_none(), "absolute expiry");

        // Never past the token's own expiry.
        let identity = Identity {
            expires_at: Some(now() + chrono::TimeDelta::seconds(60)),
            ..Identity::default()
        };
        let id = s.create("tok", identity, now()).unwrap();
        assert!(s.get(&id, now() + chrono::TimeDelta::seconds(61)).is_none());
        assert!(s.get("unknown", now()).is_none());
    }

    #[test]
    fn csrf_tokens_are_per_session_and_compared_exactly() {
        let s = store(false);
        let a = s.create("tok", Identity::default(), now()).unwrap();
        let b = s.create("tok", Identity::default(), now()).unwrap();
        let (sa, _) = s.get(&a, now()).unwrap();
        let (sb, _) = s.get(&b, now()).unwrap();
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

    #[test]
    fn flash_messages_show_once() {
        let s = store(false);
        let id = s.create("tok", Identity::default(), now()).unwrap();
        s.flash(&id, "ok", "done");
        assert_eq!(s.get(&id, now()).unwrap().1.unwrap().text, "done");
        assert!(s.get(&id, now()).unwrap().1.is_none());
        s.end(&id);
        assert!(s.get(&id, now()).is_none());
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
