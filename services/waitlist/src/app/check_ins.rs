//! The check-in use case. Answers (PHQ-9, GAD-7, a clinician's imminent-risk judgement) go to intake's
//! `RecordReassessment` first, with a service token acting for the entry's organization, outside any
//! transaction; intake's risk and urgency then feed the domain rules. When intake cannot answer, the
//! check-in is still recorded on the waitlist's own rules and the answer says the re-screen is pending.

use continuum_auth::Caller;
use continuum_vocab::RiskLevel;

use super::{App, CheckIn, CheckedIn};
use crate::domain::{self, Rescreen};
use crate::error::Result;
use crate::peers::intake::Answers;
use crate::store::CheckInRecord;

/// What became of the re-screen of a check-in's answers.
enum RescreenResult {
    /// Nothing to re-screen (no answers, no imminent-risk judgement).
    NotAsked,
    /// Intake re-screened.
    Done(Rescreen),
    /// Intake could not re-screen; the waitlist's own rules apply and the re-screen is still to be done.
    Pending,
}

impl App {
    /// Records a check-in with an entry the caller may see: re-screened through intake when answered,
    /// re-banded (never lowered), outreach opened after missed check-ins, and the entry taken off the list
    /// into the crisis interlock when risk rose (never silently: the answer says so).
    pub async fn record_check_in(&self, caller: &Caller, cmd: CheckIn) -> Result<CheckedIn> {
        let CheckIn { entry_id, answered, phq9, gad7, risk, imminent, expected_version } = cmd;
        // A clinician's judgement of imminent risk is imminent risk, whether or not intake can re-screen.
        let risk = if imminent { Some(RiskLevel::Imminent) } else { risk };
        let current = self.visible_entry(caller, &entry_id).await?;
        // A stale precondition is refused before intake is troubled, and again inside the write below.
        domain::check_version(&current, expected_version)?;
        // Re-screen through intake first (no transaction is open across the call). A closed entry is
        // refused below without troubling intake.
        let wants_rescreen = answered && (phq9.is_some() || gad7.is_some() || imminent);
        let rescreen = if wants_rescreen && current.status.is_active() {
            let answers = Answers { phq9: phq9.as_deref(), gad7: gad7.as_deref(), imminent };
            match self.intake.rescreen(&current, answers, caller.audit_user()).await {
                Some(r) => RescreenResult::Done(r),
                None => RescreenResult::Pending,
            }
        } else {
            RescreenResult::NotAsked
        };
        let done = match &rescreen {
            RescreenResult::Done(r) => Some(r.clone()),
            _ => None,
        };
        let now = self.clock.now();
        let policy = *self.store.policy();
        let record = CheckInRecord {
            answered,
            phq9: phq9.clone(),
            gad7: gad7.clone(),
            rescreen: match &rescreen {
                RescreenResult::NotAsked => "",
                RescreenResult::Done(_) => "intake",
                RescreenResult::Pending => "pending",
            },
            assessment_id: done.as_ref().map(|r| r.assessment_id.clone()),
        };
        let checked = self
            .store
            .check_in(&entry_id, record, now, |e| {
                domain::check_version(e, expected_version)?;
                domain::check_in_rescreened(
                    e,
                    answered,
                    phq9.as_deref(),
                    gad7.as_deref(),
                    risk,
                    done.as_ref(),
                    now,
                    &policy,
                )
            })
            .await?;
        self.holds.pass_on(&checked.withdrawn, &checked.next_offers, now).await;
        let (entry, outcome) = (checked.entry, checked.outcome);
        let pending = matches!(rescreen, RescreenResult::Pending);
        tracing::info!(
            entry_id = %entry.id,
            answered,
            missed_check_ins = outcome.missed_check_ins,
            outreach_opened = outcome.outreach_opened,
            band = entry.band.code(),
            interlock_required = outcome.interlock,
            rescreen_pending = pending,
            assessment_id = done.as_ref().map_or("", |r| r.assessment_id.as_str()),
            rescreen_risk = done.as_ref().map_or("", |r| r.risk.code()),
            "check-in recorded"
        );
        if outcome.interlock {
            // Never silent: the caller is told in the response and the entry keeps the reason. When intake
            // re-screened onto the crisis pathway it has routed the client to crisis care itself.
            tracing::warn!(
                entry_id = %entry.id,
                reason = domain::RISK_RISE_REASON,
                rerouted_by_intake = done.as_ref().is_some_and(|r| r.rerouted),
                "risk rose while waiting; entry left for the crisis interlock"
            );
        }
        Ok(CheckedIn {
            entry: self.view(entry).await?,
            outreach_opened: outcome.outreach_opened,
            interlock_required: outcome.interlock,
            rescreen_pending: pending,
            rescreen: done,
        })
    }
}
