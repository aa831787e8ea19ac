//! The fit model: named score components, their versioned weights and plain-language reasons (pure).
//!
//! Every component is a value in 0..=1; the score is the sum of weight x value. `values` computes the
//! numbers for every candidate without allocating; `explain` recomputes them for the top k and writes
//! the reasons, so the two can never disagree. Weights live in a versioned [`Weights`] value (loadable
//! from a JSON file); the version is returned with every recommendation.
//!
//! | component | value |
//! |---|---|
//! | clinical_fit | specialties covering the client's problem domains; the main domain counts double |
//! | outcome_strength | measured outcomes (>= 15 cases) in the client's domains: effective 1, neutral or unmeasured 0.5, ineffective 0; main domain double |
//! | relational_fit | similarity of the client's preferred Cooper-Norcross style to the provider's style as corrected by feedback |
//! | preference_fit | share of stated preferences met: formats, modality wishes, identity, faith, cultural options |
//! | history_fit | 1 - share of the provider's modalities the client already tried without progress (0 when only those); after 2+ programs cycled, longer-term attachment/trauma-informed care counts 40% |
//! | alliance_learning | mean SRS given to the provider by similar clients (same age group and main concern; the age group alone when the concern is unknown), shrunk toward the provider's overall mean, itself shrunk toward a prior; mapped 30..40 -> 0..1 |
//! | logistics | access (70%): in-person site within 10 km (falling to 0.2 at 60 km) or in the client's region, or telehealth (0.8); schedule overlap (30%) |
//! | expected_wait | 1 with an open slot now; else 1 - days/max_wait_days to the next open cohort or the typical wait |

use serde::{Deserialize, Serialize};

use super::directory::{Compiled, Query};
use super::{Component, OutcomeRating, ProblemDomain, Provider};

/// Component names, in the order of `values`.
pub const COMPONENTS: [&str; 8] = [
    "clinical_fit",
    "outcome_strength",
    "relational_fit",
    "preference_fit",
    "history_fit",
    "alliance_learning",
    "logistics",
    "expected_wait",
];

/// The versioned weights of the fit model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Version string, returned with every recommendation.
    pub version: String,
    /// Weight of clinical fit.
    pub clinical_fit: f64,
    /// Weight of outcome strength.
    pub outcome_strength: f64,
    /// Weight of relational fit.
    pub relational_fit: f64,
    /// Weight of preference fit.
    pub preference_fit: f64,
    /// Weight of history fit.
    pub history_fit: f64,
    /// Weight of alliance learning.
    pub alliance_learning: f64,
    /// Weight of logistics.
    pub logistics: f64,
    /// Weight of expected wait.
    pub expected_wait: f64,
    /// Prior mean SRS total for alliance learning.
    pub srs_prior_mean: f64,
    /// How many ratings the prior counts as.
    pub srs_prior_ratings: f64,
    /// How many ratings the provider's overall estimate counts as when the ratings of similar clients
    /// (same age group and main concern) are shrunk toward it (optional in a weights file; default 5).
    #[serde(default = "default_segment_prior_ratings")]
    pub srs_segment_prior_ratings: f64,
    /// Wait (days) at which the expected-wait value reaches 0 (routine band maximum).
    pub max_wait_days: f64,
}

fn default_segment_prior_ratings() -> f64 {
    5.0
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            version: "fit-weights/2026-11-26.1".into(),
            clinical_fit: 0.20,
            outcome_strength: 0.20,
            relational_fit: 0.15,
            preference_fit: 0.12,
            history_fit: 0.10,
            alliance_learning: 0.08,
            logistics: 0.05,
            expected_wait: 0.10,
            srs_prior_mean: 36.0,
            srs_prior_ratings: 5.0,
            srs_segment_prior_ratings: default_segment_prior_ratings(),
            max_wait_days: 42.0,
        }
    }
}

impl Weights {
    /// The weights in `COMPONENTS` order.
    pub fn by_component(&self) -> [f64; 8] {
        [
            self.clinical_fit,
            self.outcome_strength,
            self.relational_fit,
            self.preference_fit,
            self.history_fit,
            self.alliance_learning,
            self.logistics,
            self.expected_wait,
        ]
    }

