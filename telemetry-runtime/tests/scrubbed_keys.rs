//! Keys are scrubbed like values, and the secret spellings of command lines and headers are
//! redacted, in what reaches a real collector on 127.0.0.1. Warnings are read from the stderr
//! of a child process (this test binary run again, told what to build by a variable).

mod common;

use std::process::Command;

use serde_json::Value;
use telemetry_runtime::{Client, Env, Exporter, Outcome};
use telemetry_test_collector::Collector;

/// Keys no record may carry, each a valid tag key the scrubber would change.
const UNCLEAN_KEYS: [&str; 4] = [
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-proj-Abc123Def456Ghi789Jkl012",
    "AKIAIOSFODNN7EXAMPLE",
    "alice",
];

/// Set in a child: `tags` or `resource`; the child builds a client and exits.
const CHILD: &str = "SCRUBBED_KEYS_CHILD";

fn env() -> Env {
    let tags: Vec<String> = UNCLEAN_KEYS
        .iter()
        .map(|k| format!("{k}=v"))
        .chain(["team=infra".to_owned()])
        .collect();
    let resource = [
        "team=infra",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789=v",
        "sk-proj-Abc123Def456Ghi789Jkl012=v",
        "AKIAIOSFODNN7EXAMPLE=v",
        "alice%40example.com=v",
        "%2Fhome%2Falice%2Fproject=v",
        "alice=v",
    ]
    .join(",");
    Env::from_pairs([
        ("HOME", "/home/alice"),
        ("USER", "alice"),
        ("TELEMETRY_TAGS", tags.join(",").as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", resource.as_str()),
    ])
}

/// The body of a child process; does nothing in the parent's own test run.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let exporter = if mode == "resource" {
        Exporter::Otlp
    } else {
        Exporter::Cagent
    };
    let _client = Client::builder()
        .app(common::APP, common::VERSION)
        .endpoint("http://127.0.0.1:9/unused")
        .exporter(exporter)
        .env(env())
        .build();
}

/// The stderr of a child that built a client in `mode`.
fn child_stderr(mode: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, mode)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tag_keys_the_scrubber_would_change_never_leave_and_warn_once() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = common::builder(&collector.url(), dir.path())
        .env(env())
        .build();
    assert_eq!(
        client.tags(),
        [("team".to_owned(), "infra".to_owned())],
        "only the clean key is kept"
    );
    client.track_command("run", Vec::<String>::new());
    let records = collector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["properties"]["team"], "infra");
    let body = String::from_utf8_lossy(&collector.requests()[0].body).into_owned();
    for key in UNCLEAN_KEYS {
        assert!(!body.contains(key), "{key} left in {body}");
    }
    let stderr = child_stderr("tags");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("TELEMETRY_TAGS"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("dropped 4 tag(s)"), "{stderr}");
    for key in UNCLEAN_KEYS {
        assert!(!stderr.contains(key), "the warning names no key: {stderr}");
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES` are the operator's own values (issue 21): the usage stream
/// never reads them (no key of theirs leaves in it, no warning about them), and the operator's
/// own stream sends them as given.
#[test]
fn resource_attributes_never_reach_the_usage_stream_and_go_as_given_to_the_operators() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = common::builder(&collector.url(), dir.path())
        .exporter(Exporter::Otlp)
        .otlp_protocol(telemetry_runtime::OtlpProtocol::Json)
        .env(env())
        .build();
    client.track_command("run", Vec::<String>::new());
    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let attrs = body["resourceLogs"][0]["resource"]["attributes"]
        .as_array()
        .unwrap();
    let keys: Vec<&str> = attrs.iter().map(|a| a["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 6, "the application's resource alone: {keys:?}");
    assert!(!keys.contains(&"team"), "{keys:?}");
    let text = String::from_utf8_lossy(&requests[0].body).into_owned();
    for needle in UNCLEAN_KEYS
        .iter()
        .chain(&["alice@example.com", "/home/alice"])
    {
        assert!(!text.contains(needle), "{needle} left in {text}");
    }
    let stderr = child_stderr("resource");
    assert!(!stderr.contains("OTEL_RESOURCE_ATTRIBUTES"), "{stderr}");

    // The operator's own stream: its own values, as given.
    let otel = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let base = otel.base_url();
    let pairs = [
        ("TELEMETRY_OTEL", "1"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
    ];
    let mut env = env();
    for (k, v) in pairs {
        env = env.with(k, v);
    }
    let client = Client::builder()
        .app(common::APP, common::VERSION)
        .config_dir(dir.path())
        .env(env)
        .build();
    client.track_command("run", Vec::<String>::new());
    client.flush();
    let body: Value = serde_json::from_slice(&otel.requests()[0].body).unwrap();
    let keys: Vec<String> = body["resourceLogs"][0]["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap().to_owned())
        .collect();
    for key in ["team", "alice@example.com", "/home/alice/project"] {
        assert!(keys.iter().any(|k| k == key), "{key}: {keys:?}");
    }
}

/// Command lines and headers with a secret in a spelling of its own, as one string (an error
/// text, a tool name) and as a list of arguments.
const SPELLINGS: [&str; 9] = [
    "Cookie: session=hunter2",
    "Set-Cookie: sid=hunter2; Path=/; HttpOnly",
    "curl -u admin:hunter2 https://example.test/",
    "curl --user admin:hunter2 https://example.test/",
    "mysql -uroot -phunter2",
    "sshpass -p hunter2 ssh host",
    "secret_key_base: hunter2",
    "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=hunter2",
    "login --password hunter2",
];

/// Near misses: every one of them reaches the collector unchanged.
const NEAR_MISSES: [&str; 5] = [
    "cookie jar",
    "user guide",
    "mysql -u root",
    "curl --user-agent curl",
    "mkdir -p build",
];

#[test]
fn new_secret_spellings_never_leave_and_near_misses_stay() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let client = common::builder(&collector.url(), dir.path())
        .send_budget(std::time::Duration::from_secs(60))
        .build();
    for text in SPELLINGS {
        client.record_tool_call(text, None, None, Default::default(), Outcome::failure(text));
        client.track_command("run", text.split(' '));
    }
    let bodies: Vec<String> = collector
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies.len(), 2 * SPELLINGS.len());
    for body in &bodies {
        assert!(!body.contains("hunter2"), "leaked: {body}");
    }
    for text in NEAR_MISSES {
        client.record_tool_call(text, None, None, Default::default(), Outcome::Success);
        client.track_command("run", text.split(' '));
    }
    let records = collector.records();
    let near = &records[2 * SPELLINGS.len()..];
    for (pair, text) in near.chunks(2).zip(NEAR_MISSES) {
        assert_eq!(pair[0]["properties"]["tool_name"], text);
        let args: Vec<&str> = pair[1]["properties"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args.join(" "), text);
    }
}
