//! Proto <-> domain conversions of the matching service. Validation happens here and collects every bad
//! field by its proto path; domain and store code never see prost types.

use continuum_errors::page::Paging;
use continuum_errors::{Error, Result, Violations, both};
use continuum_proto::matching::v1 as pb;
use continuum_vocab::ids::{ClientId, OrganizationId, ProviderId};
use continuum_vocab::{
    AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle, time,
};

use crate::domain::{
    self, ClientFit, ClientNeeds, Cohort, ImportItem, Location, OutcomeRating, OutcomeStrength,
    ProblemDomain, Profile, Provider, ProviderDraft, ProviderKind, ScheduleWindow,
};

/// Page sizes of `ListProviders`.
pub const PAGING: Paging = Paging::new(100, 500);

/// Largest number of past cases an outcome rating may claim.
const MAX_CASES: i32 = 1_000_000;

/// The proto form of a provider.
pub fn provider_to_proto(p: &Provider) -> pb::Provider {
    let prof = &p.profile;
    pb::Provider {
        id: p.id.clone(),
        organization_id: p.organization_id.clone(),
        display_name: p.display_name.clone(),
        kind: p.kind.to_proto(),
        levels_of_care: prof.levels_of_care.iter().map(|x| x.to_proto()).collect(),
        age_groups: prof.age_groups.iter().map(|x| x.to_proto()).collect(),
        jurisdictions: prof.jurisdictions.clone(),
        languages: prof.languages.clone(),
        modalities: prof.modalities.iter().map(|x| x.to_proto()).collect(),
        payment_options: prof.payment_options.iter().map(|x| x.to_proto()).collect(),
        formats: prof.formats.iter().map(|x| x.to_proto()).collect(),
        crisis_capable: prof.crisis_capable,
        accepting_new_clients: p.accepting_new_clients,
        open_slots: p.open_slots,
        relational_style: Some(prof.relational_style.to_proto()),
        version: p.version,
        updated_at: Some(time::to_proto(p.updated_at)),
        family_involvement: prof.family_involvement,
        specialties: prof.specialties.iter().map(|x| x.to_proto()).collect(),
        outcome_strengths: prof
            .outcome_strengths
            .iter()
            .map(|o| pb::OutcomeStrength {
                domain: o.domain.to_proto(),
                rating: o.rating.to_proto(),
                cases: o.cases,
            })
            .collect(),
        identity: prof
            .identity
            .as_ref()
            .map(|codes| pb::IdentitySelfDescription { codes: codes.clone() }),
        location: (!prof.location.region.is_empty() || prof.location.coordinates.is_some()).then(
            || pb::Location {
                region: prof.location.region.clone(),
                coordinates: prof
                    .location
                    .coordinates
                    .map(|(latitude, longitude)| pb::Coordinates { latitude, longitude }),
            },
        ),
        cohorts: prof
            .cohorts
            .iter()
            .map(|c| pb::Cohort {
                code: c.code.clone(),
                start_date: Some(time::ms_to_proto(c.start_ms)),
                seats: c.seats,
                open_seats: c.open_seats,
            })
            .collect(),
        faith_options: prof.faith_options.clone(),
        cultural_options: prof.cultural_options.clone(),
        schedule: prof.schedule.iter().map(|x| x.to_proto()).collect(),
        typical_wait_days: prof.typical_wait_days,
        unit: prof.unit.clone(),
        offers_trauma_processing: p.offers_trauma_processing(),
        offers_telehealth: prof.offers_telehealth(),
        observed_relational_style: Some(
            p.alliance.observed_style(prof.relational_style).to_proto(),
        ),
        feedback_count: i32::try_from(p.alliance.ratings).unwrap_or(i32::MAX),
        mean_srs: p.alliance.mean_srs().unwrap_or(0.0),
    }
}

/// Checks a list of codes (lowercase letters, digits, ':', '-', '_', 1..=64 characters; at most 50).
fn codes(v: &mut Violations, field: &str, xs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(xs.len().min(50));
    for (i, x) in v.capped(field, xs, 50).iter().enumerate() {
        let ok = (1..=64).contains(&x.len())
            && x.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '-' | '_')
            });
        if !ok {
            v.add(
                format!("{field}[{i}]"),
                "must be a lowercase code (letters, digits, ':', '-', '_'; up to 64 characters)",
            );
        } else if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// Checks a region code: ISO 3166-2 optionally followed by finer '-' parts ("US-CA", "US-CA-SF").
