//! The worklist (`/`): the referrals of the user's organization (as referrer or recipient), overdue and
//! escalated first with their deadlines, filtered by status, urgency, organization unit and provider (a unit
//! is a team, program or site of the organization: the providers whose listing names it, asked for with
//! `ListReferralsRequest.provider_ids`); each row offers the actions the referral's status allows for the
//! user's side or role, as one `TransitionReferral` at the version shown. A stale version is not an
//! error page: the current state is shown with a plain "changed by someone else" message.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::transition_referral_request::{
    Action, Appointment, Plain, Reject, Schedule,
};
use http::StatusCode;
use serde::Deserialize;

use super::error::{ConsoleError, Result};
use super::html::{Markup, code_words, e, short, span, time, ts, words};
use super::{Directory, Nav, Signed, csrf_field, directory, local_path, page as render, see_other};
use crate::startup::AppState;

/// Most referrals one worklist page reads (pages of 200).
const MAX_ROWS: usize = 600;

/// Worklist filters (`GET /?status=&urgency=&unit=&provider=&overdue=1`).
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    status: Option<String>,
    urgency: Option<String>,
    unit: Option<String>,
    provider: Option<String>,
    overdue: Option<String>,
}

/// Most providers one list request names (`ListReferralsRequest.provider_ids`).
const MAX_PROVIDER_FILTER: usize = 500;

