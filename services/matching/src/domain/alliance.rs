//! What session feedback teaches (pure, no I/O).
//!
//! Three rules, each documented where it is implemented:
//! - **Alliance learning** ([`AllianceStats::shrunk_srs`], [`segment_srs`]): the mean SRS total given to a
//!   provider by clients *similar to the one being matched* ([`ClientSegment`]: same age group and, when
//!   known, same main concern), shrunk first toward the provider's overall estimate and that one toward a
//!   global prior, so that a thin segment (or a provider with two ratings) is not ranked on them alone.
//! - **Corrected relational style** ([`AllianceStats::observed_style`]): the self-reported style, pulled
//!   toward the stated preferences of clients who rated the alliance well.
//! - **Stuck signal** ([`assess`]): two SRS totals below 36 for one client-provider pair, or no reliable ORS
//!   improvement after N sessions; the first signal suggests a repair, a later one a re-match.

use continuum_vocab::{AgeGroup, ProblemDomain, RelationalStyle};
use serde::{Deserialize, Serialize};

/// SRS total below which the alliance is a concern (CLINICAL.md, "verify": configurable in `StuckPolicy`).
pub const SRS_CONCERN_BELOW: f64 = 36.0;

/// Aggregated session feedback for one provider (kept by the store with atomic increments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AllianceStats {
    /// Ratings recorded.
    pub ratings: i64,
    /// Sum of SRS totals.
    pub srs_sum: f64,
    /// Sum of style-evidence weights (see [`style_evidence_weight`]).
    pub style_weight: f64,
    /// Weighted sums of the clients' preferred styles: directiveness, emotional intensity, past
    /// orientation, challenge.
    pub style_sum: [f64; 4],
    /// When the stats last changed, ms since the epoch (delta refreshes of the snapshot use it).
    pub changed_ms: i64,
}

/// How much one rating tells about the provider's style: a client whose stated preference was met well
/// (high SRS) is evidence that the provider's style is near that preference. Weight
/// `clamp((SRS - 30) / 10, 0, 1)`: 40 counts fully, 35 half, 30 or below not at all. A low SRS says the
/// style did not fit but not in which direction, so it carries no style evidence (it still lowers the
/// alliance estimate and can raise the stuck signal).
pub fn style_evidence_weight(srs_total: f64) -> f64 {
    ((srs_total - 30.0) / 10.0).clamp(0.0, 1.0)
}

/// The self-reported style counts like this many fully positive rated sessions.
pub const STYLE_PRIOR_WEIGHT: f64 = 5.0;

impl AllianceStats {
    /// The stats after one more rating (mirrors the store's increments; used by tests and the cache).
    pub fn with(mut self, srs_total: f64, client_style: Option<RelationalStyle>) -> Self {
        self.ratings += 1;
        self.srs_sum += srs_total;
        if let Some(s) = client_style.filter(|s| !s.is_neutral()) {
            let w = style_evidence_weight(srs_total);
            self.style_weight += w;
            for (sum, x) in self.style_sum.iter_mut().zip(dims(s)) {
                *sum += w * x;
            }
        }
        self
    }

    /// Mean SRS total, if any rating exists.
    pub fn mean_srs(&self) -> Option<f64> {
        (self.ratings > 0).then(|| self.srs_sum / self.ratings as f64)
    }

    /// Mean SRS shrunk toward `prior_mean` as if `prior_ratings` ratings of exactly the prior existed:
    /// `(srs_sum + prior_ratings * prior_mean) / (ratings + prior_ratings)`.
    pub fn shrunk_srs(&self, prior_mean: f64, prior_ratings: f64) -> f64 {
        let n = self.ratings as f64 + prior_ratings;
        if n <= 0.0 { prior_mean } else { (self.srs_sum + prior_ratings * prior_mean) / n }
    }

    /// The style corrected by feedback: per dimension
    /// `(STYLE_PRIOR_WEIGHT * self_reported + sum(w_i * preferred_i)) / (STYLE_PRIOR_WEIGHT + sum(w_i))`,
    /// rounded to the nearest step and kept in -3..=3.
    pub fn observed_style(&self, self_reported: RelationalStyle) -> RelationalStyle {
        if self.style_weight <= 0.0 {
            return self_reported;
        }
        let own = dims(self_reported);
        let mut out = [0i8; 4];
        for i in 0..4 {
            let x = (STYLE_PRIOR_WEIGHT * own[i] + self.style_sum[i])
                / (STYLE_PRIOR_WEIGHT + self.style_weight);
            // The clamp keeps the value in -3..=3, so the cast cannot overflow.
            #[allow(clippy::cast_possible_truncation)]
            let r = x.round().clamp(-3.0, 3.0) as i8;
            out[i] = r;
        }
        RelationalStyle {
            directiveness: out[0],
            emotional_intensity: out[1],
            past_orientation: out[2],
            challenge: out[3],
        }
    }
}

