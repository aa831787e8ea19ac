//! The tonic adapter of the matching service: converts protos to domain types (validating every field and
//! naming each bad one), calls the store and domain, and converts back. No business rule lives here.

use continuum_errors::Violations;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_server::MatchingService;
use continuum_vocab::{AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle, time};
use tonic::{Request, Response, Status};

use crate::domain::{self, ClientNeeds, Profile, Provider, ProviderDraft, ProviderKind};
use crate::error::{Error, Result};
use crate::store::{NewFeedback, ProviderFilter, Store};

/// The gRPC face of the matching service.
#[derive(Clone, Debug)]
pub struct MatchingApi {
    store: Store,
}

impl MatchingApi {
    /// An adapter over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

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
    }
}

/// Validates a proto provider into a draft, naming every bad field under `provider.`.
pub fn provider_from_proto(p: Option<pb::Provider>, expected_version: i64) -> Result<ProviderDraft> {
    let mut v = Violations::default();
    let Some(p) = p else {
        return Err(Error::invalid("provider", "is required"));
    };
    let id = v.optional_uuid("provider.id", &p.id);
    if expected_version < 0 {
        v.add("expected_version", "must be 0 (create) or a positive version");
    }
    if expected_version > 0 && p.id.is_empty() {
        v.add("provider.id", "is required when replacing a provider");
    }
    let org = v.require_uuid("provider.organization_id", &p.organization_id);
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
    for (i, j) in p.jurisdictions.iter().enumerate() {
        continuum_vocab::check_jurisdiction(&mut v, &format!("provider.jurisdictions[{i}]"), j);
    }
    if p.languages.is_empty() {
        v.add("provider.languages", "must name at least one language");
    }
    for (i, l) in p.languages.iter().enumerate() {
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
    let style = RelationalStyle::from_proto(&mut v, "provider.relational_style", p.relational_style.as_ref());
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
        },
        accepting_new_clients: p.accepting_new_clients,
        open_slots: p.open_slots,
        expected_version,
    })
}

/// Validates a client profile into needs, naming bad fields under `client.`.
pub fn needs_from_proto(c: Option<pb::ClientProfile>) -> Result<ClientNeeds> {
    let Some(c) = c else {
        return Err(Error::invalid("client", "is required"));
    };
    let mut v = Violations::default();
    let level = LevelOfCare::require(&mut v, "client.level_of_care", c.level_of_care);
    let age = AgeGroup::require(&mut v, "client.age_group", c.age_group);
    continuum_vocab::check_jurisdiction(&mut v, "client.jurisdiction", &c.jurisdiction);
    continuum_vocab::check_language(&mut v, "client.language", &c.language);
    let pay = PaymentOption::require(&mut v, "client.payment_option", c.payment_option);
    let formats = CareFormat::list(&mut v, "client.formats", &c.formats);
    let avoided = Modality::list(&mut v, "client.modalities_avoided", &c.modalities_avoided);
    let phase = CarePhase::optional(&mut v, "client.phase", c.phase);
    let style = RelationalStyle::from_proto(&mut v, "client.relational_style", c.relational_style.as_ref());
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
        }),
        _ => Err(Error::InvalidArgument(v)),
    }
}

fn page_size(v: &mut Violations, field: &str, requested: i32, default: u64, max: u64) -> u64 {
    match requested {
        0 => default,
        n if n < 0 || u64::try_from(n).unwrap_or(u64::MAX) > max => {
            v.add(field, format!("must be between 1 and {max}"));
            default
        }
        n => u64::try_from(n).unwrap_or(default),
    }
}

