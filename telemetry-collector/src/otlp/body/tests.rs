//! The content rules of `/v1/logs`, and gzip within the limit.

use std::io::Write;

use axum::http::{HeaderMap, HeaderValue};
use flate2::write::GzEncoder;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn the_two_types_with_any_parameters_and_gzip_or_identity_are_taken() {
    let ok = [
        (
            "application/x-protobuf",
            None,
            Encoding::Protobuf,
            Compression::Identity,
        ),
        (
            "Application/X-Protobuf; proto=otlp",
            Some("gzip"),
            Encoding::Protobuf,
            Compression::Gzip,
        ),
        (
            "application/json; charset=utf-8",
            Some("identity"),
            Encoding::Json,
            Compression::Identity,
        ),
        (
            "APPLICATION/JSON",
            Some("GZIP"),
            Encoding::Json,
            Compression::Gzip,
        ),
        (
            "application/json",
            Some("x-gzip"),
            Encoding::Json,
            Compression::Gzip,
        ),
    ];
    for (ctype, enc, encoding, compression) in ok {
        let mut pairs = vec![("content-type", ctype)];
        pairs.extend(enc.map(|e| ("content-encoding", e)));
        assert_eq!(
            negotiate(&headers(&pairs)),
            Ok((encoding, compression)),
            "{ctype} {enc:?}"
        );
    }
}

#[test]
fn other_types_and_encodings_are_refused_naming_what_is_supported() {
    for ctype in [
        "text/plain",
        "application/protobuf+x",
        "application/x-www-form-urlencoded",
        "",
    ] {
        let why = negotiate(&headers(&[("content-type", ctype)])).unwrap_err();
        assert!(why.contains(SUPPORTED_TYPES), "{why}");
    }
    let why = negotiate(&HeaderMap::new()).unwrap_err();
    assert!(why.contains("(got none)"), "{why}");
    for enc in ["br", "deflate", "zstd", "gzip, br"] {
        let h = headers(&[
            ("content-type", "application/json"),
            ("content-encoding", enc),
        ]);
        let why = negotiate(&h).unwrap_err();
        assert!(
            why.contains(enc) && why.contains("gzip or identity"),
            "{why}"
        );
    }
}

#[test]
fn gzip_is_inflated_within_the_limit_and_a_bomb_stops_at_it() {
    let body = b"{\"resourceLogs\":[]}".repeat(10);
    let gz = gzip(&body);
    let limit = body.len();
    assert_eq!(
        inflate(&gz, Compression::Gzip, limit).unwrap().as_ref(),
        &body[..]
    );
    assert_eq!(
        inflate(&gz, Compression::Gzip, limit - 1),
        Err(Refusal::TooLarge)
    );
    // Two gzip members are one body.
    let two = [gzip(b"ab"), gzip(b"cd")].concat();
    assert_eq!(
        inflate(&two, Compression::Gzip, 4).unwrap().as_ref(),
        b"abcd"
    );
    // A kilobyte that inflates to a gigabyte: stopped at the limit.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb = member.repeat(1024);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    assert_eq!(
        inflate(&bomb, Compression::Gzip, 1 << 20),
        Err(Refusal::TooLarge)
    );
    for bad in [&b"not gzip"[..], &gz[..gz.len() / 2], b"\x1f\x8b\x08\x00"] {
        assert!(matches!(
            inflate(bad, Compression::Gzip, 1 << 20),
            Err(Refusal::Malformed(_))
        ));
    }
    assert_eq!(
        inflate(b"as is", Compression::Identity, 1)
            .unwrap()
            .as_ref(),
        b"as is"
    );
}

#[test]
fn answers_are_export_logs_service_responses_in_the_request_encoding() {
    let read = |r: Response| {
        let ctype = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let body = futures_body(r);
        (ctype, body)
    };
    let (ctype, body) = read(answer(Encoding::Protobuf, 0, ""));
    assert_eq!((ctype.as_str(), body.len()), ("application/x-protobuf", 0));
    let (ctype, body) = read(answer(Encoding::Protobuf, 2, "why"));
    assert_eq!(ctype, "application/x-protobuf");
    let decoded = ExportLogsServiceResponse::decode(&body[..]).unwrap();
    let partial = decoded.partial_success.unwrap();
    assert_eq!(
        (partial.rejected_log_records, partial.error_message.as_str()),
        (2, "why")
    );
    let (ctype, body) = read(answer(Encoding::Json, 2, "why"));
    assert_eq!(ctype, "application/json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "why"}})
    );
    let (_, body) = read(answer(Encoding::Json, 0, ""));
    assert_eq!(body, b"{}");
}

/// The bytes of an answer's body.
fn futures_body(r: Response) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
        .unwrap()
        .to_vec()
}
