//! The matching service's use cases: the only place that decides access (`access`) and talks to the
//! ports — the store, the in-memory directory (`DirectoryCache`) and intake (who may act for a client).
//! The gRPC adapter decodes a request into one of the commands here, calls the use case with the caller,
//! and encodes the outcome; the domain stays pure.

pub mod access;

use std::sync::Arc;

use continuum_auth::Caller;
use continuum_errors::page::Page;
use continuum_runtime::care::{CareRelationships, Needs};
use continuum_vocab::ids::{ClientId, ProviderId};
use continuum_vocab::{LevelOfCare, Modality, RelationalStyle};

use self::access::CapacityAsk;
use crate::config::FitModel;
use crate::directory_cache::DirectoryCache;
use crate::domain::alliance::{self, ClientSegment, StuckAction, StuckSignal};
use crate::domain::directory::Directory;
use crate::domain::{
    ClientNeeds, ImportItem, ImportOutcome, ImportedItem, Provider, ProviderDraft, Ranking, Weights,
};
use crate::error::{Error, ErrorReason, Result};
use crate::store::{CapacityChange, ImportResult, NewFeedback, ProviderFilter, Store};

/// Most items one ImportProviders stream may carry (the proto documents it); one more refuses the stream.
pub const MAX_IMPORT_ITEMS: usize = 10_000;
/// Most bytes of items (encoded) one ImportProviders stream may carry: bounds what an import holds in
/// memory until its stream ends.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;
/// Most failures an import keeps (and lists); the counts stay exact.
pub const MAX_IMPORT_ERRORS: usize = 1000;

/// A page of the directory to list.
#[derive(Clone, Debug)]
pub struct ProviderQuery {
    /// Organization and kind.
    pub filter: ProviderFilter,
    /// Only providers offering this level of care.
    pub level: Option<LevelOfCare>,
    /// The page.
    pub page: Page,
}

/// How a capacity changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityMove {
    /// Open slots move by this much.
    Delta(i32),
    /// Open slots (or a cohort's open seats) become this.
    Set(i32),
}

/// A capacity change of one provider.
#[derive(Clone, Debug)]
pub struct CapacityCommand {
    /// The provider.
    pub provider_id: ProviderId,
    /// The change.
    pub change: CapacityMove,
    /// Applies once per key.
    pub hold_key: Option<String>,
    /// Gives back the capacity taken under this key.
    pub gives_back: Option<String>,
    /// The cohort (programs).
    pub cohort_code: Option<String>,
    /// A take may go below zero (crisis).
    pub allow_overbook: bool,
    /// A take of one slot: the providers to take from instead, in order, when `provider_id` cannot
    /// give one (no open slot, not in the directory).
    pub or_providers: Vec<ProviderId>,
}

/// One session's feedback.
#[derive(Clone, Debug)]
pub struct FeedbackCommand {
    /// The provider.
    pub provider_id: ProviderId,
    /// The client.
    pub client_id: ClientId,
    /// Session number.
    pub session_number: i32,
    /// SRS items.
    pub srs: Vec<f64>,
    /// ORS items.
    pub ors: Vec<f64>,
    /// The modality of the sessions, when given.
    pub modality: Option<Modality>,
    /// The client's segment for alliance learning.
    pub segment: Option<ClientSegment>,
    /// The client's relational style as rated, when given.
    pub client_style: Option<RelationalStyle>,
    /// The client's needs, for re-match options when the pair is stuck.
    pub needs: Option<ClientNeeds>,
}

/// What recording feedback came to.
#[derive(Clone, Debug)]
pub struct FeedbackOutcome {
    /// The stored row.
    pub feedback_id: String,
    /// SRS total.
    pub srs_total: f64,
    /// ORS total.
    pub ors_total: f64,
    /// SRS below the concern line.
    pub alliance_concern: bool,
    /// The stuck signal of the pair.
    pub signal: StuckSignal,
    /// Other options when a re-match is suggested.
    pub rematch: Option<Ranking>,
    /// Sessions of the pair so far.
    pub pair_sessions: usize,
    /// The provider after the feedback.
    pub provider: Provider,
    /// The client's segment.
    pub segment: Option<ClientSegment>,
}

