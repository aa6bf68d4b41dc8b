//! Runtime tests of the tracking macros on sync functions: every function shape the macros
//! must support runs under `cli_telemetry::testing::capture`, and the exact records are asserted.

use std::fmt;
use std::time::Duration;

use cli_telemetry::testing::capture;
use cli_telemetry::{Outcome, TrackOutcome, track_command, track_session, track_tool};
use serde_json::{Value, json};

mod common;
use common::{duration_ms, normalize};

// ---------------------------------------------------------------------------------------------
// Commands: names, args, outcomes.

#[track_command]
fn plain() -> u32 {
    7
}

#[track_command(name = "run", args = ["--fast", "-v"])]
fn renamed() {}

#[track_command(args = args.clone())]
fn with_args(args: Vec<String>) -> usize {
    args.len()
}

#[track_command(args = Vec::<String>::new())]
fn empty_args() {}

#[test]
fn command_records_name_args_and_success() {
    let (v, records) = capture(plain);
    assert_eq!(v, 7);
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties": {"action": "plain", "is_success": true}})]
    );

    let ((), records) = capture(renamed);
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "run", "args": ["--fast", "-v"], "is_success": true}})]
    );

    let (n, records) = capture(|| with_args(vec!["a".into(), "b".into()]));
    assert_eq!(n, 2);
    assert_eq!(records[0]["properties"]["args"], json!(["a", "b"]));

    let ((), records) = capture(empty_args);
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties": {"action": "empty_args", "is_success": true}})]
    );
}

#[test]
fn nothing_is_recorded_or_evaluated_without_a_client() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static EVALUATED: AtomicUsize = AtomicUsize::new(0);
    fn count() -> Vec<String> {
        EVALUATED.fetch_add(1, Ordering::SeqCst);
        vec!["x".into()]
    }
    #[track_command(args = count())]
    fn counted() -> u8 {
        3
    }
    let off = cli_telemetry::Client::disabled();
    assert_eq!(cli_telemetry::with_client(&off, counted), 3);
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 0);
    let (v, records) = capture(counted);
    assert_eq!((v, records.len()), (3, 1));
    assert_eq!(EVALUATED.load(Ordering::SeqCst), 1);
}

// Errors flow through `Display`, through any alias of `Result`.

#[derive(Debug)]
struct MyError(&'static str);
impl fmt::Display for MyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "my error: {}", self.0)
    }
}
impl std::error::Error for MyError {}

type MyResult<T> = Result<T, MyError>;

#[track_command]
fn fails_io() -> std::io::Result<()> {
    Err(std::io::Error::other("disk full"))
}

#[track_command]
fn fails_alias() -> MyResult<u8> {
    Err(MyError("bad input"))
}

#[track_command]
fn fails_boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(MyError("boxed")))
}

#[test]
fn errors_are_recorded_with_their_display_text() {
    for (f, text) in [
        ((|| fails_io().is_ok()) as fn() -> bool, "disk full"),
        (|| fails_alias().is_ok(), "my error: bad input"),
        (|| fails_boxed().is_ok(), "my error: boxed"),
    ] {
        let (ok, records) = capture(f);
        assert!(!ok);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["properties"]["is_success"], false);
        assert_eq!(records[0]["properties"]["error"], text);
    }
}

// A user type classified through `TrackOutcome`; `Option` and other types are successes.

struct ExitCode(i32);
impl TrackOutcome for ExitCode {
    fn track_outcome(&self) -> Outcome {
        if self.0 == 0 {
            Outcome::Success
        } else {
            Outcome::failure(format_args!("exit code {}", self.0))
        }
    }
}

#[track_command]
fn exit_code(code: i32) -> ExitCode {
    ExitCode(code)
}

#[track_command]
fn nothing() -> Option<u8> {
    None
}

#[derive(Debug)]
struct NoDisplay;

#[track_command]
fn fails_without_display() -> Result<(), NoDisplay> {
    Err(NoDisplay)
}