/// Which clients count as similar for alliance learning: the same age group and, when the main concern is
/// known, the same main concern (the first problem domain). Deliberately small and explainable: two
/// codes, no identity, no free text. Each rating is counted in two segments — the age group alone
/// (`"adult"`) and the age group with the main concern (`"adult/depression"`) — so that a client whose
/// main concern is not given still learns from the age group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientSegment {
    /// Age group.
    pub age_group: AgeGroup,
    /// Main concern, when known.
    pub main_domain: Option<ProblemDomain>,
}

impl ClientSegment {
    /// The segment of a client with this age group and problem domains (main one first).
    pub fn of(age_group: AgeGroup, problem_domains: &[ProblemDomain]) -> Self {
        Self { age_group, main_domain: problem_domains.first().copied() }
    }

    /// The stable code of the segment (stored): `"adult"` or `"adult/depression"`.
    pub fn code(&self) -> String {
        match self.main_domain {
            Some(d) => format!("{}/{}", self.age_group.code(), d.code()),
            None => self.age_group.code().to_owned(),
        }
    }

    /// The codes one rating of a client in this segment is counted under: the age group alone, and the
    /// age group with the main concern when it is known.
    pub fn recorded_codes(&self) -> Vec<String> {
        let mut out = vec![self.age_group.code().to_owned()];
        if self.main_domain.is_some() {
            out.push(self.code());
        }
        out
    }

    /// Plain-language description of the clients in this segment (codes only).
    pub fn describe(&self) -> String {
        let age = self.age_group.code().replace('_', " ");
        match self.main_domain {
            Some(d) => format!(
                "clients with the same main concern ({}) and age group ({age})",
                d.code().replace('_', " ")
            ),
            None => format!("clients in the same age group ({age})"),
        }
    }
}

/// Ratings one provider received from one client segment (kept by the store with atomic increments).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentStats {
    /// Ratings recorded.
    pub ratings: i64,
    /// Sum of SRS totals.
    pub srs_sum: f64,
}

impl SegmentStats {
    /// The stats after one more rating (mirrors the store's increments; used by tests).
    pub fn with(mut self, srs_total: f64) -> Self {
        self.ratings += 1;
        self.srs_sum += srs_total;
        self
    }

    /// Mean SRS total, if any rating exists.
    pub fn mean_srs(&self) -> Option<f64> {
        (self.ratings > 0).then(|| self.srs_sum / self.ratings as f64)
    }
}

/// The alliance estimate for clients of one segment with a provider, by two-level shrinkage:
/// `(seg_sum + segment_prior_ratings * provider_estimate) / (seg_ratings + segment_prior_ratings)`, where
/// `provider_estimate` is the provider's overall mean already shrunk toward the global prior
/// ([`AllianceStats::shrunk_srs`]). With no segment ratings it is the provider's estimate; with many it
/// approaches the segment's own mean.
pub fn segment_srs(seg: SegmentStats, provider_estimate: f64, segment_prior_ratings: f64) -> f64 {
    let n = seg.ratings as f64 + segment_prior_ratings;
    if n <= 0.0 {
        provider_estimate
    } else {
        (seg.srs_sum + segment_prior_ratings * provider_estimate) / n
    }
}

fn dims(s: RelationalStyle) -> [f64; 4] {
    [
        s.directiveness.into(),
        s.emotional_intensity.into(),
        s.past_orientation.into(),
        s.challenge.into(),
    ]
}

/// One session of a client-provider pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairSession {
    /// Session number.
    pub session_number: i32,
    /// SRS total.
    pub srs: f64,
    /// ORS total.
    pub ors: f64,
}

/// When a pair counts as stuck (configurable; defaults from CLINICAL.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StuckPolicy {
    /// SRS totals below this are low.
    pub srs_concern_below: f64,
    /// This many low SRS totals make the pair stuck.
    pub low_srs_count: usize,
    /// Reliable ORS change (points over the first session).
    pub ors_reliable_change: f64,
    /// Sessions after which no reliable ORS improvement makes the pair stuck.
    pub sessions_without_change: usize,
}

impl Default for StuckPolicy {
    fn default() -> Self {
        Self {
            srs_concern_below: SRS_CONCERN_BELOW,
            low_srs_count: 2,
            ors_reliable_change: 5.0,
            sessions_without_change: 6,
        }
    }
}