/// A ranking with the versions it was made with.
#[derive(Clone, Debug)]
pub struct Recommendation {
    /// Options, exclusions.
    pub ranking: Ranking,
    /// Version of the fit weights.
    pub weights_version: String,
    /// Version of the directory snapshot.
    pub directory_version: i64,
}

/// One item of an import that failed, with its place in the stream.
#[derive(Debug)]
pub struct ImportFailure {
    /// Position in the stream.
    pub index: usize,
    /// The provider id the item named.
    pub provider_id: String,
    /// Why.
    pub error: Error,
}

/// One stored item of an import, with its place in the stream.
#[derive(Debug)]
pub struct ImportStored {
    /// Position in the stream.
    pub index: usize,
    /// The item's import key.
    pub key: String,
    /// How, and the provider and version written.
    pub item: ImportedItem,
}

/// What an import stored and refused.
#[derive(Debug, Default)]
pub struct ImportSummary {
    /// Items received.
    pub received: i32,
    /// Created.
    pub created: i32,
    /// Updated.
    pub updated: i32,
    /// Imported before under the same key.
    pub unchanged: i32,
    /// Failed.
    pub failed: i32,
    /// The first [`MAX_IMPORT_ERRORS`] failures, by index.
    pub failures: Vec<ImportFailure>,
    /// Every stored item, by index.
    pub stored: Vec<ImportStored>,
}

/// The matching service's use cases.
#[derive(Clone, Debug)]
pub struct App {
    store: Store,
    model: FitModel,
    cache: Arc<DirectoryCache>,
    intake: CareRelationships,
}

/// A listing's organization must be the caller's: naming another one in a write is refused.
fn check_listing_organization(caller: &Caller, organization_id: &str) -> Result<()> {
    if caller.belongs_to(organization_id) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "providers can be written only for your own organization".into(),
        ))
    }
}

impl App {
    /// Use cases over `store` with fit model `model`, asking `intake` about care relationships.
    pub fn new(store: Store, model: FitModel, intake: CareRelationships) -> Self {
        let cache =
            Arc::new(DirectoryCache::new(store.clone(), model.weights.clone(), model.refresh));
        Self { store, model, cache, intake }
    }

    /// Loads the directory snapshot now (start-up warm-up); a failure is logged and retried by the first
    /// Recommend.
    pub async fn warm_directory(&self) {
        if let Err(e) = self.cache.snapshot().await {
            tracing::warn!(error = %e, "directory warm-up failed; the first Recommend will load it");
        }
    }

    /// Creates or replaces a listing of the caller's organization.
    pub async fn upsert_provider(&self, caller: &Caller, draft: ProviderDraft) -> Result<Provider> {
        check_listing_organization(caller, draft.organization_id.as_str())?;
        let p = self.store.upsert_provider(draft).await?;
        tracing::info!(provider_id = %p.id, version = p.version, "provider stored");
        self.cache.apply(vec![p.clone()]).await;
        Ok(p)
    }

    /// One listing (the directory is shared).
    pub async fn get_provider(&self, id: &ProviderId) -> Result<Provider> {
        self.store.get_provider(id).await
    }

    /// A page of the directory, and the token of the next (empty on the last).
    pub async fn list_providers(&self, q: ProviderQuery) -> Result<(Vec<Provider>, String)> {
        // The level filter reads the profile, so pages are filled by scanning forward.
        let want = q.page.fetch();
        let mut out = Vec::new();
        let mut cursor = q.page.after.clone();
        let mut more = true;
        while more && (out.len() as u64) < want {
            let batch = self.store.list_providers(&q.filter, cursor.as_deref(), want).await?;
            more = batch.len() as u64 == want;
            cursor = batch.last().map(|p| p.id.clone());
            let level = q.level;
            out.extend(
                batch
                    .into_iter()
                    .filter(|p| level.is_none_or(|l| p.profile.levels_of_care.contains(&l))),
            );
        }
        let next = q.page.finish(&mut out, |p| p.id.clone());
        Ok((out, next))
    }

