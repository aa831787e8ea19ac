//! Referrals as FHIR Tasks, following the Gravity SDOH closed-loop referral pattern: `Task.focus` is the
//! ServiceRequest (the intake's recommended level of care), `Task.for` the client, `Task.requester` the
//! referring organization, `Task.owner` the recipient, `Task.intent` `order`, `Task.code` `fulfill`.
//!
//! Status mapping (referral status and events -> `Task.status` / `Task.businessStatus`):
//!
//! | referral | Task.status | businessStatus (latest step) |
//! |---|---|---|
//! | draft | draft | |
//! | requested | requested | `escalated` when past its deadline and escalated |
//! | requested, receipt acknowledged | received | `received` |
//! | accepted | accepted | `scheduled`, `no-show`, `appointment-cancelled` |
//! | in-progress (first appointment attended: the loop is closed) | in-progress | `first-appointment-attended`, `second-appointment-attended` |
//! | completed / rejected / cancelled / failed / on-hold / entered-in-error | the same code | `expired`, `rerouted` on a failed or rejected referral Continuum re-routed |
//!
//! A change (PATCH or PUT by a party to the referral, normally the recipient) is ONE `TransitionReferral` at
//! the version of `If-Match`: a new `status` picks the action (received: mark received; accepted: accept, or
//! resume from on-hold; rejected: reject with `statusReason`; in-progress: first appointment attended, or
//! resume; completed; failed; on-hold; cancelled; entered-in-error; requested: send a draft); the same status
//! with a new `businessStatus` records an appointment step (scheduled needs `executionPeriod.start`, the
//! appointment time). Only `status`, `businessStatus`, `statusReason` and `executionPeriod` may differ from the
//! Task as read; the referral service decides whether the caller's side may take the action.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use continuum_proto::common::v1 as common;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::transition_referral_request::{
    Action, Appointment, Plain, Reject, Schedule,
};
use fhir_model::r4b::codes::{BundleType, IssueType, SearchEntryMode, TaskIntent, TaskStatus};
use fhir_model::r4b::resources::{Bundle, BundleEntry, BundleEntrySearch, BundleLink, Task};
use fhir_model::r4b::types::Period;
use http::{HeaderMap, StatusCode};

use super::model::{concept, date_time, first_code, instant, meta, reference, timestamp};
use super::vocab::{TASK_CODE, priority, system};
use crate::error::{Error, Issue, Result};
use crate::startup::AppState;
use crate::upstream::Caller;

/// Finer referral steps (`Task.businessStatus`): (code, display, the action that records it).
const BUSINESS_STATUSES: [(&str, &str, rpb::ReferralAction); 9] = [
    ("received", "Received by the recipient", rpb::ReferralAction::MarkReceived),
    ("scheduled", "First appointment scheduled", rpb::ReferralAction::Schedule),
    ("no-show", "Client did not attend", rpb::ReferralAction::RecordNoShow),
    ("appointment-cancelled", "Appointment cancelled", rpb::ReferralAction::CancelAppointment),
    (
        "first-appointment-attended",
        "First appointment attended (loop closed)",
        rpb::ReferralAction::RecordFirstAppointmentAttended,
    ),
    (
        "second-appointment-attended",
        "Second appointment attended",
        rpb::ReferralAction::RecordSecondAppointmentAttended,
    ),
    (
        "escalated",
        "Unanswered past its deadline; coordinator alerted",
        rpb::ReferralAction::Escalate,
    ),
    ("expired", "Expired unanswered", rpb::ReferralAction::Expire),
    ("rerouted", "Client re-routed to another referral", rpb::ReferralAction::Reroute),
];

/// Rejection reasons (`Task.statusReason` of a rejected Task).
const REJECTION_REASONS: [(&str, &str, rpb::RejectionReason); 5] = [
    ("no-capacity", "No capacity", rpb::RejectionReason::NoCapacity),
    (
        "level-of-care-not-offered",
        "Level of care not offered",
        rpb::RejectionReason::LevelOfCareNotOffered,
    ),
    ("payment", "Payment not accepted", rpb::RejectionReason::Payment),
    ("client-declined", "Client declined", rpb::RejectionReason::ClientDeclined),
    ("other", "Other", rpb::RejectionReason::Other),
];

