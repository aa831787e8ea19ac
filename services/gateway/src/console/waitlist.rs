//! The waitlist board (`/waitlist`): the user's organization's waiting entries by band in fair-aging order
//! (`ListWaitlist`), each with its weeks waited against the 6- and 18-week marks, the share of its band's
//! maximum wait already used (the priority), the wait estimate (`EstimateWait`), the next check-in, the
//! bridge support, and its pending offers with their expiry (answered for the client with
//! `RespondToOffer`), and a link to the entry's page for check-ins and removal ([`super::entry`]). A
//! coordinator opens slots at one of their organization's providers (`OpenSlots`) and
//! sees at once whom they were offered to.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use continuum_proto::waitlist::v1 as wpb;
use http::StatusCode;
use serde::Deserialize;

use super::error::{ConsoleError, Result};
use super::html::{Markup, code_words, e, short, span, time, ts, words};
use super::{Directory, Nav, Signed, csrf_field, directory, page as render, see_other};
use crate::startup::AppState;

/// Most entries the board reads.
const MAX_ROWS: usize = 600;
/// Most entries given a wait estimate (one call each).
const MAX_ESTIMATES: usize = 100;

/// Bands: (enum, label, maximum acceptable wait in days).
pub const BANDS: [(wpb::Band, &str, i64); 3] = [
    (wpb::Band::Urgent, "Urgent band (seen within 7 days)", 7),
    (wpb::Band::Soon, "Soon band (seen within 28 days)", 28),
    (wpb::Band::Routine, "Routine band (seen within 42 days)", 42),
];