    /// Changes a provider's capacity, when `access` allows the caller this change; the provider after
    /// it and whether it applied (a hold key applies once).
    pub async fn update_capacity(
        &self,
        caller: &Caller,
        cmd: CapacityCommand,
    ) -> Result<(Provider, bool)> {
        if !cmd.or_providers.is_empty() {
            return self.take_first_open(caller, cmd).await;
        }
        let id = &cmd.provider_id;
        let provider = self.store.get_provider(id).await?;
        let delta = match cmd.change {
            CapacityMove::Delta(d) => Some(d),
            CapacityMove::Set(_) => None,
        };
        let gives_back_here = match &cmd.gives_back {
            Some(key) if !caller.belongs_to(&provider.organization_id) => {
                Some(self.store.holds(id, key).await?)
            }
            Some(_) => Some(true),
            None => None,
        };
        let ask = CapacityAsk::of(delta, cmd.hold_key.is_some(), gives_back_here);
        access::may_change_capacity(caller, id.as_str(), &provider.organization_id, ask)?;
        let (p, applied) = match cmd.change {
            CapacityMove::Delta(delta) => {
                let change = CapacityChange {
                    provider_id: id.as_str(),
                    delta,
                    hold_key: cmd.hold_key.as_deref(),
                    allow_overbook: cmd.allow_overbook,
                    cohort_code: cmd.cohort_code.as_deref(),
                    gives_back: cmd.gives_back.as_deref(),
                };
                self.store.change_capacity(change).await?
            }
            CapacityMove::Set(n) => {
                (self.store.set_capacity(id, n, cmd.cohort_code.as_deref()).await?, true)
            }
        };
        Ok(self.capacity_changed(p, applied).await)
    }

    /// A capacity change as stored: logged, and the in-memory directory patched at once.
    async fn capacity_changed(&self, p: Provider, applied: bool) -> (Provider, bool) {
        tracing::info!(provider_id = %p.id, open_slots = p.open_slots, applied, "capacity changed");
        self.cache.apply(vec![p.clone()]).await;
        (p, applied)
    }

    /// The provider a slot was taken from under `hold_key`, if one was (a replay changes nothing).
    async fn replay_of(&self, hold_key: &str) -> Result<Option<(Provider, bool)>> {
        match self.store.taken_under(hold_key).await? {
            Some(id) => Ok(Some((self.store.get_provider(&id).await?, false))),
            None => Ok(None),
        }
    }

