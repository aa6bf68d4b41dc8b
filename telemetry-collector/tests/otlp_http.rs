//! `/v1/logs` over real HTTP: protobuf and JSON, gzip or not, stored alike and answered in
//! the request's encoding; 415 for other types and encodings; 413 for a body (or a gzip
//! bomb) over `--max-body` once inflated; 400 for malformed protobuf or gzip.

mod common;

use std::io::Write;

use common::{Harness, entry, now_ms};
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const PROTOBUF: &str = "application/x-protobuf";

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(v: &str) -> Any {
    Any::StringValue(v.into())
}

/// A log record as the runtime's exporter writes it.
fn log(event_name: &str, attributes: Vec<KeyValue>) -> LogRecord {
    let ns = u64::try_from(now_ms()).unwrap() * 1_000_000;
    LogRecord {
        time_unix_nano: ns,
        observed_time_unix_nano: ns,
        severity_number: 9,
        severity_text: "INFO".into(),
        event_name: event_name.into(),
        attributes,
        ..Default::default()
    }
}

/// A protobuf `ExportLogsServiceRequest` with the exporter's resource.
fn request(records: Vec<LogRecord>) -> Vec<u8> {
    let resource = Resource {
        attributes: vec![
            kv("service.name", text("cagent")),
            kv("service.version", text("9.9.9")),
            kv("os.type", text("linux")),
        ],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn command(uid: &str, action: &str) -> LogRecord {
    log(
        "cli_telemetry.command",
        vec![
            kv("log.record.uid", text(uid)),
            kv("enduser.pseudo.id", text("user-1")),
            kv("cli_telemetry.action", text(action)),
            kv("cli_telemetry.duration_ms", Any::IntValue(30)),
            kv("cli_telemetry.is_success", Any::BoolValue(true)),
        ],
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn protobuf_is_stored_and_answered_in_protobuf_with_the_rejected_count() {
    let h = Harness::start();
    let no_uid = log(
        "cli_telemetry.command",
        vec![kv("cli_telemetry.action", text("x"))],
    );
    let body = request(vec![
        command("pb-1", "build"),
        no_uid,
        command("pb-2", "build"),
    ]);
    let (status, ctype, answer) = h.post_bytes("/v1/logs", &[("Content-Type", PROTOBUF)], &body);
    assert_eq!((status, ctype.as_deref()), (200, Some(PROTOBUF)));
    let answer = ExportLogsServiceResponse::decode(&answer[..]).expect("a protobuf answer");
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(
        partial.error_message.contains("log.record.uid"),
        "{}",
        partial.error_message
    );
    let sum = h.summary(2);
    assert_eq!(entry(&sum, "commands", "build")["calls"], 2, "{sum:#}");
    assert_eq!(entry(&sum, "versions", "9.9.9")["installs"], 1);
    // Everything accepted: an empty ExportLogsServiceResponse; a replay changes nothing.
    let (status, ctype, answer) = h.post_bytes("/v1/logs", &[("Content-Type", PROTOBUF)], &body);
    assert_eq!((status, ctype.as_deref()), (200, Some(PROTOBUF)));
    let answer = ExportLogsServiceResponse::decode(&answer[..]).unwrap();
    assert_eq!(
        answer.partial_success.map(|p| p.rejected_log_records),
        Some(1)
    );
    let clean = request(vec![command("pb-3", "test")]);
    let (_, _, answer) = h.post_bytes("/v1/logs", &[("Content-Type", PROTOBUF)], &clean);
    assert!(answer.is_empty(), "{answer:?}");
    let sum = h.summary(2);
    assert_eq!(sum["records"], 3, "{sum:#}");
}

#[test]
fn both_types_with_parameters_and_gzip_or_identity_are_taken() {
    let h = Harness::start();
    let json = common::otlp_request(vec![common::log_record(
        "cli_telemetry.command",
        true,
        vec![
            common::attr("log.record.uid", common::s("js-1")),
            common::attr("cli_telemetry.action", common::s("build")),
        ],
    )])
    .to_string()
    .into_bytes();
    let json_gz = {
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let uid = &mut v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["attributes"][0];
        uid["value"]["stringValue"] = "js-2".into();
        gzip(v.to_string().as_bytes())
    };
    let cases: [(&str, Option<&str>, Vec<u8>, &str); 5] = [
        (
            "application/json; charset=utf-8",
            None,
            json,
            "application/json",
        ),
        (
            "application/json",
            Some("gzip"),
            json_gz,
            "application/json",
        ),
        (
            "Application/X-Protobuf; proto=otlp",
            Some("identity"),
            request(vec![command("p-1", "build")]),
            PROTOBUF,
        ),
        (
            PROTOBUF,
            Some("gzip"),
            gzip(&request(vec![command("p-2", "build")])),
            PROTOBUF,
        ),
        (
            PROTOBUF,
            Some("GZIP"),
            gzip(&request(vec![command("p-3", "build")])),
            PROTOBUF,
        ),
    ];
    for (ctype, encoding, body, answered) in cases {
        let mut headers = vec![("Content-Type", ctype)];
        headers.extend(encoding.map(|e| ("Content-Encoding", e)));
        let (status, got, text) = h.post_bytes("/v1/logs", &headers, &body);
        assert_eq!(
            status,
            200,
            "{ctype} {encoding:?}: {}",
            String::from_utf8_lossy(&text)
        );
        assert!(
            got.as_deref().is_some_and(|g| g.starts_with(answered)),
            "{ctype}: {got:?}"
        );
    }
    assert_eq!(entry(&h.summary(2), "commands", "build")["calls"], 5);
}

#[test]
fn other_types_and_encodings_get_415_naming_what_is_supported() {
    let h = Harness::start();
    let body = request(vec![command("x-1", "build")]);
    for ctype in [
        "text/plain",
        "application/protobuf",
        "application/octet-stream",
    ] {
        let (status, _, text) = h.post_bytes("/v1/logs", &[("Content-Type", ctype)], &body);
        let text = String::from_utf8_lossy(&text);
        assert_eq!(status, 415, "{ctype}");
        assert!(text.contains("application/x-protobuf") && text.contains("application/json"));
    }
    for enc in ["br", "deflate", "zstd"] {
        let headers = [("Content-Type", PROTOBUF), ("Content-Encoding", enc)];
        let (status, _, text) = h.post_bytes("/v1/logs", &headers, &body);
        let text = String::from_utf8_lossy(&text);
        assert_eq!(status, 415, "{enc}");
        assert!(text.contains(enc) && text.contains("gzip"), "{text}");
    }
    assert_eq!(h.summary(2)["records"], 0);
}

#[test]
fn the_limit_is_on_the_inflated_body_and_a_gzip_bomb_gets_413() {
    let h = Harness::start_with(|c| c.max_body = 64 * 1024);
    // Just under the limit once inflated: taken. Over it by a little: 413.
    let record = request(vec![command("big-1", "build")]);
    let padding = |total: usize| {
        let mut r = record.clone();
        // An unknown field 15 (bytes) pads the message; receivers skip unknown fields.
        let pad = total - r.len() - 4;
        r.extend([
            0x7a,
            0x80 | (pad & 0x7f) as u8,
            ((pad >> 7) & 0x7f) as u8 | 0x80,
            (pad >> 14) as u8,
        ]);
        r.extend(vec![b'x'; pad]);
        r
    };
    let fits = padding(64 * 1024);
    assert_eq!(fits.len(), 64 * 1024);
    let headers = [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")];
    let (status, _, text) = h.post_bytes("/v1/logs", &headers, &gzip(&fits));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&text));
    let over = padding(64 * 1024 + 1);
    let (status, _, _) = h.post_bytes("/v1/logs", &headers, &gzip(&over));
    assert_eq!(status, 413);
    // A gzip bomb: 1 GiB of zeros in about 1 MB of repeated members, under the limit
    // compressed (a 64 KiB slice of it), far over it inflated.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb: Vec<u8> = member.repeat(64 * 1024 / member.len());
    assert!(bomb.len() <= 64 * 1024);
    let (status, _, text) = h.post_bytes("/v1/logs", &headers, &bomb);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&text));
    assert!(String::from_utf8_lossy(&text).contains("65536"));
    assert_eq!(
        h.summary(2)["records"],
        1,
        "the body that fitted, nothing else"
    );
    assert_eq!(h.get("/healthz", &[]).0, 200, "still serving");
}

/// Request headers, name then value.
type Headers<'a> = &'a [(&'a str, &'a str)];

#[test]
fn malformed_protobuf_or_gzip_gets_400_and_stores_nothing() {
    let h = Harness::start();
    let body = request(vec![command("m-1", "build")]);
    let mut bad_utf8 = request(vec![command("m-2", "\u{e9}t\u{e9}")]);
    // The `é` of the action (0xc3 0xa9, then `t`), not a byte of a timestamp.
    let at = bad_utf8
        .windows(3)
        .position(|w| w == [0xc3, 0xa9, b't'])
        .unwrap();
    bad_utf8[at] = 0xff;
    let cases: [(Headers<'_>, Vec<u8>); 5] = [
        (
            &[("Content-Type", PROTOBUF)],
            body[..body.len() / 2].to_vec(),
        ),
        (
            &[("Content-Type", PROTOBUF)],
            b"{\"resourceLogs\":[]}".to_vec(),
        ),
        (&[("Content-Type", PROTOBUF)], bad_utf8),
        (
            &[("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")],
            body.clone(),
        ),
        (
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            b"{}".to_vec(),
        ),
    ];
    for (headers, bad) in cases {
        let (status, _, text) = h.post_bytes("/v1/logs", headers, &bad);
        assert_eq!(
            status,
            400,
            "{headers:?}: {}",
            String::from_utf8_lossy(&text)
        );
    }
    assert_eq!(h.summary(2)["records"], 0);
    let (status, _, _) = h.post_bytes("/v1/logs", &[("Content-Type", PROTOBUF)], &body);
    assert_eq!(status, 200, "the connection and the server still serve");
}
