//! What the care timeline shows of matching: a client's session feedback (SRS and ORS totals, alliance
//! concerns) and the stuck signals it raised, per client-provider pair, as coded [`CareEvent`]s. Pure:
//! the store reads, this decides what is shown. Scores and codes only.

use std::collections::HashMap;

use continuum_proto::common::v1::CareEvent;
use continuum_vocab::time;

use crate::domain::alliance::{self, PairSession, SRS_CONCERN_BELOW, StuckAction, StuckPolicy};
use crate::store::care::FeedbackStep;

/// The source name matching's steps carry.
pub const SOURCE: &str = "matching";

/// The steps of `feedback` (one client's, oldest first) with providers of `organization_id`: one
/// `feedback.recorded` per session, and a `feedback.stuck` beside each session that raised the stuck
/// signal (with the action it suggested).
pub fn of_feedback(
    feedback: &[FeedbackStep],
    organization_id: &str,
    stuck: &StuckPolicy,
) -> Vec<CareEvent> {
    let mut pairs: HashMap<&str, Vec<PairSession>> = HashMap::new();
    let mut out = Vec::new();
    for f in feedback {
        let history = pairs.entry(f.provider_id.as_str()).or_default();
        history.push(PairSession {
            session_number: f.session_number,
            srs: f.srs_total,
            ors: f.ors_total,
        });
        history.sort_by_key(|s| s.session_number);
        let base = CareEvent {
            occurred_at: Some(time::to_proto(f.recorded_at)),
            source: SOURCE.to_owned(),
            organization_id: organization_id.to_owned(),
            record_id: f.id.clone(),
            provider_id: f.provider_id.to_string(),
            ..Default::default()
        };
        let mut recorded = CareEvent { kind: "feedback.recorded".to_owned(), ..base.clone() };
        recorded.details.insert("session_number".to_owned(), f.session_number.to_string());
        recorded.details.insert("srs_total".to_owned(), format!("{:.1}", f.srs_total));
        recorded.details.insert("ors_total".to_owned(), format!("{:.1}", f.ors_total));
        if f.srs_total < SRS_CONCERN_BELOW {
            recorded.details.insert("alliance_concern".to_owned(), "true".to_owned());
        }
        out.push(recorded);
        let signal = alliance::assess(history, stuck);
        if signal.stuck {
            let mut e = CareEvent { kind: "feedback.stuck".to_owned(), ..base };
            let action = match signal.action {
                StuckAction::None => "none",
                StuckAction::Repair => "repair",
                StuckAction::Rematch => "rematch",
            };
            e.details.insert("action".to_owned(), action.to_owned());
            e.details.insert("reasons".to_owned(), signal.reasons.join(","));
            out.push(e);
        }
    }
    out
}