/// The businessStatus code system.
pub fn business_status_system() -> String {
    system("referral-business-status")
}

/// The rejection reason code system.
pub fn rejection_reason_system() -> String {
    system("referral-rejection-reason")
}

fn action_of(e: &rpb::ReferralEvent) -> rpb::ReferralAction {
    rpb::ReferralAction::try_from(e.action).unwrap_or_default()
}

/// The Task status and businessStatus code of a referral (see the module table).
pub fn status_of(r: &rpb::Referral) -> (TaskStatus, Option<&'static str>) {
    use rpb::ReferralStatus as S;
    let status = rpb::ReferralStatus::try_from(r.status).unwrap_or_default();
    // The latest step that has a businessStatus code.
    let business = r.events.iter().rev().find_map(|e| {
        let a = action_of(e);
        BUSINESS_STATUSES.iter().find(|(_, _, act)| *act == a).map(|(code, _, _)| *code)
    });
    let received = r.events.iter().any(|e| action_of(e) == rpb::ReferralAction::MarkReceived);
    let task = match status {
        S::Draft => TaskStatus::Draft,
        S::Requested if received => TaskStatus::Received,
        S::Requested | S::Unspecified => TaskStatus::Requested,
        S::Accepted => TaskStatus::Accepted,
        S::Rejected => TaskStatus::Rejected,
        S::Cancelled => TaskStatus::Cancelled,
        S::InProgress => TaskStatus::InProgress,
        S::OnHold => TaskStatus::OnHold,
        S::Failed => TaskStatus::Failed,
        S::Completed => TaskStatus::Completed,
        S::EnteredInError => TaskStatus::EnteredInError,
    };
    (task, business)
}

/// The referral as a Task.
pub fn task(r: &rpb::Referral) -> std::result::Result<Task, fhir_model::BuilderError> {
    let (status, business) = status_of(r);
    let mut b = Task::builder()
        .id(r.id.clone())
        .meta(meta(Some(r.version), instant(r.updated_at.as_ref()))?)
        .status(status)
        .intent(TaskIntent::_Custom("order".to_owned()))
        .code(concept(TASK_CODE, "fulfill", Some("Fulfill the focal request"))?)
        .focus(reference("ServiceRequest", &r.intake_id)?)
        .r#for(reference("Patient", &r.client_id)?)
        .requester(reference("Organization", &r.referrer_organization_id)?)
        .owner(reference("Organization", &r.recipient_organization_id)?);
    if let Some(p) = priority(common::Urgency::try_from(r.urgency).unwrap_or_default()) {
        b = b.priority(p);
    }
    if let Some(t) = date_time(r.created_at.as_ref()) {
        b = b.authored_on(t);
    }
    if let Some(t) = date_time(r.updated_at.as_ref()) {
        b = b.last_modified(t);
    }
    if let Some(code) = business {
        let display = BUSINESS_STATUSES.iter().find(|(c, _, _)| *c == code).map(|(_, d, _)| *d);
        b = b.business_status(concept(&business_status_system(), code, display)?);
    }
    let rejection =
        r.events.iter().rev().find(|e| action_of(e) == rpb::ReferralAction::Reject).and_then(|e| {
            REJECTION_REASONS.iter().find(|(_, _, reason)| *reason as i32 == e.rejection_reason)
        });
    if status == TaskStatus::Rejected
        && let Some((code, display, _)) = rejection
    {
        b = b.status_reason(concept(&rejection_reason_system(), code, Some(display))?);
    }
    if let Some(due) = date_time(r.response_due_at.as_ref()) {
        // The recipient's response deadline: the period within which the Task is to be answered.
        b = b.restriction(
            fhir_model::r4b::resources::TaskRestriction::builder()
                .period(Period::builder().end(due).build()?)
                .build()?,
        );
    }
    b.build()
}

