//! Fair-aging priority: the wait fraction of an entry (how much of its band's maximum wait is used up),
//! the total order every list and every offer follows, the pages of that order, and the exact batch
//! choice of who gets the slots opened at several providers at once.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{EntryId, ProviderId};

use super::{Band, BandLimits, Entry};
use crate::error::{Error, Result};

/// The fraction of `band`'s maximum wait already waited between `enqueued_at` and `now` (0 when `now` is
/// before `enqueued_at`; above 1 means overdue).
pub fn wait_fraction(
    enqueued_at: DateTime<Utc>,
    band: Band,
    now: DateTime<Utc>,
    limits: &BandLimits,
) -> f64 {
    let waited = (now - enqueued_at).num_milliseconds().max(0);
    let max = limits.max(band).num_milliseconds().max(1);
    // Both are far below 2^53 ms for any real date, so the conversion is exact.
    waited as f64 / max as f64
}

/// Fair-aging priority: the larger wait fraction first, then the more urgent band, then the earlier
/// arrival, then the id (so the order is total and the same on every replica).
pub fn priority_cmp(a: (f64, &Entry), b: (f64, &Entry)) -> Ordering {
    b.0.total_cmp(&a.0)
        .then_with(|| a.1.band.rank().cmp(&b.1.band.rank()))
        .then_with(|| a.1.enqueued_at.cmp(&b.1.enqueued_at))
        .then_with(|| a.1.id.cmp(&b.1.id))
}

/// `entries` in priority order at `now`.
pub fn prioritize(entries: Vec<Entry>, now: DateTime<Utc>, limits: &BandLimits) -> Vec<Entry> {
    let mut keyed: Vec<(f64, Entry)> =
        entries.into_iter().map(|e| (e.wait_fraction(now, limits), e)).collect();
    keyed.sort_by(|a, b| priority_cmp((a.0, &a.1), (b.0, &b.1)));
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// Which entries of one band come before an entry in the priority order, as a bound on their arrival
/// that a store can count with an index instead of sorting the whole list ([`ahead_in_band`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AheadOf {
    /// Every entry of the band.
    All,
    /// Entries that arrived at or before this instant (in milliseconds).
    ArrivedBy(i64),
    /// Entries of the entry's own band that arrived before it (arrival, then id).
    Before {
        /// The entry's arrival (ms).
        enqueued_at_ms: i64,
        /// The entry's id.
        id: String,
    },
}

impl AheadOf {
    /// Whether `e` (an active entry of the band this bound is for) is ahead.
    pub fn holds_for(&self, e: &Entry) -> bool {
        let at = continuum_vocab::time::to_ms(e.enqueued_at);
        match self {
            AheadOf::All => true,
            AheadOf::ArrivedBy(t) => at <= *t,
            AheadOf::Before { enqueued_at_ms, id } => {
                (at, e.id.as_str()) < (*enqueued_at_ms, id.as_str())
            }
        }
    }
}

/// The entries of `band` ahead of the active entry `x` at `now`, exactly as [`priority_cmp`] orders them:
/// in `x`'s own band those that arrived before it; in another band those whose wait fraction is larger
/// (`waited_e / max_b > waited_x / max_x`, in whole milliseconds, so the bound is exact), or equal when
/// that band is more urgent.
pub fn ahead_in_band(x: &Entry, band: Band, now: DateTime<Utc>, limits: &BandLimits) -> AheadOf {
    let enq_x = continuum_vocab::time::to_ms(x.enqueued_at);
    if band == x.band {
        return AheadOf::Before { enqueued_at_ms: enq_x, id: x.id.to_string() };
    }
    let now = continuum_vocab::time::to_ms(now);
    let waited_x = i128::from((now - enq_x).max(0));
    let max_x = i128::from(limits.max(x.band).num_milliseconds().max(1));
    let max_b = i128::from(limits.max(band).num_milliseconds().max(1));
    let w = waited_x * max_b;
    let ties_win = band.rank() < x.band.rank();
    if w == 0 && ties_win {
        // x has waited nothing: every entry of a more urgent band is at least level with it.
        return AheadOf::All;
    }
    // e is strictly ahead iff waited_e * max_x > w, i.e. waited_e >= q + 1; level iff waited_e * max_x == w.
    let q = w / max_x;
    let level_counts = ties_win && w % max_x == 0;
    let bound = i128::from(now) - q - if level_counts { 0 } else { 1 };
    AheadOf::ArrivedBy(i64::try_from(bound).unwrap_or(i64::MIN))
}

