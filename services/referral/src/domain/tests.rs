//! The referral rules, checked against a second hand-written table and the CLINICAL.md deadlines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::TimeZone;

const ROLES: [ActorRole; 4] =
    [ActorRole::Referrer, ActorRole::Recipient, ActorRole::Coordinator, ActorRole::System];

/// The whole table, written out once more by hand: (action, from, to before care, allowed sides).
fn expected(action: Action, from: Status, care_started: bool) -> Option<Status> {
    use Action as A;
    use Status as S;
    let allowed: &[(A, &[S], S)] = &[
        (A::Send, &[S::Draft], S::Requested),
        (A::Cancel, &[S::Draft, S::Requested, S::Accepted, S::OnHold], S::Cancelled),
        (A::MarkReceived, &[S::Requested], S::Requested),
        (A::Accept, &[S::Requested], S::Accepted),
        (A::Reject, &[S::Requested], S::Rejected),
        (A::Schedule, &[S::Accepted], S::Accepted),
        (A::RecordNoShow, &[S::Accepted], S::Accepted),
        (A::CancelAppointment, &[S::Accepted], S::Accepted),
        (A::RecordFirstAppointmentAttended, &[S::Accepted], S::InProgress),
        (A::RecordSecondAppointmentAttended, &[S::InProgress], S::InProgress),
        (A::Complete, &[S::InProgress], S::Completed),
        (A::Fail, &[S::Accepted, S::InProgress], S::Failed),
        (A::Hold, &[S::Accepted, S::InProgress], S::OnHold),
        (A::Resume, &[S::OnHold], S::Accepted),
        (
            A::EnterInError,
            &[S::Draft, S::Requested, S::Accepted, S::InProgress, S::OnHold],
            S::EnteredInError,
        ),
    ];
    allowed
        .iter()
        .find(|(a, froms, _)| *a == action && froms.contains(&from))
        .map(|(_, _, to)| if action == A::Resume && care_started { S::InProgress } else { *to })
}

#[test]
fn every_status_action_pair_matches_the_table() {
    let mut allowed = 0;
    for &status in Status::ALL {
        for &action in Action::ALL {
            for care in [false, true] {
                assert_eq!(
                    target(status, action, care),
                    expected(action, status, care),
                    "{status} x {action} (care {care})"
                );
                if care {
                    continue;
                }
                if target(status, action, care).is_some() {
                    allowed += 1;
                }
            }
        }
    }
    assert_eq!(allowed, 24, "number of allowed (status, action) pairs");
}

#[test]
fn the_packet_is_shared_only_while_the_referral_is_open_or_care_went_ahead() {
    let shared: Vec<Status> = Status::ALL.iter().copied().filter(|s| s.shares_packet()).collect();
    assert_eq!(
        shared,
        vec![
            Status::Requested,
            Status::Accepted,
            Status::InProgress,
            Status::OnHold,
            Status::Completed
        ]
    );
    // Every end without care, and a draft never sent, share nothing.
    for s in
        [Status::Draft, Status::Rejected, Status::Cancelled, Status::Failed, Status::EnteredInError]
    {
        assert!(!s.shares_packet(), "{s}");
    }
}

#[test]
fn terminal_statuses_allow_nothing() {
    for &status in Status::ALL.iter().filter(|s| s.is_terminal()) {
        for &action in Action::ALL {
            for &role in &ROLES {
                assert_eq!(
                    decide(status, false, action, role),
                    Err(Refusal::TransitionNotAllowed { status, action }),
                    "{status} x {action}"
                );
            }
        }
    }
}

#[test]
fn roles_follow_the_sides() {
    for &action in Action::ALL {
        let (referrer, recipient) = match action.side() {
            Side::Referrer => (true, false),
            Side::Recipient => (false, true),
            Side::Either => (true, true),
            Side::System => {
                // System events are recorded by Continuum, never requested by anyone.
                for role in ROLES {
                    assert!(!role_may(role, action), "{role} x {action}");
                }
                continue;
            }
        };
        assert_eq!(role_may(ActorRole::Referrer, action), referrer, "{action}");
        assert_eq!(role_may(ActorRole::Recipient, action), recipient, "{action}");
        assert!(role_may(ActorRole::Coordinator, action), "{action}");
        assert!(!role_may(ActorRole::System, action), "{action}");
    }
    assert_eq!(Action::Send.side(), Side::Referrer);
    assert_eq!(Action::Cancel.side(), Side::Referrer);
    assert_eq!(Action::Accept.side(), Side::Recipient);
    assert_eq!(Action::Reject.side(), Side::Recipient);
    assert_eq!(Action::Complete.side(), Side::Recipient);
    assert_eq!(Action::Hold.side(), Side::Either);
    assert_eq!(Action::EnterInError.side(), Side::Either);
}

