//! Live updates (`GET /events`): the user's organization's referral events from `WatchReferrals`, as
//! server-sent events, so two coordinators never act on stale rows (the page's script marks the row stale
//! and refreshes it; see `assets/console.js`).
//!
//! Each event is `event: referral`, `id:` the watch cursor (the browser sends it back as `Last-Event-ID`
//! when it reconnects, and the watch resumes after it), `data:` `{"referral_id", "action", "to_status"}`:
//! ids and codes only. Without `Last-Event-ID` the watch starts at the page's render time (`?since=`
//! milliseconds, passed on as `WatchReferralsRequest.since`, so the referral service does not replay the
//! organization's whole history), and the few older events a late commit may still bring are skipped. A stream lasts at most
//! [`MAX_STREAM`] and never past the session's end; the browser then reconnects, which checks the session
//! again (and does not extend it: the stream never touches the session's idle clock).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use continuum_proto::referral::v1 as rpb;
use http::HeaderMap;
use serde::Deserialize;
use tokio_stream::StreamExt as _;

use super::error::ConsoleError;
use super::html::ts;
use super::session;
use super::worklist::status_words;
use crate::startup::AppState;

/// Longest one stream stays open before the browser reconnects.
pub const MAX_STREAM: Duration = Duration::from_secs(600);

/// `?since=`.
#[derive(Debug, Default, Deserialize)]
pub struct Since {
    since: Option<i64>,
}

/// The data of one event.
pub fn event_data(referral_id: &str, e: &rpb::ReferralEvent) -> String {
    let action = rpb::ReferralAction::try_from(e.action)
        .map(|a| a.as_str_name().trim_start_matches("REFERRAL_ACTION_").to_ascii_lowercase())
        .unwrap_or_default();
    serde_json::json!({
        "referral_id": referral_id,
        "action": if action == "unspecified" { "created".to_owned() } else { action },
        "to_status": status_words(e.to_status),
    })
    .to_string()
}

/// `GET /events`.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> Response {
    let now = Utc::now();
    let Some(id) = session::cookie_value(&headers) else {
        return ConsoleError::SignedOut.into_response();
    };
    let s = match state.console.sessions.peek(&id, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return ConsoleError::SignedOut.into_response(),
        Err(e) => return ConsoleError::Sessions(e).into_response(),
    };
    let Some(caller) = s.caller() else { return ConsoleError::SignedOut.into_response() };
    let cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|c| c.len() <= 200)
        .unwrap_or_default()
        .to_owned();
    let since = if cursor.is_empty() { q.since } else { None };
    let answer = state
        .upstreams
        .referral
        .clone()
        .watch_referrals(caller.request(rpb::WatchReferralsRequest {
            organization_id: s.identity.organization_id.clone(),
            cursor,
            since: since.map(|ms| prost_types::Timestamp {
                seconds: ms.div_euclid(1000),
                nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
            }),
        }))
        .await;
    let mut upstream = match answer {
        Ok(r) => r.into_inner(),
        Err(status) => return ConsoleError::Upstream(status).into_response(),
    };
    let until =
        (state.console.sessions.ends_at(&s) - now).to_std().unwrap_or_default().min(MAX_STREAM);
    let sessions = state.console.sessions.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(until);
        tokio::pin!(deadline);
        loop {
            let next = tokio::select! {
                () = &mut deadline => break,
                () = tx.closed() => break,
                n = upstream.message() => n,
            };
            let msg = match next {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(status) => {
                    tracing::info!(grpc_code = ?status.code(), "console: referral watch ended");
                    break;
                }
            };
            // Signed out meanwhile (or the session store cannot tell): stop at once; the browser
            // reconnects and is told which.
            if !matches!(sessions.peek(&id, Utc::now()).await, Ok(Some(_))) {
                break;
            }
            let Some(ev) = msg.event.as_ref() else { continue };
            if let (Some(since), Some(at)) = (since, ts(ev.occurred_at.as_ref()))
                && at.timestamp_millis() < since
            {
                continue;
            }
            let mut event =
                Event::default().event("referral").data(event_data(&msg.referral_id, ev));
            // (`id` refuses line breaks and NUL; a cursor never has them, but a bad one must not panic.)
            if !msg.cursor.contains(['\n', '\r', '\0']) {
                event = event.id(msg.cursor.clone());
            }
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    let mut r = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_is_ids_and_codes() {
        let ev = rpb::ReferralEvent {
            action: rpb::ReferralAction::Accept as i32,
            to_status: rpb::ReferralStatus::Accepted as i32,
            note: "free text never sent".to_owned(),
            ..Default::default()
        };
        let data = event_data("r1", &ev);
        assert_eq!(data, r#"{"action":"accept","referral_id":"r1","to_status":"accepted"}"#);
    }
}
