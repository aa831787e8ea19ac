//! Check-ins while waiting: re-banding from the screeners (the waitlist's own rules and intake's
//! re-screen), the bookkeeping of answered and missed check-ins (outreach after two misses), the rise in
//! risk that takes a client off the list into the crisis interlock, and the interlock itself at enqueue.

use chrono::{DateTime, Utc};
use continuum_vocab::{RiskLevel, Urgency};

use super::{Band, Entry, Policy};
use crate::error::{Error, ErrorReason, Result};

/// Consecutive unanswered check-ins that open outreach (CLINICAL.md, "Waitlists").
pub const OUTREACH_AFTER_MISSES: i32 = 2;

/// The removal reason of an entry that left the waitlist for the crisis interlock.
pub const RISK_RISE_REASON: &str = "risk_rise_interlock";

/// Whether an answered check-in that intake could NOT re-screen shows a rise in risk that takes the
/// client off the waitlist into the crisis interlock: PHQ-9 item 9 (thoughts of self-harm) above 0, or a
/// risk level given with the check-in at high or imminent. Without intake's risk assessment the waitlist
/// cannot tell moderate from high risk after a positive item 9 (which needs a same-day risk assessment
/// whatever the total), so it errs to the interlock. A severe score without either re-bands to urgent but
/// keeps the client waiting. When intake did re-screen, [`rescreen_rise`] decides instead.
pub fn risk_rise(phq9: Option<&[i32]>, risk: Option<RiskLevel>) -> bool {
    phq9.and_then(|items| items.get(8)).is_some_and(|x| *x > 0)
        || risk.is_some_and(RiskLevel::is_crisis)
}

/// What intake's re-screen (`RecordReassessment`) of a check-in said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescreen {
    /// The new assessment's id.
    pub assessment_id: String,
    /// The new assessment's risk level.
    pub risk: RiskLevel,
    /// How soon the new assessment says the client must be seen.
    pub urgency: Urgency,
    /// Risk rose compared with the previous assessment.
    pub risk_increased: bool,
    /// Intake put the client on the crisis pathway and routed them to crisis care itself.
    pub rerouted: bool,
}

/// Whether a check-in that intake re-screened takes the client off the waitlist into the interlock: the
/// re-screen (or a risk level given with the check-in) is on the crisis pathway (high or imminent), which
/// covers intake's `risk_increased` onto the crisis pathway. A rise below it (moderate: PHQ-9 item 9
/// without a C-SSRS, C-SSRS item 3) is expedited to the urgent band through intake's urgency, as
/// CLINICAL.md asks ("Moderate risk ... expedited: urgent band"), and the client keeps their place.
pub fn rescreen_rise(rescreen: &Rescreen, given: Option<RiskLevel>) -> bool {
    rescreen.risk.is_crisis() || given.is_some_and(RiskLevel::is_crisis)
}

/// The band intake's urgency asks for (emergency is the crisis pathway and leaves the list anyway).
pub fn band_for_urgency(urgency: Urgency) -> Band {
    match urgency {
        Urgency::Emergency | Urgency::Urgent => Band::Urgent,
        Urgency::Soon => Band::Soon,
        Urgency::Routine => Band::Routine,
    }
}

/// The crisis interlock: a client at high or imminent risk is never only put on a waitlist.
pub fn crisis_interlock(risk: Option<RiskLevel>) -> Result<()> {
    match risk {
        Some(r) if r.is_crisis() => Err(Error::precondition(
            ErrorReason::HighRiskNotWaitlisted,
            "a client at high or imminent risk is routed to crisis care, not put on a waitlist",
        )),
        _ => Ok(()),
    }
}

/// Sum of screener items (already validated to 0..=3).
pub fn total(items: &[i32]) -> i32 {
    items.iter().sum()
}

/// A re-band: the band after a check-in and the rules that raised it (empty when nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reband {
    /// The band after the check-in (never less urgent than before).
    pub band: Band,
    /// Ids of the rules that fired.
    pub rules: Vec<&'static str>,
}

