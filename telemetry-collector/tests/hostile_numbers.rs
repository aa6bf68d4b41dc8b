//! Numbers a hostile client sends: out-of-bounds values are skipped and counted, sums never
//! overflow, one bad batch never fails another, and nothing dated ahead of the clock is
//! stored or counted. Real server on 127.0.0.1, real SQLite file.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");
const DAY: i64 = 86_400_000;

/// `report --format json` on a database file: the third view besides `/` and `/api/summary`.
fn report(db: &std::path::Path) -> Value {
    let out = Command::new(BIN)
        .args(["report", "--format", "json", "--days", "30", "--db"])
        .arg(db)
        .env_remove("TELEMETRY_COLLECTOR_DB")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `/`, `/api/summary` (1 and 30 days) and `report` all answer.
fn every_view_answers(h: &Harness) -> Value {
    for path in [
        "/",
        "/?days=1",
        "/api/summary?days=1",
        "/api/summary?days=30",
    ] {
        let (status, text) = h.get(path, &[]);
        assert_eq!(status, 200, "{path}: {text}");
    }
    report(&h.db());
    h.summary(30)
}

#[test]
fn numbers_outside_their_bounds_are_skipped_and_counted_and_every_view_answers() {
    let h = Harness::start();
    let hostile = [
        ("tool_calls", json!(i64::MAX)),
        ("input_tokens", json!(i64::MAX)),
        ("output_tokens", json!(u64::MAX)),
        ("dropped_records", json!(i64::MAX)),
        ("error_count", json!(-1)),
        ("duration_ms", json!(i64::MAX)),
        ("cost", json!(1.7e308)),
        ("cost", json!(-1.7e308)),
        ("cost", json!(-0.5)),
        ("total_tokens", json!("many")),
    ];
    let mut batch = Vec::new();
    for (i, (key, value)) in hostile.iter().enumerate() {
        // The same field on two different days, and twice on one day.
        for (n, days_ago) in [(0, 0), (1, 1), (2, 1)] {
            let mut rec = session_end(&format!("h{i}-{n}"), "u", "s", &[]);
            rec["event_timestamp"] = json!(now_ms() - days_ago * DAY);
            rec["properties"][*key] = value.clone();
            batch.push(rec);
        }
    }
    let (status, answer) = h.track(&batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 0, "{answer}");
    assert_eq!(answer["rejected"], batch.len(), "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("tool_calls"),
        "{answer}"
    );

    // The same over OTLP: partial success, nothing stored.
    let otlp = otlp_request(vec![log_record(
        "cli_telemetry.token",
        true,
        vec![
            attr("log.record.uid", s("o-max")),
            attr("gen_ai.usage.input_tokens", i(i64::MAX)),
        ],
    )]);
    let (status, answer) = h.otlp(&otlp);
    assert_eq!(status, 200);
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], "1",
        "{answer}"
    );

    // Records at the bounds are stored, twice on one day, and add up.
    let mut at_bound = Vec::new();
    for n in 0..2 {
        let mut rec = token(&format!("ok{n}"), "u", "m", 10_000_000_000, 0, 1_000_000.0);
        rec["properties"]["dropped_records"] = json!(1_000_000_000);
        at_bound.push(rec);
    }
    assert_eq!(h.track(&at_bound).1["accepted"], 2);
    let s = every_view_answers(&h);
    assert_eq!(s["records"], 2);
    assert_eq!(entry(&s, "models", "m")["input_tokens"], 20_000_000_000_i64);
    assert_eq!(entry(&s, "models", "m")["cost"], 2_000_000.0);
    assert_eq!(s["dropped_records"], 2_000_000_000_i64);
    assert_eq!(s["sessions"]["tool_calls"], 0);
}

/// Rollup rows as a collector before the bounds could leave them: sums at `i64::MAX` on two
/// days and a count that SQLite had turned into a float.
fn poison_rollups(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let today = now_ms() / DAY;
    for day in [today, today - 1] {
        conn.execute(
            "INSERT INTO daily VALUES (?1, 'token', 'big', 1, 0, ?2, ?2, 1e300, 0, 0, 0, 0, ?2, x'')",
            rusqlite::params![day, i64::MAX],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO daily VALUES (?1, 'session', 'root', 9.3e18, 0, 0, 0, 0.0, 1, 0, ?2, ?2, 0, x'')",
            rusqlite::params![day, i64::MAX],
        )
        .unwrap();
    }
}