    /// Parses and checks weights from JSON (every field required; weights finite and >= 0).
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let w: Weights = serde_json::from_str(text)?;
        w.check()?;
        Ok(w)
    }

    /// Checks the values.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.version.trim().is_empty() {
            anyhow::bail!("weights: version is required");
        }
        for (name, x) in COMPONENTS.iter().zip(self.by_component()) {
            if !x.is_finite() || x < 0.0 {
                anyhow::bail!("weights: {name} must be a finite number >= 0");
            }
        }
        if !(self.srs_prior_mean.is_finite() && (0.0..=40.0).contains(&self.srs_prior_mean)) {
            anyhow::bail!("weights: srs_prior_mean must be in 0..=40");
        }
        if !(self.srs_prior_ratings.is_finite() && self.srs_prior_ratings >= 0.0) {
            anyhow::bail!("weights: srs_prior_ratings must be >= 0");
        }
        if !(self.srs_segment_prior_ratings.is_finite() && self.srs_segment_prior_ratings >= 0.0) {
            anyhow::bail!("weights: srs_segment_prior_ratings must be >= 0");
        }
        if !(self.max_wait_days.is_finite() && self.max_wait_days > 0.0) {
            anyhow::bail!("weights: max_wait_days must be > 0");
        }
        Ok(())
    }
}

/// Maps a (shrunk) mean SRS total to 0..=1: 30 or below is 0, 40 is 1.
pub fn alliance_value(srs: f64) -> f64 {
    ((srs - 30.0) / 10.0).clamp(0.0, 1.0)
}

/// The weighted sum.
pub fn score(values: &[f64; 8], w: &Weights) -> f64 {
    values.iter().zip(w.by_component()).map(|(v, w)| v * w).sum()
}

fn ones(x: u32) -> f64 {
    f64::from(x.count_ones())
}

fn share(wanted: &[Option<u32>], offered: &[u32]) -> f64 {
    let hit = wanted.iter().filter(|w| w.is_some_and(|w| offered.contains(&w))).count();
    hit as f64 / wanted.len().max(1) as f64
}

fn clinical(p: &Compiled, q: &Query) -> f64 {
    if q.domains == 0 {
        return 0.5;
    }
    let main = if p.specialties & q.main_domain != 0 { 2.0 } else { 0.0 };
    (main + ones(p.specialties & q.other_domains)) / (2.0 + ones(q.other_domains))
}

fn outcome(p: &Compiled, q: &Query) -> f64 {
    if q.domains == 0 {
        return 0.5;
    }
    let per =
        |mask: u32| ones(p.effective & mask) + 0.5 * ones(mask & !(p.effective | p.ineffective));
    (2.0 * per(q.main_domain) + per(q.other_domains)) / (2.0 + ones(q.other_domains))
}

fn preference(p: &Compiled, q: &Query) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    if q.formats != 0 {
        sum += ones(p.gate.formats & q.formats) / ones(q.formats);
        n += 1.0;
    }
    if q.wanted != 0 {
        sum += ones(p.gate.modalities & q.wanted) / ones(q.wanted);
        n += 1.0;
    }
    for (wanted, offered) in
        [(&q.identity, &p.identity), (&q.faith, &p.faith), (&q.cultural, &p.cultural)]
    {
        if !wanted.is_empty() {
            sum += share(wanted, offered);
            n += 1.0;
        }
    }
    if n == 0.0 { 0.5 } else { sum / n }
}

fn history(p: &Compiled, q: &Query) -> f64 {
    let offered = ones(p.gate.modalities);
    let tried = ones(p.gate.modalities & q.tried);
    let base = if offered == 0.0 { 1.0 } else { 1.0 - tried / offered };
    if q.programs_cycled >= 2 {
        0.6 * base + 0.4 * if p.long_term { 1.0 } else { 0.0 }
    } else {
        base
    }
}

/// In-person sites this close (km) count fully; the value falls linearly to 0.2 at `FAR_KM`.
const NEAR_KM: f64 = 10.0;
const FAR_KM: f64 = 60.0;

/// Distance (km) to the provider's in-person site when both ends have coordinates and in-person care fits.
fn travel_km(p: &Compiled, q: &Query) -> Option<f64> {
    match (p.in_person && q.accepts_in_person, p.coordinates, q.location) {
        (true, Some(a), Some(b)) => Some(super::approx_distance_km(a, b)),
        _ => None,
    }
}

fn access(p: &Compiled, q: &Query) -> f64 {
    let remote = if q.accepts_telehealth && p.telehealth { 0.8 } else { 0.0 };
    if let Some(km) = travel_km(p, q) {
        let near = 1.0 - 0.8 * ((km - NEAR_KM) / (FAR_KM - NEAR_KM)).clamp(0.0, 1.0);
        return near.max(remote).max(0.2);
    }
    let in_region = p.in_person && super::regions_overlap(&p.region, &q.region);
    if q.accepts_in_person && in_region {
        1.0
    } else if q.accepts_telehealth && p.telehealth {
        0.8
    } else if q.accepts_in_person && p.in_person && q.region.is_empty() {
        0.6
    } else {
        0.2
    }
}