fn task_response(r: &rpb::Referral, status: StatusCode) -> Result<Response> {
    let mut response = super::fhir_json(status, &task(r)?);
    if let Ok(v) = http::HeaderValue::from_str(&super::etag(r.version)) {
        response.headers_mut().insert(http::header::ETAG, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&format!("Task/{}/_history/{}", r.id, r.version)) {
        response.headers_mut().insert(http::header::CONTENT_LOCATION, v);
    }
    Ok(response)
}

/// Reads one referral with the caller's credentials (another organization's is NOT_FOUND upstream: 404).
async fn get_referral(state: &AppState, caller: &Caller, id: &str) -> Result<rpb::Referral> {
    let mut client = state.upstreams.referral.clone();
    let resp = client
        .get_referral(caller.request(rpb::GetReferralRequest { referral_id: id.to_owned() }))
        .await?;
    resp.into_inner().referral.ok_or_else(|| {
        Error::Unexpected(anyhow::anyhow!("GetReferral answered without a referral"))
    })
}

/// `GET /fhir/Task/{id}`.
pub async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    let referral = get_referral(&state, &caller, &id).await?;
    tracing::info!(referral_id = %referral.id, "task read");
    task_response(&referral, StatusCode::OK)
}

/// The search parameters of `GET /fhir/Task`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SearchParams {
    /// `Organization/<id>`: Tasks this organization is the recipient (owner) of.
    pub owner: Option<String>,
    /// `Organization/<id>`: Tasks this organization requested (referrer).
    pub requester: Option<String>,
    /// A Task status code.
    pub status: Option<String>,
    /// Page size (1..50, default 20).
    #[serde(rename = "_count")]
    pub count: Option<u32>,
    /// The page token of a `next` link.
    #[serde(rename = "_page_token")]
    pub page_token: Option<String>,
}

fn organization_param(name: &str, value: Option<&String>) -> Result<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    let id = v.strip_prefix("Organization/").unwrap_or(v);
    if id.is_empty() || id.contains('/') {
        return Err(Error::bad(
            IssueType::Value,
            name,
            format!("{name} must be Organization/<id>"),
        ));
    }
    Ok(Some(id.to_ascii_lowercase()))
}

/// The referral status a Task status filter is answered from (received: requested, then filtered).
fn referral_status(task_status: &str) -> Option<rpb::ReferralStatus> {
    use rpb::ReferralStatus as S;
    Some(match task_status {
        "draft" => S::Draft,
        "requested" | "received" => S::Requested,
        "accepted" => S::Accepted,
        "rejected" => S::Rejected,
        "cancelled" => S::Cancelled,
        "in-progress" => S::InProgress,
        "on-hold" => S::OnHold,
        "failed" => S::Failed,
        "completed" => S::Completed,
        "entered-in-error" => S::EnteredInError,
        _ => return None,
    })
}

