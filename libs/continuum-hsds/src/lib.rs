//! HSDS 3.0 (Open Referral's Human Services Data Specification) directories in and out of Continuum's
//! provider directory. Pure: no I/O; the callers (the gateway's `/hsds` routes and `continuum directory`)
//! list the existing providers, stream the planned items through `ImportProviders` and hand the answers
//! back here for the summary.
//!
//! - [`document`]: reads an HSDS document in either shape HSDS publishes — a JSON array (or an API page
//!   `{"contents": [...]}`) of fully nested `service` objects, or an object of tables (`services`,
//!   `organizations`, `locations`, `service_at_locations`, `schedules`, `languages`, ...; `.csv` suffixes
//!   accepted) linked by ids, which is nested first — so both shapes map the same way.
//! - [`mapping`]: one HSDS service (× each of its locations) becomes one provider listing; what a listing
//!   needs and the service does not say is refused with reasons, never guessed silently (the adult age
//!   groups when no age is stated, and every facet the crosswalk infers, are named in the outcome's
//!   `defaults`).
//! - [`crosswalk`]: a real directory's AIRS/211 codes and Open Eligibility terms (a 211 export, an Open
//!   Referral feed: no `continuum` attributes) imply the kind, levels of care, modalities and specialties
//!   the `continuum` attributes do not state (longest AIRS code prefix wins; explicit attributes win over
//!   it); a service whose terms imply no kind is refused with the terms it had.
//! - [`unmapped`]: every HSDS field present in the document that has no counterpart in a provider is
//!   reported by name (`location.transportation`) with a count. Nothing is dropped silently.
//! - [`plan`]: the stable keys (the HSDS ids make the provider id, so a re-import updates, never duplicates),
//!   the merge onto existing providers (capacity, cohorts, outcome strengths, relational style and identity
//!   belong to Continuum and are kept), and the per-item summary.
//! - [`export`]: the directory as HSDS 3.0 nested services (the facets Continuum needs travel as attributes
//!   of the `continuum` taxonomy, see [`facets`]).
//! - [`sample`]: a deterministic synthetic directory for benchmarks and tests.

pub mod crosswalk;
pub mod document;
pub mod export;
pub mod facets;
pub mod ids;
pub mod mapping;
pub mod plan;
pub mod sample;
pub mod unmapped;

pub use document::{DocumentError, parse_document};
pub use export::export_services;
pub use mapping::{Listing, Refusal, map_services};
pub use plan::{ImportPlan, ImportSummary, ItemOutcome, Outcome, plan_import};
pub use unmapped::Unmapped;

/// Everything read from an HSDS document for one organization's import: the listings (or why a service
/// could not become one) and the fields with no counterpart.
#[derive(Clone, Debug, Default)]
pub struct Mapped {
    /// Services read from the document.
    pub services: usize,
    /// One entry per service × location, in document order.
    pub listings: Vec<Result<Listing, Refusal>>,
    /// HSDS fields with no counterpart, by name.
    pub unmapped: Unmapped,
}

/// Parses `json` (either HSDS shape) and maps every service onto listings of `organization_id`.
pub fn read(json: &[u8], organization_id: &str) -> Result<Mapped, DocumentError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| DocumentError::NotJson(e.to_string()))?;
    read_value(value, organization_id)
}

