//! The rule-based bridge support and the choice of a bridge program among matching's options.

use continuum_vocab::AgeGroup;

use super::*;
use crate::domain::bridge::*;

#[test]
fn bridge_support_by_age_and_band() {
    use BridgeSupport as B;
    assert_eq!(bridge_support(Some(AgeGroup::Child), Band::Routine), B::ParentSession);
    assert_eq!(bridge_support(Some(AgeGroup::Child), Band::Urgent), B::ParentSession);
    assert_eq!(bridge_support(Some(AgeGroup::Adolescent), Band::Routine), B::SingleSession);
    assert_eq!(bridge_support(Some(AgeGroup::Adult), Band::Urgent), B::SingleSession);
    assert_eq!(bridge_support(Some(AgeGroup::OlderAdult), Band::Soon), B::SkillsGroup);
    assert_eq!(bridge_support(None, Band::Routine), B::PeerSupport);
    for b in B::ALL {
        assert_eq!(B::from_code(b.code()), Some(b));
    }
}

fn cand(id: &str, kind: ProgramKind, family: bool, open: bool) -> Candidate {
    Candidate {
        provider_id: id.into(),
        display_name: format!("Program {id}"),
        kind,
        family_involvement: family,
        has_capacity: open,
    }
}

#[test]
fn the_preferred_kind_wins_over_a_better_ranked_other_kind() {
    let cs = [
        cand("a", ProgramKind::SkillsGroup, false, true),
        cand("b", ProgramKind::PeerSupport, false, true),
    ];
    let c = choose(BridgeSupport::PeerSupport, Some(AgeGroup::Adult), Band::Routine, &cs);
    assert_eq!(c.status, BridgeStatus::Chosen);
    assert_eq!(c.provider_id.as_deref(), Some("b"));
    assert_eq!(c.support, BridgeSupport::PeerSupport);
    assert!(c.reason.starts_with("Program b (peer_support): the kind of support preferred (the peer support the rule gives the routine band); ranked 2 of 2"), "{}", c.reason);
}

#[test]
fn otherwise_the_best_other_bridge_program_and_its_support() {
    let cs = [cand("a", ProgramKind::SkillsGroup, false, true)];
    let c = choose(BridgeSupport::PeerSupport, Some(AgeGroup::Adult), Band::Routine, &cs);
    assert_eq!((c.provider_id.as_deref(), c.support), (Some("a"), BridgeSupport::SkillsGroup));
    assert!(c.reason.contains("so the best other bridge program"), "{}", c.reason);
}

#[test]
fn open_capacity_first_within_a_tier_then_rank_and_duplicates_count_once() {
    let cs = [
        cand("full", ProgramKind::BridgeSupport, false, false),
        cand("open", ProgramKind::BridgeSupport, false, true),
        cand("full", ProgramKind::BridgeSupport, false, false),
    ];
    let c = choose(BridgeSupport::SingleSession, Some(AgeGroup::Adult), Band::Urgent, &cs);
    assert_eq!(c.provider_id.as_deref(), Some("open"));
    assert!(c.reason.contains("ranked 2 of 2"), "{}", c.reason);
}

#[test]
fn children_get_a_parent_session_or_a_family_program() {
    let cs = [
        cand("single", ProgramKind::BridgeSupport, false, true),
        cand("family-group", ProgramKind::SkillsGroup, true, true),
        cand("parents", ProgramKind::BridgeSupport, true, false),
    ];
    let c = choose(BridgeSupport::ParentSession, Some(AgeGroup::Child), Band::Routine, &cs);
    assert_eq!(
        (c.provider_id.as_deref(), c.support),
        (Some("parents"), BridgeSupport::ParentSession)
    );
    let c = choose(BridgeSupport::ParentSession, Some(AgeGroup::Child), Band::Routine, &cs[..2]);
    assert_eq!(c.provider_id.as_deref(), Some("family-group"));
    assert!(c.reason.contains("the best program that involves the family"), "{}", c.reason);
    let c = choose(BridgeSupport::ParentSession, Some(AgeGroup::Child), Band::Routine, &cs[..1]);
    assert_eq!(
        (c.provider_id.as_deref(), c.support),
        (Some("single"), BridgeSupport::SingleSession)
    );
}

#[test]
fn none_fits_keeps_the_rule_kind() {
    let c = choose(BridgeSupport::SkillsGroup, Some(AgeGroup::Adult), Band::Soon, &[]);
    assert_eq!(
        (c.status, c.support, c.provider_id),
        (BridgeStatus::NoneFits, BridgeSupport::SkillsGroup, None)
    );
    assert_eq!(
        c.reason,
        "no bridge program in the directory fits the client's age group, jurisdiction, language, payment and format: a coordinator books the skills group the rule gives the soon band"
    );
}

#[test]
fn statuses_mirror_the_proto_enum() {
    let codes: Vec<&str> = BridgeStatus::ALL.iter().map(|s| s.code()).collect();
    continuum_vocab::assert_mirrors_proto(&codes, |n| {
        continuum_proto::waitlist::v1::BridgeStatus::try_from(n).ok().map(|e| e.as_str_name())
    });
    for &s in BridgeStatus::ALL {
        assert_eq!(
            usize::try_from(s.to_proto()).ok().and_then(|n| BridgeStatus::ALL.get(n - 1)),
            Some(&s)
        );
    }
}

#[test]
fn codes_round_trip_and_back_off_doubles_to_an_hour() {
    for &s in BridgeStatus::ALL {
        assert_eq!(BridgeStatus::from_code(s.code()), Some(s));
    }
    for k in ProgramKind::ALL {
        assert_eq!(ProgramKind::from_code(k.code()), Some(k));
    }
    assert_eq!(retry_delay_ms(0, 30), 30_000);
    assert_eq!(retry_delay_ms(3, 30), 240_000);
    assert_eq!(retry_delay_ms(50, 30), 3_600_000);
}
