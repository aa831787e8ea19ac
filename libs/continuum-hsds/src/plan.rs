//! From listings to `ImportProviders` items, and from the answers to a per-item summary.
//!
//! Keys: a listing's provider id comes from the HSDS ids ([`crate::ids::provider_id`]), or is the service
//! id itself when that names an existing provider (a directory Continuum exported), so importing the same
//! file again lands on the same providers. Against the providers the organization has now:
//! - a new id is created (`expected_version` 0, no open slots: capacity is Continuum's);
//! - an existing one is updated at its current version, with the fields HSDS owns replaced and the ones it
//!   has no say in kept (open slots, cohorts, relational style, outcome strengths, identity);
//! - an existing one whose HSDS-owned fields already hold those values is answered `unchanged` and not sent.
//!
//! Each item's `import_key` is `hsds:<provider id>:<digest of the item and version>`, so a stream re-sent
//! after a lost answer is answered UNCHANGED item by item instead of writing twice.

use std::collections::{HashMap, HashSet};

use continuum_proto::matching::v1 as pb;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Mapped;
use crate::mapping::Listing;
use crate::unmapped::UnmappedField;

/// What happened to one listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A provider was created.
    Created,
    /// An existing provider was replaced.
    Updated,
    /// The provider already held exactly this (or the same item was imported before): nothing written.
    Unchanged,
    /// Not imported; see the reasons.
    Refused,
}

/// One listing's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemOutcome {
    /// The HSDS service id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The HSDS location id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    /// The listing's display name.
    pub name: String,
    /// The provider it is (or would have been).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The provider's version after the import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// What happened.
    pub outcome: Outcome,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Defaults applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<String>,
}

/// The summary of an import.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportSummary {
    /// HSDS services read.
    pub services: usize,
    /// Listings (service × location).
    pub listings: usize,
    /// Providers created.
    pub created: usize,
    /// Providers updated.
    pub updated: usize,
    /// Listings that changed nothing.
    pub unchanged: usize,
    /// Listings refused.
    pub refused: usize,
    /// Every listing, in document order.
    pub items: Vec<ItemOutcome>,
    /// HSDS fields with no counterpart, by name and count.
    pub unmapped: Vec<UnmappedField>,
}

/// The items to send and the outcomes known before sending.
#[derive(Clone, Debug)]
pub struct ImportPlan {
    /// The `ImportProviders` items, in listing order.
    pub items: Vec<pb::ImportProvidersRequest>,
    /// For each item, the listing it came from.
    pub item_listing: Vec<usize>,
    outcomes: Vec<ItemOutcome>,
    services: usize,
    unmapped: Vec<UnmappedField>,
}

/// Copies the fields HSDS owns from `new` onto `into`.
fn overlay(into: &mut pb::Provider, new: &pb::Provider) {
    into.display_name.clone_from(&new.display_name);
    into.kind = new.kind;
    into.levels_of_care.clone_from(&new.levels_of_care);
    into.age_groups.clone_from(&new.age_groups);
    into.jurisdictions.clone_from(&new.jurisdictions);
    into.languages.clone_from(&new.languages);
    into.modalities.clone_from(&new.modalities);
    into.payment_options.clone_from(&new.payment_options);
    into.formats.clone_from(&new.formats);
    into.crisis_capable = new.crisis_capable;
    into.accepting_new_clients = new.accepting_new_clients;
    into.family_involvement = new.family_involvement;
    into.specialties.clone_from(&new.specialties);
    into.location.clone_from(&new.location);
    into.faith_options.clone_from(&new.faith_options);
    into.cultural_options.clone_from(&new.cultural_options);
    into.schedule.clone_from(&new.schedule);
    into.typical_wait_days = new.typical_wait_days;
    into.unit.clone_from(&new.unit);
}

/// The import key of an item.
fn import_key(p: &pb::Provider, expected_version: i64) -> String {
    let mut h = Sha256::new();
    h.update(prost::Message::encode_to_vec(p));
    h.update(expected_version.to_le_bytes());
    let d = h.finalize();
    let hex: String = d.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("hsds:{}:{hex}", p.id)
}

