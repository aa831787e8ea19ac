//! The waitlist's client of the intake service: re-screening a check-in's answers through intake's
//! `RecordReassessment` for the entry's intake. Intake stores the new assessment and, when risk rises onto
//! the crisis pathway, routes the client to crisis care itself; its answer maps to a
//! [`Rescreen`] here. Logs carry ids and codes only: the peer's message may describe the answers.

use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_runtime::PeerChannel;
use continuum_vocab::{RiskLevel, Urgency};

use crate::domain::{Entry, Rescreen};

/// A lazily connected client of the intake service.
#[derive(Clone, Debug)]
pub struct IntakePeer {
    client: IntakeServiceClient<PeerChannel>,
}

/// The answers of one check-in that intake re-screens.
#[derive(Clone, Copy, Debug)]
pub struct Answers<'a> {
    /// PHQ-9 items, when answered.
    pub phq9: Option<&'a [i32]>,
    /// GAD-7 items, when answered.
    pub gad7: Option<&'a [i32]>,
    /// Whether a clinician reports imminent risk.
    pub imminent: bool,
}

impl IntakePeer {
    /// A peer calling intake through `client`.
    pub fn new(client: IntakeServiceClient<PeerChannel>) -> Self {
        Self { client }
    }

    /// Re-screens `answers` for `entry`'s intake, with a service token acting for the entry's
    /// organization and `user` (who recorded the check-in). `None` when intake could not re-screen
    /// (any failure): the re-screen is left pending and the check-in is still recorded.
    pub async fn rescreen(
        &self,
        entry: &Entry,
        answers: Answers<'_>,
        user: &str,
    ) -> Option<Rescreen> {
        let req = pb::RecordReassessmentRequest {
            intake_id: entry.intake_id.to_string(),
            screeners: Some(pb::Screeners {
                phq9: answers.phq9.map(|items| pb::Phq9 { items: items.to_vec() }),
                gad7: answers.gad7.map(|items| pb::Gad7 { items: items.to_vec() }),
                ..Default::default()
            }),
            clinician_reports_imminent_risk: answers.imminent,
            ..Default::default()
        };
        let mut client = self.client.clone();
        let resp = match client
            .record_reassessment(continuum_auth::on_behalf_of(
                req,
                entry.organization_id.as_str(),
                Some(user),
            ))
            .await
        {
            Ok(resp) => resp.into_inner(),
            Err(status) => {
                // Only the code: the peer's message may describe the answers.
                tracing::warn!(entry_id = %entry.id, intake_id = %entry.intake_id, peer = "intake", code = ?status.code(), "re-screen failed; left pending");
                return None;
            }
        };
        let Some(a) = resp.assessment else {
            tracing::warn!(entry_id = %entry.id, peer = "intake", "re-screen answered without an assessment; left pending");
            return None;
        };
        match (RiskLevel::from_proto(a.risk_level), Urgency::from_proto(a.urgency)) {
            (Some(risk), Some(urgency)) => Some(Rescreen {
                assessment_id: a.id,
                risk,
                urgency,
                risk_increased: resp.risk_increased,
                rerouted: resp.rerouted,
            }),
            _ => {
                tracing::warn!(entry_id = %entry.id, peer = "intake", "re-screen answered without a risk level or urgency; left pending");
                None
            }
        }
    }
}