/// The batch priority of an entry for the slot assigner, from its fair-aging wait fraction: 5 when
/// overdue (fraction >= 1), 4 from 0.75, 3 from 0.5, 2 from 0.25, 1 below.
pub fn batch_priority(wait_fraction: f64) -> u32 {
    match wait_fraction {
        f if f >= 1.0 => 5,
        f if f >= 0.75 => 4,
        f if f >= 0.5 => 3,
        f if f >= 0.25 => 2,
        _ => 1,
    }
}

/// How much an entry wants a provider, from the provider's rank in its candidate list (best first): 1000
/// for the first choice, 50 less for each later one, never below 500. The floor keeps a preference from
/// outweighing more than a doubling of priority, so an overdue client (priority 5) always beats a recent
/// one (priority 1 or 2) whatever their choices, and nobody is starved by ever-new first choices.
pub fn batch_score(rank: usize) -> u32 {
    let step = u32::try_from(rank).unwrap_or(u32::MAX).saturating_mul(50);
    1000u32.saturating_sub(step).max(500)
}

/// Chooses which WAITING entries get the slots opened at several providers at once (`slots`: provider id
/// and slots opened there), with the exact batch assigner (`continuum-assign`): it maximises the sum of
/// [`batch_priority`] x [`batch_score`] over the offers made, each entry getting at most one offer and
/// each provider at most its slots. `waiting` must be in priority order ([`prioritize`]); entries that do
/// not wait for a provider are not eligible for it. Among choices of equal weight the earlier entry in
/// priority order wins (an exchange that keeps the optimum), so the result is deterministic and as fair
/// as the optimum allows. Returns (entry id, provider id) pairs, in priority order of the entries.
pub fn assign_slots(
    waiting: &[Entry],
    slots: &[(ProviderId, usize)],
    now: DateTime<Utc>,
    limits: &BandLimits,
) -> Result<Vec<(EntryId, ProviderId)>> {
    use continuum_assign::{Edge, Instance, Solver};
    let weight_of = |c: usize, p: usize| -> Option<u32> {
        let e = waiting.get(c)?;
        let (provider, _) = slots.get(p)?;
        let rank = e.candidate_provider_ids.iter().position(|x| x == provider)?;
        Some(batch_priority(e.wait_fraction(now, limits)) * batch_score(rank))
    };
    let to_u32 = |n: usize| {
        u32::try_from(n).map_err(|_| Error::Unexpected(anyhow::anyhow!("slot batch too large")))
    };
    let mut edges = Vec::new();
    for (c, e) in waiting.iter().enumerate() {
        for (p, (provider, _)) in slots.iter().enumerate() {
            if let Some(rank) = e.candidate_provider_ids.iter().position(|x| x == provider) {
                edges.push(Edge {
                    client: to_u32(c)?,
                    provider: to_u32(p)?,
                    score: batch_score(rank),
                });
            }
        }
    }
    let instance = Instance {
        capacities: slots.iter().map(|(_, n)| to_u32(*n)).collect::<Result<_>>()?,
        priorities: waiting.iter().map(|e| batch_priority(e.wait_fraction(now, limits))).collect(),
        edges,
    };
    let mut solver = Solver::try_new(&instance)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("slot batch instance: {}", e.message)))?;
    let mut chosen: Vec<Option<usize>> =
        solver.solve().assignment.iter().map(|a| a.and_then(|p| usize::try_from(p).ok())).collect();
    // Tie-break by priority order: at each provider, the offers of one weight go to the earliest entries
    // of that weight among those holding them and those left without any offer. Swapping equal weights
    // keeps the sum, each entry's single offer and each provider's slot count.
    for p in 0..slots.len() {
        let mut weights: Vec<u32> = (0..waiting.len())
            .filter(|&c| chosen[c] == Some(p))
            .filter_map(|c| weight_of(c, p))
            .collect();
        weights.sort_unstable();
        weights.dedup();
        for w in weights {
            let holders: Vec<usize> = (0..waiting.len())
                .filter(|&c| chosen[c] == Some(p) && weight_of(c, p) == Some(w))
                .collect();
            let pool: Vec<usize> = (0..waiting.len())
                .filter(|&c| {
                    (chosen[c] == Some(p) || chosen[c].is_none()) && weight_of(c, p) == Some(w)
                })
                .take(holders.len())
                .collect();
            for c in holders {
                chosen[c] = None;
            }
            for c in pool {
                chosen[c] = Some(p);
            }
        }
    }
    Ok(chosen
        .iter()
        .enumerate()
        .filter_map(|(c, p)| Some((waiting.get(c)?.id.clone(), slots.get((*p)?)?.0.clone())))
        .collect())
}

/// A page of `items` starting at `offset`, and the offset of the next page when there is one.
pub fn page<T>(items: Vec<T>, offset: usize, size: usize) -> (Vec<T>, Option<usize>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let end = offset.saturating_add(page.len());
    (page, (end < total).then_some(end))
}
