//! The coordinator console at `/`: server-rendered HTML for referral coordinators, in front of the four
//! services.
//!
//! | page | reads (with the signed-in user's own token) |
//! |---|---|
//! | `/` worklist ([`worklist`]) | `ListReferrals` of the user's organization, `ListProviders` for names; actions are `TransitionReferral` at the version shown |
//! | `/referrals/{id}` ([`worklist`]) | `GetReferral`: events and every action the status allows |
//! | `/waitlist` board ([`waitlist`]) | `ListWaitlist`, `EstimateWait`, `ListProviders`; `OpenSlots`, `RespondToOffer` |
//! | `/waitlist/entries/{id}` ([`entry`]) | `GetEntry`; `RecordCheckIn` (answered or missed, optional re-screen), `RemoveEntry` |
//! | `/clients/{id}` client path ([`client`]) | `GetCareTimeline` (the four services' steps), `ListReferrals` of the client |
//! | `/wait-metrics` ([`metrics`]) | `GetWaitlistMetrics` with 12 weeks of the length by band |
//! | `/events` ([`events`]) | `WatchReferrals` of the user's organization, as server-sent events |
//! | `/sign-in`, `/sign-out` ([`auth`]) | bearer-token sign-in (any token the services accept), the development sign-in under `up --demo` |
//!
//! Rules it keeps: no database and no personal health information in the gateway (every page is read from
//! the services at request time, the session holds only the token, see [`session`]); every interpolated
//! value is HTML-escaped ([`html`]); every POST carries the session's CSRF token (403 otherwise); pages are
//! `Cache-Control: no-store` under a strict Content-Security-Policy (scripts and styles from `/console/`
//! only); one mapping from an upstream status to an HTML error page or flash ([`error`]). Logs and spans
//! carry route templates, codes and reasons only.

// First: its `html!` macro is used by the modules below.
#[macro_use]
pub mod html;

pub mod auth;
pub mod client;
pub mod entry;
pub mod error;
pub mod events;
pub mod metrics;
pub mod session;
pub mod waitlist;
pub mod worklist;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use http::request::Parts;
use http::{HeaderValue, StatusCode};

pub use self::auth::{DevSignIn, DevUser};
use self::error::ConsoleError;
use self::html::{Markup, e};
use self::session::{Flash, Session, Sessions};
use crate::startup::AppState;
use crate::upstream::Caller;

/// The console's shared state: the session store and, under `continuum up --demo` only, the development
/// sign-in.
#[derive(Clone, Debug)]
pub struct Console {
    /// Sessions.
    pub sessions: Sessions,
    /// The development sign-in (`None` in production: `continuum serve gateway` never has it).
    pub dev: Option<Arc<DevSignIn>>,
}

