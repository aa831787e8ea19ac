//! One HSDS service becomes one provider listing per location it is offered at (`service_at_locations`;
//! one listing without a location when it has none), because a Continuum provider has one in-person site.
//!
//! | HSDS | provider |
//! |---|---|
//! | `service.id` (× `location.id`) | `id`, derived ([`crate::ids::provider_id`]): the stable key of re-imports |
//! | `service.name` (+ the location's name when the service has several) | `display_name` |
//! | `service.status` | `accepting_new_clients` (`active` only) |
//! | `service.minimum_age` / `maximum_age` | `age_groups` overlapping the range (child 0-12, adolescent 13-17, adult 18-64, older adult 65+); none stated: adult and older adult, named as a default |
//! | `languages[].code` (service and location) | `languages` |
//! | `service_areas[].name` when an ISO 3166-2 code (`US-CA`); else the location's address | `jurisdictions` |
//! | `cost_options[]` (`amount` 0, `option` naming free, sliding scale, Medicaid/Medicare/public, insurance, self-pay) | `payment_options` |
//! | `location.location_type` (`physical`: in person, `virtual`: video) | `formats` |
//! | `location.addresses[]` (`country` + `state_province`), `latitude`/`longitude` | `location` (region, coordinates to 6 decimals) |
//! | `schedules[]` (`byday`, `opens_at`, `closes_at`; service, service-at-location and location) | `schedule` windows (weekday daytime, weekday evening from 17:00, weekend) |
//! | `service.wait_time` (`"10 days"`, `"2 weeks"`) | `typical_wait_days` |
//! | `attributes[]` of the `continuum` taxonomy | kind, levels of care, modalities, specialties, ... ([`crate::facets`]) |
//! | `attributes[]` with AIRS/211 codes (`RP-1500.1400-800`) or Open Eligibility names (`Peer Support`), when the service's `continuum` attributes leave the facet empty | kind, levels of care, modalities, specialties, formats through the crosswalk ([`crate::crosswalk`]), each named in `defaults` with the term it came from |
//!
//! A listing that lacks what matching requires (a kind, a language, a jurisdiction, a payment option, a
//! format) is refused with the reasons (a service without a kind is told which taxonomy terms it had and
//! that none maps). Nothing is guessed silently: the crosswalk's inferences and the one default (the adult
//! age groups when no age is stated) are named in the listing's `defaults`.

use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use serde_json::Value;

use crate::crosswalk;
use crate::facets::{self, Facets};
use crate::unmapped::Unmapped;

/// A provider listing read from an HSDS service at one location.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// The HSDS service id.
    pub service_id: String,
    /// The HSDS location id, when the service has locations.
    pub location_id: Option<String>,
    /// The service id when it may itself be a provider id (a service Continuum exported: a UUID, at most
    /// one location): an existing provider with that id is updated.
    pub exported_id: Option<String>,
    /// The provider fields HSDS owns (id derived, organization set; capacity and Continuum-only fields empty).
    pub provider: pb::Provider,
    /// Defaults applied, named (`age_groups: adult, older_adult (no minimum_age or maximum_age)`).
    pub defaults: Vec<String>,
}

/// A service (at a location) that cannot become a provider, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HSDS service id, when it has one.
    pub service_id: Option<String>,
    /// The HSDS location id.
    pub location_id: Option<String>,
    /// The service name (or empty).
    pub name: String,
    /// Every reason, each naming the HSDS field to fix.
    pub reasons: Vec<String>,
}

/// A non-empty trimmed string field.
pub fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// A number field (a JSON number, or a string holding one).
pub fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The objects of an array field.
pub fn objects<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter(|x| x.is_object())
}

/// Maps every service; refusals and listings in document order.
pub fn map_services(
    services: &[Value],
    organization_id: &str,
    u: &mut Unmapped,
) -> Vec<Result<Listing, Refusal>> {
    let mut out = Vec::with_capacity(services.len());
    for s in services {
        out.extend(map_service(s, organization_id, u));
    }
    out
}

