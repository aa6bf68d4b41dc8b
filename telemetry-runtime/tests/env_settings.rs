//! Settings from the environment against real collectors on 127.0.0.1: the application's
//! prefix, where API keys may go, CI detection, bytes that are not Unicode, and what the
//! status report shows.

mod common;

use std::ffi::OsString;

use common::{APP, VERSION};
use telemetry_runtime::config::CI_VARIABLES;
use telemetry_runtime::{Client, ConsentSource, Env};
use telemetry_test_collector::Collector;

fn client(env: Env, dir: &std::path::Path) -> telemetry_runtime::ClientBuilder {
    Client::builder().app(APP, VERSION).config_dir(dir).env(env)
}

/// `DO_NOT_TRACK=$'\xff'`: set, so telemetry is off, whatever its bytes.
#[cfg(unix)]
#[test]
fn non_unicode_do_not_track_and_ci_opt_out() {
    use std::os::unix::ffi::OsStringExt;
    for var in ["DO_NOT_TRACK", "CI", "GITHUB_ACTIONS"] {
        let collector = Collector::start();
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("TELEMETRY_ENDPOINT", collector.url())])
            .with_os(var, OsString::from_vec(vec![0xff, b'x']));
        let c = client(env, dir.path()).build();
        assert!(!c.is_enabled(), "{var}: {:?}", c.consent());
        c.track_command("run", ["x"]);
        assert_eq!(collector.connections(), 0, "{var}");
        assert!(common::files_in(dir.path()).is_empty(), "{var}");
    }
    // TELEMETRY_ENABLED with unreadable bytes: one warning, the default stays.
    let env = Env::empty().with_os("TELEMETRY_ENABLED", OsString::from_vec(vec![0xfe]));
    let c = Client::builder().env(env).build();
    assert_eq!(c.consent().source, ConsentSource::Default);
    assert_eq!(c.consent().warnings.len(), 1, "{:?}", c.consent());
}

/// Builds a client under `CAGENT`'s prefix from `env`, with the application's own endpoint
/// and key, sends one record, and returns what each collector received.
fn scoped(env_pairs: &[(&str, &str)], code: &Collector) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs(env_pairs.iter().copied());
    let c = client(env, dir.path())
        .env_prefix("CAGENT")
        .endpoint(code.url())
        .api_key("code-key")
        .build();
    c.track_command("run", ["x"]);
    c
}

#[test]
fn a_key_set_in_code_goes_only_to_the_endpoint_set_in_code() {
    let code = Collector::start();
    let env_collector = Collector::start();
    let url = env_collector.url();
    // Endpoint from the environment, no key there: no key at all.
    scoped(&[("TELEMETRY_ENDPOINT", &url)], &code);
    // Endpoint from the environment, key there: that key.
    scoped(
        &[
            ("TELEMETRY_ENDPOINT", &url),
            ("TELEMETRY_API_KEY", "env-key"),
        ],
        &code,
    );
    // Endpoint in code, key in the environment: the code's key.
    scoped(&[("CAGENT_TELEMETRY_API_KEY", "env-key")], &code);
    let keys: Vec<Option<String>> = env_collector
        .requests()
        .iter()
        .map(|r| r.header("x-api-key").map(str::to_owned))
        .collect();
    assert_eq!(keys, [None, Some("env-key".to_owned())]);
    let code_requests = code.requests();
    assert_eq!(code_requests.len(), 1);
    assert_eq!(code_requests[0].header("x-api-key"), Some("code-key"));
}

