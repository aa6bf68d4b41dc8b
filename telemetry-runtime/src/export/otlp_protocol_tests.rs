//! Tests of OTLP's two encodings and gzip: the JSON and protobuf bodies of the same records
//! decode to equal messages (Python `opentelemetry-proto`), bodies stay under 4 MiB, the
//! protocol and compression variables, and answers in protobuf.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use super::otlp_check::check_bodies;
use super::otlp_common::OtlpResource;
use super::otlp_record_ref::tests::{edge_lines, records};
use super::otlp_wire::{ProtoValue, Reader};
use super::{
    Answer, Otlp, OtlpCompression, OtlpProtocol, Signal, Verdict, WireFormat, otlp_compression,
    otlp_protocol,
};
use crate::config::Env;
use crate::limits::MAX_BODY_BYTES;

fn resource() -> OtlpResource {
    OtlpResource::new(
        "cagent",
        "1.2.3",
        &[("k8s.pod.name".into(), "p \"1\"".into())],
    )
}

fn otlp(protocol: OtlpProtocol, compression: OtlpCompression) -> Otlp {
    Otlp::new(&resource(), protocol, compression)
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// The length-delimited values of field `number` of a protobuf message.
fn len_fields(message: &[u8], number: u32) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut r = Reader::new(message);
    while let Some((n, value)) = r.field().expect("well-formed protobuf") {
        if let (true, ProtoValue::Len(bytes)) = (n == number, value) {
            out.push(bytes);
        }
    }
    out
}

/// The `LogRecord`s of an `ExportLogsServiceRequest` in protobuf.
fn proto_log_records(body: &[u8]) -> Vec<&[u8]> {
    len_fields(body, 1)
        .into_iter()
        .flat_map(|rl| len_fields(rl, 2))
        .flat_map(|sl| len_fields(sl, 2))
        .collect()
}

/// The `log.record.uid` of a `LogRecord` in protobuf.
fn proto_uid(record: &[u8]) -> Option<String> {
    len_fields(record, 6).into_iter().find_map(|kv| {
        let key = len_fields(kv, 1).pop()?;
        let value = len_fields(kv, 2).pop()?;
        let text = len_fields(value, 1).pop()?;
        (key == b"log.record.uid").then(|| String::from_utf8_lossy(text).into_owned())
    })
}

/// The `log.record.uid`s of a body in either encoding.
fn uids(body: &[u8], protocol: OtlpProtocol) -> Vec<String> {
    match protocol {
        OtlpProtocol::Protobuf => proto_log_records(body)
            .into_iter()
            .map(|r| proto_uid(r).expect("uid"))
            .collect(),
        OtlpProtocol::Json => {
            let v: Value = serde_json::from_slice(body).expect("JSON");
            let logs = v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            logs.iter()
                .map(|l| {
                    let attrs = l["attributes"].as_array().expect("attributes");
                    let uid = attrs.iter().find(|kv| kv["key"] == "log.record.uid");
                    uid.expect("uid")["value"]["stringValue"]
                        .as_str()
                        .expect("string")
                        .to_owned()
                })
                .collect()
        }
    }
}

#[test]
fn the_two_encodings_of_the_same_records_decode_to_equal_messages() {
    let lines = records();
    let json = otlp(OtlpProtocol::Json, OtlpCompression::None);
    let proto = otlp(OtlpProtocol::Protobuf, OtlpCompression::None);
    let json_gz = otlp(OtlpProtocol::Json, OtlpCompression::Gzip);
    let proto_gz = otlp(OtlpProtocol::Protobuf, OtlpCompression::Gzip);
    assert_eq!(proto.content_type(), "application/x-protobuf");
    assert_eq!(json.content_type(), "application/json");
    let mut bodies = Vec::new();
    for (batch, dropped) in [
        (&lines[..], 0),
        (&lines[..], 7),
        (&lines[3..4], 0),
        (&[][..], 0),
    ] {
        let p = proto.encode_counted(batch, dropped);
        let pg = proto_gz.encode_counted(batch, dropped);
        let jg = json_gz.encode_counted(batch, dropped);
        assert_eq!(
            (p.content_encoding, pg.content_encoding),
            (None, Some("gzip"))
        );
        assert_eq!(gunzip(&pg.body), p.body, "gzip of the same bytes");
        assert_eq!(gunzip(&jg.body), json.encode(batch, dropped));
        bodies.extend([json.encode(batch, dropped), p.body, jg.body, pg.body]);
    }
    let Some(result) = check_bodies(&bodies[..12], &["--pairs"]) else {
        return;
    };
    assert!(result.passed, "{result:?}");
    let expected = lines.len() * 8 + 4;
    assert!(
        result.stdout.contains(&format!("\"records\": {expected}")),
        "{}",
        result.stdout
    );
}

