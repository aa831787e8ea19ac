//! The console through its router (no services behind it: the upstreams point at a closed port, so pages
//! that need them answer 503): sign-in, sessions and their cookie flags, CSRF on every form, escaping, the
//! security headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use base64::Engine as _;
use http::{Request, StatusCode};
use tower::ServiceExt as _;

use super::*;
use crate::config::Settings;
use crate::upstream::Upstreams;

fn fake_token(user: &DevUser) -> String {
    let claims = serde_json::json!({
        "sub": user.key, "org": user.organization_id, "roles": user.roles,
        "exp": Utc::now().timestamp() + 3600,
    });
    format!("x.{}.y", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string()))
}

fn dev() -> DevSignIn {
    DevSignIn {
        users: vec![DevUser {
            key: "harbor-coordinator".to_owned(),
            label: "Harbor <coordinator>".to_owned(),
            organization_id: "0190d5a0-0000-7000-8000-000000000001".to_owned(),
            organization_name: "Harbor".to_owned(),
            roles: vec!["coordinator".to_owned()],
        }],
        mint: Arc::new(|u: &DevUser| Ok::<_, anyhow::Error>(fake_token(u))),
    }
}

fn state(secure: bool, with_dev: bool) -> AppState {
    // Port 1 on loopback: nothing listens, calls fail at once with UNAVAILABLE.
    let settings = Settings::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        std::array::from_fn(|_| "127.0.0.1:1".to_owned()),
    );
    AppState {
        upstreams: Upstreams::connect_lazy(&settings).unwrap(),
        base_url: Arc::from(""),
        request_timeout: std::time::Duration::from_secs(10),
        console: Console::new(
            Arc::new(continuum_cache::InProcessCache::new("t")),
            session::Lifetimes::default(),
            secure,
            with_dev.then(dev),
        ),
    }
}

fn app(state: &AppState) -> axum::Router {
    crate::startup::router(state.clone(), 1024 * 1024)
}

async fn body(r: Response) -> String {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_named<'a>(cookies: &'a [String], name: &str) -> Option<&'a str> {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v)
}

/// The sign-in page's pre-session CSRF token (cookie value = form value).
async fn signin_token(state: &AppState) -> String {
    let r =
        app(state).oneshot(Request::get("/sign-in").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookies = set_cookies(&r);
    cookie_named(&cookies, "continuum_signin").unwrap().to_owned()
}

fn form_post(uri: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::COOKIE, cookie)
        .body(Body::from(form.to_owned()))
        .unwrap()
}

