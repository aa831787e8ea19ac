//! One waitlist entry (`/waitlist/entries/{id}`, from the board): its facts (`GetEntry`) and the two
//! things a coordinator does to it between offers — record a check-in (`RecordCheckIn`: answered or
//! missed, with an optional PHQ-9 / GAD-7 re-screen and the clinician's imminent-risk judgement) and
//! remove it from the list (`RemoveEntry`, with the operational reason the API requires). Both act at the
//! version shown, so a page left open while someone else acted is refused plainly ("changed by someone
//! else"), never applied to a state the coordinator did not see.
//!
//! What a check-in leads to is said at once: the band after the re-screen, outreach opened after missed
//! check-ins, a re-screen still pending, and — first and as an alert — a risk rise that took the client
//! off the list into the crisis interlock.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;
use continuum_proto::waitlist::v1 as wpb;
use http::StatusCode;

use super::error::{ConsoleError, Result, refused};
use super::html::{Markup, e, short, time, ts};
use super::waitlist::{band_words, entry_status};
use super::{Nav, Signed, csrf_field, page as render, see_other};
use crate::fhir::questionnaires::{INSTRUMENTS, Scale};
use crate::startup::AppState;

/// The re-screens a check-in may carry: (form field prefix, instrument id, items).
const RESCREENS: [(&str, &str, usize); 2] = [("phq9", "phq-9", 9), ("gad7", "gad-7", 7)];

/// A check-in as the form sent it, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInForm {
    /// The client answered.
    pub answered: bool,
    /// PHQ-9 items (empty: not asked).
    pub phq9: Vec<i32>,
    /// GAD-7 items (empty: not asked).
    pub gad7: Vec<i32>,
    /// The clinician judges risk imminent.
    pub imminent: bool,
    /// The entry version the form was shown at.
    pub version: Option<i64>,
}

/// Reads a check-in form's fields; every problem is named in one sentence (nothing is sent upstream
/// then). Items are all-or-none per instrument: a partial re-screen cannot be scored.
pub fn parse_check_in(fields: &[(String, String)]) -> std::result::Result<CheckInForm, String> {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
    let mut problems = Vec::new();
    let answered = match get("answered") {
        Some("yes") => true,
        Some("no") => false,
        _ => {
            problems.push("say whether the client answered".to_owned());
            false
        }
    };
    let mut items = |prefix: &str, title: &str, n: usize| -> Vec<i32> {
        let mut values = Vec::with_capacity(n);
        let mut missing = Vec::new();
        for i in 1..=n {
            match get(&format!("{prefix}_{i}")).filter(|v| !v.is_empty()) {
                Some(v) => match v.parse::<i32>() {
                    Ok(x) if (0..=3).contains(&x) => values.push(x),
                    _ => problems.push(format!("{title} item {i}: choose one of the answers")),
                },
                None => missing.push(i.to_string()),
            }
        }
        if values.is_empty() {
            return Vec::new();
        }
        if !missing.is_empty() {
            problems.push(format!(
                "{title}: answer all {n} items or none (item {} not answered)",
                missing.join(", ")
            ));
        }
        values
    };
    let phq9 = items("phq9", "PHQ-9", 9);
    let gad7 = items("gad7", "GAD-7", 7);
    let imminent = get("imminent").is_some_and(|v| v == "yes");
    if !answered && (!phq9.is_empty() || !gad7.is_empty() || imminent) {
        problems.push("a missed check-in carries no answers and no risk judgement".to_owned());
    }
    let version = match get("version").filter(|v| !v.is_empty()) {
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                problems.push("the entry version is not a version".to_owned());
                None
            }
        },
        None => None,
    };
    if problems.is_empty() {
        Ok(CheckInForm { answered, phq9, gad7, imminent, version })
    } else {
        Err(format!("Check-in not recorded: {}.", problems.join("; ")))
    }
}