#[test]
fn decide_checks_status_then_role() {
    assert_eq!(
        decide(Status::Requested, false, Action::Accept, ActorRole::Referrer),
        Err(Refusal::ActorNotAllowed { role: ActorRole::Referrer, action: Action::Accept })
    );
    assert_eq!(
        decide(Status::Accepted, false, Action::Accept, ActorRole::Referrer),
        Err(Refusal::TransitionNotAllowed { status: Status::Accepted, action: Action::Accept })
    );
    assert_eq!(
        decide(Status::Requested, false, Action::Cancel, ActorRole::Recipient),
        Err(Refusal::ActorNotAllowed { role: ActorRole::Recipient, action: Action::Cancel })
    );
    let d = decide(Status::Requested, false, Action::Accept, ActorRole::Coordinator).unwrap();
    assert_eq!(d, Decision { to: Status::Accepted, starts_care: false, releases_slot: false });
    let d = decide(
        Status::Accepted,
        false,
        Action::RecordFirstAppointmentAttended,
        ActorRole::Recipient,
    )
    .unwrap();
    assert_eq!(d, Decision { to: Status::InProgress, starts_care: true, releases_slot: false });
}

#[test]
fn slot_goes_back_only_when_ending_before_care() {
    let r = |status, care, action, role| decide(status, care, action, role).unwrap().releases_slot;
    assert!(r(Status::Requested, false, Action::Reject, ActorRole::Recipient));
    assert!(r(Status::Requested, false, Action::Cancel, ActorRole::Referrer));
    assert!(r(Status::Accepted, false, Action::Cancel, ActorRole::Referrer));
    assert!(r(Status::OnHold, false, Action::Cancel, ActorRole::Referrer));
    assert!(r(Status::Requested, false, Action::EnterInError, ActorRole::Coordinator));
    assert!(r(Status::Accepted, false, Action::Fail, ActorRole::Recipient));
    assert!(!r(Status::InProgress, true, Action::Fail, ActorRole::Recipient));
    assert!(!r(Status::InProgress, true, Action::Complete, ActorRole::Recipient));
    assert!(!r(Status::InProgress, true, Action::EnterInError, ActorRole::Referrer));
    assert!(!r(Status::OnHold, true, Action::Cancel, ActorRole::Referrer));
    assert!(!r(Status::Requested, false, Action::Accept, ActorRole::Recipient));
    assert!(!r(Status::Accepted, false, Action::Hold, ActorRole::Recipient));
}

#[test]
fn resume_returns_to_where_the_hold_started() {
    assert_eq!(target(Status::OnHold, Action::Resume, false), Some(Status::Accepted));
    assert_eq!(target(Status::OnHold, Action::Resume, true), Some(Status::InProgress));
}

