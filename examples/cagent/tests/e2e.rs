//! End-to-end tests: the built `cagent` binary against a real HTTP collector on 127.0.0.1.
//!
//! Every child process gets a clean environment (no CI variable, `DO_NOT_TRACK` or
//! `TELEMETRY_*` from the machine running the tests: only `PATH`), its own temporary config dir,
//! and the first-run notice hidden unless a test is about the notice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use telemetry_test_collector::Collector;

const SECRET_CONTENT: &str = "TOP-SECRET-FILE-CONTENT";

struct Sandbox {
    /// Working directory of the child: holds `present.txt`.
    work: tempfile::TempDir,
    /// Holds the child's `--config-dir`, kept apart from the working directory.
    _config_root: tempfile::TempDir,
    /// The child's `--config-dir` (not created in advance).
    config: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(
            work.path().join("present.txt"),
            format!("{SECRET_CONTENT}\n"),
        )
        .unwrap();
        let config_root = tempfile::tempdir().unwrap();
        let config = config_root.path().join("cagent");
        Self {
            work,
            _config_root: config_root,
            config,
        }
    }

    /// A `cagent` command with a clean environment, run in the sandbox.
    fn cagent(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cagent"));
        // Nothing of the machine's environment (CI variables of any vendor, DO_NOT_TRACK,
        // TELEMETRY_*, proxies) reaches the child but what a process needs to start.
        cmd.env_clear();
        for key in ["PATH", "SYSTEMROOT"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("CAGENT_HIDE_TELEMETRY_BANNER", "1")
            .current_dir(self.work.path())
            .stdin(Stdio::null())
            .arg("--config-dir")
            .arg(&self.config);
        cmd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

fn agent(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("agents")
        .join(name)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("cagent starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn props(r: &Value) -> &Value {
    &r["properties"]
}

fn kind(r: &Value) -> String {
    format!(
        "{}:{}",
        r["event"].as_str().unwrap_or("?"),
        props(r)["action"].as_str().unwrap_or("?")
    )
}

/// The JSON objects printed on stderr in debug mode (pretty-printed, one after another,
/// possibly between plain diagnostic lines).
fn json_blocks(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{\n") {
        let mut stream = serde_json::Deserializer::from_str(&rest[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                out.push(v);
                rest = &rest[start + stream.byte_offset()..];
            }
            _ => rest = &rest[start + 2..],
        }
    }
    out
}

/// The prompt of the main scenario: one successful and one failing tool call, one text turn.
const PROMPT: &str = "read present.txt\nread missing.txt\nthanks";

#[test]
fn run_records_a_session_whose_aggregates_add_up() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .arg("run")
        .arg(agent("filesystem.yaml"))
        .args(["--prompt", PROMPT]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let answer = stdout(&out);
    assert!(answer.contains(SECRET_CONTENT), "{answer}");
    assert!(
        answer.contains("I could not read `missing.txt`: not found."),
        "{answer}"
    );
    assert!(answer.contains("You said: thanks"), "{answer}");

    let records = collector.records();
    let kinds: Vec<String> = records.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "session:start",
            "tool:call",
            "token:usage",
            "tool:call",
            "token:usage",
            "token:usage",
            "session:end",
            "command:run"
        ],
        "{records:#?}"
    );

    // One session id and one agent name across the session, tool and token records.
    let start = props(&records[0]);
    let session_id = start["session_id"].as_str().unwrap();
    assert_eq!(session_id.len(), 36, "{session_id}");
    for r in &records[..7] {
        assert_eq!(props(r)["session_id"], session_id, "{r:#}");
        assert_eq!(props(r)["agent_name"], "root", "{r:#}");
    }
    // Every record: same source, version and anonymous id (the one persisted in the config dir).
    let uuid = std::fs::read_to_string(sb.config.join("user-uuid")).unwrap();
    for r in &records {
        assert_eq!(r["source"], "cagent");
        assert_eq!(props(r)["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(props(r)["user_uuid"], uuid.trim());
    }

    let tools: Vec<&Value> = records.iter().filter(|r| r["event"] == "tool").collect();
    assert_eq!(props(tools[0])["tool_name"], "read_file");
    assert_eq!(props(tools[0])["is_success"], true);
    assert_eq!(props(tools[1])["tool_name"], "read_file");
    assert_eq!(props(tools[1])["is_success"], false);
    assert_eq!(props(tools[1])["error"], "not found");

    let tokens: Vec<&Value> = records.iter().filter(|r| r["event"] == "token").collect();
    let sum = |key: &str| -> u64 { tokens.iter().map(|r| props(r)[key].as_u64().unwrap()).sum() };
    let cost: f64 = tokens
        .iter()
        .map(|r| props(r)["cost"].as_f64().unwrap())
        .sum();
    for t in &tokens {
        let p = props(t);
        assert_eq!(p["model_name"], "scripted/small");
        assert_eq!(
            p["total_tokens"].as_u64().unwrap(),
            p["input_tokens"].as_u64().unwrap() + p["output_tokens"].as_u64().unwrap()
        );
    }
    // The text turn: output "You said: thanks" is 16 characters, 4 tokens.
    assert_eq!(props(tokens[2])["output_tokens"], 4);

    let end = props(&records[6]);
    assert_eq!(end["tool_calls"], 2);
    assert_eq!(end["error_count"], 1);
    assert_eq!(end["is_success"], false);
    assert_eq!(end["error"], serde_json::json!(["not found"]));
    assert_eq!(end["input_tokens"], sum("input_tokens"));
    assert_eq!(end["output_tokens"], sum("output_tokens"));
    assert_eq!(end["total_tokens"], sum("total_tokens"));
    assert!(cost > 0.0);
    assert!(
        (end["cost"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{end:#}"
    );

    let command = props(&records[7]);
    assert_eq!(command["is_success"], true);
    assert!(command.get("args").is_none());

    // Neither the prompt nor the file contents left the machine.
    for req in collector.requests() {
        let body = String::from_utf8_lossy(&req.body);
        assert!(!body.contains(SECRET_CONTENT), "{body}");
        assert!(!body.contains("missing.txt"), "{body}");
        assert!(!body.contains("thanks"), "{body}");
    }
}

#[test]
fn telemetry_enabled_false_sends_nothing() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .env("TELEMETRY_ENABLED", "false")
        .arg("run")
        .arg(agent("filesystem.yaml"))
        .args(["--prompt", PROMPT]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains(SECRET_CONTENT));
    assert_eq!(collector.requests().len(), 0);
    assert!(!sb.config.join("user-uuid").exists());
}

#[test]
fn do_not_track_and_ci_send_nothing() {
    let collector = Collector::start();
    for (key, value) in [
        ("DO_NOT_TRACK", "1"),
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("JENKINS_URL", "http://jenkins.invalid/"),
    ] {
        let sb = Sandbox::new();
        let out = run(sb
            .cagent()
            .env("TELEMETRY_ENDPOINT", collector.url())
            .env(key, value)
            .arg("exec")
            .arg(agent("filesystem.yaml"))
            .args(["--prompt", "list ."]));
        assert!(out.status.success(), "{key}: {}", stderr(&out));
        assert!(stdout(&out).contains("present.txt"));
    }
    assert_eq!(collector.requests().len(), 0);
}

#[test]
fn no_endpoint_sends_nothing_anywhere() {
    // Without TELEMETRY_ENDPOINT there is no default destination: the run works and builds
    // no records (no anonymous id is even created).
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .arg("run")
        .arg(agent("filesystem.yaml"))
        .args(["--prompt", "list ."]));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("present.txt"));
    assert!(!sb.config.join("user-uuid").exists());
}

#[test]
fn debug_prints_records_on_stderr_and_sends_nothing() {
    let collector = Collector::start();
    for flag in ["--debug", "-d"] {
        let sb = Sandbox::new();
        let out = run(sb
            .cagent()
            .env("TELEMETRY_ENDPOINT", collector.url())
            .arg(flag)
            .arg("run")
            .arg(agent("filesystem.yaml"))
            .args(["--prompt", PROMPT]));
        assert!(out.status.success(), "stderr: {}", stderr(&out));
        // stdout holds the answer only.
        let answer = stdout(&out);
        assert!(answer.contains(SECRET_CONTENT));
        assert!(!answer.contains("\"event\""), "{answer}");
        let printed = json_blocks(&stderr(&out));
        let kinds: Vec<String> = printed.iter().map(kind).collect();
        assert_eq!(
            kinds,
            [
                "session:start",
                "tool:call",
                "token:usage",
                "tool:call",
                "token:usage",
                "token:usage",
                "session:end",
                "command:run"
            ],
            "{}",
            stderr(&out)
        );
        assert_eq!(props(&printed[6])["tool_calls"], 2);
        // Debug mode creates no anonymous id: the records show a marked stand-in.
        assert!(!sb.config.join("user-uuid").exists());
        assert_eq!(
            props(&printed[0])["user_uuid"],
            "00000000-0000-4000-8000-000000000000"
        );
    }
    assert_eq!(collector.requests().len(), 0);
}

#[test]
fn telemetry_disable_persists_and_enable_restores() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let telemetry = |action: &str| {
        run(sb
            .cagent()
            .env("TELEMETRY_ENDPOINT", collector.url())
            .args(["telemetry", action]))
    };
    let run_once = || {
        run(sb
            .cagent()
            .env("TELEMETRY_ENDPOINT", collector.url())
            .arg("run")
            .arg(agent("basic.yaml"))
            .args(["--prompt", "hello"]))
    };

    let out = telemetry("disable");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(sb.config.join("telemetry-consent"))
            .unwrap()
            .trim(),
        "disabled"
    );
    // Disabling is not itself reported, and a later run sends nothing.
    let out = run_once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "You said: hello\n");
    assert_eq!(collector.requests().len(), 0);

    let out = telemetry("status");
    let status = stdout(&out);
    assert!(out.status.success());
    assert!(status.contains("disabled"), "{status}");
    assert!(status.contains("persisted choice"), "{status}");
    assert!(
        status.contains(&sb.config.display().to_string()),
        "{status}"
    );
    assert_eq!(collector.requests().len(), 0);

    // The environment still wins over the persisted choice.
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .env("TELEMETRY_ENABLED", "true")
        .args(["telemetry", "status"]));
    assert!(stdout(&out).contains("enabled"), "{}", stdout(&out));
    let before = collector.requests().len();
    assert_eq!(before, 1, "the status command itself is recorded");

    let out = telemetry("enable");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(sb.config.join("telemetry-consent"))
            .unwrap()
            .trim(),
        "enabled"
    );
    let out = run_once();
    assert!(out.status.success());
    let records: Vec<String> = collector.records()[before..].iter().map(kind).collect();
    assert_eq!(
        records,
        ["session:start", "token:usage", "session:end", "command:run"]
    );
}

