//! Consent scope, routing codes and the other record rules of the intake domain.

use continuum_vocab::ids::{OrganizationId, ReferralId};

use super::*;

/// A referral id of the tests.
const R1: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000e1";

#[test]
fn consent_scope_record_and_revoke() {
    let org = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";
    let other = "0190a1b2-c3d4-7e5f-8a9b-0000000000d4";
    let now = Utc::now();
    let grant = |org: Option<&str>, referral: Option<&str>, categories: Vec<ConsentCategory>| {
        ConsentGrant {
            recipient_organization_id: org.and_then(OrganizationId::parse),
            referral_id: referral.and_then(ReferralId::parse),
            categories,
        }
    };
    let mut c = Consent::default();
    assert!(!c.allows_referral_to(org));
    c.record(vec![grant(Some(org), None, REFERRAL_CATEGORIES.to_vec())], false, now, "u");
    c.record(vec![grant(Some(org), None, vec![ConsentCategory::SubstanceUse])], false, now, "u");
    assert!(c.allows_referral_to(org) && !c.allows_referral_to(other));
    assert!(c.categories_for(org, Some("r1")).contains(&ConsentCategory::SubstanceUse));
    // The simple consent never carries substance use, and an unnamed grant cannot either.
    let mut simple = Consent { share_with_referral_recipient: true, ..Default::default() };
    simple.grants.push(grant(None, None, vec![ConsentCategory::SubstanceUse]));
    assert!(
        simple.allows_referral_to(other)
            && !simple.categories_for(other, None).contains(&ConsentCategory::SubstanceUse)
    );
    // Revoking one category for one organization.
    c.revoke(Some(org), None, &[ConsentCategory::SubstanceUse], now, "u");
    assert!(
        c.allows_referral_to(org)
            && !c.categories_for(org, None).contains(&ConsentCategory::SubstanceUse)
    );
    // Revoking everything.
    c.revoke(None, None, &[], now, "u");
    assert!(!c.allows_referral_to(org) && c.grants.is_empty());
    assert_eq!(
        c.history.iter().map(|h| h.action.as_str()).collect::<Vec<_>>(),
        vec!["recorded", "recorded", "revoked", "revoked"]
    );
}

#[test]
fn a_grant_naming_a_referral_covers_that_referral_only() {
    let org = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";
    let now = Utc::now();
    let mut c = Consent::default();
    c.record(
        vec![ConsentGrant {
            recipient_organization_id: None,
            referral_id: ReferralId::parse(R1),
            categories: vec![ConsentCategory::TreatmentHistory],
        }],
        false,
        now,
        "u",
    );
    assert_eq!(c.categories_for(org, Some(R1)), vec![ConsentCategory::TreatmentHistory]);
    assert!(c.categories_for(org, Some("r2")).is_empty(), "another referral of the same recipient");
    assert!(c.categories_for(org, None).is_empty(), "before the referral exists");
    // Revoking by referral ends it (and leaves the simple consent alone).
    c.share_with_referral_recipient = true;
    c.revoke(None, Some(R1), &[], now, "u");
    assert!(c.grants.is_empty() && c.share_with_referral_recipient);
    assert_eq!(c.history.last().and_then(|h| h.referral_id.as_deref()), Some(R1));
}

#[test]
fn age_counts_birthdays() {
    let dob = NaiveDate::from_ymd_opt(2010, 6, 15).unwrap_or_default();
    assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap_or_default()), 15);
    assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap_or_default()), 16);
}

#[test]
fn fingerprint_is_stable() {
    assert_eq!(fingerprint(b""), "cbf29ce484222325");
    assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
}

#[test]
fn routing_status_codes_round_trip() {
    for s in [
        RoutingStatus::Pending,
        RoutingStatus::Referred,
        RoutingStatus::Waitlisted,
        RoutingStatus::NeedsCoordinator,
    ] {
        assert_eq!(RoutingStatus::from_code(s.code()), Some(s));
    }
}
