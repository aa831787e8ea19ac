//! Alliance learning by client segment in the ranking: ratings of similar clients count, thin segments are
//! shrunk toward the provider's overall rating, and a patched snapshot agrees with a fresh build.

use chrono::Utc;
use continuum_vocab::AgeGroup;

use super::directory::Directory;
use super::fit_tests::{ids, provider};
use super::tests::needs;
use super::*;

/// `n` ratings of `srs` from clients of `segment` (counted overall and under the segment's codes, as the
/// store does).
fn rated(mut p: Provider, segment: alliance::ClientSegment, srs: f64, n: usize) -> Provider {
    for _ in 0..n {
        p.alliance = p.alliance.with(srs, None);
        for code in segment.recorded_codes() {
            match p.alliance_segments.iter_mut().find(|(c, _)| *c == code) {
                Some((_, s)) => *s = s.with(srs),
                None => {
                    p.alliance_segments.push((code, alliance::SegmentStats::default().with(srs)))
                }
            }
        }
    }
    p.alliance_segments.sort_by(|a, b| a.0.cmp(&b.0));
    p
}

fn alliance_component(r: &Ranking, id: &str) -> Component {
    let found = r
        .options
        .iter()
        .find(|o| o.provider.id == id)
        .and_then(|o| o.components.iter().find(|x| x.name == "alliance_learning").cloned());
    assert!(found.is_some(), "no alliance component for {id}");
    found.unwrap_or(Component { name: "", weight: 0.0, value: 0.0, reason: String::new() })
}

#[test]
fn alliance_learning_uses_ratings_of_similar_clients() {
    use alliance::ClientSegment;
    let depressed_adult = ClientSegment::of(AgeGroup::Adult, &[ProblemDomain::Depression]);
    let anxious_adult = ClientSegment::of(AgeGroup::Adult, &[ProblemDomain::Anxiety]);
    // "a": depressed adults rate the alliance highly, anxious adults poorly; same count, so overall ~35.
    let a = rated(rated(provider("a"), depressed_adult, 39.0, 20), anxious_adult, 31.0, 20);
    // "b": no ratings (the prior, 36).
    let b = provider("b");
    let ps = [a, b];
    let mut depressed = needs();
    depressed.fit.problem_domains = vec![ProblemDomain::Depression];
    let mut anxious = needs();
    anxious.fit.problem_domains = vec![ProblemDomain::Anxiety];

    let r = rank(&ps, &depressed, 10);
    assert_eq!(ids(&r), vec!["a", "b"], "similar clients rated a highly");
    let c = alliance_component(&r, "a");
    assert!(
        c.reason.starts_with("clients with the same main concern (depression) and age group (adult) rated the alliance 39.0/40 over 20 session(s)"),
        "{}",
        c.reason
    );
    let for_similar = c.value;

    let r = rank(&ps, &anxious, 10);
    assert_eq!(ids(&r), vec!["b", "a"], "similar clients rated a poorly");
    let c = alliance_component(&r, "a");
    assert!(
        c.reason.contains(
            "(anxiety) and age group (adult) rated the alliance 31.0/40 over 20 session(s)"
        ),
        "{}",
        c.reason
    );
    assert!(for_similar > c.value + 0.5, "{for_similar} vs {}", c.value);

    // A client with another main concern has no segment ratings: the provider's overall estimate.
    let mut grieving = needs();
    grieving.fit.problem_domains = vec![ProblemDomain::Grief];
    let c = alliance_component(&rank(&ps, &grieving, 10), "a");
    assert!(
        c.reason.starts_with("no ratings yet from clients with the same main concern (grief)"),
        "{}",
        c.reason
    );
    let overall = fit::alliance_value(ps[0].alliance.shrunk_srs(36.0, 5.0));
    assert!((c.value - overall).abs() < 1e-12);

    // Without a main concern the age group alone is the segment (all 40 ratings here).
    let c = alliance_component(&rank(&ps, &needs(), 10), "a");
    assert!(
        c.reason.starts_with(
            "clients in the same age group (adult) rated the alliance 35.0/40 over 40 session(s)"
        ),
        "{}",
        c.reason
    );
    // "b" has no ratings at all: the prior.
    let c = alliance_component(&rank(&ps, &depressed, 10), "b");
    assert_eq!(c.reason, "no session ratings yet; prior SRS 36");
}

#[test]
fn a_thin_segment_is_shrunk_toward_the_provider_and_does_not_dominate() {
    use alliance::ClientSegment;
    let older = ClientSegment::of(AgeGroup::OlderAdult, &[ProblemDomain::Depression]);
    let adult = ClientSegment::of(AgeGroup::Adult, &[ProblemDomain::Depression]);
    // Many poor ratings from adults, one perfect one from an older adult.
    let mut p = rated(rated(provider("a"), adult, 30.0, 40), older, 40.0, 1);
    p.profile.age_groups = vec![AgeGroup::Adult, AgeGroup::OlderAdult];
    let mut c = needs();
    c.age_group = AgeGroup::OlderAdult;
    c.fit.problem_domains = vec![ProblemDomain::Depression];
    let comp = alliance_component(&rank(&[p.clone()], &c, 1), "a");
    let overall = p.alliance.shrunk_srs(36.0, 5.0);
    let expected = fit::alliance_value((40.0 + 5.0 * overall) / 6.0);
    assert!((comp.value - expected).abs() < 1e-12, "{} vs {expected}", comp.value);
    assert!(comp.value < 0.3, "one rating must not dominate: {}", comp.value);
    assert!(comp.reason.contains("over 1 session(s)"), "{}", comp.reason);
}

#[test]
fn segment_lookup_agrees_with_a_fresh_build_after_a_patch() {
    use alliance::ClientSegment;
    let seg = ClientSegment::of(AgeGroup::Adult, &[ProblemDomain::Depression]);
    let w = Weights::default();
    let d = Directory::build([provider("a"), provider("b")], &w);
    let patched = d.patched([rated(provider("a"), seg, 40.0, 10)], &w);
    let fresh = Directory::build([rated(provider("a"), seg, 40.0, 10), provider("b")], &w);
    let mut c = needs();
    c.fit.problem_domains = vec![ProblemDomain::Depression];
    let now = Utc::now().timestamp_millis();
    let summary = |r: Ranking| -> Vec<(String, f64, Vec<Component>)> {
        r.options.into_iter().map(|o| (o.provider.id, o.score, o.components)).collect()
    };
    assert_eq!(summary(patched.rank(&c, &w, 10, now)), summary(fresh.rank(&c, &w, 10, now)));
    assert_eq!(ids(&patched.rank(&c, &w, 10, now)), vec!["a", "b"]);
}
