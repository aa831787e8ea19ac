//! Reading an HSDS 3.0 document in either of its published shapes, into fully nested services:
//!
//! - nested: a JSON array of `service` objects as the HSDS API's `/services/{id}` returns them (with
//!   `organization`, `service_at_locations[].location`, `schedules`, `languages`, `service_areas`,
//!   `cost_options`, `attributes[].taxonomy_term` ...), or an API page `{"contents": [...]}` of them, or one
//!   service object;
//! - tables: an object of table arrays (`services`, `organizations`, `locations`, `service_at_locations`,
//!   `schedules`, `languages`, `service_areas`, `cost_options`, `addresses`, `attributes`,
//!   `taxonomy_terms`, `taxonomies`, `programs`, ...; names may end in `.csv` as in the HSDS tabular example)
//!   linked by ids (a term's `taxonomies` row becomes its `taxonomy_detail`, a service's `programs` row its
//!   `program`, as nested). The tables the mapping reads are nested into their services here; rows of the
//!   others (phones, contacts, funding, organizations ...) are reported field by field as unmapped, and rows
//!   of read tables that link to no service are reported as such.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::unmapped::{Unmapped, table_of, walk};

/// Why a document cannot be read at all (a bad service on its own is refused as an item instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentError {
    /// Not JSON.
    NotJson(String),
    /// JSON, but neither HSDS shape.
    Shape(String),
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentError::NotJson(e) => write!(f, "the document is not JSON: {e}"),
            DocumentError::Shape(e) => write!(f, "not an HSDS 3.0 document: {e}"),
        }
    }
}

impl std::error::Error for DocumentError {}

/// A document as nested services, with what the tables shape could not attach already reported.
#[derive(Clone, Debug, Default)]
pub struct Document {
    /// Fully nested services, in document order.
    pub services: Vec<Value>,
    /// Unmapped fields found while nesting tables.
    pub unmapped: Unmapped,
}

/// Reads either shape.
pub fn parse_document(value: Value) -> Result<Document, DocumentError> {
    match value {
        Value::Array(items) => nested(items),
        Value::Object(mut map) => {
            if let Some(Value::Array(items)) = map.remove("contents") {
                return nested(items);
            }
            let tables: HashMap<String, Value> =
                map.iter().map(|(k, v)| (normalise_table(k), v.clone())).collect();
            if tables.contains_key("services") {
                return from_tables(tables);
            }
            if map.contains_key("id") && map.contains_key("name") {
                return nested(vec![Value::Object(map)]);
            }
            Err(DocumentError::Shape(
                "expected an array of services, a page with `contents`, or an object of tables with `services`"
                    .to_owned(),
            ))
        }
        _ => Err(DocumentError::Shape("expected a JSON array or object".to_owned())),
    }
}

fn nested(items: Vec<Value>) -> Result<Document, DocumentError> {
    if let Some(i) = items.iter().position(|x| !x.is_object()) {
        return Err(DocumentError::Shape(format!("item {i} is not a service object")));
    }
    Ok(Document { services: items, unmapped: Unmapped::default() })
}

/// `services.csv` -> `services`, `service_at_location` -> `service_at_locations`.
fn normalise_table(name: &str) -> String {
    let n = name.strip_suffix(".csv").unwrap_or(name);
    match n {
        "service_at_location" => "service_at_locations".to_owned(),
        _ => n.to_owned(),
    }
}

fn rows(tables: &HashMap<String, Value>, name: &str) -> Vec<Value> {
    match tables.get(name) {
        Some(Value::Array(a)) => a.iter().filter(|x| x.is_object()).cloned().collect(),
        _ => Vec::new(),
    }
}

fn id_of(v: &Value) -> Option<&str> {
    v.get("id").and_then(Value::as_str)
}

fn fk<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn push(obj: &mut Value, key: &str, child: Value) {
    if let Some(map) = obj.as_object_mut() {
        let entry = map.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.push(child);
        }
    }
}

