//! Unit tests of the pure waitlist rules, by topic like the rules themselves; the records' own rules
//! (bands, answering an offer) are tested here.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, Utc};
use continuum_vocab::time;

use super::*;

mod bridge;
mod check_in;
mod metrics;
mod priority;

fn t0() -> DateTime<Utc> {
    time::from_ms(1_764_000_000_000)
}

fn entry(id: &str, band: Band, enqueued_days_ago: i64, providers: &[&str]) -> Entry {
    Entry {
        id: id.to_owned(),
        idempotency_key: format!("k-{id}"),
        client_id: "c".into(),
        intake_id: "i".into(),
        organization_id: "o".into(),
        band,
        risk_level: None,
        candidate_provider_ids: providers.iter().map(|p| (*p).to_owned()).collect(),
        status: EntryStatus::Waiting,
        enqueued_at: t0() - TimeDelta::days(enqueued_days_ago),
        level_of_care: None,
        age_group: None,
        removal_reason: None,
        missed_check_ins: 0,
        outreach_open: false,
        next_check_in_at: t0(),
        updated_at: t0(),
        version: 1,
        bridge_support: None,
        interlock_required: false,
    }
}

fn ids(v: &[Entry]) -> Vec<&str> {
    v.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn band_round_trips() {
    for &b in Band::ALL {
        assert_eq!(Band::from_proto(b.to_proto()), Some(b));
        assert_eq!(Band::from_code(b.code()), Some(b));
    }
    assert_eq!(Band::from_proto(0), None);
    assert_eq!(Band::from_proto(4), None);
    assert_eq!(Band::from_proto(-1), None);
    assert_eq!(Band::Urgent.urgency(), Urgency::Urgent);
    assert_eq!(Band::Routine.most_urgent(Band::Soon), Band::Soon);
}

#[test]
fn only_pending_unexpired_offers_can_be_answered() {
    let mut o = Offer {
        id: "o".into(),
        entry_id: "e".into(),
        provider_id: "p".into(),
        status: OfferStatus::Pending,
        offered_at: t0(),
        expires_at: t0() + TimeDelta::hours(48),
        responded_at: None,
        referral_id: None,
        slot_key: None,
    };
    assert!(answerable(&o, t0()).is_ok());
    let reason = |r: Result<()>| match r {
        Err(Error::FailedPrecondition { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(reason(answerable(&o, t0() + TimeDelta::hours(48))), ErrorReason::OfferExpired);
    o.status = OfferStatus::Declined;
    assert_eq!(reason(answerable(&o, t0())), ErrorReason::OfferNotPending);
}