const AGE_BANDS: [(common::AgeGroup, f64, f64); 4] = [
    (common::AgeGroup::Child, 0.0, 12.999),
    (common::AgeGroup::Adolescent, 13.0, 17.999),
    (common::AgeGroup::Adult, 18.0, 64.999),
    (common::AgeGroup::OlderAdult, 65.0, f64::INFINITY),
];

/// The age groups overlapping `min..=max`.
pub fn age_groups_for(min: Option<f64>, max: Option<f64>) -> Vec<i32> {
    let lo = min.unwrap_or(0.0);
    let hi = max.map_or(f64::INFINITY, |m| m + 0.999);
    AGE_BANDS.iter().filter(|(_, a, b)| *a <= hi && *b >= lo).map(|(g, _, _)| *g as i32).collect()
}

/// The default levels of care of a kind.
fn levels_for_kind(kind: i32) -> Vec<i32> {
    use common::LevelOfCare as L;
    use pb::ProviderKind as K;
    let l = match K::try_from(kind) {
        Ok(K::Iop | K::TraumaIop) => L::IntensiveOutpatient,
        Ok(K::Php) => L::PartialHospitalization,
        Ok(K::CrisisService) => L::Crisis,
        Ok(K::PeerSupport | K::BridgeSupport) => L::SelfGuidedPeer,
        _ => L::Outpatient,
    };
    vec![l as i32]
}

/// The payment options a cost option names; empty when it names none.
pub fn payments_of(cost: &Value) -> Vec<i32> {
    use common::PaymentOption as P;
    let mut out = Vec::new();
    let option = text(cost, "option").unwrap_or_default().to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| option.contains(w));
    if number(cost, "amount") == Some(0.0) || has(&["free", "no cost", "no charge"]) {
        out.push(P::Free as i32);
    }
    if has(&["sliding"]) {
        out.push(P::SlidingScale as i32);
    }
    if has(&["medicaid", "medi-cal", "medicare", "public insurance", "public plan"]) {
        out.push(P::PublicInsurance as i32);
    }
    if has(&["commercial", "private insurance", "insurance accepted", "most insurance"])
        || (option.contains("insurance") && !has(&["public insurance", "no insurance"]))
    {
        out.push(P::CommercialInsurance as i32);
    }
    if has(&["self-pay", "self pay", "private pay", "out of pocket", "full fee"])
        || (out.is_empty() && number(cost, "amount").is_some_and(|a| a > 0.0))
    {
        out.push(P::SelfPay as i32);
    }
    out
}

/// `HH:MM[:SS]` as minutes after midnight.
fn minutes(s: &str) -> Option<u32> {
    let mut it = s.trim().split(':');
    let h: u32 = it.next()?.parse().ok()?;
    let m: u32 = it.next().unwrap_or("0").parse().ok()?;
    (h <= 24 && m < 60).then_some(h * 60 + m)
}

/// The schedule windows of one HSDS schedule.
pub fn windows_of(s: &Value) -> Vec<i32> {
    use pb::ScheduleWindow as W;
    let days: Vec<String> = text(s, "byday")
        .map(|d| {
            d.split(',')
                .map(|x| {
                    // "MO", or "1MO" / "-1FR" in monthly rules: the day is the last two letters.
                    let c: Vec<char> = x.trim().to_ascii_uppercase().chars().collect();
                    c[c.len().saturating_sub(2)..].iter().collect::<String>()
                })
                .collect()
        })
        .unwrap_or_default();
    let daily = days.is_empty();
    let weekday =
        daily || days.iter().any(|d| ["MO", "TU", "WE", "TH", "FR"].contains(&d.as_str()));
    let weekend = daily || days.iter().any(|d| d == "SA" || d == "SU");
    let opens = text(s, "opens_at").and_then(minutes);
    let closes = text(s, "closes_at").and_then(minutes);
    let mut out = Vec::new();
    if weekday {
        let evening_only = opens.is_some_and(|o| o >= 17 * 60);
        if !evening_only {
            out.push(W::WeekdayDaytime as i32);
        }
        if evening_only || closes.is_some_and(|c| c > 17 * 60) {
            out.push(W::WeekdayEvening as i32);
        }
    }
    if weekend {
        out.push(W::Weekend as i32);
    }
    out
}

