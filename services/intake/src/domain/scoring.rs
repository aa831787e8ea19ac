//! Screener scoring exactly as CLINICAL.md gives it: totals, severity bands, positive screens and
//! single-item flags. Inputs are already validated (right item count, answers in range); scoring still
//! never panics on any input (a property test checks it). PCL-5 cut-offs and the readiness-ruler stages
//! come from the rules file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codes::StageOfChange;
use super::rules::Scoring;

/// Instruments scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Instrument {
    /// PHQ-9.
    Phq9,
    /// GAD-7.
    Gad7,
    /// C-SSRS screener.
    Cssrs,
    /// PCL-5.
    Pcl5,
    /// Readiness ruler.
    ReadinessRuler,
}

impl Instrument {
    /// Stable code (as in the rules file).
    pub fn code(self) -> &'static str {
        match self {
            Instrument::Phq9 => "phq9",
            Instrument::Gad7 => "gad7",
            Instrument::Cssrs => "cssrs",
            Instrument::Pcl5 => "pcl5",
            Instrument::ReadinessRuler => "readiness_ruler",
        }
    }
}

/// A scored instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenerScore {
    /// Instrument.
    pub instrument: Instrument,
    /// Total (0 for C-SSRS).
    pub total: i32,
    /// Band code.
    pub band: String,
    /// Screens positive.
    pub positive: bool,
    /// Item flags.
    pub flags: Vec<String>,
    /// Subscale scores (PCL-5 clusters).
    #[serde(default)]
    pub subscales: BTreeMap<String, i32>,
}

/// The six C-SSRS screener answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CssrsAnswers {
    /// 1. Wish to be dead.
    pub wish_to_be_dead: bool,
    /// 2. Non-specific active thoughts.
    pub suicidal_thoughts: bool,
    /// 3. Thoughts with method.
    pub thoughts_with_method: bool,
    /// 4. Intent without plan.
    pub intent_without_plan: bool,
    /// 5. Intent with plan.
    pub intent_with_plan: bool,
    /// 6. Suicidal behaviour ever.
    pub suicidal_behaviour: bool,
    /// 6b. Behaviour within 3 months.
    pub behaviour_past_three_months: bool,
}

/// C-SSRS screener risk level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CssrsLevel {
    /// No "yes".
    None,
    /// Yes to 1 or 2 only.
    Low,
    /// Yes to 3.
    Moderate,
    /// Yes to 4 or 5, or behaviour within 3 months.
    High,
}

impl CssrsAnswers {
    /// Behaviour within 3 months answered yes while "any suicidal behaviour" is no: a contradiction whose
    /// only reading is the risky one (recent behaviour is behaviour), so it is scored as yes to 6 within 3
    /// months and flagged `cssrs_item6_implied_by_recency` (docs/clinical-rules.md, Scoring).
    pub fn recency_implies_behaviour(&self) -> bool {
        self.behaviour_past_three_months && !self.suicidal_behaviour
    }

    /// Item 6 as read: any suicidal behaviour, stated or implied by the recency answer.
    pub fn any_behaviour(&self) -> bool {
        self.suicidal_behaviour || self.behaviour_past_three_months
    }
}

impl CssrsLevel {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            CssrsLevel::None => "none",
            CssrsLevel::Low => "low",
            CssrsLevel::Moderate => "moderate",
            CssrsLevel::High => "high",
        }
    }
}

/// The C-SSRS screener level.
pub fn cssrs_level(a: &CssrsAnswers) -> CssrsLevel {
    if a.intent_without_plan || a.intent_with_plan || a.behaviour_past_three_months {
        CssrsLevel::High
    } else if a.thoughts_with_method {
        CssrsLevel::Moderate
    } else if a.wish_to_be_dead || a.suicidal_thoughts {
        CssrsLevel::Low
    } else {
        CssrsLevel::None
    }
}

fn total(items: &[u8]) -> i32 {
    items.iter().map(|x| i32::from(*x)).sum()
}

/// PHQ-9: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe; >= 10 positive;
/// item 9 > 0 flagged for a same-day risk assessment.
pub fn score_phq9(items: &[u8]) -> ScreenerScore {
    let t = total(items);
    let band = match t {
        ..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        15..=19 => "moderately_severe",
        _ => "severe",
    };
    let mut flags = Vec::new();
    if items.get(8).copied().unwrap_or(0) > 0 {
        flags.push("phq9_item9_positive".to_owned());
    }
    ScreenerScore {
        instrument: Instrument::Phq9,
        total: t,
        band: band.to_owned(),
        positive: t >= 10,
        flags,
        subscales: BTreeMap::new(),
    }
}

