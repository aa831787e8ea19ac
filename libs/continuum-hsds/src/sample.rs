//! A deterministic synthetic HSDS 3.0 directory (nested services) of any size, shaped like a regional
//! community directory: organizations with several services each, clinicians, skills groups, IOPs,
//! trauma-focused IOPs, PHPs, crisis and peer-support services at physical and virtual locations, with
//! schedules, languages, service areas, cost options, phones, contacts and free-text fields HSDS carries
//! and a provider does not (reported as unmapped on import). No person is described.

use serde_json::{Value, json};

use crate::facets::attribute;
use crate::ids::derived_uuid;

/// A small deterministic generator (xorshift64*), dependency-free: the one the synthetic directories
/// (this HSDS sample and `continuum directory sample`'s providers) are drawn with.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// An index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One to `max` distinct picks of `from` (which must hold `max` distinct values).
    pub fn some<T: Copy + PartialEq>(&mut self, from: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max.min(from.len()));
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let x = from[self.below(from.len())];
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

const KINDS: [(&str, &str, &[&str]); 7] = [
    (
        "clinician",
        "Counseling",
        &["modality:cbt", "modality:act", "specialty:depression", "specialty:anxiety"],
    ),
    (
        "skills_group",
        "DBT Skills Group",
        &["modality:dbt", "modality:skills_training", "specialty:emotion_regulation"],
    ),
    (
        "iop",
        "Intensive Outpatient Program",
        &["modality:cbt", "modality:dbt", "specialty:depression"],
    ),
    ("trauma_iop", "Trauma Recovery IOP", &["modality:emdr", "modality:cpt", "specialty:trauma"]),
    ("php", "Partial Hospitalization Program", &["modality:dbt", "modality:cbt"]),
    (
        "crisis_service",
        "Mobile Crisis Team",
        &["modality:crisis_intervention", "specialty:suicidality"],
    ),
    ("peer_support", "Peer Support Circle", &["modality:peer_support"]),
];

const CITIES: [(&str, &str, f64, f64); 4] = [
    ("Oakland", "CA", 37.80, -122.27),
    ("San Jose", "CA", 37.34, -121.89),
    ("Sacramento", "CA", 38.58, -121.49),
    ("Fresno", "CA", 36.74, -119.79),
];

/// `n` services of the directory of `seed`, as a JSON array of nested HSDS services.
pub fn directory(n: usize, seed: u64) -> Value {
    let orgs = n.div_ceil(8).max(1);
    let services: Vec<Value> = (0..n).map(|i| service(i, i % orgs, seed)).collect();
    Value::Array(services)
}

fn service(i: usize, org: usize, seed: u64) -> Value {
    let mut r =
        Rng((seed.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((i as u64 + 1) << 1) | 1);
    let (kind, label, facets) = KINDS[r.below(KINDS.len())];
    let (city, state, lat, lon) = CITIES[r.below(CITIES.len())];
    let sid = derived_uuid(&["sample-service", &seed.to_string(), &i.to_string()]);
    let oid = derived_uuid(&["sample-org", &seed.to_string(), &org.to_string()]);
    let lid = derived_uuid(&["sample-location", &seed.to_string(), &i.to_string()]);
    let languages: Vec<Value> = match r.below(4) {
        0 => vec![json!({"id": derived_uuid(&[&sid, "es"]), "name": "Spanish", "code": "es"})],
        _ => vec![],
    }
    .into_iter()
    .chain([json!({"id": derived_uuid(&[&sid, "en"]), "name": "English", "code": "en"})])
    .collect();
    let mut cost = match r.below(4) {
        0 => json!({"option": "Medi-Cal accepted", "amount_description": "no copay"}),
        1 => {
            json!({"option": "Sliding scale", "amount": 40, "currency": "USD", "amount_description": "per session"})
        }
        2 => json!({"option": "Free", "amount": 0}),
        _ => json!({"option": "Most insurance plans; self-pay", "amount": 150, "currency": "USD"}),
    };
    cost["id"] = json!(derived_uuid(&[&sid, "cost"]));
    let mut attributes: Vec<Value> = vec![attribute(&sid, &format!("kind:{kind}"))];
    attributes.extend(facets.iter().map(|c| attribute(&sid, c)));
    let virtual_site = r.below(5) == 0;
    let location = if virtual_site {
        json!({"id": lid, "location_type": "virtual", "name": "Telehealth", "url": "https://example.org/telehealth"})
    } else {
        json!({
            "id": lid, "location_type": "physical", "name": format!("{city} site {i}"),
            "latitude": lat + (r.below(100) as f64) / 1000.0, "longitude": lon - (r.below(100) as f64) / 1000.0,
            "transportation": "Two blocks from the bus line",
            "addresses": [{"id": derived_uuid(&[&lid, "address"]), "address_1": format!("{} Main Street", 100 + i),
                "city": city, "state_province": state, "postal_code": "94600", "country": "US", "address_type": "physical"}]
        })
    };
    let (opens, closes, byday) = match r.below(3) {
        0 => ("09:00", "17:00", "MO,TU,WE,TH,FR"),
        1 => ("12:00", "20:00", "MO,WE,TH"),
        _ => ("10:00", "14:00", "SA"),
    };
    json!({
        "id": sid,
        "organization_id": oid,
        "name": format!("{label} {i}"),
        "description": format!("{label} for the {city} area."),
        "status": if r.below(10) == 0 { "temporarily closed" } else { "active" },
        "email": "intake@example.org",
        "url": "https://example.org/services",
        "minimum_age": if kind == "peer_support" { 16 } else { 18 },
        "wait_time": format!("{} days", r.below(30)),
        "application_process": "Call the intake line or ask your clinician for a referral.",
        "organization": {"id": oid, "name": format!("Community Behavioral Health {org}"),
                          "description": "A community mental-health nonprofit.", "website": "https://example.org"},
        "languages": languages,
        "service_areas": [{"id": derived_uuid(&[&sid, "area"]), "name": format!("US-{state}"), "description": format!("{city} county")}],
        "cost_options": [cost],
        "phones": [{"id": derived_uuid(&[&sid, "phone"]), "number": "+1 555 0100", "type": "voice"}],
        "attributes": attributes,
        "service_at_locations": [{
            "id": derived_uuid(&[&sid, "sal"]),
            "location": location,
            "schedules": [{"id": derived_uuid(&[&sid, "schedule"]), "freq": "WEEKLY", "byday": byday,
                           "opens_at": opens, "closes_at": closes}]
        }]
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_sample_maps_without_refusals_and_reports_what_it_drops() {
        let doc = serde_json::to_vec(&directory(200, 3)).unwrap();
        assert_eq!(doc, serde_json::to_vec(&directory(200, 3)).unwrap(), "deterministic");
        let m = crate::read(&doc, "0190d5a0-0000-7000-8000-000000000001").unwrap();
        assert_eq!(m.services, 200);
        let refused: Vec<_> = m.listings.iter().filter_map(|l| l.as_ref().err()).collect();
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(m.unmapped.count("organization.name"), 25, "one per organization");
        assert_eq!(m.unmapped.count("service.description"), 200);
        assert_eq!(m.unmapped.count("phone.number"), 200);
        assert!(m.unmapped.count("location.transportation") > 100);
    }
}
