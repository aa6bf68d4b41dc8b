//! A collector that answers anything (issue 18, items 1, 4 and 5): hostile statuses,
//! `Retry-After` values and bodies, through the real transport against real servers on
//! 127.0.0.1. The CLI never crashes (the table runs in child processes: this test binary
//! started again, told what to do by an environment variable, whose exit status and stderr
//! are checked), a collector's numbers are clamped, and its text never reaches the terminal
//! with control characters.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::DebugBuffer;
use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{Client, Exporter, Outcome};
use telemetry_test_collector::{Collector, Reply};

/// Set in a child: the exporter, then one `endpoint\tconfig dir` line per case.
const CHILD: &str = "HOSTILE_ANSWERS_CHILD";
/// Cases per child process (each case has its own collector in the parent).
const CASES_PER_CHILD: usize = 80;
/// A child that takes longer than this is a hang.
const CHILD_LIMIT: Duration = Duration::from_secs(240);

const STATUSES: [u16; 8] = [200, 204, 302, 400, 429, 500, 503, 599];

/// `Retry-After` header lines: none, numbers no clock can add, dates far out, garbage.
fn retry_afters() -> Vec<&'static str> {
    let long: &'static str = Box::leak(format!("Retry-After: {}\r\n", "9".repeat(8_000)).into());
    vec![
        "",
        "Retry-After: 99999999999999999999\r\n",
        "Retry-After: 18446744073709551615\r\n",
        "Retry-After: 9223372036854775807\r\n",
        "Retry-After: 0\r\n",
        "Retry-After: -1\r\n",
        "Retry-After: 1.5\r\n",
        "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n",
        "Retry-After: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
        "Retry-After: Mon, 99 Foo 0000 99:99:99 GMT\r\n",
        long,
    ]
}

/// Terminal escape sequences, as JSON escapes (a JSON string cannot hold them raw).
const ESCAPES: &str = r"\u001b]0;PWNED\u0007\u001b[2J\u009b31m\r\nfake: telemetry: sent";

/// Answer bodies: empty, huge counts, escape sequences, not JSON, too deep, too long.
fn bodies() -> Vec<&'static str> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    vec![
        "",
        leak(format!(
            r#"{{"partialSuccess":{{"rejectedLogRecords":"18446744073709551615","errorMessage":"{ESCAPES}"}}}}"#
        )),
        leak(format!(r#"{{"code":3,"message":"{ESCAPES}"}}"#)),
        r#"{"partialSuccess":{"rejectedLogRecords":-1,"errorMessage":7}}"#,
        r#"{"partialSuccess":{"rejectedLogRecords":1e400}}"#,
        "\u{1b}[2J\u{7}not json at all",
        leak(format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000))),
        leak("a".repeat(100_000)),
    ]
}

/// The body of a child process; does nothing in the parent's own test run.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let mut lines = spec.lines();
    let exporter: Exporter = lines.next().unwrap().parse().unwrap();
    for case in lines {
        let (endpoint, dir) = case.split_once('\t').unwrap();
        one_run(endpoint, Path::new(dir), exporter);
        // The next run on the same config dir reads what this one kept (Retry-After, counts).
        one_run(endpoint, Path::new(dir), exporter);
    }
}

/// What a CLI run does: commands, a session with its flush point, a flush guard at the end.
fn one_run(endpoint: &str, dir: &Path, exporter: Exporter) {
    let client = common::builder(endpoint, dir)
        .exporter(exporter)
        .verbose(true)
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(800))
        .build();
    let _flush = client.flush_guard();
    client.track_command("run", ["--x"]);
    client.record_session_start("root", "sess-h");
    client.record_tool_call("t", None, None, Duration::from_millis(3), Outcome::Success);
    client.record_token_usage("m", u64::MAX, 5, 0.5);
    client.record_session_end();
    client.track_command("after", Vec::<String>::new());
    client.flush();
}

