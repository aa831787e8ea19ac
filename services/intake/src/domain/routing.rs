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
    /// Why this option, in plain words a coordinator can read to the client: what the routing rules
    /// asked for and whether the option meets it, then the chosen option's strongest fit reasons.
    #[serde(default)]
    pub explanation: Vec<String>,
    /// The routing rule ids applied (from the rules file).
    #[serde(default)]
    pub rules_applied: Vec<String>,
    /// Version of the rules file the decision followed.
    #[serde(default)]
    pub rules_version: String,
    /// When waitlisted: the first check-in the waitlist scheduled (the check-in plan).
    #[serde(default)]
    pub next_check_in_at: Option<DateTime<Utc>>,
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
            explanation: Vec::new(),
            rules_applied: Vec::new(),
            rules_version: String::new(),
            next_check_in_at: None,
        }
    }
}

/// Most alternatives one referral carries (referral's limit): the options it may fall back on at once, and
/// re-route to after a "no".
pub const MAX_ALTERNATIVES: usize = 20;

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
    /// Whether the provider offers regulation-focused care (a skills group, DBT, skills training, somatic).
    #[serde(default)]
    pub regulation_focused: bool,
    /// Matching's strongest fit reasons for this option, plain words ("relational fit: ...").
    #[serde(default)]
    pub reasons: Vec<String>,
}

fn yes() -> bool {
    true
}

/// What the assessment asks routing to try first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Priorities {
    /// Youth: options with family involvement (`routing.youth_family_first`).
    pub family_first: bool,
    /// Stabilisation phase: regulation-focused options (`routing.stabilisation_regulation_first`).
    pub regulation_first: bool,
    /// Trauma-focused care indicated: options offering trauma processing (`routing.trauma_focused_first`).
    pub trauma_first: bool,
}

/// The ordering rules: id, whether it applies, whether a candidate meets it, and how to say so.
type OrderingRule = (&'static str, bool, fn(&Candidate) -> bool, &'static str);

fn ordering_rules(p: Priorities) -> [OrderingRule; 3] {
    [
        ("routing.youth_family_first", p.family_first, |c| c.family_involvement, "family-involved"),
        (
            "routing.stabilisation_regulation_first",
            p.regulation_first,
            |c| c.regulation_focused,
            "regulation-focused (skills, DBT-informed, somatic)",
        ),
        ("routing.trauma_focused_first", p.trauma_first, |c| c.trauma_processing, "trauma-focused"),
    ]
}

/// Orders matching's ranking by what the assessment asks for, keeping matching's order otherwise (a
/// stable sort): youth first to options with family involvement, then, in the stabilisation phase,
/// regulation-focused options, or, when trauma-focused care is indicated, options offering trauma
/// processing. Returns the ids of the rules applied.
pub fn order_candidates(candidates: &mut [Candidate], p: Priorities) -> Vec<&'static str> {
    let rules = ordering_rules(p);
    candidates.sort_by_key(|c| rules.map(|(_, on, meets, _)| on && !meets(c)));
    rules.iter().filter(|r| r.1).map(|r| r.0).collect()
}

/// Why `chosen` (one of `plan`'s candidates), in plain words: for each ordering rule the plan applied,
/// whether the chosen option meets it or why not (none in the ranking, or none that could take the client
/// now), then the chosen option's strongest fit reasons from matching.
pub fn explain_choice(plan: &RoutingPlan, chosen: &Candidate) -> Vec<String> {
    let p = plan.priorities();
    let mut out = Vec::new();
    for (id, on, meets, what) in ordering_rules(p) {
        if !on {
            continue;
        }
        out.push(if meets(chosen) {
            format!("a {what} option, as {id} asks")
        } else if plan.candidates.iter().any(meets) {
            format!("no {what} option could take the client now; next best option ({id})")
        } else {
            format!("no {what} option at this level of care; next best option ({id})")
        });
    }
    out.extend(chosen.reasons.iter().cloned());
    out
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

impl RoutingPlan {
    /// The ordering priorities this plan was made with (from its rules).
    pub fn priorities(&self) -> Priorities {
        let has = |id: &str| self.rules_applied.iter().any(|r| r == id);
        Priorities {
            family_first: has("routing.youth_family_first"),
            regulation_first: has("routing.stabilisation_regulation_first"),
            trauma_first: has("routing.trauma_focused_first"),
        }
    }

    /// The candidates' provider ids, in rank order.
    pub fn provider_ids(&self) -> Vec<String> {
        self.candidates.iter().map(|c| c.provider_id.clone()).collect()
    }

    /// The options a referral to candidate `i` carries as its alternatives, as indexes, best first: the
    /// rest of the plan the client consented to (every later option on the crisis pathway), at most
    /// [`MAX_ALTERNATIVES`]. Referral may fall back on them at once (first-open) and re-routes to them
    /// after a "no", so the client never starts over.
    pub fn alternatives_after(&self, i: usize) -> Vec<usize> {
        (i + 1..self.candidates.len())
            .filter(|&j| self.crisis || self.candidates[j].consented)
            .take(MAX_ALTERNATIVES)
            .collect()
    }

    /// The index of the candidate for `provider_id`.
    pub fn position(&self, provider_id: &str) -> Option<usize> {
        self.candidates.iter().position(|c| c.provider_id == provider_id)
    }

    /// Marks each candidate with an organization as consented to or not, by `allows` (consent may have
    /// been recorded or revoked since the plan was made).
    pub fn recheck_consent(&mut self, allows: impl Fn(&str) -> bool) {
        for c in &mut self.candidates {
            if !c.organization_id.is_empty() {
                c.consented = allows(&c.organization_id);
            }
        }
    }

    /// The plan to follow after the providers in `refused` turned out to have no slot left: `fresh`
    /// (matching's ranking as the directory stands now, consent already rechecked) with those providers
    /// marked full, so none of them is referred to directly again (a first-open referral may still fall
    /// back on one that has a slot again by then); this plan as it is when `fresh` offers no option the
    /// client consented to, or is for the other pathway (a directory that changed under the plan is no
    /// reason to stop routing).
    pub fn refreshed(self, mut fresh: RoutingPlan, refused: &[String]) -> RoutingPlan {
        if fresh.crisis != self.crisis || !fresh.candidates.iter().any(|c| c.consented) {
            return self;
        }
        for c in &mut fresh.candidates {
            if refused.contains(&c.provider_id) {
                c.has_capacity = false;
            }
        }
        fresh
    }
}