/// `GET /fhir/Task?owner=Organization/<id>&requester=...&status=...`: a searchset, newest first.
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    let owner = organization_param("owner", params.owner.as_ref())?;
    let requester = organization_param("requester", params.requester.as_ref())?;
    if let (Some(o), Some(r)) = (&owner, &requester)
        && o != r
    {
        // Both are answered from one organization's referrals; a pair of different ones is not supported.
        return Err(Error::bad(
            IssueType::NotSupported,
            "requester",
            "owner and requester must name the same organization when both are given",
        ));
    }
    let status_filter = match params.status.as_deref() {
        None => None,
        Some(s) => {
            let not_a_status =
                || Error::bad(IssueType::Value, "status", format!("{s:?} is not a Task status"));
            let task_status = s.parse::<TaskStatus>().map_err(|_| not_a_status())?;
            Some((task_status, referral_status(s).ok_or_else(not_a_status)?))
        }
    };
    let count = params.count.unwrap_or(20).clamp(1, 50);
    let organization = owner.clone().or_else(|| requester.clone()).unwrap_or_default();
    let mut client = state.upstreams.referral.clone();
    let page = client
        .list_referrals(caller.request(rpb::ListReferralsRequest {
            organization_id: organization.clone(),
            status: status_filter.as_ref().map_or(0, |(_, s)| *s as i32),
            page_size: i32::try_from(count).unwrap_or(20),
            page_token: params.page_token.clone().unwrap_or_default(),
            ..Default::default()
        }))
        .await?
        .into_inner();
    let mut entries = Vec::new();
    for listed in page.referrals {
        if owner.as_ref().is_some_and(|o| !listed.recipient_organization_id.eq_ignore_ascii_case(o))
            || requester
                .as_ref()
                .is_some_and(|r| !listed.referrer_organization_id.eq_ignore_ascii_case(r))
        {
            continue;
        }
        // The list carries no events; the Task's status (received) and businessStatus need them.
        let referral = get_referral(&state, &caller, &listed.id).await?;
        let t = task(&referral)?;
        if status_filter.as_ref().is_some_and(|(want, _)| t.status != *want) {
            continue;
        }
        let mut entry = BundleEntry::builder()
            .resource(fhir_model::r4b::resources::Resource::Task(t))
            .search(BundleEntrySearch::builder().mode(SearchEntryMode::Match).build()?);
        if !state.base_url.is_empty() {
            entry = entry.full_url(format!("{}/fhir/Task/{}", state.base_url, referral.id));
        }
        entries.push(Some(entry.build()?));
    }
    let mut query = Vec::new();
    for (k, v) in
        [("owner", &params.owner), ("requester", &params.requester), ("status", &params.status)]
    {
        if let Some(v) = v {
            query.push(format!("{k}={}", encode(v)));
        }
    }
    query.push(format!("_count={count}"));
    let self_url = format!("{}/fhir/Task?{}", state.base_url, query.join("&"));
    let mut links = vec![Some(
        BundleLink::builder()
            .relation("self".to_owned())
            .url(match &params.page_token {
                Some(t) => format!("{self_url}&_page_token={}", encode(t)),
                None => self_url.clone(),
            })
            .build()?,
    )];
    if !page.next_page_token.is_empty() {
        links.push(Some(
            BundleLink::builder()
                .relation("next".to_owned())
                .url(format!("{self_url}&_page_token={}", encode(&page.next_page_token)))
                .build()?,
        ));
    }
    tracing::info!(results = entries.len(), "task search");
    let bundle =
        Bundle::builder().r#type(BundleType::Searchset).link(links).entry(entries).build()?;
    Ok(super::fhir_json(StatusCode::OK, &bundle))
}

/// Percent-encodes a query value (unreserved characters kept).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The version `If-Match` names; 428 when absent, 400 when not a version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(v) = headers.get(http::header::IF_MATCH) else { return Ok(None) };
    let text = v.to_str().unwrap_or_default();
    super::parse_etag(text).map(Some).ok_or_else(|| {
        Error::bad(
            IssueType::Value,
            "If-Match",
            "If-Match must be the ETag of a Task version (W/\"<n>\")",
        )
    })
}

/// `PATCH /fhir/Task/{id}` with a JSON Patch (`application/json-patch+json`).
pub async fn patch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    super::require_media_type(&headers, &["application/json-patch+json", "application/json"])?;
    let version = if_match(&headers)?.ok_or_else(|| {
        Error::PreconditionRequired(
            "a Task change needs If-Match with the ETag of the version read".to_owned(),
        )
    })?;
    let operations = super::parse_json(&body)?;
    let current = get_referral(&state, &caller, &id).await?;
    let mut document = serde_json::to_value(task(&current)?)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("serializing a Task: {e}")))?;
    json_patch(&mut document, &operations)?;
    change(&state, &caller, current, version, document).await
}

