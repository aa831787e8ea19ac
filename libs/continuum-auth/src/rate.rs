//! The per-organization rate limit: a fixed one-minute window per organization, counted in the shared
//! cache (Redis, so every replica counts against the same budget), taken a lease at a time.
//!
//! Issue 12: counting each call in Redis cost a round trip per call. A replica now counts `lease` calls
//! at once (`INCRBY`) and admits that many locally before it asks again: about one round trip per
//! `lease` calls. The limit stays exact in the one direction that matters — across all replicas no more
//! than `per_minute` calls of an organization are admitted in a minute — and errs the other way by what
//! leases leave unused: up to `lease - 1` calls per replica and minute counted but never made, so an
//! organization may be told to slow down that many calls early. The lease is 1 % of the budget (at least
//! 1, at most 100), so a small budget (the tests' 3 per minute) is still counted call by call. Once an
//! organization's budget for a minute is spent, the replica refuses its calls for the rest of that minute
//! without asking again (the count only grows within a window).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use continuum_cache::SharedCache;

/// How long the shared counter of a window outlives it.
const WINDOW_TTL: Duration = Duration::from_secs(120);

/// The per-organization limit of one replica ([module docs](self)).
#[derive(Debug)]
pub(crate) struct RateLimit {
    cache: SharedCache,
    per_minute: u64,
    lease: u64,
    /// Per organization: the minute its local lease is for and what is left of it.
    leases: Mutex<HashMap<String, Lease>>,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    minute: i64,
    left: u64,
    /// The budget of `minute` is spent: refuse without asking.
    spent: bool,
}

impl RateLimit {
    /// At most `per_minute` calls per organization and minute, counted in `cache`.
    pub(crate) fn new(cache: SharedCache, per_minute: u64) -> Self {
        Self {
            cache,
            per_minute,
            lease: (per_minute / 100).clamp(1, 100),
            leases: Mutex::new(HashMap::new()),
        }
    }

    /// The budget of an organization per minute (0: no limit).
    pub(crate) fn per_minute(&self) -> u64 {
        self.per_minute
    }

    /// Whether one more call of `organization_id` fits its budget for the current minute. A cache that
    /// cannot be reached is the error (the caller decides to fail open).
    pub(crate) async fn admit(&self, organization_id: &str) -> anyhow::Result<bool> {
        self.admit_at(organization_id, chrono::Utc::now().timestamp() / 60).await
    }

    async fn admit_at(&self, organization_id: &str, minute: i64) -> anyhow::Result<bool> {
        if let Some(admitted) = self.take_from_lease(organization_id, minute) {
            return Ok(admitted);
        }
        let lease = i64::try_from(self.lease).unwrap_or(1);
        let key = format!("rate:{organization_id}:{minute}");
        let counted = self.cache.incr_by(&key, lease, WINDOW_TTL).await?;
        // The calls counted before this lease, and how many of the lease still fit the budget.
        let before = u64::try_from(counted - lease).unwrap_or(0);
        let granted = self.per_minute.saturating_sub(before).min(self.lease);
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = leases.entry(organization_id.to_owned()).or_insert(Lease {
            minute,
            left: 0,
            spent: false,
        });
        if entry.minute != minute {
            *entry = Lease { minute, left: 0, spent: false };
        }
        if granted == 0 {
            entry.spent = true;
            return Ok(false);
        }
        // This call takes one; the rest waits for the next calls (added to what a concurrent lease left).
        entry.left += granted - 1;
        Ok(true)
    }

    /// `Some` when the local lease decides: a call taken from it, or a refusal in a spent minute.
    fn take_from_lease(&self, organization_id: &str, minute: i64) -> Option<bool> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        let lease = leases.get_mut(organization_id).filter(|l| l.minute == minute)?;
        if lease.spent {
            return Some(false);
        }
        if lease.left == 0 {
            return None;
        }
        lease.left -= 1;
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use continuum_cache::{Cache, InProcessCache};

    use super::*;

    /// The in-process cache, counting the calls that reach it.
    #[derive(Debug)]
    struct Counted {
        inner: InProcessCache,
        incrs: AtomicU64,
    }

    #[async_trait]
    impl Cache for Counted {
        async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
            self.inner.set(key, value, ttl).await
        }
        async fn set_if_absent(
            &self,
            key: &str,
            value: &str,
            ttl: Duration,
        ) -> anyhow::Result<bool> {
            self.inner.set_if_absent(key, value, ttl).await
        }
        async fn set_if_present(
            &self,
            key: &str,
            value: &str,
            ttl: Duration,
        ) -> anyhow::Result<bool> {
            self.inner.set_if_present(key, value, ttl).await
        }
        async fn delete_if_equals(&self, key: &str, value: &str) -> anyhow::Result<bool> {
            self.inner.delete_if_equals(key, value).await
        }
        async fn delete(&self, key: &str) -> anyhow::Result<()> {
            self.inner.delete(key).await
        }
        async fn incr_by(&self, key: &str, by: i64, ttl: Duration) -> anyhow::Result<i64> {
            self.incrs.fetch_add(1, Ordering::Relaxed);
            self.inner.incr_by(key, by, ttl).await
        }
        fn kind(&self) -> &'static str {
            "counted"
        }
    }

    fn shared() -> Arc<Counted> {
        Arc::new(Counted { inner: InProcessCache::new("t"), incrs: AtomicU64::new(0) })
    }

    async fn admitted(limit: &RateLimit, org: &str, minute: i64, calls: usize) -> usize {
        let mut n = 0;
        for _ in 0..calls {
            n += usize::from(limit.admit_at(org, minute).await.unwrap());
        }
        n
    }

    #[tokio::test]
    async fn two_replicas_never_admit_more_than_the_budget_and_ask_once_per_lease() {
        let cache = shared();
        let a = RateLimit::new(cache.clone(), 1_000);
        let b = RateLimit::new(cache.clone(), 1_000);
        // Ten calls a lease: 600 calls on one replica, 600 on the other, interleaved.
        let (mut on_a, mut on_b) = (0, 0);
        for _ in 0..60 {
            on_a += admitted(&a, "org-1", 7, 10).await;
            on_b += admitted(&b, "org-1", 7, 10).await;
        }
        assert_eq!(on_a + on_b, 1_000, "the budget, and not one call more");
        let asked = cache.incrs.load(Ordering::Relaxed);
        assert!(
            asked <= 102,
            "one shared count per lease of ten (and one per replica to learn the minute is spent), not per call: {asked}"
        );
        // A spent minute refuses without asking; the next minute and another organization start afresh.
        assert_eq!(admitted(&a, "org-1", 7, 50).await, 0);
        assert_eq!(cache.incrs.load(Ordering::Relaxed), asked);
        assert_eq!(admitted(&a, "org-1", 8, 10).await, 10);
        assert_eq!(admitted(&b, "org-2", 7, 10).await, 10);
    }

    #[tokio::test]
    async fn a_small_budget_is_counted_call_by_call() {
        let cache = shared();
        let a = RateLimit::new(cache.clone(), 3);
        let b = RateLimit::new(cache.clone(), 3);
        assert_eq!(admitted(&a, "org-1", 1, 2).await + admitted(&b, "org-1", 1, 5).await, 3);
        // A lease of one: nothing counted and left unused, so b got the third call.
        assert_eq!(admitted(&a, "org-1", 1, 1).await, 0);
    }
}