/// Signs in as the demo user; returns the session cookie's value.
async fn sign_in(state: &AppState) -> (String, Vec<String>) {
    let t = signin_token(state).await;
    let r = app(state)
        .oneshot(form_post(
            "/sign-in/dev",
            &format!("continuum_signin={t}"),
            &format!("csrf={t}&user=harbor-coordinator&next=%2Fwaitlist"),
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[http::header::LOCATION], "/waitlist");
    let cookies = set_cookies(&r);
    (cookie_named(&cookies, session::COOKIE).unwrap().to_owned(), cookies)
}

async fn csrf_of(state: &AppState, id: &str) -> String {
    state.console.sessions.get(id, Utc::now()).await.unwrap().unwrap().0.csrf
}

async fn signed_in(state: &AppState, id: &str) -> bool {
    state.console.sessions.peek(id, Utc::now()).await.unwrap().is_some()
}

#[tokio::test]
async fn pages_need_a_session_and_send_you_to_sign_in() {
    let s = state(false, true);
    let r =
        app(&s).oneshot(Request::get("/waitlist?x=1").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[http::header::LOCATION], "/sign-in?next=/waitlist%3Fx%3D1");
    // The event stream and forms answer 401 instead of redirecting.
    let r = app(&s).oneshot(Request::get("/events").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app(&s).oneshot(form_post("/sign-out", "", "csrf=x")).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_sign_in_page_is_strict_and_offers_demo_users_only_under_demo() {
    let s = state(false, true);
    let r = app(&s).oneshot(Request::get("/sign-in").body(Body::empty()).unwrap()).await.unwrap();
    let h = r.headers().clone();
    assert!(
        h[http::header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("script-src 'self'")
    );
    assert_eq!(h[http::header::CACHE_CONTROL], "no-store");
    assert_eq!(h[http::header::X_FRAME_OPTIONS], "DENY");
    let html = body(r).await;
    assert!(html.contains("Sign in as Harbor &lt;coordinator&gt;"), "labels are escaped");
    assert!(!html.contains("Harbor <coordinator>"));
    assert!(html.contains("<a class=\"skip\" href=\"#main\">"));
    assert!(html.contains("<label for=\"token\">"));

    let prod = state(false, false);
    let html = body(
        app(&prod).oneshot(Request::get("/sign-in").body(Body::empty()).unwrap()).await.unwrap(),
    )
    .await;
    assert!(!html.contains("Development sign-in"));
    let t = signin_token(&prod).await;
    let r = app(&prod)
        .oneshot(form_post(
            "/sign-in/dev",
            &format!("continuum_signin={t}"),
            &format!("csrf={t}&user=harbor-coordinator"),
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no development sign-in without up --demo");
    assert!(cookie_named(&set_cookies(&r), session::COOKIE).is_none(), "no session");
}

#[tokio::test]
async fn signing_in_needs_the_forms_csrf_token() {
    let s = state(false, true);
    let t = signin_token(&s).await;
    for (cookie, form) in [
        (String::new(), format!("csrf={t}&user=harbor-coordinator")),
        (format!("continuum_signin={t}"), "user=harbor-coordinator".to_owned()),
        (format!("continuum_signin={t}"), "csrf=other&user=harbor-coordinator".to_owned()),
    ] {
        let r = app(&s).oneshot(form_post("/sign-in/dev", &cookie, &form)).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(cookie_named(&set_cookies(&r), session::COOKIE).is_none(), "no session");
        let r = app(&s)
            .oneshot(form_post("/sign-in", &cookie, &format!("{form}&token=abc")))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(cookie_named(&set_cookies(&r), session::COOKIE).is_none(), "no session");
    }
}

#[tokio::test]
async fn the_session_cookie_is_httponly_strict_and_secure_off_loopback() {
    let s = state(false, true);
    let (id, cookies) = sign_in(&s).await;
    let c = cookies.iter().find(|c| c.starts_with("continuum_session=")).unwrap();
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"));
    assert!(!c.contains("Secure"), "plain HTTP on loopback");
    assert!(signed_in(&s, &id).await);

    let secure = state(true, true);
    let (_, cookies) = sign_in(&secure).await;
    let c = cookies.iter().find(|c| c.starts_with("continuum_session=")).unwrap();
    assert!(c.contains("; Secure"));
}

#[tokio::test]
async fn every_form_is_refused_without_the_sessions_csrf_token() {
    let s = state(false, true);
    let (id, _) = sign_in(&s).await;
    let cookie = format!("continuum_session={id}");
    for (uri, form) in [
        ("/sign-out", "".to_owned()),
        ("/sign-out", "csrf=wrong".to_owned()),
        (
            "/referrals/0190d5a0-0000-7000-8000-0000000000aa/transition",
            "action=accept&version=1".to_owned(),
        ),
        (
            "/referrals/0190d5a0-0000-7000-8000-0000000000aa/transition",
            "csrf=wrong&action=accept&version=1".to_owned(),
        ),
        ("/waitlist/open-slots", "provider_id=p&slots=1".to_owned()),
        ("/waitlist/offers/o1/respond", "csrf=&answer=accept".to_owned()),
        ("/waitlist/entries/e1/check-in", "answered=no&version=1".to_owned()),
        ("/waitlist/entries/e1/check-in", "csrf=wrong&answered=no".to_owned()),
        ("/waitlist/entries/e1/remove", "reason=moved&version=1".to_owned()),
    ] {
        let r = app(&s).oneshot(form_post(uri, &cookie, &form)).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri} {form}");
        assert!(body(r).await.contains("Nothing was changed"));
    }
    assert!(signed_in(&s, &id).await, "still signed in");

    // With the token: signed out, the cookie cleared, the session gone.
    let csrf = csrf_of(&s, &id).await;
    let r =
        app(&s).oneshot(form_post("/sign-out", &cookie, &format!("csrf={csrf}"))).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("continuum_session=;") && c.contains("Max-Age=0"))
    );
    assert!(!signed_in(&s, &id).await);
    let r = app(&s)
        .oneshot(
            Request::get("/").header(http::header::COOKIE, &cookie).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie opens nothing");
}

#[tokio::test]
async fn an_unavailable_service_is_an_html_503_without_details() {
    let s = state(false, true);
    let (id, _) = sign_in(&s).await;
    let r = app(&s)
        .oneshot(
            Request::get("/")
                .header(http::header::COOKIE, format!("continuum_session={id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers()[http::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = body(r).await;
    assert!(html.contains("A Continuum service did not answer"));
    assert!(!html.contains("127.0.0.1:1"), "no transport detail");
}

#[tokio::test]
async fn pages_show_who_is_signed_in_escaped_with_a_csrf_sign_out() {
    let s = state(false, true);
    let (id, _) = sign_in(&s).await;
    let (session, _) = s.console.sessions.get(&id, Utc::now()).await.unwrap().unwrap();
    let signed = Signed {
        id: id.clone(),
        caller: session.caller().unwrap(),
        flash: Some(session::Flash {
            level: "ok",
            text: "<img src=x onerror=alert(1)>".to_owned(),
        }),
        session,
    };
    let mut m = Markup::new();
    m.text("<b>body</b>");
    let r = page(StatusCode::OK, "T <i>", Nav::Worklist, Some(&signed), &m);
    let html = body(r).await;
    assert!(html.contains("<title>T &lt;i&gt; · Continuum console</title>"));
    assert!(html.contains("Signed in as <strong>Harbor &lt;coordinator&gt;</strong>"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("&lt;b&gt;body&lt;/b&gt;"));
    assert!(html.contains(&format!("name=\"csrf\" value=\"{}\"", signed.session.csrf)));
    assert!(html.contains("<a href=\"/\" aria-current=\"page\">Worklist</a>"));
    assert!(html.contains("<main id=\"main\""));
}

#[test]
fn return_paths_stay_on_this_site() {
    assert_eq!(local_path(Some("/waitlist?x=1")), "/waitlist?x=1");
    assert_eq!(local_path(Some("//evil.example")), "/");
    assert_eq!(local_path(Some("https://evil.example")), "/");
    assert_eq!(local_path(Some("/\\evil")), "/");
    assert_eq!(local_path(None), "/");
    assert_eq!(url_encode("/a?b=c&d"), "/a%3Fb%3Dc%26d");
}

#[tokio::test]
async fn assets_are_served() {
    let s = state(false, false);
    for (path, kind) in
        [("/console/console.css", "text/css"), ("/console/console.js", "text/javascript")]
    {
        let r = app(&s).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[http::header::CONTENT_TYPE].to_str().unwrap().starts_with(kind));
    }
}