/// `PUT /fhir/Task/{id}`: the Task as read, with status / businessStatus / statusReason / executionPeriod
/// changed; the version from `If-Match`, else `meta.versionId`.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let caller = Caller::from_headers(&headers)?;
    super::require_media_type(&headers, &["application/fhir+json", "application/json"])?;
    let document = super::parse_json(&body)?;
    if document.get("id").and_then(|v| v.as_str()) != Some(id.as_str()) {
        return Err(Error::bad(IssueType::Value, "Task.id", "Task.id must be the id in the URL"));
    }
    let version = match if_match(&headers)? {
        Some(v) => v,
        None => document
            .pointer("/meta/versionId")
            .and_then(|v| v.as_str())
            .and_then(super::parse_etag)
            .ok_or_else(|| {
                Error::PreconditionRequired(
                    "a Task update needs If-Match or meta.versionId of the version read".to_owned(),
                )
            })?,
    };
    let current = get_referral(&state, &caller, &id).await?;
    change(&state, &caller, current, version, document).await
}

/// The elements a change may touch.
const CHANGEABLE: [&str; 4] = ["status", "businessStatus", "statusReason", "executionPeriod"];

/// Applies the change `desired` (a Task document) to `current` at `version`: one transition, or nothing
/// when nothing changes.
async fn change(
    state: &AppState,
    caller: &Caller,
    current: rpb::Referral,
    version: i64,
    desired: serde_json::Value,
) -> Result<Response> {
    if version != current.version {
        return Err(Error::PreconditionFailed(format!(
            "Task {} is at version {}, not {version}: read it again",
            current.id, current.version
        )));
    }
    let wanted: Task = serde_json::from_value(desired.clone()).map_err(|e| {
        Error::bad(
            IssueType::Structure,
            "Task",
            format!("the changed Task is not a valid Task: {e}"),
        )
    })?;
    let before = serde_json::to_value(task(&current)?)
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("serializing a Task: {e}")))?;
    let unchangeable = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            for k in CHANGEABLE.iter().chain(&["meta", "text", "lastModified"]) {
                o.remove(*k);
            }
        }
        v
    };
    if unchangeable(&before) != unchangeable(&desired) {
        return Err(Error::Unprocessable(vec![Issue::general(
            IssueType::BusinessRule,
            format!("only {} of a Task may change", CHANGEABLE.join(", ")),
        )]));
    }
    let Some(action) = action_for(&current, &wanted)? else {
        // Nothing to do: the Task already says this.
        return task_response(&current, StatusCode::OK);
    };
    let mut client = state.upstreams.referral.clone();
    let updated = client
        .transition_referral(caller.request(rpb::TransitionReferralRequest {
            referral_id: current.id.clone(),
            expected_version: version,
            note: String::new(),
            action: Some(action),
        }))
        .await?
        .into_inner()
        .referral
        .ok_or_else(|| {
            Error::Unexpected(anyhow::anyhow!("TransitionReferral answered without a referral"))
        })?;
    tracing::info!(referral_id = %updated.id, version = updated.version, "task changed");
    Ok(task_response(&updated, StatusCode::OK)?.into_response())
}

