//! Screener scoring exactly as CLINICAL.md gives it: totals, severity bands, positive screens and
//! single-item flags. Inputs are already validated (right item count, answers in range).

use serde::{Deserialize, Serialize};

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
    if a.intent_without_plan || a.intent_with_plan || (a.suicidal_behaviour && a.behaviour_past_three_months) {
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
    ScreenerScore { instrument: Instrument::Phq9, total: t, band: band.to_owned(), positive: t >= 10, flags }
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
    ScreenerScore { instrument: Instrument::Gad7, total: t, band: band.to_owned(), positive: t >= 10, flags: Vec::new() }
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
        (a.suicidal_behaviour, "cssrs_item6"),
        (a.suicidal_behaviour && a.behaviour_past_three_months, "cssrs_behaviour_past_3_months"),
    ] {
        if yes {
            flags.push(name.to_owned());
        }
    }
    ScreenerScore { instrument: Instrument::Cssrs, total: 0, band: level.code().to_owned(), positive: level > CssrsLevel::None, flags }
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
            assert_eq!((s.total, s.band.as_str(), s.positive), (i32::from(t), band, positive), "total {t}");
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
            assert_eq!((s.total, s.band.as_str(), s.positive), (i32::from(t), band, positive), "total {t}");
        }
    }

    #[test]
    fn cssrs_levels() {
        let none = CssrsAnswers::default();
        assert_eq!(cssrs_level(&none), CssrsLevel::None);
        assert_eq!(cssrs_level(&CssrsAnswers { wish_to_be_dead: true, ..none }), CssrsLevel::Low);
        assert_eq!(cssrs_level(&CssrsAnswers { suicidal_thoughts: true, ..none }), CssrsLevel::Low);
        assert_eq!(cssrs_level(&CssrsAnswers { thoughts_with_method: true, ..none }), CssrsLevel::Moderate);
        assert_eq!(cssrs_level(&CssrsAnswers { intent_without_plan: true, ..none }), CssrsLevel::High);
        assert_eq!(cssrs_level(&CssrsAnswers { intent_with_plan: true, ..none }), CssrsLevel::High);
        assert_eq!(cssrs_level(&CssrsAnswers { suicidal_behaviour: true, ..none }), CssrsLevel::None);
        assert_eq!(
            cssrs_level(&CssrsAnswers { suicidal_behaviour: true, behaviour_past_three_months: true, ..none }),
            CssrsLevel::High
        );
    }

    proptest::proptest! {
        #[test]
        fn totals_stay_in_range(phq in proptest::collection::vec(0u8..=3, 9), gad in proptest::collection::vec(0u8..=3, 7)) {
            let p = score_phq9(&phq);
            proptest::prop_assert!((0..=27).contains(&p.total));
            let g = score_gad7(&gad);
            proptest::prop_assert!((0..=21).contains(&g.total));
        }
    }
}
