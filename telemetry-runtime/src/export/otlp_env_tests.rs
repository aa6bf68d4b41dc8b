//! Tests of the OTLP exporter's configuration from the environment: the resource, the
//! endpoint, headers (framing headers refused, the rest capped), the timeout and its cap.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{otlp_endpoint, otlp_headers, otlp_resource, otlp_timeout};
use crate::config::Env;
use crate::export::Signal;
use crate::limits::{MAX_TAG_VALUE_CHARS, MAX_TAGS};

#[test]
fn resource_from_the_environment_is_capped_sent_as_given_and_never_overrides() {
    let many: Vec<String> = (0..30).map(|i| format!("k{i}=v{i}")).collect();
    let long = "hello world ".repeat(50);
    let raw = format!(
        "service.name=evil,os.type=plan9,a%3Db=c%2Cd,mail=jane%40example.com,bad,%zz=1,=v,\
         long={long},k0=first,{}",
        many.join(",")
    );
    let env = Env::from_pairs([("OTEL_RESOURCE_ATTRIBUTES", raw.as_str())]);
    let (res, warnings) = otlp_resource(&env, "cagent", "1.2.3");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("3 malformed"), "{warnings:?}");
    let attrs: BTreeMap<_, _> = res.attributes().iter().cloned().collect();
    assert_eq!(attrs["service.name"], "cagent");
    assert_ne!(attrs["os.type"], "plan9");
    assert_eq!(attrs["a=b"], "c,d");
    assert_eq!(
        attrs["mail"], "jane@example.com",
        "the operator's own value, as given"
    );
    assert_eq!(attrs["long"].chars().count(), MAX_TAG_VALUE_CHARS);
    assert_eq!(
        attrs["k0"], "v0",
        "a later duplicate replaces an earlier one"
    );
    assert_eq!(res.attributes().len(), 6 + MAX_TAGS);
    let env = Env::from_pairs([("OTEL_SERVICE_NAME", " my-svc ")]);
    let (res, warnings) = otlp_resource(&env, "cagent", "1.2.3");
    assert!(warnings.is_empty());
    assert_eq!(
        res.attributes()[0],
        ("service.name".into(), "my-svc".into())
    );
}

#[test]
fn endpoint_from_the_environment() {
    assert_eq!(otlp_endpoint(&env(&[]), Signal::Logs), None);
    let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")];
    assert_eq!(
        otlp_endpoint(&env(&base), Signal::Logs),
        Some((
            "http://127.0.0.1:4318/v1/logs".to_owned(),
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned()
        ))
    );
    assert_eq!(
        otlp_endpoint(&env(&base), Signal::Traces),
        Some((
            "http://127.0.0.1:4318/v1/traces".to_owned(),
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned()
        ))
    );
    let both = [
        base[0],
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://127.0.0.1:1/custom",
        ),
    ];
    assert_eq!(
        otlp_endpoint(&env(&both), Signal::Logs),
        Some((
            "http://127.0.0.1:1/custom".to_owned(),
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT".to_owned()
        ))
    );
    assert_eq!(
        otlp_endpoint(&env(&both), Signal::Traces).unwrap().0,
        "http://127.0.0.1:4318/v1/traces",
        "the logs endpoint is the logs signal's alone"
    );
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

#[test]
fn headers_from_the_environment() {
    let h = [
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=a%20b, X-Team = infra ,broken,bad name=1,=x",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-team=logs,nl=a%0Ab"),
    ];
    let (headers, warnings) = otlp_headers(&env(&h), Signal::Logs);
    let expected = [("api-key", "a b"), ("x-team", "logs")];
    assert_eq!(headers, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(warnings.len(), 2, "one per variable: {warnings:?}");
}

/// Issue 18, item 8: framing headers are never taken from the environment (one warning), and
/// at most 64 headers and 8 KiB of them are.
#[test]
fn framing_headers_are_refused_and_the_rest_capped() {
    let h = [
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Content-Length=0,x-a=1,TRANSFER-ENCODING=chunked,host=evil.example,connection=close",
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "content-type=text/plain,Content-Encoding=gzip,x-b=2,content-length=5",
        ),
    ];
    let (headers, warnings) = otlp_headers(&env(&h), Signal::Logs);
    let expected = [("x-a", "1"), ("x-b", "2")];
    assert_eq!(headers, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
    for name in [
        "Content-Length",
        "TRANSFER-ENCODING",
        "host",
        "connection",
        "content-type",
        "Content-Encoding",
    ] {
        assert!(warnings[0].contains(name), "{name}: {warnings:?}");
    }

    let many: Vec<String> = (0..100).map(|i| format!("x-h{i}=v")).collect();
    let (headers, warnings) = otlp_headers(
        &env(&[("OTEL_EXPORTER_OTLP_HEADERS", &many.join(","))]),
        Signal::Logs,
    );
    assert_eq!(headers.len(), 64);
    assert_eq!(headers[63].0, "x-h63", "the first ones, in order");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("36 header(s)"), "{warnings:?}");

    let big = format!("x-big={},x-small=1", "v".repeat(8 * 1024));
    let (headers, warnings) =
        otlp_headers(&env(&[("OTEL_EXPORTER_OTLP_HEADERS", &big)]), Signal::Logs);
    assert_eq!(headers, [("x-small".to_owned(), "1".to_owned())]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let fits = format!("x-big={}", "v".repeat(8 * 1024 - 5));
    let (headers, warnings) =
        otlp_headers(&env(&[("OTEL_EXPORTER_OTLP_HEADERS", &fits)]), Signal::Logs);
    assert_eq!(
        (headers.len(), warnings.len()),
        (1, 0),
        "8 KiB exactly fits"
    );
}

#[test]
fn timeout_and_exporter_from_the_environment() {
    assert_eq!(otlp_timeout(&env(&[]), Signal::Logs), (None, None));
    let t = [("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")];
    let general = "OTEL_EXPORTER_OTLP_TIMEOUT";
    assert_eq!(
        otlp_timeout(&env(&t), Signal::Logs),
        (
            Some((Duration::from_millis(2500), general.to_owned())),
            None
        )
    );
    let t2 = [t[0], ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "700")];
    assert_eq!(
        otlp_timeout(&env(&t2), Signal::Logs),
        (
            Some((
                Duration::from_millis(700),
                "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT".to_owned()
            )),
            None
        )
    );
    for bad in ["0", "000", "-1", "1.5s", "ten"] {
        let (timeout, warning) = otlp_timeout(&env(&[(general, bad)]), Signal::Logs);
        assert_eq!(timeout, None, "{bad}");
        assert!(warning.unwrap().contains(general), "{bad}");
    }
}

/// Issue 18, item 3: a timeout above 60 s is cut to 60 s, with one warning.
#[test]
fn a_timeout_above_the_cap_is_cut_to_it_with_a_warning() {
    let general = "OTEL_EXPORTER_OTLP_TIMEOUT";
    let (ok, none) = otlp_timeout(&env(&[(general, "60000")]), Signal::Logs);
    assert_eq!(
        (ok, none),
        (Some((Duration::from_secs(60), general.to_owned())), None)
    );
    for huge in [
        "60001",
        "10000000",
        "18446744073709551615",
        "99999999999999999999999999",
    ] {
        let (timeout, warning) = otlp_timeout(&env(&[(general, huge)]), Signal::Logs);
        assert_eq!(
            timeout,
            Some((Duration::from_secs(60), general.to_owned())),
            "{huge}"
        );
        let warning = warning.expect("one warning");
        assert!(
            warning.contains(general) && warning.contains("60000"),
            "{warning}"
        );
    }
}
