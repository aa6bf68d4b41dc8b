//! Keys and headers go only where they belong, and an endpoint that cannot be used says so
//! (issue 18, items 6 to 9), against real collectors on 127.0.0.1. Warnings go to stderr, so
//! the tests that count them run a child process: this test binary started again, told what
//! to do by an environment variable.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{APP, VERSION};
use telemetry_runtime::{Client, ClientBuilder, Env, Exporter};
use telemetry_test_collector::{Collector, Request};

/// Set in a child: tab-separated `NAME=value` pairs of its environment snapshot.
const CHILD: &str = "ENDPOINTS_AND_KEYS_CHILD";

fn client(pairs: &[(&str, &str)], dir: &Path) -> ClientBuilder {
    Client::builder()
        .app(APP, VERSION)
        .config_dir(dir)
        .send_budget(Duration::ZERO)
        .env(Env::from_pairs(pairs.iter().copied()))
}

/// One record, flushed; the requests `collector` received.
fn one_record(c: &Client, collector: &Collector) -> Vec<Request> {
    c.track_command("run", ["x"]);
    c.flush();
    collector.requests()
}

/// The user's credentials for their own OpenTelemetry backend.
const USER_HEADERS: (&str, &str) = (
    "OTEL_EXPORTER_OTLP_HEADERS",
    "x-vendor-key=user-secret,authorization=Bearer%20user-token",
);

fn assert_no_user_headers(req: &Request, label: &str) {
    assert_eq!(req.header("authorization"), None, "{label}");
    assert_eq!(req.header("x-vendor-key"), None, "{label}");
}

/// Issue 18, item 6, and issue 21: `OTEL_EXPORTER_OTLP_HEADERS` go only to the operator's
/// OpenTelemetry stream (its `OTEL_*` endpoints), never to the application's endpoint nor
/// `TELEMETRY_ENDPOINT`, whatever the usage stream's format; the application's key never goes
/// to the operator's stream.
#[test]
fn otel_headers_go_only_to_the_operators_stream() {
    // The application's endpoint and key in code, the OTLP format, the stream B off.
    let app = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&[USER_HEADERS], dir.path())
        .endpoint(app.url())
        .api_key("app-key")
        .exporter(Exporter::Otlp)
        .build();
    let reqs = one_record(&c, &app);
    assert_eq!(reqs.len(), 1);
    assert_no_user_headers(&reqs[0], "endpoint set in code");
    assert_eq!(reqs[0].header("x-api-key"), Some("app-key"));

    // TELEMETRY_ENDPOINT from the environment: not an OTEL endpoint either.
    let env_endpoint = Collector::start();
    let url = env_endpoint.url();
    let dir = tempfile::tempdir().unwrap();
    let c = client(&[USER_HEADERS, ("TELEMETRY_ENDPOINT", &url)], dir.path())
        .exporter(Exporter::Otlp)
        .build();
    let reqs = one_record(&c, &env_endpoint);
    assert_eq!(reqs.len(), 1);
    assert_no_user_headers(&reqs[0], "TELEMETRY_ENDPOINT");

    // Both streams: the user's headers to the OTEL endpoints only, the key to the
    // application's endpoint only.
    let otel = Collector::start();
    let base = otel.base_url();
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        &[
            USER_HEADERS,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("TELEMETRY_OTEL", "1"),
        ],
        dir.path(),
    )
    .endpoint(app.url())
    .api_key("app-key")
    .exporter(Exporter::Otlp)
    .build();
    let reqs = one_record(&c, &otel);
    let mut paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/v1/logs", "/v1/traces"]);
    for req in &reqs {
        assert_eq!(req.header("authorization"), Some("Bearer user-token"));
        assert_eq!(req.header("x-vendor-key"), Some("user-secret"));
        assert_eq!(req.header("x-api-key"), None);
    }
    let app_reqs = app.requests();
    assert_eq!(app_reqs.len(), 2, "the usage stream goes on beside it");
    assert_no_user_headers(&app_reqs[1], "the usage stream, beside the operator's");
    assert_eq!(app_reqs[1].header("x-api-key"), Some("app-key"));
}

