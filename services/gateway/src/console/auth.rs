//! Signing in and out.
//!
//! - **Bearer token** (every deployment): the user pastes a token their identity provider issued; the
//!   console checks that the services accept it (one `ListReferrals` of a single row), then keeps it in a
//!   server-side session. Any token the services accept works, so an OIDC provider whose keys the services
//!   trust (`CONTINUUM_AUTH_JWKS_URL`) works today. An OIDC authorization-code flow plugs in beside this
//!   form without touching the pages: a `/sign-in/oidc` route redirects to the provider, its callback
//!   exchanges the code for an access token and calls the same [`start`] this form does (docs/console.md).
//! - **Development sign-in** (`continuum up --demo` only): the demo users listed by [`DevSignIn`], each a
//!   button; the token is minted with the local development secret by the function `up` hands over. The
//!   gateway has no secret of its own, and `continuum serve gateway` never has this.
//!
//! The sign-in form has no session yet, so its CSRF protection is a double-submit token: a random value in
//! a short-lived `SameSite=Strict` cookie and in the form, compared on POST.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;

use super::error::ConsoleError;
use super::html::{Markup, e};
use super::session::{Identity, same};
use super::{Nav, Signed, local_path, page as render, see_other};
use crate::startup::AppState;
use crate::upstream::Caller;

/// The pre-session CSRF cookie of the sign-in form.
const SIGNIN_COOKIE: &str = "continuum_signin";

/// A demo user the development sign-in offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevUser {
    /// Stable key (the form's value), e.g. `harbor-coordinator`.
    pub key: String,
    /// What the button says, e.g. "Harbor coordinator".
    pub label: String,
    /// The organization.
    pub organization_id: String,
    /// Its display name.
    pub organization_name: String,
    /// Role codes.
    pub roles: Vec<String>,
}

/// Mints a short-lived development token for a demo user.
pub type MintFn = Arc<dyn Fn(&DevUser) -> anyhow::Result<String> + Send + Sync>;

/// The development sign-in `continuum up --demo` hands the gateway: the demo users and a minting function
/// (holding the local development secret, which stays in `up`).
#[derive(Clone)]
pub struct DevSignIn {
    /// The users offered.
    pub users: Vec<DevUser>,
    /// Mints a token for one of them.
    pub mint: MintFn,
}

impl std::fmt::Debug for DevSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSignIn").field("users", &self.users).finish_non_exhaustive()
    }
}

/// Query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

fn random_token() -> Result<String, ConsoleError> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ConsoleError::Unexpected(anyhow::anyhow!("no randomness")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

fn signin_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == SIGNIN_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// `GET /sign-in`.
pub async fn page_handler(
    state: &AppState,
    next: Option<&str>,
    message: Option<(&'static str, String)>,
    status: StatusCode,
) -> Response {
    let token = match random_token() {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let next = local_path(next);
    let mut m = Markup::new();
    if let Some((level, text)) = &message {
        let role = if *level == "ok" { "status" } else { "alert" };
        html!(m, "<div class=\"flash {level}\" role=\"{role}\"><p>{}</p></div>", e(text));
    }
    html!(
        m,
        "<section aria-labelledby=\"token-h\"><h2 id=\"token-h\">Sign in with a token from your identity provider</h2>\
         <p>Paste the bearer token (an OIDC access token) your organization's identity provider issued you. \
         The console keeps it only in your server-side session and sends it to the Continuum services, which \
         decide what you may see and do.</p>\
         <form method=\"post\" action=\"/sign-in\" class=\"stack\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{t}\"><input type=\"hidden\" name=\"next\" value=\"{n}\">\
         <label for=\"token\">Bearer token</label>\
         <textarea id=\"token\" name=\"token\" rows=\"4\" required autocomplete=\"off\" spellcheck=\"false\"></textarea>\
         <button type=\"submit\">Sign in</button></form></section>",
        t = e(&token),
        n = e(&next)
    );
    if let Some(dev) = &state.console.dev {
        html!(
            m,
            "<section aria-labelledby=\"dev-h\" class=\"dev\"><h2 id=\"dev-h\">Development sign-in (demo only)</h2>\
             <p>This gateway runs under <code>continuum up --demo</code>: sign in as a demo user with a \
             short-lived token minted with the local development secret. Production gateways do not offer this.</p>\
             <form method=\"post\" action=\"/sign-in/dev\"><input type=\"hidden\" name=\"csrf\" value=\"{t}\">\
             <input type=\"hidden\" name=\"next\" value=\"{n}\"><ul class=\"users\">",
            t = e(&token),
            n = e(&next)
        );
        for u in &dev.users {
            html!(
                m,
                "<li><button type=\"submit\" name=\"user\" value=\"{}\">Sign in as {}</button> \
                 <span>{} · roles: {}</span></li>",
                e(&u.key),
                e(&u.label),
                e(&u.organization_name),
                e(&u.roles.join(", "))
            );
        }
        html!(m, "</ul></form></section>");
    }
    let mut r = render(status, "Sign in", Nav::None, None, &m);
    let secure = if state.console.sessions.secure_cookie() { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SIGNIN_COOKIE}={token}; Path=/sign-in; HttpOnly; SameSite=Strict; Max-Age=1800{secure}"
    )) {
        r.headers_mut().append(http::header::SET_COOKIE, v);
    }
    r
}

/// `GET /sign-in`.
pub async fn page(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let message = q.signed_out.map(|_| ("ok", "You are signed out.".to_owned()));
    page_handler(&state, q.next.as_deref(), message, StatusCode::OK).await
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    csrf: Option<String>,
    token: Option<String>,
    user: Option<String>,
    next: Option<String>,
}

fn check_signin_csrf(headers: &HeaderMap, form: &SignInForm) -> Result<(), ConsoleError> {
    match (signin_cookie(headers), form.csrf.as_deref()) {
        (Some(c), Some(f)) if !c.is_empty() && same(&c, f) => Ok(()),
        _ => Err(ConsoleError::Csrf),
    }
}

/// Starts a session for `token` and answers with its cookie and a redirect to `next`.
pub async fn start(
    state: &AppState,
    token: &str,
    identity: Identity,
    next: Option<&str>,
) -> Result<Response, ConsoleError> {
    let id = state
        .console
        .sessions
        .create(token, identity, Utc::now())
        .await
        .map_err(ConsoleError::Sessions)?;
    let mut r = see_other(&local_path(next));
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.console.sessions.cookie(&id)) {
        h.append(http::header::SET_COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SIGNIN_COOKIE}=; Path=/sign-in; HttpOnly; SameSite=Strict; Max-Age=0"
    )) {
        h.append(http::header::SET_COOKIE, v);
    }
    tracing::info!(event = "console.sign_in", "console session started");
    Ok(r)
}

