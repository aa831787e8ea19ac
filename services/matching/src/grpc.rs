//! The tonic adapter of the matching service: converts protos to domain types (validating every field and
//! naming each bad one), asks `app::access` who may do what, calls the store and domain, and converts
//! back. No business rule lives here.

use continuum_errors::Violations;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_server::MatchingService;
use continuum_runtime::care::{CareRelationships, Needs};
use continuum_vocab::{AgeGroup, LevelOfCare, Modality, ProblemDomain, RelationalStyle};
use tonic::{Request, Response, Status, Streaming};

use crate::app::access::{self, CapacityAsk};
use crate::config::FitModel;
use crate::convert::{needs_from_proto, ranking_to_proto, scored_to_proto};
use crate::directory_cache::DirectoryCache;
use crate::domain::alliance::{self, StuckAction};
use crate::domain::{self, ClientNeeds, ProviderDraft, ProviderKind};
use crate::error::{Error, Result};
use crate::store::{CapacityChange, ImportResult, NewFeedback, ProviderFilter, Store};

/// The gRPC face of the matching service.
#[derive(Clone, Debug)]
pub struct MatchingApi {
    store: Store,
    model: FitModel,
    cache: std::sync::Arc<DirectoryCache>,
    intake: CareRelationships,
}

/// Valid items per import transaction.
const IMPORT_BATCH: usize = 1000;
/// Item errors listed in an import summary (the counts stay exact).
const MAX_IMPORT_ERRORS: usize = 1000;

impl MatchingApi {
    /// An adapter over `store` with the default fit model, asking `intake` about care relationships.
    pub fn new(store: Store, intake: CareRelationships) -> Self {
        let model = FitModel::default();
        let cache = std::sync::Arc::new(DirectoryCache::new(
            store.clone(),
            model.weights.clone(),
            model.refresh,
        ));
        Self { store, model, cache, intake }
    }

    /// The same adapter with `model` (weights, stuck policy, refresh interval).
    pub fn with_model(self, model: FitModel) -> Self {
        let cache = std::sync::Arc::new(DirectoryCache::new(
            self.store.clone(),
            model.weights.clone(),
            model.refresh,
        ));
        Self { store: self.store, model, cache, intake: self.intake }
    }

    /// Loads the directory snapshot now (start-up warm-up); a failure is logged and retried by the first
    /// Recommend.
    pub async fn warm_directory(&self) {
        if let Err(e) = self.cache.snapshot().await {
            tracing::warn!(error = %e, "directory warm-up failed; the first Recommend will load it");
        }
    }

    async fn rank(&self, needs: &ClientNeeds, top_k: usize) -> Result<pb::RecommendResponse> {
        let dir = self.cache.snapshot().await?;
        let w = self.cache.weights();
        let ranking = dir.rank(needs, w, top_k, chrono::Utc::now().timestamp_millis());
        tracing::info!(
            level = needs.level_of_care.code(),
            age_group = needs.age_group.code(),
            considered = ranking.considered,
            options = ranking.options.len(),
            weights_version = %w.version,
            "recommended"
        );
        Ok(ranking_to_proto(&ranking, &w.version, dir.version()))
    }

    async fn import_flush(
        &self,
        batch: &mut Vec<(usize, ProviderDraft)>,
        summary: &mut pb::ImportProvidersResponse,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(batch);
        let (indices, drafts): (Vec<usize>, Vec<ProviderDraft>) = items.into_iter().unzip();
        let ids: Vec<String> = drafts.iter().map(|d| d.id.clone().unwrap_or_default()).collect();
        let (results, stored) = self.store.import_batch(drafts).await?;
        for ((index, id), r) in indices.into_iter().zip(ids).zip(results) {
            match r {
                ImportResult::Created => summary.created += 1,
                ImportResult::Updated => summary.updated += 1,
                ImportResult::Failed(e) => import_error(summary, index, id, e),
            }
        }
        self.cache.apply(stored).await;
        Ok(())
    }
}