/// The transition that makes `current` say what `wanted` says; `None` when it already does.
pub fn action_for(current: &rpb::Referral, wanted: &Task) -> Result<Option<Action>> {
    let (status, business) = status_of(current);
    let wanted_business = first_code(wanted.business_status.as_ref());
    let appointment_at =
        wanted.execution_period.as_ref().and_then(|p| p.start.as_ref()).map(timestamp);
    let appointment = || Appointment { appointment_at };
    let unsupported = |what: String| {
        Error::Unprocessable(vec![Issue::at(IssueType::BusinessRule, "Task.status", what)])
    };
    if wanted.status != status {
        let plain = Plain {};
        return Ok(Some(match &wanted.status {
            TaskStatus::Received => Action::MarkReceived(plain),
            TaskStatus::Accepted if status == TaskStatus::OnHold => Action::Resume(plain),
            TaskStatus::Accepted => Action::Accept(plain),
            TaskStatus::Rejected => {
                let code = first_code(wanted.status_reason.as_ref()).ok_or_else(|| {
                    Error::Unprocessable(vec![Issue::at(
                        IssueType::Required,
                        "Task.statusReason",
                        format!(
                            "rejecting needs a statusReason from {}",
                            rejection_reason_system()
                        ),
                    )])
                })?;
                let reason = REJECTION_REASONS
                    .iter()
                    .find(|(c, _, _)| *c == code)
                    .map(|(_, _, r)| *r)
                    .ok_or_else(|| {
                        Error::Unprocessable(vec![Issue::at(
                            IssueType::CodeInvalid,
                            "Task.statusReason",
                            format!(
                                "{code:?} is not one of {}",
                                REJECTION_REASONS.map(|(c, _, _)| c).join(", ")
                            ),
                        )])
                    })?;
                Action::Reject(Reject { reason: reason as i32 })
            }
            TaskStatus::InProgress if status == TaskStatus::OnHold => Action::Resume(plain),
            TaskStatus::InProgress => Action::RecordFirstAppointmentAttended(appointment()),
            TaskStatus::Completed => Action::Complete(plain),
            TaskStatus::Failed => Action::Fail(plain),
            TaskStatus::OnHold => Action::Hold(plain),
            TaskStatus::Cancelled => Action::Cancel(plain),
            TaskStatus::EnteredInError => Action::EnterInError(plain),
            TaskStatus::Requested if status == TaskStatus::Draft => Action::Send(plain),
            other => {
                return Err(unsupported(format!(
                    "a Task cannot be moved from {status} to {other}"
                )));
            }
        }));
    }
    if wanted_business == business || wanted_business.is_none() {
        return Ok(None);
    }
    let step = wanted_business.unwrap_or_default();
    Ok(Some(match step {
        "received" => Action::MarkReceived(Plain {}),
        "scheduled" => Action::Schedule(Schedule {
            appointment_at: Some(appointment_at.ok_or_else(|| {
                Error::Unprocessable(vec![Issue::at(
                    IssueType::Required,
                    "Task.executionPeriod.start",
                    "scheduled needs the appointment time in executionPeriod.start",
                )])
            })?),
        }),
        "no-show" => Action::RecordNoShow(appointment()),
        "appointment-cancelled" => Action::CancelAppointment(appointment()),
        "first-appointment-attended" => Action::RecordFirstAppointmentAttended(appointment()),
        "second-appointment-attended" => Action::RecordSecondAppointmentAttended(appointment()),
        other => {
            return Err(Error::Unprocessable(vec![Issue::at(
                IssueType::CodeInvalid,
                "Task.businessStatus",
                format!(
                    "{other:?} cannot be set: use received, scheduled, no-show, appointment-cancelled, \
                     first-appointment-attended or second-appointment-attended ({})",
                    business_status_system()
                ),
            )]));
        }
    }))
}

/// Applies a JSON Patch (RFC 6902: add, remove, replace, test, copy, move) to `doc`; a bad patch is a 400
/// naming the operation.
pub fn json_patch(doc: &mut serde_json::Value, patch: &serde_json::Value) -> Result<()> {
    let ops = patch.as_array().ok_or_else(|| {
        Error::bad(IssueType::Structure, "Parameters", "a JSON Patch is an array of operations")
    })?;
    for (i, op) in ops.iter().enumerate() {
        let bad = |m: &str| Error::bad(IssueType::Value, format!("patch[{i}]"), m.to_owned());
        let name = op.get("op").and_then(|v| v.as_str()).ok_or_else(|| bad("op is required"))?;
        let path =
            op.get("path").and_then(|v| v.as_str()).ok_or_else(|| bad("path is required"))?;
        let value = || op.get("value").cloned().ok_or_else(|| bad("value is required"));
        let from =
            || op.get("from").and_then(|v| v.as_str()).ok_or_else(|| bad("from is required"));
        match name {
            "add" => pointer_add(doc, path, value()?).map_err(|m| bad(&m))?,
            "replace" => {
                let target = doc.pointer_mut(path).ok_or_else(|| bad("path does not exist"))?;
                *target = value()?;
            }
            "remove" => {
                pointer_remove(doc, path).map_err(|m| bad(&m))?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(Error::PreconditionFailed(format!(
                        "patch[{i}]: test of {path} failed"
                    )));
                }
            }
            "copy" => {
                let v = doc.pointer(from()?).cloned().ok_or_else(|| bad("from does not exist"))?;
                pointer_add(doc, path, v).map_err(|m| bad(&m))?;
            }
            "move" => {
                let v = pointer_remove(doc, from()?).map_err(|m| bad(&m))?;
                pointer_add(doc, path, v).map_err(|m| bad(&m))?;
            }
            _ => return Err(bad("op must be add, remove, replace, test, copy or move")),
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> std::result::Result<(&str, String), String> {
    let (parent, last) =
        path.rsplit_once('/').ok_or_else(|| "path must be a JSON Pointer".to_owned())?;
    Ok((parent, unescape(last)))
}

fn pointer_add(
    doc: &mut serde_json::Value,
    path: &str,
    value: serde_json::Value,
) -> std::result::Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(serde_json::Value::Object(o)) => {
            o.insert(last, value);
            Ok(())
        }
        Some(serde_json::Value::Array(a)) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| "array index expected".to_owned())?;
            if i > a.len() {
                return Err("array index out of range".to_owned());
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent of path does not exist".to_owned()),
    }
}