/// What the coordinator reads after a check-in: (flash level, sentence).
pub fn check_in_outcome(a: &wpb::RecordCheckInResponse) -> (&'static str, String) {
    if a.interlock_required {
        let routed = if a.rerouted {
            "intake has already routed them to crisis-capable care"
        } else {
            "route them to crisis care now"
        };
        return (
            "error",
            format!(
                "Risk rose at this check-in: the client left the waitlist for the crisis interlock; {routed}."
            ),
        );
    }
    let band = a.entry.as_ref().map(|en| band_words(en.band)).unwrap_or_default();
    let mut text = format!("Check-in recorded: band now {band}.");
    if a.outreach_opened {
        text.push_str(" Two check-ins missed in a row: outreach opened.");
    }
    if a.rescreen_pending {
        text.push_str(
            " Intake could not re-screen the answers (unavailable): banded by the waitlist's own rules; repeat the re-screen later.",
        );
    }
    ("ok", text)
}

fn back(id: &str) -> String {
    format!("/waitlist/entries/{}", super::url_encode(id))
}

/// The `<select>` of one re-screen item.
fn item_select(m: &mut Markup, prefix: &str, i: usize, label: &str, answers: &[(&str, &str)]) {
    html!(
        m,
        "<div><label for=\"{prefix}-{i}\">{}</label><select id=\"{prefix}-{i}\" name=\"{prefix}_{i}\">\
         <option value=\"\">not asked</option>",
        e(label)
    );
    for (score, (_, words)) in answers.iter().enumerate() {
        html!(m, "<option value=\"{score}\">{score}: {}</option>", e(words));
    }
    html!(m, "</select></div>");
}