/// Runs this binary as a child on `cases`; returns its exit status and output.
fn run_child(exporter: Exporter, cases: &[(String, PathBuf)]) -> (Option<i32>, String) {
    let mut spec = exporter.as_str().to_owned();
    for (endpoint, dir) in cases {
        spec.push_str(&format!("\n{endpoint}\t{}", dir.display()));
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, spec)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a child ran for more than {CHILD_LIMIT:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    text.push_str(&String::from_utf8_lossy(&err.join().unwrap()));
    (status.code(), text)
}

/// Asserts a child's run ended well: exit 0, no panic, no control character but newlines.
fn assert_clean(label: &str, code: Option<i32>, output: &str) {
    let tail: String = output
        .lines()
        .filter(|l| l.contains("panic") || l.contains("overflow"))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(code, Some(0), "{label}: exit status; {tail}");
    for bad in ["panicked", "overflow", "panic in a destructor"] {
        assert!(
            !output.contains(bad),
            "{label}: {bad:?} in the output: {tail}"
        );
    }
    let control = output
        .char_indices()
        .find(|&(_, c)| c.is_control() && c != '\n');
    assert!(
        control.is_none(),
        "{label}: a control character reached stderr: {:?}",
        control.map(|(i, _)| &output[i.saturating_sub(60)..(i + 20).min(output.len())])
    );
}

/// Every `not-before` kept by a case is at most a day ahead.
fn assert_not_before_capped(dir: &Path) {
    let path = dir.join(format!("{OUTBOX_FILE}.not-before"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return;
    };
    let at: u64 = text.trim().parse().unwrap();
    let now = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    );
    assert!(
        at <= now.unwrap() + 24 * 3_600_000,
        "{}: Retry-After kept beyond a day: {at}",
        path.display()
    );
}

/// Runs `table` (status, Retry-After line, body) with `exporter`, a collector per case.
fn run_table(exporter: Exporter, table: &[(u16, &'static str, &'static str)]) {
    for group in table.chunks(CASES_PER_CHILD) {
        let collectors: Vec<Collector> = group
            .iter()
            .map(|&(status, header, body)| {
                Collector::with_script(vec![Reply::Raw(status, header, body); 16])
            })
            .collect();
        let dirs: Vec<tempfile::TempDir> =
            group.iter().map(|_| tempfile::tempdir().unwrap()).collect();
        let cases: Vec<(String, PathBuf)> = collectors
            .iter()
            .zip(&dirs)
            .map(|(c, d)| (c.url(), d.path().to_path_buf()))
            .collect();
        let (code, output) = run_child(exporter, &cases);
        let label = format!("{} cases from {:?}", exporter.as_str(), group[0]);
        assert_clean(&label, code, &output);
        for ((collector, dir), case) in collectors.iter().zip(&dirs).zip(group) {
            assert!(!collector.requests().is_empty(), "{case:?}: never asked");
            assert_not_before_capped(dir.path());
        }
    }
}

/// Issue 18, item 1: status × Retry-After × body, OTLP (which reads the body) the full
/// table, cagent every status × Retry-After. Exit 0 and no panic text for each.
#[test]
fn a_table_of_hostile_answers_never_crashes_the_cli() {
    let mut otlp = Vec::new();
    let mut cagent = Vec::new();
    for status in STATUSES {
        for header in retry_afters() {
            cagent.push((status, header, bodies()[1]));
            for body in bodies() {
                otlp.push((status, header, body));
            }
        }
    }
    run_table(Exporter::Otlp, &otlp);
    run_table(Exporter::Cagent, &cagent);
}

/// Issue 18, item 1: the answer that crashed every run (exit 101, or 134 at a flush point).
#[test]
fn an_endless_retry_after_is_cut_to_a_day() {
    for exporter in [Exporter::Cagent, Exporter::Otlp] {
        for status in [429, 503] {
            let table = [(status, "Retry-After: 99999999999999999999\r\n", "")];
            run_table(exporter, &table);
        }
    }
}

/// An OTLP client of `endpoint` with verbose output into `out`, no direct sends; in JSON,
/// so the tests read the bodies as they are.
fn otlp_client(endpoint: &str, dir: &Path, out: &DebugBuffer) -> Client {
    common::builder(endpoint, dir)
        .exporter(Exporter::Otlp)
        .otlp_protocol(telemetry_runtime::OtlpProtocol::Json)
        .send_budget(Duration::ZERO)
        .verbose(true)
        .debug_output(out.writer())
        .build()
}

/// The `cli_telemetry.dropped_records` attribute of the first log record of a request.
fn otlp_dropped(body: &Value) -> Option<Value> {
    let record = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    record["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == "cli_telemetry.dropped_records")
        .map(|a| a["value"].clone())
}

/// Issue 18, item 4: a collector claiming u64::MAX rejected records of a batch of one is
/// held to one; every count sent fits an int64, in both formats.
#[test]
fn hostile_counts_are_clamped() {
    let huge = r#"{"partialSuccess":{"rejectedLogRecords":"18446744073709551615"}}"#;
    let collector = Collector::with_script(vec![Reply::Raw(200, "", huge)]);
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let client = otlp_client(&collector.url(), dir.path(), &out);
    client.track_command("first", Vec::<String>::new());
    client.flush();
    assert!(out.text().contains("dropped 1 record(s)"), "{}", out.text());
    client.record_token_usage("m", u64::MAX, 1, 0.0);
    client.flush();
    let requests = collector.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1].json();
    assert_eq!(
        otlp_dropped(&second),
        Some(serde_json::json!({"intValue": "1"})),
        "the rejected count is at most the batch: {second}"
    );
    let tokens = second["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "gen_ai.usage.input_tokens")
        .map(|a| a["value"].clone());
    assert_eq!(
        tokens,
        Some(serde_json::json!({"intValue": i64::MAX.to_string()}))
    );

    // The count switches format with the records: cagent carries it as a JSON number.
    let collector = Collector::with_script(vec![Reply::Raw(200, "", huge)]);
    let dir = tempfile::tempdir().unwrap();
    let client = otlp_client(&collector.url(), dir.path(), &out);
    client.track_command("first", Vec::<String>::new());
    client.flush();
    let cagent = common::builder(&collector.url(), dir.path())
        .send_budget(Duration::ZERO)
        .build();
    cagent.record_token_usage("m", u64::MAX, 1, 0.0);
    cagent.flush();
    let records = collector.requests()[1].records();
    assert_eq!(records[0]["properties"]["dropped_records"], 1);
    assert_eq!(records[0]["properties"]["input_tokens"], i64::MAX);
    assert_eq!(records[0]["properties"]["total_tokens"], i64::MAX);
}

/// Issue 18, item 5: what a collector says (a partial success's message, an error status's
/// message) is shown in verbose mode without control characters, on one line.
#[test]
fn a_collectors_text_reaches_the_terminal_without_control_characters() {
    let partial: &'static str = Box::leak(
        format!(r#"{{"partialSuccess":{{"rejectedLogRecords":"1","errorMessage":"{ESCAPES}"}}}}"#)
            .into_boxed_str(),
    );
    let refused: &'static str =
        Box::leak(format!(r#"{{"code":3,"message":"{ESCAPES}"}}"#).into_boxed_str());
    for (status, body) in [(200, partial), (400, refused)] {
        let collector = Collector::with_script(vec![Reply::Raw(status, "", body)]);
        let dir = tempfile::tempdir().unwrap();
        let out = DebugBuffer::default();
        let client = otlp_client(&collector.url(), dir.path(), &out);
        client.track_command("run", Vec::<String>::new());
        client.flush();
        let text = out.text();
        assert!(
            text.contains("PWNED"),
            "{status}: the message is shown: {text}"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{status}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("fake: ")),
            "{status}: a peer cannot forge a line: {text}"
        );
    }
}
