//! Clinical tasks: the follow-ups the rules require a person to do by a deadline — a same-day risk
//! assessment after a positive PHQ-9 item 9, a risk review at moderate risk, a coordinator's action for a
//! crisis-pathway client without a crisis referral. Each is opened with the assessment (or the routing
//! decision) that calls for it, is due `due_minutes` later (rules file, `tasks`), and is escalated to a
//! coordinator once when still open at its deadline, like a referral's response deadline. Pure: which
//! tasks an assessment opens and what escalation does; the store keeps them and a worker sweeps.

use chrono::{DateTime, Duration, Utc};
use continuum_vocab::ids::{ClientId, ClinicalTaskId, IntakeId, OrganizationId};
use serde::{Deserialize, Serialize};

use super::assessment::Assessment;
use super::rules::Rules;
use super::scoring::Instrument;

continuum_vocab::coded_enum! {
    /// What a clinical task asks for.
    TaskKind {
        /// A clinician assesses suicide risk today (PHQ-9 item 9 above 0).
        SameDayRiskAssessment => "same_day_risk_assessment",
        /// A clinician reviews risk and the safety plan (moderate risk).
        RiskReview => "risk_review",
        /// A coordinator finds crisis care for a crisis-pathway client routing could not refer.
        CrisisCoordination => "crisis_coordination",
    }
}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Open, before its deadline.
    Open,
    /// Open past its deadline: escalated to a coordinator.
    Overdue,
    /// Done.
    Completed,
}

impl TaskStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Overdue => "overdue",
            TaskStatus::Completed => "completed",
        }
    }
}

/// A clinical task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicalTask {
    /// Id (UUIDv7).
    pub id: ClinicalTaskId,
    /// What it asks for.
    pub kind: TaskKind,
    /// The intake it belongs to.
    pub intake_id: IntakeId,
    /// The client.
    pub client_id: ClientId,
    /// The organization that must do it (the one that took the intake).
    pub organization_id: OrganizationId,
    /// The assessment that opened it (empty for a routing task).
    pub assessment_id: String,
    /// When opened.
    pub opened_at: DateTime<Utc>,
    /// Deadline.
    pub due_at: DateTime<Utc>,
    /// When escalated to a coordinator (past the deadline, still open).
    pub escalated_at: Option<DateTime<Utc>>,
    /// When completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Who completed it (user id from the token).
    pub completed_by: String,
    /// Version for optimistic concurrency.
    pub version: i64,
}

impl ClinicalTask {
    /// Where it stands.
    pub fn status(&self) -> TaskStatus {
        if self.completed_at.is_some() {
            TaskStatus::Completed
        } else if self.escalated_at.is_some() {
            TaskStatus::Overdue
        } else {
            TaskStatus::Open
        }
    }

    /// Whether a sweep at `now` escalates it (open, not yet escalated, deadline passed).
    pub fn escalates_at(&self, now: DateTime<Utc>) -> bool {
        self.completed_at.is_none() && self.escalated_at.is_none() && self.due_at <= now
    }
}

/// A task to open: its kind and deadline (the store gives it ids and the intake's identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskToOpen {
    /// Kind.
    pub kind: TaskKind,
    /// Deadline.
    pub due_at: DateTime<Utc>,
}

fn due(rules: &Rules, kind: TaskKind, from: DateTime<Utc>) -> TaskToOpen {
    // `Rules::check` guarantees a positive deadline for every kind; one hour is the fallback of last resort.
    let minutes = rules.task(kind).map_or(60, |t| t.due_minutes);
    TaskToOpen { kind, due_at: from + Duration::minutes(minutes) }
}