/// The `x-api-key` each request of a client built under `CAGENT`'s prefix from `pairs`
/// carried to `collector`.
fn key_sent(pairs: &[(&str, &str)], collector: &Collector) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let before = collector.requests().len();
    let c = client(pairs, dir.path()).env_prefix("CAGENT").build();
    let reqs = one_record(&c, collector);
    assert_eq!(reqs.len(), before + 1, "{pairs:?}");
    reqs[before].header("x-api-key").map(str::to_owned)
}

/// Issue 18, item 7: an endpoint and its key come from the same prefix level. A key set for
/// another tool (`TELEMETRY_API_KEY`) never goes to `CAGENT_TELEMETRY_ENDPOINT`.
#[test]
fn an_endpoint_takes_a_key_only_from_its_own_prefix_level() {
    let collector = Collector::start();
    let url = collector.url();
    let prefixed = ("CAGENT_TELEMETRY_ENDPOINT", url.as_str());
    let plain = ("TELEMETRY_ENDPOINT", url.as_str());
    let other_tools_key = ("TELEMETRY_API_KEY", "other-tool-key");
    let own_key = ("CAGENT_TELEMETRY_API_KEY", "cagent-key");
    assert_eq!(key_sent(&[prefixed, other_tools_key], &collector), None);
    assert_eq!(
        key_sent(&[prefixed, own_key, other_tools_key], &collector).as_deref(),
        Some("cagent-key")
    );
    assert_eq!(
        key_sent(&[plain, other_tools_key], &collector).as_deref(),
        Some("other-tool-key")
    );
    assert_eq!(
        key_sent(&[plain, own_key], &collector),
        None,
        "a prefixed key does not go to an unprefixed endpoint either"
    );
    // The status report agrees.
    let dir = tempfile::tempdir().unwrap();
    let status = client(&[prefixed, other_tools_key], dir.path())
        .env_prefix("CAGENT")
        .build()
        .status();
    assert!(
        status.to_string().contains("API key:        none"),
        "{status}"
    );
}

/// Issue 18, item 8: framing headers from the environment are refused; at most 64 headers of
/// the rest are sent (the operator's stream: the only one that reads them).
#[test]
fn framing_headers_from_the_environment_are_refused() {
    let collector = Collector::start();
    let base = collector.base_url();
    let framing = "Content-Length=0,transfer-encoding=chunked,HOST=evil.example,\
                   Connection=close,Content-Type=text/plain,content-encoding=gzip,x-ok=1";
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        &[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_EXPORTER_OTLP_HEADERS", framing),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ],
        dir.path(),
    )
    .build();
    let reqs = one_record(&c, &collector);
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    let body = req.json();
    assert_eq!(
        body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the whole body arrived: {body}"
    );
    assert_eq!(req.header("x-ok"), Some("1"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("content-encoding"), None);
    assert_eq!(req.header("transfer-encoding"), None);
    assert_eq!(
        req.header("host"),
        Some(collector.addr().to_string().as_str())
    );
    let logs_outbox = dir
        .path()
        .join(telemetry_runtime::files::OTEL_LOGS_OUTBOX_FILE);
    assert!(!logs_outbox.exists(), "delivered");

    let many: Vec<String> = (0..100).map(|i| format!("x-h{i:03}=v")).collect();
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        &[
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_EXPORTER_OTLP_HEADERS", &many.join(",")),
        ],
        dir.path(),
    )
    .build();
    let reqs = one_record(&c, &collector);
    let sent = reqs[1]
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-h"))
        .count();
    assert_eq!(sent, 64);
}