/// GAD-7: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe; >= 10 positive.
pub fn score_gad7(items: &[u8]) -> ScreenerScore {
    let t = total(items);
    let band = match t {
        ..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        _ => "severe",
    };
    ScreenerScore {
        instrument: Instrument::Gad7,
        total: t,
        band: band.to_owned(),
        positive: t >= 10,
        flags: Vec::new(),
        subscales: BTreeMap::new(),
    }
}

/// C-SSRS screener: a level, positive from "low" up, with a flag per "yes" item.
pub fn score_cssrs(a: &CssrsAnswers) -> ScreenerScore {
    let level = cssrs_level(a);
    let mut flags = Vec::new();
    for (yes, name) in [
        (a.wish_to_be_dead, "cssrs_item1"),
        (a.suicidal_thoughts, "cssrs_item2"),
        (a.thoughts_with_method, "cssrs_item3"),
        (a.intent_without_plan, "cssrs_item4"),
        (a.intent_with_plan, "cssrs_item5"),
        (a.any_behaviour(), "cssrs_item6"),
        (a.behaviour_past_three_months, "cssrs_behaviour_past_3_months"),
        (a.recency_implies_behaviour(), "cssrs_item6_implied_by_recency"),
    ] {
        if yes {
            flags.push(name.to_owned());
        }
    }
    ScreenerScore {
        instrument: Instrument::Cssrs,
        total: 0,
        band: level.code().to_owned(),
        positive: level > CssrsLevel::None,
        flags,
        subscales: BTreeMap::new(),
    }
}

/// PCL-5 clusters as item ranges (0-based, end exclusive): B 1-5, C 6-7, D 8-14, E 15-20.
pub const PCL5_CLUSTERS: [(&str, usize, usize); 4] =
    [("cluster_b", 0, 5), ("cluster_c", 5, 7), ("cluster_d", 7, 14), ("cluster_e", 14, 20)];

/// PCL-5: total 0-80; provisional PTSD at the rules' cut-off (33); cluster subtotals; the DSM-5 rule (an
/// item at or above 2 counts as a symptom; at least 1 B, 1 C, 2 D and 2 E) as the flag
/// `pcl5_dsm5_criteria_met`. Band: "probable_ptsd" at or above the cut-off, else "below_cutoff".
pub fn score_pcl5(items: &[u8], p: &Scoring) -> ScreenerScore {
    let t = total(items);
    let provisional = t >= p.pcl5_provisional_ptsd_at;
    let mut subscales = BTreeMap::new();
    let m = &p.pcl5_cluster_minimums;
    let mut dsm5 = true;
    for ((name, from, to), need) in PCL5_CLUSTERS.iter().zip([m.b, m.c, m.d, m.e]) {
        let part = items.get(*from..(*to).min(items.len())).unwrap_or(&[]);
        subscales.insert((*name).to_owned(), total(part));
        let symptoms = part.iter().filter(|x| **x >= p.pcl5_item_counts_at).count();
        dsm5 &= symptoms >= usize::from(need);
    }
    let mut flags = Vec::new();
    if provisional {
        flags.push("pcl5_provisional_ptsd".to_owned());
    }
    if dsm5 {
        flags.push("pcl5_dsm5_criteria_met".to_owned());
    }
    ScreenerScore {
        instrument: Instrument::Pcl5,
        total: t,
        band: if provisional { "probable_ptsd" } else { "below_cutoff" }.to_owned(),
        positive: provisional,
        flags,
        subscales,
    }
}