/// The tasks an assessment opens at `now`: a same-day risk assessment when PHQ-9 item 9 is above 0
/// (whatever the total or the C-SSRS says), a risk review at moderate risk. Crisis risk has its own
/// pathway (an emergency referral); its coordinator task is opened only when no crisis referral is made
/// (`crisis_unreferred`).
pub fn opened_by(a: &Assessment, rules: &Rules, now: DateTime<Utc>) -> Vec<TaskToOpen> {
    let mut out = Vec::new();
    let item9 = a
        .score(Instrument::Phq9)
        .is_some_and(|p| p.flags.iter().any(|f| f == "phq9_item9_positive"));
    if item9 && !a.risk_level.is_crisis() {
        out.push(due(rules, TaskKind::SameDayRiskAssessment, now));
    }
    if a.risk_level == continuum_vocab::RiskLevel::Moderate {
        out.push(due(rules, TaskKind::RiskReview, now));
    }
    out
}

/// The coordinator task for a crisis-pathway client that routing could not refer to crisis care.
pub fn crisis_unreferred(rules: &Rules, now: DateTime<Utc>) -> TaskToOpen {
    due(rules, TaskKind::CrisisCoordination, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::new_intake;
    use crate::domain::{CssrsAnswers, Dysregulation, Screeners, assess};

    fn rules() -> Rules {
        Rules::embedded().unwrap_or_else(|e| panic!("{e}"))
    }

    fn kinds(s: Screeners, self_harm: bool) -> Vec<TaskKind> {
        let mut i = new_intake(s);
        if self_harm {
            i.dysregulation = Some(Dysregulation { recent_self_harm: true, ..Default::default() });
        }
        let now = Utc::now();
        let a = assess("a".into(), &i, &rules(), now, None);
        opened_by(&a, &rules(), now).into_iter().map(|t| t.kind).collect()
    }

    fn phq_item9(n: u8) -> Option<Vec<u8>> {
        Some(vec![1, 1, 1, 1, 1, 0, 0, 0, n])
    }

    #[test]
    fn item9_opens_a_same_day_risk_assessment_whatever_the_cssrs() {
        assert_eq!(
            kinds(Screeners { phq9: phq_item9(1), ..Default::default() }, false),
            vec![TaskKind::SameDayRiskAssessment, TaskKind::RiskReview],
            "item 9 without C-SSRS is moderate risk too"
        );
        assert_eq!(
            kinds(
                Screeners {
                    phq9: phq_item9(2),
                    cssrs: Some(CssrsAnswers::default()),
                    ..Default::default()
                },
                false
            ),
            vec![TaskKind::SameDayRiskAssessment],
            "a negative C-SSRS does not cancel the same-day assessment"
        );
        assert!(kinds(Screeners { phq9: phq_item9(0), ..Default::default() }, false).is_empty());
    }

    #[test]
    fn recent_self_harm_opens_a_risk_review() {
        assert_eq!(
            kinds(Screeners { phq9: phq_item9(0), ..Default::default() }, true),
            vec![TaskKind::RiskReview]
        );
    }

    #[test]
    fn deadlines_come_from_the_rules_and_escalation_happens_once() {
        let r = rules();
        let now = Utc::now();
        let t = crisis_unreferred(&r, now);
        assert_eq!(t.due_at - now, Duration::minutes(60));
        let mut task = ClinicalTask {
            id: ClinicalTaskId::new_v7(),
            kind: t.kind,
            intake_id: IntakeId::new_v7(),
            client_id: ClientId::new_v7(),
            organization_id: OrganizationId::new_v7(),
            assessment_id: String::new(),
            opened_at: now,
            due_at: t.due_at,
            escalated_at: None,
            completed_at: None,
            completed_by: String::new(),
            version: 1,
        };
        assert!(!task.escalates_at(now));
        assert!(task.escalates_at(t.due_at));
        task.escalated_at = Some(t.due_at);
        assert_eq!(task.status(), TaskStatus::Overdue);
        assert!(!task.escalates_at(t.due_at + Duration::hours(1)), "escalated once");
        task.completed_at = Some(now);
        assert_eq!(task.status(), TaskStatus::Completed);
    }
}