fn check_region(v: &mut Violations, field: &str, region: &str) {
    if region.is_empty() {
        return;
    }
    let mut parts = region.split('-');
    let country_ok =
        parts.next().is_some_and(|c| c.len() == 2 && c.chars().all(|x| x.is_ascii_uppercase()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|x| x.is_ascii_alphanumeric()));
    if !country_ok || !rest_ok || region.len() > 64 {
        v.add(field, "must be a region code such as \"US-CA\" or \"US-CA-SF\"");
    }
}

fn profile_extras(v: &mut Violations, p: &pb::Provider, kind: Option<ProviderKind>) -> Profile {
    let specialties = ProblemDomain::list(v, "provider.specialties", &p.specialties);
    let strengths =
        v.capped("provider.outcome_strengths", &p.outcome_strengths, ProblemDomain::ALL.len());
    let mut outcomes: Vec<OutcomeStrength> = Vec::with_capacity(strengths.len());
    for (i, o) in strengths.iter().enumerate() {
        let f = format!("provider.outcome_strengths[{i}]");
        let domain = ProblemDomain::require(v, &format!("{f}.domain"), o.domain);
        let rating = OutcomeRating::require(v, &format!("{f}.rating"), o.rating);
        if !(0..=MAX_CASES).contains(&o.cases) {
            v.add(format!("{f}.cases"), format!("must be between 0 and {MAX_CASES}"));
        }
        if let (Some(domain), Some(rating)) = (domain, rating) {
            if outcomes.iter().any(|x| x.domain == domain) {
                v.add(format!("{f}.domain"), "is listed twice");
            } else {
                outcomes.push(OutcomeStrength { domain, rating, cases: o.cases });
            }
        }
    }
    let identity = p.identity.as_ref().map(|id| codes(v, "provider.identity.codes", &id.codes));
    let mut location = Location::default();
    if let Some(l) = &p.location {
        check_region(v, "provider.location.region", &l.region);
        location.region = l.region.clone();
        if let Some(c) = &l.coordinates {
            if !(c.latitude.is_finite() && (-90.0..=90.0).contains(&c.latitude)) {
                v.add("provider.location.coordinates.latitude", "must be between -90 and 90");
            }
            if !(c.longitude.is_finite() && (-180.0..=180.0).contains(&c.longitude)) {
                v.add("provider.location.coordinates.longitude", "must be between -180 and 180");
            }
            location.coordinates = Some((c.latitude, c.longitude));
        }
    }
    let mut cohorts: Vec<Cohort> = Vec::with_capacity(p.cohorts.len());
    if !p.cohorts.is_empty() && kind == Some(ProviderKind::Clinician) {
        v.add("provider.cohorts", "only programs have cohorts; clinicians use open_slots");
    }
    for (i, c) in v.capped("provider.cohorts", &p.cohorts, 200).iter().enumerate() {
        let f = format!("provider.cohorts[{i}]");
        let code_ok = (1..=64).contains(&c.code.len())
            && c.code.chars().all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_'));
        if !code_ok {
            v.add(
                format!("{f}.code"),
                "is required: letters, digits, '-', '_', up to 64 characters",
            );
        } else if cohorts.iter().any(|x| x.code == c.code) {
            v.add(format!("{f}.code"), "is listed twice");
        }
        let start = c.start_date.as_ref().and_then(time::from_proto);
        if start.is_none() {
            v.add(
                format!("{f}.start_date"),
                if c.start_date.is_none() { "is required" } else { "is not a valid time" },
            );
        }
        if !(1..=domain::MAX_SLOTS).contains(&c.seats) {
            v.add(format!("{f}.seats"), format!("must be between 1 and {}", domain::MAX_SLOTS));
        }
        if c.open_seats < 0 || c.open_seats > c.seats {
            v.add(format!("{f}.open_seats"), "must be between 0 and seats");
        }
        cohorts.push(Cohort {
            code: c.code.clone(),
            start_ms: start.map_or(0, time::to_ms),
            seats: c.seats,
            open_seats: c.open_seats,
        });
    }
    let faith_options = codes(v, "provider.faith_options", &p.faith_options);
    let cultural_options = codes(v, "provider.cultural_options", &p.cultural_options);
    let schedule = ScheduleWindow::list(v, "provider.schedule", &p.schedule);
    if !(0..=365).contains(&p.typical_wait_days) {
        v.add("provider.typical_wait_days", "must be between 0 and 365");
    }
    let unit = p.unit.trim();
    if unit.chars().count() > 100 {
        v.add("provider.unit", "must be at most 100 characters");
    } else if unit.chars().any(char::is_control) {
        v.add("provider.unit", "must be plain text on one line (no control characters)");
    }
    Profile {
        specialties,
        outcome_strengths: outcomes,
        identity,
        location,
        cohorts,
        faith_options,
        cultural_options,
        schedule,
        typical_wait_days: p.typical_wait_days,
        unit: unit.to_owned(),
        ..Profile::default()
    }
}

