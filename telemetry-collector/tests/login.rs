//! The report's login as an attacker tries it: short tokens, brute force, stolen or stale
//! cookies. Real server on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;

const TOKEN: &str = "login-test-admin-token";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn guarded() -> Harness {
    Harness::start_with(|c| c.admin_token = Some(TOKEN.into()))
}

/// POSTs the login form: status, `Set-Cookie`, `Retry-After`.
fn login(h: &Harness, token: &str, headers: &[(&str, &str)]) -> (u16, String, Option<u64>) {
    let mut req = agent()
        .post(&h.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send(format!("token={token}")).unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let retry = header("retry-after").map(|v| v.parse().unwrap());
    (
        resp.status().as_u16(),
        header("set-cookie").unwrap_or_default(),
        retry,
    )
}

/// `name=value` of a Set-Cookie line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn an_admin_token_shorter_than_16_characters_is_refused() {
    for short in ["x", "fifteen-chars!!", "ééééééééééééééé"] {
        let mut config = telemetry_collector::Config::new("unused.db");
        config.admin_token = Some(short.into());
        let err = telemetry_collector::BackgroundServer::start(config).err();
        assert!(
            err.as_deref().is_some_and(|e| e.contains("16")),
            "{short}: {err:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telemetry-collector"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "short",
            "--db",
        ])
        .arg(dir.path().join("t.db"))
        .env_remove("TELEMETRY_COLLECTOR_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--admin-token") && err.contains("16"), "{err}");
    assert!(!err.contains("listening"), "{err}");
    // Sixteen characters are enough.
    let h = Harness::start_with(|c| c.admin_token = Some("sixteen-chars-ok".into()));
    assert_eq!(
        h.get("/", &[("Authorization", "Bearer sixteen-chars-ok")])
            .0,
        200
    );
}

#[test]
fn failed_logins_are_throttled_per_address() {
    let h = guarded();
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..6 {
        let (status, _, r) = login(&h, "guess-guess-guess", &[]);
        statuses.push(status);
        retry = retry.or(r);
    }
    assert_eq!(&statuses[..4], &[401, 401, 401, 401], "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    let wait = retry.expect("a Retry-After on 429");
    assert!((1..=900).contains(&wait), "{wait}");
    // While blocked, even the right token is refused unchecked, and so is a Bearer token.
    assert_eq!(login(&h, TOKEN, &[]).0, 429);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(h.get("/api/summary", &[("Authorization", &bearer)]).0, 429);
    assert_eq!(h.get("/", &[("Authorization", &bearer)]).0, 429);
    // After the wait, the right token works and clears the address.
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(200));
    let (status, cookie, _) = login(&h, TOKEN, &[]);
    assert_eq!(status, 303);
    assert!(cookie.starts_with("tc_session="), "{cookie}");
    assert_eq!(login(&h, "another-wrong-token", &[]).0, 401);
    // Wrong Bearer tokens count too.
    for _ in 0..4 {
        h.get(
            "/api/summary",
            &[("Authorization", "Bearer wrong-wrong-wrong")],
        );
    }
    assert_eq!(h.get("/api/summary", &[("Authorization", &bearer)]).0, 429);
    let (_, health) = h.get("/healthz", &[]);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert!(health["shed"]["logins"].as_u64().unwrap() >= 3, "{health}");
}

#[test]
fn the_session_cookie_is_random_and_logout_revokes_it() {
    let h = guarded();
    let (s1, c1, _) = login(&h, TOKEN, &[]);
    let (s2, c2, _) = login(&h, TOKEN, &[]);
    assert_eq!((s1, s2), (303, 303));
    assert_ne!(pair(&c1), pair(&c2), "each login gets its own random id");
    for c in [&c1, &c2] {
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        assert!(c.contains("Max-Age=86400"), "{c}");
        assert!(!c.contains(TOKEN) && !c.contains("Secure"), "{c}");
        assert_eq!(h.get("/", &[("Cookie", &pair(c))]).0, 200);
    }
    let resp = agent()
        .post(&h.url("/logout"))
        .header("Cookie", &pair(&c1))
        .send_empty()
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("tc_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(h.get("/", &[("Cookie", &pair(&c1))]).0, 401, "revoked");
    assert_eq!(h.get("/api/summary", &[("Cookie", &pair(&c1))]).0, 401);
    assert_eq!(
        h.get("/", &[("Cookie", &pair(&c2))]).0,
        200,
        "the other session lives"
    );
    // GET /logout works too.
    let resp = agent()
        .get(&h.url("/logout"))
        .header("Cookie", &pair(&c2))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(h.get("/", &[("Cookie", &pair(&c2))]).0, 401);
}

#[test]
fn sessions_expire() {
    let h = Harness::start_with(|c| {
        c.admin_token = Some(TOKEN.into());
        c.session_ttl = Duration::from_secs(1);
    });
    let (_, cookie, _) = login(&h, TOKEN, &[]);
    assert!(cookie.contains("Max-Age=1"), "{cookie}");
    assert_eq!(h.get("/", &[("Cookie", &pair(&cookie))]).0, 200);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(h.get("/", &[("Cookie", &pair(&cookie))]).0, 401, "expired");
}

#[test]
fn the_cookie_is_secure_over_https_or_with_the_flag() {
    let h = guarded();
    let (_, plain, _) = login(&h, TOKEN, &[]);
    assert!(!plain.contains("Secure"), "{plain}");
    for proxy in [
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=192.0.2.1;proto=https"),
    ] {
        let (_, cookie, _) = login(&h, TOKEN, &[proxy]);
        assert!(cookie.ends_with("; Secure"), "{proxy:?}: {cookie}");
    }
    let flagged = Harness::start_with(|c| {
        c.admin_token = Some(TOKEN.into());
        c.secure_cookies = true;
    });
    let (_, cookie, _) = login(&flagged, TOKEN, &[]);
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}