#[test]
fn prefixed_variables_take_precedence_over_the_unprefixed_ones() {
    let code = Collector::start();
    let plain = Collector::start();
    let prefixed = Collector::start();
    let (plain_url, prefixed_url) = (plain.url(), prefixed.url());
    let c = scoped(
        &[
            ("TELEMETRY_ENDPOINT", &plain_url),
            ("TELEMETRY_API_KEY", "plain-key"),
            ("CAGENT_TELEMETRY_ENDPOINT", &prefixed_url),
            ("CAGENT_TELEMETRY_API_KEY", "prefixed-key"),
            ("TELEMETRY_TAGS", "team=plain"),
            ("CAGENT_TELEMETRY_TAGS", "team=prefixed"),
        ],
        &code,
    );
    assert!(plain.requests().is_empty() && code.requests().is_empty());
    let got = prefixed.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-api-key"), Some("prefixed-key"));
    assert_eq!(got[0].records()[0]["properties"]["team"], "prefixed");
    let status = c.status().to_string();
    assert!(status.contains("CAGENT_TELEMETRY_ENDPOINT"), "{status}");
    assert!(status.contains("CAGENT_TELEMETRY_API_KEY"), "{status}");
    assert!(!status.contains("prefixed-key"), "{status}");

    // The unprefixed names still work, and the prefixed opt-out beats them.
    scoped(&[("TELEMETRY_ENDPOINT", &plain_url)], &code);
    assert_eq!(plain.requests().len(), 1);
    let off = scoped(
        &[
            ("TELEMETRY_ENDPOINT", &plain_url),
            ("CAGENT_TELEMETRY_ENABLED", "false"),
        ],
        &code,
    );
    assert_eq!(off.consent().decided_by, "CAGENT_TELEMETRY_ENABLED");
    assert_eq!(plain.requests().len(), 1);
    // Another tool's prefix is not read.
    let other = scoped(&[("OTHER_TELEMETRY_ENABLED", "false")], &code);
    assert!(other.is_enabled());
}

#[test]
fn do_not_track_is_never_prefixed() {
    let code = Collector::start();
    let c = scoped(
        &[("DO_NOT_TRACK", "1"), ("CAGENT_TELEMETRY_ENABLED", "true")],
        &code,
    );
    assert_eq!(c.consent().source, ConsentSource::DoNotTrack);
    let c = scoped(&[("CAGENT_DO_NOT_TRACK", "1")], &code);
    assert!(c.is_enabled());
    assert_eq!(code.connections(), 1);
}

#[test]
fn status_and_debug_output_never_show_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([
        (
            "TELEMETRY_ENDPOINT",
            "http://user:s3cret-pass@collector.invalid:9/v1?token=q-secret",
        ),
        ("TELEMETRY_API_KEY", "key-secret"),
        ("TELEMETRY_ENABLED", "false"),
    ]);
    let c = client(env, dir.path()).build();
    let status = c.status();
    let shown = format!("{status}\n{status:?}\n{c:?}");
    for secret in ["user", "s3cret-pass", "q-secret", "key-secret"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    assert!(
        shown.contains("http://***@collector.invalid:9/v1?***"),
        "{shown}"
    );
    assert!(shown.contains("TELEMETRY_ENDPOINT"), "{shown}");
}

/// One test per CI variable: set alone, it turns telemetry off and is named as the reason.
macro_rules! ci_tests {
    ($($test:ident: $var:literal,)*) => {$(
        #[test]
        fn $test() {
            assert!(CI_VARIABLES.iter().any(|(v, _)| *v == $var), "{} is in the table", $var);
            let collector = Collector::start();
            let dir = tempfile::tempdir().unwrap();
            let env = Env::from_pairs([("TELEMETRY_ENDPOINT", collector.url())]);
            let c = client(env.clone().with($var, "1"), dir.path()).build();
            assert_eq!((c.is_enabled(), c.consent().source), (false, ConsentSource::Ci));
            assert_eq!(c.consent().decided_by, $var);
            c.track_command("run", ["x"]);
            assert_eq!(collector.connections(), 0);
            // TELEMETRY_ENABLED=true still turns it on.
            let on = client(env.with($var, "1").with("TELEMETRY_ENABLED", "true"), dir.path());
            assert!(on.build().is_enabled());
        }
    )*};
}

ci_tests! {
    ci_generic: "CI",
    ci_github_actions: "GITHUB_ACTIONS",
    ci_gitlab: "GITLAB_CI",
    ci_azure_pipelines: "TF_BUILD",
    ci_jenkins: "JENKINS_URL",
    ci_buildkite: "BUILDKITE",
    ci_teamcity: "TEAMCITY_VERSION",
    ci_circleci: "CIRCLECI",
    ci_codebuild: "CODEBUILD_BUILD_ID",
    ci_travis: "TRAVIS",
    ci_bitbucket: "BITBUCKET_BUILD_NUMBER",
    ci_drone: "DRONE",
    ci_woodpecker: "WOODPECKER",
    ci_woodpecker_pipeline: "CI_PIPELINE_ID",
    ci_appveyor: "APPVEYOR",
    ci_semaphore: "SEMAPHORE",
    ci_cirrus: "CIRRUS_CI",
    ci_bitrise: "BITRISE_IO",
    ci_buddy: "BUDDY",
    ci_codefresh: "CF_BUILD_ID",
    ci_heroku: "HEROKU_TEST_RUN_ID",
}

