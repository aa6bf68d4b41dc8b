//! Trace context of the operator's stream: which span each record is, which span it hangs
//! off, across threads and `.await`, and the parent process's `TRACEPARENT`. The records are
//! the ones the stream would export (`testing::capture_otel`, or an `otel_sink`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cli_telemetry::testing::{Records, capture_otel};
use cli_telemetry::{
    Client, Env, SessionId, track_command, track_session, track_tool, with_client,
};
use serde_json::Value;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One record seen as a span (or as a record made in one).
#[derive(Debug, Clone)]
struct Span {
    event: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: Option<String>,
    times: Option<(u64, u64)>,
    record: Value,
}

fn spans(records: &[Value]) -> Vec<Span> {
    records
        .iter()
        .map(|r| {
            let t = &r["trace"];
            let p = &r["properties"];
            let name = ["tool_name", "model_name", "agent_name", "action"]
                .iter()
                .find_map(|k| p[k].as_str())
                .unwrap_or_default();
            Span {
                event: format!("{}:{}", r["event"].as_str().unwrap(), p["action"]),
                name: name.to_owned(),
                trace_id: t["trace_id"].as_str().expect("a trace id").to_owned(),
                span_id: t["span_id"].as_str().expect("a span id").to_owned(),
                parent: t["parent_span_id"].as_str().map(str::to_owned),
                times: t["start_ns"].as_u64().zip(t["end_ns"].as_u64()),
                record: r.clone(),
            }
        })
        .collect()
}

/// Every span lies within its parent's time span, and every parent is in the set (or is
/// `outside`).
fn assert_tree(spans: &[Span], outside: Option<&str>) {
    let by_id: HashMap<&str, &Span> = spans
        .iter()
        .filter(|s| s.times.is_some())
        .map(|s| (s.span_id.as_str(), s))
        .collect();
    for s in spans.iter().filter(|s| s.times.is_some()) {
        let (start, end) = s.times.unwrap();
        assert!(start <= end, "{s:?}");
        let Some(parent) = &s.parent else { continue };
        if Some(parent.as_str()) == outside {
            continue;
        }
        let p = by_id
            .get(parent.as_str())
            .unwrap_or_else(|| panic!("the parent of {} is not a span here", s.name));
        let (ps, pe) = p.times.unwrap();
        assert!(
            ps <= start && end <= pe,
            "{} [{start}, {end}] is not inside {} [{ps}, {pe}]",
            s.name,
            p.name
        );
        assert_eq!(s.trace_id, p.trace_id);
    }
}

#[track_tool]
fn leaf(n: u64) -> Result<u64, String> {
    std::thread::sleep(Duration::from_millis(2));
    if n == 3 { Err("three".into()) } else { Ok(n) }
}

#[track_tool]
fn outer_tool() -> Result<u64, String> {
    leaf(1)
}

#[track_session(agent = "root")]
fn session() -> Result<(), String> {
    let turn = cli_telemetry::current().model_turn("scripted", "scripted/small");
    std::thread::sleep(Duration::from_millis(2));
    let _ = outer_tool();
    let _ = leaf(3);
    turn.finish(10, 5, 0.25);
    cli_telemetry::current().record_token_usage("scripted/small", 1, 1, 0.0);
    Ok(())
}

#[track_command(name = "run")]
fn command() -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(1));
    session()
}

#[test]
fn a_command_is_one_trace_with_every_span_inside_its_parent() {
    let ((), records) = capture_otel(|| command().unwrap());
    let spans = spans(&records);
    let names: Vec<String> = spans
        .iter()
        .map(|s| format!("{} {}", s.event, s.name))
        .collect();
    assert_eq!(
        names,
        [
            r#"session:"start" root"#,
            r#"tool:"call" leaf"#,
            r#"tool:"call" outer_tool"#,
            r#"tool:"call" leaf"#,
            r#"token:"usage" scripted/small"#,
            r#"token:"usage" scripted/small"#,
            r#"session:"end" root"#,
            r#"command:"run" run"#,
        ]
    );
    let trace = &spans[0].trace_id;
    assert!(spans.iter().all(|s| &s.trace_id == trace), "one trace");
    let root = &spans[7];
    assert!(root.parent.is_none(), "the outermost command is the root");
    let session_end = &spans[6];
    assert_eq!(session_end.parent.as_ref(), Some(&root.span_id));
    assert_eq!(
        spans[0].span_id, session_end.span_id,
        "start and end: one session span"
    );
    assert!(
        spans[0].times.is_none(),
        "the session start is no span of its own"
    );
    let (nested, outer, failed) = (&spans[1], &spans[2], &spans[3]);
    assert_eq!(
        nested.parent.as_ref(),
        Some(&outer.span_id),
        "a tool that calls a tool nests"
    );
    assert_eq!(outer.parent.as_ref(), Some(&session_end.span_id));
    assert_eq!(failed.parent.as_ref(), Some(&session_end.span_id));
    for chat in &spans[4..6] {
        assert_eq!(chat.parent.as_ref(), Some(&session_end.span_id));
    }
    let (start, end) = spans[4].times.unwrap();
    assert!(
        end - start >= 6_000_000,
        "the measured turn spans its tool calls"
    );
    assert_eq!(spans[4].record["trace"]["provider"], "scripted");
    let (start, end) = spans[5].times.unwrap();
    assert_eq!(
        start, end,
        "a turn without a duration is a zero-length span"
    );
    assert_eq!(
        session_end.record["trace"]["provider"], "scripted",
        "learned from its turns"
    );
    assert_eq!(outer.record["trace"]["tool_type"], "function");
    let ids: std::collections::HashSet<&str> =
        spans[1..].iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), 7, "every span its own id");
    assert_tree(&spans, None);
}