#[test]
fn every_line_the_json_encoder_reads_the_protobuf_encoder_reads_the_same() {
    // Every record and edge line, each cut after each character, and each character in
    // turn replaced by bytes that matter to JSON numbers, strings and structure: the same
    // lines are skipped by both, and the records written decode to equal messages.
    let mut corpus = Vec::new();
    for line in records().into_iter().chain(edge_lines()) {
        let boundaries: Vec<usize> = (1..line.len())
            .filter(|&i| line.is_char_boundary(i))
            .collect();
        for &i in &boundaries {
            corpus.push(line[..i].to_owned());
            let end = line[i..].chars().next().map_or(i, |c| i + c.len_utf8());
            for b in ["0", "-", "e", "\\", "\""] {
                corpus.push(format!("{}{b}{}", &line[..i], &line[end..]));
            }
        }
        corpus.push(line);
    }
    // A string escape of a lone surrogate is not text: JSON keeps the escape (a decoder
    // refuses it), protobuf writes U+FFFD. The scrubbed client never writes one.
    let surrogate = |l: &str| {
        l.match_indices("\\u").any(|(i, _)| {
            let hex = l.get(i + 2..i + 4).unwrap_or("").to_ascii_lowercase();
            ["d8", "d9", "da", "db", "dc", "dd", "de", "df"].contains(&hex.as_str())
        })
    };
    corpus.retain(|l| !surrogate(l));
    let json = otlp(OtlpProtocol::Json, OtlpCompression::None);
    let proto = otlp(OtlpProtocol::Protobuf, OtlpCompression::None);
    let mut bodies = Vec::new();
    let mut written = 0;
    for chunk in corpus.chunks(400) {
        let (j, p) = (
            json.encode_counted(chunk, 1),
            proto.encode_counted(chunk, 1),
        );
        assert_eq!((j.taken, j.skipped), (p.taken, p.skipped));
        assert_eq!(j.taken, chunk.len());
        written += chunk.len() - j.skipped;
        bodies.extend([j.body, p.body]);
    }
    assert!(written > 100, "{written} records in the corpus");
    let Some(result) = check_bodies(&bodies, &["--pairs", "--definitions-only"]) else {
        return;
    };
    assert!(result.passed, "{}", result.stderr);
    let records = format!("\"records\": {}", written * 2);
    assert!(result.stdout.contains(&records), "{}", result.stdout);
}

/// A record whose JSON is about 10 times its size: `n` empty objects in an array.
fn bulky_line(i: usize, n: usize) -> String {
    let items = vec!["{}"; n].join(",");
    format!(
        r#"{{"event":"tool","event_timestamp":1700000000000,"properties":{{"event_id":"id-{i}","bulk":[{items}]}}}}"#
    )
}

