//! The same records into a SQLite collector and a PostgreSQL one (a real server the test
//! starts): `/api/summary` equal field by field (lists capped, names folded past the bound,
//! percentiles, installs, sessions, errors), the same report page, the same `report` output.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::process::Command;

use common::*;
use pg::Postgres;
use serde_json::{Value, json};
use telemetry_collector::{BackgroundServer, Config};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");
const DAY_MS: i64 = 86_400_000;

/// A varied set: several days, kinds, names past a bound of 4 per day, errors, versions,
/// sessions, durations over 1,000 ms, costs that are binary fractions (exact in any order).
fn records() -> Vec<Value> {
    let mut out = Vec::new();
    for n in 0..600u64 {
        let days_ago = (n % 5) as i64;
        let user = format!("user-{}", n % 23);
        let id = format!("{n:08x}-1111-4222-8333-{:012x}", n * 7919);
        let mut r = match n % 6 {
            0 | 1 => tool(
                &id,
                &user,
                &format!("tool{}", n % 7),
                (n % 11 == 0).then_some("boom"),
                (n * 37 % 5000) as i64,
            ),
            2 => token(
                &id,
                &user,
                &format!("model{}", n % 5),
                (n * 13) as i64,
                (n * 3) as i64,
                (n % 16) as f64 / 8.0,
            ),
            3 => command(
                &id,
                &user,
                &format!("cmd{}", n % 6),
                (n % 9 == 0).then_some("exit 2"),
                (n * 53 % 3000) as i64,
            ),
            4 => session_start(&id, &user, &format!("s{}", n / 12)),
            _ => session_end(
                &id,
                &user,
                &format!("s{}", n / 12),
                if n % 4 == 0 { &["e1", "e2"] } else { &[] },
            ),
        };
        r["event_timestamp"] = json!(now_ms() - days_ago * DAY_MS);
        r["properties"]["version"] = json!(format!("1.{}", n % 6));
        r["properties"]["os"] = json!(["linux", "darwin", "windows"][(n % 3) as usize]);
        out.push(r);
    }
    out
}

fn config(db: impl Into<telemetry_collector::store::Db>) -> Config {
    let mut c = Config::new(db);
    c.limits.max_names_per_day = 4;
    c
}

fn get(agent: &ureq::Agent, url: &str) -> String {
    let mut r = agent.get(url).call().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.body_mut().read_to_string().unwrap()
}

fn report(db: &str, format: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "report", "--db", db, "--days", "7", "--top", "3", "--format", format,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_same_records_give_the_same_summary_in_both_stores() {
    let Some(pg) = Postgres::start("the_same_records_give_the_same_summary_in_both_stores") else {
        return;
    };
    let url = pg.create_db("same");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.db");
    let lite = BackgroundServer::start(config(path.clone())).unwrap();
    let post = BackgroundServer::start(config(url.as_str())).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let all = records();
    for server in [&lite, &post] {
        for batch in all.chunks(50) {
            let body = json!({ "records": batch }).to_string();
            let mut r = agent
                .post(&server.url("/events/v1/track"))
                .header("Content-Type", "application/json")
                .send(&body)
                .unwrap();
            assert_eq!(r.status(), 200);
            let answer: Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            assert_eq!(answer["rejected"], 0, "{answer}");
        }
    }
    for query in ["days=7&top=3", "days=2&top=50", "days=30"] {
        let a: Value =
            serde_json::from_str(&get(&agent, &lite.url(&format!("/api/summary?{query}"))))
                .unwrap();
        let b: Value =
            serde_json::from_str(&get(&agent, &post.url(&format!("/api/summary?{query}"))))
                .unwrap();
        for (key, value) in a.as_object().unwrap() {
            assert_eq!(value, &b[key], "{query}: `{key}` differs");
        }
        assert_eq!(a, b);
    }
    // The lists were capped and names folded, so all of that was compared too.
    let s: Value =
        serde_json::from_str(&get(&agent, &lite.url("/api/summary?days=7&top=3"))).unwrap();
    assert_eq!(s["records"], 600);
    assert!(s["more"]["tools"]["entries"].as_u64().unwrap() > 0, "{s}");
    assert!(
        s["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "(other)"),
        "{s}"
    );
    assert!(s["tools"][0]["p95_ms"].as_i64().unwrap() >= 1000, "{s}");
    assert_eq!(
        get(&agent, &lite.url("/?days=7")),
        get(&agent, &post.url("/?days=7"))
    );
    lite.stop().unwrap();
    post.stop().unwrap();
    let db = path.display().to_string();
    assert_eq!(report(&db, "json"), report(&url, "json"));
    assert_eq!(report(&db, "text"), report(&url, "text"));
}