impl Filters {
    fn chosen(v: Option<&String>) -> Option<&str> {
        v.map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The providers the unit and provider filters leave (`None`: no such filter; empty: nobody).
    fn providers(&self, names: &Directory, org: &str) -> Option<Vec<String>> {
        let unit = Self::chosen(self.unit.as_ref()).map(|u| names.in_unit(org, u));
        match (unit, Self::chosen(self.provider.as_ref())) {
            (None, None) => None,
            (Some(ids), None) => Some(ids),
            (None, Some(p)) => Some(vec![p.to_owned()]),
            (Some(ids), Some(p)) => Some(ids.into_iter().filter(|id| id == p).collect()),
        }
    }
}

/// The statuses offered as filters: (code, label).
const STATUSES: [(&str, &str, rpb::ReferralStatus); 10] = [
    ("draft", "Draft", rpb::ReferralStatus::Draft),
    ("requested", "Requested (awaiting an answer)", rpb::ReferralStatus::Requested),
    ("accepted", "Accepted", rpb::ReferralStatus::Accepted),
    ("in_progress", "In progress (loop closed)", rpb::ReferralStatus::InProgress),
    ("on_hold", "On hold", rpb::ReferralStatus::OnHold),
    ("rejected", "Rejected", rpb::ReferralStatus::Rejected),
    ("cancelled", "Cancelled", rpb::ReferralStatus::Cancelled),
    ("failed", "Failed", rpb::ReferralStatus::Failed),
    ("completed", "Completed", rpb::ReferralStatus::Completed),
    ("entered_in_error", "Entered in error", rpb::ReferralStatus::EnteredInError),
];

/// Urgencies: (code, label).
const URGENCIES: [(&str, &str, continuum_proto::common::v1::Urgency); 4] = [
    ("emergency", "Emergency (hours)", continuum_proto::common::v1::Urgency::Emergency),
    ("urgent", "Urgent (7 days)", continuum_proto::common::v1::Urgency::Urgent),
    ("soon", "Soon (28 days)", continuum_proto::common::v1::Urgency::Soon),
    ("routine", "Routine (6 weeks)", continuum_proto::common::v1::Urgency::Routine),
];

/// The actions a person may request: (form code, button label, the statuses it applies to, side).
const ACTIONS: [(&str, &str, &[rpb::ReferralStatus], Side); 15] = {
    use rpb::ReferralStatus as S;
    [
        ("accept", "Accept", &[S::Requested], Side::Recipient),
        ("mark_received", "Mark received", &[S::Requested], Side::Recipient),
        ("reject", "Reject (re-routes to the next option)", &[S::Requested], Side::Recipient),
        ("schedule", "Schedule first appointment", &[S::Accepted], Side::Recipient),
        (
            "record_first_appointment_attended",
            "Record first appointment attended",
            &[S::Accepted],
            Side::Recipient,
        ),
        ("record_no_show", "Record no-show", &[S::Accepted], Side::Recipient),
        ("cancel_appointment", "Record appointment cancelled", &[S::Accepted], Side::Recipient),
        (
            "record_second_appointment_attended",
            "Record second appointment attended",
            &[S::InProgress],
            Side::Recipient,
        ),
        ("complete", "Complete", &[S::InProgress], Side::Recipient),
        ("fail", "Record failed", &[S::Accepted, S::InProgress], Side::Recipient),
        ("hold", "Put on hold", &[S::Accepted, S::InProgress], Side::Either),
        ("resume", "Resume", &[S::OnHold], Side::Either),
        ("send", "Send", &[S::Draft], Side::Referrer),
        (
            "cancel",
            "Cancel referral",
            &[S::Draft, S::Requested, S::Accepted, S::OnHold],
            Side::Referrer,
        ),
        (
            "enter_in_error",
            "Mark entered in error",
            &[S::Draft, S::Requested, S::Accepted, S::InProgress, S::OnHold],
            Side::Either,
        ),
    ]
};

/// Rejection reasons: (code, label).
const REJECTIONS: [(&str, &str, rpb::RejectionReason); 5] = [
    ("no_capacity", "No capacity", rpb::RejectionReason::NoCapacity),
    (
        "level_of_care_not_offered",
        "Level of care not offered",
        rpb::RejectionReason::LevelOfCareNotOffered,
    ),
    ("payment", "Payment not accepted", rpb::RejectionReason::Payment),
    ("client_declined", "Client declined", rpb::RejectionReason::ClientDeclined),
    ("other", "Other (say why in the note)", rpb::RejectionReason::Other),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Referrer,
    Recipient,
    Either,
}

fn status_of(r: &rpb::Referral) -> rpb::ReferralStatus {
    rpb::ReferralStatus::try_from(r.status).unwrap_or_default()
}

/// A status in words.
pub fn status_words(s: i32) -> String {
    rpb::ReferralStatus::try_from(s)
        .map(|s| words(s.as_str_name(), "REFERRAL_STATUS_"))
        .unwrap_or_default()
}

/// An urgency in words.
pub fn urgency_words(u: i32) -> String {
    continuum_proto::common::v1::Urgency::try_from(u)
        .map(|s| words(s.as_str_name(), "URGENCY_"))
        .unwrap_or_default()
}

/// Whether the referral is past its response deadline and still unanswered.
pub fn is_overdue(r: &rpb::Referral, now: DateTime<Utc>) -> bool {
    status_of(r) == rpb::ReferralStatus::Requested
        && ts(r.response_due_at.as_ref()).is_some_and(|d| d < now)
}

/// Whether it was escalated to a coordinator and is still unanswered.
pub fn is_escalated(r: &rpb::Referral) -> bool {
    status_of(r) == rpb::ReferralStatus::Requested && ts(r.escalated_at.as_ref()).is_some()
}

/// Worklist order: escalated, then overdue, then the rest of the unanswered by deadline, then everything
/// else most recently changed first.
pub fn sort(rows: &mut [rpb::Referral], now: DateTime<Utc>) {
    rows.sort_by_key(|r| {
        let group = if is_escalated(r) {
            0
        } else if is_overdue(r, now) {
            1
        } else if status_of(r) == rpb::ReferralStatus::Requested {
            2
        } else {
            3
        };
        let due = ts(r.response_due_at.as_ref()).map_or(i64::MAX, |d| d.timestamp());
        let changed = ts(r.updated_at.as_ref()).map_or(0, |d| d.timestamp());
        (group, if group < 3 { due } else { -changed })
    });
}

/// The actions `signed` may offer on `r`: the status allows them and the user's side (or coordinator
/// role) may take them. The referral service decides again on every call.
fn allowed(signed: &Signed, r: &rpb::Referral) -> Vec<(&'static str, &'static str)> {
    let status = status_of(r);
    let org = signed.org();
    let recipient = r.recipient_organization_id.eq_ignore_ascii_case(org);
    let referrer = r.referrer_organization_id.eq_ignore_ascii_case(org);
    let coordinator = signed.session.identity.has_role("coordinator") && (recipient || referrer);
    ACTIONS
        .iter()
        .filter(|(_, _, statuses, _)| statuses.contains(&status))
        .filter(|(_, _, _, side)| {
            coordinator
                || match side {
                    Side::Recipient => recipient,
                    Side::Referrer => referrer,
                    Side::Either => recipient || referrer,
                }
        })
        .map(|(code, label, _, _)| (*code, *label))
        .collect()
}

/// The forms of every action `signed` may take on `r`, coming back to `back` afterwards.
fn action_forms(m: &mut Markup, signed: &Signed, r: &rpb::Referral, back: &str) {
    let actions = allowed(signed, r);
    if actions.is_empty() {
        html!(m, "<p class=\"muted\">No action open to you.</p>");
        return;
    }
    for (code, label) in actions {
        let fid = format!("{}-{code}", r.id);
        html!(
            m,
            "<form method=\"post\" action=\"/referrals/{id}/transition\" class=\"action\" data-action=\"{code}\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"{code}\">\
             <input type=\"hidden\" name=\"version\" value=\"{v}\">\
             <input type=\"hidden\" name=\"back\" value=\"{back}\">",
            id = e(&r.id),
            csrf = csrf_field(signed),
            v = r.version,
            back = e(back)
        );
        if code == "reject" {
            html!(
                m,
                "<label for=\"reason-{f}\">Reason</label><select id=\"reason-{f}\" name=\"reason\" required>",
                f = e(&fid)
            );
            for (c, l, _) in REJECTIONS {
                html!(m, "<option value=\"{c}\">{l}</option>");
            }
            html!(m, "</select>");
        }
        if code == "schedule" {
            html!(
                m,
                "<label for=\"at-{f}\">Appointment (UTC)</label>\
                 <input type=\"datetime-local\" id=\"at-{f}\" name=\"appointment_at\" required>",
                f = e(&fid)
            );
        }
        html!(
            m,
            "<label for=\"note-{f}\">Note <span class=\"muted\">(optional, operational, not clinical)</span></label>\
             <input type=\"text\" id=\"note-{f}\" name=\"note\" maxlength=\"500\" autocomplete=\"off\">\
             <button type=\"submit\">{label}</button></form>",
            f = e(&fid)
        );
    }
}

/// The provider cell: the name and, when the listing names one, its unit.
fn provider_cell(names: &Directory, id: &str) -> String {
    let name = e(&names.label(id)).to_string();
    match names.get(id).filter(|p| !p.unit.is_empty()) {
        Some(p) => format!("{name}<br><span class=\"muted unit\">{}</span>", e(&p.unit)),
        None => name,
    }
}

/// The deadline cell.
fn deadline(r: &rpb::Referral, now: DateTime<Utc>) -> String {
    let Some(due) = ts(r.response_due_at.as_ref()) else { return String::new() };
    if status_of(r) != rpb::ReferralStatus::Requested {
        return format!("{}<br><span class=\"muted\">answered</span>", time(due));
    }
    let mut out = time(due);
    if due < now {
        out.push_str(&format!(
            "<br><strong class=\"tag overdue\">Overdue by {}</strong>",
            e(&span(now - due))
        ));
    } else {
        out.push_str(&format!("<br><span>in {}</span>", e(&span(due - now))));
    }
    if let Some(at) = ts(r.escalated_at.as_ref()) {
        out.push_str(&format!(
            "<br><strong class=\"tag escalated\">Escalated {}</strong>",
            time(at)
        ));
    }
    out
}

/// Reads the user's worklist (`providers`: only referrals to these, see [`Filters::providers`]).
async fn read(
    state: &AppState,
    signed: &Signed,
    f: &Filters,
    providers: Option<Vec<String>>,
) -> Result<Vec<rpb::Referral>> {
    let status = STATUSES
        .iter()
        .find(|(c, _, _)| Some(*c) == f.status.as_deref())
        .map_or(0, |(_, _, s)| *s as i32);
    let urgency = URGENCIES
        .iter()
        .find(|(c, _, _)| Some(*c) == f.urgency.as_deref())
        .map_or(0, |(_, _, u)| *u as i32);
    let provider_ids = match providers {
        // A unit without providers: nothing to ask for.
        Some(ids) if ids.is_empty() => return Ok(Vec::new()),
        Some(mut ids) => {
            ids.truncate(MAX_PROVIDER_FILTER);
            ids
        }
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    let mut token = String::new();
    loop {
        let page = state
            .upstreams
            .referral
            .clone()
            .list_referrals(signed.caller.request(rpb::ListReferralsRequest {
                organization_id: signed.org().to_owned(),
                status,
                urgency,
                overdue_only: f.overdue.as_deref() == Some("1"),
                page_size: 200,
                page_token: token.clone(),
                client_id: String::new(),
                provider_ids: provider_ids.clone(),
            }))
            .await?
            .into_inner();
        rows.extend(page.referrals);
        if page.next_page_token.is_empty() || rows.len() >= MAX_ROWS {
            break;
        }
        token = page.next_page_token;
    }
    Ok(rows)
}

fn selected(on: bool) -> &'static str {
    if on { " selected" } else { "" }
}

/// `GET /`: the worklist.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Query(f): Query<Filters>,
    uri: http::Uri,
) -> Result<Response> {
    let now = Utc::now();
    let names = directory(&state, &signed.caller).await?;
    let providers = f.providers(&names, signed.org());
    let unit_size = providers.as_ref().map_or(0, Vec::len);
    let mut rows = read(&state, &signed, &f, providers).await?;
    sort(&mut rows, now);
    let back = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut m = Markup::new();

    // Filters (a GET form: works without script, and the URL can be shared).
    html!(
        m,
        "<form method=\"get\" action=\"/\" class=\"filters\" aria-label=\"Filter the worklist\">\
         <div><label for=\"f-status\">Status</label><select id=\"f-status\" name=\"status\"><option value=\"\">Any</option>"
    );
    for (c, l, _) in STATUSES {
        html!(m, "<option value=\"{c}\"{}>{l}</option>", selected(f.status.as_deref() == Some(c)));
    }
    html!(
        m,
        "</select></div><div><label for=\"f-urgency\">Urgency</label><select id=\"f-urgency\" name=\"urgency\"><option value=\"\">Any</option>"
    );
    for (c, l, _) in URGENCIES {
        html!(m, "<option value=\"{c}\"{}>{l}</option>", selected(f.urgency.as_deref() == Some(c)));
    }
    html!(
        m,
        "</select></div><div><label for=\"f-unit\">Unit</label><select id=\"f-unit\" name=\"unit\"><option value=\"\">Any</option>"
    );
    for u in names.units(signed.org()) {
        html!(
            m,
            "<option value=\"{u}\"{}>{u}</option>",
            selected(Filters::chosen(f.unit.as_ref()) == Some(u)),
            u = e(u)
        );
    }
    html!(
        m,
        "</select></div><div><label for=\"f-provider\">Provider</label><select id=\"f-provider\" name=\"provider\"><option value=\"\">Any</option>"
    );
    for (id, n) in names.own(signed.org()) {
        html!(
            m,
            "<option value=\"{}\"{}>{}</option>",
            e(id),
            selected(f.provider.as_deref() == Some(id)),
            e(n)
        );
    }
    html!(
        m,
        "</select></div><div class=\"check\"><input type=\"checkbox\" id=\"f-overdue\" name=\"overdue\" value=\"1\"{}>\
         <label for=\"f-overdue\">Overdue only</label></div><button type=\"submit\">Apply filters</button> \
         <a href=\"/\">Clear</a></form>",
        if f.overdue.as_deref() == Some("1") { " checked" } else { "" }
    );

    let overdue = rows.iter().filter(|r| is_overdue(r, now)).count();
    let escalated = rows.iter().filter(|r| is_escalated(r)).count();
    html!(
        m,
        "<div data-live=\"worklist\" data-since=\"{}\"><p class=\"summary\" id=\"worklist-summary\">{} referrals · \
         <strong>{overdue} overdue</strong> · <strong>{escalated} escalated</strong></p>\
         <p class=\"live-status\" role=\"status\" aria-live=\"polite\"></p>",
        now.timestamp_millis(),
        rows.len()
    );
    if unit_size > MAX_PROVIDER_FILTER {
        html!(
            m,
            "<p class=\"flash warn\">This unit has {unit_size} providers; the list covers the first {MAX_PROVIDER_FILTER} \
             (choose a provider to see any other).</p>"
        );
    }
    if rows.is_empty() {
        html!(m, "<p>No referrals match.</p></div>");
        return Ok(render(StatusCode::OK, "Worklist", Nav::Worklist, Some(&signed), &m));
    }
    html!(
        m,
        "<table class=\"worklist\" aria-describedby=\"worklist-summary\"><caption>Referrals, overdue and escalated first</caption>\
         <thead><tr><th scope=\"col\">Response due</th><th scope=\"col\">Referral</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Urgency</th><th scope=\"col\">Client</th><th scope=\"col\">Provider</th>\
         <th scope=\"col\">Your side</th><th scope=\"col\">Actions</th></tr></thead><tbody>"
    );
    for r in &rows {
        let class = if is_escalated(r) || is_overdue(r, now) { " class=\"late\"" } else { "" };
        let side = match (
            r.referrer_organization_id.eq_ignore_ascii_case(signed.org()),
            r.recipient_organization_id.eq_ignore_ascii_case(signed.org()),
        ) {
            (true, true) => "referrer and recipient",
            (true, false) => "referrer",
            (false, true) => "recipient",
            _ => "",
        };
        html!(
            m,
            "<tr{class} data-referral-id=\"{id}\" data-version=\"{v}\"><td>{due}</td>\
             <th scope=\"row\"><a href=\"/referrals/{id}\" aria-label=\"Referral {sid}\">{sid}</a></th>\
             <td>{status}</td><td>{urgency}</td>\
             <td><a href=\"/clients/{client}\" aria-label=\"Client path of client {sclient}\">{sclient}</a></td>\
             <td>{provider}</td><td>{side}</td><td>",
            id = e(&r.id),
            v = r.version,
            due = deadline(r, now),
            sid = e(short(&r.id)),
            status = e(&status_words(r.status)),
            urgency = e(&urgency_words(r.urgency)),
            client = e(&r.client_id),
            sclient = e(short(&r.client_id)),
            provider = provider_cell(&names, &r.provider_id),
        );
        html!(
            m,
            "<details><summary>Actions<span class=\"sr-only\"> for referral {}</span></summary>",
            e(short(&r.id))
        );
        action_forms(&mut m, &signed, r, &back);
        html!(m, "</details></td></tr>");
    }
    html!(m, "</tbody></table></div>");
    Ok(render(StatusCode::OK, "Worklist", Nav::Worklist, Some(&signed), &m))
}

