//! The directory as HSDS 3.0 nested services (the shape of the HSDS API's `/services/{id}`), one service per
//! provider: `id` is the provider id (so importing an export updates the same providers), `status`
//! `active` or `temporarily closed` (not accepting new clients), `languages`, `service_areas` (the
//! jurisdictions), `cost_options` (the payment options, in words the import reads back), `schedules` (the
//! windows as weekly hours), `wait_time`, the age range when the age groups are contiguous, one physical
//! location when care is offered in person (with its coordinates), and the facets HSDS has no field for as
//! attributes of the `continuum` taxonomy ([`crate::facets`]).
//!
//! Not exported: open slots and cohorts (capacity changes by the minute; HSDS has no field for it), the
//! relational style, measured outcome strengths, session-feedback statistics, and the identity
//! self-description (shared for matching only, never published).

use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use serde_json::{Value, json};

use crate::facets::{attribute, facet_code};
use crate::ids::derived_uuid;

/// One HSDS service per provider.
pub fn export_services(providers: &[pb::Provider]) -> Vec<Value> {
    providers.iter().map(export_service).collect()
}

fn cost_option(payment: i32) -> Option<Value> {
    use common::PaymentOption as P;
    let (option, amount) = match P::try_from(payment).ok()? {
        P::CommercialInsurance => ("Commercial insurance", None),
        P::PublicInsurance => ("Public insurance (Medicaid, Medicare)", None),
        P::SelfPay => ("Self-pay", None),
        P::SlidingScale => ("Sliding scale", None),
        P::Free => ("Free", Some(0)),
        P::Unspecified => return None,
    };
    let mut v = json!({"option": option});
    if let Some(a) = amount {
        v["amount"] = json!(a);
    }
    Some(v)
}

fn schedule(window: i32) -> Option<Value> {
    use pb::ScheduleWindow as W;
    let (byday, opens, closes) = match W::try_from(window).ok()? {
        W::WeekdayDaytime => ("MO,TU,WE,TH,FR", "09:00", "17:00"),
        W::WeekdayEvening => ("MO,TU,WE,TH,FR", "17:00", "20:00"),
        W::Weekend => ("SA,SU", "10:00", "16:00"),
        W::Unspecified => return None,
    };
    Some(json!({"freq": "WEEKLY", "byday": byday, "opens_at": opens, "closes_at": closes}))
}

/// The `minimum_age`/`maximum_age` of contiguous age groups (`None` when they are not contiguous).
fn age_range(groups: &[i32]) -> Option<(Option<i64>, Option<i64>)> {
    let mut g: Vec<i32> = groups.iter().copied().filter(|x| (1..=4).contains(x)).collect();
    g.sort_unstable();
    g.dedup();
    let (first, last) = (*g.first()?, *g.last()?);
    if usize::try_from(last - first + 1).ok()? != g.len() {
        return None;
    }
    let min = [0, 13, 18, 65][usize::try_from(first - 1).ok()?];
    let max = [Some(12), Some(17), Some(64), None][usize::try_from(last - 1).ok()?];
    Some((Some(min), max))
}