/// Validates a proto provider into a draft, naming every bad field under `provider.`. Output-only fields
/// (version, updated_at, derived flags, feedback statistics) are ignored.
pub fn provider_from_proto(
    p: Option<pb::Provider>,
    expected_version: i64,
) -> Result<ProviderDraft> {
    let mut v = Violations::default();
    let Some(p) = p else {
        return Err(Error::invalid("provider", "is required"));
    };
    let id = ProviderId::optional(&mut v, "provider.id", &p.id);
    if expected_version < 0 {
        v.add("expected_version", "must be 0 (create) or a positive version");
    }
    if expected_version > 0 && p.id.is_empty() {
        v.add("provider.id", "is required when replacing a provider");
    }
    let org = OrganizationId::require(&mut v, "provider.organization_id", &p.organization_id);
    v.require_str("provider.display_name", &p.display_name, 200);
    let kind = ProviderKind::from_proto(p.kind);
    if kind.is_none() {
        v.add("provider.kind", if p.kind == 0 { "is required" } else { "is not a known value" });
    }
    let levels = LevelOfCare::list(&mut v, "provider.levels_of_care", &p.levels_of_care);
    if p.levels_of_care.is_empty() {
        v.add("provider.levels_of_care", "must name at least one level of care");
    }
    let ages = AgeGroup::list(&mut v, "provider.age_groups", &p.age_groups);
    if p.age_groups.is_empty() {
        v.add("provider.age_groups", "must name at least one age group");
    }
    if p.jurisdictions.is_empty() {
        v.add("provider.jurisdictions", "must name at least one jurisdiction");
    }
    for (i, j) in v.capped("provider.jurisdictions", &p.jurisdictions, 50).iter().enumerate() {
        continuum_vocab::check_jurisdiction(&mut v, &format!("provider.jurisdictions[{i}]"), j);
    }
    if p.languages.is_empty() {
        v.add("provider.languages", "must name at least one language");
    }
    for (i, l) in v.capped("provider.languages", &p.languages, 20).iter().enumerate() {
        continuum_vocab::check_language(&mut v, &format!("provider.languages[{i}]"), l);
    }
    let modalities = Modality::list(&mut v, "provider.modalities", &p.modalities);
    let payments = PaymentOption::list(&mut v, "provider.payment_options", &p.payment_options);
    if p.payment_options.is_empty() {
        v.add("provider.payment_options", "must name at least one payment option");
    }
    let formats = CareFormat::list(&mut v, "provider.formats", &p.formats);
    if p.formats.is_empty() {
        v.add("provider.formats", "must name at least one format");
    }
    if !(0..=domain::MAX_SLOTS).contains(&p.open_slots) {
        v.add("provider.open_slots", format!("must be between 0 and {}", domain::MAX_SLOTS));
    }
    let style = RelationalStyle::from_proto(
        &mut v,
        "provider.relational_style",
        p.relational_style.as_ref(),
    );
    let extras = profile_extras(&mut v, &p, kind);
    let (Some(org), Some(kind)) = (org, kind) else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(ProviderDraft {
        id,
        organization_id: org,
        display_name: p.display_name.trim().to_owned(),
        kind,
        profile: Profile {
            levels_of_care: levels,
            age_groups: ages,
            jurisdictions: p.jurisdictions,
            languages: p.languages,
            modalities,
            payment_options: payments,
            formats,
            crisis_capable: p.crisis_capable,
            family_involvement: p.family_involvement,
            relational_style: style,
            ..extras
        },
        accepting_new_clients: p.accepting_new_clients,
        open_slots: p.open_slots,
        expected_version,
    })
}