#[test]
fn user_types_classify_themselves() {
    let (_, records) = capture(|| exit_code(3));
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "exit_code", "is_success": false, "error": "exit code 3"}})]
    );
    let (_, records) = capture(|| exit_code(0));
    assert_eq!(records[0]["properties"]["is_success"], true);
    let (_, records) = capture(nothing);
    assert_eq!(records[0]["properties"]["is_success"], true);
    // An `Err` whose error has no `Display` still fails; its type is named instead.
    let (_, records) = capture(fails_without_display);
    assert_eq!(records[0]["properties"]["is_success"], false);
    assert_eq!(records[0]["properties"]["error"], "Err(macros::NoDisplay)");
}

// ---------------------------------------------------------------------------------------------
// Early return and `?`.

#[track_command]
fn early(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    let parsed: i32 = "40"
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    Ok(parsed + n)
}

#[track_command]
fn question_mark(s: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let n: u32 = s.parse()?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(n)
}

#[test]
fn early_return_and_question_mark() {
    let (v, records) = capture(|| early(2));
    assert_eq!(v, Ok(42));
    assert_eq!(records[0]["properties"]["is_success"], true);
    let (v, records) = capture(|| early(-1));
    assert_eq!(v, Err("negative: -1".into()));
    assert_eq!(records[0]["properties"]["error"], "negative: -1");

    let (v, records) = capture(|| question_mark("x").is_err());
    assert!(v);
    assert_eq!(
        records[0]["properties"]["error"],
        "invalid digit found in string"
    );
    let (_, records) = capture(|| question_mark("0"));
    assert_eq!(records[0]["properties"]["error"], "zero");
    let (v, records) = capture(|| question_mark("5").ok());
    assert_eq!(v, Some(5));
    assert_eq!(records[0]["properties"]["is_success"], true);
}

// ---------------------------------------------------------------------------------------------
// Methods: &self, &mut self, self, associated functions using `Self`; trait impl methods.

#[derive(Debug, PartialEq)]
struct Counter {
    n: u32,
    name: String,
}

impl Counter {
    #[track_command]
    fn new(name: &str) -> Self {
        Self {
            n: 0,
            name: name.to_owned(),
        }
    }

    #[track_command]
    fn get(&self) -> u32 {
        self.n
    }

    #[track_command]
    fn bump(&mut self) -> &mut u32 {
        self.n += 1;
        &mut self.n
    }

    #[track_command]
    fn into_name(self) -> String {
        self.name
    }

    #[track_tool(session = self.name.as_str(), agent = format!("agent-{}", self.n))]
    fn tool_using_self(&self, fail: bool) -> Result<u32, MyError> {
        if fail {
            Err(MyError("tool"))
        } else {
            Ok(self.n)
        }
    }
}

trait Greeter {
    fn greet(&self, who: &str) -> String;
    fn fail(&self) -> Result<(), MyError>;
}

impl Greeter for Counter {
    #[track_command]
    fn greet(&self, who: &str) -> String {
        format!("{} greets {who}", self.name)
    }

    #[track_tool(name = "failer")]
    fn fail(&self) -> Result<(), MyError> {
        Err(MyError("trait"))
    }
}

fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let p = &r["properties"];
            p["action"]
                .as_str()
                .filter(|a| *a != "call")
                .or(p["tool_name"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn methods_and_associated_functions() {
    let (name, records) = capture(|| {
        let mut c = Counter::new("c");
        *c.bump() += 10;
        assert_eq!(c.get(), 11);
        assert_eq!(c.greet("you"), "c greets you");
        c.into_name()
    });
    assert_eq!(name, "c");
    assert_eq!(
        actions(&records),
        ["new", "bump", "get", "greet", "into_name"]
    );
    assert!(
        records
            .iter()
            .all(|r| r["properties"]["is_success"] == true)
    );
}

#[test]
fn tool_session_and_agent_from_self_and_trait_impl() {
    let c = Counter {
        n: 4,
        name: "sess-9".into(),
    };
    let (v, records) = capture(|| (c.tool_using_self(false), c.tool_using_self(true), c.fail()));
    assert_eq!(v.0.unwrap(), 4);
    assert_eq!(
        normalize(&records),
        [
            json!({"event": "tool", "properties": {"action": "call", "session_id": "sess-9",
                "agent_name": "agent-4", "tool_name": "tool_using_self", "is_success": true}}),
            json!({"event": "tool", "properties": {"action": "call", "session_id": "sess-9",
                "agent_name": "agent-4", "tool_name": "tool_using_self", "is_success": false,
                "error": "my error: tool"}}),
            json!({"event": "tool", "properties": {"action": "call", "session_id": "",
                "agent_name": "", "tool_name": "failer", "is_success": false,
                "error": "my error: trait"}}),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Generics, impl Trait in both positions, inference from the return type.

#[track_command]
fn generic<T, U: Clone>(items: &[T], extra: U) -> (usize, U)
where
    T: fmt::Debug,
{
    (items.len(), extra.clone())
}

#[track_command]
fn arg_impl_trait(items: impl IntoIterator<Item = u32>, label: &impl fmt::Display) -> String {
    format!("{label}:{}", items.into_iter().sum::<u32>())
}

#[track_command]
fn returns_iter(n: u32) -> impl Iterator<Item = u32> + Clone {
    (0..n).map(|x| x * 2)
}

#[track_command]
fn result_impl_trait(ok: bool) -> Result<impl fmt::Display, MyError> {
    if !ok {
        return Err(MyError("no display"));
    }
    Ok(42)
}

#[track_command]
fn collect_tail(s: &str) -> Vec<char> {
    s.chars().rev().collect()
}

#[track_command]
fn collect_result(items: &[&str]) -> Result<Vec<u8>, std::num::ParseIntError> {
    items.iter().map(|s| s.parse()).collect()
}

#[track_command]
fn into_tail(s: &str) -> Box<str> {
    s.into()
}

#[test]
fn generics_impl_trait_and_inference() {
    let (v, records) = capture(|| {
        (
            generic(&[1, 2, 3], "x"),
            arg_impl_trait(vec![1, 2], &"sum"),
            returns_iter(3).collect::<Vec<_>>(),
            result_impl_trait(true).map(|d| d.to_string()),
            result_impl_trait(false).is_err(),
            collect_tail("abc"),
            collect_result(&["1", "2"]),
            collect_result(&["1", "x"]).is_err(),
            into_tail("boxed"),
        )
    });
    assert_eq!(v.0, (3, "x"));
    assert_eq!(v.1, "sum:3");
    assert_eq!(v.2, [0, 2, 4]);
    assert_eq!(v.3.unwrap(), "42");
    assert!(v.4);
    assert_eq!(v.5, ['c', 'b', 'a']);
    assert_eq!(v.6, Ok(vec![1, 2]));
    assert!(v.7);
    assert_eq!(&*v.8, "boxed");
    let outcomes: Vec<(String, bool)> = records
        .iter()
        .map(|r| {
            let p = &r["properties"];
            (
                p["action"].as_str().unwrap().to_owned(),
                p["is_success"] == true,
            )
        })
        .collect();
    let expected = [
        ("generic", true),
        ("arg_impl_trait", true),
        ("returns_iter", true),
        ("result_impl_trait", true),
        ("result_impl_trait", false),
        ("collect_tail", true),
        ("collect_result", true),
        ("collect_result", false),
        ("into_tail", true),
    ];
    assert_eq!(outcomes, expected.map(|(a, s)| (a.to_owned(), s)),);
    assert_eq!(
        records[7]["properties"]["error"],
        "invalid digit found in string"
    );
}

// ---------------------------------------------------------------------------------------------
// Borrowing and patterns: a `&mut` parameter with a returned reference, `mut` and
// destructured parameters.

#[track_command]
fn first_mut(v: &mut Vec<u8>) -> &mut u8 {
    if v.is_empty() {
        v.push(0);
    }
    &mut v[0]
}

#[track_command]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[track_command]
fn mut_param(mut n: u32, (a, b): (u32, u32), Counter { n: c, .. }: Counter) -> u32 {
    n += a + b + c;
    n
}

#[test]
fn borrows_and_patterns() {
    let (v, records) = capture(|| {
        let mut v = Vec::new();
        *first_mut(&mut v) += 5;
        *first_mut(&mut v) += 1;
        let l = longest("ab", "abc").to_owned();
        let m = mut_param(
            1,
            (2, 3),
            Counter {
                n: 4,
                name: String::new(),
            },
        );
        (v, l, m)
    });
    assert_eq!(v, (vec![6], "abc".to_owned(), 10));
    assert_eq!(
        actions(&records),
        ["first_mut", "first_mut", "longest", "mut_param"]
    );
}

// ---------------------------------------------------------------------------------------------
// Attributes kept: doc comments, #[inline], #[must_use], visibility, inner attributes.

mod inner {
    use cli_telemetry::track_command;

    /// Doubles.
    #[inline]
    #[must_use]
    #[track_command]
    pub fn double(x: u32) -> u32 {
        #![allow(clippy::let_and_return)]
        let y = x * 2;
        y
    }

    #[track_command]
    pub(crate) fn crate_visible() -> &'static str {
        "crate"
    }
}

#[test]
fn attributes_and_visibility_are_kept() {
    let (v, records) = capture(|| (inner::double(4), inner::crate_visible()));
    assert_eq!(v, (8, "crate"));
    assert_eq!(actions(&records), ["double", "crate_visible"]);
}

// ---------------------------------------------------------------------------------------------
// Diverging bodies and panics.

#[track_command]
#[allow(clippy::unnecessary_wraps)]
fn not_done(flag: bool) -> Result<u32, MyError> {
    if flag {
        return Ok(1);
    }
    todo!()
}

#[track_tool]
fn panics_inside() -> u32 {
    panic!("boom")
}

#[track_command]
fn never_returns() -> ! {
    panic!("never")
}

#[test]
fn panics_are_recorded_and_keep_unwinding() {
    let (v, records) = capture(|| std::panic::catch_unwind(|| not_done(false)).is_err());
    assert!(v);
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "not_done", "is_success": false, "error": "panicked"}})]
    );
    let (v, records) = capture(|| not_done(true));
    assert_eq!(v.unwrap(), 1);
    assert_eq!(records[0]["properties"]["is_success"], true);

    let (payload, records) = capture(|| std::panic::catch_unwind(panics_inside).unwrap_err());
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(records[0]["properties"]["tool_name"], "panics_inside");
    assert_eq!(records[0]["properties"]["error"], "panicked");

    let (_, records) = capture(|| std::panic::catch_unwind(|| never_returns()));
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "never_returns", "is_success": false, "error": "panicked"}})]
    );
}