/// The body of a child process; does nothing in the parent's own test run.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let pairs: Vec<(String, String)> = spec
        .split('\t')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let c = Client::builder()
        .app(APP, VERSION)
        .config_dir(dir.path())
        .env(Env::from_pairs(pairs))
        .build();
    c.track_command("run", ["x"]);
    c.flush();
    print!("{}", c.status());
}

/// Runs a child with `pairs` as its environment snapshot; its stdout (the status report)
/// and stderr.
fn child(pairs: &[(&str, &str)]) -> (String, String) {
    let spec: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, spec.join("\t"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 18, item 9: an endpoint that is not an `http(s)://` URL with a host gives one
/// warning naming the variable; nothing is sent or queued, and `status` says why.
#[test]
fn invalid_endpoints_warn_once_and_status_says_why() {
    let collector = Collector::start();
    let port = collector.addr().port();
    let no_scheme = format!("127.0.0.1:{port}/x");
    let ftp = format!("ftp://127.0.0.1:{port}/x");
    let space = format!("http://127.0.0.1:{port}/a b");
    let escape = format!("http://127.0.0.1:{port}/\u{1b}]0;PWNED\u{7}");
    let cases = [
        ("TELEMETRY_ENDPOINT", no_scheme.as_str(), "no scheme"),
        ("TELEMETRY_ENDPOINT", ftp.as_str(), "`ftp`"),
        ("TELEMETRY_ENDPOINT", space.as_str(), "space"),
        ("TELEMETRY_ENDPOINT", escape.as_str(), "control character"),
    ];
    for (var, url, why) in cases {
        let (status, stderr) = child(&[(var, url)]);
        assert!(
            !stderr
                .chars()
                .chain(status.chars())
                .any(|c| c.is_control() && c != '\n'),
            "{url:?}: a control character reached the terminal: {stderr:?} {status:?}"
        );
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains(var)).collect();
        assert_eq!(warnings.len(), 1, "{url:?}: {stderr}");
        assert!(warnings[0].contains(why), "{url:?}: {stderr}");
        assert!(
            status.contains(&format!("Endpoint:       none: {var}=")),
            "{status}"
        );
        assert!(
            status.contains(why) && status.contains("nothing is sent"),
            "{status}"
        );
    }
    // In process: nothing sent, nothing queued, the status says why.
    for (var, url, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        let c = client(&[(var, url)], dir.path()).build();
        c.track_command("run", ["x"]);
        c.flush();
        let problem = c.status().endpoint_problem.unwrap_or_default();
        assert!(problem.contains(var) && problem.contains(why), "{problem}");
        assert!(
            common::outbox_records(dir.path()).is_empty(),
            "{url:?}: queued"
        );
    }
    assert_eq!(collector.connections(), 0);

    // The endpoint set in code, and the OpenTelemetry ones (the operator's stream's, per
    // signal), are named too.
    let dir = tempfile::tempdir().unwrap();
    let status = client(&[], dir.path())
        .endpoint(no_scheme.clone())
        .build()
        .status();
    let problem = status.endpoint_problem.unwrap_or_default();
    assert!(problem.contains("the endpoint set in code"), "{problem}");
    for (var, signals) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", 3),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", 1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let c = client(&[(var, &ftp), ("TELEMETRY_OTEL", "1")], dir.path()).build();
        c.track_command("run", ["x"]);
        c.flush();
        let status = c.status();
        let problems: Vec<&str> = status
            .otel_signals
            .iter()
            .filter_map(|s| s.problem.as_deref())
            .filter(|p| p.contains(var) && p.contains("`ftp`"))
            .collect();
        assert_eq!(problems.len(), signals, "{status}");
        assert!(status.to_string().contains("nothing sent"), "{status}");
        let (_, stderr) = child(&[(var, &ftp), ("TELEMETRY_OTEL", "1")]);
        assert_eq!(
            stderr.lines().filter(|l| l.contains(var)).count(),
            signals,
            "one warning per signal it would have served: {stderr}"
        );
    }
    assert_eq!(collector.connections(), 0);
}
