//! A client's path (`/clients/{id}`): the care timeline across the four services on one page, read from
//! referral's `GetCareTimeline` (which reads the intake, matching and waitlist steps on the user's behalf,
//! each service applying its own scoping, and names any service it could not read), beside the client's
//! referrals (`ListReferrals` of the client). Ids, codes and scores only: the services' care events carry
//! no names, contact details or free text.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use continuum_proto::referral::v1 as rpb;
use http::StatusCode;
use serde::Deserialize;

use super::error::{ConsoleError, Result};
use super::html::{Markup, code_words, e, short, time, ts};
use super::worklist::{status_words, urgency_words};
use super::{Nav, Signed, directory, page as render, see_other};
use crate::startup::AppState;

/// Whether `id` looks like a Continuum id (a UUID): anything else is not asked for.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The find form's query.
#[derive(Debug, Deserialize)]
pub struct FindQuery {
    client: Option<String>,
}

/// `GET /clients`: open a client's path by id, or pick one of the clients on the worklist and waitlist.
pub async fn find(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<FindQuery>,
) -> Result<Response> {
    if let Some(id) = q.client.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        if plausible_id(id) {
            return Ok(see_other(&format!("/clients/{}", id.to_ascii_lowercase())));
        }
        signed.flash(&state.console, "error", "A client id is a UUID, like 0190d5a0-…").await;
        return Ok(see_other("/clients"));
    }
    let referrals = state
        .upstreams
        .referral
        .clone()
        .list_referrals(signed.caller.request(rpb::ListReferralsRequest {
            organization_id: signed.org().to_owned(),
            page_size: 100,
            ..Default::default()
        }))
        .await?
        .into_inner()
        .referrals;
    let waiting = super::waitlist::entries(&state, &signed).await?;
    let mut clients: Vec<(String, &'static str)> = Vec::new();
    for r in &referrals {
        if !clients.iter().any(|(c, _)| *c == r.client_id) {
            clients.push((r.client_id.clone(), "referral"));
        }
    }
    for w in &waiting {
        if !clients.iter().any(|(c, _)| *c == w.client_id) {
            clients.push((w.client_id.clone(), "waitlist"));
        }
    }
    let mut m = Markup::new();
    html!(
        m,
        "<form method=\"get\" action=\"/clients\" class=\"filters\"><div><label for=\"client-id\">Client id</label>\
         <input type=\"text\" id=\"client-id\" name=\"client\" required autocomplete=\"off\" spellcheck=\"false\" size=\"40\"></div>\
         <button type=\"submit\">Open the client's path</button></form>\
         <section aria-labelledby=\"recent-h\"><h2 id=\"recent-h\">Clients on your worklist and waitlist</h2>"
    );
    if clients.is_empty() {
        html!(m, "<p>None yet.</p>");
    } else {
        html!(m, "<ul class=\"clients\">");
        for (c, from) in &clients {
            html!(
                m,
                "<li><a href=\"/clients/{0}\">client {1}</a> <span class=\"muted\">({from})</span></li>",
                e(c),
                e(short(c))
            );
        }
        html!(m, "</ul>");
    }
    html!(m, "</section>");
    Ok(render(StatusCode::OK, "Client path", Nav::Clients, Some(&signed), &m))
}

/// The label of a source service.
fn source_label(s: &str) -> &'static str {
    match s {
        "intake" => "Intake",
        "matching" => "Matching",
        "referral" => "Referral",
        "waitlist" => "Waitlist",
        _ => "Other",
    }
}

