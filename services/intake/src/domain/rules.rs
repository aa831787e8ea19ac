//! The clinical rules as data: a versioned, human-readable JSON file (`rules/intake-rules.json`, embedded
//! as the default; `CONTINUUM_INTAKE_RULES_FILE` replaces it at start-up). The file holds every threshold,
//! mapping and support rule, and documents each rule id with its description and source; the logic that
//! reads them lives in `assessment`. Loading fails fast on an unknown field, a missing rule id or an
//! impossible threshold, so a bad file stops start-up instead of changing care silently.

use std::collections::{BTreeMap, BTreeSet};

use continuum_vocab::{LevelOfCare, RiskLevel};
use serde::{Deserialize, Serialize};

use super::codes::{
    Engagement, Frequency, Impairment, StageOfChange, Stressor, SubstanceUse, WindowRating,
};

/// The default rules, compiled in.
pub const DEFAULT_RULES: &str = include_str!("../../rules/intake-rules.json");

/// Rule ids the code fires. Each must be documented in the rules file (and in docs/clinical-rules.md).
pub const CODE_RULE_IDS: &[&str] = &[
    "population.youth",
    "risk.clinician_imminent",
    "risk.cssrs_high",
    "risk.cssrs_moderate",
    "risk.cssrs_low",
    "risk.phq9_item9_without_cssrs",
    "risk.cssrs_recency_implies_behaviour",
    "risk.recent_self_harm",
    "level.crisis",
    "level.severe_symptoms",
    "level.outpatient",
    "level.self_guided",
    "level.step_up_impairment",
    "level.step_up_substance_use",
    "level.step_up_treatment_history",
    "urgency.moderate_risk",
    "urgency.severe",
    "phase.stabilisation",
    "phase.trauma_processing",
    "phase.integration",
    "stage.clinician",
    "stage.readiness_ruler",
    "engagement.from_stage",
    "history.avoid_repeating",
    "preferences.exclusions",
    "history.program_cycling",
    "override.level",
    "override.phase",
    "override.below_risk_acknowledged",
    "task.same_day_risk_assessment",
    "task.risk_review",
    "task.crisis_coordination",
    "routing.crisis_interlock",
    "routing.consent_required",
    "routing.crisis_consent_exception",
    "routing.youth_family_first",
    "routing.trauma_focused_first",
    "routing.stabilisation_regulation_first",
    "reassessment.reroute_on_crisis",
    "reassessment.reliable_change",
];

/// One documented rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// Stable id.
    pub id: String,
    /// What it concludes (copied into every fired rule).
    pub description: String,
    /// Where it comes from.
    pub source: String,
}

/// A readiness-ruler band.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulerBand {
    /// Lowest rating in the band.
    pub min: u8,
    /// Highest rating in the band.
    pub max: u8,
    /// Stage of change.
    pub stage: StageOfChange,
}

impl RulerBand {
    /// Whether `rating` falls in this band.
    pub fn contains(&self, rating: u8) -> bool {
        self.min <= rating && rating <= self.max
    }
}

/// PCL-5 cluster minimums for the DSM-5 rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterMinimums {
    /// Cluster B (items 1-5).
    pub b: u8,
    /// Cluster C (items 6-7).
    pub c: u8,
    /// Cluster D (items 8-14).
    pub d: u8,
    /// Cluster E (items 15-20).
    pub e: u8,
}

/// Scoring parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// PCL-5 total at or above which PTSD is provisional.
    pub pcl5_provisional_ptsd_at: i32,
    /// An item at or above this counts as a symptom for the DSM-5 rule.
    pub pcl5_item_counts_at: u8,
    /// Symptoms needed per cluster.
    pub pcl5_cluster_minimums: ClusterMinimums,
    /// Readiness ruler bands, covering 0..=10 without gaps.
    pub readiness_stages: Vec<RulerBand>,
}

impl Scoring {
    /// The stage of change for a readiness rating (the band it falls in).
    pub fn stage_for(&self, rating: u8) -> Option<StageOfChange> {
        self.readiness_stages.iter().find(|b| b.contains(rating)).map(|b| b.stage)
    }
}

/// Level-of-care parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelParams {
    /// PHQ-9 total counted as severe.
    pub severe_phq9_at: i32,
    /// GAD-7 total counted as severe.
    pub severe_gad7_at: i32,
    /// PHQ-9 total counted as symptomatic.
    pub symptomatic_phq9_at: i32,
    /// GAD-7 total counted as symptomatic.
    pub symptomatic_gad7_at: i32,
    /// Step-ups never go above this level.
    pub step_up_cap: LevelOfCare,
    /// Impairment at or above this steps up.
    pub impairment_step_up_at: Impairment,
    /// Substance use at or above this steps up.
    pub substance_step_up_at: SubstanceUse,
    /// Treatment history older than this (by end, or start when ongoing) does not step up.
    pub treatment_history_window_days: i64,
}