#[test]
fn ci_variables_set_to_false_are_not_ci() {
    for (var, _) in CI_VARIABLES {
        let c = Client::builder()
            .env(Env::from_pairs([(*var, "false")]))
            .build();
        assert!(c.is_enabled(), "{var}");
    }
}

#[test]
fn send_budget_and_exporter_come_from_the_environment_with_one_warning_on_garbage() {
    use std::time::Duration;
    use telemetry_runtime::Exporter;
    use telemetry_runtime::config::DEFAULT_SEND_BUDGET;
    let c = Client::builder()
        .env(Env::from_pairs([
            ("TELEMETRY_SEND_BUDGET_MS", "250"),
            ("TELEMETRY_EXPORTER", "otlp"),
        ]))
        .build();
    assert_eq!(
        (c.send_budget(), c.exporter()),
        (Duration::from_millis(250), Exporter::Otlp)
    );
    let c = Client::builder()
        .env(Env::from_pairs([
            ("TELEMETRY_SEND_BUDGET_MS", "soon"),
            ("TELEMETRY_EXPORTER", "zipkin"),
        ]))
        .build();
    assert_eq!(
        (c.send_budget(), c.exporter()),
        (DEFAULT_SEND_BUDGET, Exporter::Cagent)
    );
    assert_eq!(DEFAULT_SEND_BUDGET, Duration::from_millis(100));
    let c = Client::builder()
        .env_prefix("cagent")
        .send_budget(Duration::from_millis(30))
        .exporter(Exporter::Otlp)
        .env(Env::from_pairs([("CAGENT_TELEMETRY_SEND_BUDGET_MS", "40")]))
        .build();
    assert_eq!(
        (c.send_budget(), c.exporter()),
        (Duration::from_millis(40), Exporter::Otlp)
    );
}

/// Issue 18, item 3: no timeout above 60 s, from `OTEL_EXPORTER_OTLP_TIMEOUT` (which used to
/// hang a CLI on a black-holed collector at `18446744073709551615`) or from the builder; the
/// status report shows the timeout in force and what decided it.
#[test]
fn timeouts_are_capped_at_a_minute() {
    use std::time::Duration;
    use telemetry_runtime::Exporter;
    let minute = Duration::from_secs(60);
    /// Variables, the builder's timeout, the timeout expected, and what decided it.
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        Option<Duration>,
        Duration,
        &'a str,
    );
    let cases: [Case<'_>; 6] = [
        (&[], None, Duration::from_millis(1_500), "default"),
        (&[], Some(Duration::from_secs(3_600)), minute, "application"),
        (&[], Some(Duration::MAX), minute, "application"),
        // The OTEL_* timeouts are the operator's stream's (issue 21): the usage stream's
        // timeout, even over OTLP, is the application's or the default.
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "18446744073709551615")],
            None,
            Duration::from_millis(1_500),
            "default",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "10000")],
            Some(Duration::from_secs(3_600)),
            minute,
            "application",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999999")],
            Some(Duration::from_millis(200)),
            Duration::from_millis(200),
            "application",
        ),
    ];
    for (env, timeout, expected, by) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut b = client(Env::from_pairs(env.iter().copied()), dir.path())
            .endpoint("http://127.0.0.1:9/v1/logs")
            .exporter(Exporter::Otlp);
        if let Some(t) = timeout {
            b = b.timeout(t).connect_timeout(t);
        }
        let status = b.build().status();
        assert_eq!(status.timeout, expected, "{env:?} {timeout:?}");
        let decided = status
            .decided_by_setting
            .iter()
            .find(|(k, _)| k == "timeout")
            .map(|(_, v)| v.as_str());
        assert_eq!(decided, Some(by), "{env:?} {timeout:?}");
        let text = status.to_string();
        assert!(
            text.contains(&format!(
                "Timeout:        {} ms ({by})",
                expected.as_millis()
            )),
            "{text}"
        );
    }
}