/// What to do about a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StuckAction {
    /// Not stuck.
    None,
    /// First stuck signal: repair the alliance.
    Repair,
    /// Stuck again after a repair suggestion: a different modality or clinician.
    Rematch,
}

/// The stuck assessment of the latest session.
#[derive(Clone, Debug, PartialEq)]
pub struct StuckSignal {
    /// Stuck now.
    pub stuck: bool,
    /// Rules that fired ("two_low_srs", "no_reliable_ors_change").
    pub reasons: Vec<&'static str>,
    /// What to do.
    pub action: StuckAction,
}

/// The rules that fire on each session of `history` (sessions in order), in one pass:
///
/// - `two_low_srs`: this session's SRS is low and, with it, at least `low_srs_count` sessions were low.
/// - `no_reliable_ors_change`: at least `sessions_without_change` sessions so far, and this session's ORS is
///   less than `ors_reliable_change` above the first session's.
fn fired_each<'a>(
    history: &'a [PairSession],
    p: &'a StuckPolicy,
) -> impl Iterator<Item = Vec<&'static str>> + 'a {
    let first_ors = history.first().map_or(0.0, |s| s.ors);
    let mut low = 0usize;
    history.iter().enumerate().map(move |(i, s)| {
        let mut out = Vec::new();
        if s.srs < p.srs_concern_below {
            low += 1;
            if low >= p.low_srs_count {
                out.push("two_low_srs");
            }
        }
        if i + 1 >= p.sessions_without_change && s.ors - first_ors < p.ors_reliable_change {
            out.push("no_reliable_ors_change");
        }
        out
    })
}

/// Assesses the latest session of a pair. The first session at which the pair is stuck suggests a
/// repair; any later stuck session (the repair did not help) suggests a re-match. Linear in the history.
pub fn assess(history: &[PairSession], p: &StuckPolicy) -> StuckSignal {
    let mut stuck_before = false;
    let mut last = Vec::new();
    let n = history.len();
    for (i, fired) in fired_each(history, p).enumerate() {
        if i + 1 == n {
            last = fired;
        } else if !fired.is_empty() {
            stuck_before = true;
        }
    }
    if last.is_empty() {
        return StuckSignal { stuck: false, reasons: last, action: StuckAction::None };
    }
    StuckSignal {
        stuck: true,
        reasons: last,
        action: if stuck_before { StuckAction::Rematch } else { StuckAction::Repair },
    }
}