/// The detail of one referral: summary, actions, events; `conflict` adds the "changed by someone else"
/// message above it.
fn detail_page(signed: &Signed, r: &rpb::Referral, names: &Directory, conflict: bool) -> Response {
    let now = Utc::now();
    let mut m = Markup::new();
    if conflict {
        html!(
            m,
            "<div class=\"flash warn\" role=\"alert\"><p><strong>Changed by someone else.</strong> This referral \
             changed after you loaded it, so your action was not applied. Here is its current state (version {}); \
             choose again if it still applies.</p></div>",
            r.version
        );
    }
    let back = format!("/referrals/{}", r.id);
    html!(
        m,
        "<div data-live=\"referral\" data-since=\"{}\" data-referral-id=\"{}\">\
         <p class=\"live-status\" role=\"status\" aria-live=\"polite\"></p><dl class=\"facts\">\
         <dt>Status</dt><dd>{}</dd><dt>Urgency</dt><dd>{}</dd><dt>Response due</dt><dd>{}</dd>\
         <dt>Client</dt><dd><a href=\"/clients/{}\">client {}</a></dd><dt>Provider</dt><dd>{}</dd>\
         <dt>Referrer</dt><dd>{}</dd><dt>Recipient</dt><dd>{}</dd><dt>Version</dt><dd>{}</dd>",
        now.timestamp_millis(),
        e(&r.id),
        e(&status_words(r.status)),
        e(&urgency_words(r.urgency)),
        deadline(r, now),
        e(&r.client_id),
        e(short(&r.client_id)),
        e(&names.label(&r.provider_id)),
        e(&r.referrer_organization_id),
        e(&r.recipient_organization_id),
        r.version
    );
    if !r.rerouted_to_referral_id.is_empty() {
        html!(
            m,
            "<dt>Re-routed to</dt><dd><a href=\"/referrals/{0}\">referral {1}</a></dd>",
            e(&r.rerouted_to_referral_id),
            e(short(&r.rerouted_to_referral_id))
        );
    }
    if !r.rerouted_from_referral_id.is_empty() {
        html!(
            m,
            "<dt>Re-routes</dt><dd><a href=\"/referrals/{0}\">referral {1}</a></dd>",
            e(&r.rerouted_from_referral_id),
            e(short(&r.rerouted_from_referral_id))
        );
    }
    html!(m, "</dl><section aria-labelledby=\"act-h\"><h2 id=\"act-h\">Actions</h2>");
    action_forms(&mut m, signed, r, &back);
    html!(
        m,
        "</section><section aria-labelledby=\"ev-h\"><h2 id=\"ev-h\">History</h2><table><caption>Events, oldest first</caption>\
         <thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">By</th><th scope=\"col\">Details</th></tr></thead><tbody>"
    );
    for ev in &r.events {
        let action = rpb::ReferralAction::try_from(ev.action)
            .map(|a| words(a.as_str_name(), "REFERRAL_ACTION_"))
            .unwrap_or_default();
        let action = if action == "unspecified" { "created".to_owned() } else { action };
        let actor = rpb::ActorRole::try_from(ev.actor_role)
            .map(|a| words(a.as_str_name(), "ACTOR_ROLE_"))
            .unwrap_or_default();
        let mut details = Vec::new();
        if ev.rejection_reason != 0 {
            details.push(format!(
                "reason: {}",
                rpb::RejectionReason::try_from(ev.rejection_reason)
                    .map(|r| words(r.as_str_name(), "REJECTION_REASON_"))
                    .unwrap_or_default()
            ));
        }
        if let Some(at) = ts(ev.appointment_at.as_ref()) {
            details.push(format!("appointment {}", at.format("%Y-%m-%d %H:%M UTC")));
        }
        if !ev.note.is_empty() {
            details.push(format!("note: {}", code_words(&ev.note)));
        }
        html!(
            m,
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>",
            ts(ev.occurred_at.as_ref()).map(time).unwrap_or_default(),
            e(&action),
            e(&status_words(ev.from_status)),
            e(&status_words(ev.to_status)),
            e(&actor),
            e(&details.join("; "))
        );
    }
    html!(m, "</tbody></table></section></div>");
    let status = if conflict { StatusCode::CONFLICT } else { StatusCode::OK };
    render(status, &format!("Referral {}", short(&r.id)), Nav::Worklist, Some(signed), &m)
}