// ---------------------------------------------------------------------------------------------
// Durations.

#[track_tool]
fn sleeps() {
    std::thread::sleep(Duration::from_millis(20));
}

#[track_command]
fn sleeps_then_fails() -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(20));
    Err("late".into())
}

#[test]
fn duration_covers_the_body() {
    let ((), records) = capture(sleeps);
    assert!(duration_ms(&records[0]) >= 20, "{records:?}");
    let (_, records) = capture(sleeps_then_fails);
    assert!(duration_ms(&records[0]) >= 20, "{records:?}");
}

// ---------------------------------------------------------------------------------------------
// Sessions, and stacked attributes.

#[track_tool]
fn tool_in_session(fail: bool) -> Result<(), MyError> {
    if fail {
        Err(MyError("tool failed"))
    } else {
        Ok(())
    }
}

#[track_session(agent = agent, id = format!("sess-{n}"))]
fn session_body(agent: &str, n: u32, fail: bool) -> Result<u32, MyError> {
    tool_in_session(false)?;
    tool_in_session(fail)?;
    Ok(n)
}

#[track_command(name = "run")]
#[track_session(agent = "root", id = "stacked")]
fn stacked() -> Result<(), MyError> {
    tool_in_session(false)
}

#[track_session(agent = "root", id = "panicky")]
fn session_panics() {
    panic!("session boom")
}