/// `GET /clients/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response> {
    if !plausible_id(&id) {
        return Err(ConsoleError::Upstream(tonic::Status::not_found("no such client")));
    }
    let timeline = state
        .upstreams
        .referral
        .clone()
        .get_care_timeline(
            signed.caller.request(rpb::GetCareTimelineRequest { client_id: id.clone() }),
        )
        .await?
        .into_inner();
    let referrals = state
        .upstreams
        .referral
        .clone()
        .list_referrals(signed.caller.request(rpb::ListReferralsRequest {
            organization_id: signed.org().to_owned(),
            client_id: id.clone(),
            page_size: 50,
            ..Default::default()
        }))
        .await?
        .into_inner()
        .referrals;
    let names = directory(&state, &signed.caller).await?;
    let now = Utc::now();
    let mut m = Markup::new();
    html!(
        m,
        "<div data-live=\"client\" data-since=\"{}\"><p class=\"live-status\" role=\"status\" aria-live=\"polite\"></p>\
         <p>Client <code>{}</code>: every step the four services record for your organization, oldest first.</p>",
        now.timestamp_millis(),
        e(&id)
    );
    if !timeline.unavailable_sources.is_empty() {
        html!(
            m,
            "<div class=\"flash warn\" role=\"alert\"><p>Not shown just now (the service did not answer): {}. \
             Reload in a moment for the whole path.</p></div>",
            e(&timeline.unavailable_sources.join(", "))
        );
    }
    html!(m, "<section aria-labelledby=\"refs-h\"><h2 id=\"refs-h\">Referrals</h2>");
    if referrals.is_empty() {
        html!(m, "<p>No referral your organization is party to.</p>");
    } else {
        html!(
            m,
            "<table><caption>The client's referrals</caption><thead><tr><th scope=\"col\">Referral</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Urgency</th><th scope=\"col\">Provider</th>\
             <th scope=\"col\">Created</th></tr></thead><tbody>"
        );
        for r in &referrals {
            html!(
                m,
                "<tr data-referral-id=\"{id}\"><th scope=\"row\"><a href=\"/referrals/{id}\">referral {sid}</a></th>\
                 <td>{st}</td><td>{u}</td><td>{p}</td><td>{c}</td></tr>",
                id = e(&r.id),
                sid = e(short(&r.id)),
                st = e(&status_words(r.status)),
                u = e(&urgency_words(r.urgency)),
                p = e(&names.name_or_short(&r.provider_id)),
                c = ts(r.created_at.as_ref()).map(time).unwrap_or_default(),
            );
        }
        html!(m, "</tbody></table>");
    }
    html!(
        m,
        "</section><section aria-labelledby=\"tl-h\"><h2 id=\"tl-h\">Care timeline · {} steps</h2>",
        timeline.entries.len()
    );
    if timeline.entries.is_empty() {
        html!(m, "<p>No step visible to your organization.</p>");
    } else {
        html!(m, "<ol class=\"timeline\">");
        for ev in &timeline.entries {
            let mut details: Vec<(String, String)> =
                ev.details.iter().map(|(k, v)| (code_words(k), v.replace('_', " "))).collect();
            details.sort();
            html!(
                m,
                "<li class=\"src-{src}\"><p><span class=\"source\">{label}</span> <strong>{kind}</strong> · {when}</p>",
                src = e(&ev.source),
                label = source_label(&ev.source),
                kind = e(&code_words(&ev.kind)),
                when = ts(ev.occurred_at.as_ref()).map(time).unwrap_or_default(),
            );
            if !ev.provider_id.is_empty() {
                html!(m, "<p>Provider: {}</p>", e(&names.label(&ev.provider_id)));
            }
            if !ev.referral_id.is_empty() {
                html!(
                    m,
                    "<p><a href=\"/referrals/{0}\">referral {1}</a></p>",
                    e(&ev.referral_id),
                    e(short(&ev.referral_id))
                );
            }
            if !details.is_empty() {
                html!(m, "<dl class=\"details\">");
                for (k, v) in details {
                    html!(m, "<dt>{}</dt><dd>{}</dd>", e(&k), e(&v));
                }
                html!(m, "</dl>");
            }
            html!(m, "</li>");
        }
        html!(m, "</ol>");
    }
    html!(m, "</section></div>");
    Ok(render(
        StatusCode::OK,
        &format!("Client path: client {}", short(&id)),
        Nav::Clients,
        Some(&signed),
        &m,
    ))
}
