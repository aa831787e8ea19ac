//! Check-ins re-screen through intake's `RecordReassessment` (the real intake service in-process, trusting
//! the waitlist's service secret): intake's risk and urgency re-band the entry, a rise onto the crisis
//! pathway takes it off the list through the interlock, and with intake down the check-in is still
//! recorded on the waitlist's own rules with the re-screen reported pending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::waitlist::v1 as pb;

use crate::helpers::*;

/// A complete adult intake of `ORG_A` with mild depression (PHQ-9 10, item 9 at 0).
fn submission() -> ipb::SubmitIntakeRequest {
    ipb::SubmitIntakeRequest {
        idempotency_key: format!("wl-{}", id()),
        organization_id: ORG_A.into(),
        client: Some(ipb::ClientDetails {
            given_name: "Sam".into(),
            family_name: "Waiting".into(),
            date_of_birth: Some(common::Date { year: 1991, month: 2, day: 14 }),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
            ..Default::default()
        }),
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 1, 0] }),
            ..Default::default()
        }),
        consent: Some(ipb::Consent { share_with_referral_recipient: true }),
        ..Default::default()
    }
}

/// Submits an intake to the in-process intake and enqueues its client (routine band) on one provider.
async fn waiting_client(app: &mut TestApp) -> (pb::WaitlistEntry, ipb::Intake) {
    let intake = app
        .intake_client(ORG_A)
        .submit_intake(submission())
        .await
        .expect("submit intake")
        .into_inner()
        .intake
        .unwrap();
    let provider = app.provider().await;
    let mut req = enqueue_request(pb::Band::Routine, &[&provider]);
    req.client_id = intake.client_id.clone();
    req.intake_id = intake.id.clone();
    let entry = app.client.enqueue(req).await.expect("enqueue").into_inner().entry.unwrap();
    (entry, intake)
}

fn check_in(entry_id: &str, phq9_items: Vec<i32>) -> pb::RecordCheckInRequest {
    pb::RecordCheckInRequest {
        entry_id: entry_id.to_owned(),
        answered: true,
        phq9_items,
        ..Default::default()
    }
}

#[tokio::test]
async fn severe_scores_reband_through_intakes_reassessment() {
    let mut app = spawn_app_with(Options { intake_up: true, ..Options::default() }).await;
    let (entry, intake) = waiting_client(&mut app).await;
    app.advance(TimeDelta::days(14));

    // GAD-7 only, moderately severe for the waitlist (soon), but intake stores a new assessment and its
    // urgency decides together with the local rules; PHQ-9 severe (>= 20) with item 9 at 0.
    let r = app
        .client
        .record_check_in(check_in(&entry.id, vec![3, 3, 3, 3, 3, 3, 3, 0, 0]))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.rescreen_pending);
    assert!(!r.assessment_id.is_empty(), "intake stored a new assessment");
    assert_eq!(r.rescreen_risk_level, common::RiskLevel::None as i32);
    assert_ne!(r.rescreen_urgency, common::Urgency::Unspecified as i32);
    assert!(!r.interlock_required && !r.rerouted);
    let e = r.entry.unwrap();
    assert_eq!(e.band, pb::Band::Urgent as i32);
    assert_eq!(status_of(&e), pb::EntryStatus::Waiting);

    // Intake holds the new assessment beside the intake's own.
    let stored = app
        .intake_client(ORG_A)
        .get_intake(ipb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let latest = stored.intake.unwrap().assessment.unwrap();
    assert_eq!(latest.id, r.assessment_id);

    // PHQ-9 item 9 without a C-SSRS is moderate risk for intake: expedited (urgent), still waiting.
    let f = waiting_client(&mut app).await.0;
    let r = app
        .client
        .record_check_in(check_in(&f.id, vec![1, 1, 0, 0, 0, 0, 0, 0, 1]))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.rescreen_pending);
    assert_eq!(r.rescreen_risk_level, common::RiskLevel::Moderate as i32);
    assert!(!r.interlock_required);
    let f = r.entry.unwrap();
    assert_eq!((f.band, status_of(&f)), (pb::Band::Urgent as i32, pb::EntryStatus::Waiting));
}

