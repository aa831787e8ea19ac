//! What Continuum needs of a provider that HSDS has no field for (its kind, levels of care, modalities,
//! problem-domain specialties, the formats and payment options when they are stated directly, faith and
//! cultural options, a finer region, crisis capability, family involvement) travels as HSDS `attributes`
//! whose `taxonomy_term` belongs to the `continuum` taxonomy (`taxonomy: "continuum"`, or a code prefixed
//! `continuum:`). Codes are `<facet>:<value>`, the value being the proto enum value's name in lower case
//! without its prefix:
//!
//! | facet | values |
//! |---|---|
//! | `kind` | `clinician`, `skills_group`, `iop`, `trauma_iop`, `php`, `crisis_service`, `peer_support`, `bridge_support` |
//! | `level` | `self_guided_peer`, `outpatient`, `intensive_outpatient`, `partial_hospitalization`, `residential`, `crisis` |
//! | `age_group` | `child`, `adolescent`, `adult`, `older_adult` (otherwise from `minimum_age`/`maximum_age`) |
//! | `modality` | `cbt`, `dbt`, `emdr`, `prolonged_exposure`, `cpt`, `tf_cbt`, `act`, `somatic`, ... |
//! | `specialty` | `depression`, `anxiety`, `trauma`, `substance_use`, ... (problem domains) |
//! | `payment` | `commercial_insurance`, `public_insurance`, `self_pay`, `sliding_scale`, `free` (besides `cost_options`) |
//! | `format` | `in_person`, `video`, `phone` (besides the locations' `location_type`) |
//! | `faith`, `culture` | Continuum's lowercase codes (`faith:christian`, `culture:latine`) |
//! | `region` | a region finer than the address (`region:US-CA-SF`) |
//! | `flag` | `crisis_capable`, `family_involvement` |
//!
//! Attributes of any other taxonomy (AIRS/211, Open Eligibility ...) are read through the taxonomy crosswalk
//! ([`crate::crosswalk`]) when it knows their term (filling only the facets these attributes leave empty, each
//! named in the listing's `defaults`), and otherwise reported as unmapped by taxonomy.

use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use serde_json::{Value, json};

/// The name of Continuum's taxonomy.
pub const TAXONOMY: &str = "continuum";

/// The facets read from a service's `continuum` attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets {
    /// `kind:*` (the first one).
    pub kind: Option<i32>,
    /// `level:*`.
    pub levels: Vec<i32>,
    /// `age_group:*`.
    pub age_groups: Vec<i32>,
    /// `modality:*`.
    pub modalities: Vec<i32>,
    /// `specialty:*`.
    pub specialties: Vec<i32>,
    /// `payment:*`.
    pub payments: Vec<i32>,
    /// `format:*`.
    pub formats: Vec<i32>,
    /// `faith:*`.
    pub faith: Vec<String>,
    /// `culture:*`.
    pub culture: Vec<String>,
    /// `region:*`.
    pub region: Option<String>,
    /// `flag:crisis_capable`.
    pub crisis_capable: bool,
    /// `flag:family_involvement`.
    pub family_involvement: bool,
    /// Codes of the continuum taxonomy that are not known (reported, not guessed).
    pub unknown: Vec<String>,
}

/// The term of an attribute, if it has one.
fn term(attr: &Value) -> Option<&Value> {
    attr.get("taxonomy_term").filter(|t| t.is_object())
}

/// The taxonomy an attribute's term belongs to (for reports).
pub fn attribute_taxonomy(attr: &Value) -> String {
    let t = term(attr);
    t.and_then(|t| t.get("taxonomy").and_then(Value::as_str))
        .or_else(|| {
            t.and_then(|t| t.get("taxonomy_detail"))
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
        })
        .unwrap_or("none")
        .to_owned()
}

/// The code of a continuum attribute (`kind:iop`), without any `continuum:` prefix.
fn continuum_code(attr: &Value) -> Option<String> {
    let t = term(attr)?;
    let code = t.get("code").and_then(Value::as_str)?.trim();
    if let Some(rest) = code.strip_prefix("continuum:") {
        return Some(rest.to_owned());
    }
    let taxonomy = t.get("taxonomy").and_then(Value::as_str).unwrap_or_default();
    taxonomy.trim().eq_ignore_ascii_case(TAXONOMY).then(|| code.to_owned())
}

/// Whether an attribute belongs to the continuum taxonomy.
pub fn is_continuum_attribute(attr: &Value) -> bool {
    continuum_code(attr).is_some()
}

/// The proto number of enum value `code` of the enum whose names start with `prefix`.
pub fn enum_value(prefix: &str, code: &str, from_name: fn(&str) -> Option<i32>) -> Option<i32> {
    let name = format!("{prefix}_{}", code.trim().to_ascii_uppercase().replace('-', "_"));
    from_name(&name).filter(|n| *n != 0)
}

/// The code of an enum value name (`PROVIDER_KIND_TRAUMA_IOP` -> `trauma_iop`).
pub fn code_of(prefix: &str, name: &str) -> String {
    name.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')).unwrap_or(name).to_ascii_lowercase()
}

