//! The coordinator console across gateway replicas: a session started on one replica is served by another
//! when they share Redis (the deployments' setting), and signing out on either ends it on both; without
//! Redis (the embedded default, one process) a second replica does not know the session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;

use crate::stack::{HttpResponse, PROVIDER_ORG, Stack, http};

/// The value of cookie `name` among a response's `Set-Cookie` headers.
fn cookie(r: &HttpResponse, name: &str) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next()?.trim().strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
        .find(|v| !v.is_empty())
}

async fn get(gw: &str, path: &str, session: &str) -> HttpResponse {
    let c = format!("continuum_session={session}");
    http(gw, "GET", path, &[("Cookie", &c)], b"").await.unwrap()
}

/// A form posted to `gw` with cookie `cookie`.
async fn post_form(gw: &str, path: &str, cookie: &str, form: &str) -> HttpResponse {
    let headers = [("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded")];
    http(gw, "POST", path, &headers, form.as_bytes()).await.unwrap()
}

/// Signs in on `gw` with `token` through the sign-in form; returns the session cookie.
async fn sign_in(gw: &str, token: &str) -> String {
    let page = http(gw, "GET", "/sign-in", &[], b"").await.unwrap();
    let t = cookie(&page, "continuum_signin").expect("the sign-in form's CSRF cookie");
    let c = format!("continuum_signin={t}");
    let r = post_form(gw, "/sign-in", &c, &format!("csrf={t}&token={token}")).await;
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.body));
    cookie(&r, "continuum_session").expect("a session cookie")
}

/// The CSRF token of the session, from a page's sign-out form.
fn csrf(page: &HttpResponse) -> String {
    let html = String::from_utf8_lossy(&page.body);
    let at = html.find("name=\"csrf\" value=\"").expect("a form with the session's CSRF token");
    html[at + 19..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn console_sessions_follow_the_coordinator_across_gateway_replicas() {
    let mut stack = Stack::start().await;
    let shared = stack.backing.env().iter().any(|(k, _)| k == "CONTINUUM_REDIS_URL");
    let a = stack.start_gateway_named("gateway").await;
    let b = stack.start_gateway_named("gateway-b").await;
    let token = stack.backing.token(PROVIDER_ORG, &[Role::Coordinator]);

    let session = sign_in(&a, &token).await;
    let on_a = get(&a, "/", &session).await;
    assert_eq!(on_a.status, 200, "the replica that signed in serves the worklist");
    let on_b = get(&b, "/", &session).await;
    if !shared {
        // One process's memory: the other replica sends the coordinator to sign in.
        assert_eq!(on_b.status, 303);
        assert!(on_b.header("location").unwrap().starts_with("/sign-in"));
        return;
    }
    assert_eq!(on_b.status, 200, "replica b serves the session replica a started");
    assert!(String::from_utf8_lossy(&on_b.body).contains("Worklist"));

    // Signing out on b ends the session on a too.
    let c = format!("continuum_session={session}");
    let out = post_form(&b, "/sign-out", &c, &format!("csrf={}", csrf(&on_b))).await;
    assert_eq!(out.status, 303);
    let after = get(&a, "/", &session).await;
    assert_eq!(after.status, 303, "signed out everywhere");
    assert!(after.header("location").unwrap().starts_with("/sign-in"));
}