/// The tables the mapping reads, nested; everything else reported.
fn from_tables(tables: HashMap<String, Value>) -> Result<Document, DocumentError> {
    if !matches!(tables.get("services"), Some(Value::Array(_))) {
        return Err(DocumentError::Shape("`services` must be an array".to_owned()));
    }
    let mut unmapped = Unmapped::default();
    let read = [
        "services",
        "service_at_locations",
        "locations",
        "addresses",
        "schedules",
        "languages",
        "service_areas",
        "cost_options",
        "attributes",
        "taxonomy_terms",
        "taxonomies",
        "programs",
    ];
    // Tables the mapping never reads: every field of every row is unmapped.
    let mut others: Vec<&String> = tables.keys().filter(|k| !read.contains(&k.as_str())).collect();
    others.sort();
    for name in others {
        match tables.get(name) {
            Some(Value::Array(a)) => {
                for r in a {
                    walk(&mut unmapped, &table_of(name), r, false);
                }
            }
            Some(v) if crate::unmapped::has_value(v) => unmapped.add(format!("table {name}")),
            _ => {}
        }
    }

    // A term's taxonomy row (`taxonomy_id`) is nested as its `taxonomy_detail`, as in the nested shape (the
    // crosswalk reads which taxonomy a term is of from it).
    let taxonomies: HashMap<String, Value> = rows(&tables, "taxonomies")
        .into_iter()
        .filter_map(|t| id_of(&t).map(|id| (id.to_owned(), t.clone())))
        .collect();
    let mut used_taxonomies = std::collections::HashSet::new();
    let terms: HashMap<String, Value> = rows(&tables, "taxonomy_terms")
        .into_iter()
        .filter_map(|mut t| {
            if let Some(tx) = fk(&t, "taxonomy_id").and_then(|x| taxonomies.get(x)) {
                used_taxonomies.insert(id_of(tx).unwrap_or_default().to_owned());
                if let Some(map) = t.as_object_mut() {
                    map.entry("taxonomy_detail".to_owned()).or_insert_with(|| tx.clone());
                }
            }
            id_of(&t).map(|id| (id.to_owned(), t.clone()))
        })
        .collect();
    for _ in taxonomies.keys().filter(|id| !used_taxonomies.contains(*id)) {
        unmapped.add("taxonomy (linked to no taxonomy term)");
    }
    let mut locations: HashMap<String, Value> = HashMap::new();
    for l in rows(&tables, "locations") {
        if let Some(id) = id_of(&l) {
            locations.insert(id.to_owned(), l.clone());
        }
    }
    let mut services: Vec<Value> = rows(&tables, "services");
    let service_at: HashMap<String, usize> = services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| id_of(s).map(|id| (id.to_owned(), i)))
        .collect();
    let unlinked = |u: &mut Unmapped, table: &str| u.add(format!("{table} (linked to no service)"));

    // A service's program (`program_id`) is nested as its `program`, as in the nested shape.
    let programs: HashMap<String, Value> = rows(&tables, "programs")
        .into_iter()
        .filter_map(|p| id_of(&p).map(|id| (id.to_owned(), p.clone())))
        .collect();
    let mut used_programs = std::collections::HashSet::new();
    for service in &mut services {
        let program = fk(service, "program_id").and_then(|p| programs.get(p)).cloned();
        if let (Some(p), Some(map)) = (program, service.as_object_mut()) {
            used_programs.insert(id_of(&p).unwrap_or_default().to_owned());
            map.entry("program".to_owned()).or_insert(p);
        }
    }
    for _ in programs.keys().filter(|id| !used_programs.contains(*id)) {
        unlinked(&mut unmapped, "program");
    }

    // Location children first, so that locations are complete when service_at_locations take them.
    for a in rows(&tables, "addresses") {
        match fk(&a, "location_id").and_then(|l| locations.get_mut(l)) {
            Some(l) => push(l, "addresses", a),
            None => unlinked(&mut unmapped, "address"),
        }
    }
    let mut sal_schedules: HashMap<String, Vec<Value>> = HashMap::new();
    for s in rows(&tables, "schedules") {
        if let Some(sal) = fk(&s, "service_at_location_id") {
            sal_schedules.entry(sal.to_owned()).or_default().push(s);
        } else if let Some(i) = fk(&s, "service_id").and_then(|id| service_at.get(id)) {
            push(&mut services[*i], "schedules", s);
        } else if let Some(l) = fk(&s, "location_id").and_then(|l| locations.get_mut(l)) {
            push(l, "schedules", s);
        } else {
            unlinked(&mut unmapped, "schedule");
        }
    }
    for lang in rows(&tables, "languages") {
        if let Some(i) = fk(&lang, "service_id").and_then(|id| service_at.get(id)) {
            push(&mut services[*i], "languages", lang);
        } else if let Some(l) = fk(&lang, "location_id").and_then(|l| locations.get_mut(l)) {
            push(l, "languages", lang);
        } else {
            // A phone's languages: phones have no counterpart.
            walk(&mut unmapped, "language", &lang, false);
        }
    }
    for table in ["service_areas", "cost_options"] {
        for r in rows(&tables, table) {
            match fk(&r, "service_id").and_then(|id| service_at.get(id)) {
                Some(i) => push(&mut services[*i], table, r),
                None => unlinked(&mut unmapped, &table_of(table)),
            }
        }
    }
    for mut a in rows(&tables, "attributes") {
        if let Some(term) = fk(&a, "taxonomy_term_id").and_then(|t| terms.get(t))
            && let Some(map) = a.as_object_mut()
        {
            map.insert("taxonomy_term".to_owned(), term.clone());
        }
        let entity = fk(&a, "link_entity").unwrap_or("service").to_owned();
        match fk(&a, "link_id").and_then(|id| service_at.get(id)) {
            Some(i) if entity == "service" || entity == "link_entity" => {
                push(&mut services[*i], "attributes", a)
            }
            _ => unmapped.add(format!("attribute (linked to {entity})")),
        }
    }
    for sal in rows(&tables, "service_at_locations") {
        let Some(i) = fk(&sal, "service_id").and_then(|id| service_at.get(id)).copied() else {
            unlinked(&mut unmapped, "service_at_location");
            continue;
        };
        let location = fk(&sal, "location_id").and_then(|l| locations.get(l)).cloned();
        let schedules = id_of(&sal).and_then(|id| sal_schedules.remove(id));
        let mut sal = sal;
        if let Some(map) = sal.as_object_mut() {
            if let Some(l) = location {
                map.insert("location".to_owned(), l);
            }
            if let Some(s) = schedules {
                map.insert("schedules".to_owned(), Value::Array(s));
            }
        }
        push(&mut services[i], "service_at_locations", sal);
    }
    for _ in sal_schedules.values().flatten() {
        unlinked(&mut unmapped, "schedule");
    }
    Ok(Document { services, unmapped })
}