#[track_session(agent = String::from("random"))]
fn random_session() -> Option<(String, String)> {
    cli_telemetry::current()
        .current_session()
        .map(|(s, a)| (s.to_string(), a.to_string()))
}

#[test]
fn sessions_start_and_end_around_the_body() {
    let (v, records) = capture(|| session_body("coder", 1, false));
    assert_eq!(v.unwrap(), 1);
    let n = normalize(&records);
    assert_eq!(n.len(), 4);
    assert_eq!(
        n[0],
        json!({"event": "session", "properties":
            {"action": "start", "session_id": "sess-1", "agent_name": "coder"}})
    );
    assert_eq!(
        n[1],
        json!({"event": "tool", "properties": {"action": "call", "session_id": "sess-1",
            "agent_name": "coder", "tool_name": "tool_in_session", "is_success": true}})
    );
    assert_eq!(
        n[3],
        json!({"event": "session", "properties": {"action": "end", "session_id": "sess-1",
            "agent_name": "coder", "tool_calls": 2, "input_tokens": 0, "output_tokens": 0,
            "total_tokens": 0, "cost": 0.0, "error_count": 0, "is_success": true, "error": []}})
    );
}

#[test]
fn a_failed_session_counts_its_errors() {
    let (v, records) = capture(|| session_body("coder", 2, true));
    assert!(v.is_err());
    let end = &normalize(&records)[3];
    // The failed tool call and the function's `Err` both count.
    assert_eq!(end["properties"]["error_count"], 2);
    assert_eq!(
        end["properties"]["error"],
        json!(["my error: tool failed", "my error: tool failed"])
    );
    assert_eq!(end["properties"]["is_success"], false);
}

#[test]
fn a_panicking_session_ends_with_an_error() {
    let (_, records) = capture(|| std::panic::catch_unwind(session_panics));
    let n = normalize(&records);
    assert_eq!(n.len(), 2);
    assert_eq!(n[1]["properties"]["action"], "end");
    assert_eq!(n[1]["properties"]["session_id"], "panicky");
    assert_eq!(n[1]["properties"]["error"], json!(["panicked"]));
}

#[test]
fn session_id_defaults_to_a_random_uuid() {
    let (v, records) = capture(random_session);
    let (id, agent) = v.unwrap();
    assert_eq!(agent, "random");
    assert_eq!(id.len(), 36);
    assert_eq!(records[0]["properties"]["session_id"], id.as_str());
}

/// Stacked attributes expand top to bottom, so the lower one wraps the upper one: here the
/// session is open while the command is recorded.
#[test]
fn stacked_attributes_both_record() {
    let (v, records) = capture(stacked);
    assert!(v.is_ok());
    let n = normalize(&records);
    let kinds: Vec<_> = n
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap(),
                r["properties"]["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("session", "start"),
            ("tool", "call"),
            ("command", "run"),
            ("session", "end")
        ]
    );
    assert_eq!(n[1]["properties"]["session_id"], "stacked");
}

// ---------------------------------------------------------------------------------------------
// `crate = path`: the facade under another name.

mod renamed_facade {
    pub use cli_telemetry as tele;
}

#[track_tool(crate = renamed_facade::tele, name = "renamed")]
fn via_renamed_crate() -> u8 {
    1
}

#[track_command(crate = "::cli_telemetry")]
fn via_string_crate() -> u8 {
    2
}

#[test]
fn crate_path_override() {
    let (v, records) = capture(|| via_renamed_crate() + via_string_crate());
    assert_eq!(v, 3);
    assert_eq!(actions(&records), ["renamed", "via_string_crate"]);
}

// ---------------------------------------------------------------------------------------------
// A return type that is a type parameter: the `Result` behind it is still seen.

#[track_tool]
fn with_retry<T>(g: impl FnOnce() -> T) -> T {
    g()
}

#[track_tool]
fn bounded<T: TrackOutcome>(g: impl FnOnce() -> T) -> T {
    g()
}