    /// A take of one slot under the command's hold key from the first of its provider and then its
    /// `or_providers`, in that order, that has one: the provider taken from. A replay of the key answers the
    /// provider the key took from, unchanged. A provider the caller may not take from, one no longer in the
    /// directory and one without an open slot (as committed, or under the take's lock) are passed over;
    /// `NO_CAPACITY` when every one is, and nothing is taken (issue 12: concurrent routings ranked alike
    /// race for the same last slots, and each full provider cost a call from intake to referral and from
    /// referral to here).
    async fn take_first_open(
        &self,
        caller: &Caller,
        cmd: CapacityCommand,
    ) -> Result<(Provider, bool)> {
        let Some(key) = cmd.hold_key.as_deref() else {
            return Err(Error::invalid("hold_key", "is required with or_provider_ids"));
        };
        if let Some(replayed) = self.replay_of(key).await? {
            return Ok(replayed);
        }
        let mut ids = cmd.or_providers;
        ids.insert(0, cmd.provider_id);
        for p in self.store.open_of(&ids).await? {
            let ask = CapacityAsk::TakeOne;
            if access::may_change_capacity(caller, &p.id, &p.organization_id, ask).is_err() {
                continue;
            }
            let taken = if p.has_cohorts {
                let change = CapacityChange {
                    provider_id: &p.id,
                    delta: -1,
                    hold_key: Some(key),
                    ..Default::default()
                };
                self.store.apply_locked(change).await.map(Some)
            } else {
                self.store.take_listed_slot(&p.id, key).await.map(|t| t.map(|p| (p, true)))
            };
            match taken {
                Ok(Some((p, applied))) => return Ok(self.capacity_changed(p, applied).await),
                Ok(None) => {}
                Err(e) if e.is_refusal(ErrorReason::NoCapacity) => {}
                Err(Error::NotFound { .. }) => {}
                // A concurrent twin under the same key committed first: its take is this one.
                Err(Error::AlreadyExists { .. }) => {
                    if let Some(replayed) = self.replay_of(key).await? {
                        return Ok(replayed);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::precondition(
            ErrorReason::NoCapacity,
            format!("none of the {} providers has an open slot", ids.len()),
        ))
    }

    /// The best `top_k` options for `needs` from the directory, explained. A directory of more than
    /// [`RANK_INLINE_UP_TO`] providers is ranked on the blocking pool.
    pub async fn recommend(&self, needs: &ClientNeeds, top_k: usize) -> Result<Recommendation> {
        let dir = self.cache.snapshot().await?;
        let (w, now) = (self.cache.weights(), now_ms());
        if dir.len() <= RANK_INLINE_UP_TO {
            return Ok(recommendation(&dir, w, needs, top_k, now));
        }
        let (w, needs) = (Arc::clone(w), needs.clone());
        off_the_runtime(move || recommendation(&dir, &w, &needs, top_k, now)).await
    }

    /// One recommendation per (needs, top_k), in order, all from the same view of the directory and the
    /// same weights (`BatchRecommendForClient`); on the blocking pool as [`App::recommend`] says.
    pub async fn recommend_many(
        &self,
        asks: &[(ClientNeeds, usize)],
    ) -> Result<Vec<Recommendation>> {
        let dir = self.cache.snapshot().await?;
        let (w, now) = (self.cache.weights(), now_ms());
        let rank = move |dir: &Directory, w: &Weights, asks: &[(ClientNeeds, usize)]| {
            asks.iter().map(|(needs, top_k)| recommendation(dir, w, needs, *top_k, now)).collect()
        };
        if dir.len() <= RANK_INLINE_UP_TO {
            return Ok(rank(&dir, w, asks));
        }
        let (w, asks) = (Arc::clone(w), asks.to_vec());
        off_the_runtime(move || rank(&dir, &w, &asks)).await
    }

    /// An import of listings for `caller`'s organization, fed item by item.
    pub fn importer<'a>(&'a self, caller: &'a Caller) -> Importer<'a> {
        Importer {
            app: self,
            caller,
            items: Vec::new(),
            keys: std::collections::HashSet::new(),
            bytes: 0,
            summary: ImportSummary::default(),
        }
    }

    /// The client's session feedback with providers of the caller's organization, as care events.
    pub async fn care_events(
        &self,
        caller: &Caller,
        client_id: &ClientId,
    ) -> Result<Vec<continuum_proto::common::v1::CareEvent>> {
        let mut feedback = self.store.client_feedback(client_id).await?;
        let mut own: std::collections::HashMap<ProviderId, bool> = std::collections::HashMap::new();
        for f in &feedback {
            if !own.contains_key(&f.provider_id) {
                let mine = match self.store.get_provider(&f.provider_id).await {
                    Ok(p) => caller.belongs_to(&p.organization_id),
                    Err(Error::NotFound { .. }) => false,
                    Err(e) => return Err(e),
                };
                own.insert(f.provider_id.clone(), mine);
            }
        }
        feedback.retain(|f| own.get(&f.provider_id).copied().unwrap_or(false));
        let events =
            crate::care_events::of_feedback(&feedback, &caller.organization_id, &self.model.stuck);
        tracing::info!(client_id = %client_id, events = events.len(), "care events listed");
        Ok(events)
    }

    /// Records one session's feedback: by the provider's organization, about a client intake says it may
    /// act for; learns the alliance, and suggests a repair or a re-match when the pair is stuck.
    pub async fn record_feedback(
        &self,
        caller: &Caller,
        cmd: FeedbackCommand,
    ) -> Result<FeedbackOutcome> {
        let owner = self.store.get_provider(&cmd.provider_id).await?.organization_id;
        access::owns_provider(caller, cmd.provider_id.as_str(), &owner)?;
        self.intake.check(caller, cmd.client_id.as_str(), None, Needs::OwnerOrRecipient).await?;
        let srs_total: f64 = cmd.srs.iter().sum();
        let ors_total: f64 = cmd.ors.iter().sum();
        let new = NewFeedback {
            provider_id: cmd.provider_id.clone(),
            client_id: cmd.client_id,
            session_number: cmd.session_number,
            srs: cmd.srs,
            ors: cmd.ors,
            client_style: cmd.client_style,
            segment: cmd.segment,
        };
        let (feedback_id, provider, history) =
            self.store.record_feedback(new, srs_total, ors_total).await?;
        self.cache.apply(vec![provider.clone()]).await;
        let signal = alliance::assess(&history, &self.model.stuck);
        let rematch = match (signal.action, cmd.needs) {
            (StuckAction::Rematch, Some(mut needs)) => {
                // A different modality or clinician: the current provider is excluded, the current
                // modality is ruled out (providers offering only it fail "client_exclusions") and counts
                // as tried.
                needs.fit.excluded_provider_ids.push(cmd.provider_id.to_string());
                if let Some(m) = cmd.modality {
                    if !needs.modalities_avoided.contains(&m) {
                        needs.modalities_avoided.push(m);
                    }
                    needs.fit.modalities_tried.push(m);
                }
                let dir = self.cache.snapshot().await?;
                Some(dir.rank(
                    &needs,
                    self.cache.weights(),
                    5,
                    chrono::Utc::now().timestamp_millis(),
                ))
            }
            _ => None,
        };
        tracing::info!(feedback_id = %feedback_id, provider_id = %cmd.provider_id, stuck = signal.stuck, action = ?signal.action, "session feedback recorded");
        Ok(FeedbackOutcome {
            feedback_id,
            srs_total,
            ors_total,
            alliance_concern: srs_total < self.model.stuck.srs_concern_below,
            signal,
            rematch,
            pair_sessions: history.len(),
            provider,
            segment: cmd.segment,
        })
    }
}

/// An import in progress: items are validated as they arrive and the valid ones held (within
/// [`MAX_IMPORT_ITEMS`] and [`MAX_IMPORT_BYTES`]); nothing is written until [`Importer::commit`], which
/// stores them all in one transaction. Dropping the importer (the stream failed, was cancelled, or broke a
/// limit) stores nothing.
#[derive(Debug)]
pub struct Importer<'a> {
    app: &'a App,
    caller: &'a Caller,
    items: Vec<(usize, ImportItem)>,
    keys: std::collections::HashSet<String>,
    bytes: usize,
    summary: ImportSummary,
}

impl Importer<'_> {
    /// Takes item `index` of the stream, `size` bytes on the wire: its validated form, or why it is
    /// invalid. An error here (a limit broken) ends the import with nothing stored.
    pub fn add(
        &mut self,
        index: usize,
        size: usize,
        provider_id: String,
        item: Result<ImportItem>,
    ) -> Result<()> {
        self.summary.received += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.summary.received as usize > MAX_IMPORT_ITEMS {
            return Err(Error::LimitExceeded(format!(
                "an import stream may carry at most {MAX_IMPORT_ITEMS} items; nothing was stored, \
                 send the directory in several streams"
            )));
        }
        if self.bytes > MAX_IMPORT_BYTES {
            return Err(Error::LimitExceeded(format!(
                "an import stream may carry at most {} MiB of items; nothing was stored, send the \
                 directory in several streams",
                MAX_IMPORT_BYTES / (1024 * 1024)
            )));
        }
        let checked = item
            .and_then(|i| {
                check_listing_organization(self.caller, i.draft.organization_id.as_str())
                    .map(|()| i)
            })
            .and_then(|i| {
                if self.keys.insert(i.key.clone()) {
                    Ok(i)
                } else {
                    Err(Error::invalid("import_key", "is used by an earlier item of this stream"))
                }
            });
        match checked {
            Ok(i) => self.items.push((index, i)),
            Err(error) => self.fail(index, provider_id, error),
        }
        Ok(())
    }

    /// Stores every valid item in one transaction (the stream ended cleanly) and returns what was stored
    /// and refused. The in-memory directory takes the stored providers after the commit.
    pub async fn commit(mut self) -> Result<ImportSummary> {
        let (indices, items): (Vec<usize>, Vec<ImportItem>) =
            std::mem::take(&mut self.items).into_iter().unzip();
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|i| {
                (i.key.clone(), i.draft.id.as_ref().map(ToString::to_string).unwrap_or_default())
            })
            .collect();
        let organization = self.caller.organization_id.to_ascii_lowercase();
        let (results, stored) = if items.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            self.app.store.import(&organization, items).await?
        };
        for ((index, (key, id)), r) in indices.into_iter().zip(keys).zip(results) {
            match r {
                ImportResult::Stored(item) => {
                    match item.outcome {
                        ImportOutcome::Created => self.summary.created += 1,
                        ImportOutcome::Updated => self.summary.updated += 1,
                        ImportOutcome::Unchanged => self.summary.unchanged += 1,
                    }
                    self.summary.stored.push(ImportStored { index, key, item });
                }
                ImportResult::Failed(e) => self.fail(index, id, e),
            }
        }
        self.summary.failures.sort_by_key(|f| f.index);
        self.app.cache.apply(stored).await;
        let s = &self.summary;
        tracing::info!(
            received = s.received,
            created = s.created,
            updated = s.updated,
            unchanged = s.unchanged,
            failed = s.failed,
            "providers imported"
        );
        Ok(self.summary)
    }

    fn fail(&mut self, index: usize, provider_id: String, error: Error) {
        self.summary.failed += 1;
        if self.summary.failures.len() < MAX_IMPORT_ERRORS {
            self.summary.failures.push(ImportFailure { index, provider_id, error });
        }
    }
}