/// A plain-language suggestion for an action.
pub fn suggestion(action: StuckAction) -> &'static str {
    match action {
        StuckAction::None => "",
        StuckAction::Repair => {
            "the alliance or progress is stuck: review the session ratings with the client, ask what to change \
             (goals, approach, pace) and adjust before considering a change of clinician"
        }
        StuckAction::Rematch => {
            "still stuck after a repair was suggested: offer the client a different modality or clinician \
             (re-match options below exclude this provider and the current modality)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: i32, srs: f64, ors: f64) -> PairSession {
        PairSession { session_number: n, srs, ors }
    }

    #[test]
    fn two_low_srs_repairs_then_rematches() {
        let p = StuckPolicy::default();
        let mut h = vec![s(1, 34.0, 20.0)];
        assert_eq!(assess(&h, &p).action, StuckAction::None);
        h.push(s(2, 33.0, 20.0));
        let a = assess(&h, &p);
        assert!(a.stuck);
        assert_eq!(a.reasons, vec!["two_low_srs"]);
        assert_eq!(a.action, StuckAction::Repair);
        h.push(s(3, 38.0, 21.0));
        assert_eq!(assess(&h, &p).action, StuckAction::None);
        h.push(s(4, 30.0, 21.0));
        assert_eq!(assess(&h, &p).action, StuckAction::Rematch);
    }

    #[test]
    fn no_ors_change_after_n_sessions() {
        let p = StuckPolicy { sessions_without_change: 3, ..StuckPolicy::default() };
        let h = vec![s(1, 38.0, 20.0), s(2, 38.0, 22.0), s(3, 38.0, 24.0)];
        assert_eq!(assess(&h, &p).reasons, vec!["no_reliable_ors_change"]);
        let better = vec![s(1, 38.0, 20.0), s(2, 38.0, 22.0), s(3, 38.0, 25.0)];
        assert!(!assess(&better, &p).stuck);
    }

    #[test]
    fn shrinkage_pulls_few_ratings_to_the_prior() {
        let one = AllianceStats::default().with(20.0, None);
        assert!((one.shrunk_srs(36.0, 5.0) - (20.0 + 180.0) / 6.0).abs() < 1e-9);
        assert!((AllianceStats::default().shrunk_srs(36.0, 5.0) - 36.0).abs() < 1e-9);
        let mut many = AllianceStats::default();
        for _ in 0..200 {
            many = many.with(20.0, None);
        }
        assert!(many.shrunk_srs(36.0, 5.0) < 21.0);
    }

    #[test]
    fn segments_shrink_toward_the_provider_then_the_prior() {
        // Provider overall: 10 ratings of 30 -> shrunk toward 36 with 5 prior ratings = 32.
        let mut overall = AllianceStats::default();
        for _ in 0..10 {
            overall = overall.with(30.0, None);
        }
        let provider = overall.shrunk_srs(36.0, 5.0);
        assert!((provider - 32.0).abs() < 1e-9);
        // No segment ratings: the provider's estimate.
        assert!((segment_srs(SegmentStats::default(), provider, 5.0) - provider).abs() < 1e-9);
        // One 40 from the segment moves it a sixth of the way.
        let one = SegmentStats::default().with(40.0);
        assert!((segment_srs(one, provider, 5.0) - (40.0 + 5.0 * 32.0) / 6.0).abs() < 1e-9);
        // Many 40s dominate.
        let mut many = SegmentStats::default();
        for _ in 0..200 {
            many = many.with(40.0);
        }
        assert!(segment_srs(many, provider, 5.0) > 39.5);
        assert_eq!(many.mean_srs(), Some(40.0));
    }

    #[test]
    fn segment_codes_and_descriptions() {
        let s = ClientSegment::of(
            AgeGroup::OlderAdult,
            &[ProblemDomain::Depression, ProblemDomain::Sleep],
        );
        assert_eq!(s.code(), "older_adult/depression");
        assert_eq!(
            s.recorded_codes(),
            vec!["older_adult".to_owned(), "older_adult/depression".to_owned()]
        );
        assert_eq!(
            s.describe(),
            "clients with the same main concern (depression) and age group (older adult)"
        );
        let a = ClientSegment::of(AgeGroup::Adult, &[]);
        assert_eq!(a.recorded_codes(), vec!["adult".to_owned()]);
        assert_eq!(a.describe(), "clients in the same age group (adult)");
    }

    #[test]
    fn well_rated_preferences_pull_the_style() {
        let own = RelationalStyle::default();
        let pref = RelationalStyle {
            directiveness: 3,
            emotional_intensity: 0,
            past_orientation: 0,
            challenge: -3,
        };
        let mut st = AllianceStats::default();
        for _ in 0..10 {
            st = st.with(40.0, Some(pref));
        }
        let o = st.observed_style(own);
        assert_eq!((o.directiveness, o.challenge), (2, -2));
        // Low ratings carry no style evidence.
        let low = AllianceStats::default().with(25.0, Some(pref));
        assert_eq!(low.observed_style(own), own);
    }

    fn naive_fired(h: &[PairSession], p: &StuckPolicy) -> Vec<&'static str> {
        let mut out = Vec::new();
        let (Some(first), Some(last)) = (h.first(), h.last()) else { return out };
        if last.srs < p.srs_concern_below
            && h.iter().filter(|s| s.srs < p.srs_concern_below).count() >= p.low_srs_count
        {
            out.push("two_low_srs");
        }
        if h.len() >= p.sessions_without_change && last.ors - first.ors < p.ors_reliable_change {
            out.push("no_reliable_ors_change");
        }
        out
    }

    proptest::proptest! {
        /// The one-pass assessment agrees with re-evaluating every prefix.
        #[test]
        fn one_pass_matches_prefix_reevaluation(xs in proptest::collection::vec((25.0f64..40.0, 0.0f64..40.0), 0..12), n in 2usize..8) {
            let p = StuckPolicy { sessions_without_change: n, ..StuckPolicy::default() };
            let h: Vec<PairSession> = xs.iter().enumerate().map(|(i, (srs, ors))| s(i32::try_from(i).unwrap_or(0) + 1, *srs, *ors)).collect();
            let got = assess(&h, &p);
            let reasons = naive_fired(&h, &p);
            let before = (1..h.len()).any(|k| !naive_fired(&h[..k], &p).is_empty());
            let action = if reasons.is_empty() { StuckAction::None } else if before { StuckAction::Rematch } else { StuckAction::Repair };
            proptest::prop_assert_eq!(got.reasons, reasons);
            proptest::prop_assert_eq!(got.action, action);
        }
    }
}