/// Validates a client profile (and optional fit profile) into needs, naming bad fields under `client.`
/// and `fit.` (with `prefix` in front, for messages that nest them).
pub fn needs_from_proto(
    c: Option<pb::ClientProfile>,
    fit: Option<pb::ClientFit>,
    prefix: &str,
) -> Result<ClientNeeds> {
    let Some(c) = c else {
        return Err(Error::invalid(format!("{prefix}client"), "is required"));
    };
    let mut v = Violations::default();
    let f = |name: &str| format!("{prefix}client.{name}");
    let level = LevelOfCare::require(&mut v, &f("level_of_care"), c.level_of_care);
    let age = AgeGroup::require(&mut v, &f("age_group"), c.age_group);
    continuum_vocab::check_jurisdiction(&mut v, &f("jurisdiction"), &c.jurisdiction);
    continuum_vocab::check_language(&mut v, &f("language"), &c.language);
    let pay = PaymentOption::require(&mut v, &f("payment_option"), c.payment_option);
    let formats = CareFormat::list(&mut v, &f("formats"), &c.formats);
    let avoided = Modality::list(&mut v, &f("modalities_avoided"), &c.modalities_avoided);
    let phase = CarePhase::optional(&mut v, &f("phase"), c.phase);
    let style =
        RelationalStyle::from_proto(&mut v, &f("relational_style"), c.relational_style.as_ref());
    let fit = fit.map(|x| fit_from_proto(&mut v, x, &format!("{prefix}fit."))).unwrap_or_default();
    match (level, age, pay) {
        (Some(level_of_care), Some(age_group), Some(payment_option)) => v.finish(ClientNeeds {
            level_of_care,
            age_group,
            jurisdiction: c.jurisdiction,
            language: c.language,
            payment_option,
            formats,
            modalities_avoided: avoided,
            needs_crisis_capable: c.needs_crisis_capable,
            phase,
            relational_style: style,
            fit,
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

fn fit_from_proto(v: &mut Violations, x: pb::ClientFit, prefix: &str) -> ClientFit {
    let f = |name: &str| format!("{prefix}{name}");
    let domains = ProblemDomain::list(v, &f("problem_domains"), &x.problem_domains);
    check_region(v, &f("region"), &x.region);
    let ids = v.capped(&f("excluded_provider_ids"), &x.excluded_provider_ids, 1000);
    let mut excluded = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = ProviderId::require(v, &format!("{prefix}excluded_provider_ids[{i}]"), id)
        {
            excluded.push(id.into_string());
        }
    }
    let location = x.location.as_ref().map(|c| {
        if !(c.latitude.is_finite() && (-90.0..=90.0).contains(&c.latitude)) {
            v.add(f("location.latitude"), "must be between -90 and 90");
        }
        if !(c.longitude.is_finite() && (-180.0..=180.0).contains(&c.longitude)) {
            v.add(f("location.longitude"), "must be between -180 and 180");
        }
        (c.latitude, c.longitude)
    });
    if !(0..=100).contains(&x.programs_cycled) {
        v.add(f("programs_cycled"), "must be between 0 and 100");
    }
    ClientFit {
        problem_domains: domains,
        modalities_wanted: Modality::list(v, &f("modalities_wanted"), &x.modalities_wanted),
        modalities_tried: Modality::list(
            v,
            &f("modalities_tried_without_help"),
            &x.modalities_tried_without_help,
        ),
        identity_preferences: codes(v, &f("identity_preferences"), &x.identity_preferences),
        faith_preferences: codes(v, &f("faith_preferences"), &x.faith_preferences),
        cultural_preferences: codes(v, &f("cultural_preferences"), &x.cultural_preferences),
        region: x.region,
        schedule: ScheduleWindow::list(v, &f("schedule"), &x.schedule),
        excluded_provider_ids: excluded,
        programs_cycled: x.programs_cycled,
        location,
    }
}

/// The proto form of a ranking.
pub fn ranking_to_proto(
    r: &domain::Ranking,
    weights_version: &str,
    directory_version: i64,
) -> pb::RecommendResponse {
    pb::RecommendResponse {
        options: r.options.iter().map(scored_to_proto).collect(),
        exclusions: r
            .exclusions
            .iter()
            .map(|(c, n)| pb::ConstraintExclusion { constraint: (*c).to_owned(), excluded: *n })
            .collect(),
        considered: r.considered,
        weights_version: weights_version.to_owned(),
        directory_version,
    }
}

/// The proto form of one ranked option.
pub fn scored_to_proto(s: &domain::Scored) -> pb::Recommendation {
    pb::Recommendation {
        provider: Some(provider_to_proto(&s.provider)),
        score: s.score,
        components: s
            .components
            .iter()
            .map(|c| pb::ScoreComponent {
                name: c.name.to_owned(),
                weight: c.weight,
                value: c.value,
                reason: c.reason.clone(),
            })
            .collect(),
        has_capacity: s.provider.open_slots > 0,
    }
}

/// Item failures listed in an import summary (the counts stay exact).
pub use crate::app::MAX_IMPORT_ERRORS;

/// Longest `import_key`, in characters.
pub const MAX_IMPORT_KEY_CHARS: usize = 128;

/// One import item as a validated [`ImportItem`], with every bad field named (`provider.*`, `import_key`,
/// `expected_version`).
pub fn import_item_from_proto(item: pb::ImportProvidersRequest) -> Result<ImportItem> {
    let mut v = Violations::default();
    v.require_str("import_key", &item.import_key, MAX_IMPORT_KEY_CHARS);
    let draft = v.absorb(provider_from_proto(item.provider, item.expected_version))?;
    match draft {
        Some(draft) if v.is_empty() => {
            let fingerprint = draft.fingerprint().map_err(|e| Error::Unexpected(e.into()))?;
            Ok(ImportItem { key: item.import_key, fingerprint, draft })
        }
        _ => Err(Error::InvalidArgument(v)),
    }
}

/// A required provider id.
pub fn provider_id(value: &str) -> Result<ProviderId> {
    let mut v = Violations::default();
    ProviderId::require(&mut v, "provider_id", value).ok_or(Error::InvalidArgument(v))
}

/// A required client id.
pub fn client_id(value: &str) -> Result<ClientId> {
    let mut v = Violations::default();
    ClientId::require(&mut v, "client_id", value).ok_or(Error::InvalidArgument(v))
}

/// A `ListProviders` request as a directory query.
pub fn provider_query(req: &pb::ListProvidersRequest) -> Result<crate::app::ProviderQuery> {
    let mut v = Violations::default();
    let organization_id = OrganizationId::optional(&mut v, "organization_id", &req.organization_id);
    let kind = match req.kind {
        0 => None,
        k => {
            let kind = ProviderKind::from_proto(k);
            if kind.is_none() {
                v.add("kind", "is not a known value");
            }
            kind
        }
    };
    let level = LevelOfCare::optional(&mut v, "level_of_care", req.level_of_care);
    let page = PAGING.read(&mut v, req.page_size, &req.page_token);
    v.finish(crate::app::ProviderQuery {
        filter: crate::store::ProviderFilter { organization_id, kind },
        level,
        page,
    })
}

/// An `UpdateCapacity` request as a command, naming every bad field.
pub fn capacity_command(req: pb::UpdateCapacityRequest) -> Result<crate::app::CapacityCommand> {
    use crate::app::CapacityMove;
    use pb::update_capacity_request::Change;
    let mut v = Violations::default();
    let provider_id = ProviderId::require(&mut v, "provider_id", &req.provider_id);
    v.optional_str("hold_key", &req.hold_key, 160);
    v.optional_str("gives_back_hold_key", &req.gives_back_hold_key, 160);
    let cohort_code_ok = |c: &str| {
        c.len() <= 64 && c.chars().all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_'))
    };
    if !cohort_code_ok(&req.cohort_code) {
        v.add("cohort_code", "must be letters, digits, '-', '_', up to 64 characters");
    }
    let gives_back = !req.gives_back_hold_key.is_empty();
    let change = match req.change {
        None => {
            v.add("change", "one of delta or set_open_slots is required");
            CapacityMove::Delta(0)
        }
        Some(Change::Delta(0)) => {
            v.add("delta", "must not be 0");
            CapacityMove::Delta(0)
        }
        // A range, not `d.abs()`: i32::MIN has no absolute value (a panic with overflow checks on, a
        // negative "absolute value" that passed the check without them).
        Some(Change::Delta(d)) if !(-domain::MAX_SLOTS..=domain::MAX_SLOTS).contains(&d) => {
            v.add("delta", format!("must be between -{0} and {0}", domain::MAX_SLOTS));
            CapacityMove::Delta(d)
        }
        Some(Change::SetOpenSlots(n)) if !(0..=domain::MAX_SLOTS).contains(&n) => {
            v.add("set_open_slots", format!("must be between 0 and {}", domain::MAX_SLOTS));
            CapacityMove::Set(n)
        }
        Some(Change::Delta(d)) => CapacityMove::Delta(d),
        Some(Change::SetOpenSlots(n)) => CapacityMove::Set(n),
    };
    let gives_back_wrongly = match change {
        CapacityMove::Delta(d) => d < 0,
        CapacityMove::Set(_) => true,
    };
    if gives_back && gives_back_wrongly {
        v.add("gives_back_hold_key", "only a positive delta gives capacity back");
    }
    let or_providers = or_provider_ids(&mut v, &req, provider_id.as_ref(), change);
    let some = |s: String| (!s.is_empty()).then_some(s);
    let Some(provider_id) = provider_id else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(crate::app::CapacityCommand {
        provider_id,
        change,
        hold_key: some(req.hold_key),
        gives_back: some(req.gives_back_hold_key),
        cohort_code: some(req.cohort_code),
        allow_overbook: req.allow_overbook,
        or_providers,
    })
}

/// The providers a take may fall back to (`or_provider_ids`): only for a take of one slot under a hold
/// key, neither overbooking nor naming a cohort; each a provider id listed once (the request's own
/// included), at most [`domain::MAX_OR_PROVIDERS`].
fn or_provider_ids(
    v: &mut Violations,
    req: &pb::UpdateCapacityRequest,
    provider_id: Option<&ProviderId>,
    change: crate::app::CapacityMove,
) -> Vec<ProviderId> {
    const FIELD: &str = "or_provider_ids";
    let ids = &req.or_provider_ids;
    if ids.is_empty() {
        return Vec::new();
    }
    let take_one = change == crate::app::CapacityMove::Delta(-1)
        && !req.hold_key.is_empty()
        && !req.allow_overbook
        && req.cohort_code.is_empty();
    if !take_one {
        v.add(
            FIELD,
            "only a take of one slot (delta -1) under a hold key, without allow_overbook or cohort_code, falls back to other providers",
        );
    }
    if !v.within_limit(FIELD, ids, domain::MAX_OR_PROVIDERS) {
        return Vec::new();
    }
    ProviderId::require_each_once(v, FIELD, ids, provider_id)
}

/// The number of options asked for (0: 10), 1..50; a bad one is named `{prefix}top_k`.
pub fn top_k(k: i32, prefix: &str) -> Result<usize> {
    match k {
        0 => Ok(10),
        k @ 1..=50 => Ok(usize::try_from(k).unwrap_or(10)),
        _ => Err(Error::invalid(format!("{prefix}top_k"), "must be between 1 and 50")),
    }
}

/// Most rankings one `BatchRecommendForClient` call asks for.
pub const MAX_BATCH_RECOMMEND: usize = 10;

/// Validates a batch of ranking requests into (needs, top_k) pairs in the request's order, naming every
/// bad field of every item under `requests[i].`; an empty list, or one over [`MAX_BATCH_RECOMMEND`]
/// (its items unread), is a bad `requests`.
pub fn batch_recommend_from_proto(
    req: pb::BatchRecommendForClientRequest,
) -> Result<Vec<(ClientNeeds, usize)>> {
    let mut v = Violations::default();
    if req.requests.is_empty() {
        v.add("requests", "is required");
    }
    let within = v.within_limit("requests", &req.requests, MAX_BATCH_RECOMMEND);
    let items = if within { req.requests } else { Vec::new() };
    items.into_iter().enumerate().fold(v.finish(Vec::new()), |asks, (i, item)| {
        let prefix = format!("requests[{i}].");
        let ask =
            both(needs_from_proto(item.client, item.fit, &prefix), top_k(item.top_k, &prefix));
        both(asks, ask).map(|(mut asks, ask)| {
            asks.push(ask);
            asks
        })
    })
}

/// The proto form of a recommendation.
pub fn recommendation_to_proto(r: &crate::app::Recommendation) -> pb::RecommendResponse {
    ranking_to_proto(&r.ranking, &r.weights_version, r.directory_version)
}

/// The client segment of a feedback request: `client_age_group` and `client_main_problem_domain` when
/// given, else derived from `client.age_group` and `fit.problem_domains[0]`. An explicit value that
/// disagrees with the derived one, or a main concern without any age group, is a bad field.
fn feedback_segment(
    v: &mut Violations,
    req: &pb::RecordSessionFeedbackRequest,
) -> Option<domain::alliance::ClientSegment> {
    let age = AgeGroup::optional(v, "client_age_group", req.client_age_group);
    let main =
        ProblemDomain::optional(v, "client_main_problem_domain", req.client_main_problem_domain);
    let derived_age = req.client.as_ref().and_then(|c| AgeGroup::from_proto(c.age_group));
    let derived_domain = req
        .fit
        .as_ref()
        .and_then(|f| f.problem_domains.first())
        .and_then(|d| ProblemDomain::from_proto(*d));
    if let (Some(a), Some(b)) = (age, derived_age)
        && a != b
    {
        v.add("client_age_group", "differs from client.age_group");
    }
    if let (Some(a), Some(b)) = (main, derived_domain)
        && a != b
    {
        v.add("client_main_problem_domain", "differs from fit.problem_domains[0]");
    }
    let age = age.or(derived_age);
    if main.is_some() && age.is_none() {
        v.add("client_main_problem_domain", "needs client_age_group (or client.age_group)");
    }
    age.map(|age_group| domain::alliance::ClientSegment {
        age_group,
        main_domain: main.or(derived_domain),
    })
}

/// A `RecordSessionFeedback` request as a command, naming every bad field.
pub fn feedback_command(
    req: pb::RecordSessionFeedbackRequest,
) -> Result<crate::app::FeedbackCommand> {
    let mut v = Violations::default();
    let provider_id = ProviderId::require(&mut v, "provider_id", &req.provider_id);
    let client_id = ClientId::require(&mut v, "client_id", &req.client_id);
    if req.session_number < 1 {
        v.add("session_number", "must be 1 or more");
    }
    for (name, items) in [("srs_items", &req.srs_items), ("ors_items", &req.ors_items)] {
        if items.len() != 4 {
            v.add(name, "must have exactly 4 items");
        }
        // More than 4: the one violation above, the items unread.
        for (i, x) in items.iter().take(4).enumerate() {
            if !(0.0..=10.0).contains(x) {
                v.add(format!("{name}[{i}]"), "must be between 0 and 10");
            }
        }
    }
    let modality = Modality::optional(&mut v, "modality", req.modality);
    let segment = feedback_segment(&mut v, &req);
    let client_style = req
        .client_relational_style
        .as_ref()
        .map(|s| RelationalStyle::from_proto(&mut v, "client_relational_style", Some(s)));
    let needs = match req.client {
        Some(c) => v.absorb(needs_from_proto(Some(c), req.fit, ""))?,
        None => None,
    };
    let (Some(provider_id), Some(client_id)) = (provider_id, client_id) else {
        return Err(Error::InvalidArgument(v));
    };
    v.finish(crate::app::FeedbackCommand {
        provider_id,
        client_id,
        session_number: req.session_number,
        srs: req.srs_items,
        ors: req.ors_items,
        modality,
        segment,
        client_style,
        needs,
    })
}

/// The proto form of recorded feedback.
pub fn feedback_outcome_to_proto(
    o: &crate::app::FeedbackOutcome,
) -> pb::RecordSessionFeedbackResponse {
    use domain::alliance::{self, StuckAction};
    let action = match o.signal.action {
        StuckAction::None => pb::StuckAction::Unspecified,
        StuckAction::Repair => pb::StuckAction::Repair,
        StuckAction::Rematch => pb::StuckAction::Rematch,
    };
    let p = &o.provider;
    pb::RecordSessionFeedbackResponse {
        feedback_id: o.feedback_id.clone(),
        srs_total: o.srs_total,
        ors_total: o.ors_total,
        alliance_concern: o.alliance_concern,
        stuck: o.signal.stuck,
        stuck_reasons: o.signal.reasons.iter().map(|r| (*r).to_owned()).collect(),
        action: action as i32,
        suggestion: alliance::suggestion(o.signal.action).to_owned(),
        rematch_options: o
            .rematch
            .iter()
            .flat_map(|r| r.options.iter().map(scored_to_proto))
            .collect(),
        pair_sessions: i32::try_from(o.pair_sessions).unwrap_or(i32::MAX),
        observed_relational_style: Some(
            p.alliance.observed_style(p.profile.relational_style).to_proto(),
        ),
        provider_feedback_count: i32::try_from(p.alliance.ratings).unwrap_or(i32::MAX),
        client_segment: o.segment.map(|s| s.code()).unwrap_or_default(),
        segment_feedback_count: o
            .segment
            .and_then(|s| p.segment_stats(&s.code()))
            .map_or(0, |s| i32::try_from(s.ratings).unwrap_or(i32::MAX)),
    }
}

/// The proto form of an import's summary: the exact counts, every stored item, and the first
/// [`MAX_IMPORT_ERRORS`] failures with their code, stable reason and bad fields.
pub fn import_summary_to_proto(s: crate::app::ImportSummary) -> pb::ImportProvidersResponse {
    let errors = s
        .failures
        .into_iter()
        .take(MAX_IMPORT_ERRORS)
        .map(|f| {
            let status = tonic::Status::from(f.error);
            let fields = continuum_errors::bad_fields_of(&status);
            let code = match status.code() {
                tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
                tonic::Code::NotFound => "NOT_FOUND",
                tonic::Code::AlreadyExists => "ALREADY_EXISTS",
                tonic::Code::Aborted => "ABORTED",
                tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
                tonic::Code::PermissionDenied => "PERMISSION_DENIED",
                _ => "INTERNAL",
            };
            let reason = match (code, continuum_errors::reason_of(&status)) {
                ("INVALID_ARGUMENT" | "NOT_FOUND" | "ALREADY_EXISTS", _) | (_, None) => {
                    code.to_owned()
                }
                (_, Some(r)) => continuum_errors::reason_code(r).to_owned(),
            };
            pb::ImportItemError {
                index: i32::try_from(f.index).unwrap_or(i32::MAX),
                provider_id: f.provider_id,
                code: code.to_owned(),
                reason,
                fields,
                message: status.message().to_owned(),
            }
        })
        .collect();
    let imported = s
        .stored
        .into_iter()
        .map(|x| pb::ImportedProvider {
            index: i32::try_from(x.index).unwrap_or(i32::MAX),
            import_key: x.key,
            provider_id: x.item.provider_id,
            version: x.item.version,
            outcome: match x.item.outcome {
                domain::ImportOutcome::Created => pb::ImportOutcome::Created,
                domain::ImportOutcome::Updated => pb::ImportOutcome::Updated,
                domain::ImportOutcome::Unchanged => pb::ImportOutcome::Unchanged,
            } as i32,
        })
        .collect();
    pb::ImportProvidersResponse {
        received: s.received,
        created: s.created,
        updated: s.updated,
        failed: s.failed,
        errors,
        unchanged: s.unchanged,
        imported,
    }
}

#[cfg(test)]
#[path = "convert_proptests.rs"]
mod proptests;