#[test]
fn telemetry_status_and_reset_id() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .args(["telemetry", "status"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = stdout(&out);
    assert!(status.contains("enabled"), "{status}");
    assert!(status.contains("default"), "{status}");
    assert!(status.contains(&collector.url()), "{status}");
    assert!(
        status.contains(&sb.config.display().to_string()),
        "{status}"
    );
    assert!(status.contains("none yet"), "{status}");
    // The status command was recorded: now there is an id, and status shows it.
    let records = collector.records();
    assert_eq!(records.len(), 1);
    assert_eq!(props(&records[0])["action"], "telemetry");
    assert_eq!(props(&records[0])["args"], serde_json::json!(["status"]));
    let first_id = std::fs::read_to_string(sb.config.join("user-uuid")).unwrap();
    let first_id = first_id.trim();
    let out = run(sb.cagent().args(["telemetry", "status"]));
    assert!(stdout(&out).contains(first_id), "{}", stdout(&out));

    // reset-id replaces the id; the reset command itself carries only the new one.
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .args(["telemetry", "reset-id"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let new_id = std::fs::read_to_string(sb.config.join("user-uuid")).unwrap();
    assert_ne!(new_id.trim(), first_id);
    assert!(stdout(&out).contains(new_id.trim()), "{}", stdout(&out));
    let records = collector.records();
    assert_eq!(records.len(), 2);
    assert_eq!(props(&records[1])["args"], serde_json::json!(["reset-id"]));
    assert_eq!(props(&records[1])["user_uuid"], new_id.trim());

    // With telemetry off, reset-id deletes the id and makes none.
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENABLED", "false")
        .args(["telemetry", "reset-id"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sb.config.join("user-uuid").exists());
    assert_eq!(collector.requests().len(), 2);
}

#[test]
fn first_run_notice_holds_records_until_the_next_run() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let run_once = |hide: bool| {
        let mut cmd = sb.cagent();
        if !hide {
            cmd.env_remove("CAGENT_HIDE_TELEMETRY_BANNER");
        }
        run(cmd
            .env("TELEMETRY_ENDPOINT", collector.url())
            .arg("run")
            .arg(agent("basic.yaml"))
            .args(["--prompt", "hello"]))
    };
    let out = run_once(false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "You said: hello\n");
    let notice = stderr(&out);
    assert!(notice.contains("cagent telemetry disable"), "{notice}");
    assert!(notice.contains("TELEMETRY_ENABLED=false"), "{notice}");
    assert!(notice.contains("CAGENT_HIDE_TELEMETRY_BANNER"), "{notice}");
    assert_eq!(
        collector.requests().len(),
        0,
        "nothing leaves during the first run"
    );

    // The next run shows no notice and sends both runs' records.
    let out = run_once(false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let kinds: Vec<String> = collector.records().iter().map(kind).collect();
    let one_run = ["session:start", "token:usage", "session:end", "command:run"];
    assert_eq!(kinds, [one_run, one_run].concat());
}

#[test]
fn first_run_notice_then_disable_deletes_the_held_records() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let mut cmd = sb.cagent();
    cmd.env_remove("CAGENT_HIDE_TELEMETRY_BANNER");
    let out = run(cmd
        .env("TELEMETRY_ENDPOINT", collector.url())
        .arg("run")
        .arg(agent("basic.yaml"))
        .args(["--prompt", "hello"]));
    assert!(stderr(&out).contains("telemetry disable"));
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .args(["telemetry", "disable"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .env("TELEMETRY_ENABLED", "true")
        .arg("run")
        .arg(agent("basic.yaml"))
        .args(["--prompt", "hello"]));
    assert!(out.status.success());
    // Only the last run's records: the held ones were deleted unsent.
    let kinds: Vec<String> = collector.records().iter().map(kind).collect();
    assert_eq!(
        kinds,
        ["session:start", "token:usage", "session:end", "command:run"]
    );
}

#[test]
fn bad_agent_files_exit_1_with_one_clear_line() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let write = |name: &str, text: &str| {
        let p = sb.path(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (
            write("broken.yaml", "agents:\n  root: [unclosed\n"),
            "broken.yaml:2:",
            "not a valid agent file",
        ),
        (
            write(
                "shell.yaml",
                "agents:\n  root:\n    model: scripted/echo\n    toolsets:\n      - type: shell\n",
            ),
            "shell.yaml:5:",
            "unknown toolset type `shell`",
        ),
        (
            write("nomodel.yaml", "agents:\n  root:\n    instruction: hi\n"),
            "nomodel.yaml:3:",
            "missing field `model`",
        ),
        (write("empty.yaml", ""), "empty.yaml: ", "the file is empty"),
        (sb.path("absent.yaml"), "absent.yaml: ", "no such file"),
    ];
    for (file, location, message) in &cases {
        let out = run(sb
            .cagent()
            .env("TELEMETRY_ENDPOINT", collector.url())
            .arg("run")
            .arg(file)
            .args(["--prompt", "list ."]));
        assert_eq!(out.status.code(), Some(1), "{}", file.display());
        assert_eq!(stdout(&out), "");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("cagent: "), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains(location), "{err}");
        assert!(err.contains(message), "{err}");
    }
    // Each failure is a failed command record, without a session, and without the path.
    let records = collector.records();
    assert_eq!(records.len(), cases.len());
    for r in &records {
        assert_eq!(kind(r), "command:run");
        assert_eq!(props(r)["is_success"], false);
        let error = props(r)["error"].as_str().unwrap();
        assert!(error.starts_with("agent file"), "{error}");
        assert!(!error.contains(".yaml"), "{error}");
    }
}

#[test]
fn exec_reads_the_prompt_from_stdin() {
    let sb = Sandbox::new();
    let mut child = sb
        .cagent()
        .arg("exec")
        .arg(agent("filesystem.yaml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"list .\nread present.txt\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("present.txt\n{SECRET_CONTENT}\n"));

    // An empty prompt is an error, not an empty session.
    let out = run(sb.cagent().arg("run").arg(agent("basic.yaml")));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the prompt is empty"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn multi_agent_team_uses_each_agents_model() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .arg("run")
        .arg(agent("multi.yaml"))
        .args(["--prompt", "ask librarian read present.txt\nask writer hi"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("librarian: {SECRET_CONTENT}\nwriter: You said: hi\n")
    );
    let records = collector.records();
    let tools: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["event"] == "tool")
        .map(|r| {
            (
                props(r)["tool_name"].as_str().unwrap().to_owned(),
                props(r)["agent_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        tools,
        [
            ("read_file".to_owned(), "librarian".to_owned()),
            ("transfer_task".to_owned(), "root".to_owned()),
            ("transfer_task".to_owned(), "root".to_owned()),
        ]
    );
    let models: Vec<&str> = records
        .iter()
        .filter(|r| r["event"] == "token")
        .map(|r| props(r)["model_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        [
            "scripted/small",
            "scripted/large",
            "scripted/echo",
            "scripted/large"
        ]
    );
    let end = records.iter().find(|r| kind(r) == "session:end").unwrap();
    assert_eq!(props(end)["tool_calls"], 3);
    assert_eq!(props(end)["error_count"], 0);
}

#[test]
fn version_prints_the_version() {
    let sb = Sandbox::new();
    let out = run(sb.cagent().arg("version"));
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("cagent {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[cfg(unix)]
#[test]
fn non_unicode_do_not_track_sends_nothing() {
    use std::os::unix::ffi::OsStrExt;
    let collector = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", collector.url())
        .env("DO_NOT_TRACK", std::ffi::OsStr::from_bytes(b"\xff"))
        .arg("version"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(collector.connections(), 0);
    assert!(!sb.config.join("user-uuid").exists());
}

#[test]
fn cagent_prefixed_variables_come_first_and_unprefixed_still_work() {
    let plain = Collector::start();
    let prefixed = Collector::start();
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", plain.url())
        .env("TELEMETRY_API_KEY", "plain-key")
        .env("CAGENT_TELEMETRY_ENDPOINT", prefixed.url())
        .env("CAGENT_TELEMETRY_API_KEY", "cagent-key")
        .arg("version"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(plain.connections(), 0);
    let requests = prefixed.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-api-key"), Some("cagent-key"));

    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", plain.url())
        .arg("version"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(plain.requests().len(), 1);

    // CAGENT_TELEMETRY_ENABLED=false beats TELEMETRY_ENABLED=true.
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENDPOINT", plain.url())
        .env("TELEMETRY_ENABLED", "true")
        .env("CAGENT_TELEMETRY_ENABLED", "false")
        .args(["telemetry", "status"]));
    assert!(
        stdout(&out).contains("CAGENT_TELEMETRY_ENABLED"),
        "{}",
        stdout(&out)
    );
    assert_eq!(plain.requests().len(), 1);
}

#[test]
fn telemetry_without_an_action_shows_the_status_without_credentials() {
    let sb = Sandbox::new();
    let out = run(sb
        .cagent()
        .env("TELEMETRY_ENABLED", "false")
        .env(
            "CAGENT_TELEMETRY_ENDPOINT",
            "http://user:hunter2@collector.invalid/v1/records?key=topsecret",
        )
        .arg("telemetry"));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = stdout(&out);
    assert!(
        status.contains("Telemetry:") && status.contains("disabled"),
        "{status}"
    );
    assert!(status.contains("TELEMETRY_ENABLED"), "{status}");
    assert!(
        status.contains("http://***@collector.invalid/v1/records?***"),
        "{status}"
    );
    assert!(status.contains("CAGENT_TELEMETRY_ENDPOINT"), "{status}");
    assert!(
        !status.contains("hunter2") && !status.contains("topsecret"),
        "{status}"
    );
}

#[test]
fn docker_agent_hide_banner_variable_hides_the_notice() {
    let collector = Collector::start();
    let sb = Sandbox::new();
    let mut cmd = sb.cagent();
    cmd.env_remove("CAGENT_HIDE_TELEMETRY_BANNER");
    let out = run(cmd
        .env("DOCKER_AGENT_HIDE_TELEMETRY_BANNER", "1")
        .env("TELEMETRY_ENDPOINT", collector.url())
        .arg("version"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no notice");
    assert!(!sb.config.join("telemetry-notice-shown").exists());
    // Not held back for a notice: the record left at once.
    assert_eq!(collector.requests().len(), 1);
}