/// Like [`read`], from a parsed JSON value.
pub fn read_value(
    value: serde_json::Value,
    organization_id: &str,
) -> Result<Mapped, DocumentError> {
    let doc = parse_document(value)?;
    let mut unmapped = doc.unmapped;
    unmapped::walk_services(&doc.services, &mut unmapped);
    let listings = map_services(&doc.services, organization_id, &mut unmapped);
    Ok(Mapped { services: doc.services.len(), listings, unmapped })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Map, Value, json};

    use super::*;

    const ORG: &str = "0190d5a0-0000-7000-8000-0000000000c2";
    const FIXTURE: &str = include_str!("../../../tests/e2e/fixtures/hsds_community_directory.json");

    fn scalars(v: &Value) -> Map<String, Value> {
        v.as_object()
            .unwrap()
            .iter()
            .filter(|(_, x)| !x.is_array() && !x.is_object())
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect()
    }

    fn row(tables: &mut Map<String, Value>, table: &str, v: &Value, links: &[(&str, &str)]) {
        let mut r = scalars(v);
        for (k, x) in links {
            r.insert((*k).to_owned(), json!(x));
        }
        let t = tables.entry(table.to_owned()).or_insert_with(|| json!([]));
        t.as_array_mut().unwrap().push(Value::Object(r));
    }

    /// The nested fixture as HSDS tables (what a tabular publisher would send).
    fn as_tables(services: &[Value]) -> Value {
        let mut t = Map::new();
        let mut seen = std::collections::HashSet::new();
        for s in services {
            let sid = s["id"].as_str().unwrap();
            row(&mut t, "services.csv", s, &[]);
            let org = &s["organization"];
            if seen.insert(org["id"].to_string()) {
                row(&mut t, "organizations.csv", org, &[]);
            }
            if let Some(p) = s.get("program")
                && seen.insert(p["id"].to_string())
            {
                row(&mut t, "programs.csv", p, &[]);
            }
            for x in mapping::objects(s, "languages") {
                row(&mut t, "languages.csv", x, &[("service_id", sid)]);
            }
            for (key, table) in [
                ("service_areas", "service_areas.csv"),
                ("cost_options", "cost_options.csv"),
                ("schedules", "schedules.csv"),
                ("phones", "phones.csv"),
                ("contacts", "contacts.csv"),
            ] {
                for x in mapping::objects(s, key) {
                    row(&mut t, table, x, &[("service_id", sid)]);
                }
            }
            for a in mapping::objects(s, "attributes") {
                let term = &a["taxonomy_term"];
                let tid = term["id"].as_str().unwrap();
                row(&mut t, "attributes.csv", a, &[("taxonomy_term_id", tid)]);
                if seen.insert(tid.to_owned()) {
                    // A nested `taxonomy_detail` is a row of `taxonomies`, linked by `taxonomy_id`.
                    match term.get("taxonomy_detail") {
                        Some(d) => {
                            let did = d["id"].as_str().unwrap();
                            row(&mut t, "taxonomy_terms.csv", term, &[("taxonomy_id", did)]);
                            if seen.insert(did.to_owned()) {
                                row(&mut t, "taxonomies.csv", d, &[]);
                            }
                        }
                        None => row(&mut t, "taxonomy_terms.csv", term, &[]),
                    }
                }
            }
            for sal in mapping::objects(s, "service_at_locations") {
                let l = &sal["location"];
                let lid = l["id"].as_str().unwrap();
                let salid = sal["id"].as_str().unwrap();
                row(
                    &mut t,
                    "service_at_location.csv",
                    sal,
                    &[("service_id", sid), ("location_id", lid)],
                );
                for x in mapping::objects(sal, "schedules") {
                    row(&mut t, "schedules.csv", x, &[("service_at_location_id", salid)]);
                }
                if seen.insert(lid.to_owned()) {
                    row(&mut t, "locations.csv", l, &[]);
                    for a in mapping::objects(l, "addresses") {
                        row(&mut t, "addresses.csv", a, &[("location_id", lid)]);
                    }
                    for x in mapping::objects(l, "phones") {
                        row(&mut t, "phones.csv", x, &[("location_id", lid)]);
                    }
                    for x in mapping::objects(l, "accessibility") {
                        row(&mut t, "accessibility.csv", x, &[("location_id", lid)]);
                    }
                }
            }
        }
        Value::Object(t)
    }

    #[test]
    fn the_community_directory_maps_with_reasons_and_reports_what_it_drops() {
        let m = read(FIXTURE.as_bytes(), ORG).unwrap();
        assert_eq!(m.services, 9);
        assert_eq!(m.listings.len(), 10, "the adult IOP is at two locations");
        let ok: Vec<&Listing> = m.listings.iter().filter_map(|l| l.as_ref().ok()).collect();
        assert_eq!(ok.len(), 9);
        let refused: Vec<&Refusal> = m.listings.iter().filter_map(|l| l.as_ref().err()).collect();
        assert_eq!(refused[0].name, "Community Food Pantry");
        assert!(
            refused[0].reasons.iter().any(|r| r.starts_with("no provider kind")),
            "{refused:?}"
        );
        let iop = ok
            .iter()
            .find(|l| l.provider.display_name.ends_with("(Bayview Oakland Clinic)"))
            .unwrap();
        assert_eq!(iop.provider.levels_of_care, vec![3]);
        assert_eq!(iop.provider.languages, vec!["en", "es"]);
        assert_eq!(iop.provider.payment_options, vec![2, 4], "Medi-Cal and sliding scale");
        assert_eq!(iop.provider.typical_wait_days, 7);
        assert_eq!(iop.provider.unit, "Intensive Programs", "the program, whitespace collapsed");
        assert_eq!(iop.provider.location.as_ref().unwrap().region, "US-CA");
        let crisis = ok.iter().find(|l| l.provider.kind == 6).unwrap();
        assert!(crisis.provider.crisis_capable);
        assert_eq!(crisis.provider.age_groups, vec![1, 2, 3, 4]);
        let teen = ok.iter().find(|l| l.provider.display_name == "Adolescent IOP").unwrap();
        assert_eq!(teen.provider.age_groups, vec![2]);
        assert!(teen.provider.family_involvement);
        // Reported, never silently dropped.
        assert_eq!(m.unmapped.count("program.description"), 1, "one program, counted once");
        assert_eq!(m.unmapped.count("program.name"), 0, "the unit");
        for f in [
            "organization.name",
            "service.description",
            "service.eligibility_description",
            "service.fees_description",
            "phone.number",
            "location.transportation",
            "accessibility.description",
            "cost_option.amount_description",
            "address.city",
            "contact.name",
            "attribute (taxonomy \"AIRS/211 LA County\")",
        ] {
            assert!(m.unmapped.count(f) > 0, "{f} not reported: {:?}", m.unmapped.fields());
        }
        assert_eq!(m.unmapped.count("organization.name"), 6, "each organization once");
    }

    /// JSON built from HSDS keys and awkward values (wrong types, empty, huge numbers, non-ASCII days).
    fn awkward_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let keys = proptest::sample::select(vec![
            "id",
            "name",
            "status",
            "services",
            "service_at_locations",
            "location",
            "locations",
            "schedules",
            "byday",
            "opens_at",
            "closes_at",
            "languages",
            "code",
            "service_areas",
            "cost_options",
            "option",
            "amount",
            "attributes",
            "taxonomy_term",
            "taxonomy",
            "minimum_age",
            "maximum_age",
            "wait_time",
            "addresses",
            "state_province",
            "country",
            "latitude",
            "longitude",
            "location_type",
            "contents",
            "service_id",
            "location_id",
            "link_id",
            "taxonomy_term_id",
            "organization",
            "phones",
            "program",
            "programs",
            "program_id",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<i64>().prop_map(Value::from),
            proptest::sample::select(vec![
                "",
                "active",
                "physical",
                "virtual",
                "MO,ÄÖ",
                "é",
                "25:99",
                "NaN",
                "-1e999",
                "US-CA",
                "kind:iop",
                "continuum",
                "12 weeks",
                "Free",
                "s1",
                "l1",
                "continuum:level:crisis",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        /// Any JSON is read, refused as a document, or refused item by item: never a panic, and every
        /// listing is accounted for in the plan.
        #[test]
        fn any_document_is_read_or_refused_without_panicking(doc in awkward_json()) {
            if let Ok(m) = read_value(doc, ORG) {
                let plan = plan_import(&m, &[]);
                let s = plan.summary();
                proptest::prop_assert_eq!(s.listings, m.listings.len());
                proptest::prop_assert_eq!(s.created + s.updated + s.unchanged + s.refused, s.listings);
            }
        }
    }

    const EXPORT_211: &str = include_str!("../tests/fixtures/hsds_211_export.json");

    /// A 211 export (AIRS codes and an Open Eligibility term, no continuum attributes) imports through
    /// the crosswalk, the same in both shapes, with every inferred facet named.
    #[test]
    fn a_211_export_imports_through_the_crosswalk_in_both_shapes() {
        let nested: Vec<Value> = serde_json::from_str(EXPORT_211).unwrap();
        let a = read(EXPORT_211.as_bytes(), ORG).unwrap();
        let b = read_value(as_tables(&nested), ORG).unwrap();
        assert_eq!(a.services, 6);
        assert_eq!(b.services, 6);
        assert_eq!(a.listings, b.listings, "tables map like nested services");
        assert_eq!(a.listings.len(), 6);
        for m in [&a, &b] {
            assert_eq!(
                m.unmapped.count("attribute (taxonomy \"AIRS/211 LA County\")"),
                1,
                "only the food pantry's term has no counterpart: {:?}",
                m.unmapped.fields()
            );
        }
        let ok: Vec<&Listing> = a.listings.iter().filter_map(|l| l.as_ref().ok()).collect();
        let by_name = |n: &str| *ok.iter().find(|l| l.provider.display_name == n).unwrap();
        let grief = "AIRS RP-1400.8000-100 \"Bereavement and Grief Counseling\"";

        let g = by_name("Grief and Loss Counseling");
        assert_eq!(g.provider.kind, 1, "clinician");
        assert_eq!(g.provider.levels_of_care, vec![2], "outpatient");
        assert_eq!(g.provider.specialties, vec![14], "grief");
        assert!(g.provider.modalities.is_empty());
        assert_eq!(g.provider.formats, vec![1], "in person, from the location");
        assert_eq!(
            g.defaults,
            vec![
                format!("kind: clinician (from {grief})"),
                format!("levels_of_care: outpatient (from {grief})"),
                format!("specialties: grief (from {grief})"),
            ]
        );

        // RP-1400.8000-050 is not in the table: its nearest known ancestor, RP-1400, answers.
        let y = by_name("Teen Counseling");
        assert_eq!((y.provider.kind, y.provider.levels_of_care.clone()), (1, vec![2]));
        assert!(y.provider.specialties.is_empty());
        assert_eq!(y.provider.age_groups, vec![2]);
        assert_eq!(
            y.defaults[0],
            "kind: clinician (from AIRS RP-1400.8000-050 \"Adolescent/Youth Counseling\")"
        );

        let line = by_name("Suicide Prevention Crisis Line");
        assert_eq!(line.provider.kind, 6, "crisis service");
        assert_eq!(line.provider.levels_of_care, vec![6], "crisis");
        assert_eq!(line.provider.modalities, vec![17], "crisis intervention");
        assert_eq!(line.provider.specialties, vec![6], "suicidality");
        assert_eq!(line.provider.formats, vec![3], "phone: a hotline with no location");
        assert!(line.provider.crisis_capable);
        assert_eq!(line.provider.jurisdictions, vec!["US-CA"]);
        let hotline = "AIRS RP-1500.1400-800 \"Suicide Prevention Hotlines\"";
        assert!(
            line.defaults.contains(&format!("formats: phone (from {hotline})")),
            "{:?}",
            line.defaults
        );
        assert!(line.defaults.contains(&format!("kind: crisis_service (from {hotline})")));
        assert!(
            line.defaults.iter().any(|d| d.starts_with("age_groups: adult, older_adult")),
            "the age default is still named"
        );

        let groups = by_name("Alcohol Recovery Support Groups");
        assert_eq!(groups.provider.kind, 7, "peer support");
        assert_eq!(groups.provider.levels_of_care, vec![1], "self-guided / peer");
        assert_eq!(groups.provider.modalities, vec![16], "peer support");
        assert_eq!(groups.provider.specialties, vec![5], "substance use");
        assert_eq!(groups.provider.payment_options, vec![5], "free");

        // Open Eligibility, recognised by its taxonomy (nested `taxonomy_detail`, or the `taxonomies` row).
        let peer = by_name("Peer Recovery Circle");
        assert_eq!((peer.provider.kind, peer.provider.levels_of_care.clone()), (7, vec![1]));
        assert_eq!(peer.provider.modalities, vec![16]);
        assert_eq!(peer.defaults[0], "kind: peer_support (from Open Eligibility \"Peer Support\")");

        let refused: Vec<&Refusal> = a.listings.iter().filter_map(|l| l.as_ref().err()).collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].name, "Community Food Pantry");
        assert_eq!(refused[0].reasons.len(), 1, "{:?}", refused[0].reasons);
        let why = &refused[0].reasons[0];
        assert!(why.starts_with("no provider kind: none of its taxonomy terms (AIRS BD-1800.2000 \"Food Pantries\") maps"), "{why}");
        assert!(why.contains("kind:<clinician|"), "says how to tag it: {why}");
    }

    #[test]
    fn tables_map_like_nested_services() {
        let nested: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
        let tables = as_tables(&nested);
        let a = read(FIXTURE.as_bytes(), ORG).unwrap();
        let b = read_value(tables, ORG).unwrap();
        assert_eq!(a.services, b.services);
        assert_eq!(a.listings, b.listings);
        assert_eq!(b.unmapped.count("organization.name"), 6);
        assert_eq!(b.unmapped.count("service.description"), 9);
        assert_eq!(a.unmapped.count("service.description"), 9);
    }

    #[test]
    fn a_reimport_plans_nothing_and_a_change_is_an_update_that_keeps_capacity() {
        let m = read(FIXTURE.as_bytes(), ORG).unwrap();
        let plan = plan_import(&m, &[]);
        assert_eq!(plan.items.len(), 9);
        assert!(
            plan.items.iter().all(|i| i.expected_version == 0 && i.import_key.starts_with("hsds:"))
        );
        // What matching stores: the items, version 1, and capacity set by Continuum later.
        let mut stored: Vec<continuum_proto::matching::v1::Provider> = plan
            .items
            .iter()
            .map(|i| {
                let mut p = i.provider.clone().unwrap();
                p.version = 1;
                p
            })
            .collect();
        stored[0].open_slots = 4;
        let again = plan_import(&m, &stored);
        assert!(again.items.is_empty());
        let s = again.summary();
        assert_eq!((s.created, s.updated, s.unchanged, s.refused), (0, 0, 9, 1));

        let changed = FIXTURE.replace("\"wait_time\": \"7 days\"", "\"wait_time\": \"9 days\"");
        let m2 = read(changed.as_bytes(), ORG).unwrap();
        let plan = plan_import(&m2, &stored);
        assert_eq!(plan.items.len(), 2, "the adult IOP at both locations");
        let first = plan.items[0].provider.as_ref().unwrap();
        assert_eq!(plan.items[0].expected_version, 1);
        assert_eq!(first.typical_wait_days, 9);
        assert_eq!(first.open_slots, 4, "capacity is Continuum's");
        assert_ne!(plan.items[0].import_key, plan_import(&m, &stored[1..]).items[0].import_key);
    }
}