fn pointer_remove(
    doc: &mut serde_json::Value,
    path: &str,
) -> std::result::Result<serde_json::Value, String> {
    let (parent, last) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(serde_json::Value::Object(o)) => {
            o.remove(&last).ok_or_else(|| "path does not exist".to_owned())
        }
        Some(serde_json::Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "array index expected".to_owned())?;
            if i >= a.len() {
                return Err("array index out of range".to_owned());
            }
            Ok(a.remove(i))
        }
        _ => Err("path does not exist".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn referral(status: rpb::ReferralStatus, actions: &[rpb::ReferralAction]) -> rpb::Referral {
        rpb::Referral {
            id: "0190d5a0-0000-7000-8000-0000000000aa".into(),
            client_id: "0190d5a0-0000-7000-8000-0000000000bb".into(),
            intake_id: "0190d5a0-0000-7000-8000-0000000000cc".into(),
            referrer_organization_id: "0190d5a0-0000-7000-8000-0000000000c1".into(),
            recipient_organization_id: "0190d5a0-0000-7000-8000-0000000000c2".into(),
            status: status as i32,
            urgency: common::Urgency::Routine as i32,
            version: 3,
            created_at: Some(prost_types::Timestamp { seconds: 1_764_748_800, nanos: 0 }),
            updated_at: Some(prost_types::Timestamp { seconds: 1_764_748_900, nanos: 0 }),
            events: actions
                .iter()
                .map(|a| rpb::ReferralEvent { action: *a as i32, ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn statuses_follow_the_gravity_pattern() {
        use rpb::ReferralAction as A;
        use rpb::ReferralStatus as S;
        assert_eq!(
            status_of(&referral(S::Requested, &[A::Unspecified])),
            (TaskStatus::Requested, None)
        );
        assert_eq!(
            status_of(&referral(S::Requested, &[A::Unspecified, A::MarkReceived])),
            (TaskStatus::Received, Some("received"))
        );
        assert_eq!(
            status_of(&referral(S::Accepted, &[A::MarkReceived, A::Accept, A::Schedule])),
            (TaskStatus::Accepted, Some("scheduled"))
        );
        assert_eq!(
            status_of(&referral(
                S::InProgress,
                &[A::Accept, A::RecordFirstAppointmentAttended, A::NotifyReferrer]
            )),
            (TaskStatus::InProgress, Some("first-appointment-attended"))
        );
        assert_eq!(status_of(&referral(S::Completed, &[])).0, TaskStatus::Completed);
        assert_eq!(status_of(&referral(S::Rejected, &[])).0, TaskStatus::Rejected);
        assert_eq!(status_of(&referral(S::Cancelled, &[])).0, TaskStatus::Cancelled);
    }

    #[test]
    fn a_task_round_trips_through_the_model() {
        let mut r = referral(rpb::ReferralStatus::Rejected, &[rpb::ReferralAction::Reject]);
        r.events[0].rejection_reason = rpb::RejectionReason::NoCapacity as i32;
        let json = serde_json::to_value(task(&r).unwrap()).unwrap();
        assert_eq!(json["status"], "rejected");
        assert_eq!(json["intent"], "order");
        assert_eq!(json["statusReason"]["coding"][0]["code"], "no-capacity");
        assert_eq!(json["owner"]["reference"], "Organization/0190d5a0-0000-7000-8000-0000000000c2");
        assert_eq!(json["meta"]["versionId"], "3");
        let back: Task = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), json);
    }

    fn wanted(r: &rpb::Referral, patch: serde_json::Value) -> Task {
        let mut doc = serde_json::to_value(task(r).unwrap()).unwrap();
        json_patch(&mut doc, &patch).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn status_changes_pick_one_transition() {
        use rpb::ReferralStatus as S;
        let requested = referral(S::Requested, &[]);
        let accept = wanted(
            &requested,
            serde_json::json!([{"op": "replace", "path": "/status", "value": "accepted"}]),
        );
        assert_eq!(action_for(&requested, &accept).unwrap(), Some(Action::Accept(Plain {})));
        let reject = wanted(
            &requested,
            serde_json::json!([
                {"op": "replace", "path": "/status", "value": "rejected"},
                {"op": "add", "path": "/statusReason", "value": {"coding": [{"code": "payment"}]}}
            ]),
        );
        assert_eq!(
            action_for(&requested, &reject).unwrap(),
            Some(Action::Reject(Reject { reason: rpb::RejectionReason::Payment as i32 }))
        );
        let no_reason = wanted(
            &requested,
            serde_json::json!([{"op": "replace", "path": "/status", "value": "rejected"}]),
        );
        assert!(matches!(action_for(&requested, &no_reason), Err(Error::Unprocessable(_))));

        let accepted = referral(S::Accepted, &[rpb::ReferralAction::Accept]);
        let attended = wanted(
            &accepted,
            serde_json::json!([{"op": "replace", "path": "/status", "value": "in-progress"}]),
        );
        assert!(matches!(
            action_for(&accepted, &attended).unwrap(),
            Some(Action::RecordFirstAppointmentAttended(_))
        ));
        let scheduled = wanted(
            &accepted,
            serde_json::json!([
                {"op": "add", "path": "/businessStatus", "value": {"coding": [{"code": "scheduled"}]}},
                {"op": "add", "path": "/executionPeriod", "value": {"start": "2026-12-10T15:00:00Z"}}
            ]),
        );
        assert!(
            matches!(action_for(&accepted, &scheduled).unwrap(), Some(Action::Schedule(s)) if s.appointment_at.is_some())
        );
        let same = wanted(&accepted, serde_json::json!([]));
        assert_eq!(action_for(&accepted, &same).unwrap(), None);
        let in_progress = referral(S::InProgress, &[]);
        let done = wanted(
            &in_progress,
            serde_json::json!([{"op": "replace", "path": "/status", "value": "completed"}]),
        );
        assert_eq!(action_for(&in_progress, &done).unwrap(), Some(Action::Complete(Plain {})));
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut doc = serde_json::json!({"a": {"b": [1, 2]}, "c": "x"});
        json_patch(
            &mut doc,
            &serde_json::json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "replace", "path": "/c", "value": "y"},
                {"op": "test", "path": "/c", "value": "y"},
                {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"},
                {"op": "remove", "path": "/a/b/0"}
            ]),
        )
        .unwrap();
        assert_eq!(doc, serde_json::json!({"a": {"b": [2, 3]}, "c": "y", "e": "y"}));
        assert!(matches!(
            json_patch(&mut doc, &serde_json::json!([{"op": "test", "path": "/c", "value": "z"}])),
            Err(Error::PreconditionFailed(_))
        ));
        assert!(matches!(
            json_patch(
                &mut doc,
                &serde_json::json!([{"op": "replace", "path": "/nope", "value": 1}])
            ),
            Err(Error::BadRequest(_))
        ));
    }
}