/// `GET /waitlist/entries/{id}`.
pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response> {
    let entry = state
        .upstreams
        .waitlist
        .clone()
        .get_entry(signed.caller.request(wpb::GetEntryRequest { entry_id: id.clone() }))
        .await?
        .into_inner()
        .entry
        .unwrap_or_default();
    let now = Utc::now();
    let mut m = Markup::new();
    let status = entry_status(entry.status);
    let band = band_words(entry.band);
    let weeks = super::waitlist::days_waited(&entry, now) / 7.0;
    html!(
        m,
        "<dl class=\"facts\"><dt>Client</dt><dd><a href=\"/clients/{}\">client {}</a></dd>\
         <dt>Status</dt><dd>{}</dd><dt>Band</dt><dd>{}</dd><dt>Waiting since</dt><dd>{} ({weeks:.1} weeks)</dd>\
         <dt>Next check-in</dt><dd>{}</dd><dt>Check-ins missed in a row</dt><dd>{}</dd><dt>Version</dt><dd>{}</dd>",
        e(&entry.client_id),
        e(short(&entry.client_id)),
        e(&status),
        e(&band),
        ts(entry.enqueued_at.as_ref()).map(time).unwrap_or_default(),
        ts(entry.next_check_in_at.as_ref()).map_or_else(|| "none".to_owned(), time),
        entry.missed_check_ins,
        entry.version
    );
    if !entry.removal_reason.is_empty() {
        html!(m, "<dt>Removed</dt><dd>{}</dd>", e(&entry.removal_reason));
    }
    html!(m, "</dl>");
    let active = matches!(
        wpb::EntryStatus::try_from(entry.status),
        Ok(wpb::EntryStatus::Waiting | wpb::EntryStatus::Offered)
    );
    if !active {
        html!(m, "<p>This entry is no longer on the list: nothing more to record here.</p>");
        return Ok(render(StatusCode::OK, "Waitlist entry", Nav::Waitlist, Some(&signed), &m));
    }
    let id_e = e(&entry.id);
    html!(
        m,
        "<section aria-labelledby=\"checkin-h\" class=\"panel\"><h2 id=\"checkin-h\">Record a check-in</h2>\
         <p>A check-in while waiting: whether the client answered and, optionally, a re-screen. A re-screen that \
         shows more need raises the band; a rise in risk takes the client off the list into the crisis pathway.</p>\
         <form method=\"post\" action=\"/waitlist/entries/{id_e}/check-in\" class=\"stack\" data-action=\"check-in\">{}\
         <input type=\"hidden\" name=\"version\" value=\"{}\">\
         <fieldset><legend>Did the client answer?</legend>\
         <div><input type=\"radio\" id=\"answered-yes\" name=\"answered\" value=\"yes\" required checked>\
         <label for=\"answered-yes\">Answered</label></div>\
         <div><input type=\"radio\" id=\"answered-no\" name=\"answered\" value=\"no\">\
         <label for=\"answered-no\">Missed (no answer)</label></div></fieldset>",
        csrf_field(&signed),
        entry.version
    );
    for (prefix, instrument, _) in RESCREENS {
        let Some(ins) = INSTRUMENTS.iter().find(|i| i.id == instrument) else { continue };
        let Scale::Likert(answers, _) = ins.scale else { continue };
        html!(
            m,
            "<fieldset class=\"items\"><legend>{} — optional re-screen (all items or none)</legend>",
            e(ins.title)
        );
        for (i, label) in ins.items.iter().enumerate() {
            item_select(&mut m, prefix, i + 1, label, answers);
        }
        html!(m, "</fieldset>");
    }
    html!(
        m,
        "<div><input type=\"checkbox\" id=\"imminent\" name=\"imminent\" value=\"yes\">\
         <label for=\"imminent\">I judge the client's risk to be imminent now</label></div>\
         <button type=\"submit\">Record check-in</button></form></section>\
         <section aria-labelledby=\"remove-h\" class=\"panel\"><h2 id=\"remove-h\">Remove from the waitlist</h2>\
         <p>For an operational reason only (moved away, care found elsewhere, asked to leave); any pending offer is \
         withdrawn and goes on to the next client.</p>\
         <form method=\"post\" action=\"/waitlist/entries/{id_e}/remove\" class=\"stack\" data-action=\"remove\">{}\
         <input type=\"hidden\" name=\"version\" value=\"{}\">\
         <div><label for=\"remove-reason\">Reason (required, not clinical)</label>\
         <input type=\"text\" id=\"remove-reason\" name=\"reason\" required minlength=\"1\" maxlength=\"200\"></div>\
         <button type=\"submit\" class=\"danger\">Remove from the waitlist</button></form></section>",
        csrf_field(&signed),
        entry.version
    );
    Ok(render(StatusCode::OK, "Waitlist entry", Nav::Waitlist, Some(&signed), &m))
}

/// `POST /waitlist/entries/{id}/check-in`.
pub async fn check_in(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let csrf = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str());
    signed.check_csrf(csrf)?;
    let here = back(&id);
    let form = match parse_check_in(&fields) {
        Ok(f) => f,
        Err(text) => {
            signed.flash(&state.console, "error", text).await;
            return Ok(see_other(&here));
        }
    };
    let answer = state
        .upstreams
        .waitlist
        .clone()
        .record_check_in(signed.caller.request(wpb::RecordCheckInRequest {
            entry_id: id,
            answered: form.answered,
            phq9_items: form.phq9,
            gad7_items: form.gad7,
            clinician_reports_imminent_risk: form.imminent,
            expected_version: form.version,
            ..Default::default()
        }))
        .await;
    match answer {
        Ok(a) => {
            let a = a.into_inner();
            tracing::info!(
                interlock = a.interlock_required,
                outreach = a.outreach_opened,
                "console: check-in recorded"
            );
            let (level, text) = check_in_outcome(&a);
            signed.flash(&state.console, level, text).await;
            // The entry left the list on a risk rise: the board, not its (closed) page.
            Ok(see_other(if a.interlock_required { "/waitlist" } else { &here }))
        }
        Err(s) => refused(&signed, &state.console, s, "Check-in not recorded", &here).await,
    }
}

