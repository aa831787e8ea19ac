//! Check-ins with waiting clients: re-banding from re-screens, missed check-ins opening outreach, and
//! validation of the screener answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_errors::{bad_fields_of, reason_of};
use continuum_proto::waitlist::v1 as pb;
use continuum_vocab::time;
use tonic::Code;

use crate::helpers::*;

/// PHQ-9 answers adding up to `total` with item 9 (self-harm thoughts) at 0.
fn phq9(total: i32) -> Vec<i32> {
    let mut left = total;
    (0..9)
        .map(|i| {
            if i == 8 {
                return 0;
            }
            let x = left.min(3);
            left -= x;
            x
        })
        .collect()
}

/// GAD-7 answers adding up to `total`.
fn gad7(total: i32) -> Vec<i32> {
    let mut left = total;
    (0..7)
        .map(|_| {
            let x = left.min(3);
            left -= x;
            x
        })
        .collect()
}

fn answered(
    entry_id: &str,
    phq9_items: Vec<i32>,
    gad7_items: Vec<i32>,
) -> pb::RecordCheckInRequest {
    pb::RecordCheckInRequest {
        entry_id: entry_id.to_owned(),
        answered: true,
        phq9_items,
        gad7_items,
        risk_level: 0,
        ..Default::default()
    }
}

#[tokio::test]
async fn answered_check_ins_reband_up_but_never_down() {
    let mut app = spawn_app().await;
    let e = app.enqueue(pb::Band::Routine, &[&id()]).await;
    app.advance(TimeDelta::days(14));

    // PHQ-9 16 (moderately severe): at least soon.
    let r =
        app.client.record_check_in(answered(&e.id, phq9(16), gad7(4))).await.unwrap().into_inner();
    let entry = r.entry.unwrap();
    assert_eq!(entry.band, pb::Band::Soon as i32);
    assert!(!r.outreach_opened);
    assert_eq!(entry.next_check_in_at, Some(time::to_proto(app.clock_now() + TimeDelta::days(14))));

    // GAD-7 16 (severe): urgent.
    let r =
        app.client.record_check_in(answered(&e.id, vec![], gad7(16))).await.unwrap().into_inner();
    assert_eq!(r.entry.unwrap().band, pb::Band::Urgent as i32);

    // Better scores never lower the band automatically.
    let r =
        app.client.record_check_in(answered(&e.id, phq9(2), gad7(1))).await.unwrap().into_inner();
    assert_eq!(r.entry.unwrap().band, pb::Band::Urgent as i32);

    // PHQ-9 >= 20 on another routine entry: straight to urgent. An answered check-in without screeners
    // changes only the schedule.
    let f = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let r = app.client.record_check_in(answered(&f.id, vec![], vec![])).await.unwrap().into_inner();
    assert_eq!(r.entry.unwrap().band, pb::Band::Routine as i32);
    let r =
        app.client.record_check_in(answered(&f.id, phq9(21), vec![])).await.unwrap().into_inner();
    assert_eq!(r.entry.unwrap().band, pb::Band::Urgent as i32);
}

#[tokio::test]
async fn two_missed_check_ins_open_outreach_and_nobody_is_removed() {
    let mut app = spawn_app().await;
    let e = app.enqueue(pb::Band::Soon, &[&id()]).await;
    let missed =
        pb::RecordCheckInRequest { entry_id: e.id.clone(), answered: false, ..Default::default() };

    app.advance(TimeDelta::days(14));
    let first = app.client.record_check_in(missed.clone()).await.unwrap().into_inner();
    assert!(!first.outreach_opened);
    let first = first.entry.unwrap();
    assert_eq!(first.missed_check_ins, 1);
    // A check-in made against the version before the first one is refused and records nothing.
    let stale = pb::RecordCheckInRequest { expected_version: Some(e.version), ..missed.clone() };
    let err = app.client.record_check_in(stale).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("VERSION_MISMATCH"));
    assert_eq!(app.get(&e.id).await.missed_check_ins, 1);

    app.advance(TimeDelta::days(14));
    let second = app.client.record_check_in(missed.clone()).await.unwrap().into_inner();
    assert!(second.outreach_opened);
    let entry = second.entry.unwrap();
    assert_eq!(entry.missed_check_ins, 2);
    assert_eq!(status_of(&entry), pb::EntryStatus::Waiting, "never removed silently");

    // A third miss keeps outreach open (it was opened already); an answer resets the count.
    let third = app.client.record_check_in(missed).await.unwrap().into_inner();
    assert!(!third.outreach_opened);
    assert_eq!(third.entry.unwrap().missed_check_ins, 3);
    let back =
        app.client.record_check_in(answered(&e.id, vec![], vec![])).await.unwrap().into_inner();
    assert_eq!(back.entry.unwrap().missed_check_ins, 0);
}

#[tokio::test]
async fn bad_screeners_name_each_bad_item_and_closed_entries_cannot_check_in() {
    let mut app = spawn_app().await;
    let e = app.enqueue(pb::Band::Soon, &[&id()]).await;
    let req = pb::RecordCheckInRequest {
        entry_id: e.id.clone(),
        answered: true,
        phq9_items: vec![0, 1, 4, 0, 0, 0, 0, 0],
        gad7_items: vec![-1, 0, 0, 0, 0, 0, 3],
        risk_level: 0,
        ..Default::default()
    };
    let err = app.client.record_check_in(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields_of(&err),
        vec!["phq9_items".to_string(), "phq9_items[2]".to_string(), "gad7_items[0]".to_string()]
    );

    let unanswered_with_items = pb::RecordCheckInRequest {
        entry_id: "x".into(),
        answered: false,
        phq9_items: phq9(3),
        gad7_items: vec![],
        risk_level: 0,
        ..Default::default()
    };
    let err = app.client.record_check_in(unanswered_with_items).await.unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["entry_id".to_string(), "phq9_items".to_string()]);

    let err = app.client.record_check_in(answered(&id(), vec![], vec![])).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    app.client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: e.id.clone(),
            reason: "declined care".into(),
            expected_version: None,
        })
        .await
        .unwrap();
    let err = app.client.record_check_in(answered(&e.id, vec![], vec![])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("ENTRY_NOT_WAITING"));
}