#[tokio::test]
async fn a_rise_onto_the_crisis_pathway_at_intake_takes_the_entry_through_the_interlock() {
    let mut app = spawn_app_with(Options { intake_up: true, ..Options::default() }).await;
    let (entry, _) = waiting_client(&mut app).await;
    // The entry holds an offer: the interlock withdraws it and the slot goes to the next in line.
    let provider = entry.candidate_provider_ids[0].clone();
    let next = app
        .intake_client(ORG_A)
        .submit_intake(submission())
        .await
        .expect("submit intake")
        .into_inner()
        .intake
        .unwrap();
    let mut other = enqueue_request(pb::Band::Routine, &[&provider]);
    other.idempotency_key = format!("other-{}", id());
    other.client_id = next.client_id;
    other.intake_id = next.id;
    let other = app.client.enqueue(other).await.unwrap().into_inner().entry.unwrap();
    let offers = app.open(&provider, 1).await;
    assert_eq!(offers[0].entry_id, entry.id);

    let req = pb::RecordCheckInRequest {
        entry_id: entry.id.clone(),
        answered: true,
        phq9_items: vec![2, 2, 2, 2, 2, 2, 2, 2, 0],
        clinician_reports_imminent_risk: true,
        ..Default::default()
    };
    let r = app.client.record_check_in(req).await.unwrap().into_inner();
    assert!(!r.rescreen_pending);
    assert_eq!(r.rescreen_risk_level, common::RiskLevel::Imminent as i32);
    assert!(r.interlock_required, "never silent: the caller is told");
    let e = r.entry.unwrap();
    assert_eq!(status_of(&e), pb::EntryStatus::Removed);
    assert_eq!(e.removal_reason, "risk_rise_interlock");
    assert!(e.interlock_required);
    assert_eq!(offer_status(&e.offers[0]), pb::OfferStatus::Declined);
    let other = app.get(&other.id).await;
    assert_eq!(status_of(&other), pb::EntryStatus::Offered);
}

#[tokio::test]
async fn with_intake_down_the_check_in_is_recorded_and_the_rescreen_is_pending() {
    let mut app = spawn_app().await;
    let e = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let r = app
        .client
        .record_check_in(check_in(&e.id, vec![3, 3, 3, 3, 3, 3, 3, 0, 0]))
        .await
        .unwrap()
        .into_inner();
    assert!(r.rescreen_pending);
    assert!(r.assessment_id.is_empty());
    let entry = r.entry.unwrap();
    // The waitlist's own rule (PHQ-9 >= 20 -> urgent) re-banded it, and the check-in counted.
    assert_eq!(entry.band, pb::Band::Urgent as i32);
    assert_eq!(
        entry.next_check_in_at,
        Some(continuum_vocab::time::to_proto(app.clock_now() + TimeDelta::days(14)))
    );
    assert_eq!(status_of(&entry), pb::EntryStatus::Waiting);

    // Without intake, a clinician's imminent-risk judgement still takes the entry through the interlock.
    let req = pb::RecordCheckInRequest {
        entry_id: e.id.clone(),
        answered: true,
        clinician_reports_imminent_risk: true,
        ..Default::default()
    };
    let r = app.client.record_check_in(req).await.unwrap().into_inner();
    assert!(r.rescreen_pending && r.interlock_required);
    assert_eq!(r.entry.unwrap().removal_reason, "risk_rise_interlock");

    // Unanswered check-ins ask intake nothing and are not pending.
    let f = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let r = app
        .client
        .record_check_in(pb::RecordCheckInRequest {
            entry_id: f.id,
            answered: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.rescreen_pending);
}