fn schedule(p: &Compiled, q: &Query) -> f64 {
    if q.schedule == 0 {
        1.0
    } else if p.schedule == 0 {
        0.5
    } else if p.schedule & q.schedule != 0 {
        1.0
    } else {
        0.0
    }
}

const DAY_MS: i64 = 86_400_000;
/// A cohort that started at most this long ago can still be joined (the same window capacity takes use).
use super::capacity::JOIN_WINDOW_MS;

/// Expected wait in days: `Some(0)` with an open slot now (and no cohorts), else days to the next cohort
/// with open seats, else the typical wait; `None` when unknown.
fn wait_days(p: &Compiled, q: &Query) -> Option<f64> {
    if !p.cohorts.is_empty() {
        return p
            .cohorts
            .iter()
            .find(|(start, _)| *start >= q.now_ms - JOIN_WINDOW_MS)
            .map(|(start, _)| ((*start - q.now_ms).max(0) as f64 / DAY_MS as f64).ceil());
    }
    if p.open_slots > 0 {
        Some(0.0)
    } else if p.typical_wait_days > 0 {
        Some(f64::from(p.typical_wait_days))
    } else {
        None
    }
}

fn wait_value(days: Option<f64>, w: &Weights) -> f64 {
    days.map_or(0.0, |d| (1.0 - d / w.max_wait_days).clamp(0.0, 1.0))
}

/// Every component value of `p` for `q`, in `COMPONENTS` order.
pub fn values(p: &Compiled, q: &Query, w: &Weights) -> [f64; 8] {
    [
        clinical(p, q),
        outcome(p, q),
        if q.style.is_neutral() { 0.5 } else { q.style.similarity(p.style) },
        preference(p, q),
        history(p, q),
        p.alliance_for(q.segment),
        0.7 * access(p, q) + 0.3 * schedule(p, q),
        wait_value(wait_days(p, q), w),
    ]
}

fn names(mask: u32) -> String {
    let v: Vec<&str> = ProblemDomain::ALL
        .iter()
        .filter(|d| mask & (1u32 << d.index()) != 0)
        .map(|d| d.code())
        .collect();
    v.join(", ")
}

/// What the alliance-learning value was based on: similar clients' ratings when there are any, else the
/// provider's overall ratings, else the prior.
fn alliance_reason(provider: &Provider, q: &Query, w: &Weights) -> String {
    let overall = provider.alliance.shrunk_srs(w.srs_prior_mean, w.srs_prior_ratings);
    let seg = q.segment_code.as_deref().and_then(|code| provider.segment_stats(code));
    let overall_text = match provider.alliance.mean_srs() {
        None => format!("no session ratings yet; prior SRS {:.0}", w.srs_prior_mean),
        Some(m) => format!(
            "all clients rated the alliance {m:.1}/40 over {} session(s), {overall:.1} after shrinking toward the prior {:.0}",
            provider.alliance.ratings, w.srs_prior_mean
        ),
    };
    match (seg.and_then(|s| s.mean_srs().map(|m| (s, m))), &q.segment_label) {
        (Some((s, m)), Some(label)) => format!(
            "{label} rated the alliance {m:.1}/40 over {} session(s); {:.1} after shrinking toward this provider's overall estimate ({overall_text})",
            s.ratings,
            super::alliance::segment_srs(s, overall, w.srs_segment_prior_ratings)
        ),
        (_, Some(label)) if provider.alliance.ratings > 0 => {
            format!("no ratings yet from {label}; {overall_text}")
        }
        _ => overall_text,
    }
}