#[test]
fn the_usage_stream_never_sees_trace_context() {
    let usage = Records::default();
    let otel = Records::default();
    let client = Client::builder()
        .env(Env::from_pairs([("TELEMETRY_OTEL", "1")]))
        .sink(usage.clone())
        .otel_sink(otel.clone())
        .build();
    with_client(&client, || command().unwrap());
    let a = usage.take_json();
    let b = otel.take_json();
    assert_eq!(a.len(), 8);
    assert_eq!(b.len(), 8);
    for (a, b) in a.iter().zip(&b) {
        assert!(!a.contains("\"trace\"") && !a.contains("trace_id"), "{a}");
        let (head, tail) = b.split_at(a.len() - 1);
        assert_eq!(
            head,
            &a[..a.len() - 1],
            "the same record, then its trace object"
        );
        assert!(tail.starts_with(",\"trace\":{\"trace_id\":"), "{tail}");
    }
}

#[test]
fn without_the_switch_no_record_carries_trace_context() {
    let usage = Records::default();
    let otel = Records::default();
    let env = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")]);
    let client = Client::builder()
        .env(env)
        .sink(usage.clone())
        .otel_sink(otel.clone())
        .build();
    with_client(&client, || command().unwrap());
    assert!(otel.is_empty());
    assert!(!client.is_otel_enabled());
    assert_eq!(client.traceparent(), None);
    assert!(usage.take_json().iter().all(|r| !r.contains("trace_id")));
}

#[test]
fn otel_sdk_disabled_turns_the_operators_stream_off() {
    let otel = Records::default();
    let env = Env::from_pairs([("TELEMETRY_OTEL", "1"), ("OTEL_SDK_DISABLED", "true")]);
    let client = Client::builder()
        .env(env)
        .otel(true)
        .otel_sink(otel.clone())
        .build();
    with_client(&client, || command().unwrap());
    assert!(otel.is_empty());
    assert_eq!(client.otel_consent().decided_by, "OTEL_SDK_DISABLED");
}

#[test]
fn do_not_track_stops_the_usage_stream_only() {
    let dir = tempfile::tempdir().unwrap();
    let usage = Records::default();
    let otel = Records::default();
    let env = Env::from_pairs([("DO_NOT_TRACK", "1"), ("TELEMETRY_OTEL", "1")]);
    let client = Client::builder()
        .env(env)
        .config_dir(dir.path())
        .sink(usage.clone())
        .otel_sink(otel.clone())
        .build();
    with_client(&client, || command().unwrap());
    assert!(usage.is_empty(), "no usage record");
    assert_eq!(otel.len(), 8, "the operator's stream goes on");
    assert!(
        !dir.path().join("user-uuid").exists(),
        "no anonymous id is created for the operator's stream"
    );
    let records = otel.take();
    assert_eq!(
        records[0]["properties"]["user_uuid"],
        "00000000-0000-4000-8000-000000000000"
    );
}

fn client_with_parent(traceparent: &str, tracestate: &str, verbose: &Records) -> (Client, Records) {
    let otel = Records::default();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Lines(verbose.clone())));
    let env = Env::from_pairs([
        ("TELEMETRY_OTEL", "1"),
        ("TRACEPARENT", traceparent),
        ("TRACESTATE", tracestate),
    ]);
    let client = Client::builder()
        .env(env)
        .verbose(true)
        .debug_output(out)
        .sink(Records::default())
        .otel_sink(otel.clone())
        .build();
    (client, otel)
}