/// Name -> number of the enums facets use.
pub fn kind_from(name: &str) -> Option<i32> {
    pb::ProviderKind::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn level_from(name: &str) -> Option<i32> {
    common::LevelOfCare::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn age_from(name: &str) -> Option<i32> {
    common::AgeGroup::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn modality_from(name: &str) -> Option<i32> {
    common::Modality::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn domain_from(name: &str) -> Option<i32> {
    pb::ProblemDomain::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn payment_from(name: &str) -> Option<i32> {
    common::PaymentOption::from_str_name(name).map(|x| x as i32)
}
/// See [`kind_from`].
pub fn format_from(name: &str) -> Option<i32> {
    common::CareFormat::from_str_name(name).map(|x| x as i32)
}

/// The facet code of a value of an enum (`kind`, proto number) for export.
pub fn facet_code(facet: &str, value: i32) -> Option<String> {
    let (prefix, name) = match facet {
        "kind" => ("PROVIDER_KIND", pb::ProviderKind::try_from(value).ok()?.as_str_name()),
        "level" => ("LEVEL_OF_CARE", common::LevelOfCare::try_from(value).ok()?.as_str_name()),
        "age_group" => ("AGE_GROUP", common::AgeGroup::try_from(value).ok()?.as_str_name()),
        "modality" => ("MODALITY", common::Modality::try_from(value).ok()?.as_str_name()),
        "specialty" => ("PROBLEM_DOMAIN", pb::ProblemDomain::try_from(value).ok()?.as_str_name()),
        "payment" => ("PAYMENT_OPTION", common::PaymentOption::try_from(value).ok()?.as_str_name()),
        "format" => ("CARE_FORMAT", common::CareFormat::try_from(value).ok()?.as_str_name()),
        _ => return None,
    };
    (value != 0).then(|| format!("{facet}:{}", code_of(prefix, name)))
}

fn add(list: &mut Vec<i32>, v: i32) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// Reads the continuum attributes of a service.
pub fn read_facets(attrs: &[Value]) -> Facets {
    let mut f = Facets::default();
    for a in attrs {
        let Some(code) = continuum_code(a) else { continue };
        let Some((facet, value)) = code.split_once(':') else {
            f.unknown.push(code);
            continue;
        };
        let known =
            match facet {
                "kind" => enum_value("PROVIDER_KIND", value, kind_from).map(|k| {
                    if f.kind.is_none() {
                        f.kind = Some(k);
                    }
                }),
                "level" => {
                    enum_value("LEVEL_OF_CARE", value, level_from).map(|v| add(&mut f.levels, v))
                }
                "age_group" => {
                    enum_value("AGE_GROUP", value, age_from).map(|v| add(&mut f.age_groups, v))
                }
                "modality" => {
                    enum_value("MODALITY", value, modality_from).map(|v| add(&mut f.modalities, v))
                }
                "specialty" => enum_value("PROBLEM_DOMAIN", value, domain_from)
                    .map(|v| add(&mut f.specialties, v)),
                "payment" => enum_value("PAYMENT_OPTION", value, payment_from)
                    .map(|v| add(&mut f.payments, v)),
                "format" => {
                    enum_value("CARE_FORMAT", value, format_from).map(|v| add(&mut f.formats, v))
                }
                "faith" | "culture" if !value.is_empty() => {
                    let list = if facet == "faith" { &mut f.faith } else { &mut f.culture };
                    if !list.iter().any(|x| x == value) {
                        list.push(value.to_owned());
                    }
                    Some(())
                }
                "region" if !value.is_empty() => {
                    f.region = Some(value.to_owned());
                    Some(())
                }
                "flag" => match value {
                    "crisis_capable" => {
                        f.crisis_capable = true;
                        Some(())
                    }
                    "family_involvement" => {
                        f.family_involvement = true;
                        Some(())
                    }
                    _ => None,
                },
                _ => None,
            };
        if known.is_none() {
            f.unknown.push(code);
        }
    }
    f
}

/// An HSDS attribute linking `link_id` (a service) to continuum term `code`.
pub fn attribute(link_id: &str, code: &str) -> Value {
    json!({
        "id": crate::ids::derived_uuid(&["attribute", link_id, code]),
        "link_id": link_id,
        "link_type": "service",
        "link_entity": "service",
        "taxonomy_term_id": crate::ids::derived_uuid(&["taxonomy_term", code]),
        "taxonomy_term": {
            "id": crate::ids::derived_uuid(&["taxonomy_term", code]),
            "code": code,
            "name": code,
            "description": "A Continuum provider facet (see the Continuum README, HSDS section)",
            "taxonomy": TAXONOMY,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn codes_round_trip_through_the_proto_names() {
        for k in 1..=8 {
            let code = facet_code("kind", k).unwrap();
            let f = read_facets(&[attribute("s", &code)]);
            assert_eq!(f.kind, Some(k), "{code}");
        }
        assert_eq!(
            facet_code("modality", common::Modality::TfCbt as i32).unwrap(),
            "modality:tf_cbt"
        );
        let f = read_facets(&[
            json!({"taxonomy_term": {"code": "continuum:level:intensive_outpatient"}}),
            json!({"taxonomy_term": {"code": "level:outpatient", "taxonomy": "Continuum"}}),
            json!({"taxonomy_term": {"code": "level:outpatient", "taxonomy": "AIRS"}}),
            json!({"taxonomy_term": {"code": "level:hospital", "taxonomy": "continuum"}}),
            json!({"taxonomy_term": {"code": "flag:crisis_capable", "taxonomy": "continuum"}}),
        ]);
        assert_eq!(f.levels, vec![3, 2]);
        assert_eq!(f.unknown, vec!["level:hospital".to_owned()]);
        assert!(f.crisis_capable);
    }
}
