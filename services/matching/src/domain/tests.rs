//! Tests of the domain types: vocabularies against the protos, constraints and ranking basics.

use continuum_proto::matching::v1 as pb;

#[test]
fn matching_vocabularies_mirror_their_protos() {
    continuum_vocab::assert_mirrors_proto(
        &OutcomeRating::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
        |n| pb::OutcomeRating::try_from(n).ok().map(|e| e.as_str_name()),
    );
    continuum_vocab::assert_mirrors_proto(
        &ScheduleWindow::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
        |n| pb::ScheduleWindow::try_from(n).ok().map(|e| e.as_str_name()),
    );
}
use super::*;

/// An adult outpatient clinician in US-CA (English, self-pay, video; CBT and ACT) with one slot.
pub(super) fn provider(id: &str) -> Provider {
    Provider {
        id: id.to_owned(),
        organization_id: "org".into(),
        display_name: id.into(),
        kind: ProviderKind::Clinician,
        profile: Profile {
            levels_of_care: vec![LevelOfCare::Outpatient],
            age_groups: vec![AgeGroup::Adult],
            jurisdictions: vec!["US-CA".into()],
            languages: vec!["en".into()],
            modalities: vec![Modality::Cbt, Modality::Act],
            payment_options: vec![PaymentOption::SelfPay],
            formats: vec![CareFormat::Video],
            ..Profile::default()
        },
        accepting_new_clients: true,
        open_slots: 1,
        version: 1,
        updated_at: Utc::now(),
        alliance: AllianceStats::default(),
        alliance_segments: Vec::new(),
    }
}

/// An adult outpatient client in US-CA that `provider` fits.
pub(super) fn needs() -> ClientNeeds {
    ClientNeeds {
        level_of_care: LevelOfCare::Outpatient,
        age_group: AgeGroup::Adult,
        jurisdiction: "US-CA".into(),
        language: "en-US".into(),
        payment_option: PaymentOption::SelfPay,
        formats: vec![],
        modalities_avoided: vec![],
        needs_crisis_capable: false,
        phase: None,
        relational_style: RelationalStyle::default(),
        fit: ClientFit::default(),
    }
}

#[test]
fn each_constraint_excludes_and_is_counted_once() {
    let mut ps = vec![provider("a")];
    let mut b = provider("b");
    b.profile.age_groups = vec![AgeGroup::Adolescent];
    ps.push(b);
    let mut c = provider("c");
    c.accepting_new_clients = false;
    c.profile.age_groups = vec![AgeGroup::Adolescent];
    ps.push(c);
    let mut d = provider("d");
    d.profile.modalities = vec![Modality::Emdr];
    ps.push(d);
    let mut need = needs();
    need.phase = Some(CarePhase::Stabilisation);
    let r = rank(&ps, &need, 10);
    assert_eq!(r.options.len(), 1);
    assert_eq!(r.options[0].provider.id, "a");
    let get = |n: &str| r.exclusions.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    assert_eq!(get("age_group"), Some(1));
    assert_eq!(get("accepting_new_clients"), Some(1));
    assert_eq!(get("phase_gate"), Some(1));
    assert_eq!(r.considered, 4);
}

#[test]
fn capacity_ranks_first_then_id() {
    let a = provider("a");
    let mut b = provider("b");
    b.open_slots = 0;
    let r = rank(&[b, a], &needs(), 10);
    assert_eq!(r.options[0].provider.id, "a");
}

#[test]
fn avoided_only_modalities_are_excluded() {
    let mut need = needs();
    need.modalities_avoided = vec![Modality::Cbt, Modality::Act];
    assert_eq!(failed_constraint(&provider("a"), &need), Some("client_exclusions"));
}

#[test]
fn kinds_round_trip() {
    for k in ProviderKind::ALL {
        assert_eq!(ProviderKind::from_proto(k.to_proto()), Some(k));
        assert_eq!(ProviderKind::from_code(k.code()), Some(k));
    }
    assert_eq!(ProviderKind::from_proto(0), None);
}
