//! The routing decision of an intake (pending, referred, waitlisted, needs a coordinator), the ranked
//! plan it follows, and the stable ordering of matching's candidates that the assessment may adjust.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where routing stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStatus {
    /// Still being completed.
    Pending,
    /// Referred.
    Referred,
    /// Waitlisted.
    Waitlisted,
    /// No option passed the hard constraints: a coordinator must act.
    NeedsCoordinator,
}

impl RoutingStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RoutingStatus::Pending => "pending",
            RoutingStatus::Referred => "referred",
            RoutingStatus::Waitlisted => "waitlisted",
            RoutingStatus::NeedsCoordinator => "needs_coordinator",
        }
    }

    /// From a stable code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            RoutingStatus::Pending,
            RoutingStatus::Referred,
            RoutingStatus::Waitlisted,
            RoutingStatus::NeedsCoordinator,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// The routing decision (stored as JSON beside the routing task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Status.
    pub status: RoutingStatus,
    /// Referral made.
    pub referral_id: Option<String>,
    /// Provider referred to.
    pub provider_id: Option<String>,
    /// Waitlist entry made.
    pub waitlist_entry_id: Option<String>,
    /// Ranked candidate providers.
    pub candidate_provider_ids: Vec<String>,
    /// Reason (codes and counts only).
    pub reason: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Crisis resources handed to the client.
    pub crisis_resources: Vec<String>,
    /// Set when this routing re-routes the client after a reassessment raised risk to the crisis
    /// pathway: that assessment's id (it makes the downstream idempotency keys new).
    #[serde(default)]
    pub reroute_for_assessment: Option<String>,
}

impl RoutingDecision {
    /// A decision still pending.
    pub fn pending(reason: impl Into<String>) -> Self {
        Self {
            status: RoutingStatus::Pending,
            referral_id: None,
            provider_id: None,
            waitlist_entry_id: None,
            candidate_provider_ids: Vec::new(),
            reason: reason.into(),
            attempts: 0,
            decided_at: None,
            crisis_resources: Vec::new(),
            reroute_for_assessment: None,
        }
    }
}

/// One ranked option matching returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Provider id.
    pub provider_id: String,
    /// Whether it had an open slot when ranked.
    pub has_capacity: bool,
    /// The provider's organization.
    #[serde(default)]
    pub organization_id: String,
    /// Whether the client consented to a referral to that organization.
    #[serde(default = "yes")]
    pub consented: bool,
    /// Whether the program involves the family.
    #[serde(default)]
    pub family_involvement: bool,
    /// Whether the provider offers trauma processing (a trauma-processing modality or track).
    #[serde(default)]
    pub trauma_processing: bool,
}

fn yes() -> bool {
    true
}

/// Orders matching's ranking by what the assessment asks for, keeping matching's order otherwise (a
/// stable sort): youth first to options with family involvement (`routing.youth_family_first`), then,
/// when trauma-focused care is indicated, options offering trauma processing first
/// (`routing.trauma_focused_first`). Returns the ids of the rules applied.
pub fn order_candidates(
    candidates: &mut [Candidate],
    family_first: bool,
    trauma_first: bool,
) -> Vec<&'static str> {
    candidates.sort_by_key(|c| {
        (family_first && !c.family_involvement, trauma_first && !c.trauma_processing)
    });
    let mut applied = Vec::new();
    if family_first {
        applied.push("routing.youth_family_first");
    }
    if trauma_first {
        applied.push("routing.trauma_focused_first");
    }
    applied
}

/// The routing plan: matching's ranked options, stored before any downstream call so that every retry
/// follows the same plan, and how far it has been followed. A candidate is skipped only on a definite
/// "no capacity" (nothing was created), never on an unavailable service: that is what keeps one intake
/// from being routed twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPlan {
    /// Ranked candidates.
    pub candidates: Vec<Candidate>,
    /// Index of the next candidate to try.
    pub next: usize,
    /// Crisis pathway (crisis-capable only, never waitlisted, referral made even when full).
    pub crisis: bool,
    /// Exclusion counts by hard constraint, for the reason text.
    pub exclusions: Vec<(String, i32)>,
    /// Routing rules applied to the ranking and the referral (ids from the rules file).
    #[serde(default)]
    pub rules_applied: Vec<String>,
}