/// Plans the import of `mapped` against the organization's current providers `existing`.
pub fn plan_import(mapped: &Mapped, existing: &[pb::Provider]) -> ImportPlan {
    let by_id: HashMap<&str, &pb::Provider> = existing.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut plan = ImportPlan {
        items: Vec::new(),
        item_listing: Vec::new(),
        outcomes: Vec::with_capacity(mapped.listings.len()),
        services: mapped.services,
        unmapped: mapped.unmapped.fields(),
    };
    let mut ids = HashSet::new();
    for (at, l) in mapped.listings.iter().enumerate() {
        let l: &Listing = match l {
            Ok(l) => l,
            Err(r) => {
                plan.outcomes.push(ItemOutcome {
                    service_id: r.service_id.clone(),
                    location_id: r.location_id.clone(),
                    name: r.name.clone(),
                    provider_id: None,
                    version: None,
                    outcome: Outcome::Refused,
                    reasons: r.reasons.clone(),
                    defaults: Vec::new(),
                });
                continue;
            }
        };
        let id = match &l.exported_id {
            Some(e) if by_id.contains_key(e.as_str()) => e.clone(),
            _ => l.provider.id.clone(),
        };
        let mut outcome = ItemOutcome {
            service_id: Some(l.service_id.clone()),
            location_id: l.location_id.clone(),
            name: l.provider.display_name.clone(),
            provider_id: Some(id.clone()),
            version: None,
            outcome: Outcome::Refused,
            reasons: Vec::new(),
            defaults: l.defaults.clone(),
        };
        if !ids.insert(id.clone()) {
            outcome
                .reasons
                .push("the same service (and location) appears earlier in the document".to_owned());
            plan.outcomes.push(outcome);
            continue;
        }
        let (provider, expected_version) = match by_id.get(id.as_str()) {
            Some(cur) => {
                let mut merged = (*cur).clone();
                overlay(&mut merged, &l.provider);
                if merged == **cur {
                    outcome.outcome = Outcome::Unchanged;
                    outcome.version = Some(cur.version);
                    plan.outcomes.push(outcome);
                    continue;
                }
                // Output-only fields are ignored by matching; cleared so the key digests input only.
                merged.version = 0;
                merged.updated_at = None;
                merged.offers_trauma_processing = false;
                merged.offers_telehealth = false;
                merged.observed_relational_style = None;
                merged.feedback_count = 0;
                merged.mean_srs = 0.0;
                (merged, cur.version)
            }
            None => {
                let mut p = l.provider.clone();
                p.id.clone_from(&id);
                (p, 0)
            }
        };
        plan.item_listing.push(at);
        plan.items.push(pb::ImportProvidersRequest {
            import_key: import_key(&provider, expected_version),
            provider: Some(provider),
            expected_version,
        });
        plan.outcomes.push(outcome);
    }
    plan
}

impl ImportPlan {
    /// Records the answer to a stream that carried `self.items[first..first + n]`.
    pub fn record(&mut self, first: usize, n: usize, answer: &pb::ImportProvidersResponse) {
        let mut done = vec![false; n];
        for i in &answer.imported {
            let Ok(k) = usize::try_from(i.index) else { continue };
            let Some(&listing) = self.item_listing.get(first + k) else { continue };
            let o = &mut self.outcomes[listing];
            o.outcome = match pb::ImportOutcome::try_from(i.outcome) {
                Ok(pb::ImportOutcome::Created) => Outcome::Created,
                Ok(pb::ImportOutcome::Updated) => Outcome::Updated,
                _ => Outcome::Unchanged,
            };
            o.provider_id = Some(i.provider_id.clone());
            o.version = Some(i.version);
            if let Some(d) = done.get_mut(k) {
                *d = true;
            }
        }
        for e in &answer.errors {
            let Ok(k) = usize::try_from(e.index) else { continue };
            let Some(&listing) = self.item_listing.get(first + k) else { continue };
            let fields = if e.fields.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.fields.join(", "))
            };
            self.outcomes[listing].reasons.push(format!(
                "matching refused it: {} {}: {}{fields}",
                e.code, e.reason, e.message
            ));
            if let Some(d) = done.get_mut(k) {
                *d = true;
            }
        }
        for (k, d) in done.iter().enumerate() {
            if !d && let Some(&listing) = self.item_listing.get(first + k) {
                self.outcomes[listing]
                    .reasons
                    .push("matching refused it (beyond the errors an answer lists)".to_owned());
            }
        }
    }

    /// Records that the stream carrying `self.items[first..first + n]` failed: nothing of it was stored.
    pub fn record_failure(&mut self, first: usize, n: usize, why: &str) {
        for k in first..first + n {
            if let Some(&listing) = self.item_listing.get(k) {
                self.outcomes[listing].reasons.push(format!("not imported: {why}"));
            }
        }
    }

    /// The summary.
    pub fn summary(self) -> ImportSummary {
        let count = |o: Outcome| self.outcomes.iter().filter(|x| x.outcome == o).count();
        ImportSummary {
            services: self.services,
            listings: self.outcomes.len(),
            created: count(Outcome::Created),
            updated: count(Outcome::Updated),
            unchanged: count(Outcome::Unchanged),
            refused: count(Outcome::Refused),
            items: self.outcomes,
            unmapped: self.unmapped,
        }
    }
}

impl ImportSummary {
    /// A plain-text report: the counts, every refused listing with its reasons, the unmapped fields.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} HSDS services, {} listings: {} created, {} updated, {} unchanged, {} refused\n",
            self.services, self.listings, self.created, self.updated, self.unchanged, self.refused
        );
        let refused: Vec<&ItemOutcome> =
            self.items.iter().filter(|o| o.outcome == Outcome::Refused).collect();
        if !refused.is_empty() {
            s.push_str("refused:\n");
            for o in refused {
                let at = o
                    .location_id
                    .as_deref()
                    .map(|l| format!(" at location {l}"))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "  service {}{at} ({}):\n",
                    o.service_id.as_deref().unwrap_or("(no id)"),
                    o.name
                ));
                for r in &o.reasons {
                    s.push_str(&format!("    - {r}\n"));
                }
            }
        }
        let defaulted = self.items.iter().filter(|o| !o.defaults.is_empty()).count();
        if defaulted > 0 {
            s.push_str(&format!(
                "{defaulted} listings took a default (see \"defaults\" in --json)\n"
            ));
        }
        if !self.unmapped.is_empty() {
            s.push_str("HSDS fields with no counterpart in a provider (not imported):\n");
            for f in &self.unmapped {
                s.push_str(&format!("  {} x{}\n", f.field, f.count));
            }
        }
        s
    }
}
