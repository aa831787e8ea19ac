//! The waitlist's use of the shared cache (Redis when configured, in-process otherwise): a record of every
//! offer's hold (`offer:<offer_id>` -> entry id, expiring with the hold) and the per-provider lock taken
//! around slot selection (`open-slots:<provider_id>`).
//!
//! The rule this module keeps: the cache is never the source of truth. The database decides who holds what
//! (conditional updates in `store`); the lock only keeps replicas from racing for the same entries, and a
//! cache failure is logged and worked around, never turned into a failed request or a lost offer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_cache::{Lock, SharedCache};

use crate::domain::Offer;

/// How long the open-slots lock lives if its holder dies without releasing it.
pub const LOCK_TTL: Duration = Duration::from_secs(60);

/// How long a caller waits for the open-slots lock before going ahead on the database guard alone.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

const LOCK_POLL: Duration = Duration::from_millis(20);

/// Offer holds and provider locks in the cache.
#[derive(Clone, Debug)]
pub struct Holds {
    cache: SharedCache,
}

impl Holds {
    /// Holds kept in `cache`.
    pub fn new(cache: SharedCache) -> Self {
        Self { cache }
    }

    /// Which cache implementation backs the holds ("redis" or "in-process").
    pub fn kind(&self) -> &'static str {
        self.cache.kind()
    }

    fn key(offer_id: &str) -> String {
        format!("offer:{offer_id}")
    }

    /// Records `offer`'s hold until its expiry (measured from `now`, the service clock).
    pub async fn record(&self, offer: &Offer, now: DateTime<Utc>) {
        let ttl =
            (offer.expires_at - now).to_std().unwrap_or(Duration::ZERO).max(Duration::from_secs(1));
        if let Err(e) =
            self.cache.set(&Self::key(offer.id.as_str()), offer.entry_id.as_str(), ttl).await
        {
            tracing::warn!(offer_id = %offer.id, error = %e, "could not record the offer hold in the cache");
        }
    }

    /// Mirrors a change that ended some offers and made others: the ended ones' holds are released and
    /// the new ones recorded.
    pub async fn pass_on<'a>(
        &self,
        ended: impl IntoIterator<Item = &'a Offer>,
        made: impl IntoIterator<Item = &'a Offer>,
        now: DateTime<Utc>,
    ) {
        for o in ended {
            self.release(o.id.as_str()).await;
        }
        for o in made {
            self.record(o, now).await;
        }
    }

    /// Drops the hold of an offer that was answered, withdrawn or expired.
    pub async fn release(&self, offer_id: &str) {
        if let Err(e) = self.cache.delete(&Self::key(offer_id)).await {
            tracing::warn!(offer_id = %offer_id, error = %e, "could not release the offer hold in the cache");
        }
    }

    /// The entry holding `offer_id` according to the cache (a hint; the database decides).
    pub async fn holder(&self, offer_id: &str) -> anyhow::Result<Option<String>> {
        self.cache.get(&Self::key(offer_id)).await
    }

    /// Takes the open-slots lock of `provider_id`, waiting up to [`LOCK_WAIT`]. `None` when it could not be
    /// taken (held too long elsewhere, or the cache is down): the caller goes ahead, because the
    /// conditional updates in the store keep the outcome correct; the lock only saves wasted work.
    pub async fn lock_provider(&self, provider_id: &str) -> Option<Lock> {
        let name = format!("open-slots:{provider_id}");
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            match Lock::try_acquire(&self.cache, &name, LOCK_TTL).await {
                Ok(Some(lock)) => return Some(lock),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(LOCK_POLL).await
                }
                Ok(None) => {
                    tracing::warn!(provider_id = %provider_id, "open-slots lock still held elsewhere; relying on the database guard");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(provider_id = %provider_id, error = %e, "cache unavailable for the open-slots lock; relying on the database guard");
                    return None;
                }
            }
        }
    }

    /// Releases a lock taken with [`Holds::lock_provider`].
    pub async fn unlock(&self, lock: Option<Lock>) {
        if let Some(lock) = lock
            && let Err(e) = lock.release().await
        {
            tracing::warn!(error = %e, "could not release the open-slots lock; it expires by itself");
        }
    }
}