#[test]
fn sums_saturate_instead_of_overflowing() {
    let mut h = Harness::start();
    h.server.take().unwrap().stop().unwrap();
    poison_rollups(&h.db());
    h.server = Some(telemetry_collector::BackgroundServer::start(h.config.clone()).unwrap());
    // Adding to a row already at the top saturates there.
    let (status, answer) = h.track(&[token("t1", "u", "big", 5, 5, 0.5)]);
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    let s = every_view_answers(&h);
    let big = entry(&s, "models", "big");
    assert_eq!(big["input_tokens"], i64::MAX, "{big}");
    assert_eq!(big["output_tokens"], i64::MAX, "{big}");
    assert_eq!(s["sessions"]["tool_calls"], i64::MAX);
    assert_eq!(s["dropped_records"], i64::MAX);
    assert_eq!(s["records"], i64::MAX);
    let text = Command::new(BIN)
        .args(["report", "--db"])
        .arg(h.db())
        .output()
        .unwrap();
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
}

#[test]
fn one_clients_bad_batches_never_fail_other_clients_batches() {
    let h = Harness::start();
    // A cost that reaches +inf in one rollup row, then batches that would add -inf to it.
    let inf: Vec<Value> = (0..2)
        .map(|n| token(&format!("inf{n}"), "evil", "m", 1, 1, 1.7e308))
        .collect();
    assert_eq!(h.track(&inf).1["accepted"], 0);
    let legit_acked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..2 {
            let h = &h;
            scope.spawn(move || {
                for b in 0..60 {
                    let poison: Vec<Value> = (0..2)
                        .map(|n| token(&format!("neg{t}-{b}-{n}"), "evil", "m", 1, 1, -1.7e308))
                        .collect();
                    h.track(&poison);
                }
            });
        }
        for t in 0..4 {
            let (h, acked) = (&h, &legit_acked);
            scope.spawn(move || {
                for b in 0..40 {
                    let batch = vec![
                        token(&format!("l{t}-{b}"), "u", "m", 3, 4, 0.25),
                        command(&format!("c{t}-{b}"), "u", "run", None, 5),
                    ];
                    let (status, answer) = h.track(&batch);
                    assert_eq!(status, 200, "a legitimate batch failed: {answer}");
                    assert_eq!(answer["accepted"], 2, "{answer}");
                    acked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(legit_acked.into_inner(), 160);
    let s = every_view_answers(&h);
    assert_eq!(s["records"], 320);
    assert_eq!(entry(&s, "models", "m")["cost"], 40.0);
}

#[test]
fn records_dated_ahead_of_the_clock_are_rejected_and_windows_end_today() {
    let mut h = Harness::start();
    let year_9999 = 253_402_300_799_000_i64;
    let mut far = command("far", "u", "run", None, 1);
    far["event_timestamp"] = json!(year_9999);
    let mut tomorrowish = command("25h", "u", "run", None, 1);
    tomorrowish["event_timestamp"] = json!(now_ms() + 25 * 3_600_000);
    let mut skewed = command("23h", "u", "run", None, 1);
    skewed["event_timestamp"] = json!(now_ms() + 23 * 3_600_000);
    let (status, answer) = h.track(&[far, tomorrowish, skewed]);
    assert_eq!(status, 200);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(1), Some(2)),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("24 h"),
        "{answer}"
    );
    // OTLP too (nanoseconds as a uint64 reach the year 2554).
    let year_2500_ns = 16_725_225_600_000_000_000_u64;
    let mut lr = log_record(
        "cli_telemetry.command",
        true,
        vec![attr("log.record.uid", s("of"))],
    );
    lr["timeUnixNano"] = json!(year_2500_ns.to_string());
    lr["observedTimeUnixNano"] = lr["timeUnixNano"].clone();
    let (_, answer) = h.otlp(&otlp_request(vec![lr]));
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], "1",
        "{answer}"
    );

    // Rollups of future days (as an older collector stored them) count in no window.
    h.server.take().unwrap().stop().unwrap();
    let today = now_ms() / DAY;
    let conn = rusqlite::Connection::open(h.db()).unwrap();
    conn.execute(
        "INSERT INTO daily VALUES (?1, 'command', 'later', 7, 0, 0, 0, 0.0, 0, 0, 0, 0, 0, x'')",
        [today + 3],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO daily_installs VALUES (?1, 'future-user', '1', 'linux')",
        [today + 3],
    )
    .unwrap();
    drop(conn);
    h.server = Some(telemetry_collector::BackgroundServer::start(h.config.clone()).unwrap());
    for days in [1, 30] {
        let s = h.summary(days);
        let counted = s["records"].as_u64().unwrap();
        assert!(counted <= 1, "days={days}: {s}");
        assert!(
            s["commands"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["name"] != "later"),
            "{s}"
        );
        assert_eq!(
            s["installs"], counted,
            "days={days}: only the 23 h record's install"
        );
    }
}