/// The components of `provider` for `q` with their reasons (for the top k).
pub fn explain(provider: &Provider, p: &Compiled, q: &Query, w: &Weights) -> Vec<Component> {
    let v = values(p, q, w);
    let weights = w.by_component();
    let prof = &provider.profile;
    let mut reasons: Vec<String> = Vec::with_capacity(8);

    reasons.push(if q.domains == 0 {
        "client's problem domains not given".to_owned()
    } else {
        let main = names(q.main_domain);
        let lead = if p.specialties & q.main_domain != 0 {
            format!("specialises in {main} (main concern)")
        } else {
            format!("does not list {main} (main concern) as a specialty")
        };
        if q.other_domains == 0 {
            lead
        } else {
            format!(
                "{lead}; {} of {} other concerns",
                (p.specialties & q.other_domains).count_ones(),
                q.other_domains.count_ones()
            )
        }
    });

    reasons.push(if q.domains == 0 {
        "client's problem domains not given".to_owned()
    } else {
        let parts: Vec<String> = ProblemDomain::ALL
            .iter()
            .filter(|d| q.domains & (1u32 << d.index()) != 0)
            .map(|d| match prof.outcome_in(*d) {
                Some(o) => format!(
                    "{} in {} ({} cases)",
                    match o.rating {
                        OutcomeRating::Effective => "effective",
                        OutcomeRating::Neutral => "neutral",
                        OutcomeRating::Ineffective => "ineffective",
                    },
                    d.code(),
                    o.cases
                ),
                None => format!(
                    "{} not measured (fewer than {} cases)",
                    d.code(),
                    super::MIN_OUTCOME_CASES
                ),
            })
            .collect();
        parts.join("; ")
    });

    reasons.push(if q.style.is_neutral() {
        "client stated no relational-style preference".to_owned()
    } else if provider.alliance.style_weight > 0.0 {
        format!("relational style {:.0}% similar to the client's preference (style corrected by session feedback)", v[2] * 100.0)
    } else {
        format!("relational style {:.0}% similar to the client's preference", v[2] * 100.0)
    });

    reasons.push({
        let mut parts = Vec::new();
        if q.formats != 0 {
            parts.push(format!(
                "{} of {} formats",
                (p.gate.formats & q.formats).count_ones(),
                q.formats.count_ones()
            ));
        }
        if q.wanted != 0 {
            parts.push(format!(
                "{} of {} wished modalities",
                (p.gate.modalities & q.wanted).count_ones(),
                q.wanted.count_ones()
            ));
        }
        for (label, wanted, offered) in [
            ("identity", &q.identity, &p.identity),
            ("faith", &q.faith, &p.faith),
            ("cultural", &q.cultural, &p.cultural),
        ] {
            if !wanted.is_empty() {
                let hit = wanted.iter().filter(|x| x.is_some_and(|x| offered.contains(&x))).count();
                parts.push(format!("{hit} of {} {label} preferences", wanted.len()));
            }
        }
        if parts.is_empty() {
            "client stated no format, modality, identity, faith or cultural preference".to_owned()
        } else {
            format!("meets {}", parts.join(", "))
        }
    });

    reasons.push({
        let tried: Vec<&str> = prof.modalities.iter().filter(|m| q.tried & (1u32 << (m.to_proto() - 1)) != 0).map(|m| m.code()).collect();
        let mut r = if prof.modalities.is_empty() || tried.is_empty() {
            "offers no modality the client already tried without progress".to_owned()
        } else if tried.len() == prof.modalities.len() {
            format!("offers only modalities already tried without progress ({})", tried.join(", "))
        } else {
            format!("{} of {} modalities already tried without progress ({})", tried.len(), prof.modalities.len(), tried.join(", "))
        };
        if q.programs_cycled >= 2 {
            r.push_str(if p.long_term {
                "; offers longer-term attachment- and trauma-informed work after repeated program cycling"
            } else {
                "; client cycled through programs and this is not longer-term attachment-informed work"
            });
        }
        r
    });

    reasons.push(alliance_reason(provider, q, w));

    reasons.push({
        let a = access(p, q);
        let km = travel_km(p, q);
        let place: String = if let Some(km) = km {
            if (a - 0.8).abs() < 1e-9 && km > NEAR_KM {
                format!("telehealth, no travel (in-person site about {km:.0} km away)")
            } else {
                format!("in-person site about {km:.0} km away")
            }
        } else if a >= 1.0 {
            "in-person site in the client's region".to_owned()
        } else if (a - 0.8).abs() < 1e-9 {
            "telehealth, no travel".to_owned()
        } else if (a - 0.6).abs() < 1e-9 {
            "in person (client region not given)".to_owned()
        } else {
            "no in-person site near the client and no telehealth the client accepts".to_owned()
        };
        let sched = match schedule(p, q) {
            _ if q.schedule == 0 => "client can attend any time",
            x if x >= 1.0 => "schedule fits",
            x if x > 0.0 => "schedule not stated",
            _ => "schedule does not fit",
        };
        format!("{place}; {sched}")
    });

    reasons.push(match (wait_days(p, q), p.cohorts.is_empty()) {
        (Some(0.0), true) => format!("{} open slot(s) now", p.open_slots),
        (Some(d), false) => format!("next cohort with open seats starts in about {d:.0} day(s)"),
        (Some(d), true) => format!("no open slot now; typical wait about {d:.0} day(s)"),
        (None, false) => "no upcoming cohort with open seats".to_owned(),
        (None, true) => "no open slot now; the client would wait".to_owned(),
    });

    COMPONENTS
        .iter()
        .zip(weights)
        .zip(v)
        .zip(reasons)
        .map(|(((name, weight), value), reason)| Component { name, weight, value, reason })
        .collect()
}