/// Phase parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseParams {
    /// Overwhelm, shutdown or dissociation at least this often is frequent dysregulation.
    pub frequent_at: Frequency,
    /// Clinician ratings that count as outside the window of tolerance.
    pub outside_window: Vec<WindowRating>,
    /// Stressors that mean no basic safety.
    pub unsafe_stressors: Vec<Stressor>,
    /// Risk at or above this means no basic safety.
    pub stabilise_at_risk: RiskLevel,
}

/// Stage -> engagement approach.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementRule {
    /// Stage.
    pub stage: StageOfChange,
    /// Approach.
    pub approach: Engagement,
}

/// Program-cycling parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclingParams {
    /// Programs needed.
    pub min_programs: usize,
    /// Within this many days before the assessment.
    pub window_days: i64,
    /// Care emphases added when it fires.
    pub emphases: Vec<String>,
}

/// A support to add beside therapy, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportRule {
    /// Rule id.
    pub id: String,
    /// Fires when this stressor is present.
    #[serde(default)]
    pub when_stressor: Option<Stressor>,
    /// Fires when the client named no supports.
    #[serde(default)]
    pub when_no_supports: bool,
    /// Fires for youth.
    #[serde(default)]
    pub when_youth: bool,
    /// Fires when substance use is at least this.
    #[serde(default)]
    pub when_substance_use_at: Option<SubstanceUse>,
    /// Support codes to add.
    pub add: Vec<String>,
}

/// The lowest level of care a risk level requires: a clinician override below it must be acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskFloor {
    /// From this risk level up.
    pub risk: RiskLevel,
    /// At least this level of care.
    pub level: LevelOfCare,
}

/// A tracked clinical task and its deadline (when it is opened is the code's: see `domain::tasks`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRule {
    /// Rule id (`task.<kind>`).
    pub id: String,
    /// Task kind.
    pub kind: super::tasks::TaskKind,
    /// Due this many minutes after it is opened; escalated to a coordinator when still open then.
    pub due_minutes: i64,
}

/// The whole rules file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Version recorded with every assessment.
    pub version: String,
    /// Every rule, documented.
    pub rules: Vec<RuleDoc>,
    /// Scoring.
    pub scoring: Scoring,
    /// Reliable-change threshold per instrument code.
    pub reliable_change: BTreeMap<String, i32>,
    /// Level of care.
    pub level: LevelParams,
    /// Phase of care.
    pub phase: PhaseParams,
    /// Engagement by stage.
    pub engagement: Vec<EngagementRule>,
    /// Program cycling.
    pub program_cycling: CyclingParams,
    /// Supports to add.
    pub supports: Vec<SupportRule>,
    /// The lowest level of care per risk level (for overrides).
    pub risk_floors: Vec<RiskFloor>,
    /// Tracked clinical tasks, one per kind.
    pub tasks: Vec<TaskRule>,
}

