//! Scenario and property tests of the fit model and the compiled directory.

use chrono::Utc;
use continuum_vocab::{
    AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use proptest::prelude::*;

use super::directory::Directory;
use super::*;

/// The shared fixture of `super::tests`, offering CBT only (the scenarios here compare single modalities).
pub(super) fn provider(id: &str) -> Provider {
    let mut p = super::tests::provider(id);
    p.profile.modalities = vec![Modality::Cbt];
    p
}

use super::tests::needs;

pub(super) fn ids(r: &Ranking) -> Vec<&str> {
    r.options.iter().map(|o| o.provider.id.as_str()).collect()
}

#[test]
fn relational_preference_reorders_equal_clinicians() {
    let mut a = provider("a");
    a.profile.relational_style = RelationalStyle {
        directiveness: -2,
        emotional_intensity: -2,
        past_orientation: 0,
        challenge: -2,
    };
    let mut b = provider("b");
    b.profile.relational_style = RelationalStyle {
        directiveness: 2,
        emotional_intensity: 2,
        past_orientation: 0,
        challenge: 2,
    };
    let ps = [a, b];
    let mut c = needs();
    // Without a preference the tie goes to the smaller id.
    assert_eq!(ids(&rank(&ps, &c, 10)), vec!["a", "b"]);
    c.relational_style = RelationalStyle {
        directiveness: 3,
        emotional_intensity: 2,
        past_orientation: 0,
        challenge: 2,
    };
    let r = rank(&ps, &c, 10);
    assert_eq!(ids(&r), vec!["b", "a"]);
    let rel = r.options[0].components.iter().find(|x| x.name == "relational_fit").map(|x| x.value);
    assert!(rel.is_some_and(|v| v > 0.9));
}

#[test]
fn ineffective_in_main_domain_ranks_below_neutral() {
    let mut a = provider("a");
    a.profile.specialties = vec![ProblemDomain::Depression];
    a.profile.outcome_strengths = vec![OutcomeStrength {
        domain: ProblemDomain::Depression,
        rating: OutcomeRating::Ineffective,
        cases: 40,
    }];
    let mut b = provider("b");
    b.profile.specialties = vec![ProblemDomain::Depression];
    b.profile.outcome_strengths = vec![OutcomeStrength {
        domain: ProblemDomain::Depression,
        rating: OutcomeRating::Neutral,
        cases: 40,
    }];
    let mut c = needs();
    c.fit.problem_domains = vec![ProblemDomain::Depression, ProblemDomain::Anxiety];
    let r = rank(&[a.clone(), b], &c, 10);
    assert_eq!(ids(&r), vec!["b", "a"]);
    let reason = &r.options[1]
        .components
        .iter()
        .find(|x| x.name == "outcome_strength")
        .map(|x| x.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("ineffective in depression (40 cases)"), "{reason}");
    // Below 15 cases the rating does not count: then a ties with an unmeasured provider.
    a.profile.outcome_strengths[0].cases = 14;
    let unmeasured = provider("b");
    let mut unmeasured = unmeasured;
    unmeasured.profile.specialties = vec![ProblemDomain::Depression];
    let r = rank(&[a, unmeasured], &c, 10);
    assert!((r.options[0].score - r.options[1].score).abs() < 1e-12);
}

#[test]
fn history_counts_against_providers_offering_only_tried_modalities() {
    let a = provider("a"); // CBT only
    let mut b = provider("b");
    b.profile.modalities = vec![Modality::Cbt, Modality::Act];
    let mut c = needs();
    c.fit.modalities_tried = vec![Modality::Cbt];
    let r = rank(&[a, b], &c, 10);
    assert_eq!(ids(&r), vec!["b", "a"]);
    let h = r.options[1].components.iter().find(|x| x.name == "history_fit").map(|x| x.value);
    assert_eq!(h, Some(0.0));
}

#[test]
fn alliance_learning_prefers_well_rated_providers_but_shrinks_few_ratings() {
    let mut a = provider("a");
    let mut b = provider("b");
    for _ in 0..30 {
        a.alliance = a.alliance.with(39.0, None);
        b.alliance = b.alliance.with(31.0, None);
    }
    let r = rank(&[b.clone(), a], &needs(), 10);
    assert_eq!(ids(&r), vec!["a", "b"]);
    // One poor rating barely moves a provider (shrunk toward the prior of 36).
    let mut one = provider("c");
    one.alliance = one.alliance.with(20.0, None);
    let r = rank(&[one], &needs(), 1);
    let v = r.options[0]
        .components
        .iter()
        .find(|x| x.name == "alliance_learning")
        .map(|x| x.value)
        .unwrap_or(0.0);
    assert!(v > 0.3, "{v}");
}

#[test]
fn exclusion_counts_and_explicit_exclusions() {
    let mut ps = vec![provider("a"), provider("b"), provider("c"), provider("d")];
    ps[1].profile.languages = vec!["es".into()];
    ps[2].profile.payment_options = vec![PaymentOption::CommercialInsurance];
    let mut c = needs();
    c.fit.excluded_provider_ids = vec!["d".into()];
    let r = rank(&ps, &c, 10);
    assert_eq!(ids(&r), vec!["a"]);
    let get = |n: &str| r.exclusions.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
    assert_eq!(get("language"), Some(1));
    assert_eq!(get("payment_option"), Some(1));
    assert_eq!(get("client_exclusions"), Some(1));
    assert_eq!(r.exclusions.iter().map(|(_, n)| n).sum::<i32>(), 3);
}

#[test]
fn payment_is_what_the_client_can_use() {
    // Issue 13.4: a free service takes everyone; a sliding scale takes self-pay; insurance stays exact.
    let mut ps =
        vec![provider("free"), provider("sliding"), provider("insured"), provider("public")];
    ps[0].profile.payment_options = vec![PaymentOption::Free];
    ps[1].profile.payment_options = vec![PaymentOption::SlidingScale];
    ps[2].profile.payment_options = vec![PaymentOption::CommercialInsurance];
    ps[3].profile.payment_options = vec![PaymentOption::PublicInsurance];
    let offered = |pay: PaymentOption| {
        let mut c = needs();
        c.payment_option = pay;
        let r = rank(&ps, &c, 10);
        let mut got: Vec<String> = ids(&r).into_iter().map(str::to_owned).collect();
        got.sort_unstable();
        got
    };
    assert_eq!(offered(PaymentOption::SelfPay), vec!["free", "sliding"]);
    assert_eq!(offered(PaymentOption::SlidingScale), vec!["free", "sliding"]);
    assert_eq!(offered(PaymentOption::Free), vec!["free"]);
    assert_eq!(offered(PaymentOption::CommercialInsurance), vec!["free", "insured"]);
    assert_eq!(offered(PaymentOption::PublicInsurance), vec!["free", "public"]);
}

#[test]
fn cohorts_give_an_expected_wait() {
    let now = Utc::now().timestamp_millis();
    let mut soon = provider("soon");
    soon.kind = ProviderKind::Iop;
    soon.profile.cohorts = vec![Cohort {
        code: "c1".into(),
        start_ms: now + 7 * 86_400_000,
        seats: 10,
        open_seats: 2,
    }];
    let mut late = soon.clone();
    late.id = "late".into();
    late.profile.cohorts[0].start_ms = now + 35 * 86_400_000;
    let r = rank_with(&[late, soon], &needs(), &Weights::default(), 10, now);
    assert_eq!(ids(&r), vec!["soon", "late"]);
    let reason = r.options[0]
        .components
        .iter()
        .find(|x| x.name == "expected_wait")
        .map(|x| x.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("7 day"), "{reason}");
}

#[test]
fn a_programs_open_capacity_is_counted_at_query_time() {
    let now = Utc::now().timestamp_millis();
    let mut program = provider("program");
    program.kind = ProviderKind::Iop;
    // Written when the cohort could still be joined: 3 open seats then.
    program.profile.cohorts = vec![Cohort {
        code: "c1".into(),
        start_ms: now - 6 * 86_400_000,
        seats: 10,
        open_seats: 3,
    }];
    program.open_slots = 3;
    let d = Directory::build([program], &Weights::default());
    let today = d.rank(&needs(), &Weights::default(), 10, now);
    assert_eq!(today.options[0].provider.open_slots, 3);
    // Two days later, with no write in between, the cohort started 8 days ago: nothing can be joined.
    let later = d.rank(&needs(), &Weights::default(), 10, now + 2 * 86_400_000);
    assert_eq!(
        later.options[0].provider.open_slots, 0,
        "the snapshot's count no longer offers the seats"
    );
}

#[test]
fn weights_load_from_json_and_are_checked() {
    let text = serde_json::to_string(&Weights::default()).unwrap_or_default();
    assert_eq!(Weights::from_json(&text).ok(), Some(Weights::default()));
    let bad = text.replace("\"clinical_fit\":0.2", "\"clinical_fit\":-1.0");
    assert!(Weights::from_json(&bad).is_err());
    assert!(Weights::from_json("{\"version\":\"x\"}").is_err());
}

#[test]
fn patches_replace_and_never_go_back() {
    let w = Weights::default();
    let d = Directory::build([provider("a")], &w);
    let mut newer = provider("a");
    newer.version = 2;
    newer.open_slots = 0;
    let d2 = d.patched([newer], &w);
    assert_eq!(d2.len(), 1);
    assert_eq!(d2.get("a").map(|p| p.open_slots), Some(0));
    assert_eq!(d.get("a").map(|p| p.open_slots), Some(1));
}

fn arb_provider() -> impl Strategy<Value = Provider> {
    (
        (any::<bool>(), 0usize..3, 0usize..2, 0usize..3, 0usize..2, 0usize..2),
        (any::<bool>(), 0usize..3, 0usize..4, 0usize..3, 0u8..3, 0usize..6),
    )
        .prop_map(
            |((accepting, level, age, jur, lang, pay), (crisis, fmt, mods, slots, style, id))| {
                let mut p = provider(&format!("p{id}"));
                p.accepting_new_clients = accepting;
                p.profile.levels_of_care = vec![
                    [
                        LevelOfCare::Outpatient,
                        LevelOfCare::IntensiveOutpatient,
                        LevelOfCare::Crisis,
                    ][level],
                ];
                p.profile.age_groups = vec![[AgeGroup::Adult, AgeGroup::Adolescent][age]];
                p.profile.jurisdictions = vec![["US-CA", "US", "US-NY"][jur].into()];
                p.profile.languages = vec![["en", "es-MX"][lang].into()];
                p.profile.payment_options =
                    vec![[PaymentOption::SelfPay, PaymentOption::PublicInsurance][pay]];
                p.profile.crisis_capable = crisis;
                p.profile.formats =
                    vec![[CareFormat::Video, CareFormat::InPerson, CareFormat::Phone][fmt]];
                p.profile.modalities = [
                    vec![],
                    vec![Modality::Cbt],
                    vec![Modality::Emdr, Modality::Cbt],
                    vec![Modality::Act],
                ][mods]
                    .clone();
                p.open_slots = i32::try_from(slots).unwrap_or(0);
                let x = i8::try_from(style).unwrap_or(0) - 1;
                p.profile.relational_style = RelationalStyle {
                    directiveness: x,
                    emotional_intensity: -x,
                    past_orientation: 0,
                    challenge: x,
                };
                p
            },
        )
}

fn arb_needs() -> impl Strategy<Value = ClientNeeds> {
    (
        0usize..3,
        0usize..2,
        0usize..3,
        0usize..2,
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        0usize..3,
        0usize..6,
    )
        .prop_map(|(level, jur, lang, pay, crisis, stab, fmt, avoid, excl)| {
            let mut c = needs();
            c.level_of_care =
                [LevelOfCare::Outpatient, LevelOfCare::IntensiveOutpatient, LevelOfCare::Crisis]
                    [level];
            c.jurisdiction = ["US-CA", "US-NY"][jur].into();
            c.language = ["en", "es", "fr"][lang].into();
            c.payment_option = [PaymentOption::SelfPay, PaymentOption::PublicInsurance][pay];
            c.needs_crisis_capable = crisis;
            c.phase = stab.then_some(CarePhase::Stabilisation);
            c.formats =
                [vec![], vec![CareFormat::Video], vec![CareFormat::InPerson, CareFormat::Phone]]
                    [fmt]
                    .clone();
            c.modalities_avoided =
                [vec![], vec![Modality::Cbt], vec![Modality::Act, Modality::Emdr]][avoid].clone();
            c.fit.excluded_provider_ids = vec![format!("p{excl}")];
            c.relational_style = RelationalStyle {
                directiveness: 1,
                emotional_intensity: 0,
                past_orientation: 0,
                challenge: -1,
            };
            c
        })
}

proptest! {
    /// The compiled constraints agree with the readable reference, the counts add up, and the options are
    /// the best-scoring eligible providers in order.
    #[test]
    fn compiled_ranking_matches_the_reference(ps in proptest::collection::vec(arb_provider(), 0..12), c in arb_needs(), k in 1usize..6) {
        // Distinct ids (the directory keeps the last of a repeated id).
        let mut seen = std::collections::HashSet::new();
        let ps: Vec<Provider> = ps.into_iter().rev().filter(|p| seen.insert(p.id.clone())).collect();
        let r = rank(&ps, &c, k);
        let mut expected_counts = std::collections::HashMap::new();
        let mut eligible = Vec::new();
        for p in &ps {
            match failed_constraint(p, &c) {
                Some(name) => *expected_counts.entry(name).or_insert(0) += 1,
                None => eligible.push(p.id.clone()),
            }
        }
        for (name, n) in &r.exclusions {
            prop_assert_eq!(*n, expected_counts.get(name).copied().unwrap_or(0), "constraint {}", name);
        }
        prop_assert_eq!(r.options.len(), eligible.len().min(k));
        for o in &r.options {
            prop_assert!(eligible.contains(&o.provider.id));
            let sum: f64 = o.components.iter().map(|x| x.weight * x.value).sum();
            prop_assert!((sum - o.score).abs() < 1e-9);
            prop_assert!(o.components.iter().all(|x| (0.0..=1.0).contains(&x.value)));
        }
        for pair in r.options.windows(2) {
            prop_assert!(pair[0].score > pair[1].score || (pair[0].score == pair[1].score && pair[0].provider.id < pair[1].provider.id));
        }
    }
}

proptest! {
    /// Equal scores go to the smaller provider id, as strings compare, whether the ids are canonical UUIDs
    /// (compared as numbers, `directory::id_order`) or of another form (compared as strings).
    #[test]
    fn ties_go_to_the_smaller_id_as_strings_compare(
        raw in proptest::collection::hash_set(any::<u128>(), 1..40),
        upper in proptest::collection::vec(any::<bool>(), 40),
        k in 1usize..8,
    ) {
        let all: Vec<String> = raw
            .iter()
            .zip(&upper)
            .map(|(x, up)| {
                let id = uuid::Uuid::from_u128(*x).hyphenated().to_string();
                if *up { id.to_ascii_uppercase() } else { id }
            })
            .collect();
        for id in &all {
            prop_assert_eq!(super::directory::id_order(id).is_some(), id.to_ascii_lowercase() == *id);
        }
        let ps: Vec<Provider> = all.iter().map(|id| provider(id)).collect();
        let mut expected: Vec<&str> = all.iter().map(String::as_str).collect();
        expected.sort_unstable();
        expected.truncate(k);
        let r = rank(&ps, &needs(), k);
        prop_assert_eq!(ids(&r), expected);
    }
}

/// What the hard constraints read of a provider fits one cache line, aligned to it (ranking scans it for
/// every provider of the directory).
#[test]
fn the_constraints_gate_is_one_cache_line() {
    assert_eq!(std::mem::size_of::<super::directory::Gate>(), 64);
    assert_eq!(std::mem::align_of::<super::directory::Gate>(), 64);
}

#[test]
fn many_jurisdictions_and_languages_spill_past_the_inline_bitmask() {
    // 300 distinct codes: ids past 128 live in the overflow slice and must match the same way.
    let ps: Vec<Provider> = (0..300)
        .map(|i| {
            let mut p = provider(&format!("p{i:03}"));
            p.profile.jurisdictions = vec![format!("X{}-{i}", (b'A' + (i % 26) as u8) as char)];
            p.profile.languages = vec![format!("l{i}")];
            p
        })
        .collect();
    for i in [5usize, 200, 299] {
        let mut c = needs();
        c.jurisdiction = ps[i].profile.jurisdictions[0].clone();
        c.language = ps[i].profile.languages[0].clone();
        let r = rank(&ps, &c, 10);
        assert_eq!(ids(&r), vec![ps[i].id.as_str()]);
        let get = |n: &str| r.exclusions.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert_eq!(get("jurisdiction"), Some(299));
    }
}

proptest! {
    /// A snapshot patched provider by provider ranks exactly like one built from the final directory.
    #[test]
    fn patched_snapshot_ranks_like_a_fresh_build(ps in proptest::collection::vec(arb_provider(), 1..10), c in arb_needs()) {
        let w = Weights::default();
        let mut d = Directory::build(ps.iter().take(1).cloned(), &w);
        let mut latest: std::collections::BTreeMap<String, Provider> = std::collections::BTreeMap::new();
        latest.insert(ps[0].id.clone(), ps[0].clone());
        for p in ps.iter().skip(1) {
            d = d.patched([p.clone()], &w);
            latest.insert(p.id.clone(), p.clone());
        }
        let fresh = Directory::build(latest.into_values(), &w);
        let now = Utc::now().timestamp_millis();
        let a = d.rank(&c, &w, 20, now);
        let b = fresh.rank(&c, &w, 20, now);
        prop_assert_eq!(ids(&a), ids(&b));
        prop_assert_eq!(a.exclusions, b.exclusions);
    }
}

#[test]
fn nearer_in_person_sites_score_higher_when_both_have_coordinates() {
    let mut near = provider("b-near");
    near.profile.formats = vec![CareFormat::InPerson];
    near.profile.location = Location { region: String::new(), coordinates: Some((37.77, -122.42)) };
    let mut far = near.clone();
    far.id = "a-far".into();
    far.profile.location.coordinates = Some((38.58, -121.49)); // about 120 km away
    let mut c = needs();
    c.formats = vec![CareFormat::InPerson];
    c.fit.location = Some((37.78, -122.41));
    let r = rank(&[far, near], &c, 10);
    assert_eq!(ids(&r), vec!["b-near", "a-far"]);
    let reason = r.options[0]
        .components
        .iter()
        .find(|x| x.name == "logistics")
        .map(|x| x.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("about 1 km away"), "{reason}");
    let (a, b) = ((37.77, -122.42), (38.58, -121.49));
    let exact = distance_km(a, b);
    assert!((exact - 121.0).abs() < 5.0);
    assert!((approx_distance_km(prepare_point(a), prepare_point(b)) - exact).abs() < 0.01 * exact);
    // Across the antimeridian.
    let (c, d) = ((0.0, 179.9), (0.0, -179.9));
    assert!(
        (approx_distance_km(prepare_point(c), prepare_point(d)) - distance_km(c, d)).abs() < 0.5
    );
}

#[test]
fn the_reviewable_weights_file_matches_the_built_in_defaults() {
    // `services/matching/fit-weights.json` is the reviewable copy of the defaults (point
    // CONTINUUM_MATCHING_WEIGHTS_FILE at an edited copy, with a new version, to change them).
    let text = include_str!("../../fit-weights.json");
    assert_eq!(Weights::from_json(text).ok(), Some(Weights::default()));
}
