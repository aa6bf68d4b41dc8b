//! The strict OTLP checker (`scripts/check_otlp.py`) itself: it accepts a body written per
//! OTLP_MAPPING.md and refuses each way of getting OTLP's JSON mapping or the mapping's rules
//! wrong; it checks collector answers (partial success) too.

#[path = "../src/export/otlp_check.rs"]
mod otlp_check;

use otlp_check::check_bodies;

/// A body written by hand per OTLP_MAPPING.md: one resource, one scope, two records.
const GOOD: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"cagent"}},
 {"key":"service.version","value":{"stringValue":"1.2.3"}},
 {"key":"os.type","value":{"stringValue":"linux"}},
 {"key":"telemetry.sdk.name","value":{"stringValue":"cli-telemetry"}},
 {"key":"telemetry.sdk.language","value":{"stringValue":"rust"}},
 {"key":"telemetry.sdk.version","value":{"stringValue":"0.1.0"}}]},
 "scopeLogs":[{"scope":{"name":"cli-telemetry","version":"0.1.0"},"logRecords":[
 {"timeUnixNano":"1700000000123000000","observedTimeUnixNano":"1700000000123000000",
  "severityNumber":17,"severityText":"ERROR","eventName":"cli_telemetry.tool","attributes":[
  {"key":"log.record.uid","value":{"stringValue":"4d3c2b1a-0000-4000-8000-000000000001"}},
  {"key":"gen_ai.tool.name","value":{"stringValue":"shell"}},
  {"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}},
  {"key":"error.message","value":{"stringValue":"panicked"}},
  {"key":"error.type","value":{"stringValue":"panic"}},
  {"key":"cli_telemetry.duration_ms","value":{"intValue":"7"}},
  {"key":"cli_telemetry.cost","value":{"doubleValue":0.0125}},
  {"key":"cli_telemetry.args","value":{"arrayValue":{"values":[{"stringValue":"-v"}]}}},
  {"key":"cli_telemetry.nothing","value":{}}]},
 {"timeUnixNano":"1700000000124000000","observedTimeUnixNano":"1700000000124000000",
  "severityNumber":9,"severityText":"INFO","eventName":"session.start","attributes":[
  {"key":"log.record.uid","value":{"stringValue":"4d3c2b1a-0000-4000-8000-000000000002"}},
  {"key":"cli_telemetry.action","value":{"stringValue":"start"}}]}]}]}]}"#;

fn check(body: &str, args: &[&str]) -> Option<otlp_check::CheckResult> {
    check_bodies(&[body.as_bytes().to_vec()], args)
}

#[test]
fn a_body_written_per_the_mapping_passes() {
    let args = ["--require-event", "session.start", "--min-records", "2"];
    let Some(r) = check(GOOD, &args) else { return };
    assert!(r.passed, "{r:?}");
    assert!(
        r.stdout.contains(r#""cli_telemetry.tool": 1"#),
        "{}",
        r.stdout
    );
}

/// Each mistake: what it is, the body with it, what the checker must say.
#[rustfmt::skip]
fn mistakes() -> Vec<(&'static str, String, &'static str)> {
    let uid = r#"{"key":"log.record.uid","value":{"stringValue":"4d3c2b1a-0000-4000-8000-000000000002"}}"#;
    vec![
        ("unknown field", GOOD.replacen(r#""eventName""#, r#""bogus":1,"eventName""#, 1), "no field named"),
        ("int64 as a number", GOOD.replacen(r#"{"intValue":"7"}"#, r#"{"intValue":7}"#, 1), "intValue"),
        ("enum as a name", GOOD.replacen(r#""severityNumber":9"#, r#""severityNumber":"SEVERITY_NUMBER_INFO""#, 1), "severityNumber"),
        ("snake_case key", GOOD.replacen(r#""severityText":"INFO""#, r#""severity_text":"INFO""#, 1), "severity_text"),
        ("duplicate attribute", GOOD.replacen(uid, &format!("{uid},{uid}"), 1), "duplicate attribute keys"),
        ("duplicate JSON key", GOOD.replacen(r#""severityNumber":9,"#, r#""severityNumber":9,"severityNumber":9,"#, 1), "duplicate JSON object keys"),
        ("severity without its text", GOOD.replacen(r#""severityText":"INFO""#, r#""severityText":"ERROR""#, 1), "severity"),
        ("odd severity", GOOD.replacen(r#""severityNumber":9,"severityText":"INFO""#, r#""severityNumber":13,"severityText":"INFO""#, 1), "severity"),
        ("time not in whole ms", GOOD.replace("1700000000124000000", "1700000000124000001"), "whole ms"),
        ("no log.record.uid", GOOD.replacen(&format!("{uid},"), "", 1), "log.record.uid"),
        ("two values in one AnyValue", GOOD.replacen(r#"{"stringValue":"shell"}"#, r#"{"stringValue":"shell","boolValue":true}"#, 1), "oneof"),
        ("another scope", GOOD.replacen(r#""name":"cli-telemetry""#, r#""name":"other""#, 1), "scope"),
    ]
}

#[test]
fn every_kind_of_mistake_is_refused_with_its_reason() {
    for (what, body, reason) in mistakes() {
        assert_ne!(body, GOOD, "{what}: the fixture must change the body");
        let Some(r) = check(&body, &[]) else { return };
        assert!(!r.passed, "{what}: {r:?}");
        assert!(
            r.stderr.contains(reason),
            "{what}: expected `{reason}` in {}",
            r.stderr
        );
    }
    let Some(r) = check(GOOD, &["--require-event", "session.end"]) else {
        return;
    };
    assert!(!r.passed && r.stderr.contains("session.end"), "{r:?}");
}

#[test]
fn collector_answers_are_checked_as_export_logs_service_responses() {
    let partial = r#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too big"}}"#;
    let Some(r) = check(partial, &["--response"]) else {
        return;
    };
    assert!(r.passed, "{r:?}");
    let numeric = r#"{"partialSuccess":{"rejectedLogRecords":3}}"#;
    let Some(r) = check(numeric, &["--response"]) else {
        return;
    };
    assert!(
        !r.passed,
        "a number is not the JSON mapping of an int64: {r:?}"
    );
}
