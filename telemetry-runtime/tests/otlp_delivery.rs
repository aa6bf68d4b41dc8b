//! OTLP over real HTTP on 127.0.0.1, through the client: the protocol and compression each
//! setting selects (exact `Content-Type`, `Content-Encoding`), every body strictly checked by
//! the OpenTelemetry project's own definitions (`scripts/check_otlp.py`), batches over 4 MiB
//! split, and answers in protobuf.

#[path = "../src/export/otlp_check.rs"]
mod otlp_check;

mod common;

use std::io::Read;
use std::time::Duration;

use serde_json::Value;
use telemetry_runtime::files::OUTBOX_FILE;
use telemetry_runtime::{
    Client, ClientBuilder, Env, Exporter, MAX_BODY_BYTES, OtlpCompression, OtlpProtocol,
};
use telemetry_test_collector::{Collector, Reply, Request};

use common::DebugBuffer;

/// An OTLP client sending to `collector`'s `/v1/logs`, config dir `dir`, environment `env`.
fn otlp_builder(
    collector: &Collector,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> ClientBuilder {
    common::builder(&format!("{}/v1/logs", collector.base_url()), dir)
        .exporter(Exporter::Otlp)
        .env(Env::from_pairs(env.iter().copied()))
}

/// A client whose operator's stream sends its logs (only) to `collector`, with the `OTEL_*`
/// variables of `env`; no usage stream.
fn otel_logs_client(collector: &Collector, dir: &std::path::Path, env: &[(&str, &str)]) -> Client {
    let base = collector.base_url();
    let mut pairs = vec![
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
    ];
    pairs.extend_from_slice(env);
    Client::builder()
        .app(common::APP, common::VERSION)
        .config_dir(dir)
        .env(Env::from_pairs(pairs))
        .build()
}

/// Records one command and flushes.
fn one_command(client: &Client) {
    client.track_command("build", ["--release"]);
    client.flush();
}

/// The body as sent, decompressed when its `Content-Encoding` says gzip.
fn plain_body(r: &Request) -> Vec<u8> {
    match r.header("content-encoding") {
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .expect("the body is gzip");
            out
        }
        None => r.body.clone(),
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
}

/// The strict check of `bodies`, with the parsed messages as canonical JSON; `None` when the
/// check cannot run here (and `CI` is not set).
fn checked(bodies: &[Vec<u8>], args: &[&str]) -> Option<Vec<Value>> {
    let mut all = vec!["--print-json"];
    all.extend(args);
    let result = otlp_check::check_bodies(bodies, &all)?;
    assert!(result.passed, "{result:?}");
    let json = result.stdout.lines().nth(1).expect("the parsed messages");
    Some(serde_json::from_str::<Vec<Value>>(json).expect("JSON"))
}

/// Variables, then the `Content-Type` and `Content-Encoding` they must give.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);

#[test]
fn each_protocol_and_compression_is_sent_as_announced() {
    let cases: [Case<'_>; 6] = [
        (&[], "application/x-protobuf", None),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "application/json",
            None,
        ),
        (
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
            "application/x-protobuf",
            Some("gzip"),
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
            ],
            "application/json",
            Some("gzip"),
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "application/x-protobuf",
            None,
        ),
        (
            &[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
            ],
            "application/x-protobuf",
            None,
        ),
    ];
    let mut bodies = Vec::new();
    for (env, content_type, encoding) in cases {
        // The `OTEL_*` variables configure the operator's own stream (issue 21).
        let collector = Collector::start();
        let dir = tempfile::tempdir().unwrap();
        one_command(&otel_logs_client(&collector, dir.path(), env));
        let requests = collector.requests();
        assert_eq!(requests.len(), 1, "{env:?}");
        let r = &requests[0];
        assert_eq!(r.path, "/v1/logs");
        assert_eq!(
            r.header("content-type"),
            Some(content_type),
            "{env:?}: exactly"
        );
        assert_eq!(r.header("content-encoding"), encoding, "{env:?}");
        assert!(plain_body(r).len() <= MAX_BODY_BYTES);
        bodies.push(r.body.clone());
    }
    let Some(messages) = checked(&bodies, &["--require-event", "cli_telemetry.command"]) else {
        return;
    };
    for m in messages {
        let logs = &m["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
        assert_eq!(logs.as_array().map(Vec::len), Some(1));
        assert_eq!(logs[0]["eventName"], "cli_telemetry.command");
    }
}