fn import_error(
    summary: &mut pb::ImportProvidersResponse,
    index: usize,
    provider_id: String,
    e: Error,
) {
    summary.failed += 1;
    if summary.errors.len() >= MAX_IMPORT_ERRORS {
        return;
    }
    let status = Status::from(e);
    let fields = continuum_errors::bad_fields_of(&status);
    let reason = continuum_errors::reason_of(&status)
        .map(|r| continuum_errors::reason_code(r).to_owned())
        .unwrap_or_else(|| format!("{:?}", status.code()).to_uppercase());
    let code = match status.code() {
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        _ => "INTERNAL",
    };
    summary.errors.push(pb::ImportItemError {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        provider_id,
        code: code.to_owned(),
        reason: if code == "INVALID_ARGUMENT" || code == "NOT_FOUND" || code == "ALREADY_EXISTS" {
            code.to_owned()
        } else {
            reason
        },
        fields,
        message: status.message().to_owned(),
    });
}

pub use crate::convert::{provider_from_proto, provider_to_proto};

/// A listing's organization must be the caller's: naming another one in a write is refused.
fn check_listing_organization(
    caller: &continuum_auth::Caller,
    organization_id: &str,
) -> Result<()> {
    if caller.belongs_to(organization_id) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "providers can be written only for your own organization".into(),
        ))
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
    async fn upsert_provider(
        &self,
        req: Request<pb::UpsertProviderRequest>,
    ) -> Result<Response<pb::UpsertProviderResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let draft = provider_from_proto(req.provider, req.expected_version)?;
        check_listing_organization(&caller, &draft.organization_id)?;
        let p = self.store.upsert_provider(draft).await?;
        tracing::info!(provider_id = %p.id, version = p.version, "provider stored");
        self.cache.apply(vec![p.clone()]).await;
        Ok(Response::new(pb::UpsertProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn get_provider(
        &self,
        req: Request<pb::GetProviderRequest>,
    ) -> Result<Response<pb::GetProviderResponse>, Status> {
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("provider_id", &req.provider_id);
        let id = v.finish(id)?.unwrap_or_default();
        let p = self.store.get_provider(&id).await?;
        Ok(Response::new(pb::GetProviderResponse { provider: Some(provider_to_proto(&p)) }))
    }

    async fn list_providers(
        &self,
        req: Request<pb::ListProvidersRequest>,
    ) -> Result<Response<pb::ListProvidersResponse>, Status> {
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
            out.extend(
                batch
                    .into_iter()
                    .filter(|p| level.is_none_or(|l| p.profile.levels_of_care.contains(&l))),
            );
        }
        let next = if out.len() as u64 >= limit {
            out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            out.last().map(|p| p.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListProvidersResponse {
            providers: out.iter().map(provider_to_proto).collect(),
            next_page_token: next,
        }))
    }

    async fn update_capacity(
        &self,
        req: Request<pb::UpdateCapacityRequest>,
    ) -> Result<Response<pb::UpdateCapacityResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let id = v.require_uuid("provider_id", &req.provider_id).unwrap_or_default();
        v.optional_str("hold_key", &req.hold_key, 160);
        v.optional_str("gives_back_hold_key", &req.gives_back_hold_key, 160);
        let cohort_code_ok = |c: &str| {
            c.len() <= 64 && c.chars().all(|x| x.is_ascii_alphanumeric() || matches!(x, '-' | '_'))
        };
        if !cohort_code_ok(&req.cohort_code) {
            v.add("cohort_code", "must be letters, digits, '-', '_', up to 64 characters");
        }
        let hold = (!req.hold_key.is_empty()).then_some(req.hold_key.as_str());
        let cohort_code = (!req.cohort_code.is_empty()).then_some(req.cohort_code.as_str());
        let gives_back =
            (!req.gives_back_hold_key.is_empty()).then_some(req.gives_back_hold_key.as_str());
        match req.change {
            None => v.add("change", "one of delta or set_open_slots is required"),
            Some(pb::update_capacity_request::Change::Delta(0)) => v.add("delta", "must not be 0"),
            Some(pb::update_capacity_request::Change::Delta(d)) if d.abs() > domain::MAX_SLOTS => {
                v.add("delta", format!("must be between -{0} and {0}", domain::MAX_SLOTS))
            }
            Some(pb::update_capacity_request::Change::SetOpenSlots(n))
                if !(0..=domain::MAX_SLOTS).contains(&n) =>
            {
                v.add("set_open_slots", format!("must be between 0 and {}", domain::MAX_SLOTS))
            }
            Some(pb::update_capacity_request::Change::Delta(d))
                if d < 0 && gives_back.is_some() =>
            {
                v.add("gives_back_hold_key", "only a positive delta gives capacity back")
            }
            Some(pb::update_capacity_request::Change::SetOpenSlots(_)) if gives_back.is_some() => {
                v.add("gives_back_hold_key", "only a positive delta gives capacity back")
            }
            Some(_) => {}
        }
        v.finish(())?;
        let provider = self.store.get_provider(&id).await?;
        let delta = match req.change {
            Some(pb::update_capacity_request::Change::Delta(d)) => Some(d),
            _ => None,
        };
        let gives_back_here = match gives_back {
            Some(key) if !caller.belongs_to(&provider.organization_id) => {
                Some(self.store.holds(&id, key).await?)
            }
            Some(_) => Some(true),
            None => None,
        };
        access::may_change_capacity(
            &caller,
            &id,
            &provider.organization_id,
            CapacityAsk::of(delta, hold.is_some(), gives_back_here),
        )?;
        let (p, applied) = match req.change {
            Some(pb::update_capacity_request::Change::Delta(delta)) => {
                let change = CapacityChange {
                    provider_id: &id,
                    delta,
                    hold_key: hold,
                    allow_overbook: req.allow_overbook,
                    cohort_code,
                    gives_back,
                };
                self.store.change_capacity(change).await?
            }
            Some(pb::update_capacity_request::Change::SetOpenSlots(n)) => {
                (self.store.set_capacity(&id, n, cohort_code).await?, true)
            }
            None => return Err(Error::invalid("change", "is required").into()),
        };
        tracing::info!(provider_id = %p.id, open_slots = p.open_slots, applied, "capacity changed");
        self.cache.apply(vec![p.clone()]).await;
        Ok(Response::new(pb::UpdateCapacityResponse {
            provider: Some(provider_to_proto(&p)),
            applied,
        }))
    }

    async fn recommend(
        &self,
        req: Request<pb::RecommendRequest>,
    ) -> Result<Response<pb::RecommendResponse>, Status> {
        let req = req.into_inner();
        let needs = needs_from_proto(req.client, None, "")?;
        let top_k = top_k(req.top_k)?;
        Ok(Response::new(self.rank(&needs, top_k).await?))
    }

    async fn recommend_for_client(
        &self,
        req: Request<pb::RecommendForClientRequest>,
    ) -> Result<Response<pb::RecommendForClientResponse>, Status> {
        let req = req.into_inner();
        let needs = needs_from_proto(req.client, req.fit, "");
        let top_k = top_k(req.top_k);
        let (needs, top_k) = merge(needs, top_k)?;
        Ok(Response::new(pb::RecommendForClientResponse {
            ranking: Some(self.rank(&needs, top_k).await?),
        }))
    }

    async fn import_providers(
        &self,
        req: Request<Streaming<pb::UpsertProviderRequest>>,
    ) -> Result<Response<pb::ImportProvidersResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let mut stream = req.into_inner();
        let mut summary = pb::ImportProvidersResponse::default();
        let mut batch: Vec<(usize, ProviderDraft)> = Vec::with_capacity(IMPORT_BATCH);
        let mut ids_in_batch = std::collections::HashSet::new();
        let mut index = 0usize;
        while let Some(item) = stream.message().await? {
            summary.received += 1;
            let id = item.provider.as_ref().map(|p| p.id.clone()).unwrap_or_default();
            match provider_from_proto(item.provider, item.expected_version) {
                Err(e) => import_error(&mut summary, index, id, e),
                Ok(draft)
                    if check_listing_organization(&caller, &draft.organization_id).is_err() =>
                {
                    import_error(
                        &mut summary,
                        index,
                        id,
                        Error::PermissionDenied(
                            "providers can be imported only for your own organization".into(),
                        ),
                    )
                }
                Ok(draft) => {
                    // An id repeated within a batch is written in the next one, so its second write sees the first.
                    if let Some(id) = &draft.id
                        && !ids_in_batch.insert(id.clone())
                    {
                        self.import_flush(&mut batch, &mut summary).await?;
                        ids_in_batch.clear();
                        ids_in_batch.insert(id.clone());
                    }
                    batch.push((index, draft));
                    if batch.len() >= IMPORT_BATCH {
                        self.import_flush(&mut batch, &mut summary).await?;
                        ids_in_batch.clear();
                    }
                }
            }
            index += 1;
        }
        self.import_flush(&mut batch, &mut summary).await?;
        tracing::info!(
            received = summary.received,
            created = summary.created,
            updated = summary.updated,
            failed = summary.failed,
            "providers imported"
        );
        Ok(Response::new(summary))
    }

    async fn assign_batch(
        &self,
        req: Request<pb::AssignBatchRequest>,
    ) -> Result<Response<pb::AssignBatchResponse>, Status> {
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

    async fn list_care_events(
        &self,
        req: Request<pb::ListCareEventsRequest>,
    ) -> Result<Response<pb::ListCareEventsResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
        let req = req.into_inner();
        let mut v = Violations::default();
        let client_id = v.require_uuid("client_id", &req.client_id).unwrap_or_default();
        v.finish(())?;
        let mut feedback = self.store.client_feedback(&client_id).await?;
        // Only feedback with providers of the caller's organization (a peer service acts for one too).
        let mut orgs: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
        for f in &feedback {
            if !orgs.contains_key(&f.provider_id) {
                let own = match self.store.get_provider(&f.provider_id).await {
                    Ok(p) => p.organization_id.eq_ignore_ascii_case(&caller.organization_id),
                    Err(Error::NotFound { .. }) => false,
                    Err(e) => return Err(e.into()),
                };
                orgs.insert(f.provider_id.clone(), own);
            }
        }
        feedback.retain(|f| orgs.get(&f.provider_id).copied().unwrap_or(false));
        let events = crate::care_events::of_feedback(
            &feedback,
            &caller.organization_id.to_ascii_lowercase(),
            &self.model.stuck,
        );
        tracing::info!(client_id = %client_id, events = events.len(), "care events listed");
        Ok(Response::new(pb::ListCareEventsResponse { events }))
    }

    async fn record_session_feedback(
        &self,
        req: Request<pb::RecordSessionFeedbackRequest>,
    ) -> Result<Response<pb::RecordSessionFeedbackResponse>, Status> {
        let caller = continuum_auth::caller(&req)?;
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
        let modality = Modality::optional(&mut v, "modality", req.modality);
        let segment = feedback_segment(&mut v, &req);
        let client_style = req
            .client_relational_style
            .as_ref()
            .map(|s| RelationalStyle::from_proto(&mut v, "client_relational_style", Some(s)));
        let needs = match req.client {
            Some(c) => match needs_from_proto(Some(c), req.fit, "") {
                Ok(n) => Some(n),
                Err(Error::InvalidArgument(more)) => {
                    for f in more.iter() {
                        v.add(f.field.clone(), f.description.clone());
                    }
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        v.finish(())?;
        // The provider's organization records feedback, about a client intake says it may act for.
        access::owns_provider(
            &caller,
            &provider_id,
            &self.store.get_provider(&provider_id).await?.organization_id,
        )?;
        self.intake.check(&caller, &client_id, None, Needs::OwnerOrRecipient).await?;
        let srs_total: f64 = req.srs_items.iter().sum();
        let ors_total: f64 = req.ors_items.iter().sum();
        let (id, provider, history) = self
            .store
            .record_feedback(
                NewFeedback {
                    provider_id: provider_id.clone(),
                    client_id,
                    session_number: req.session_number,
                    srs: req.srs_items,
                    ors: req.ors_items,
                    client_style,
                    segment,
                },
                srs_total,
                ors_total,
            )
            .await?;
        self.cache.apply(vec![provider.clone()]).await;
        let signal = alliance::assess(&history, &self.model.stuck);
        let mut rematch_options = Vec::new();
        if signal.action == StuckAction::Rematch
            && let Some(mut needs) = needs
        {
            // A different modality or clinician: the current provider is excluded, the current modality
            // is ruled out (providers offering only it fail "client_exclusions") and counts as tried.
            needs.fit.excluded_provider_ids.push(provider_id.clone());
            if let Some(m) = modality {
                if !needs.modalities_avoided.contains(&m) {
                    needs.modalities_avoided.push(m);
                }
                needs.fit.modalities_tried.push(m);
            }
            let dir = self.cache.snapshot().await?;
            let ranking =
                dir.rank(&needs, self.cache.weights(), 5, chrono::Utc::now().timestamp_millis());
            rematch_options = ranking.options.iter().map(scored_to_proto).collect();
        }
        let action = match signal.action {
            StuckAction::None => pb::StuckAction::Unspecified,
            StuckAction::Repair => pb::StuckAction::Repair,
            StuckAction::Rematch => pb::StuckAction::Rematch,
        };
        tracing::info!(feedback_id = %id, provider_id = %provider_id, stuck = signal.stuck, action = ?signal.action, "session feedback recorded");
        Ok(Response::new(pb::RecordSessionFeedbackResponse {
            feedback_id: id,
            srs_total,
            ors_total,
            alliance_concern: srs_total < self.model.stuck.srs_concern_below,
            stuck: signal.stuck,
            stuck_reasons: signal.reasons.iter().map(|r| (*r).to_owned()).collect(),
            action: action as i32,
            suggestion: alliance::suggestion(signal.action).to_owned(),
            rematch_options,
            pair_sessions: i32::try_from(history.len()).unwrap_or(i32::MAX),
            observed_relational_style: Some(
                provider.alliance.observed_style(provider.profile.relational_style).to_proto(),
            ),
            provider_feedback_count: i32::try_from(provider.alliance.ratings).unwrap_or(i32::MAX),
            client_segment: segment.map(|s| s.code()).unwrap_or_default(),
            segment_feedback_count: segment
                .and_then(|s| provider.segment_stats(&s.code()))
                .map_or(0, |s| i32::try_from(s.ratings).unwrap_or(i32::MAX)),
        }))
    }
}

/// The client segment of a feedback request: `client_age_group` and `client_main_problem_domain` when
/// given, else derived from `client.age_group` and `fit.problem_domains[0]`. An explicit value that
/// disagrees with the derived one, or a main concern without any age group, is a bad field.
fn feedback_segment(
    v: &mut Violations,
    req: &pb::RecordSessionFeedbackRequest,
) -> Option<alliance::ClientSegment> {
    let age = AgeGroup::optional(v, "client_age_group", req.client_age_group);
    let domain =
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
    if let (Some(a), Some(b)) = (domain, derived_domain)
        && a != b
    {
        v.add("client_main_problem_domain", "differs from fit.problem_domains[0]");
    }
    let age = age.or(derived_age);
    if domain.is_some() && age.is_none() {
        v.add("client_main_problem_domain", "needs client_age_group (or client.age_group)");
    }
    age.map(|age_group| alliance::ClientSegment {
        age_group,
        main_domain: domain.or(derived_domain),
    })
}

fn top_k(k: i32) -> Result<usize> {
    match k {
        0 => Ok(10),
        k @ 1..=50 => Ok(usize::try_from(k).unwrap_or(10)),
        _ => Err(Error::invalid("top_k", "must be between 1 and 50")),
    }
}

/// Both results, or one INVALID_ARGUMENT listing the bad fields of both.
fn merge(needs: Result<ClientNeeds>, k: Result<usize>) -> Result<(ClientNeeds, usize)> {
    match (needs, k) {
        (Ok(n), Ok(k)) => Ok((n, k)),
        (Err(Error::InvalidArgument(mut a)), Err(Error::InvalidArgument(b))) => {
            for f in b.iter() {
                a.add(f.field.clone(), f.description.clone());
            }
            Err(Error::InvalidArgument(a))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}