/// The removal form.
#[derive(Debug, serde::Deserialize)]
pub struct RemoveForm {
    csrf: Option<String>,
    reason: String,
    version: Option<i64>,
}

/// `POST /waitlist/entries/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(f): Form<RemoveForm>,
) -> Result<Response> {
    signed.check_csrf(f.csrf.as_deref())?;
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ConsoleError::BadForm("give a reason of 1 to 200 characters".to_owned()));
    }
    let here = back(&id);
    let answer = state
        .upstreams
        .waitlist
        .clone()
        .remove_entry(signed.caller.request(wpb::RemoveEntryRequest {
            entry_id: id,
            reason: reason.to_owned(),
            expected_version: f.version,
        }))
        .await;
    match answer {
        Ok(a) => {
            let entry = a.into_inner().entry.unwrap_or_default();
            tracing::info!("console: entry removed");
            signed
                .flash(
                    &state.console,
                    "ok",
                    format!("Removed from the waitlist: client {}.", short(&entry.client_id)),
                )
                .await;
            Ok(see_other("/waitlist"))
        }
        Err(s) => refused(&signed, &state.console, s, "Not removed", &here).await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_check_in_form_is_read_whole_or_refused_with_every_problem() {
        let mut full = vec![("answered", "yes"), ("version", "3")];
        let phq: Vec<String> = (1..=9).map(|i| format!("phq9_{i}")).collect();
        for k in &phq {
            full.push((k.as_str(), "2"));
        }
        full.push(("gad7_1", ""));
        let f = parse_check_in(&fields(&full)).unwrap();
        assert_eq!(f.phq9, vec![2; 9]);
        assert!(f.gad7.is_empty(), "an all-blank instrument is not asked");
        assert_eq!((f.answered, f.imminent, f.version), (true, false, Some(3)));

        let missed = parse_check_in(&fields(&[("answered", "no")])).unwrap();
        assert!(!missed.answered && missed.phq9.is_empty() && missed.version.is_none());

        let err = parse_check_in(&fields(&[
            ("answered", "no"),
            ("gad7_1", "1"),
            ("gad7_2", "7"),
            ("imminent", "yes"),
        ]))
        .unwrap_err();
        assert!(err.contains("GAD-7 item 2: choose one"), "{err}");
        assert!(err.contains("GAD-7: answer all 7 items or none (item 3, 4, 5, 6, 7"), "{err}");
        assert!(err.contains("a missed check-in carries no answers"), "{err}");
        assert!(parse_check_in(&fields(&[])).unwrap_err().contains("whether the client answered"));
        assert!(
            parse_check_in(&fields(&[("answered", "yes"), ("version", "0")]))
                .unwrap_err()
                .contains("version")
        );
    }

    #[test]
    fn a_risk_rise_is_said_first_and_as_an_alert() {
        let rise = wpb::RecordCheckInResponse {
            interlock_required: true,
            outreach_opened: true,
            ..Default::default()
        };
        let (level, text) = check_in_outcome(&rise);
        assert_eq!(level, "error");
        assert!(text.starts_with("Risk rose") && text.contains("route them to crisis care now"));
        let routed = wpb::RecordCheckInResponse { rerouted: true, ..rise };
        assert!(check_in_outcome(&routed).1.contains("already routed"));
        let plain = wpb::RecordCheckInResponse {
            entry: Some(wpb::WaitlistEntry {
                band: wpb::Band::Urgent as i32,
                ..Default::default()
            }),
            outreach_opened: true,
            rescreen_pending: true,
            ..Default::default()
        };
        let (level, text) = check_in_outcome(&plain);
        assert_eq!(level, "ok");
        assert!(text.starts_with("Check-in recorded: band now urgent."), "{text}");
        assert!(
            text.contains("outreach opened") && text.contains("repeat the re-screen"),
            "{text}"
        );
    }
}