async fn get_referral(state: &AppState, signed: &Signed, id: &str) -> Result<rpb::Referral> {
    state
        .upstreams
        .referral
        .clone()
        .get_referral(signed.caller.request(rpb::GetReferralRequest { referral_id: id.to_owned() }))
        .await?
        .into_inner()
        .referral
        .ok_or_else(|| {
            ConsoleError::Unexpected(anyhow::anyhow!("GetReferral answered no referral"))
        })
}

/// `GET /referrals/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response> {
    let r = get_referral(&state, &signed, &id).await?;
    let names = directory(&state, &signed.caller).await?;
    Ok(detail_page(&signed, &r, &names, false))
}

/// The action form.
#[derive(Debug, Deserialize)]
pub struct TransitionForm {
    csrf: Option<String>,
    action: String,
    version: i64,
    note: Option<String>,
    reason: Option<String>,
    appointment_at: Option<String>,
    back: Option<String>,
}

/// A `datetime-local` value (`2026-12-03T14:05`, read as UTC) as a timestamp.
pub fn parse_local(v: &str) -> Option<prost_types::Timestamp> {
    let v = v.trim();
    let t = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()?
        .and_utc();
    Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

/// The request's action from the form.
fn action_of(f: &TransitionForm) -> Result<Action> {
    let plain = Plain {};
    let appt = Appointment { appointment_at: None };
    Ok(match f.action.as_str() {
        "accept" => Action::Accept(plain),
        "mark_received" => Action::MarkReceived(plain),
        "reject" => {
            let reason = REJECTIONS
                .iter()
                .find(|(c, _, _)| Some(*c) == f.reason.as_deref())
                .map(|(_, _, r)| *r as i32)
                .ok_or_else(|| ConsoleError::BadForm("choose a rejection reason".to_owned()))?;
            Action::Reject(Reject { reason })
        }
        "schedule" => {
            let at = f.appointment_at.as_deref().and_then(parse_local).ok_or_else(|| {
                ConsoleError::BadForm("give the appointment date and time".to_owned())
            })?;
            Action::Schedule(Schedule { appointment_at: Some(at) })
        }
        "record_first_appointment_attended" => Action::RecordFirstAppointmentAttended(appt),
        "record_second_appointment_attended" => Action::RecordSecondAppointmentAttended(appt),
        "record_no_show" => Action::RecordNoShow(appt),
        "cancel_appointment" => Action::CancelAppointment(appt),
        "complete" => Action::Complete(plain),
        "fail" => Action::Fail(plain),
        "hold" => Action::Hold(plain),
        "resume" => Action::Resume(plain),
        "send" => Action::Send(plain),
        "cancel" => Action::Cancel(plain),
        "enter_in_error" => Action::EnterInError(plain),
        _ => return Err(ConsoleError::BadForm("unknown action".to_owned())),
    })
}

/// `POST /referrals/{id}/transition`: one `TransitionReferral` at the version the form was rendered with.
pub async fn transition(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(f): Form<TransitionForm>,
) -> Result<Response> {
    signed.check_csrf(f.csrf.as_deref())?;
    let action = action_of(&f)?;
    let note = f.note.clone().unwrap_or_default().trim().to_owned();
    if note.chars().count() > 500 {
        return Err(ConsoleError::BadForm("the note is longer than 500 characters".to_owned()));
    }
    let back = local_path(f.back.as_deref());
    let label =
        ACTIONS.iter().find(|(c, _, _, _)| *c == f.action).map_or("Action", |(_, l, _, _)| *l);
    let answer = state
        .upstreams
        .referral
        .clone()
        .transition_referral(signed.caller.request(rpb::TransitionReferralRequest {
            referral_id: id.clone(),
            expected_version: f.version,
            note,
            action: Some(action),
        }))
        .await;
    match answer {
        Ok(r) => {
            let r = r.into_inner().referral.unwrap_or_default();
            tracing::info!(referral_id = %r.id, action = %f.action, "console: referral transitioned");
            signed
                .flash(
                    &state.console,
                    "ok",
                    format!(
                        "{label}: done on referral {} (now {}, version {}).",
                        short(&r.id),
                        status_words(r.status),
                        r.version
                    ),
                )
                .await;
            Ok(see_other(&back))
        }
        Err(s) if s.code() == tonic::Code::Aborted => {
            // Someone else changed it: show the current state plainly.
            let current = get_referral(&state, &signed, &id).await?;
            let names = directory(&state, &signed.caller).await?;
            Ok(detail_page(&signed, &current, &names, true))
        }
        Err(s) => {
            super::error::refused(&signed, &state.console, s, &format!("{label} not done"), &back)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn referral(id: &str, status: rpb::ReferralStatus, due: i64, escalated: bool) -> rpb::Referral {
        rpb::Referral {
            id: id.to_owned(),
            status: status as i32,
            response_due_at: Some(prost_types::Timestamp { seconds: due, nanos: 0 }),
            escalated_at: escalated
                .then_some(prost_types::Timestamp { seconds: due + 1, nanos: 0 }),
            ..Default::default()
        }
    }

    #[test]
    fn unit_and_provider_filters_name_the_providers_to_ask_for() {
        const ORG: &str = "0190d5a0-0000-7000-8000-000000000001";
        let listed = |org: &str, unit: &str| super::super::Listed {
            name: "n".to_owned(),
            organization_id: org.to_owned(),
            unit: unit.to_owned(),
        };
        let names: Directory = [
            ("p1".to_owned(), listed(ORG, "Eastside IOP")),
            ("p2".to_owned(), listed(&ORG.to_ascii_uppercase(), "Eastside IOP")),
            ("p3".to_owned(), listed(ORG, "Adult outpatient")),
            ("x1".to_owned(), listed("0190d5a0-0000-7000-8000-000000000002", "Eastside IOP")),
        ]
        .into_iter()
        .collect();
        let f = |unit: &str, provider: &str| Filters {
            unit: Some(unit.to_owned()),
            provider: Some(provider.to_owned()),
            ..Filters::default()
        };
        assert_eq!(f("", " ").providers(&names, ORG), None, "no filter");
        assert_eq!(
            f("Eastside IOP", "").providers(&names, ORG),
            Some(vec!["p1".to_owned(), "p2".to_owned()]),
            "the unit's providers, of this organization only"
        );
        assert_eq!(f("", "p3").providers(&names, ORG), Some(vec!["p3".to_owned()]));
        assert_eq!(f("Eastside IOP", "p2").providers(&names, ORG), Some(vec!["p2".to_owned()]));
        assert_eq!(f("Eastside IOP", "p3").providers(&names, ORG), Some(vec![]), "not in the unit");
        assert_eq!(f("No such unit", "").providers(&names, ORG), Some(vec![]));
        assert_eq!(names.units(ORG), ["Adult outpatient", "Eastside IOP"]);
    }

    #[test]
    fn escalated_and_overdue_come_first() {
        let now = DateTime::from_timestamp(10_000, 0).unwrap();
        let mut rows = vec![
            referral("accepted", rpb::ReferralStatus::Accepted, 100, false),
            referral("later", rpb::ReferralStatus::Requested, 20_000, false),
            referral("overdue", rpb::ReferralStatus::Requested, 5_000, false),
            referral("escalated", rpb::ReferralStatus::Requested, 6_000, true),
        ];
        sort(&mut rows, now);
        let order: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(order, ["escalated", "overdue", "later", "accepted"]);
        assert!(is_overdue(&rows[1], now));
        assert!(!is_overdue(&rows[3], now), "an answered referral is never overdue");
    }

    #[test]
    fn appointment_times_are_read_as_utc() {
        assert_eq!(parse_local("1970-01-01T01:00").unwrap().seconds, 3600);
        assert_eq!(parse_local("1970-01-01T01:00:30").unwrap().seconds, 3630);
        assert!(parse_local("tomorrow").is_none());
    }
}
