//! What waiting looks like in numbers: wait estimates for one entry (position among those waiting for
//! the same providers, a range from recent placements) and the waiting-time metrics of each organization
//! (NHS Talking Therapies style: share seen within 6 and 18 weeks, time to first and second appointment,
//! and the waitlist's length by band week by week, rebuilt from every entry's span and re-bandings).

use chrono::{DateTime, TimeDelta, Utc};

use super::{Band, BandLimits, Entry, EntryStatus};

/// Days of accepted offers the wait estimate looks back over.
pub const THROUGHPUT_WINDOW_DAYS: i64 = 90;

/// Weeks of the NHS Talking Therapies standards (75% within 6 weeks, 95% within 18 weeks).
pub const SEEN_WITHIN_WEEKS: (i64, i64) = (6, 18);

/// What the metrics need of one entry.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitFacts {
    /// The organization that enqueued the entry.
    pub organization_id: String,
    /// Start of the wait.
    pub enqueued_at: DateTime<Utc>,
    /// Where the entry stands now.
    pub status: EntryStatus,
    /// First appointment, when placed.
    pub first_appointment_at: Option<DateTime<Utc>>,
    /// Second appointment, when recorded.
    pub second_appointment_at: Option<DateTime<Utc>>,
    /// When the entry left the list (placed, removed, expired; its last change), `None` while on it.
    pub left_at: Option<DateTime<Utc>>,
    /// The entry's band from each moment on, oldest first: the band at enqueue (at `enqueued_at`), then
    /// the band after each check-in that re-banded it.
    pub bands: Vec<(DateTime<Utc>, Band)>,
}

impl WaitFacts {
    /// Whether the entry was on the list at `t` (enqueued at or before, not yet left).
    fn waiting_at(&self, t: DateTime<Utc>) -> bool {
        self.enqueued_at <= t && self.left_at.is_none_or(|left| t < left)
    }

    /// The entry's band at `t` (its first band before any change).
    fn band_at(&self, t: DateTime<Utc>) -> Option<Band> {
        let first = self.bands.first().map(|(_, b)| *b);
        self.bands.iter().take_while(|(from, _)| *from <= t).last().map(|(_, b)| *b).or(first)
    }
}

/// Weeks of history the length series covers at most (two years).
pub const MAX_LENGTH_WEEKS: u32 = 104;

/// How many entries were on the list in each band at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthPoint {
    /// The moment.
    pub at: DateTime<Utc>,
    /// Entries in the urgent band.
    pub urgent: i32,
    /// Entries in the soon band.
    pub soon: i32,
    /// Entries in the routine band.
    pub routine: i32,
}

/// The list's length by band at `weeks + 1` weekly points ending at `now`, oldest first (none when
/// `weeks` is 0). An entry counts at a point when it had been enqueued and had not yet left, in the band
/// it was in then, so a re-banded entry moves between lines at its check-in and nothing is counted from
/// today's state backwards.
pub fn length_by_band(entries: &[&WaitFacts], now: DateTime<Utc>, weeks: u32) -> Vec<LengthPoint> {
    if weeks == 0 {
        return Vec::new();
    }
    (0..=weeks.min(MAX_LENGTH_WEEKS))
        .rev()
        .map(|back| {
            let at = now - TimeDelta::weeks(i64::from(back));
            let mut point = LengthPoint { at, urgent: 0, soon: 0, routine: 0 };
            for e in entries.iter().filter(|e| e.waiting_at(at)) {
                match e.band_at(at) {
                    Some(Band::Urgent) => point.urgent += 1,
                    Some(Band::Soon) => point.soon += 1,
                    Some(Band::Routine) => point.routine += 1,
                    None => {}
                }
            }
            point
        })
        .collect()
}

/// What the metrics need of one check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInFacts {
    /// Organization of the entry.
    pub organization_id: String,
    /// The re-screen raised the band.
    pub deteriorated: bool,
    /// Risk rose (crisis interlock).
    pub crisis: bool,
}

/// Waiting-time metrics of one organization (see `OrganizationWaitMetrics` in the proto for meanings).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrgMetrics {
    /// The organization these metrics are of.
    pub organization_id: String,
    /// Entries placed.
    pub placed: i32,
    /// Entries still on the list.
    pub waiting: i32,
    /// Share seen within 6 weeks.
    pub within_6_weeks: f64,
    /// Share seen within 18 weeks.
    pub within_18_weeks: f64,
    /// Median days to the first appointment.
    pub median_days_to_first: f64,
    /// Median days to the second appointment.
    pub median_days_to_second: f64,
    /// Second appointments recorded.
    pub second_recorded: i32,
    /// Deterioration events while waiting.
    pub deterioration_events: i32,
    /// Crisis events while waiting.
    pub crisis_events: i32,
    /// The list's length by band, weekly (empty unless asked for).
    pub length_by_band: Vec<LengthPoint>,
}

fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 86_400_000.0
}

/// The median of `xs` (0 when empty).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len().is_multiple_of(2) { (xs[mid - 1] + xs[mid]) / 2.0 } else { xs[mid] }
}

