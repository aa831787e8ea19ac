//! The HSDS fields with no counterpart in a Continuum provider, reported by name and count so that nothing
//! is dropped silently. A field is named `<table>.<field>` with the singular HSDS table name
//! (`location.transportation`, `organization.tax_id`); an object that appears more than once (one
//! organization nested in each of its services) counts once, by its id. Fields the mapping reads but whose
//! value it could not use are reported too, with why (`service.wait_time (not a duration)`).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

/// HSDS fields with no counterpart, by name, with how often they held a value.
#[derive(Clone, Debug, Default)]
pub struct Unmapped {
    counts: BTreeMap<String, u64>,
    seen: HashSet<(String, String)>,
}

/// One unmapped field and how many objects carried it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmappedField {
    /// `<table>.<field>`, or a description of values that could not be used.
    pub field: String,
    /// Objects (or values) that carried it.
    pub count: u64,
}

impl Unmapped {
    /// Counts one occurrence of `field`.
    pub fn add(&mut self, field: impl Into<String>) {
        *self.counts.entry(field.into()).or_default() += 1;
    }

    /// The count of `field` (0 when never seen).
    pub fn count(&self, field: &str) -> u64 {
        self.counts.get(field).copied().unwrap_or(0)
    }

    /// Whether nothing was unmapped.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Every unmapped field, by name.
    pub fn fields(&self) -> Vec<UnmappedField> {
        self.counts.iter().map(|(f, c)| UnmappedField { field: f.clone(), count: *c }).collect()
    }

    /// True the first time an object of `table` with this id is visited (objects without an id: always).
    fn first_visit(&mut self, table: &str, obj: &Value) -> bool {
        match obj.get("id").and_then(Value::as_str) {
            Some(id) => self.seen.insert((table.to_owned(), id.to_owned())),
            None => true,
        }
    }
}

/// Whether a JSON value carries information (not null, not an empty string, array or object).
pub fn has_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The singular HSDS table name of a nested key or a table name (`service_at_locations` ->
/// `service_at_location`, `addresses` -> `address`, `taxonomy_detail` -> `taxonomy`).
pub fn table_of(key: &str) -> String {
    let key = key.strip_suffix(".csv").unwrap_or(key);
    match key {
        "addresses" => "address".to_owned(),
        "taxonomies" | "taxonomy_detail" => "taxonomy".to_owned(),
        "accessibility" | "funding" | "metadata" => key.to_owned(),
        k => k.strip_suffix('s').unwrap_or(k).to_owned(),
    }
}

/// The fields of `table` the mapping reads (the rest of a used table is reported).
fn consumed(table: &str) -> &'static [&'static str] {
    match table {
        "service" => &[
            "id",
            "name",
            "status",
            "organization_id",
            "program_id",
            "minimum_age",
            "maximum_age",
            "wait_time",
        ],
        "organization" => &["id"],
        "program" => &["id", "name", "organization_id"],
        "service_at_location" => &["id", "service_id", "location_id"],
        "location" => &["id", "location_type", "latitude", "longitude", "name", "organization_id"],
        "address" => &["id", "location_id", "state_province", "country", "address_type"],
        "schedule" => &[
            "id",
            "service_id",
            "location_id",
            "service_at_location_id",
            "freq",
            "byday",
            "opens_at",
            "closes_at",
        ],
        "language" => &["id", "service_id", "location_id", "code", "name"],
        "service_area" => &["id", "service_id", "name"],
        "cost_option" => &["id", "service_id", "option", "amount", "currency"],
        "attribute" => &["id", "link_id", "link_type", "link_entity", "taxonomy_term_id", "value"],
        "taxonomy_term" => &[
            "id",
            "code",
            "name",
            "description",
            "taxonomy",
            "taxonomy_id",
            "vocabulary",
            "parent_id",
            "language",
            "term_uri",
        ],
        _ => &["id"],
    }
}

/// The nested tables of `table` whose objects the mapping reads.
fn used_children(table: &str) -> &'static [&'static str] {
    match table {
        "service" => &[
            "organization",
            "program",
            "service_at_location",
            "schedule",
            "language",
            "service_area",
            "cost_option",
            "attribute",
        ],
        "service_at_location" => &["location", "schedule"],
        "location" => &["language", "address", "schedule"],
        "attribute" => &["taxonomy_term"],
        _ => &[],
    }
}

/// Reports every unmapped field of each nested service.
pub fn walk_services(services: &[Value], u: &mut Unmapped) {
    for s in services {
        walk(u, "service", s, true);
    }
}

/// Reports the unmapped fields of one object of `table` and of the objects nested in it. `used`: whether
/// the mapping reads this object at all (the fields of an object it does not read are all reported).
pub fn walk(u: &mut Unmapped, table: &str, obj: &Value, used: bool) {
    let Some(map) = obj.as_object() else { return };
    if !u.first_visit(table, obj) {
        return;
    }
    if table == "attribute" && used && !crate::facets::is_continuum_attribute(obj) {
        if crate::crosswalk::knows(obj) {
            // Read through the crosswalk: its term has a counterpart.
            return;
        }
        let taxonomy = crate::facets::attribute_taxonomy(obj);
        u.add(format!("attribute (taxonomy {taxonomy:?})"));
        return;
    }
    for (key, value) in map {
        if !has_value(value) {
            continue;
        }
        let nested = match value {
            Value::Object(_) => Some(std::slice::from_ref(value)),
            Value::Array(a) if a.iter().all(Value::is_object) => Some(a.as_slice()),
            _ => None,
        };
        if let Some(children) = nested {
            let child = table_of(key);
            let child_used = used && used_children(table).contains(&child.as_str());
            for c in children {
                walk(u, &child, c, child_used);
            }
            continue;
        }
        let structural = key == "id" || (key.ends_with("_id") && !used);
        if structural || (used && consumed(table).contains(&key.as_str())) {
            continue;
        }
        u.add(format!("{table}.{key}"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unused_fields_are_named_and_repeated_objects_count_once() {
        let org = json!({"id": "o1", "name": "Harbor", "description": "d", "tax_id": ""});
        let services = vec![
            json!({"id": "s1", "name": "A", "status": "active", "organization": org,
                   "fees_description": "sliding", "phones": [{"id": "p1", "number": "555", "languages": [{"id": "l1", "code": "es"}]}]}),
            json!({"id": "s2", "name": "B", "status": "active", "organization": org, "alert": null}),
        ];
        let mut u = Unmapped::default();
        walk_services(&services, &mut u);
        assert_eq!(u.count("organization.name"), 1, "{:?}", u.fields());
        assert_eq!(u.count("organization.description"), 1);
        assert_eq!(u.count("organization.tax_id"), 0, "empty values carry nothing");
        assert_eq!(u.count("service.fees_description"), 1);
        assert_eq!(u.count("phone.number"), 1);
        assert_eq!(u.count("language.code"), 1, "a phone's language is not the service's");
        assert_eq!(u.count("service.name"), 0);
        assert_eq!(u.count("service.alert"), 0);
    }

    #[test]
    fn table_names_are_singular() {
        assert_eq!(table_of("service_at_locations"), "service_at_location");
        assert_eq!(table_of("addresses.csv"), "address");
        assert_eq!(table_of("taxonomy_detail"), "taxonomy");
        assert_eq!(table_of("funding"), "funding");
        assert_eq!(table_of("organization"), "organization");
    }
}