/// Re-bands from check-in screeners (validated PHQ-9: 9 items, GAD-7: 7 items, each 0..=3):
/// - `reband.phq9_severe`: PHQ-9 total >= 20 -> urgent;
/// - `reband.gad7_severe`: GAD-7 total >= 15 -> urgent;
/// - `reband.phq9_item9`: PHQ-9 item 9 (thoughts of self-harm) > 0 -> urgent (CLINICAL.md: moderate risk is
///   expedited to the urgent band and needs a same-day risk assessment);
/// - `reband.phq9_moderately_severe`: PHQ-9 total 15..=19 -> at least soon;
/// - `reband.gad7_moderate`: GAD-7 total 10..=14 -> at least soon.
///
/// The band is never lowered automatically: improvement is a clinician's call.
pub fn reband(current: Band, phq9: Option<&[i32]>, gad7: Option<&[i32]>) -> Reband {
    let mut rules = Vec::new();
    let mut target = current;
    let mut raise = |to: Band, rule: &'static str| {
        if to.rank() < current.rank() {
            rules.push(rule);
        }
        target = target.most_urgent(to);
    };
    if let Some(items) = phq9 {
        let t = total(items);
        if t >= 20 {
            raise(Band::Urgent, "reband.phq9_severe");
        } else if t >= 15 {
            raise(Band::Soon, "reband.phq9_moderately_severe");
        }
        if items.get(8).is_some_and(|x| *x > 0) {
            raise(Band::Urgent, "reband.phq9_item9");
        }
    }
    if let Some(items) = gad7 {
        let t = total(items);
        if t >= 15 {
            raise(Band::Urgent, "reband.gad7_severe");
        } else if t >= 10 {
            raise(Band::Soon, "reband.gad7_moderate");
        }
    }
    Reband { band: target, rules }
}

/// What a check-in changes on an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckInOutcome {
    /// Band after the check-in.
    pub band: Band,
    /// Rules that raised the band.
    pub rules: Vec<&'static str>,
    /// Check-ins missed in a row after this one.
    pub missed_check_ins: i32,
    /// Whether outreach is open after this one.
    pub outreach_open: bool,
    /// Whether this check-in opened outreach.
    pub outreach_opened: bool,
    /// When the next check-in is due.
    pub next_check_in_at: DateTime<Utc>,
    /// PHQ-9 total, when re-screened.
    pub phq9_total: Option<i32>,
    /// GAD-7 total, when re-screened.
    pub gad7_total: Option<i32>,
    /// Risk rose: the entry leaves the waitlist for the crisis interlock (never silently).
    pub interlock: bool,
}

/// Applies a check-in to `entry` at `now`.
///
/// Answered: the miss count resets, outreach closes (the client has been reached), the next check-in is
/// due one interval from now, and the band is re-screened with [`reband`]. Unanswered: the miss count
/// grows and the due date moves one interval on; at [`OUTREACH_AFTER_MISSES`] misses in a row outreach
/// opens (`outreach_opened` is true only for the check-in that opened it). Nobody is ever removed here.
/// Only entries still on the list can check in (`ENTRY_NOT_WAITING`).
pub fn check_in(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    check_in_with_risk(entry, answered, phq9, gad7, None, now, policy)
}

/// [`check_in`] with a risk level given by the caller, without intake's re-screen: an answered check-in
/// showing a [`risk_rise`] sets `interlock` (the entry leaves the waitlist).
pub fn check_in_with_risk(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    risk: Option<RiskLevel>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    check_in_rescreened(entry, answered, phq9, gad7, risk, None, now, policy)
}

/// [`check_in_with_risk`] with intake's re-screen, when intake made one. With it the band is the more
/// urgent of the waitlist's own [`reband`] and the band of intake's urgency (rule
/// `reband.intake_urgency`; never lowered), and the interlock follows [`rescreen_rise`]. Without it the
/// waitlist's own rules alone decide ([`reband`], [`risk_rise`]).
#[allow(clippy::too_many_arguments)]
pub fn check_in_rescreened(
    entry: &Entry,
    answered: bool,
    phq9: Option<&[i32]>,
    gad7: Option<&[i32]>,
    risk: Option<RiskLevel>,
    rescreen: Option<&Rescreen>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Result<CheckInOutcome> {
    if !entry.status.is_active() {
        return Err(Error::precondition(
            ErrorReason::EntryNotWaiting,
            format!("entry is {}", entry.status.code()),
        ));
    }
    let next_check_in_at = now.checked_add_signed(policy.check_in_interval()).unwrap_or(now);
    if answered {
        let mut r = reband(entry.band, phq9, gad7);
        if let Some(rs) = rescreen {
            let asked = band_for_urgency(rs.urgency);
            if asked.rank() < r.band.rank() {
                r.rules.push("reband.intake_urgency");
                r.band = asked;
            }
        }
        let interlock = match rescreen {
            Some(rs) => rescreen_rise(rs, risk),
            None => risk_rise(phq9, risk),
        };
        Ok(CheckInOutcome {
            band: r.band,
            rules: r.rules,
            missed_check_ins: 0,
            outreach_open: false,
            outreach_opened: false,
            next_check_in_at,
            phq9_total: phq9.map(total),
            gad7_total: gad7.map(total),
            interlock,
        })
    } else {
        let missed = entry.missed_check_ins.saturating_add(1);
        let opens = missed >= OUTREACH_AFTER_MISSES && !entry.outreach_open;
        Ok(CheckInOutcome {
            band: entry.band,
            rules: Vec::new(),
            missed_check_ins: missed,
            outreach_open: entry.outreach_open || opens,
            outreach_opened: opens,
            next_check_in_at,
            phq9_total: None,
            gad7_total: None,
            interlock: false,
        })
    }
}
