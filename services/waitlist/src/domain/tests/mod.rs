//! Unit tests of the pure waitlist rules, by topic like the rules themselves; the records' own rules
//! (bands, answering an offer) are tested here.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeDelta, Utc};
use continuum_vocab::ids::{ClientId, EntryId, IntakeId, OfferId, OrganizationId, ProviderId};
use continuum_vocab::time;

use super::*;

mod bridge;
mod check_in;
mod metrics;
mod priority;

fn t0() -> DateTime<Utc> {
    time::from_ms(1_764_000_000_000)
}

/// The UUID that stands for the test name `name` (at most 16 bytes): its bytes, zero-padded, so that ids
/// sort like their names.
fn uuid_of(name: &str) -> String {
    let mut b = [0u8; 16];
    for (i, c) in name.bytes().take(16).enumerate() {
        b[i] = c;
    }
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The test name a [`uuid_of`] id stands for.
fn name_of(id: &str) -> String {
    let h: String = id.chars().filter(|c| *c != '-').collect();
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .filter(|b| *b != 0)
        .collect();
    String::from_utf8(bytes).unwrap()
}

fn pid(name: &str) -> ProviderId {
    ProviderId::parse(&uuid_of(name)).unwrap()
}

fn entry(id: &str, band: Band, enqueued_days_ago: i64, providers: &[&str]) -> Entry {
    Entry {
        id: EntryId::parse(&uuid_of(id)).unwrap(),
        idempotency_key: format!("k-{id}"),
        client_id: ClientId::parse(&uuid_of("c")).unwrap(),
        intake_id: IntakeId::parse(&uuid_of("i")).unwrap(),
        organization_id: OrganizationId::parse(&uuid_of("o")).unwrap(),
        band,
        risk_level: None,
        candidate_provider_ids: providers.iter().map(|p| pid(p)).collect(),
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

fn ids(v: &[Entry]) -> Vec<String> {
    v.iter().map(|e| name_of(e.id.as_str())).collect()
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
        id: OfferId::parse(&uuid_of("o")).unwrap(),
        entry_id: EntryId::parse(&uuid_of("e")).unwrap(),
        provider_id: pid("p"),
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