/// Verbose output, line by line, into a `Records` (as plain text).
struct Lines(Records);
impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use cli_telemetry::Sink;
        self.0.record(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn traceparent_makes_the_command_a_child_of_the_parent_process() {
    let notes = Records::default();
    let (client, otel) = client_with_parent(PARENT, "congo=t61rcWkgMzE", &notes);
    assert_eq!(client.traceparent().as_deref(), Some(PARENT));
    assert_eq!(client.tracestate().as_deref(), Some("congo=t61rcWkgMzE"));
    let mut inside = None;
    with_client(&client, || {
        #[track_command(name = "child")]
        fn child() -> Result<(), String> {
            let tp = cli_telemetry::current().traceparent().unwrap();
            let _ = leaf(5);
            Err(tp)
        }
        inside = child().err();
    });
    let spans = spans(&otel.take());
    let cmd = spans.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(cmd.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(cmd.parent.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(cmd.record["trace"]["state"], "congo=t61rcWkgMzE");
    assert_eq!(
        inside.as_deref(),
        Some(format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", cmd.span_id).as_str()),
        "inside the command, a child process joins under the command's span"
    );
    let tool = spans.iter().find(|s| s.name == "leaf").unwrap();
    assert_eq!(tool.parent.as_ref(), Some(&cmd.span_id));
    assert_tree(&spans, Some("00f067aa0ba902b7"));
    assert!(notes.is_empty(), "nothing to note: {:?}", notes.take_json());
}

#[test]
fn a_malformed_traceparent_is_ignored_with_a_note_in_verbose_mode() {
    for bad in [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "not a traceparent",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        let notes = Records::default();
        let (client, otel) = client_with_parent(bad, "", &notes);
        assert_eq!(client.traceparent(), None);
        with_client(&client, || command().unwrap());
        let spans = spans(&otel.take());
        let root = spans.last().unwrap();
        assert!(root.parent.is_none(), "a new trace: {bad}");
        assert_ne!(root.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let text = notes.take_json().concat();
        assert!(text.contains("ignoring TRACEPARENT"), "{bad}: {text}");
    }
    let notes = Records::default();
    let (client, _) = client_with_parent(PARENT, "a=b,a=c", &notes);
    assert_eq!(
        client.traceparent().as_deref(),
        Some(PARENT),
        "a bad tracestate alone"
    );
    assert_eq!(client.tracestate(), None);
    assert!(notes.take_json().concat().contains("ignoring TRACESTATE"));
}

#[test]
fn an_unsampled_parent_is_propagated_unsampled() {
    let notes = Records::default();
    let unsampled = PARENT.replace("-01", "-00");
    let (client, otel) = client_with_parent(&unsampled, "", &notes);
    with_client(&client, || command().unwrap());
    let records = otel.take();
    assert!(records.iter().all(|r| r["trace"]["sampled"] == false));
    assert!(client.traceparent().unwrap().ends_with("-00"));
}

/// A timer future that needs real awaiting, woken from another thread.
struct Sleep(Instant, bool);
impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            return Poll::Ready(());
        }
        if !self.1 {
            self.1 = true;
            let (waker, until) = (cx.waker().clone(), self.0);
            std::thread::spawn(move || {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                waker.wake();
            });
        }
        Poll::Pending
    }
}

fn sleep(ms: u64) -> Sleep {
    Sleep(Instant::now() + Duration::from_millis(ms), false)
}

#[track_tool]
async fn async_leaf(n: u64) -> Result<u64, String> {
    sleep(2).await;
    Ok(n)
}

#[track_tool]
async fn async_outer() -> Result<u64, String> {
    sleep(1).await;
    let a = async_leaf(1).await?;
    sleep(1).await;
    let b = async_leaf(2).await?;
    Ok(a + b)
}

#[track_tool]
fn impl_future_tool() -> impl Future<Output = Result<u64, String>> {
    async {
        sleep(1).await;
        async_leaf(3).await
    }
}

#[track_command(name = "async")]
async fn async_command() -> Result<u64, String> {
    let x = async_outer().await?;
    let other = async_leaf(9);
    // Another task's polls on the same thread never see this command's spans.
    let y = impl_future_tool().await?;
    Ok(x + y + other.await?)
}

#[test]
fn spans_nest_across_await_and_do_not_leak_between_polls() {
    let (result, records) = capture_otel(|| pollster::block_on(async_command()));
    assert_eq!(result, Ok(15));
    let spans = spans(&records);
    let find = |name: &str| {
        spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let cmd = &find("async")[0];
    assert!(cmd.parent.is_none());
    let outer = &find("async_outer")[0];
    assert_eq!(outer.parent.as_ref(), Some(&cmd.span_id));
    let leaves = find("async_leaf");
    assert_eq!(leaves.len(), 4);
    let under_outer = leaves
        .iter()
        .filter(|l| l.parent.as_ref() == Some(&outer.span_id))
        .count();
    assert_eq!(under_outer, 2, "{leaves:?}");
    let imp = &find("impl_future_tool")[0];
    assert_eq!(imp.parent.as_ref(), Some(&cmd.span_id));
    assert!(
        leaves
            .iter()
            .any(|l| l.parent.as_ref() == Some(&imp.span_id))
    );
    assert!(
        leaves
            .iter()
            .any(|l| l.parent.as_ref() == Some(&cmd.span_id)),
        "the leaf made by the command itself"
    );
    assert_tree(&spans, None);
}

#[test]
fn a_future_polled_on_other_threads_keeps_its_span() {
    let otel = Records::default();
    let client = Client::builder()
        .env(Env::from_pairs([("TELEMETRY_OTEL", "1")]))
        .otel_sink(otel.clone())
        .build();
    // Built on this thread, polled on others: each poll on a fresh thread.
    let mut fut = Box::pin(cli_telemetry::with_client_future(&client, async_command()));
    let result = loop {
        let waker = std::task::Waker::noop();
        let polled = std::thread::scope(|s| {
            s.spawn(|| fut.as_mut().poll(&mut Context::from_waker(waker)))
                .join()
                .unwrap()
        });
        if let Poll::Ready(v) = polled {
            break v;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(result, Ok(15));
    let spans = spans(&otel.take());
    let cmd = spans.iter().find(|s| s.name == "async").unwrap();
    let outer = spans.iter().find(|s| s.name == "async_outer").unwrap();
    assert_eq!(outer.parent.as_ref(), Some(&cmd.span_id));
    assert_tree(&spans, None);
}

#[test]
fn a_session_on_another_thread_is_the_parent_of_its_tools_there() {
    let ((), records) = capture_otel(|| {
        let client = cli_telemetry::current();
        let _session = client.start_session("worker", SessionId::new("s-1"));
        let c = client.clone();
        std::thread::spawn(move || with_client(&c, || leaf(7)))
            .join()
            .unwrap()
            .unwrap();
    });
    let spans = spans(&records);
    let tool = spans.iter().find(|s| s.name == "leaf").unwrap();
    let end = spans
        .iter()
        .find(|s| s.event.starts_with("session:\"end"))
        .unwrap();
    assert_eq!(tool.parent.as_ref(), Some(&end.span_id));
    assert!(
        end.parent.is_none(),
        "a session without a command is a root"
    );
}

#[track_tool(call_id = format!("toolu_{n}"))]
fn called_by_the_model(n: u32) -> Result<u32, String> {
    Ok(n)
}

#[test]
fn a_tool_call_id_given_to_the_attribute_names_the_span() {
    let (_, records) = capture_otel(|| called_by_the_model(7));
    assert_eq!(records[0]["trace"]["tool_call_id"], "toolu_7");
    assert_eq!(records[0]["trace"]["tool_type"], "function");
    // A usage record carries no such thing.
    let (_, usage) = cli_telemetry::testing::capture(|| called_by_the_model(8));
    assert!(usage[0].get("trace").is_none());
    assert!(!usage[0].to_string().contains("toolu_8"));
}

#[test]
fn a_tool_call_id_leaves_as_gen_ai_tool_call_id() {
    let printed = Records::default();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Lines(printed.clone())));
    let client = Client::builder()
        .env(Env::from_pairs([
            ("TELEMETRY_OTEL", "1"),
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .debug_output(out)
        .build();
    with_client(&client, || called_by_the_model(3)).unwrap();
    let text = printed.take_json().concat();
    let line = text
        .lines()
        .find(|l| l.starts_with("{\"resourceSpans\""))
        .unwrap_or_else(|| panic!("no span printed: {text}"));
    let body: Value = serde_json::from_str(line).unwrap();
    let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["name"], "execute_tool called_by_the_model");
    let attrs: HashMap<&str, &Value> = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv["key"].as_str().unwrap(), &kv["value"]))
        .collect();
    assert_eq!(attrs["gen_ai.tool.call.id"]["stringValue"], "toolu_3");
    assert_eq!(attrs["gen_ai.tool.type"]["stringValue"], "function");
    assert_eq!(
        attrs["gen_ai.operation.name"]["stringValue"],
        "execute_tool"
    );
}

#[track_command(name = "ask")]
fn ask_without_a_session() -> Result<(), String> {
    let turn = cli_telemetry::current().model_turn("openai", "gpt-4o");
    let _ = leaf(1);
    turn.finish(3, 4, 0.0);
    Ok(())
}

#[test]
fn without_a_session_tools_and_turns_hang_off_the_command() {
    let ((), records) = capture_otel(|| ask_without_a_session().unwrap());
    let spans = spans(&records);
    let cmd = spans.iter().find(|s| s.name == "ask").unwrap();
    assert!(cmd.parent.is_none());
    for name in ["leaf", "gpt-4o"] {
        let s = spans.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.parent.as_ref(), Some(&cmd.span_id), "{name}");
    }
    assert_tree(&spans, None);
}
