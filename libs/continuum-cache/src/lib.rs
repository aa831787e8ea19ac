//! A small cache and lock abstraction with two implementations: Redis (chosen by a Redis URL; shared by
//! every replica) and in-process (the embedded default). Redis never holds the only copy of anything that
//! matters: callers keep the source of truth in their database and use this for fast paths, holds that
//! expire, and locks. Redis calls are bounded in time and guarded by a circuit breaker ([`breaker`]), so
//! a Redis outage costs callers nothing but their fallback.

pub mod breaker;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use redis::AsyncCommands;

/// A key/value store with expiry and compare-and-delete, enough for holds, idempotency hints and locks.
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug {
    /// The value at `key`, if present and not expired.
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>>;
    /// Sets `key` to `value`, expiring after `ttl`.
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()>;
    /// Sets `key` only when absent; true when this call set it. The building block of locks and holds.
    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool>;
    /// Replaces `key` only when present (not expired); true when this call replaced it. Refreshing a
    /// record that someone else may delete meanwhile (a session signed out) without bringing it back.
    async fn set_if_present(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool>;
    /// Deletes `key` only when it still holds `value` (releasing a lock this caller owns).
    async fn delete_if_equals(&self, key: &str, value: &str) -> anyhow::Result<bool>;
    /// Deletes `key`.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Adds `by` to the counter at `key` (created at 0 with expiry `ttl`) and returns the new count: the
    /// building block of fixed-window rate limits shared by every replica.
    async fn incr_by(&self, key: &str, by: i64, ttl: Duration) -> anyhow::Result<i64>;
    /// Which implementation this is ("redis" or "in-process").
    fn kind(&self) -> &'static str;
    /// Whether the backing store answers now (the in-process cache always does).
    async fn ping(&self) -> bool {
        true
    }
}

/// A shareable cache handle.
pub type SharedCache = Arc<dyn Cache>;

/// Opens Redis when `redis_url` is set, otherwise an in-process cache. Keys are prefixed with `namespace`.
pub async fn open(redis_url: Option<&str>, namespace: &str) -> anyhow::Result<SharedCache> {
    Ok(match redis_url {
        Some(url) => Arc::new(RedisCache::connect(url, namespace).await?),
        None => Arc::new(InProcessCache::new(namespace)),
    })
}

/// The embedded default: a map behind a mutex, with lazy expiry.
#[derive(Debug, Default)]
pub struct InProcessCache {
    prefix: String,
    entries: Mutex<HashMap<String, (String, Instant)>>,
}

impl InProcessCache {
    /// An empty cache with keys prefixed by `namespace`.
    pub fn new(namespace: &str) -> Self {
        Self { prefix: format!("{namespace}:"), entries: Mutex::default() }
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> R) -> R {
        // A poisoned lock only means another task panicked mid-update of a plain map; the data is usable.
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        guard.retain(|_, (_, exp)| *exp > now);
        f(&mut guard)
    }
}

#[async_trait]
impl Cache for InProcessCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let k = format!("{}{key}", self.prefix);
        Ok(self.with(|m| m.get(&k).map(|(v, _)| v.clone())))
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let k = format!("{}{key}", self.prefix);
        self.with(|m| m.insert(k, (value.to_owned(), Instant::now() + ttl)));
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        let k = format!("{}{key}", self.prefix);
        Ok(self.with(|m| match m.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((value.to_owned(), Instant::now() + ttl));
                true
            }
        }))
    }

    async fn set_if_present(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        let k = format!("{}{key}", self.prefix);
        Ok(self.with(|m| match m.get_mut(&k) {
            Some(slot) => {
                *slot = (value.to_owned(), Instant::now() + ttl);
                true
            }
            None => false,
        }))
    }

    async fn delete_if_equals(&self, key: &str, value: &str) -> anyhow::Result<bool> {
        let k = format!("{}{key}", self.prefix);
        Ok(self.with(|m| {
            if m.get(&k).is_some_and(|(v, _)| v == value) {
                m.remove(&k);
                true
            } else {
                false
            }
        }))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let k = format!("{}{key}", self.prefix);
        self.with(|m| m.remove(&k));
        Ok(())
    }

    async fn incr_by(&self, key: &str, by: i64, ttl: Duration) -> anyhow::Result<i64> {
        let k = format!("{}{key}", self.prefix);
        Ok(self.with(|m| {
            let entry = m.entry(k).or_insert_with(|| ("0".to_owned(), Instant::now() + ttl));
            let n = entry.0.parse::<i64>().unwrap_or(0) + by;
            entry.0 = n.to_string();
            n
        }))
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

/// Redis through a reconnecting connection manager, every operation under [`breaker::OP_TIMEOUT`] and the
/// circuit breaker.
#[derive(Clone)]
pub struct RedisCache {
    prefix: String,
    conn: redis::aio::ConnectionManager,
    breaker: Arc<breaker::Breaker>,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

const DELETE_IF_EQUALS: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl RedisCache {
    /// Connects to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        // Reconnects are quick and few: the breaker, not a long retry cycle inside one call, decides when
        // to try again.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(breaker::OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            redis::aio::ConnectionManager::new_with_config(client, config),
        )
        .await
        .context("connecting to Redis timed out")?
        .context("connecting to Redis")?;
        Ok(Self { prefix: format!("{namespace}:"), conn, breaker: Arc::default() })
    }

    /// Runs one Redis operation under the deadline and the breaker: refused at once while the circuit is
    /// open ([`breaker::Unavailable`]); a timeout or a connection error counts against Redis, a command
    /// error (a bug of ours) does not.
    async fn guarded<T>(
        &self,
        op: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> anyhow::Result<T> {
        if !self.breaker.admit(Instant::now()) {
            return Err(breaker::Unavailable.into());
        }
        match tokio::time::timeout(breaker::OP_TIMEOUT, op).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                Ok(v)
            }
            Ok(Err(e))
                if e.is_io_error()
                    || e.is_connection_refusal()
                    || e.is_connection_dropped()
                    || e.is_timeout() =>
            {
                self.breaker.failure(Instant::now(), &e);
                Err(e.into())
            }
            Ok(Err(e)) => {
                self.breaker.success();
                Err(e.into())
            }
            Err(_) => {
                self.breaker.failure(Instant::now(), &"no answer within the deadline");
                Err(breaker::Unavailable.into())
            }
        }
    }

    /// Whether the circuit is open (Redis was found unavailable and is not being used just now).
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `SET key value <condition> PX ttl` (`NX`: only when absent, `XX`: only when present); true when set.
    async fn set_when(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        condition: &str,
    ) -> anyhow::Result<bool> {
        let mut c = self.conn.clone();
        let cmd = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg(condition)
            .arg("PX")
            .arg(millis(ttl))
            .clone();
        let r: Option<String> = self.guarded(cmd.query_async(&mut c)).await?;
        Ok(r.is_some())
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut c = self.conn.clone();
        self.guarded(c.get(self.key(key))).await
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let mut c = self.conn.clone();
        let cmd =
            redis::cmd("SET").arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl)).clone();
        self.guarded(cmd.query_async::<()>(&mut c)).await
    }

    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        self.set_when(key, value, ttl, "NX").await
    }

    async fn set_if_present(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        self.set_when(key, value, ttl, "XX").await
    }

    async fn delete_if_equals(&self, key: &str, value: &str) -> anyhow::Result<bool> {
        let mut c = self.conn.clone();
        let script = redis::Script::new(DELETE_IF_EQUALS);
        let mut invocation = script.key(self.key(key));
        invocation.arg(value);
        let n: i64 = self.guarded(invocation.invoke_async(&mut c)).await?;
        Ok(n == 1)
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut c = self.conn.clone();
        self.guarded(c.del::<_, ()>(self.key(key))).await
    }

    async fn incr_by(&self, key: &str, by: i64, ttl: Duration) -> anyhow::Result<i64> {
        let mut c = self.conn.clone();
        let k = self.key(key);
        let pipe = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(&k)
            .arg(by)
            .cmd("PEXPIRE")
            .arg(&k)
            .arg(millis(ttl))
            .arg("NX")
            .ignore()
            .clone();
        let (n,): (i64,) = self.guarded(pipe.query_async(&mut c)).await?;
        Ok(n)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    /// A PING through the breaker: false at once while the circuit is open, and a successful PING after
    /// the cool-down is the probe that closes it.
    async fn ping(&self) -> bool {
        let mut c = self.conn.clone();
        let cmd = redis::cmd("PING");
        self.guarded(cmd.query_async::<String>(&mut c)).await.is_ok()
    }
}