/// `"10 days"`, `"2 weeks"`, `"1 month"`, `"14"` as days.
pub fn wait_days(s: &str) -> Option<i32> {
    let lower = s.to_ascii_lowercase();
    let digits: String = lower
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let n: i32 = digits.parse().ok()?;
    let days = if lower.contains("week") {
        n.checked_mul(7)?
    } else if lower.contains("month") {
        n.checked_mul(30)?
    } else if lower.contains("day") || lower.trim().chars().all(|c| c.is_ascii_digit()) {
        n
    } else {
        return None;
    };
    (0..=365).contains(&days).then_some(days)
}

/// Whether `s` is an ISO 3166-2 code (or a country code) matching accepts as a jurisdiction.
pub fn is_jurisdiction(s: &str) -> bool {
    match s.split_once('-') {
        Some((c, r)) => {
            c.len() == 2
                && c.chars().all(|x| x.is_ascii_uppercase())
                && (1..=3).contains(&r.len())
                && r.chars().all(|x| x.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Whether `s` is a BCP-47-shaped tag.
pub fn is_language(s: &str) -> bool {
    (2..=35).contains(&s.len())
        && s.split('-').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Whether `s` is a lowercase code (faith and cultural options).
fn is_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '-' | '_'))
}

/// The region of a location: its physical address's `country` + `state_province` (`US-CA`).
fn region_of(location: &Value, u: &mut Unmapped) -> Option<String> {
    let mut addresses: Vec<&Value> = objects(location, "addresses").collect();
    addresses.sort_by_key(|a| text(a, "address_type") != Some("physical"));
    for a in addresses {
        let state = text(a, "state_province").unwrap_or_default().to_ascii_uppercase();
        if is_jurisdiction(&state) {
            return Some(state);
        }
        let country = text(a, "country").unwrap_or_default().to_ascii_uppercase();
        let code = format!("{country}-{state}");
        if country.len() == 2 && is_jurisdiction(&code) {
            return Some(code);
        }
        if !state.is_empty() {
            u.add("address.state_province (not a subdivision code such as CA)");
        }
    }
    None
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v.dedup();
    v
}

fn push_str(list: &mut Vec<String>, s: &str) {
    if !list.iter().any(|x| x == s) {
        list.push(s.to_owned());
    }
}

/// Why a service has no provider kind, naming the taxonomy terms it had (at most 8).
fn no_kind(terms: &[String]) -> String {
    const TAG: &str = "add an attribute of the continuum taxonomy with code kind:<clinician|skills_group|iop|trauma_iop|php|crisis_service|peer_support|bridge_support>";
    if terms.is_empty() {
        return format!("no provider kind: {TAG}");
    }
    let mut named = terms.iter().take(8).cloned().collect::<Vec<_>>().join("; ");
    if terms.len() > 8 {
        named.push_str(&format!("; and {} more", terms.len() - 8));
    }
    format!(
        "no provider kind: none of its taxonomy terms ({named}) maps to a provider kind in the crosswalk of AIRS/211 and Open Eligibility terms; {TAG}, or tag it with a mental-health term the crosswalk knows"
    )
}

/// What a service says for all its locations.
struct ServiceFacts {
    id: String,
    name: String,
    facets: Facets,
    levels: Vec<i32>,
    ages: Vec<i32>,
    languages: Vec<String>,
    jurisdictions: Vec<String>,
    payments: Vec<i32>,
    schedule: Vec<i32>,
    wait: i32,
    accepting: bool,
    unit: String,
    defaults: Vec<String>,
    reasons: Vec<String>,
}

fn languages_of(v: &Value, into: &mut Vec<String>, u: &mut Unmapped) {
    for l in objects(v, "languages") {
        match text(l, "code") {
            Some(c) if is_language(c) => push_str(into, c),
            Some(_) => u.add("language.code (not a BCP-47 tag)"),
            None if text(l, "name").is_some() => u.add("language.name (no code)"),
            None => {}
        }
    }
}

fn service_facts(s: &Value, u: &mut Unmapped) -> ServiceFacts {
    let mut reasons = Vec::new();
    let mut defaults = Vec::new();
    let id = text(s, "id").unwrap_or_default().to_owned();
    if id.is_empty() {
        reasons.push("service.id is required".to_owned());
    }
    let name = text(s, "name").unwrap_or_default().to_owned();
    if name.is_empty() {
        reasons.push("service.name is required".to_owned());
    }
    let attrs: Vec<Value> = objects(s, "attributes").cloned().collect();
    let mut facets = facets::read_facets(&attrs);
    for c in &facets.unknown {
        u.add(format!("attribute (unknown continuum code {c:?})"));
    }
    // What the continuum attributes leave empty, from the service's AIRS/211 and Open Eligibility terms.
    let inferred = crosswalk::fill(&attrs, &mut facets);
    defaults.extend(inferred.defaults);
    let levels = match (facets.levels.is_empty(), facets.kind) {
        (false, _) => sorted(facets.levels.clone()),
        (true, Some(k)) => levels_for_kind(k),
        (true, None) => Vec::new(),
    };
    if facets.kind.is_none() {
        reasons.push(no_kind(&inferred.terms));
    }
    let (min, max) = (number(s, "minimum_age"), number(s, "maximum_age"));
    let ages = if !facets.age_groups.is_empty() {
        sorted(facets.age_groups.clone())
    } else if min.is_some() || max.is_some() {
        age_groups_for(min, max)
    } else {
        defaults.push("age_groups: adult, older_adult (no minimum_age or maximum_age)".to_owned());
        vec![common::AgeGroup::Adult as i32, common::AgeGroup::OlderAdult as i32]
    };
    if ages.is_empty() {
        reasons.push("service.minimum_age/maximum_age: the range covers no age group".to_owned());
    }
    let mut languages = Vec::new();
    languages_of(s, &mut languages, u);
    let mut jurisdictions = Vec::new();
    for a in objects(s, "service_areas") {
        match text(a, "name") {
            Some(n) if is_jurisdiction(n) => push_str(&mut jurisdictions, n),
            Some(_) => u.add("service_area.name (not an ISO 3166-2 code such as US-CA)"),
            None => {}
        }
    }
    let mut payments = facets.payments.clone();
    for c in objects(s, "cost_options") {
        let found = payments_of(c);
        if found.is_empty() {
            u.add("cost_option.option (names no payment option)");
        }
        payments.extend(found);
    }
    let mut schedule: Vec<i32> = objects(s, "schedules").flat_map(windows_of).collect();
    let wait = match text(s, "wait_time") {
        Some(w) => wait_days(w).unwrap_or_else(|| {
            u.add("service.wait_time (not a duration such as \"10 days\")");
            0
        }),
        None => 0,
    };
    let accepting = match text(s, "status") {
        Some("active") => true,
        Some("inactive" | "defunct" | "temporarily closed") => false,
        Some(_) => {
            u.add("service.status (not an HSDS status)");
            false
        }
        None => {
            reasons.push("service.status is required".to_owned());
            false
        }
    };
    schedule = sorted(schedule);
    // The program the service is delivered under is the unit of the organization that takes its referrals.
    let unit = match s.get("program").and_then(|p| text(p, "name")) {
        Some(n) => {
            // One line of plain text, as matching stores a unit.
            let n = n
                .split(|c: char| c.is_whitespace() || c.is_control())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if n.chars().count() > 100 {
                u.add("program.name (over 100 characters)");
                String::new()
            } else {
                n
            }
        }
        None => String::new(),
    };
    ServiceFacts {
        id,
        name,
        facets,
        levels,
        ages,
        languages,
        jurisdictions,
        payments: sorted(payments),
        schedule,
        wait,
        accepting,
        unit,
        defaults,
        reasons,
    }
}

/// The listings of one service.
pub fn map_service(
    s: &Value,
    organization_id: &str,
    u: &mut Unmapped,
) -> Vec<Result<Listing, Refusal>> {
    let f = service_facts(s, u);
    let sals: Vec<&Value> = objects(s, "service_at_locations").collect();
    let mut sites: Vec<(Option<String>, Option<&Value>, Vec<&Value>)> = Vec::new();
    for sal in &sals {
        let location = sal.get("location").filter(|l| l.is_object());
        let lid = location
            .and_then(|l| text(l, "id"))
            .or_else(|| text(sal, "location_id"))
            .map(str::to_owned);
        if lid.is_none() {
            u.add("service_at_location (no location)");
            continue;
        }
        sites.push((lid, location, objects(sal, "schedules").collect()));
    }
    if sites.is_empty() {
        sites.push((None, None, Vec::new()));
    }
    let several = sites.len() > 1;
    let exported_id = (!several && crate::ids::is_uuid(&f.id)).then(|| f.id.to_ascii_lowercase());
    sites
        .into_iter()
        .map(|(lid, location, sal_schedules)| {
            listing(&f, organization_id, lid, location, &sal_schedules, several, &exported_id, u)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn listing(
    f: &ServiceFacts,
    organization_id: &str,
    location_id: Option<String>,
    location: Option<&Value>,
    sal_schedules: &[&Value],
    several: bool,
    exported_id: &Option<String>,
    u: &mut Unmapped,
) -> Result<Listing, Refusal> {
    let mut reasons = f.reasons.clone();
    let mut formats = f.facets.formats.clone();
    let mut languages = f.languages.clone();
    let mut jurisdictions = f.jurisdictions.clone();
    let mut schedule = f.schedule.clone();
    let mut region = f.facets.region.clone();
    let mut coordinates = None;
    let mut site_name = None;
    if let Some(l) = location {
        match text(l, "location_type") {
            Some("physical") => formats.push(common::CareFormat::InPerson as i32),
            Some("virtual") => formats.push(common::CareFormat::Video as i32),
            _ => {}
        }
        languages_of(l, &mut languages, u);
        let address_region = region_of(l, u);
        if region.is_none() {
            region.clone_from(&address_region);
        }
        if jurisdictions.is_empty()
            && let Some(r) = &address_region
        {
            let mut parts = r.splitn(3, '-');
            if let (Some(c), Some(s)) = (parts.next(), parts.next()) {
                jurisdictions.push(format!("{c}-{s}"));
            }
        }
        if text(l, "location_type") == Some("physical")
            && let (Some(lat), Some(lon)) = (number(l, "latitude"), number(l, "longitude"))
        {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                // Six decimals (about 0.1 m): what JSON carries back exactly, so an export re-imports
                // onto the same values.
                let six = |x: f64| (x * 1e6).round() / 1e6;
                coordinates = Some(pb::Coordinates { latitude: six(lat), longitude: six(lon) });
            } else {
                u.add("location.latitude/longitude (out of range)");
            }
        }
        schedule.extend(objects(l, "schedules").flat_map(windows_of));
        site_name = text(l, "name").map(str::to_owned);
    }
    schedule.extend(sal_schedules.iter().flat_map(|s| windows_of(s)));
    if languages.is_empty() {
        reasons.push("no language: give languages[].code (BCP-47, e.g. \"en\") on the service or its location".to_owned());
    }
    if jurisdictions.is_empty() {
        reasons.push("no jurisdiction: name a service_area with an ISO 3166-2 code (\"US-CA\") or give the location a physical address with country and state_province".to_owned());
    }
    if f.payments.is_empty() {
        reasons.push("no payment option: give cost_options (amount 0 for free; option naming sliding scale, Medicaid/public insurance, insurance or self-pay)".to_owned());
    }
    if formats.is_empty() {
        reasons.push("no format: offer the service at a physical or virtual location, or add attributes format:<in_person|video|phone>".to_owned());
    }
    if languages.len() > 20 {
        reasons.push("more than 20 languages".to_owned());
    }
    let mut display = f.name.clone();
    if several {
        let site = site_name.unwrap_or_else(|| {
            location_id.as_deref().unwrap_or_default().chars().take(8).collect()
        });
        display = format!("{display} ({site})");
    }
    if display.chars().count() > 200 {
        display = display.chars().take(200).collect();
    }
    let mut faith = Vec::new();
    let mut culture = Vec::new();
    for (from, into, what) in
        [(&f.facets.faith, &mut faith, "faith"), (&f.facets.culture, &mut culture, "culture")]
    {
        for c in from {
            if is_code(c) {
                push_str(into, c);
            } else {
                u.add(format!(
                    "attribute ({what} code not lowercase letters, digits, ':', '-', '_')"
                ));
            }
        }
    }
    if !reasons.is_empty() {
        return Err(Refusal {
            service_id: (!f.id.is_empty()).then(|| f.id.clone()),
            location_id,
            name: display,
            reasons,
        });
    }
    let kind = f.facets.kind.unwrap_or_default();
    let provider = pb::Provider {
        id: crate::ids::provider_id(organization_id, &f.id, location_id.as_deref()),
        organization_id: organization_id.to_ascii_lowercase(),
        display_name: display,
        kind,
        levels_of_care: f.levels.clone(),
        age_groups: f.ages.clone(),
        jurisdictions,
        languages,
        modalities: sorted(f.facets.modalities.clone()),
        payment_options: f.payments.clone(),
        formats: sorted(formats),
        crisis_capable: f.facets.crisis_capable || kind == pb::ProviderKind::CrisisService as i32,
        accepting_new_clients: f.accepting,
        family_involvement: f.facets.family_involvement,
        specialties: sorted(f.facets.specialties.clone()),
        location: (region.is_some() || coordinates.is_some())
            .then(|| pb::Location { region: region.unwrap_or_default(), coordinates }),
        faith_options: faith,
        cultural_options: culture,
        schedule: sorted(schedule),
        typical_wait_days: f.wait,
        unit: f.unit.clone(),
        ..Default::default()
    };
    Ok(Listing {
        service_id: f.id.clone(),
        location_id,
        exported_id: exported_id.clone(),
        provider,
        defaults: f.defaults.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn kind(code: &str) -> Value {
        json!({"id": "a", "taxonomy_term": {"id": "t", "code": code, "taxonomy": "continuum"}})
    }

    #[test]
    fn ages_payments_schedules_and_waits_are_read() {
        assert_eq!(age_groups_for(Some(12.0), Some(17.0)), vec![1, 2]);
        assert_eq!(age_groups_for(Some(18.0), None), vec![3, 4]);
        assert_eq!(age_groups_for(None, Some(12.0)), vec![1]);
        let p = |o: Value| payments_of(&o);
        assert_eq!(p(json!({"amount": 0})), vec![5]);
        assert_eq!(p(json!({"option": "Medi-Cal accepted"})), vec![2]);
        assert_eq!(p(json!({"option": "Sliding scale fee", "amount": 20})), vec![4]);
        assert_eq!(p(json!({"option": "Most insurance plans; self-pay"})), vec![1, 3]);
        assert_eq!(p(json!({"option": "Per session", "amount": 120})), vec![3]);
        assert!(p(json!({"option": "Ask reception"})).is_empty());
        let w = |s: Value| windows_of(&s);
        assert_eq!(
            w(json!({"byday": "MO,WE", "opens_at": "09:00", "closes_at": "17:00"})),
            vec![1]
        );
        assert_eq!(
            w(json!({"byday": "TU,TH", "opens_at": "17:30", "closes_at": "20:30"})),
            vec![2]
        );
        assert_eq!(
            w(json!({"byday": "MO", "opens_at": "10:00:00", "closes_at": "19:00:00"})),
            vec![1, 2]
        );
        assert_eq!(w(json!({"byday": "SA"})), vec![3]);
        assert_eq!(wait_days("10 days"), Some(10));
        assert_eq!(wait_days("About 3 weeks"), Some(21));
        assert_eq!(wait_days("14"), Some(14));
        assert_eq!(wait_days("varies"), None);
        assert_eq!(wait_days("2 years"), None);
    }

    /// The program a service is delivered under is its organization unit, as one line of plain text (what
    /// matching accepts); one over 100 characters is reported, not cut.
    #[test]
    fn the_program_is_the_unit_on_one_line() {
        const ORG: &str = "0190d5a0-0000-7000-8000-000000000001";
        let with_program = |name: &str| {
            json!({
                "id": "s1", "name": "IOP", "status": "active", "minimum_age": 18,
                "program": {"id": "p1", "name": name},
                "languages": [{"id": "l", "code": "en"}], "service_areas": [{"id": "a", "name": "US-CA"}],
                "cost_options": [{"id": "c", "option": "Medi-Cal"}], "attributes": [kind("kind:iop"), kind("format:video")]
            })
        };
        let mut u = Unmapped::default();
        let unit =
            |s: Value, u: &mut Unmapped| map_service(&s, ORG, u).remove(0).unwrap().provider.unit;
        assert_eq!(unit(with_program(" Eastside\tIOP\u{7}\n team "), &mut u), "Eastside IOP team");
        assert_eq!(unit(with_program(&"x".repeat(101)), &mut u), "");
        assert_eq!(u.count("program.name (over 100 characters)"), 1);
        let mut none = with_program("");
        none.as_object_mut().unwrap().remove("program");
        assert_eq!(unit(none, &mut u), "", "no program, no unit");
    }

    fn airs(code: &str, name: &str) -> Value {
        json!({"id": code, "taxonomy_term": {"id": code, "code": code, "name": name, "taxonomy": "AIRS/211 LA County"}})
    }

    #[test]
    fn explicit_continuum_attributes_win_over_the_crosswalk() {
        const ORG: &str = "0190d5a0-0000-7000-8000-000000000001";
        let service = |attributes: Vec<Value>| {
            json!({
                "id": "s1", "name": "Adult program", "status": "active", "minimum_age": 18,
                "languages": [{"id": "l", "code": "en"}], "service_areas": [{"id": "a", "name": "US-CA"}],
                "cost_options": [{"id": "c", "option": "Medi-Cal"}], "attributes": attributes,
                "service_at_locations": [{"id": "sal", "location": {"id": "loc", "location_type": "physical"}}]
            })
        };
        let hotline = "AIRS RP-1500.1400-800 \"Suicide Prevention Hotlines\"";
        let mut u = Unmapped::default();
        let s = service(vec![
            airs("RP-1500.1400-800", "Suicide Prevention Hotlines"),
            kind("kind:iop"),
            kind("modality:dbt"),
        ]);
        let out = map_service(&s, ORG, &mut u);
        let l = out[0].as_ref().unwrap();
        assert_eq!(l.provider.kind, 3, "iop, although the crisis term comes first");
        assert_eq!(
            l.provider.levels_of_care,
            vec![3],
            "the explicit kind's levels, not the term's"
        );
        assert_eq!(l.provider.modalities, vec![2], "dbt only: modalities were stated");
        assert!(!l.provider.crisis_capable);
        assert_eq!(l.provider.specialties, vec![6], "none stated: filled, suicidality");
        assert_eq!(l.provider.formats, vec![1, 3], "in person (the location) and phone (the term)");
        assert_eq!(
            l.defaults,
            vec![
                format!("specialties: suicidality (from {hotline})"),
                format!("formats: phone (from {hotline})"),
            ]
        );

        // Explicit levels without a kind: the kind is inferred, the levels are kept.
        let s = service(vec![
            airs("RP-1400.8000-825", "Suicide Counseling"),
            kind("level:intensive_outpatient"),
            kind("specialty:depression"),
        ]);
        let l = map_service(&s, ORG, &mut u).remove(0).unwrap();
        assert_eq!((l.provider.kind, l.provider.levels_of_care.clone()), (1, vec![3]));
        assert_eq!(l.provider.specialties, vec![1], "depression only");
        assert_eq!(
            l.defaults,
            vec!["kind: clinician (from AIRS RP-1400.8000-825 \"Suicide Counseling\")".to_owned()]
        );
    }

    #[test]
    fn a_service_whose_terms_map_to_nothing_is_refused_naming_them() {
        let s = json!({
            "id": "s9", "name": "Tax help", "status": "active",
            "attributes": [
                airs("DT-8800.9300", "VITA Programs"),
                {"id": "b", "taxonomy_term": {"id": "b", "code": "1110", "name": "Work", "taxonomy": "Open Eligibility"}},
                {"id": "c", "taxonomy_term": {"id": "c", "code": "X1", "name": "Taxes", "taxonomy": "Local"}},
                // Known, but implies no kind on its own.
                {"id": "d", "taxonomy_term": {"id": "d", "code": "1186", "name": "Bereavement", "taxonomy": "Open Eligibility"}}
            ]
        });
        let mut u = Unmapped::default();
        let r = map_service(&s, "0190d5a0-0000-7000-8000-000000000001", &mut u);
        let reasons = &r[0].as_ref().unwrap_err().reasons;
        assert_eq!(
            reasons[0],
            "no provider kind: none of its taxonomy terms (AIRS DT-8800.9300 \"VITA Programs\"; Open Eligibility \"Work\"; taxonomy \"Local\" X1 \"Taxes\"; Open Eligibility \"Bereavement\") maps to a provider kind in the crosswalk of AIRS/211 and Open Eligibility terms; add an attribute of the continuum taxonomy with code kind:<clinician|skills_group|iop|trauma_iop|php|crisis_service|peer_support|bridge_support>, or tag it with a mental-health term the crosswalk knows"
        );
    }

    #[test]
    fn a_service_at_two_locations_is_two_listings_and_gaps_are_refused_with_reasons() {
        let s = json!({
            "id": "s1", "name": "Adult IOP", "status": "active", "minimum_age": 18,
            "languages": [{"id": "l", "code": "en"}, {"id": "l2", "code": "es"}],
            "cost_options": [{"id": "c", "option": "Medi-Cal"}],
            "attributes": [kind("kind:iop")],
            "service_at_locations": [
                {"id": "sal1", "location": {"id": "loc1", "name": "Oakland", "location_type": "physical",
                  "latitude": 37.8, "longitude": -122.27,
                  "addresses": [{"id": "a", "country": "US", "state_province": "CA", "address_type": "physical"}]}},
                {"id": "sal2", "location": {"id": "loc2", "name": "Online", "location_type": "virtual"}}
            ]
        });
        let mut u = Unmapped::default();
        let out = map_service(&s, "0190d5a0-0000-7000-8000-000000000001", &mut u);
        assert_eq!(out.len(), 2);
        let a = out[0].as_ref().unwrap();
        assert_eq!(a.provider.display_name, "Adult IOP (Oakland)");
        assert_eq!(a.provider.levels_of_care, vec![3]);
        assert_eq!(a.provider.jurisdictions, vec!["US-CA"]);
        assert_eq!(a.provider.formats, vec![1]);
        assert_eq!(a.provider.location.as_ref().unwrap().region, "US-CA");
        assert!(a.exported_id.is_none());
        let b = out[1].as_ref().unwrap_err();
        assert_eq!(b.location_id.as_deref(), Some("loc2"));
        assert_eq!(b.reasons.len(), 1, "{:?}", b.reasons);
        assert!(b.reasons[0].starts_with("no jurisdiction"));

        let bare = json!({"id": "s2", "name": "Mystery", "status": "active"});
        let r = map_service(&bare, "0190d5a0-0000-7000-8000-000000000001", &mut u);
        let reasons = &r[0].as_ref().unwrap_err().reasons;
        assert_eq!(reasons.len(), 5, "kind, language, jurisdiction, payment, format: {reasons:?}");
    }
}
