//! Made-up names by the thousand: the rollups keep at most `--max-names-per-day` names per UTC
//! day and dimension (the rest under `(other)`), and every list of the summary, the page
//! and `report` is cut at `top` with the rest said ("N more"). Real server, real file.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

const NAMES: usize = 600;
const CAP: usize = 100;

/// `NAMES` distinct commands, tools, models, agents, error texts, versions and OSes, today.
fn flood(h: &Harness) {
    let mut batch = Vec::new();
    for n in 0..NAMES {
        let user = format!("user-{n}");
        let mut c = command(
            &format!("c{n}"),
            &user,
            &format!("cmd-{n}"),
            Some(&format!("error {n}")),
            5,
        );
        c["properties"]["version"] = json!(format!("0.0.{n}"));
        c["properties"]["os"] = json!(format!("os-{n}"));
        batch.push(c);
        batch.push(tool(&format!("t{n}"), &user, &format!("tool-{n}"), None, 5));
        batch.push(token(
            &format!("m{n}"),
            &user,
            &format!("model-{n}"),
            1,
            1,
            0.01,
        ));
        let mut s = session_start(&format!("s{n}"), &user, &format!("sess-{n}"));
        s["properties"]["agent_name"] = json!(format!("agent-{n}"));
        batch.push(s);
        let mut k = command(&format!("k{n}"), &user, "run", None, 1);
        k["event"] = json!(format!("kind-{n}"));
        batch.push(k);
    }
    for chunk in batch.chunks(500) {
        let (status, answer) = h.track(chunk);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["rejected"], 0, "{answer}");
    }
}

fn rollup_rows(h: &Harness, sql: &str) -> i64 {
    let conn = telemetry_collector::store::sqlite::open_read(&h.db()).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn the_rollups_keep_at_most_the_cap_of_names_per_day_and_dimension() {
    let h = Harness::start_with(|c| c.limits.max_names_per_day = CAP);
    flood(&h);
    for kind in ["command", "tool", "token", "session"] {
        let rows = rollup_rows(
            &h,
            &format!("SELECT COUNT(*) FROM daily WHERE kind = '{kind}'"),
        );
        assert!(rows <= CAP as i64 + 1, "{kind}: {rows} rows");
    }
    let kinds = rollup_rows(&h, "SELECT COUNT(DISTINCT kind) FROM daily");
    assert!(kinds <= CAP as i64 + 1, "{kinds} kinds");
    let errors = rollup_rows(&h, "SELECT COUNT(*) FROM daily_errors");
    assert!(errors <= CAP as i64 + 1, "{errors} error rows");
    for col in ["version", "os"] {
        let n = rollup_rows(
            &h,
            &format!("SELECT COUNT(DISTINCT {col}) FROM daily_installs"),
        );
        assert!(n <= CAP as i64 + 1, "{col}: {n}");
    }
    // Every record is stored whole, and counted: the folded ones under "(other)".
    let stored = rollup_rows(&h, "SELECT COUNT(*) FROM events");
    assert_eq!(stored, 5 * NAMES as i64);
    let s = h.summary(1);
    assert_eq!(s["records"], 5 * NAMES);
    assert_eq!(s["installs"], NAMES, "installs are never folded");
    let other = |list: &str| {
        s[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "(other)")
            .cloned()
            .unwrap_or(Value::Null)
    };
    let tools = other("tools");
    assert_eq!(tools["calls"], NAMES - CAP, "{tools}");
    let models = other("models");
    assert_eq!(models["calls"], NAMES - CAP, "{models}");
    // A name kept today stays its own row when it comes back.
    assert_eq!(
        h.track(&[tool("again", "u", "tool-1", None, 5)]).1["accepted"],
        1
    );
    assert_eq!(entry(&h.summary(1), "tools", "tool-1")["calls"], 2);
}

#[test]
fn every_list_is_cut_at_top_and_says_how_many_more() {
    // The default --max-names-per-day (1000) keeps all 600 names.
    let h = Harness::start();
    flood(&h);
    let again = [
        tool("x1", "u", "tool-7", None, 1),
        tool("x2", "u", "tool-7", None, 1),
    ];
    assert_eq!(h.track(&again).1["accepted"], 2);
    let s = h.summary(1);
    assert_eq!(s["top"], 25);
    for list in ["commands", "tools", "models", "errors", "versions", "os"] {
        assert_eq!(s[list].as_array().unwrap().len(), 25, "{list}");
    }
    assert_eq!(s["more"]["tools"]["entries"], NAMES - 25);
    assert_eq!(s["more"]["tools"]["records"], NAMES - 25);
    assert_eq!(s["more"]["models"]["entries"], NAMES - 25);
    assert_eq!(s["more"]["models"]["input_tokens"], NAMES - 25);
    assert_eq!(s["more"]["commands"]["entries"], NAMES - 25);
    assert_eq!(s["more"]["errors"]["entries"], NAMES - 25);
    assert_eq!(s["more"]["errors"]["records"], NAMES - 25);
    // Versions and OSes: the commands' 600, and the other records' "1.2.3" / "linux".
    assert_eq!(s["more"]["versions"]["entries"], NAMES + 1 - 25);
    assert_eq!(s["more"]["os"]["entries"], NAMES + 1 - 25);
    assert_eq!(s["tools"][0]["name"], "tool-7", "most called first");

    let (_, small) = h.get("/api/summary?days=1&top=3", &[]);
    let small: Value = serde_json::from_str(&small).unwrap();
    assert_eq!(small["tools"].as_array().unwrap().len(), 3);
    assert_eq!(small["more"]["tools"]["entries"], NAMES - 3);
    let (_, huge) = h.get("/api/summary?days=1&top=1000000", &[]);
    let huge: Value = serde_json::from_str(&huge).unwrap();
    assert_eq!(huge["top"], 200, "the maximum");
    assert_eq!(huge["tools"].as_array().unwrap().len(), 200);

    let (status, page) = h.get("/?days=1", &[]);
    assert_eq!(status, 200);
    assert_eq!(page.matches("<tr class=more><td>575 more</td>").count(), 4);
    assert_eq!(page.matches("<tr class=more><td>576 more</td>").count(), 2);
    assert!(page.len() < 100_000, "{} bytes", page.len());

    let out = Command::new(env!("CARGO_BIN_EXE_telemetry-collector"))
        .args(["report", "--days", "1", "--top", "5", "--db"])
        .arg(h.db())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("595 more"), "{text}");
}