/// The share of entries seen within `weeks` at `now`: placed with a first appointment within `weeks` of
/// enqueue, over the placed entries plus the active ones that have already waited longer than `weeks`
/// (they can no longer be seen in time, and leaving them out would hide the longest waits).
fn share_within(entries: &[&WaitFacts], weeks: i64, now: DateTime<Utc>) -> f64 {
    let limit = (weeks * 7) as f64;
    let mut within = 0u32;
    let mut total = 0u32;
    for e in entries {
        match (e.status, e.first_appointment_at) {
            (EntryStatus::Placed, Some(first)) => {
                total += 1;
                if days(e.enqueued_at, first) <= limit {
                    within += 1;
                }
            }
            (s, _) if s.is_active() && days(e.enqueued_at, now) > limit => total += 1,
            _ => {}
        }
    }
    if total == 0 { 0.0 } else { f64::from(within) / f64::from(total) }
}

/// Metrics per organization (ordered by organization id) from every entry and check-in, at `now`, with
/// `length_weeks` weeks of the length series ([`length_by_band`]).
pub fn wait_metrics(
    entries: &[WaitFacts],
    check_ins: &[CheckInFacts],
    now: DateTime<Utc>,
    length_weeks: u32,
) -> Vec<OrgMetrics> {
    let mut orgs: Vec<&str> = entries.iter().map(|e| e.organization_id.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    orgs.into_iter()
        .map(|org| {
            let mine: Vec<&WaitFacts> =
                entries.iter().filter(|e| e.organization_id == org).collect();
            let placed: Vec<&WaitFacts> = mine
                .iter()
                .copied()
                .filter(|e| e.status == EntryStatus::Placed && e.first_appointment_at.is_some())
                .collect();
            let firsts = placed
                .iter()
                .filter_map(|e| e.first_appointment_at.map(|f| days(e.enqueued_at, f)))
                .collect();
            let seconds: Vec<f64> = mine
                .iter()
                .filter_map(|e| e.second_appointment_at.map(|s| days(e.enqueued_at, s)))
                .collect();
            let checks: Vec<&CheckInFacts> =
                check_ins.iter().filter(|c| c.organization_id == org).collect();
            OrgMetrics {
                organization_id: org.to_owned(),
                placed: count(placed.len()),
                waiting: count(mine.iter().filter(|e| e.status.is_active()).count()),
                within_6_weeks: share_within(&mine, SEEN_WITHIN_WEEKS.0, now),
                within_18_weeks: share_within(&mine, SEEN_WITHIN_WEEKS.1, now),
                median_days_to_first: median(firsts),
                second_recorded: count(seconds.len()),
                median_days_to_second: median(seconds),
                deterioration_events: count(checks.iter().filter(|c| c.deteriorated).count()),
                crisis_events: count(checks.iter().filter(|c| c.crisis).count()),
                length_by_band: length_by_band(&mine, now, length_weeks),
            }
        })
        .collect()
}

/// A wait estimate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Entries ahead.
    pub position: i32,
    /// Low end, in days.
    pub low_days: i32,
    /// High end, in days.
    pub high_days: i32,
    /// How it was made, in plain words.
    pub basis: String,
}

/// Whole days left before `entry` reaches its band's maximum wait at `now` (0 when overdue).
pub fn days_left_in_band(entry: &Entry, now: DateTime<Utc>, limits: &BandLimits) -> i64 {
    let left_ms = (limits.max(entry.band) - (now - entry.enqueued_at)).num_milliseconds().max(0);
    let day = 86_400_000;
    (left_ms + day - 1) / day
}

/// The wait estimate rule. With `accepted` placements at the entry's providers in the last
/// [`THROUGHPUT_WINDOW_DAYS`] days, the recent rate is `r = accepted / 90` per day. The optimistic end
/// assumes placements run at 1.5 r and only the `position` entries ahead must be placed first:
/// `low = floor(position / (1.5 r))`. The pessimistic end assumes 0.5 r and counts this entry's own
/// placement: `high = ceil((position + 1) / (0.5 r))`. Without any recent placement there is no rate to
/// project, so the range is 0 up to the days left before the band's maximum wait (`days_left`).
pub fn estimate(position: usize, accepted: u64, days_left: i64) -> Estimate {
    let pos = i32::try_from(position).unwrap_or(i32::MAX);
    let clamp = |x: f64| {
        if x.is_finite() && x < f64::from(i32::MAX) { x.max(0.0) as i32 } else { i32::MAX }
    };
    if accepted == 0 {
        return Estimate {
            position: pos,
            low_days: 0,
            high_days: i32::try_from(days_left).unwrap_or(i32::MAX),
            basis: format!(
                "{position} waiting ahead for the same providers; no placements with these providers in the last \
                 {THROUGHPUT_WINDOW_DAYS} days, so no rate to project: the range runs to the end of the band's \
                 maximum wait ({days_left} days left)"
            ),
        };
    }
    let rate = accepted as f64 / THROUGHPUT_WINDOW_DAYS as f64;
    let low = (position as f64 / (rate * 1.5)).floor();
    let high = ((position as f64 + 1.0) / (rate * 0.5)).ceil();
    Estimate {
        position: pos,
        low_days: clamp(low),
        high_days: clamp(high),
        basis: format!(
            "{position} waiting ahead for the same providers; {accepted} placements with these providers in the \
             last {THROUGHPUT_WINDOW_DAYS} days ({rate:.2} a day); the low end assumes placements at 1.5 times \
             that pace, the high end at half of it"
        ),
    }
}