#[test]
fn a_batch_over_4_mib_is_split_and_no_record_is_lost_or_repeated() {
    for (protocol, n) in [
        (OtlpProtocol::Json, 20_000),
        (OtlpProtocol::Protobuf, 200_000),
    ] {
        let lines: Vec<String> = (0..12).map(|i| bulky_line(i, n)).collect();
        let enc = otlp(protocol, OtlpCompression::None);
        let (mut sent, mut requests, mut dropped) = (Vec::new(), 0, 5);
        let mut rest = &lines[..];
        while !rest.is_empty() {
            let e = enc.encode_counted(rest, dropped);
            assert!(e.body.len() <= MAX_BODY_BYTES, "{} bytes", e.body.len());
            assert!(e.taken >= 1 && e.taken <= rest.len());
            assert_eq!((e.skipped, e.too_large), (0, 0));
            if dropped > 0 {
                assert!(e.carried_dropped);
                dropped = 0;
            }
            sent.extend(uids(&e.body, protocol));
            rest = &rest[e.taken..];
            requests += 1;
        }
        let expected: Vec<String> = (0..12).map(|i| format!("id-{i}")).collect();
        assert_eq!(sent, expected, "{protocol:?}: each record once, in order");
        assert!(requests >= 2, "{protocol:?}: {requests} request(s)");
    }
}

#[test]
fn a_record_over_4_mib_alone_is_left_out_and_counted() {
    let huge = bulky_line(0, 300_000);
    let lines = vec![huge, bulky_line(1, 1)];
    let json = otlp(OtlpProtocol::Json, OtlpCompression::None);
    let first = json.encode_counted(&lines, 3);
    assert_eq!((first.too_large, first.skipped, first.taken), (1, 0, 2));
    assert!(first.carried_dropped, "the next record carries the count");
    assert_eq!(uids(&first.body, OtlpProtocol::Json), ["id-1"]);
    let alone = json.encode_counted(&lines[..1], 3);
    assert_eq!(
        (alone.too_large, alone.taken, alone.carried_dropped),
        (1, 1, false)
    );
    // The same record fits in protobuf (about a tenth of the size).
    let proto = otlp(OtlpProtocol::Protobuf, OtlpCompression::None).encode_counted(&lines, 0);
    assert_eq!((proto.too_large, proto.taken), (0, 2));
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

#[test]
fn protocol_from_the_environment_the_signal_variable_winning() {
    let protocol = |pairs: &[(&str, &str)], app| otlp_protocol(&env(pairs), Signal::Logs, app);
    assert_eq!(protocol(&[], None), (OtlpProtocol::Protobuf, None));
    assert_eq!(
        protocol(&[], Some(OtlpProtocol::Json)),
        (OtlpProtocol::Json, None)
    );
    let general = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    assert_eq!(protocol(&[general], None), (OtlpProtocol::Json, None));
    let logs = ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", " http/protobuf ");
    assert_eq!(
        protocol(&[general, logs], None),
        (OtlpProtocol::Protobuf, None)
    );
    assert_eq!(
        protocol(&[general], Some(OtlpProtocol::Protobuf)),
        (OtlpProtocol::Json, None),
        "the environment wins over the application"
    );
    let traces = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json");
    assert_eq!(protocol(&[traces], None), (OtlpProtocol::Protobuf, None));
    assert_eq!(
        otlp_protocol(&env(&[traces]), Signal::Traces, None),
        (OtlpProtocol::Json, None)
    );
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ] {
        let (p, warning) = protocol(&[(var, "grpc")], Some(OtlpProtocol::Json));
        let warning = warning.expect("one warning");
        assert_eq!(p, OtlpProtocol::Protobuf, "grpc goes over http/protobuf");
        assert!(
            warning.contains(var) && warning.contains("http/protobuf"),
            "{warning}"
        );
        for garbage in ["http", "json", "http/xml", "grpc/protobuf"] {
            let (p, warning) = protocol(&[(var, garbage)], None);
            assert_eq!(p, OtlpProtocol::Protobuf, "{garbage}: the default kept");
            assert!(warning.expect("one warning").contains(var), "{garbage}");
            let (p, _) = protocol(&[(var, garbage)], Some(OtlpProtocol::Json));
            assert_eq!(
                p,
                OtlpProtocol::Json,
                "{garbage}: the application's choice kept"
            );
        }
    }
    assert_eq!(
        protocol(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "  ")], None),
        (OtlpProtocol::Protobuf, None)
    );
}