/// `POST /sign-in`: a bearer token.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(e) = check_signin_csrf(&headers, &form) {
        return e.into_response();
    }
    let token = form.token.as_deref().unwrap_or_default().trim().trim_start_matches("Bearer ");
    let token = token.trim();
    let Ok(caller) = Caller::bearer(token) else {
        return page_handler(
            &state,
            form.next.as_deref(),
            Some(("error", "Paste a bearer token.".to_owned())),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    // Do the services accept it? One row of the worklist tells.
    let probe = state
        .upstreams
        .referral
        .clone()
        .list_referrals(caller.request(continuum_proto::referral::v1::ListReferralsRequest {
            page_size: 1,
            ..Default::default()
        }))
        .await;
    match probe {
        Ok(_) => {}
        Err(s) if s.code() == tonic::Code::PermissionDenied => {}
        Err(s) if s.code() == tonic::Code::Unauthenticated => {
            return page_handler(
                &state,
                form.next.as_deref(),
                Some((
                    "error",
                    "The services do not accept this token (expired, wrong issuer or audience, or an unknown organization).".to_owned(),
                )),
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
        Err(s) => return ConsoleError::Upstream(s).into_response(),
    }
    start(&state, token, Identity::from_token(token), form.next.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /sign-in/dev`: a demo user (under `up --demo` only; 404 otherwise).
pub async fn dev_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(dev) = state.console.dev.clone() else {
        let body = Markup("<p>This gateway offers no development sign-in.</p>".to_owned());
        return render(StatusCode::NOT_FOUND, "Not found", Nav::None, None, &body);
    };
    if let Err(e) = check_signin_csrf(&headers, &form) {
        return e.into_response();
    }
    let Some(user) = dev.users.iter().find(|u| Some(u.key.as_str()) == form.user.as_deref()) else {
        return ConsoleError::BadForm("no such demo user".to_owned()).into_response();
    };
    let token = match (dev.mint)(user) {
        Ok(t) => t,
        Err(e) => return ConsoleError::Unexpected(e).into_response(),
    };
    let mut identity = Identity::from_token(&token);
    identity.organization_name = Some(user.organization_name.clone());
    identity.user = user.label.clone();
    start(&state, &token, identity, form.next.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /sign-out`.
pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = signed.check_csrf(form.csrf.as_deref()) {
        return e.into_response();
    }
    if let Err(e) = state.console.sessions.end(&signed.id).await {
        return ConsoleError::Sessions(e).into_response();
    }
    let mut r = see_other("/sign-in?signed_out=1");
    if let Ok(v) = HeaderValue::from_str(&state.console.sessions.clear_cookie()) {
        r.headers_mut().append(http::header::SET_COOKIE, v);
    }
    r
}