/// A lock held in the cache until released or until its time-to-live passes (so a crashed holder never
/// blocks others for long).
#[derive(Debug)]
pub struct Lock {
    cache: SharedCache,
    key: String,
    token: String,
}

impl Lock {
    /// Tries once to take the lock named `name` for `ttl`; `None` when someone else holds it.
    pub async fn try_acquire(
        cache: &SharedCache,
        name: &str,
        ttl: Duration,
    ) -> anyhow::Result<Option<Lock>> {
        let key = format!("lock:{name}");
        let token = uuid::Uuid::new_v4().to_string();
        if cache.set_if_absent(&key, &token, ttl).await? {
            Ok(Some(Lock { cache: cache.clone(), key, token }))
        } else {
            Ok(None)
        }
    }

    /// Releases the lock if this holder still owns it.
    pub async fn release(self) -> anyhow::Result<bool> {
        self.cache.delete_if_equals(&self.key, &self.token).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    async fn exercise(cache: SharedCache) {
        let key = format!("test:{}", uuid::Uuid::new_v4());
        assert_eq!(cache.get(&key).await.unwrap(), None);
        assert!(cache.set_if_absent(&key, "a", Duration::from_secs(5)).await.unwrap());
        assert!(!cache.set_if_absent(&key, "b", Duration::from_secs(5)).await.unwrap());
        assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some("a"));
        assert!(cache.set_if_present(&key, "a2", Duration::from_secs(5)).await.unwrap());
        assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some("a2"));
        cache.set(&key, "a", Duration::from_secs(5)).await.unwrap();
        assert!(!cache.delete_if_equals(&key, "b").await.unwrap());
        assert!(cache.delete_if_equals(&key, "a").await.unwrap());
        assert_eq!(cache.get(&key).await.unwrap(), None);
        assert!(
            !cache.set_if_present(&key, "back", Duration::from_secs(5)).await.unwrap(),
            "a deleted key is not brought back"
        );
        assert_eq!(cache.get(&key).await.unwrap(), None);
        cache.set(&key, "short", Duration::from_millis(30)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache.get(&key).await.unwrap(), None, "expired values are gone");
        let lock = Lock::try_acquire(&cache, &key, Duration::from_secs(5)).await.unwrap().unwrap();
        assert!(Lock::try_acquire(&cache, &key, Duration::from_secs(5)).await.unwrap().is_none());
        assert!(lock.release().await.unwrap());
        assert!(Lock::try_acquire(&cache, &key, Duration::from_secs(5)).await.unwrap().is_some());
        let counter = format!("{key}:n");
        assert_eq!(cache.incr_by(&counter, 1, Duration::from_secs(5)).await.unwrap(), 1);
        assert_eq!(cache.incr_by(&counter, 5, Duration::from_secs(5)).await.unwrap(), 6);
    }

    #[tokio::test]
    async fn in_process_cache_semantics() {
        exercise(open(None, "t").await.unwrap()).await;
    }

    /// A TCP relay to `upstream` that can be paused: while paused it holds every byte (as a Redis that is
    /// stopped, SIGSTOP or a stalled host, would: connections stay open, nothing is answered, and what
    /// was sent is answered in order after). The worst case for callers: nothing fails, it just hangs.
    async fn relay(upstream: String) -> (String, Arc<std::sync::atomic::AtomicBool>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let paused = Arc::new(AtomicBool::new(false));
        let hole = paused.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let (h1, h2) = (hole.clone(), hole.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        while h1.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        while h2.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (format!("redis://{addr}/"), paused)
    }

    #[tokio::test]
    async fn a_redis_that_stops_answering_costs_callers_no_time() {
        // Runs against Redis when the test configuration names one (CI's second pass).
        let Ok(url) = std::env::var("CONTINUUM_TEST_REDIS_URL") else { return };
        let upstream = url.trim_start_matches("redis://").trim_end_matches('/').to_owned();
        let upstream = upstream.split('/').next().unwrap_or(&upstream).to_owned();
        let (via, paused) = relay(upstream).await;
        let cache = RedisCache::connect(&via, "t").await.unwrap();
        let key = format!("test:{}", uuid::Uuid::new_v4());
        cache.set(&key, "v", Duration::from_secs(30)).await.unwrap();

        paused.store(true, std::sync::atomic::Ordering::SeqCst);
        let started = Instant::now();
        for _ in 0..20 {
            let t = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(5), cache.get(&key)).await;
            assert!(answer.expect("a call hung").is_err(), "no answer is an error, not a value");
            assert!(t.elapsed() < Duration::from_secs(1), "one call waited {:?}", t.elapsed());
        }
        // Three calls wait for the deadline; the circuit then refuses the rest at once.
        assert!(cache.circuit_open());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "20 calls took {:?}",
            started.elapsed()
        );

        paused.store(false, std::sync::atomic::Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if cache.get(&key).await.ok().flatten().as_deref() == Some("v") {
                break;
            }
            assert!(Instant::now() < deadline, "the cache never came back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!cache.circuit_open());
    }

    #[tokio::test]
    async fn redis_cache_semantics() {
        // Runs against Redis when the test configuration names one (CI's second pass).
        let Ok(url) = std::env::var("CONTINUUM_TEST_REDIS_URL") else { return };
        exercise(open(Some(&url), "t").await.unwrap()).await;
    }
}