/// An empty object (tests and export).
pub fn object() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn tables_are_nested_into_services() {
        let doc = json!({
            "services.csv": [{"id": "s1", "name": "IOP", "status": "active", "organization_id": "o1"}],
            "organizations.csv": [{"id": "o1", "name": "Harbor", "description": "x"}],
            "service_at_location.csv": [{"id": "sal1", "service_id": "s1", "location_id": "l1"}],
            "locations.csv": [{"id": "l1", "location_type": "physical"}],
            "addresses.csv": [{"id": "a1", "location_id": "l1", "state_province": "CA", "country": "US", "city": "Oakland"}],
            "schedules.csv": [{"id": "sc1", "service_at_location_id": "sal1", "byday": "MO"}],
            "languages.csv": [{"id": "la1", "service_id": "s1", "code": "es"}, {"id": "la2", "phone_id": "p1", "code": "fr"}],
            "attributes.csv": [{"id": "at1", "link_id": "s1", "link_entity": "service", "taxonomy_term_id": "t1"}],
            "taxonomy_terms.csv": [{"id": "t1", "code": "kind:iop", "name": "IOP", "description": "d", "taxonomy": "continuum"}],
            "cost_options.csv": [{"id": "c1", "service_id": "nope", "option": "free"}]
        });
        let d = parse_document(doc).unwrap();
        assert_eq!(d.services.len(), 1);
        let s = &d.services[0];
        assert_eq!(
            s["service_at_locations"][0]["location"]["addresses"][0]["state_province"],
            "CA"
        );
        assert_eq!(s["service_at_locations"][0]["schedules"][0]["byday"], "MO");
        assert_eq!(s["languages"][0]["code"], "es");
        assert_eq!(s["attributes"][0]["taxonomy_term"]["code"], "kind:iop");
        assert_eq!(d.unmapped.count("organization.name"), 1);
        assert_eq!(d.unmapped.count("language.code"), 1, "the phone's language");
        assert_eq!(d.unmapped.count("cost_option (linked to no service)"), 1);
    }

    #[test]
    fn nested_shapes_are_accepted_and_others_refused() {
        let s = json!({"id": "s1", "name": "x", "status": "active"});
        assert_eq!(parse_document(json!([s.clone()])).unwrap().services.len(), 1);
        assert_eq!(parse_document(json!({"contents": [s.clone()]})).unwrap().services.len(), 1);
        assert_eq!(parse_document(s).unwrap().services.len(), 1);
        assert!(matches!(parse_document(json!({"a": 1})), Err(DocumentError::Shape(_))));
        assert!(matches!(parse_document(json!([1])), Err(DocumentError::Shape(_))));
        assert!(matches!(parse_document(json!("x")), Err(DocumentError::Shape(_))));
    }
}
