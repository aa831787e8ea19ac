//! Re-banding, check-in bookkeeping, the risk rise and the crisis interlock.

use continuum_vocab::{RiskLevel, Urgency};

use super::*;

#[test]
fn the_crisis_interlock_refuses_high_and_imminent_risk() {
    assert!(crisis_interlock(None).is_ok());
    assert!(crisis_interlock(Some(RiskLevel::Moderate)).is_ok());
    for r in [RiskLevel::High, RiskLevel::Imminent] {
        match crisis_interlock(Some(r)) {
            Err(Error::FailedPrecondition { reason, .. }) => {
                assert_eq!(reason, ErrorReason::HighRiskNotWaitlisted)
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn reband_raises_but_never_lowers() {
    let phq = |total: i32| -> Vec<i32> {
        let mut v = vec![0; 9];
        let mut left = total;
        for x in v.iter_mut().take(8) {
            *x = left.min(3);
            left -= *x;
        }
        v
    };
    let gad = |total: i32| -> Vec<i32> {
        let mut v = vec![0; 7];
        let mut left = total;
        for x in &mut v {
            *x = left.min(3);
            left -= *x;
        }
        v
    };
    assert_eq!(reband(Band::Routine, Some(&phq(20)), None).band, Band::Urgent);
    assert_eq!(reband(Band::Routine, None, Some(&gad(15))).band, Band::Urgent);
    assert_eq!(reband(Band::Routine, Some(&phq(15)), None).band, Band::Soon);
    assert_eq!(reband(Band::Routine, Some(&phq(19)), Some(&gad(14))).band, Band::Soon);
    assert_eq!(reband(Band::Routine, None, Some(&gad(10))).band, Band::Soon);
    assert_eq!(reband(Band::Routine, Some(&phq(14)), Some(&gad(9))).band, Band::Routine);
    // Never lowered: an urgent entry with mild scores stays urgent, and soon stays soon.
    let calm = reband(Band::Urgent, Some(&phq(2)), Some(&gad(1)));
    assert_eq!(calm, Reband { band: Band::Urgent, rules: vec![] });
    assert_eq!(
        reband(Band::Soon, Some(&phq(16)), None),
        Reband { band: Band::Soon, rules: vec![] }
    );
    let r = reband(Band::Routine, Some(&phq(21)), Some(&gad(16)));
    assert_eq!(r.band, Band::Urgent);
    assert!(r.rules.contains(&"reband.phq9_severe"));
    // Item 9 > 0 expedites whatever the total.
    let mut item9 = vec![0; 9];
    item9[8] = 1;
    let r = reband(Band::Routine, Some(&item9), None);
    assert_eq!(r, Reband { band: Band::Urgent, rules: vec!["reband.phq9_item9"] });
}

#[test]
fn two_missed_check_ins_open_outreach_once_and_an_answer_resets() {
    let p = Policy::default();
    let mut e = entry("e", Band::Soon, 3, &["p"]);
    let first = check_in(&e, false, None, None, t0(), &p).unwrap();
    assert_eq!(
        (first.missed_check_ins, first.outreach_open, first.outreach_opened),
        (1, false, false)
    );
    e.missed_check_ins = first.missed_check_ins;
    let second = check_in(&e, false, None, None, t0(), &p).unwrap();
    assert_eq!(
        (second.missed_check_ins, second.outreach_open, second.outreach_opened),
        (2, true, true)
    );
    e.missed_check_ins = second.missed_check_ins;
    e.outreach_open = true;
    let third = check_in(&e, false, None, None, t0(), &p).unwrap();
    assert_eq!(
        (third.missed_check_ins, third.outreach_open, third.outreach_opened),
        (3, true, false)
    );
    let answered = check_in(&e, true, None, None, t0(), &p).unwrap();
    assert_eq!((answered.missed_check_ins, answered.outreach_open), (0, false));
    assert_eq!(answered.next_check_in_at, t0() + TimeDelta::days(14));
    e.status = EntryStatus::Placed;
    assert!(matches!(
        check_in(&e, true, None, None, t0(), &p),
        Err(Error::FailedPrecondition { reason: ErrorReason::EntryNotWaiting, .. })
    ));
}

#[test]
fn a_risk_rise_requires_the_interlock() {
    let p = Policy::default();
    let e = entry("e", Band::Routine, 3, &["p"]);
    let mut item9 = vec![0; 9];
    item9[8] = 1;
    assert!(check_in_with_risk(&e, true, Some(&item9), None, None, t0(), &p).unwrap().interlock);
    assert!(
        check_in_with_risk(&e, true, None, None, Some(RiskLevel::High), t0(), &p)
            .unwrap()
            .interlock
    );
    // Severe but without self-harm thoughts or a high-risk re-screen: expedited, still waiting.
    let severe = vec![3, 3, 3, 3, 3, 3, 3, 0, 0];
    let out =
        check_in_with_risk(&e, true, Some(&severe), None, Some(RiskLevel::Moderate), t0(), &p)
            .unwrap();
    assert!(!out.interlock);
    assert_eq!(out.band, Band::Urgent);
    assert!(!check_in(&e, false, None, None, t0(), &p).unwrap().interlock);
}

#[test]
fn intakes_rescreen_rebands_and_only_the_crisis_pathway_takes_the_entry_off() {
    let p = Policy::default();
    let e = entry("e", Band::Routine, 3, &["p"]);
    let rs = |risk, urgency| Rescreen {
        assessment_id: "a".into(),
        risk,
        urgency,
        risk_increased: false,
        rerouted: false,
    };
    let mut item9 = vec![0; 9];
    item9[8] = 1;
    // Moderate risk (item 9 without a C-SSRS): intake asks for urgent; the client keeps their place.
    let out = check_in_rescreened(
        &e,
        true,
        Some(&item9),
        None,
        None,
        Some(&rs(RiskLevel::Moderate, Urgency::Urgent)),
        t0(),
        &p,
    )
    .unwrap();
    assert!(!out.interlock);
    assert_eq!(out.band, Band::Urgent);
    // Intake's urgency alone raises the band (mild scores locally), under its own rule id.
    let out = check_in_rescreened(
        &e,
        true,
        Some(&[1, 1, 1, 1, 1, 1, 1, 1, 0][..]),
        None,
        None,
        Some(&rs(RiskLevel::None, Urgency::Soon)),
        t0(),
        &p,
    )
    .unwrap();
    assert_eq!((out.band, out.rules.clone()), (Band::Soon, vec!["reband.intake_urgency"]));
    // Never lowered by a calmer re-screen.
    let urgent = entry("u", Band::Urgent, 1, &["p"]);
    assert_eq!(
        check_in_rescreened(
            &urgent,
            true,
            None,
            None,
            None,
            Some(&rs(RiskLevel::None, Urgency::Routine)),
            t0(),
            &p
        )
        .unwrap()
        .band,
        Band::Urgent
    );
    // The crisis pathway (intake's high or imminent, or a given high risk) takes the entry off.
    for r in [RiskLevel::High, RiskLevel::Imminent] {
        assert!(
            check_in_rescreened(
                &e,
                true,
                None,
                None,
                None,
                Some(&rs(r, Urgency::Emergency)),
                t0(),
                &p
            )
            .unwrap()
            .interlock
        );
    }
    assert!(
        check_in_rescreened(
            &e,
            true,
            None,
            None,
            Some(RiskLevel::High),
            Some(&rs(RiskLevel::Low, Urgency::Routine)),
            t0(),
            &p
        )
        .unwrap()
        .interlock
    );
    // Without intake's answer the local rule errs to the interlock on item 9.
    assert!(
        check_in_rescreened(&e, true, Some(&item9), None, None, None, t0(), &p).unwrap().interlock
    );
    assert_eq!(band_for_urgency(Urgency::Emergency), Band::Urgent);
}