/// One provider as an HSDS service.
pub fn export_service(p: &pb::Provider) -> Value {
    let id = p.id.as_str();
    let child = |table: &str, key: &str, mut v: Value| {
        v["id"] = json!(derived_uuid(&[table, id, key]));
        v["service_id"] = json!(id);
        v
    };
    let mut s = json!({
        "id": id,
        "organization_id": p.organization_id,
        "name": p.display_name,
        "status": if p.accepting_new_clients { "active" } else { "temporarily closed" },
    });
    if p.typical_wait_days > 0 {
        s["wait_time"] = json!(format!("{} days", p.typical_wait_days));
    }
    if !p.unit.is_empty() {
        // The organization's unit is the HSDS program the service is delivered under (one per unit name).
        let program = derived_uuid(&["program", &p.organization_id, &p.unit]);
        s["program_id"] = json!(program);
        s["program"] = json!({"id": program, "organization_id": p.organization_id, "name": p.unit});
    }
    if let Some((min, max)) = age_range(&p.age_groups) {
        if let Some(m) = min {
            s["minimum_age"] = json!(m);
        }
        if let Some(m) = max {
            s["maximum_age"] = json!(m);
        }
    }
    s["languages"] = p.languages.iter().map(|l| child("language", l, json!({"code": l}))).collect();
    s["service_areas"] =
        p.jurisdictions.iter().map(|j| child("service_area", j, json!({"name": j}))).collect();
    s["cost_options"] = p
        .payment_options
        .iter()
        .filter_map(|x| cost_option(*x).map(|c| child("cost_option", &x.to_string(), c)))
        .collect();
    s["schedules"] = p
        .schedule
        .iter()
        .filter_map(|w| schedule(*w).map(|v| child("schedule", &w.to_string(), v)))
        .collect();
    let mut codes: Vec<String> = Vec::new();
    codes.extend(facet_code("kind", p.kind));
    for (facet, values) in [
        ("level", &p.levels_of_care),
        ("age_group", &p.age_groups),
        ("modality", &p.modalities),
        ("specialty", &p.specialties),
        ("format", &p.formats),
    ] {
        codes.extend(values.iter().filter_map(|v| facet_code(facet, *v)));
    }
    codes.extend(p.faith_options.iter().map(|c| format!("faith:{c}")));
    codes.extend(p.cultural_options.iter().map(|c| format!("culture:{c}")));
    if let Some(l) = &p.location
        && !l.region.is_empty()
    {
        codes.push(format!("region:{}", l.region));
    }
    if p.crisis_capable {
        codes.push("flag:crisis_capable".to_owned());
    }
    if p.family_involvement {
        codes.push("flag:family_involvement".to_owned());
    }
    s["attributes"] = codes.iter().map(|c| attribute(id, c)).collect();
    if p.formats.contains(&(common::CareFormat::InPerson as i32)) {
        let lid = derived_uuid(&["location", id]);
        let mut location = json!({"id": lid, "location_type": "physical", "name": p.display_name});
        if let Some(c) = p.location.as_ref().and_then(|l| l.coordinates.as_ref()) {
            location["latitude"] = json!(c.latitude);
            location["longitude"] = json!(c.longitude);
        }
        s["service_at_locations"] = json!([{
            "id": derived_uuid(&["service_at_location", id]),
            "service_id": id,
            "location_id": lid,
            "location": location,
        }]);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::unmapped::Unmapped;

    const ORG: &str = "0190d5a0-0000-7000-8000-000000000001";

    fn pick(from: &[i32]) -> impl Strategy<Value = Vec<i32>> {
        proptest::sample::subsequence(from.to_vec(), 1..=from.len())
    }

    /// Providers with every field HSDS carries (coordinates only with in-person care: export writes them on
    /// the physical location; a crisis service is crisis-capable).
    fn provider() -> impl Strategy<Value = pb::Provider> {
        let lists = (
            1..=8i32,
            pick(&[1, 2, 3, 4, 5, 6]),
            pick(&[1, 2, 3, 4]),
            proptest::sample::subsequence(vec!["US-CA", "US-NY", "US-TX"], 1..=3),
            proptest::sample::subsequence(vec!["en", "es", "zh-Hant", "vi"], 1..=4),
            proptest::sample::subsequence((1..=18).collect::<Vec<i32>>(), 0..=4),
            pick(&[1, 2, 3, 4, 5]),
            pick(&[1, 2, 3]),
            proptest::sample::subsequence((1..=15).collect::<Vec<i32>>(), 0..=3),
            proptest::sample::subsequence(vec![1, 2, 3], 0..=3),
        );
        let rest = (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0..=365i32,
            proptest::option::of(proptest::sample::select(vec!["US-CA", "US-CA-SF", "US-NY-NYC"])),
            proptest::option::of((-90.0..90.0f64, -180.0..180.0f64)),
            proptest::sample::subsequence(vec!["christian", "muslim", "secular"], 0..=2),
            proptest::sample::subsequence(vec!["latine", "lgbtq_affirming"], 0..=2),
            0u32..1000,
            proptest::sample::select(vec!["", "Adult outpatient team", "Eastside IOP"]),
        );
        (lists, rest).prop_map(
            |(
                (
                    kind,
                    levels,
                    ages,
                    jurisdictions,
                    languages,
                    modalities,
                    payments,
                    formats,
                    specialties,
                    schedule,
                ),
                (accepting, family, crisis, wait, region, coords, faith, culture, n, unit),
            )| {
                let in_person = formats.contains(&1);
                let coordinates =
                    coords.filter(|_| in_person).map(|(la, lo): (f64, f64)| pb::Coordinates {
                        latitude: (la * 1e6).round() / 1e6,
                        longitude: (lo * 1e6).round() / 1e6,
                    });
                pb::Provider {
                    id: crate::ids::derived_uuid(&["p", &n.to_string()]),
                    organization_id: ORG.to_owned(),
                    display_name: format!("Provider {n}"),
                    kind,
                    levels_of_care: levels,
                    age_groups: ages,
                    jurisdictions: jurisdictions.into_iter().map(str::to_owned).collect(),
                    languages: languages.into_iter().map(str::to_owned).collect(),
                    modalities,
                    payment_options: payments,
                    formats,
                    crisis_capable: crisis || kind == pb::ProviderKind::CrisisService as i32,
                    accepting_new_clients: accepting,
                    family_involvement: family,
                    specialties,
                    location: (region.is_some() || coordinates.is_some()).then(|| pb::Location {
                        region: region.unwrap_or_default().to_owned(),
                        coordinates,
                    }),
                    faith_options: faith.into_iter().map(str::to_owned).collect(),
                    cultural_options: culture.into_iter().map(str::to_owned).collect(),
                    schedule,
                    typical_wait_days: wait,
                    unit: unit.to_owned(),
                    ..Default::default()
                }
            },
        )
    }

    proptest! {
        /// Export then import gives back every field HSDS carries, on the same provider id.
        #[test]
        fn export_then_import_round_trips(p in provider()) {
            let doc = serde_json::to_vec(&export_services(std::slice::from_ref(&p))).unwrap();
            let mapped = crate::read(&doc, ORG).unwrap();
            prop_assert_eq!(mapped.listings.len(), 1);
            let l = mapped.listings[0].clone().unwrap();
            prop_assert_eq!(l.exported_id.as_deref(), Some(p.id.as_str()));
            prop_assert!(l.defaults.is_empty());
            let mut back = l.provider.clone();
            back.id.clone_from(&p.id);
            prop_assert_eq!(back, p.clone());
            // Importing the export over the provider changes nothing.
            let plan = crate::plan_import(&mapped, std::slice::from_ref(&p));
            prop_assert!(plan.items.is_empty());
            let summary = plan.summary();
            prop_assert_eq!(summary.unchanged, 1);
            prop_assert!(summary.unmapped.is_empty(), "{:?}", summary.unmapped);
        }
    }

    #[test]
    fn contiguous_age_groups_become_an_age_range() {
        assert_eq!(age_range(&[3, 4]), Some((Some(18), None)));
        assert_eq!(age_range(&[2, 1]), Some((Some(0), Some(17))));
        assert_eq!(age_range(&[1, 3]), None);
        let mut u = Unmapped::default();
        let s = export_service(&pb::Provider {
            id: "x".into(),
            age_groups: vec![2, 3],
            ..Default::default()
        });
        assert_eq!(s["minimum_age"], 13);
        assert_eq!(s["maximum_age"], 64);
        crate::unmapped::walk(&mut u, "service", &s, true);
        assert!(u.is_empty(), "{:?}", u.fields());
    }
}
