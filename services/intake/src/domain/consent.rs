//! Consent: which categories of an intake its client agreed to share with which recipient
//! (organization, optionally one referral), how grants are recorded and revoked, and the standard
//! category sets. Consent says *what* may be shared; *whether* anything is shared at all is the care
//! relationship, decided in `app::access`.

use chrono::{DateTime, Utc};
use continuum_vocab::ids::{OrganizationId, ReferralId};
use serde::{Deserialize, Serialize};

use super::ConsentCategory;

/// Consent to share categories with one recipient: an organization (`None`: whichever organization the
/// owner refers the client to), optionally only as the recipient of one referral. Consent only ever says
/// *what* may be shared; *whether* anything is shared at all is the care relationship (a live referral the
/// owner made to the recipient), decided in `app::access`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// Recipient organization, or any organization the owner refers the client to.
    pub recipient_organization_id: Option<OrganizationId>,
    /// Only the recipient of this referral (the grant ends with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<ReferralId>,
    /// Categories.
    pub categories: Vec<ConsentCategory>,
}

impl ConsentGrant {
    /// Whether the grant covers a recipient `organization_id` reading under `referral_id` (`None`: before
    /// any referral exists, as when routing checks whom it may refer to).
    fn covers(&self, organization_id: &str, referral_id: Option<&str>) -> bool {
        let org_ok = self
            .recipient_organization_id
            .as_ref()
            .is_none_or(|o| o.as_str().eq_ignore_ascii_case(organization_id));
        let referral_ok = self.referral_id.as_ref().is_none_or(|r| Some(r.as_str()) == referral_id);
        org_ok && referral_ok
    }
}

/// Categories a referral needs the client's consent for.
pub const REFERRAL_CATEGORIES: [ConsentCategory; 2] =
    [ConsentCategory::IdentityAndContact, ConsentCategory::ScreeningAndAssessment];

/// The standard categories (everything but substance use), granted by the simple consent flag.
pub const STANDARD_CATEGORIES: [ConsentCategory; 5] = [
    ConsentCategory::IdentityAndContact,
    ConsentCategory::ScreeningAndAssessment,
    ConsentCategory::PresentingConcerns,
    ConsentCategory::TreatmentHistory,
    ConsentCategory::SocialContext,
];

/// What the client consents to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Share the intake (standard categories, never substance use) with the organization the client is
    /// referred to.
    pub share_with_referral_recipient: bool,
    /// Scoped grants.
    #[serde(default)]
    pub grants: Vec<ConsentGrant>,
    /// Changes after the intake, oldest first.
    #[serde(default)]
    pub history: Vec<ConsentChange>,
}

/// One change of consent after the intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// When.
    pub changed_at: DateTime<Utc>,
    /// "recorded" or "revoked".
    pub action: String,
    /// Recipient named.
    pub recipient_organization_id: Option<String>,
    /// Referral named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    /// Categories named (empty: all).
    pub categories: Vec<ConsentCategory>,
    /// Who.
    pub user_id: String,
}

impl Consent {
    /// Adds grants (and the simple referral-recipient consent when `share` is set).
    pub fn record(
        &mut self,
        grants: Vec<ConsentGrant>,
        share: bool,
        at: DateTime<Utc>,
        user_id: &str,
    ) {
        if share {
            self.share_with_referral_recipient = true;
            self.history.push(ConsentChange {
                changed_at: at,
                action: "recorded".into(),
                recipient_organization_id: None,
                referral_id: None,
                categories: STANDARD_CATEGORIES.to_vec(),
                user_id: user_id.to_owned(),
            });
        }
        for g in grants {
            self.history.push(ConsentChange {
                changed_at: at,
                action: "recorded".into(),
                recipient_organization_id: g
                    .recipient_organization_id
                    .as_ref()
                    .map(ToString::to_string),
                referral_id: g.referral_id.as_ref().map(ToString::to_string),
                categories: g.categories.clone(),
                user_id: user_id.to_owned(),
            });
            self.grants.push(g);
        }
    }

    /// Revokes `categories` (all when empty) for `recipient` and `referral` (every recipient, and the simple
    /// consent, when neither is named; with only a referral, the grants naming that referral). Grants left
    /// without categories are dropped.
    pub fn revoke(
        &mut self,
        recipient: Option<&str>,
        referral: Option<&str>,
        categories: &[ConsentCategory],
        at: DateTime<Utc>,
        user_id: &str,
    ) {
        if recipient.is_none() && referral.is_none() {
            self.share_with_referral_recipient = false;
        }
        for g in &mut self.grants {
            let org_hit = recipient.is_none_or(|r| {
                g.recipient_organization_id
                    .as_ref()
                    .is_some_and(|o| o.as_str().eq_ignore_ascii_case(r))
            });
            let referral_hit =
                referral.is_none_or(|r| g.referral_id.as_ref().map(ReferralId::as_str) == Some(r));
            if org_hit && referral_hit {
                g.categories.retain(|c| !categories.is_empty() && !categories.contains(c));
            }
        }
        self.grants.retain(|g| !g.categories.is_empty());
        self.history.push(ConsentChange {
            changed_at: at,
            action: "revoked".into(),
            recipient_organization_id: recipient.map(str::to_owned),
            referral_id: referral.map(str::to_owned),
            categories: categories.to_vec(),
            user_id: user_id.to_owned(),
        });
    }

    /// The categories that may be shared with `organization_id` as the recipient of `referral_id` (`None`:
    /// before the referral exists). Substance-use information only ever comes from a grant naming that
    /// organization. Only what may be shared: that a live referral of the owner's makes the organization a
    /// recipient at all is checked apart (`app::access`).
    pub fn categories_for(
        &self,
        organization_id: &str,
        referral_id: Option<&str>,
    ) -> Vec<ConsentCategory> {
        let mut out: Vec<ConsentCategory> = Vec::new();
        if self.share_with_referral_recipient {
            out.extend(STANDARD_CATEGORIES);
        }
        for g in self.grants.iter().filter(|g| g.covers(organization_id, referral_id)) {
            let named = g.recipient_organization_id.is_some();
            out.extend(
                g.categories
                    .iter()
                    .copied()
                    .filter(|c| named || *c != ConsentCategory::SubstanceUse),
            );
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether the client consented to a referral to `organization_id` (identity and assessment may go).
    pub fn allows_referral_to(&self, organization_id: &str) -> bool {
        let cats = self.categories_for(organization_id, None);
        REFERRAL_CATEGORIES.iter().all(|c| cats.contains(c))
    }
}
