//! Tenant scoping (issue 7, item 2): a person acts and reads only within their own organization; a peer
//! service acts for any. Missing tokens are UNAUTHENTICATED; roles outside the policy are PERMISSION_DENIED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::referral::v1 as pb;
use pb::ActorRole as R;
use pb::ReferralAction as A;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_person_refers_only_for_their_own_organization() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let mut referrer = app.client_as(REFERRER, &[Role::Clinician]);
    let r = referrer
        .create_referral(create_request("mine", &p.id))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(r.referrer_organization_id, REFERRER);
    let mut other = app.client_as(OTHER_ORG, &[Role::Coordinator]);
    let err = other.create_referral(create_request("not-mine", &p.id)).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(app.open_slots(&p.id).await, 4, "a refused creation takes no slot");
}

/// Issue 12: intake's own routing call is not asked back — intake is who decides, and it refers only the
/// intakes it took, for their organization — while every other caller's creation still is: a client the
/// intake double never recorded is NOT_FOUND for another service and for a person of the same
/// organization, and takes no slot.
#[tokio::test]
async fn intakes_own_referral_is_not_asked_back_and_every_other_callers_still_is() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let unrecorded = |key: &str| {
        let mut r = create_request(key, &p.id);
        r.client_id = uuid::Uuid::now_v7().to_string();
        r.intake_id = uuid::Uuid::now_v7().to_string();
        r
    };
    let r = app
        .client_of_peer("intake", REFERRER)
        .create_referral(unrecorded("from-intake"))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(r.referrer_organization_id, REFERRER);
    for service in ["gateway", "waitlist", "test"] {
        let err = app
            .client_of_peer(service, REFERRER)
            .create_referral(unrecorded(&format!("from-{service}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{service}");
    }
    let mut person = app.client_as(REFERRER, &[Role::Clinician]);
    let err = person.create_referral(unrecorded("from-a-person")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(app.open_slots(&p.id).await, 4, "only intake's referral took a slot");
}

#[tokio::test]
async fn only_the_parties_see_a_referral() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("seen", &p.id).await;
    for org in [REFERRER, RECIPIENT] {
        let got = app
            .client_as(org, &[Role::Clinician])
            .get_referral(pb::GetReferralRequest { referral_id: r.id.clone() })
            .await;
        assert_eq!(got.unwrap().into_inner().referral.unwrap().id, r.id, "{org}");
    }
    let err = app
        .client_as(OTHER_ORG, &[Role::Coordinator])
        .get_referral(pb::GetReferralRequest { referral_id: r.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "existence does not leak");
}

#[tokio::test]
async fn a_person_lists_only_their_own_organization() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("listed", &p.id).await;
    let mut recipient = app.client_as(RECIPIENT, &[Role::Coordinator]);
    // Empty means the caller's organization.
    let own =
        recipient.list_referrals(pb::ListReferralsRequest::default()).await.unwrap().into_inner();
    assert_eq!(own.referrals.iter().map(|x| x.id.clone()).collect::<Vec<_>>(), vec![r.id.clone()]);
    let named = recipient
        .list_referrals(pb::ListReferralsRequest {
            organization_id: RECIPIENT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named.referrals.len(), 1);
    let err = recipient
        .list_referrals(pb::ListReferralsRequest {
            organization_id: REFERRER.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let other = app
        .client_as(OTHER_ORG, &[Role::Coordinator])
        .list_referrals(pb::ListReferralsRequest::default())
        .await
        .unwrap();
    assert!(other.into_inner().referrals.is_empty());
}

#[tokio::test]
async fn a_person_acts_only_for_their_organization_and_as_themselves() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("act", &p.id).await;
    // Someone of another organization: the referral is not found for them.
    let mut outsider = app.client_as(OTHER_ORG, &[Role::Coordinator]);
    let err = outsider.transition_referral(action_request(&r, A::Accept)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The referrer's clinician may not accept (only a coordinator may act beyond their side).
    let mut referrer = app.client_as(REFERRER, &[Role::Clinician]);
    let err = referrer.transition_referral(action_request(&r, A::Accept)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(app.get(&r.id).await.version, 1, "refusals change nothing");
    // The recipient's clinician accepts; the event names the caller.
    let mut clinician = app.client_as(RECIPIENT, &[Role::Clinician]);
    let after = clinician
        .transition_referral(action_request(&r, A::Accept))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    let e = after.events.last().unwrap();
    assert_eq!(e.actor_organization_id, RECIPIENT);
    assert_eq!(e.actor_user_id, "test-user");
}

#[tokio::test]
async fn the_care_timeline_shows_a_person_only_their_organizations_referrals() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    app.create("tl-1", &p.id).await;
    let request = pb::GetCareTimelineRequest { client_id: CLIENT.into() };
    let own = app
        .client_as(REFERRER, &[Role::Clinician])
        .get_care_timeline(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.entries.len(), 1);
    let other = app
        .client_as(OTHER_ORG, &[Role::Clinician])
        .get_care_timeline(request)
        .await
        .unwrap()
        .into_inner();
    assert!(other.entries.is_empty());
}

#[tokio::test]
async fn no_token_is_unauthenticated_and_a_role_outside_the_policy_is_denied() {
    let app = spawn_app().await;
    let err = app
        .anonymous_client()
        .list_referrals(pb::ListReferralsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = app
        .client_as(REFERRER, &[Role::Ops])
        .list_referrals(pb::ListReferralsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .client_as(REFERRER, &[Role::IntakeClerk])
        .get_referral(pb::GetReferralRequest {
            referral_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn only_the_recipient_reads_the_handoff_packet() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("packet", &p.id).await;
    let ask = |id: &str| pb::GetHandoffPacketRequest { referral_id: id.to_owned() };
    // The referrer (it holds the intake itself), another organization, and a peer service acting for
    // the referrer get NOT_FOUND, before intake is ever asked.
    for (org, role) in
        [(REFERRER, Role::Clinician), (REFERRER, Role::Coordinator), (OTHER_ORG, Role::Coordinator)]
    {
        let err = app.client_as(org, &[role]).get_handoff_packet(ask(&r.id)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{org} {}", role.code());
    }
    assert_eq!(app.client.get_handoff_packet(ask(&r.id)).await.unwrap_err().code(), Code::NotFound);
    let err = app
        .client_as(RECIPIENT, &[Role::Clinician])
        .get_handoff_packet(ask("nope"))
        .await
        .unwrap_err();
    assert_eq!(continuum_errors::bad_fields_of(&err), vec!["referral_id".to_owned()]);
    // The recipient gets through to intake, which is down here: UNAVAILABLE (retry), never a partial packet.
    let err = app
        .client_as(RECIPIENT, &[Role::Clinician])
        .get_handoff_packet(ask(&r.id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    // A role outside the policy is refused by the layer.
    let err = app
        .client_as(RECIPIENT, &[Role::ProviderAdmin])
        .get_handoff_packet(ask(&r.id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Once the referrer cancels, nothing more is shared.
    app.act(&r, A::Cancel, R::Referrer).await.unwrap();
    let err = app
        .client_as(RECIPIENT, &[Role::Coordinator])
        .get_handoff_packet(ask(&r.id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        continuum_errors::reason_of(&err).map(continuum_errors::reason_code),
        Some("REFERRAL_CLOSED")
    );
}