/// The largest directory ranked on the calling task. A ranking over 20,000 providers takes 0.3 ms (over a
/// millisecond when nearly all pass the hard constraints), which would hold up every other call the
/// service's runtime serves meanwhile (under `continuum up` a runtime of one thread), so a larger directory
/// is ranked on the blocking pool; a small one costs less to rank than to hand over.
pub const RANK_INLINE_UP_TO: usize = 1_000;

/// The rankings that may run on the blocking pool at once: one per core. More would not rank any faster,
/// and each running ranking holds a thread of the pool and its scratch memory (at 32 calls in flight over
/// 20,000 providers the pool grew to 32 threads); a ranking beyond them waits for a turn.
fn ranking_turns() -> &'static Arc<tokio::sync::Semaphore> {
    static TURNS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Arc::new(tokio::sync::Semaphore::new(cores))
    })
}

/// Runs a ranking on the blocking pool, in the caller's span, once one of [`ranking_turns`] is free. The
/// turn goes with the ranking, not the caller: a call given up on still holds it until its ranking ends.
async fn off_the_runtime<T: Send + 'static>(
    rank: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let span = tracing::Span::current();
    let turn = Arc::clone(ranking_turns())
        .acquire_owned()
        .await
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("ranking turns closed: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        span.in_scope(rank)
    })
    .await
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("ranking failed: {e}")))
}

/// The current time in milliseconds, as the ranking reads it.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `dir`'s best `top_k` options for `needs` under `w`, explained (and logged with codes and counts only).
fn recommendation(
    dir: &Directory,
    w: &Weights,
    needs: &ClientNeeds,
    top_k: usize,
    now_ms: i64,
) -> Recommendation {
    let ranking = dir.rank(needs, w, top_k, now_ms);
    tracing::info!(
        level_of_care = needs.level_of_care.code(),
        age_group = needs.age_group.code(),
        considered = ranking.considered,
        options = ranking.options.len(),
        weights_version = %w.version,
        "recommended"
    );
    Recommendation { ranking, weights_version: w.version.clone(), directory_version: dir.version() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Rankings beyond one per core wait for a turn instead of each taking a thread of the blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_rankings_run_at_once_than_there_are_cores() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            calls.spawn(off_the_runtime(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        while let Some(done) = calls.join_next().await {
            done.unwrap().unwrap();
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let most = most.load(Ordering::SeqCst);
        assert!((1..=cores).contains(&most), "{most} rankings at once on {cores} cores");
    }
}
