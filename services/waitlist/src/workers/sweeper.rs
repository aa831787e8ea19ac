//! Expiry of unanswered offers. A background task runs [`Sweeper::sweep_expired`] every sweep interval
//! until shutdown; tests call it directly with a chosen "now". Every replica may sweep at the same time:
//! each offer is expired by a conditional update, so exactly one sweep handles it, and its freed slot goes
//! to the next best eligible entry in the same transaction.
//!
//! Each expiry runs in an `offer.expire` span that continues the trace of the request that made the offer
//! (its stored `traceparent`); the next offer made in that step stores this span's context in turn, so a
//! chain of expiries stays in the trace of the `OpenSlots` (or `Enqueue`) that started it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use continuum_runtime::Shutdown;
use tracing::Instrument;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::holds::Holds;
use crate::store::{Freed, Store};

/// Expires offers whose hold has ended.
#[derive(Clone, Debug)]
pub struct Sweeper {
    store: Store,
    holds: Holds,
    clock: SharedClock,
    /// The organization registry: every organization served gets its gauges (0 when it has no one
    /// waiting), so a dashboard shows 0 rather than no data and a quiet process exports the series.
    registry: Option<std::path::PathBuf>,
}

impl Sweeper {
    /// A sweeper over `store`, releasing holds in `holds`, reading time from `clock`.
    pub fn new(store: Store, holds: Holds, clock: SharedClock) -> Self {
        Self { store, holds, clock, registry: None }
    }

    /// Reports gauges for every organization in the registry at `path`, not only those with entries.
    pub fn with_registry(mut self, path: std::path::PathBuf) -> Self {
        self.registry = Some(path);
        self
    }

    /// The organizations of the registry (none when there is no registry or it cannot be read now).
    fn served_organizations(&self) -> Vec<String> {
        self.registry
            .as_deref()
            .and_then(|p| continuum_auth::registry::RegistryFile::read(p).ok())
            .map(|r| r.organizations.into_iter().map(|o| o.id.to_ascii_lowercase()).collect())
            .unwrap_or_default()
    }

    /// Expires every pending offer whose hold ended at or before `now` and offers each freed slot to the
    /// next best eligible WAITING entry (never the one whose offer just expired). Returns what it did.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<Vec<Freed>> {
        let mut done = Vec::new();
        for o in self.store.expired_offers(now).await? {
            let span =
                tracing::info_span!("offer.expire", offer_id = %o.id, entry_id = %o.entry_id);
            match self.store.offer_trace_parent(&o.id).await {
                Ok(parent) => continuum_telemetry::continue_trace(&span, &parent),
                Err(e) => {
                    tracing::debug!(offer_id = %o.id, error = %e, "no stored trace to continue")
                }
            }
            let Some(freed) = self.store.expire(&o.id, now).instrument(span.clone()).await? else {
                continue;
            };
            self.holds
                .pass_on([&freed.offer], &freed.next_offer, now)
                .instrument(span.clone())
                .await;
            // In the offer's span, so the line carries the trace of the request that made the offer.
            span.in_scope(|| {
                tracing::info!(
                    offer_id = %freed.offer.id,
                    entry_id = %freed.entry.id,
                    provider_id = %freed.offer.provider_id,
                    next_offer_id = freed.next_offer.as_ref().map(|n| n.id.as_str()).unwrap_or(""),
                    "offer expired"
                )
            });
            done.push(freed);
        }
        metrics::counter!("continuum_offers_expired_total").increment(done.len() as u64);
        Ok(done)
    }

    /// Sets the waitlist gauges: entries waiting and entries waiting beyond 18 weeks per band and
    /// organization, offers pending, and the median time to the first and second appointment per
    /// organization. Label sets that emptied since the last report are set to 0 rather than left at their
    /// last value.
    async fn report(&self, reported: &mut std::collections::HashSet<(&'static str, String)>) {
        let now = self.clock.now();
        let long = chrono::Duration::days(crate::telemetry::OVER_18_WEEKS_DAYS);
        let Ok((active, offered)) = self.store.active_counts(now - long).await else {
            return;
        };
        let mut counts: std::collections::HashMap<(&'static str, String), (u64, u64)> =
            std::collections::HashMap::new();
        let served = self.served_organizations();
        for org in &served {
            for band in crate::domain::Band::ALL {
                counts.entry((band.code(), org.clone())).or_default();
            }
        }
        for (band, org, n, over) in active {
            counts.insert((band.code(), org), (n, over));
        }
        for key in reported.iter() {
            if !counts.contains_key(key) {
                metrics::gauge!("continuum_waitlist_length", "band" => key.0, "organization" => key.1.clone()).set(0.0);
                metrics::gauge!("continuum_waitlist_over_18_weeks", "band" => key.0, "organization" => key.1.clone()).set(0.0);
            }
        }
        for ((band, org), (n, over)) in &counts {
            metrics::gauge!("continuum_waitlist_length", "band" => *band, "organization" => org.clone()).set(*n as f64);
            metrics::gauge!("continuum_waitlist_over_18_weeks", "band" => *band, "organization" => org.clone()).set(*over as f64);
        }
        *reported = counts.into_keys().collect();
        metrics::gauge!("continuum_offers_pending").set(offered as f64);
        if let Ok(facts) = self.store.placed_facts().await {
            // No appointment yet: no median (NaN, shown as a gap), but the series exists.
            for org in &served {
                for appointment in ["first", "second"] {
                    metrics::gauge!("continuum_time_to_appointment_days", "appointment" => appointment, "organization" => org.clone())
                        .set(f64::NAN);
                }
            }
            for m in crate::domain::wait_metrics(&facts, &[], now, 0) {
                metrics::gauge!("continuum_time_to_appointment_days", "appointment" => "first", "organization" => m.organization_id.clone())
                    .set(m.median_days_to_first);
                metrics::gauge!("continuum_time_to_appointment_days", "appointment" => "second", "organization" => m.organization_id)
                    .set(m.median_days_to_second);
            }
        }
    }

    /// Sweeps every `every` until `shutdown` is cancelled. Errors are logged and the next round retries.
    pub async fn run(self, every: Duration, shutdown: Shutdown) {
        let reported = tokio::sync::Mutex::new(std::collections::HashSet::new());
        // The gauges exist from start-up, not only after the first interval.
        self.report(&mut *reported.lock().await).await;
        continuum_outbox::run_every("offer sweeper", every, shutdown, || async {
            if let Err(e) = self.sweep_expired(self.clock.now()).await {
                tracing::warn!(error = %e, "offer sweep failed; retrying next round");
            }
            self.report(&mut *reported.lock().await).await;
        })
        .await;
    }
}