impl Console {
    /// A console whose sessions live in `cache` and whose cookies are `Secure` when `secure_cookie`.
    pub fn new(
        cache: continuum_cache::SharedCache,
        lifetimes: session::Lifetimes,
        secure_cookie: bool,
        dev: Option<DevSignIn>,
    ) -> Self {
        Self { sessions: Sessions::new(cache, lifetimes, secure_cookie), dev: dev.map(Arc::new) }
    }
}

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(worklist::page))
        .route("/referrals/{id}", get(worklist::detail))
        .route("/referrals/{id}/transition", post(worklist::transition))
        .route("/waitlist", get(waitlist::page))
        .route("/waitlist/open-slots", post(waitlist::open_slots))
        .route("/waitlist/offers/{id}/respond", post(waitlist::respond))
        .route("/waitlist/entries/{id}", get(entry::page))
        .route("/waitlist/entries/{id}/check-in", post(entry::check_in))
        .route("/waitlist/entries/{id}/remove", post(entry::remove))
        .route("/clients", get(client::find))
        .route("/clients/{id}", get(client::page))
        .route("/wait-metrics", get(metrics::page))
        .route("/events", get(events::stream))
        .route("/sign-in", get(auth::page).post(auth::sign_in))
        .route("/sign-in/dev", post(auth::dev_sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/console/console.css", get(css))
        .route("/console/console.js", get(js))
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/console.css"))
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("assets/console.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::CACHE_CONTROL, "public, max-age=300"),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// A request from a signed-in user.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The session id (the cookie's value).
    pub id: String,
    /// The session.
    pub session: Session,
    /// The flash message to show, taken from the session.
    pub flash: Option<Flash>,
    /// The user as a caller of the services.
    pub caller: Caller,
}

impl Signed {
    /// The user's organization (from the token; the services check it).
    pub fn org(&self) -> &str {
        &self.session.identity.organization_id
    }

    /// Sets the flash shown on the next page. The action it reports is done whatever happens here: a
    /// session store that fails now loses the message (logged), never the action.
    pub async fn flash(&self, console: &Console, level: &'static str, text: impl Into<String>) {
        if let Err(e) = console.sessions.flash(&self.id, level, text).await {
            tracing::warn!(error = %e, "console flash message not kept");
        }
    }

    /// Checks the CSRF token a form posted.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), ConsoleError> {
        if Sessions::check_csrf(&self.session, sent) { Ok(()) } else { Err(ConsoleError::Csrf) }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let found = match session::cookie_value(&parts.headers) {
            Some(id) => match state.console.sessions.get(&id, Utc::now()).await {
                Ok(s) => s.map(|s| (id, s)),
                Err(e) => return Err(ConsoleError::Sessions(e).into_response()),
            },
            None => None,
        };
        let Some((id, (session, flash))) = found else {
            if parts.method == http::Method::GET && parts.uri.path() != "/events" {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                return Err(see_other(&format!("/sign-in?next={}", url_encode(next))));
            }
            return Err(ConsoleError::SignedOut.into_response());
        };
        let caller = session.caller().ok_or(ConsoleError::SignedOut.into_response())?;
        Ok(Self { id, session, flash, caller })
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to go back to after a form (anything else: `/`), so no form sends a user off-site.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A 303 to `location` (after a POST: the browser then GETs it).
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Which navigation entry a page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// The worklist.
    Worklist,
    /// The waitlist board.
    Waitlist,
    /// A client's path.
    Clients,
    /// Wait metrics.
    Metrics,
    /// None (sign-in, errors).
    None,
}

/// The security headers of every console page.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// A whole page: skip link, header with navigation and the user, the flash, `<main>` with `body`.
pub fn page(
    status: StatusCode,
    title: &str,
    nav: Nav,
    signed: Option<&Signed>,
    body: &Markup,
) -> Response {
    let mut m = Markup::new();
    html!(
        m,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Continuum console</title>\
         <link rel=\"stylesheet\" href=\"/console/console.css\">\
         <script src=\"/console/console.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to main content</a>\
         <header class=\"top\"><p class=\"brand\"><a href=\"/\">Continuum</a> <span>coordinator console</span></p>",
        e(title)
    );
    if let Some(s) = signed {
        let item = |m: &mut Markup, which: Nav, href: &str, label: &str| {
            let current = if which == nav { " aria-current=\"page\"" } else { "" };
            html!(m, "<li><a href=\"{href}\"{current}>{label}</a></li>");
        };
        html!(m, "<nav aria-label=\"Console\"><ul>");
        item(&mut m, Nav::Worklist, "/", "Worklist");
        item(&mut m, Nav::Waitlist, "/waitlist", "Waitlist board");
        item(&mut m, Nav::Clients, "/clients", "Client path");
        item(&mut m, Nav::Metrics, "/wait-metrics", "Wait metrics");
        html!(m, "</ul></nav>");
        let id = &s.session.identity;
        let org = id.organization_name.clone().unwrap_or_else(|| id.organization_id.clone());
        html!(
            m,
            "<div class=\"who\"><p>Signed in as <strong>{}</strong> ({}) · {}</p>\
             <form method=\"post\" action=\"/sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" class=\"link\">Sign out</button></form></div>",
            e(&id.user),
            e(&id.roles.join(", ")),
            e(&org),
            e(&s.session.csrf)
        );
    }
    html!(m, "</header><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>", e(title));
    if let Some(f) = signed.and_then(|s| s.flash.as_ref()) {
        let role = if f.level == "ok" { "status" } else { "alert" };
        html!(m, "<div class=\"flash {}\" role=\"{role}\"><p>{}</p></div>", e(f.level), e(&f.text));
    }
    html!(
        m,
        "{body}</main><footer><p>Every page is read from the Continuum services with your own sign-in; \
         nothing is kept in the console.</p></footer></body></html>"
    );
    secure(
        (status, [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")], m.0).into_response(),
    )
}

/// A form's hidden CSRF field.
pub fn csrf_field(s: &Signed) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", e(&s.session.csrf))
}

/// One provider as the console shows it (a professional listing, not client data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// Display name.
    pub name: String,
    /// Its organization.
    pub organization_id: String,
    /// Its organization unit (empty: none).
    pub unit: String,
}

/// The user's view of the directory, by provider id: names for the pages, and the user's own providers
/// and units for the filters and forms.
#[derive(Clone, Debug, Default)]
pub struct Directory(std::collections::HashMap<String, Listed>);

impl Directory {
    /// The provider with this id, if visible.
    pub fn get(&self, id: &str) -> Option<&Listed> {
        self.0.get(id)
    }

    /// The provider's name, or its short id.
    pub fn name_or_short(&self, id: &str) -> String {
        self.get(id).map_or_else(|| html::short(id).to_owned(), |p| p.name.clone())
    }

    /// The provider's name, or "provider <short id>".
    pub fn label(&self, id: &str) -> String {
        self.get(id).map_or_else(|| format!("provider {}", html::short(id)), |p| p.name.clone())
    }

    /// `org`'s own providers as (id, name), by name.
    pub fn own(&self, org: &str) -> Vec<(&str, &str)> {
        let mut own: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(_, p)| p.organization_id.eq_ignore_ascii_case(org))
            .map(|(id, p)| (id.as_str(), p.name.as_str()))
            .collect();
        own.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)));
        own
    }

    /// The units of `org`'s providers, sorted, each once.
    pub fn units(&self, org: &str) -> Vec<&str> {
        let mut units: Vec<&str> = self
            .0
            .values()
            .filter(|p| p.organization_id.eq_ignore_ascii_case(org) && !p.unit.is_empty())
            .map(|p| p.unit.as_str())
            .collect();
        units.sort_unstable();
        units.dedup();
        units
    }

    /// The ids of `org`'s providers in `unit`, sorted.
    pub fn in_unit(&self, org: &str, unit: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .0
            .iter()
            .filter(|(_, p)| p.organization_id.eq_ignore_ascii_case(org) && p.unit == unit)
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }
}

impl FromIterator<(String, Listed)> for Directory {
    fn from_iter<I: IntoIterator<Item = (String, Listed)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// The user's view of the directory (up to 5,000 providers, read at each page: nothing is cached here).
pub async fn directory(state: &AppState, caller: &Caller) -> Result<Directory, ConsoleError> {
    use continuum_proto::matching::v1 as mpb;
    let mut out = std::collections::HashMap::new();
    let mut token = String::new();
    for _ in 0..10 {
        let page = state
            .upstreams
            .matching
            .clone()
            .list_providers(caller.request(mpb::ListProvidersRequest {
                page_size: 500,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await?
            .into_inner();
        for p in page.providers {
            let listed =
                Listed { name: p.display_name, organization_id: p.organization_id, unit: p.unit };
            out.insert(p.id, listed);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(Directory(out))
}

#[cfg(test)]
mod tests;