#[test]
fn actors_must_speak_for_their_side() {
    let (a, b, c) = ("org-a", "org-b", "org-c");
    assert!(actor_belongs(ActorRole::Referrer, a, a, b));
    assert!(!actor_belongs(ActorRole::Referrer, b, a, b));
    assert!(actor_belongs(ActorRole::Recipient, b, a, b));
    assert!(!actor_belongs(ActorRole::Recipient, a, a, b));
    assert!(actor_belongs(ActorRole::Coordinator, a, a, b));
    assert!(actor_belongs(ActorRole::Coordinator, b, a, b));
    assert!(!actor_belongs(ActorRole::Coordinator, c, a, b));
    assert!(!actor_belongs(ActorRole::System, a, a, b));
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

#[test]
fn business_days_skip_weekends() {
    // 2026-01-05 is a Monday.
    assert_eq!(add_business_days(at(2026, 1, 5, 9), 1), at(2026, 1, 6, 9));
    assert_eq!(add_business_days(at(2026, 1, 5, 9), 2), at(2026, 1, 7, 9));
    // Thursday + 2 = Monday; Friday + 1 = Monday; Friday + 2 = Tuesday.
    assert_eq!(add_business_days(at(2026, 1, 8, 9), 2), at(2026, 1, 12, 9));
    assert_eq!(add_business_days(at(2026, 1, 9, 17), 1), at(2026, 1, 12, 17));
    assert_eq!(add_business_days(at(2026, 1, 9, 17), 2), at(2026, 1, 13, 17));
    // Saturday and Sunday count from Monday.
    assert_eq!(add_business_days(at(2026, 1, 10, 12), 1), at(2026, 1, 12, 12));
    assert_eq!(add_business_days(at(2026, 1, 11, 12), 2), at(2026, 1, 13, 12));
    assert_eq!(add_business_days(at(2026, 1, 11, 12), 0), at(2026, 1, 11, 12));
    // Never panics at the end of time.
    let _ = add_business_days(DateTime::<Utc>::MAX_UTC, 2);
}

#[test]
fn response_deadlines_by_urgency() {
    let friday = at(2026, 1, 9, 15);
    assert_eq!(response_due_at(Urgency::Emergency, friday), at(2026, 1, 9, 19));
    assert_eq!(response_due_at(Urgency::Urgent, friday), at(2026, 1, 12, 15));
    assert_eq!(response_due_at(Urgency::Soon, friday), at(2026, 1, 13, 15));
    assert_eq!(response_due_at(Urgency::Routine, friday), at(2026, 1, 13, 15));
    assert_eq!(
        response_due_at(Urgency::Emergency, DateTime::<Utc>::MAX_UTC),
        DateTime::<Utc>::MAX_UTC
    );
}

#[test]
fn overdue_means_unanswered_past_the_deadline() {
    let due = at(2026, 1, 9, 15);
    assert!(is_overdue(Status::Requested, due, at(2026, 1, 9, 16)));
    assert!(!is_overdue(Status::Requested, due, at(2026, 1, 9, 14)));
    assert!(!is_overdue(Status::Accepted, due, at(2026, 1, 9, 16)));
}

#[test]
fn codes_round_trip_and_kinds_are_stable() {
    for s in Status::ALL {
        assert_eq!(Status::from_code(s.code()), Some(*s));
    }
    for a in Action::ALL {
        assert_eq!(Action::from_code(a.code()), Some(*a));
        assert!(a.event_kind().starts_with("referral."));
    }
    for r in ActorRole::ALL {
        assert_eq!(ActorRole::from_code(r.code()), Some(*r));
    }
    for r in RejectionReason::ALL {
        assert_eq!(RejectionReason::from_code(r.code()), Some(*r));
    }
    assert_eq!(
        Action::RecordFirstAppointmentAttended.event_kind(),
        "referral.first_appointment_attended"
    );
    assert_eq!(Action::Accept.event_kind(), "referral.accepted");
    assert_eq!(Status::from_code("nope"), None);
}

#[test]
fn hold_keys() {
    assert_eq!(take_hold_key("k-1"), "referral:k-1");
    assert_eq!(take_hold_key(&scoped_key("org-a", "k-1")), "referral:org-a:k-1");
    assert_ne!(
        take_hold_key(&scoped_key("org-a", "k-1")),
        take_hold_key(&scoped_key("org-b", "k-1"))
    );
    assert_eq!(release_hold_key("r-1"), "referral-release:r-1");
    assert_eq!(initial_status(true), Status::Accepted);
    assert_eq!(initial_status(false), Status::Requested);
}

#[test]
fn deadlines_escalate_then_expire() {
    let created = at(2026, 1, 5, 9); // Monday
    let due = response_due_at(Urgency::Routine, created); // Wednesday 09:00
    let step =
        |status, escalated, now| deadline_step(status, Urgency::Routine, due, escalated, now);
    assert_eq!(step(Status::Requested, None, at(2026, 1, 7, 8)), None);
    assert_eq!(step(Status::Requested, None, at(2026, 1, 7, 10)), Some(DeadlineStep::Escalate));
    assert_eq!(step(Status::Accepted, None, at(2026, 1, 7, 10)), None);
    let escalated = Some(at(2026, 1, 7, 10));
    // The second window is two more business days from the escalation: Friday 10:00.
    assert_eq!(second_deadline(Urgency::Routine, at(2026, 1, 7, 10)), at(2026, 1, 9, 10));
    assert_eq!(step(Status::Requested, escalated, at(2026, 1, 9, 9)), None);
    assert_eq!(step(Status::Requested, escalated, at(2026, 1, 9, 11)), Some(DeadlineStep::Expire));
    assert_eq!(step(Status::Rejected, escalated, at(2026, 1, 9, 11)), None);
    // Crisis referrals escalate within hours.
    let crisis_due = response_due_at(Urgency::Emergency, created);
    assert_eq!(
        deadline_step(Status::Requested, Urgency::Emergency, crisis_due, None, at(2026, 1, 5, 14)),
        Some(DeadlineStep::Escalate)
    );
}

#[test]
fn a_fixed_response_window_replaces_both_deadlines() {
    let created = at(2026, 1, 9, 17); // Friday: the business-day rule would jump the weekend
    let window = Some(chrono::TimeDelta::seconds(45));
    let due = response_due_within(Urgency::Routine, created, window);
    assert_eq!(due, created + chrono::TimeDelta::seconds(45));
    assert_eq!(response_due_within(Urgency::Routine, created, None), at(2026, 1, 13, 17));
    let step = |escalated, now| {
        deadline_step_within(Status::Requested, Urgency::Routine, due, escalated, now, window)
    };
    assert_eq!(step(None, created + chrono::TimeDelta::seconds(44)), None);
    assert_eq!(step(None, created + chrono::TimeDelta::seconds(46)), Some(DeadlineStep::Escalate));
    let escalated = created + chrono::TimeDelta::seconds(50);
    assert_eq!(step(Some(escalated), escalated + chrono::TimeDelta::seconds(40)), None);
    assert_eq!(
        step(Some(escalated), escalated + chrono::TimeDelta::seconds(46)),
        Some(DeadlineStep::Expire)
    );
}

#[test]
fn reroutes_go_to_the_next_alternatives_in_order() {
    let alts: Vec<String> = ["a", "b", "a", "c"].iter().map(|s| (*s).to_owned()).collect();
    assert!(reroutes(Action::Reject, &alts));
    assert!(reroutes(Action::Expire, &alts));
    assert!(!reroutes(Action::Cancel, &alts));
    assert!(!reroutes::<String>(Action::Reject, &[]));
    let c = reroute_candidates(&alts, "b");
    assert_eq!(c, vec!["a".to_owned(), "c".to_owned()]);
    assert_eq!(remaining_after(&c, "a"), vec!["c".to_owned()]);
    assert_eq!(reroute_key("r-1"), "reroute:r-1");
    assert_eq!(reroute_hold_key("r-1", "p"), "referral:reroute:r-1:p");
}

#[test]
fn a_first_open_referral_keeps_the_other_named_providers_as_alternatives() {
    let id =
        |n: u8| ProviderId::parse(&format!("0190a1b2-c3d4-7e5f-8a9b-0000000000{n:02}")).unwrap();
    let new = NewReferral {
        idempotency_key: "k".into(),
        client_id: ClientId::parse("0190a1b2-c3d4-7e5f-8a9b-0000000000c1").unwrap(),
        intake_id: IntakeId::parse("0190a1b2-c3d4-7e5f-8a9b-0000000000d1").unwrap(),
        referrer_organization_id: OrganizationId::parse("0190a1b2-c3d4-7e5f-8a9b-0000000000a1")
            .unwrap(),
        provider_id: id(1),
        urgency: Urgency::Routine,
        allow_overbook: false,
        scheduled_at: None,
        alternative_provider_ids: vec![id(2), id(3), id(4)],
        first_open_alternative: true,
    };
    // The named provider had the slot: nothing moves.
    let same = new.clone().sent_to(id(1));
    assert_eq!(
        (same.provider_id, same.alternative_provider_ids),
        (id(1), vec![id(2), id(3), id(4)])
    );
    // An alternative had it: the others stay, in their order, the named one first.
    let moved = new.sent_to(id(3));
    assert_eq!(
        (moved.provider_id, moved.alternative_provider_ids),
        (id(3), vec![id(1), id(2), id(4)])
    );
}