#[test]
fn compression_from_the_environment_the_signal_variable_winning() {
    let compression =
        |pairs: &[(&str, &str)], app| otlp_compression(&env(pairs), Signal::Logs, app);
    assert_eq!(compression(&[], None), (OtlpCompression::None, None));
    assert_eq!(
        compression(&[], Some(OtlpCompression::Gzip)),
        (OtlpCompression::Gzip, None)
    );
    let general = ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    assert_eq!(compression(&[general], None), (OtlpCompression::Gzip, None));
    let logs = ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none");
    assert_eq!(
        compression(&[general, logs], None),
        (OtlpCompression::None, None)
    );
    assert_eq!(
        compression(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP")], None),
        (OtlpCompression::Gzip, None)
    );
    for garbage in ["zstd", "deflate", "br", "true"] {
        let (c, warning) = compression(&[("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", garbage)], None);
        assert_eq!(c, OtlpCompression::None, "{garbage}");
        let warning = warning.expect("one warning");
        assert!(
            warning.contains("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION"),
            "{warning}"
        );
    }
}

fn judged(protocol: OtlpProtocol, status: u16, content_type: Option<&str>, body: &[u8]) -> Verdict {
    otlp(protocol, OtlpCompression::None).judge(&Answer {
        status,
        body,
        retry_after: Some(Duration::from_secs(1)),
        content_type,
    })
}

/// An `ExportLogsServiceResponse` with a partial success, in protobuf.
fn proto_partial(rejected: i64, message: &str) -> Vec<u8> {
    let mut partial = vec![0x08];
    super::otlp_wire::varint_for_tests(&mut partial, rejected as u64);
    partial.push(0x12);
    partial.push(message.len() as u8);
    partial.extend(message.as_bytes());
    let mut body = vec![0x0a, partial.len() as u8];
    body.extend(partial);
    body
}

#[test]
fn protobuf_answers_are_decoded_as_the_json_ones() {
    let pb = Some("application/x-protobuf");
    let delivered = |rejected, message: Option<&str>| Verdict::Delivered {
        rejected,
        message: message.map(str::to_owned),
    };
    let partial = proto_partial(3, "too big");
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, pb, &partial),
        delivered(3, Some("too big"))
    );
    // No content type: the request's protocol decides how the answer is read.
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, None, &partial),
        delivered(3, Some("too big"))
    );
    // A JSON answer to a protobuf request is read as JSON.
    let json = br#"{"partialSuccess":{"rejectedLogRecords":"2"}}"#;
    let ct = Some("application/json; charset=utf-8");
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, ct, json),
        delivered(2, None)
    );
    assert_eq!(
        judged(OtlpProtocol::Json, 200, pb, &partial),
        delivered(3, Some("too big"))
    );
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, pb, &proto_partial(-4, "")),
        delivered(0, None)
    );
    let controls = proto_partial(1, "bad\x1b[31m red\r\nline\x07");
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, pb, &controls),
        delivered(1, Some("bad[31m red  line"))
    );
    // Bodies that cannot be decoded never fail a 2xx.
    for garbage in [
        &b"\xff\xff\xff"[..],
        b"{",
        b"<html>",
        &partial[..5],
        b"\x0a\x80",
    ] {
        assert_eq!(
            judged(OtlpProtocol::Protobuf, 200, pb, garbage),
            delivered(0, None)
        );
    }
    // An empty message: a full success.
    assert_eq!(
        judged(OtlpProtocol::Protobuf, 200, pb, b""),
        delivered(0, None)
    );
    // google.rpc.Status { int32 code = 1; string message = 2; }
    let mut status = vec![0x08, 3, 0x12, 9];
    status.extend(b"bad field");
    match judged(OtlpProtocol::Protobuf, 400, pb, &status) {
        Verdict::Refused { why } => assert!(why.contains("400: bad field"), "{why}"),
        other => panic!("{other:?}"),
    }
    match judged(OtlpProtocol::Protobuf, 400, pb, b"\x12\x50cut") {
        Verdict::Refused { why } => assert_eq!(why, "collector refused them (400)"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        judged(OtlpProtocol::Protobuf, 503, pb, &status),
        Verdict::Retry { .. }
    ));
}