/// Readiness ruler: the rating as total and the stage of change (per the rules' bands) as band.
pub fn score_readiness(rating: u8, p: &Scoring) -> (ScreenerScore, Option<StageOfChange>) {
    let stage = p.stage_for(rating);
    let score = ScreenerScore {
        instrument: Instrument::ReadinessRuler,
        total: i32::from(rating),
        band: stage.map_or("unknown", StageOfChange::code).to_owned(),
        positive: false,
        flags: Vec::new(),
        subscales: BTreeMap::new(),
    };
    (score, stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize, total: u8) -> Vec<u8> {
        // Spreads `total` over `n` items of at most 3, item 9 last (kept 0 when possible).
        let mut v = vec![0u8; n];
        let mut left = total;
        for x in v.iter_mut() {
            let take = left.min(3);
            *x = take;
            left -= take;
        }
        v
    }

    #[test]
    fn phq9_bands_at_every_boundary() {
        for (t, band, positive) in [
            (0, "minimal", false),
            (4, "minimal", false),
            (5, "mild", false),
            (9, "mild", false),
            (10, "moderate", true),
            (14, "moderate", true),
            (15, "moderately_severe", true),
            (19, "moderately_severe", true),
            (20, "severe", true),
            (27, "severe", true),
        ] {
            let s = score_phq9(&items(9, t));
            assert_eq!(
                (s.total, s.band.as_str(), s.positive),
                (i32::from(t), band, positive),
                "total {t}"
            );
        }
    }

    #[test]
    fn phq9_item9_is_flagged_whatever_the_total() {
        let mut v = vec![0u8; 9];
        v[8] = 1;
        let s = score_phq9(&v);
        assert_eq!(s.band, "minimal");
        assert_eq!(s.flags, vec!["phq9_item9_positive".to_owned()]);
    }

    #[test]
    fn gad7_bands_at_every_boundary() {
        for (t, band, positive) in [
            (0, "minimal", false),
            (4, "minimal", false),
            (5, "mild", false),
            (9, "mild", false),
            (10, "moderate", true),
            (14, "moderate", true),
            (15, "severe", true),
            (21, "severe", true),
        ] {
            let s = score_gad7(&items(7, t));
            assert_eq!(
                (s.total, s.band.as_str(), s.positive),
                (i32::from(t), band, positive),
                "total {t}"
            );
        }
    }

    #[test]
    fn cssrs_levels() {
        let none = CssrsAnswers::default();
        assert_eq!(cssrs_level(&none), CssrsLevel::None);
        assert_eq!(cssrs_level(&CssrsAnswers { wish_to_be_dead: true, ..none }), CssrsLevel::Low);
        assert_eq!(cssrs_level(&CssrsAnswers { suicidal_thoughts: true, ..none }), CssrsLevel::Low);
        assert_eq!(
            cssrs_level(&CssrsAnswers { thoughts_with_method: true, ..none }),
            CssrsLevel::Moderate
        );
        assert_eq!(
            cssrs_level(&CssrsAnswers { intent_without_plan: true, ..none }),
            CssrsLevel::High
        );
        assert_eq!(cssrs_level(&CssrsAnswers { intent_with_plan: true, ..none }), CssrsLevel::High);
        assert_eq!(
            cssrs_level(&CssrsAnswers { suicidal_behaviour: true, ..none }),
            CssrsLevel::None
        );
        assert_eq!(
            cssrs_level(&CssrsAnswers {
                suicidal_behaviour: true,
                behaviour_past_three_months: true,
                ..none
            }),
            CssrsLevel::High
        );
    }

    #[test]
    fn recency_without_behaviour_is_read_as_recent_behaviour() {
        // Issue 13.1: a form that fills only the recency flag must not lose the high-risk signal.
        let only_recency = CssrsAnswers { behaviour_past_three_months: true, ..Default::default() };
        assert!(only_recency.recency_implies_behaviour());
        assert_eq!(cssrs_level(&only_recency), CssrsLevel::High);
        let s = score_cssrs(&only_recency);
        assert_eq!((s.band.as_str(), s.positive), ("high", true));
        for flag in
            ["cssrs_item6", "cssrs_behaviour_past_3_months", "cssrs_item6_implied_by_recency"]
        {
            assert!(s.flags.iter().any(|f| f == flag), "{flag} in {:?}", s.flags);
        }
        let stated = CssrsAnswers { suicidal_behaviour: true, ..only_recency };
        assert!(!stated.recency_implies_behaviour());
        assert!(!score_cssrs(&stated).flags.iter().any(|f| f == "cssrs_item6_implied_by_recency"));
    }

    fn params() -> Scoring {
        crate::domain::rules::Rules::embedded().map(|r| r.scoring).unwrap_or_else(|e| panic!("{e}"))
    }

    /// 20 items with the given values per cluster position.
    fn pcl5_with(total: u8) -> Vec<u8> {
        let mut v = vec![0u8; 20];
        let mut left = total;
        for x in v.iter_mut() {
            let take = left.min(4);
            *x = take;
            left -= take;
        }
        v
    }

    #[test]
    fn pcl5_cutoff_boundary() {
        let p = params();
        for (t, band, positive) in [
            (0, "below_cutoff", false),
            (32, "below_cutoff", false),
            (33, "probable_ptsd", true),
            (80, "probable_ptsd", true),
        ] {
            let s = score_pcl5(&pcl5_with(t), &p);
            assert_eq!(
                (s.total, s.band.as_str(), s.positive),
                (i32::from(t), band, positive),
                "total {t}"
            );
            assert_eq!(s.flags.contains(&"pcl5_provisional_ptsd".to_owned()), positive);
        }
    }

    #[test]
    fn pcl5_clusters_sum_to_the_total() {
        let p = params();
        let items: Vec<u8> = (0..20).map(|i| (i % 5) as u8).collect();
        let s = score_pcl5(&items, &p);
        assert_eq!(s.subscales.values().sum::<i32>(), s.total);
        assert_eq!(s.subscales.get("cluster_b"), Some(&10), "items 1-5 are 0, 1, 2, 3, 4");
        assert_eq!(s.subscales.get("cluster_c"), Some(&1), "items 6-7 are 0, 1");
    }

    #[test]
    fn pcl5_dsm5_rule_needs_every_cluster() {
        let p = params();
        // Exactly the minimum: 1 B, 1 C, 2 D, 2 E at 2 (the counting threshold).
        let mut v = vec![0u8; 20];
        v[0] = 2;
        v[5] = 2;
        v[7] = 2;
        v[8] = 2;
        v[14] = 2;
        v[15] = 2;
        let met = |v: &[u8]| score_pcl5(v, &p).flags.contains(&"pcl5_dsm5_criteria_met".to_owned());
        assert!(met(&v));
        // An item at 1 does not count.
        for i in [0, 5, 8, 15] {
            let mut w = v.clone();
            w[i] = 1;
            assert!(!met(&w), "lowering item {} breaks the rule", i + 1);
        }
        // A high total without a C symptom does not meet the rule.
        let mut no_c = vec![4u8; 20];
        no_c[5] = 1;
        no_c[6] = 1;
        let s = score_pcl5(&no_c, &p);
        assert!(s.positive && !s.flags.contains(&"pcl5_dsm5_criteria_met".to_owned()));
    }

    #[test]
    fn readiness_ruler_maps_every_rating_to_a_stage() {
        let p = params();
        for (r, stage) in [
            (0, StageOfChange::Precontemplation),
            (3, StageOfChange::Precontemplation),
            (4, StageOfChange::Contemplation),
            (6, StageOfChange::Contemplation),
            (7, StageOfChange::Preparation),
            (8, StageOfChange::Preparation),
            (9, StageOfChange::Action),
            (10, StageOfChange::Maintenance),
        ] {
            let (s, got) = score_readiness(r, &p);
            assert_eq!(got, Some(stage), "rating {r}");
            assert_eq!((s.total, s.band.as_str()), (i32::from(r), stage.code()));
        }
        assert_eq!(score_readiness(11, &p).1, None);
    }

    proptest::proptest! {
        #[test]
        fn totals_stay_in_range(
            phq in proptest::collection::vec(0u8..=3, 9),
            gad in proptest::collection::vec(0u8..=3, 7),
            pcl in proptest::collection::vec(0u8..=4, 20),
            ruler in 0u8..=10,
        ) {
            let p = score_phq9(&phq);
            proptest::prop_assert!((0..=27).contains(&p.total));
            let g = score_gad7(&gad);
            proptest::prop_assert!((0..=21).contains(&g.total));
            let params = params();
            let c = score_pcl5(&pcl, &params);
            proptest::prop_assert!((0..=80).contains(&c.total));
            proptest::prop_assert_eq!(c.subscales.values().sum::<i32>(), c.total);
            proptest::prop_assert_eq!(c.positive, c.total >= 33);
            let (r, stage) = score_readiness(ruler, &params);
            proptest::prop_assert!(stage.is_some() && (0..=10).contains(&r.total));
        }

        #[test]
        fn scoring_never_panics_on_any_input(items in proptest::collection::vec(proptest::num::u8::ANY, 0..40), ruler in proptest::num::u8::ANY) {
            let params = params();
            let _ = score_phq9(&items);
            let _ = score_gad7(&items);
            let _ = score_pcl5(&items, &params);
            let _ = score_readiness(ruler, &params);
        }
    }
}
