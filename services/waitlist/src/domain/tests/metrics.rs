//! Wait estimates and the waiting-time metrics.

use super::*;

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
        left_at: None,
        bands: vec![(t0() - TimeDelta::days(waited_days), Band::Routine)],
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
    let m = wait_metrics(&entries, &checks, t0(), 0);
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

#[test]
fn the_length_series_follows_each_entry_through_its_bands_and_its_leaving() {
    let at = |days_ago: i64| t0() - TimeDelta::days(days_ago);
    let fact = |enqueued: i64, left: Option<i64>, bands: &[(i64, Band)]| WaitFacts {
        organization_id: "a".into(),
        enqueued_at: at(enqueued),
        status: if left.is_some() { EntryStatus::Placed } else { EntryStatus::Waiting },
        first_appointment_at: None,
        second_appointment_at: None,
        left_at: left.map(at),
        bands: bands.iter().map(|(d, b)| (at(*d), *b)).collect(),
    };
    let entries = [
        // Routine from 30 days ago, re-banded urgent 10 days ago, still waiting.
        fact(30, None, &[(30, Band::Routine), (10, Band::Urgent)]),
        // Soon from 20 days ago, placed 5 days ago.
        fact(20, Some(5), &[(20, Band::Soon)]),
        // Joined 2 days ago.
        fact(2, None, &[(2, Band::Routine)]),
        // Came and went before the series starts.
        fact(60, Some(40), &[(60, Band::Urgent)]),
    ];
    let refs: Vec<&WaitFacts> = entries.iter().collect();
    let series = length_by_band(&refs, t0(), 4);
    let counts: Vec<(i64, i32, i32, i32)> =
        series.iter().map(|p| ((t0() - p.at).num_days(), p.urgent, p.soon, p.routine)).collect();
    assert_eq!(
        counts,
        vec![
            (28, 0, 0, 1), // only the first entry, routine
            (21, 0, 0, 1), // the soon entry joins a day later
            (14, 0, 1, 1),
            (7, 1, 1, 0), // the first entry re-banded urgent
            (0, 1, 0, 1), // the soon entry placed; the new one routine
        ]
    );
    assert!(length_by_band(&refs, t0(), 0).is_empty(), "0 weeks: no series");
    assert_eq!(length_by_band(&refs, t0(), 1000).len(), MAX_LENGTH_WEEKS as usize + 1);
    // Metrics carry the series of each organization's own entries.
    let m = wait_metrics(&entries, &[], t0(), 4);
    assert_eq!(m[0].length_by_band, series);
}