#[tonic::async_trait]
impl MatchingService for MatchingApi {
    async fn upsert_provider(&self, req: Request<pb::UpsertProviderRequest>) -> Result<Response<pb::UpsertProviderResponse>, Status> {
        let req = req.into_inner();
        let draft = provider_from_proto(req.provider, req.expected_version)?;
        let p = self.store.upsert_provider(draft).await?;
        tracing::info!(provider_id = %p.id, version = p.version, "provider stored");
        Ok(Response::new(pb::UpsertProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn get_provider(&self, req: Request<pb::GetProviderRequest>) -> Result<Response<pb::GetProviderResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("provider_id", &req.provider_id);
        let id = v.finish(id)?.unwrap_or_default();
        let p = self.store.get_provider(&id).await?;
        Ok(Response::new(pb::GetProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn list_providers(&self, req: Request<pb::ListProvidersRequest>) -> Result<Response<pb::ListProvidersResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let org = v.optional_uuid("organization_id", &req.organization_id);
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
        let after = v.optional_uuid("page_token", &req.page_token);
        let limit = page_size(&mut v, "page_size", req.page_size, 100, 500);
        v.finish(())?;
        let filter = ProviderFilter { organization_id: org, kind };
        // The level filter reads the profile, so pages are filled by scanning forward.
        let mut out = Vec::new();
        let mut cursor = after;
        let mut more = true;
        while more && (out.len() as u64) < limit {
            let batch = self.store.list_providers(&filter, cursor.as_deref(), limit).await?;
            more = batch.len() as u64 == limit;
            cursor = batch.last().map(|p| p.id.clone());
            out.extend(batch.into_iter().filter(|p| level.is_none_or(|l| p.profile.levels_of_care.contains(&l))));
        }
        let next = if out.len() as u64 >= limit {
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            out.last().map(|p| p.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListProvidersResponse { providers: out.iter().map(provider_to_proto).collect(), next_page_token: next }))
    }

    async fn update_capacity(&self, req: Request<pb::UpdateCapacityRequest>) -> Result<Response<pb::UpdateCapacityResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("provider_id", &req.provider_id).unwrap_or_default();
        v.optional_str("hold_key", &req.hold_key, 160);
        let hold = (!req.hold_key.is_empty()).then_some(req.hold_key.as_str());
        match req.change {
            None => v.add("change", "one of delta or set_open_slots is required"),
            Some(pb::update_capacity_request::Change::Delta(0)) => v.add("delta", "must not be 0"),
            Some(pb::update_capacity_request::Change::Delta(d)) if d.abs() > domain::MAX_SLOTS => {
                v.add("delta", format!("must be between -{0} and {0}", domain::MAX_SLOTS))
            }
            Some(pb::update_capacity_request::Change::SetOpenSlots(n)) if !(0..=domain::MAX_SLOTS).contains(&n) => {
                v.add("set_open_slots", format!("must be between 0 and {}", domain::MAX_SLOTS))
            }
            Some(_) => {}
        }
        v.finish(())?;
        let (p, applied) = match req.change {
            Some(pb::update_capacity_request::Change::Delta(d)) => self.store.change_capacity(&id, d, hold, req.allow_overbook).await?,
            Some(pb::update_capacity_request::Change::SetOpenSlots(n)) => (self.store.set_capacity(&id, n).await?, true),
            None => return Err(Error::invalid("change", "is required").into()),
        };
        tracing::info!(provider_id = %p.id, open_slots = p.open_slots, applied, "capacity changed");
        Ok(Response::new(pb::UpdateCapacityResponse { provider: Some(provider_to_proto(&p)), applied }))
    }

    async fn recommend(&self, req: Request<pb::RecommendRequest>) -> Result<Response<pb::RecommendResponse>, Status> {
        let req = req.into_inner();
        let needs = needs_from_proto(req.client)?;
        let top_k = match req.top_k {
            0 => 10,
            k @ 1..=50 => usize::try_from(k).unwrap_or(10),
            _ => return Err(Error::invalid("top_k", "must be between 1 and 50").into()),
        };
        let providers = self.store.all_providers().await?;
        let ranking = domain::rank(&providers, &needs, top_k);
        tracing::info!(
            level = needs.level_of_care.code(),
            age_group = needs.age_group.code(),
            considered = ranking.considered,
            options = ranking.options.len(),
            "recommended"
        );
        Ok(Response::new(pb::RecommendResponse {
            options: ranking
                .options
                .iter()
                .map(|s| pb::Recommendation {
                    provider: Some(provider_to_proto(&s.provider)),
                    score: s.score,
                    components: s
                        .components
                        .iter()
                        .map(|c| pb::ScoreComponent { name: c.name.to_owned(), weight: c.weight, value: c.value, reason: c.reason.clone() })
                        .collect(),
                    has_capacity: s.provider.open_slots > 0,
                })
                .collect(),
            exclusions: ranking
                .exclusions
                .iter()
                .map(|(c, n)| pb::ConstraintExclusion { constraint: (*c).to_owned(), excluded: *n })
                .collect(),
            considered: ranking.considered,
            weights_version: domain::WEIGHTS_VERSION.to_owned(),
        }))
    }

    async fn assign_batch(&self, req: Request<pb::AssignBatchRequest>) -> Result<Response<pb::AssignBatchResponse>, Status> {
        let req = req.into_inner();
        let batch = crate::batch::batch_from_proto(&req)?;
        let solved = crate::batch::solve_batch(&batch)?;
        Ok(Response::new(pb::AssignBatchResponse {
            assignments: solved
                .assignments
                .into_iter()
                .map(|(client_id, provider_id)| pb::Assignment { client_id, provider_id })
                .collect(),
            objective: solved.objective,
            unassigned_client_ids: solved.unassigned,
        }))
    }

    async fn record_session_feedback(
        &self,
        req: Request<pb::RecordSessionFeedbackRequest>,
    ) -> Result<Response<pb::RecordSessionFeedbackResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let provider_id = v.require_uuid("provider_id", &req.provider_id).unwrap_or_default();
        let client_id = v.require_uuid("client_id", &req.client_id).unwrap_or_default();
        if req.session_number < 1 {
            v.add("session_number", "must be 1 or more");
        }
        for (name, items) in [("srs_items", &req.srs_items), ("ors_items", &req.ors_items)] {
            if items.len() != 4 {
                v.add(name, "must have exactly 4 items");
            }
            for (i, x) in items.iter().enumerate() {
                if !(0.0..=10.0).contains(x) {
                    v.add(format!("{name}[{i}]"), "must be between 0 and 10");
                }
            }
        }
        v.finish(())?;
        self.store.get_provider(&provider_id).await?;
        let srs_total: f64 = req.srs_items.iter().sum();
        let ors_total: f64 = req.ors_items.iter().sum();
        let id = self
            .store
            .record_feedback(
                NewFeedback { provider_id, client_id, session_number: req.session_number, srs: req.srs_items, ors: req.ors_items },
                srs_total,
                ors_total,
            )
            .await?;
        Ok(Response::new(pb::RecordSessionFeedbackResponse {
            feedback_id: id,
            srs_total,
            ors_total,
            alliance_concern: srs_total < domain::SRS_CONCERN_BELOW,
        }))
    }
}
