//! The report page and its access rules over real HTTP.

mod common;

use common::*;
use serde_json::json;

const TOKEN: &str = "admin-token-for-tests";

fn guarded() -> Harness {
    Harness::start_with(|c| c.admin_token = Some(TOKEN.into()))
}

#[test]
fn the_admin_token_guards_the_page_and_the_api() {
    let h = guarded();
    let (status, page) = h.get("/", &[]);
    assert_eq!(status, 401);
    assert!(
        page.contains("<form") && page.contains("name=token"),
        "a login form: {page}"
    );
    assert!(!page.contains("<svg"));
    assert_eq!(h.get("/api/summary", &[]).0, 401);
    assert_eq!(
        h.get("/api/summary", &[("Authorization", "Bearer wrong")])
            .0,
        401
    );
    let bearer = format!("Bearer {TOKEN}");
    let (status, page) = h.get("/", &[("Authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(page.contains("<svg"));
    assert_eq!(
        h.get("/api/summary?days=3", &[("Authorization", &bearer)])
            .0,
        200
    );
    assert_eq!(h.get("/healthz", &[]).0, 200, "health needs no token");
}

#[test]
fn the_login_form_sets_an_httponly_samesite_cookie_that_opens_the_report() {
    let h = guarded();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let login = |token: &str| {
        agent
            .post(&h.url("/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={token}"))
            .unwrap()
    };
    let wrong = login("nope");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let ok = login(TOKEN);
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the cookie never carries the token itself"
    );
    let pair = cookie.split(';').next().unwrap();
    let (status, page) = h.get("/", &[("Cookie", pair)]);
    assert_eq!(status, 200);
    assert!(page.contains("<svg"));
    assert_eq!(h.get("/api/summary", &[("Cookie", pair)]).0, 200);
}

#[test]
fn client_text_is_escaped_and_the_page_loads_nothing_external() {
    let h = Harness::start();
    let evil = "<script>alert(1)</script>";
    h.track(&[
        command("x1", "u", evil, Some("\"><img src=x onerror=alert(1)>"), 5),
        tool("x2", "u", evil, None, 1),
    ]);
    let (status, page) = h.get("/?days=7", &[]);
    assert_eq!(status, 200);
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external assets"
    );
    assert!(page.matches("<svg").count() >= 2, "two charts");
    let (_, api) = h.get("/api/summary?days=7", &[]);
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    assert_eq!(api["days"], 7);
    assert_eq!(api["installs_per_day"].as_array().unwrap().len(), 7);
    assert_eq!(entry(&api, "commands", evil)["calls"], 1);
}

#[test]
fn the_summary_has_the_documented_keys() {
    let h = Harness::start();
    h.track(&[
        token("k1", "u", "m", 1, 2, 0.5),
        command("k2", "u", "run", None, 3),
    ]);
    let s = h.summary(30);
    for key in [
        "records", "installs", "commands", "tools", "models", "sessions", "errors", "versions",
        "os",
    ] {
        assert!(s.get(key).is_some(), "{key} in {s}");
    }
    for key in ["name", "calls", "failures", "p50_ms", "p95_ms"] {
        assert!(s["commands"][0].get(key).is_some(), "{key}");
    }
    assert_eq!(
        s["models"][0],
        json!({"name": "m", "calls": 1, "input_tokens": 1, "output_tokens": 2, "cost": 0.5})
    );
}

#[test]
fn the_admin_token_must_differ_from_ingest_keys() {
    let mut config = telemetry_collector::Config::new("unused.db");
    config.api_keys = vec!["same".into()];
    config.admin_token = Some("same".into());
    assert!(telemetry_collector::BackgroundServer::start(config).is_err());
}
