//! Wait estimates and the waiting-time metrics.

use super::*;

#[test]
fn position_counts_only_entries_ahead_sharing_a_provider() {
    let l = BandLimits::default();
    let all = prioritize(
        vec![
            entry("a", Band::Routine, 40, &["p1"]),
            entry("b", Band::Routine, 30, &["p2"]),
            entry("c", Band::Routine, 20, &["p1", "p2"]),
            entry("me", Band::Routine, 10, &["p1"]),
            entry("d", Band::Routine, 5, &["p1"]),
        ],
        t0(),
        &l,
    );
    let me = all.iter().find(|e| name_of(e.id.as_str()) == "me").unwrap().clone();
    assert_eq!(position(&me, &all), 2);
}

#[test]
fn estimate_follows_the_documented_rule() {
    // 45 placements in 90 days = 0.5 a day; 3 ahead: low = floor(3 / 0.75) = 4, high = ceil(4 / 0.25) = 16.
    let e = estimate(3, 45, 10);
    assert_eq!((e.position, e.low_days, e.high_days), (3, 4, 16));
    let none = estimate(2, 0, 11);
    assert_eq!((none.low_days, none.high_days), (0, 11));
    assert!(none.basis.contains("no placements"));
    let first = estimate(0, 90, 5);
    assert_eq!((first.low_days, first.high_days), (0, 2));
}

#[test]
fn days_left_rounds_up_and_stops_at_zero() {
    let l = BandLimits::default();
    let mut e = entry("e", Band::Urgent, 0, &["p"]);
    e.enqueued_at = t0() - TimeDelta::hours(36);
    assert_eq!(days_left_in_band(&e, t0(), &l), 6);
    e.enqueued_at = t0() - TimeDelta::days(9);
    assert_eq!(days_left_in_band(&e, t0(), &l), 0);
}

#[test]
fn metrics_tell_the_truth_about_waiting() {
    let fact = |org: &str, waited_days: i64, status, first_after: Option<i64>| WaitFacts {
        organization_id: org.into(),
        enqueued_at: t0() - TimeDelta::days(waited_days),
        status,
        first_appointment_at: first_after
            .map(|d| t0() - TimeDelta::days(waited_days) + TimeDelta::days(d)),
        second_appointment_at: None,
    };
    let entries = vec![
        fact("a", 100, EntryStatus::Placed, Some(20)),
        fact("a", 100, EntryStatus::Placed, Some(50)),
        fact("a", 200, EntryStatus::Placed, Some(130)),
        // Waiting 60 days: already past 6 weeks, not yet past 18.
        fact("a", 60, EntryStatus::Waiting, None),
        fact("a", 10, EntryStatus::Offered, None),
        fact("a", 10, EntryStatus::Removed, None),
        fact("b", 5, EntryStatus::Waiting, None),
    ];
    let checks = vec![
        CheckInFacts { organization_id: "a".into(), deteriorated: true, crisis: false },
        CheckInFacts { organization_id: "a".into(), deteriorated: true, crisis: true },
        CheckInFacts { organization_id: "b".into(), deteriorated: false, crisis: false },
    ];
    let m = wait_metrics(&entries, &checks, t0());
    assert_eq!(m.len(), 2);
    let a = &m[0];
    assert_eq!((a.organization_id.as_str(), a.placed, a.waiting), ("a", 3, 2));
    // 6 weeks: 1 of (3 placed + 1 waiting past 42 days); 18 weeks: 2 of 3 placed.
    assert!((a.within_6_weeks - 0.25).abs() < 1e-9);
    assert!((a.within_18_weeks - 2.0 / 3.0).abs() < 1e-9);
    assert!((a.median_days_to_first - 50.0).abs() < 1e-9);
    assert_eq!((a.second_recorded, a.median_days_to_second), (0, 0.0));
    assert_eq!((a.deterioration_events, a.crisis_events), (2, 1));
    let b = &m[1];
    assert_eq!((b.placed, b.waiting, b.within_6_weeks, b.median_days_to_first), (0, 1, 0.0, 0.0));
    assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), 2.5);
}