#[test]
fn a_generic_return_type_does_not_hide_err() {
    let (v, records) = capture(|| with_retry(|| Err::<(), String>("flaky".into())));
    assert!(v.is_err());
    // Without a bound the error's text cannot be read; its type is named.
    assert_eq!(
        normalize(&records),
        [
            json!({"event": "tool", "properties": {"action": "call", "session_id": "",
            "agent_name": "", "tool_name": "with_retry", "is_success": false,
            "error": "Err(alloc::string::String)"}})
        ]
    );
    let (_, records) = capture(|| with_retry(|| Ok::<u8, String>(1)));
    assert_eq!(records[0]["properties"]["is_success"], true);
    let (_, records) = capture(|| with_retry(|| 5_u8));
    assert_eq!(records[0]["properties"]["is_success"], true);
    // With `T: TrackOutcome`, the error's `Display` is recorded.
    let (_, records) = capture(|| bounded(|| Err::<(), String>("flaky".into())));
    assert_eq!(records[0]["properties"]["error"], "flaky");
    let (_, records) = capture(|| bounded(|| std::process::ExitCode::from(4)));
    assert_eq!(records[0]["properties"]["error"], "exit code 4");
}

// `outcome = ..`: the function states its outcome.

fn zero_is_failure(n: &u32) -> Outcome {
    if *n == 0 {
        Outcome::failure("nothing done")
    } else {
        Outcome::Success
    }
}

#[track_command(outcome = zero_is_failure)]
fn done_count(n: u32) -> u32 {
    n
}

#[track_tool(outcome = |found: &Option<&str>| match found {
    Some(_) => Outcome::Success,
    None => Outcome::failure("not found"),
})]
fn lookup(key: &str) -> Option<&str> {
    (key == "a").then_some("value")
}

#[track_session(agent = "root", outcome = |_: &Result<(), String>| Outcome::Success)]
fn session_errors_ignored() -> Result<(), String> {
    Err("not an error of the session".into())
}

#[test]
fn outcome_argument_classifies_the_returned_value() {
    let (_, records) = capture(|| (done_count(0), done_count(2)));
    assert_eq!(records[0]["properties"]["error"], "nothing done");
    assert_eq!(records[1]["properties"]["is_success"], true);
    let (v, records) = capture(|| (lookup("a"), lookup("b")));
    assert_eq!(v, (Some("value"), None));
    assert_eq!(records[0]["properties"]["is_success"], true);
    assert_eq!(records[1]["properties"]["error"], "not found");
    let (_, records) = capture(session_errors_ignored);
    assert_eq!(records[1]["properties"]["error_count"], 0);
    assert_eq!(records[1]["properties"]["is_success"], true);
}

// std's exit types classify themselves; `Option` is a success.

#[track_command]
fn exits(code: u8) -> std::process::ExitCode {
    std::process::ExitCode::from(code)
}

#[track_command]
fn child(code: u8) -> std::io::Result<std::process::ExitStatus> {
    std::process::Command::new("sh")
        .args(["-c", &format!("exit {code}")])
        .status()
}

#[track_command]
fn status_of(code: u8) -> std::process::ExitStatus {
    child(code).expect("sh runs")
}

#[test]
fn exit_codes_and_statuses() {
    let (_, records) = capture(|| (exits(0), exits(3)));
    assert_eq!(records[0]["properties"]["is_success"], true);
    assert_eq!(records[1]["properties"]["is_success"], false);
    assert_eq!(records[1]["properties"]["error"], "exit code 3");
    if cfg!(unix) {
        let (_, records) = capture(|| (status_of(0), status_of(3)));
        let outcomes: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r["properties"]["action"].clone(),
                    r["properties"]["is_success"].clone(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                (json!("child"), json!(true)),
                (json!("status_of"), json!(true)),
                (json!("child"), json!(true)),
                (json!("status_of"), json!(false)),
            ]
        );
        assert_eq!(records[3]["properties"]["error"], "exit status: 3");
    }
}