/// Reads every waiting entry of the user's organization (priority order).
pub async fn entries(state: &AppState, signed: &Signed) -> Result<Vec<wpb::WaitlistEntry>> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = state
            .upstreams
            .waitlist
            .clone()
            .list_waitlist(signed.caller.request(wpb::ListWaitlistRequest {
                organization_id: signed.org().to_owned(),
                page_size: 200,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        out.extend(page.entries);
        if page.next_page_token.is_empty() || out.len() >= MAX_ROWS {
            break;
        }
        token = page.next_page_token;
    }
    Ok(out)
}

/// Wait estimates of up to [`MAX_ESTIMATES`] entries, and the offers of those holding one (`ListWaitlist`
/// answers without offers: `GetEntry` has them), asked concurrently. An entry whose call fails simply has
/// no estimate, or keeps no offers.
async fn details(
    state: &AppState,
    signed: &Signed,
    entries: &mut [wpb::WaitlistEntry],
) -> HashMap<String, wpb::EstimateWaitResponse> {
    let mut set = tokio::task::JoinSet::new();
    for entry in entries.iter().take(MAX_ESTIMATES) {
        let mut client = state.upstreams.waitlist.clone();
        let req = signed.caller.request(wpb::EstimateWaitRequest { entry_id: entry.id.clone() });
        let id = entry.id.clone();
        let offered = entry.status == wpb::EntryStatus::Offered as i32;
        let get = signed.caller.request(wpb::GetEntryRequest { entry_id: entry.id.clone() });
        set.spawn(async move {
            let estimate = client.estimate_wait(req).await.map(|r| r.into_inner()).ok();
            let offers = if offered {
                client
                    .get_entry(get)
                    .await
                    .ok()
                    .and_then(|r| r.into_inner().entry)
                    .map(|e| e.offers)
            } else {
                None
            };
            (id, estimate, offers)
        });
    }
    let mut out = HashMap::new();
    while let Some(done) = set.join_next().await {
        if let Ok((id, estimate, offers)) = done {
            if let Some(offers) = offers
                && let Some(entry) = entries.iter_mut().find(|e| e.id == id)
            {
                entry.offers = offers;
            }
            if let Some(est) = estimate {
                out.insert(id, est);
            }
        }
    }
    out
}

/// Days waited since enqueue at `now`.
pub fn days_waited(entry: &wpb::WaitlistEntry, now: DateTime<Utc>) -> f64 {
    ts(entry.enqueued_at.as_ref()).map_or(0.0, |t| (now - t).num_seconds().max(0) as f64 / 86_400.0)
}

/// A small bar of weeks waited against the 6- and 18-week marks (decorative: the cell's text says the
/// same).
pub fn weeks_bar(weeks: f64) -> String {
    let scale = 20.0_f64.max(weeks);
    let x = |w: f64| (w / scale * 160.0).round();
    let fill = if weeks >= 18.0 {
        "#9f1239"
    } else if weeks >= 6.0 {
        "#92400e"
    } else {
        "#1e40af"
    };
    format!(
        "<svg class=\"bar\" width=\"164\" height=\"14\" viewBox=\"0 0 164 14\" aria-hidden=\"true\" focusable=\"false\">\
         <rect x=\"0\" y=\"3\" width=\"160\" height=\"8\" fill=\"#e5e7eb\"/>\
         <rect x=\"0\" y=\"3\" width=\"{w}\" height=\"8\" fill=\"{fill}\"/>\
         <line x1=\"{s}\" x2=\"{s}\" y1=\"0\" y2=\"14\" stroke=\"#111827\" stroke-width=\"1.5\"/>\
         <line x1=\"{t}\" x2=\"{t}\" y1=\"0\" y2=\"14\" stroke=\"#111827\" stroke-width=\"1.5\"/></svg>",
        w = x(weeks),
        s = x(6.0),
        t = x(18.0)
    )
}

fn marks_text(weeks: f64) -> String {
    if weeks >= 18.0 {
        format!("{weeks:.1} weeks: past the 18-week mark")
    } else if weeks >= 6.0 {
        format!("{weeks:.1} weeks: past the 6-week mark, {:.1} to 18", 18.0 - weeks)
    } else {
        format!("{weeks:.1} weeks: {:.1} to the 6-week mark", 6.0 - weeks)
    }
}

/// An entry status in words ("waiting"; empty when unknown).
pub fn entry_status(s: i32) -> String {
    wpb::EntryStatus::try_from(s)
        .map(|s| words(s.as_str_name(), "ENTRY_STATUS_"))
        .unwrap_or_default()
}

/// A band in words ("urgent"; empty when unknown).
pub fn band_words(b: i32) -> String {
    wpb::Band::try_from(b).map(|b| words(b.as_str_name(), "BAND_")).unwrap_or_default()
}

fn bridge(entry: &wpb::WaitlistEntry, names: &Directory) -> String {
    let kind = code_words(&entry.bridge_support);
    let status = wpb::BridgeStatus::try_from(entry.bridge_status)
        .map(|s| words(s.as_str_name(), "BRIDGE_STATUS_"))
        .unwrap_or_default();
    match names.get(&entry.bridge_provider_id) {
        Some(p) => format!("{kind}: {}", p.name),
        None if status.is_empty() || status == "unspecified" => kind,
        None => format!("{kind} ({status})"),
    }
}

/// `GET /waitlist`.
pub async fn page(State(state): State<AppState>, signed: Signed) -> Result<Response> {
    let now = Utc::now();
    let mut list = entries(&state, &signed).await?;
    let (names, est) =
        tokio::join!(directory(&state, &signed.caller), details(&state, &signed, &mut list));
    let names = names?;
    let mut m = Markup::new();

    // Open a slot.
    let own = names.own(signed.org());
    html!(
        m,
        "<section aria-labelledby=\"open-h\" class=\"panel\"><h2 id=\"open-h\">Open a slot</h2>\
         <p>A slot opened at one of your providers is offered at once to the waiting client first in fair-aging \
         order (several slots: the best assignment); the offer holds it until it expires.</p>\
         <form method=\"post\" action=\"/waitlist/open-slots\" class=\"filters\">{}\
         <div><label for=\"slot-provider\">Provider</label><select id=\"slot-provider\" name=\"provider_id\" required>",
        csrf_field(&signed)
    );
    for (id, n) in &own {
        html!(m, "<option value=\"{}\">{}</option>", e(id), e(n));
    }
    html!(
        m,
        "</select></div><div><label for=\"slot-count\">Slots</label>\
         <input type=\"number\" id=\"slot-count\" name=\"slots\" min=\"1\" max=\"50\" value=\"1\" required></div>\
         <button type=\"submit\">Open and offer</button></form></section>"
    );

    let pending: usize = list
        .iter()
        .map(|en| en.offers.iter().filter(|o| o.status == wpb::OfferStatus::Pending as i32).count())
        .sum();
    let due =
        list.iter().filter(|en| ts(en.next_check_in_at.as_ref()).is_some_and(|t| t <= now)).count();
    html!(
        m,
        "<div data-live=\"waitlist\" data-since=\"{}\"><p class=\"summary\">{} waiting · {pending} offers pending · \
         {due} check-ins due</p><p class=\"live-status\" role=\"status\" aria-live=\"polite\"></p>",
        now.timestamp_millis(),
        list.len()
    );
    for (band, label, max_days) in BANDS {
        let rows: Vec<&wpb::WaitlistEntry> =
            list.iter().filter(|en| en.band == band as i32).collect();
        let hid = format!("band-{}", band_words(band as i32));
        html!(
            m,
            "<section aria-labelledby=\"{hid}\"><h2 id=\"{hid}\">{label} · {}</h2>",
            rows.len()
        );
        if rows.is_empty() {
            html!(m, "<p>Nobody waiting in this band.</p></section>");
            continue;
        }
        html!(
            m,
            "<table class=\"board\"><caption>{label}, highest priority first</caption><thead><tr>\
             <th scope=\"col\">Client</th><th scope=\"col\">Waited (6- and 18-week marks)</th>\
             <th scope=\"col\">Priority</th><th scope=\"col\">Estimate</th><th scope=\"col\">Check-in</th>\
             <th scope=\"col\">Bridge support</th><th scope=\"col\">Offers</th></tr></thead><tbody>"
        );
        for en in rows {
            let days = days_waited(en, now);
            let weeks = days / 7.0;
            let priority = en.wait_fraction * 100.0;
            let over = if en.wait_fraction > 1.0 {
                "<br><strong class=\"tag overdue\">past the band's maximum</strong>"
            } else {
                ""
            };
            html!(
                m,
                "<tr data-entry-id=\"{id}\"><th scope=\"row\"><a href=\"/clients/{client}\" aria-label=\"Client path of client {sc}\">{sc}</a>\
                 <br><span class=\"muted\">{status}</span></th>\
                 <td>{bar} <span>{marks}</span><br><span class=\"muted\">since {since}</span></td>\
                 <td>{priority:.0}% of {max_days} days{over}</td><td>",
                id = e(&en.id),
                client = e(&en.client_id),
                sc = e(short(&en.client_id)),
                status = e(&entry_status(en.status)),
                bar = weeks_bar(weeks),
                marks = e(&marks_text(weeks)),
                since = ts(en.enqueued_at.as_ref()).map(time).unwrap_or_default(),
            );
            match est.get(&en.id) {
                Some(x) => {
                    html!(m, "{} ahead; {}–{} more days", x.position, x.low_days, x.high_days)
                }
                None => html!(m, "<span class=\"muted\">none</span>"),
            }
            html!(m, "</td><td>");
            match ts(en.next_check_in_at.as_ref()) {
                Some(t) if t <= now => {
                    html!(m, "<strong class=\"tag overdue\">Due</strong> since {}", time(t))
                }
                Some(t) => html!(m, "next {} (in {})", time(t), e(&span(t - now))),
                None => html!(m, "<span class=\"muted\">none</span>"),
            }
            if en.missed_check_ins > 0 {
                html!(m, "<br><strong>{} missed</strong>", en.missed_check_ins);
            }
            html!(
                m,
                "<br><a href=\"/waitlist/entries/{}\">Check-in or remove<span class=\"sr-only\"> for client {}</span></a>",
                e(&en.id),
                e(short(&en.client_id))
            );
            html!(m, "</td><td>{}</td><td>", e(&bridge(en, &names)));
            let offers: Vec<&wpb::Offer> =
                en.offers.iter().filter(|o| o.status == wpb::OfferStatus::Pending as i32).collect();
            if offers.is_empty() {
                html!(m, "<span class=\"muted\">no pending offer</span>");
            }
            for o in offers {
                let provider = names.name_or_short(&o.provider_id);
                html!(
                    m,
                    "<div class=\"offer\" data-offer-id=\"{oid}\"><strong>Offer pending</strong>: {p}<br>expires {exp}\
                     <form method=\"post\" action=\"/waitlist/offers/{oid}/respond\">{csrf}\
                     <input type=\"hidden\" name=\"answer\" value=\"accept\">\
                     <button type=\"submit\">Client accepts<span class=\"sr-only\"> the offer for client {sc}</span></button></form>\
                     <form method=\"post\" action=\"/waitlist/offers/{oid}/respond\">{csrf}\
                     <input type=\"hidden\" name=\"answer\" value=\"decline\">\
                     <button type=\"submit\" class=\"secondary\">Client declines<span class=\"sr-only\"> the offer for client {sc}</span></button></form></div>",
                    oid = e(&o.id),
                    p = e(&provider),
                    exp = ts(o.expires_at.as_ref()).map(time).unwrap_or_default(),
                    csrf = csrf_field(&signed),
                    sc = e(short(&en.client_id)),
                );
            }
            html!(m, "</td></tr>");
        }
        html!(m, "</tbody></table></section>");
    }
    html!(m, "</div>");
    Ok(render(StatusCode::OK, "Waitlist board", Nav::Waitlist, Some(&signed), &m))
}

/// The open-slots form.
#[derive(Debug, Deserialize)]
pub struct OpenSlotsForm {
    csrf: Option<String>,
    provider_id: String,
    slots: i32,
}

/// `POST /waitlist/open-slots`.
pub async fn open_slots(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<OpenSlotsForm>,
) -> Result<Response> {
    signed.check_csrf(f.csrf.as_deref())?;
    if !(1..=50).contains(&f.slots) {
        return Err(ConsoleError::BadForm("open between 1 and 50 slots".to_owned()));
    }
    let answer = state
        .upstreams
        .waitlist
        .clone()
        .open_slots(signed.caller.request(wpb::OpenSlotsRequest {
            provider_id: f.provider_id.clone(),
            slots: f.slots,
            event_id: String::new(),
        }))
        .await;
    match answer {
        Ok(a) => {
            let a = a.into_inner();
            tracing::info!(offers = a.offers.len(), "console: slots opened");
            let mut text = if a.offers.is_empty() {
                "Slot opened: nobody waiting for this provider in your organization, so no offer was made."
                    .to_owned()
            } else {
                let list: Vec<String> = a
                    .offers
                    .iter()
                    .map(|o| {
                        format!(
                            "offer {} (expires {})",
                            short(&o.id),
                            ts(o.expires_at.as_ref())
                                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!("Slot opened and offered: {}.", list.join(", "))
            };
            if a.offers_to_other_organizations > 0 {
                text.push_str(&format!(
                    " {} offer(s) went to other organizations' waiting clients.",
                    a.offers_to_other_organizations
                ));
            }
            signed.flash(&state.console, "ok", text).await;
            Ok(see_other("/waitlist"))
        }
        Err(s) => {
            super::error::refused(&signed, &state.console, s, "No slot opened", "/waitlist").await
        }
    }
}

/// The answer to an offer, given for the client.
#[derive(Debug, Deserialize)]
pub struct RespondForm {
    csrf: Option<String>,
    answer: String,
}

/// `POST /waitlist/offers/{id}/respond`.
pub async fn respond(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(f): Form<RespondForm>,
) -> Result<Response> {
    use wpb::respond_to_offer_request::{Accept, Answer, Decline};
    signed.check_csrf(f.csrf.as_deref())?;
    let answer = match f.answer.as_str() {
        "accept" => Answer::Accept(Accept { appointment_at: None }),
        "decline" => Answer::Decline(Decline {}),
        _ => return Err(ConsoleError::BadForm("accept or decline".to_owned())),
    };
    let result = state
        .upstreams
        .waitlist
        .clone()
        .respond_to_offer(
            signed
                .caller
                .request(wpb::RespondToOfferRequest { offer_id: id, answer: Some(answer) }),
        )
        .await;
    match result {
        Ok(a) => {
            let a = a.into_inner();
            let text = match (&a.offer, &a.next_offer) {
                (Some(o), _) if !o.referral_id.is_empty() => format!(
                    "Offer accepted: referral {} created, scheduled.",
                    short(&o.referral_id)
                ),
                (_, Some(next)) => {
                    format!("Offer declined; the slot went on as offer {}.", short(&next.id))
                }
                _ => "Offer answered.".to_owned(),
            };
            signed.flash(&state.console, "ok", text).await;
            Ok(see_other("/waitlist"))
        }
        Err(s) => {
            super::error::refused(&signed, &state.console, s, "Offer not answered", "/waitlist")
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_told_against_the_marks() {
        assert_eq!(marks_text(2.0), "2.0 weeks: 4.0 to the 6-week mark");
        assert_eq!(marks_text(7.0), "7.0 weeks: past the 6-week mark, 11.0 to 18");
        assert_eq!(marks_text(19.0), "19.0 weeks: past the 18-week mark");
        let bar = weeks_bar(10.0);
        assert!(bar.contains("aria-hidden=\"true\""));
        assert!(bar.contains("width=\"80\""), "10 of 20 weeks is half the bar: {bar}");
    }
}