/// The usage stream's protocol and compression are the application's choice, in code: the
/// `OTEL_*` variables (the operator's stream's) never change them.
#[test]
fn the_usage_streams_protocol_is_chosen_in_code_and_otel_variables_never_change_it() {
    let sent = |env: &[(&str, &str)]| {
        let collector = Collector::start();
        let dir = tempfile::tempdir().unwrap();
        let client = otlp_builder(&collector, dir.path(), env)
            .otlp_protocol(OtlpProtocol::Json)
            .otlp_compression(OtlpCompression::Gzip)
            .build();
        one_command(&client);
        let r = collector.requests().remove(0);
        let headers = (
            r.header("content-type").map(str::to_owned),
            r.header("content-encoding").map(str::to_owned),
        );
        (headers, r.body)
    };
    let (headers, json_gz) = sent(&[]);
    assert_eq!(
        headers,
        (Some("application/json".into()), Some("gzip".into()))
    );
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
    ];
    let (headers, again) = sent(&env);
    assert_eq!(
        headers,
        (Some("application/json".into()), Some("gzip".into()))
    );
    let proto = {
        let collector = Collector::start();
        let dir = tempfile::tempdir().unwrap();
        one_command(&otlp_builder(&collector, dir.path(), &[]).build());
        let r = collector.requests().remove(0);
        assert_eq!(
            r.header("content-type"),
            Some("application/x-protobuf"),
            "the default"
        );
        r.body
    };
    let _ = again;
    if let Some(r) = otlp_check::check_bodies(&[json_gz, proto], &[]) {
        assert!(r.passed, "{r:?}");
        assert!(
            r.stdout
                .contains(r#""encodings": {"gzip": 1, "json": 1, "protobuf": 1}"#),
            "{}",
            r.stdout
        );
    }
}

/// A record line just under the outbox's 8 KiB line cap whose JSON encoding is about ten
/// times larger: an array of empty objects.
fn bulky_line(i: usize) -> String {
    let items = vec!["{}"; 2_600].join(",");
    format!(
        r#"{{"event":"tool","event_timestamp":1700000000000,"source":"testapp","properties":{{"event_id":"bulk-{i}","bulk":[{items}]}}}}"#
    )
}

#[test]
fn a_flush_whose_body_would_pass_4_mib_goes_in_several_requests() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..100).map(bulky_line).collect();
    assert!(
        lines
            .iter()
            .all(|l| l.len() < telemetry_runtime::limits::MAX_RECORD_BYTES)
    );
    std::fs::write(dir.path().join(OUTBOX_FILE), lines.join("\n") + "\n").unwrap();
    let client = otlp_builder(&collector, dir.path(), &[])
        .otlp_protocol(OtlpProtocol::Json)
        .timeout(Duration::from_secs(20))
        .build();
    client.flush();
    let requests = collector.requests();
    assert!(requests.len() >= 2, "{} request(s)", requests.len());
    let mut uids = Vec::new();
    for r in &requests {
        assert!(r.body.len() <= MAX_BODY_BYTES, "{} bytes", r.body.len());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        for log in body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .unwrap()
        {
            let attrs = log["attributes"].as_array().unwrap();
            let uid = attrs
                .iter()
                .find(|kv| kv["key"] == "log.record.uid")
                .unwrap();
            uids.push(uid["value"]["stringValue"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..100).map(|i| format!("bulk-{i}")).collect();
    assert_eq!(uids, expected, "every record once, in order");
    assert!(
        common::outbox_records(dir.path()).is_empty(),
        "the outbox is empty"
    );
}

/// `ExportLogsServiceResponse { partial_success { rejected_log_records: 1,
/// error_message: "too big" } }`.
const PARTIAL: &[u8] = b"\x0a\x0b\x08\x01\x12\x07too big";
/// `google.rpc.Status { code: 3, message: "bad field\x1b[2J" }`.
const STATUS: &[u8] = b"\x08\x03\x12\x0dbad field\x1b[2J";

#[test]
fn protobuf_answers_are_read_counted_and_shown_cleaned() {
    let collector =
        Collector::with_script(vec![Reply::Body(200, "application/x-protobuf", PARTIAL)]);
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let client = otlp_builder(&collector, dir.path(), &[])
        .verbose(true)
        .debug_output(out.writer())
        .build();
    one_command(&client);
    let text = out.text();
    assert!(
        text.contains("dropped 1 record(s): the collector rejected them (too big)"),
        "{text}"
    );
    let outbox = std::fs::read_to_string(dir.path().join(OUTBOX_FILE)).unwrap_or_default();
    assert!(outbox.contains(r#"{"dropped_records":1,"#), "{outbox:?}");

    let collector =
        Collector::with_script(vec![Reply::Body(400, "application/x-protobuf", STATUS)]);
    let dir = tempfile::tempdir().unwrap();
    let out = DebugBuffer::default();
    let client = otlp_builder(&collector, dir.path(), &[])
        .verbose(true)
        .debug_output(out.writer())
        .build();
    one_command(&client);
    let text = out.text();
    assert!(
        text.contains("collector refused them (400: bad field[2J)"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "no escape reaches the terminal: {text:?}"
    );

    // A 2xx whose body cannot be read is a full success.
    let collector = Collector::with_script(vec![Reply::Body(
        200,
        "application/x-protobuf",
        b"\x0a\xff\xff",
    )]);
    let dir = tempfile::tempdir().unwrap();
    one_command(&otlp_builder(&collector, dir.path(), &[]).build());
    assert_eq!(collector.requests().len(), 1);
    let outbox = std::fs::read_to_string(dir.path().join(OUTBOX_FILE)).unwrap_or_default();
    assert!(outbox.is_empty(), "delivered, nothing dropped: {outbox:?}");
}
