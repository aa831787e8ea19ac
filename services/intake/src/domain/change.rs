//! Reliable change between two assessments of one client (CLINICAL.md, "Measurement-based care"): per
//! instrument, whether the difference in totals reaches the rules' threshold, and in which direction.

use super::assessment::Assessment;
use super::rules::Rules;
use super::scoring::Instrument;

/// Change on one instrument between two assessments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreChange {
    /// Instrument.
    pub instrument: Instrument,
    /// Previous total.
    pub previous_total: i32,
    /// Current total.
    pub current_total: i32,
    /// Whether |change| reaches the threshold.
    pub reliable: bool,
    /// The threshold.
    pub threshold: i32,
}

impl ScoreChange {
    /// Current minus previous.
    pub fn change(&self) -> i32 {
        self.current_total - self.previous_total
    }

    /// "improved", "deteriorated" or "no_reliable_change" (lower scores are better on every instrument).
    pub fn direction(&self) -> &'static str {
        match (self.reliable, self.change() < 0) {
            (false, _) => "no_reliable_change",
            (true, true) => "improved",
            (true, false) => "deteriorated",
        }
    }
}

/// Reliable change on every instrument with a threshold in the rules and a score in both assessments.
pub fn reliable_changes(
    previous: &Assessment,
    current: &Assessment,
    rules: &Rules,
) -> Vec<ScoreChange> {
    let mut out = Vec::new();
    for instrument in [Instrument::Phq9, Instrument::Gad7, Instrument::Pcl5] {
        let Some(threshold) = rules.reliable_change.get(instrument.code()).copied() else {
            continue;
        };
        if let (Some(p), Some(c)) = (previous.score(instrument), current.score(instrument)) {
            out.push(ScoreChange {
                instrument,
                previous_total: p.total,
                current_total: c.total,
                reliable: (c.total - p.total).abs() >= threshold,
                threshold,
            });
        }
    }
    out
}