impl Rules {
    /// Parses and checks a rules file.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let rules: Rules =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("rules file: {e}"))?;
        rules.check()?;
        Ok(rules)
    }

    /// The compiled-in default rules.
    pub fn embedded() -> anyhow::Result<Self> {
        Self::parse(DEFAULT_RULES)
    }

    /// Loads `path` when given, the embedded default otherwise.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        match path {
            None => Self::embedded(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading rules file {}: {e}", p.display()))?;
                Self::parse(&text)
            }
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.version.trim().is_empty() {
            anyhow::bail!("rules file: version is empty");
        }
        let mut ids = BTreeSet::new();
        for r in &self.rules {
            if !ids.insert(r.id.as_str()) {
                anyhow::bail!("rules file: rule {} is documented twice", r.id);
            }
        }
        for id in CODE_RULE_IDS {
            if !ids.contains(id) {
                anyhow::bail!("rules file: rule {id} is not documented");
            }
        }
        for s in &self.supports {
            if !ids.contains(s.id.as_str()) {
                anyhow::bail!("rules file: support rule {} is not documented", s.id);
            }
            let conditions = usize::from(s.when_stressor.is_some())
                + usize::from(s.when_no_supports)
                + usize::from(s.when_youth)
                + usize::from(s.when_substance_use_at.is_some());
            if conditions != 1 || s.add.is_empty() {
                anyhow::bail!(
                    "rules file: support rule {} needs exactly one condition and something to add",
                    s.id
                );
            }
        }
        for id in &ids {
            if !CODE_RULE_IDS.contains(id) && !self.supports.iter().any(|s| s.id == *id) {
                anyhow::bail!("rules file: rule {id} is documented but nothing fires it");
            }
        }
        let sc = &self.scoring;
        if !(0..=80).contains(&sc.pcl5_provisional_ptsd_at)
            || !(1..=4).contains(&sc.pcl5_item_counts_at)
        {
            anyhow::bail!("rules file: PCL-5 thresholds out of range");
        }
        let m = &sc.pcl5_cluster_minimums;
        if m.b > 5 || m.c > 2 || m.d > 7 || m.e > 6 {
            anyhow::bail!("rules file: PCL-5 cluster minimums exceed the cluster sizes");
        }
        for rating in 0..=10u8 {
            let n = sc.readiness_stages.iter().filter(|b| b.contains(rating)).count();
            if n != 1 {
                anyhow::bail!(
                    "rules file: readiness rating {rating} is in {n} bands (needs exactly 1)"
                );
            }
        }
        for stage in StageOfChange::ALL {
            if !self.engagement.iter().any(|e| e.stage == *stage) {
                anyhow::bail!("rules file: no engagement approach for stage {}", stage.code());
            }
        }
        for (instrument, t) in &self.reliable_change {
            if !["phq9", "gad7", "pcl5"].contains(&instrument.as_str()) || *t <= 0 {
                anyhow::bail!(
                    "rules file: reliable change for {instrument} must be a positive threshold of phq9, gad7 or pcl5"
                );
            }
        }
        let l = &self.level;
        if l.step_up_cap == LevelOfCare::Crisis
            || l.treatment_history_window_days <= 0
            || self.program_cycling.window_days <= 0
            || self.program_cycling.min_programs == 0
        {
            anyhow::bail!("rules file: level or cycling parameters out of range");
        }
        for kind in super::tasks::TaskKind::ALL {
            let rule = self.tasks.iter().filter(|t| t.kind == *kind).collect::<Vec<_>>();
            match rule.as_slice() {
                [t] if t.due_minutes > 0 && t.id == format!("task.{}", kind.code()) => {}
                _ => anyhow::bail!(
                    "rules file: task {} needs exactly one entry with id task.{} and due_minutes above 0",
                    kind.code(),
                    kind.code()
                ),
            }
        }
        Ok(())
    }

    /// The lowest level of care `risk` requires, when the rules set one.
    pub fn level_required_by(&self, risk: RiskLevel) -> Option<LevelOfCare> {
        self.risk_floors.iter().filter(|f| f.risk <= risk).map(|f| f.level).max()
    }

    /// The deadline rule of a task kind (`check` makes sure there is one).
    pub fn task(&self, kind: super::tasks::TaskKind) -> Option<&TaskRule> {
        self.tasks.iter().find(|t| t.kind == kind)
    }

    /// The description of a rule id (empty when undocumented, which `check` rules out).
    pub fn describe(&self, id: &str) -> String {
        self.rules.iter().find(|r| r.id == id).map(|r| r.description.clone()).unwrap_or_default()
    }

    /// The engagement approach for a stage.
    pub fn engagement_for(&self, stage: StageOfChange) -> Option<Engagement> {
        self.engagement.iter().find(|e| e.stage == stage).map(|e| e.approach)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_load() {
        let r = Rules::embedded();
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn bad_files_are_refused() {
        let good: serde_json::Value = serde_json::from_str(DEFAULT_RULES).unwrap_or_default();
        let mut unknown = good.clone();
        unknown["surprise"] = serde_json::json!(1);
        assert!(Rules::parse(&unknown.to_string()).is_err());
        let mut gap = good.clone();
        gap["scoring"]["readiness_stages"][0]["max"] = serde_json::json!(2);
        assert!(Rules::parse(&gap.to_string()).is_err());
        let mut missing = good.clone();
        if let Some(list) = missing["rules"].as_array_mut() {
            list.retain(|r| r["id"] != "phase.stabilisation");
        }
        assert!(Rules::parse(&missing.to_string()).is_err());
        assert!(Rules::parse("not json").is_err());
    }

    #[test]
    fn every_rule_id_is_explained_in_the_docs() {
        let docs = include_str!("../../../../docs/clinical-rules.md");
        let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
        for r in &rules.rules {
            assert!(
                docs.contains(&format!("`{}`", r.id)),
                "docs/clinical-rules.md does not explain {}",
                r.id
            );
        }
        assert!(docs.contains(&rules.version), "docs name the rules version");
    }
}
