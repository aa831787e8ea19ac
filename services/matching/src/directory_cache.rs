//! The service's in-memory directory: an immutable, precompiled snapshot (`domain::directory`) behind an
//! `Arc`, so Recommend never loads rows per request.
//!
//! Freshness rule: writes made through this process patch the snapshot at once (write-through); writes
//! made by other replicas arrive through a delta refresh (`providers changed since watermark - skew`)
//! at most once per refresh interval, run by the first Recommend after the interval. A patch never
//! replaces a provider with an older copy of itself (version, then rating count, decide).

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::domain::directory::Directory;
use crate::domain::{Provider, Weights};
use crate::error::Result;
use crate::store::Store;

/// Delta refreshes re-read this much before the watermark, for clock skew between replicas and
/// transactions that commit a little after they stamped their rows.
const SKEW_MS: i64 = 5_000;

/// The cached directory.
#[derive(Debug)]
pub struct DirectoryCache {
    store: Store,
    weights: Arc<Weights>,
    refresh: Duration,
    current: RwLock<Option<Arc<Directory>>>,
    last_refresh: Mutex<Instant>,
    // Serialises loads and patches so two writers never build from the same base and lose an update.
    writer: tokio::sync::Mutex<()>,
}

fn is_newer(incoming: &Provider, current: Option<&Arc<Provider>>) -> bool {
    current.is_none_or(|c| {
        (incoming.version, incoming.alliance.ratings) > (c.version, c.alliance.ratings)
    })
}

impl DirectoryCache {
    /// A cache over `store`, empty until first used.
    pub fn new(store: Store, weights: Arc<Weights>, refresh: Duration) -> Self {
        Self {
            store,
            weights,
            refresh,
            current: RwLock::new(None),
            last_refresh: Mutex::new(Instant::now()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The weights the snapshot was compiled with.
    pub fn weights(&self) -> &Arc<Weights> {
        &self.weights
    }

    fn loaded(&self) -> Option<Arc<Directory>> {
        self.current.read().ok().and_then(|g| g.clone())
    }

    fn set(&self, d: Directory) {
        if let Ok(mut g) = self.current.write() {
            *g = Some(Arc::new(d));
        }
    }

    fn due(&self) -> bool {
        self.last_refresh.lock().map(|t| t.elapsed() >= self.refresh).unwrap_or(true)
    }

    fn mark_refreshed(&self) {
        if let Ok(mut t) = self.last_refresh.lock() {
            *t = Instant::now();
        }
    }

    /// The current snapshot: loaded in full on first use, refreshed by delta when the interval passed.
    pub async fn snapshot(&self) -> Result<Arc<Directory>> {
        if let Some(d) = self.loaded()
            && !self.due()
        {
            return Ok(d);
        }
        let _w = self.writer.lock().await;
        match self.loaded() {
            None => {
                let started = Instant::now();
                let all = self.store.all_providers().await?;
                let d = Directory::build(all, &self.weights);
                tracing::info!(
                    providers = d.len(),
                    load_ms = started.elapsed().as_millis() as u64,
                    "directory loaded"
                );
                self.set(d);
            }
            Some(d) if self.due() => {
                let changed = self.store.changed_since(d.watermark_ms() - SKEW_MS).await?;
                let newer: Vec<Provider> =
                    changed.into_iter().filter(|p| is_newer(p, d.get(&p.id))).collect();
                if !newer.is_empty() {
                    tracing::debug!(providers = newer.len(), "directory delta applied");
                    self.set(d.patched(newer, &self.weights));
                }
            }
            Some(_) => {}
        }
        self.mark_refreshed();
        self.loaded().ok_or_else(|| {
            crate::error::Error::Unexpected(anyhow::anyhow!(
                "directory snapshot missing after load"
            ))
        })
    }

    /// Patches providers just written by this process into the snapshot (no-op before the first load).
    /// Their per-segment alliance ratings are read first (writes return the provider row only); if that
    /// read fails the patch is skipped and the next delta refresh brings the providers in.
    pub async fn apply(&self, providers: Vec<Provider>) {
        let _w = self.writer.lock().await;
        if let Some(d) = self.loaded() {
            let mut newer: Vec<Provider> =
                providers.into_iter().filter(|p| is_newer(p, d.get(&p.id))).collect();
            if newer.iter().any(|p| p.alliance.ratings > 0 && p.alliance_segments.is_empty())
                && let Err(e) = self.store.attach_alliance_segments(&mut newer).await
            {
                tracing::warn!(error = %e, "alliance segments not read; the next directory refresh applies the write");
                return;
            }
            if !newer.is_empty() {
                self.set(d.patched(newer, &self.weights));
            }
        }
    }
}
