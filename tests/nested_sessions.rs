//! Sessions nest (sub-agent delegation): a `#[track_session]` inside another gets its own id,
//! starts and ends inside the outer one, which goes on and ends once, after it, with its own
//! outcome and aggregates. Sync, async, across threads, and as the operator's spans.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use cli_telemetry::testing::{capture, capture_otel};
use cli_telemetry::{SessionId, track_session, track_tool};
use serde_json::Value;

#[track_tool]
fn lookup(fail: bool) -> Result<u8, String> {
    if fail {
        Err("lookup failed".into())
    } else {
        Ok(1)
    }
}

#[track_session(agent = "helper", id = "inner")]
fn sub_agent(fail: bool) -> Result<(), String> {
    lookup(false)?;
    lookup(fail)?;
    Ok(())
}

/// An agent that delegates to a sub-agent between two tool calls, then fails on its own.
#[track_session(agent = "root", id = "outer")]
fn agent(sub_fails: bool) -> Result<(), String> {
    lookup(false)?;
    let _ = sub_agent(sub_fails);
    lookup(false)?;
    Err("the agent gave up".into())
}

/// `(event:action, session_id)` of each record, in order.
fn story(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            let p = &r["properties"];
            (
                format!(
                    "{}:{}",
                    r["event"].as_str().unwrap(),
                    p["action"].as_str().unwrap()
                ),
                p["session_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn end_of<'a>(records: &'a [Value], id: &str) -> &'a Value {
    let ends: Vec<&Value> = records
        .iter()
        .filter(|r| r["properties"]["action"] == "end" && r["properties"]["session_id"] == id)
        .collect();
    assert_eq!(ends.len(), 1, "{id} ends exactly once");
    &ends[0]["properties"]
}

fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// What every nesting test expects of `agent(true)`.
fn assert_nested(records: &[Value]) {
    assert_eq!(
        story(records),
        s(&[
            ("session:start", "outer"),
            ("tool:call", "outer"),
            ("session:start", "inner"),
            ("tool:call", "inner"),
            ("tool:call", "inner"),
            ("session:end", "inner"),
            ("tool:call", "outer"),
            ("session:end", "outer"),
        ])
    );
    let inner = end_of(records, "inner");
    assert_eq!(inner["agent_name"], "helper");
    assert_eq!(inner["tool_calls"], 2);
    assert_eq!(inner["error_count"], 2, "its failed tool and its own Err");
    assert_eq!(inner["is_success"], false);
    let outer = end_of(records, "outer");
    assert_eq!(outer["agent_name"], "root");
    assert_eq!(outer["tool_calls"], 2, "its own calls, not the sub-agent's");
    assert_eq!(outer["error"], serde_json::json!(["the agent gave up"]));
    assert_eq!(outer["is_success"], false);
    let tool_agents: Vec<&str> = records
        .iter()
        .filter(|r| r["event"] == "tool")
        .map(|r| r["properties"]["agent_name"].as_str().unwrap())
        .collect();
    assert_eq!(tool_agents, ["root", "helper", "helper", "root"]);
}

#[test]
fn a_session_inside_another_nests_and_the_outer_ends_once_after_it() {
    let (ret, records) = capture(|| agent(true));
    assert!(ret.is_err());
    assert_nested(&records);
}

#[track_tool]
async fn async_lookup(fail: bool) -> Result<u8, String> {
    Yield(false).await;
    if fail {
        Err("lookup failed".into())
    } else {
        Ok(1)
    }
}

#[track_session(agent = "helper", id = "inner")]
async fn async_sub_agent(fail: bool) -> Result<(), String> {
    async_lookup(false).await?;
    async_lookup(fail).await?;
    Ok(())
}

#[track_session(agent = "root", id = "outer")]
async fn async_agent(sub_fails: bool) -> Result<(), String> {
    async_lookup(false).await?;
    let _ = async_sub_agent(sub_fails).await;
    async_lookup(false).await?;
    Err("the agent gave up".into())
}

/// Pending once (waking itself at once), then ready: every `.await` of it is a real yield.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[test]
fn async_sessions_nest_across_await() {
    let (ret, records) = capture(|| pollster::block_on(async_agent(true)));
    assert!(ret.is_err());
    assert_nested(&records);
}

/// Two agents polled in turn on one thread: each poll sees its own session.
#[test]
fn interleaved_async_sessions_each_count_their_own_calls() {
    #[track_session(agent = "a", id = "a")]
    async fn a() -> Result<(), String> {
        for _ in 0..3 {
            async_lookup(false).await?;
        }
        Ok(())
    }
    #[track_session(agent = "b", id = "b")]
    async fn b() -> Result<(), String> {
        async_lookup(true).await?;
        Ok(())
    }
    let ((ra, rb), records) = capture(|| pollster::block_on(Join(Box::pin(a()), Box::pin(b()))));
    assert!(ra.is_ok() && rb.is_err());
    assert_eq!(end_of(&records, "a")["tool_calls"], 3);
    assert_eq!(end_of(&records, "a")["error_count"], 0);
    assert_eq!(end_of(&records, "b")["tool_calls"], 1);
    assert_eq!(end_of(&records, "b")["error_count"], 2);
    for r in records.iter().filter(|r| r["event"] == "tool") {
        let p = &r["properties"];
        assert_eq!(p["session_id"], p["agent_name"], "{r}");
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// Polls two futures in turn until both are ready.
struct Join<A, B>(Boxed<A>, Boxed<B>);

impl<A: Unpin, B: Unpin> Future for Join<A, B> {
    type Output = (A, B);
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<(A, B)> {
        let this = self.get_mut();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (mut a, mut b) = (None, None);
        loop {
            if a.is_none()
                && let Poll::Ready(v) = this.0.as_mut().poll(&mut cx)
            {
                a = Some(v);
            }
            if b.is_none()
                && let Poll::Ready(v) = this.1.as_mut().poll(&mut cx)
            {
                b = Some(v);
            }
            if let (Some(_), Some(_)) = (&a, &b) {
                return Poll::Ready((a.unwrap(), b.unwrap()));
            }
        }
    }
}

/// Agents on two threads at once: each thread's calls count in its own session.
#[test]
fn sessions_on_two_threads_each_count_their_own_calls() {
    #[track_session(agent = "t", id = format!("t{n}"))]
    fn worker(n: usize) -> Result<(), String> {
        for _ in 0..=n * 10 {
            std::thread::yield_now();
            lookup(false)?;
        }
        Ok(())
    }
    let ((), records) = capture(|| {
        let client = cli_telemetry::current();
        std::thread::scope(|s| {
            for n in 1..=2 {
                let client = client.clone();
                s.spawn(move || cli_telemetry::with_client(&client, || worker(n)));
            }
        });
    });
    assert_eq!(end_of(&records, "t1")["tool_calls"], 11);
    assert_eq!(end_of(&records, "t2")["tool_calls"], 21);
}

/// The guard API nests the same way; a tool call on a thread of its own counts in the newest.
#[test]
fn guards_nest() {
    let ((), records) = capture(|| {
        let client = cli_telemetry::current();
        let outer = client.start_session("root", SessionId::new("outer"));
        let inner = client.start_session("helper", SessionId::new("inner"));
        let c = client.clone();
        std::thread::spawn(move || cli_telemetry::with_client(&c, || lookup(false)))
            .join()
            .unwrap()
            .unwrap();
        inner.finish(&cli_telemetry::Outcome::Success);
        lookup(true).ok();
        drop(outer);
    });
    assert_eq!(end_of(&records, "inner")["tool_calls"], 1);
    assert_eq!(end_of(&records, "outer")["tool_calls"], 1);
    assert_eq!(end_of(&records, "outer")["error_count"], 1);
}

/// In the operator's stream the inner session's span is a child of the outer one's, and the
/// calls hang off their own session.
#[test]
fn the_inner_session_span_hangs_off_the_outer_one() {
    let (_, records) = capture_otel(|| agent(false));
    let span_of = |event: &str, id: &str| -> (String, Option<String>) {
        let r = records
            .iter()
            .find(|r| {
                r["properties"]["session_id"] == id
                    && format!(
                        "{}:{}",
                        r["event"].as_str().unwrap(),
                        r["properties"]["action"].as_str().unwrap()
                    ) == event
            })
            .unwrap();
        (
            r["trace"]["span_id"].as_str().unwrap().to_owned(),
            r["trace"]["parent_span_id"].as_str().map(str::to_owned),
        )
    };
    let (outer, _) = span_of("session:end", "outer");
    let (inner, inner_parent) = span_of("session:end", "inner");
    assert_eq!(inner_parent.as_deref(), Some(outer.as_str()));
    let (_, inner_tool_parent) = span_of("tool:call", "inner");
    assert_eq!(inner_tool_parent.as_deref(), Some(inner.as_str()));
    let outer_tools: Vec<Option<&str>> = records
        .iter()
        .filter(|r| r["event"] == "tool" && r["properties"]["session_id"] == "outer")
        .map(|r| r["trace"]["parent_span_id"].as_str())
        .collect();
    assert_eq!(outer_tools, [Some(outer.as_str()); 2]);
}

/// A thread the body of a session starts has no scope of its own: its calls count in the
/// newest running session.
#[test]
fn a_thread_started_in_a_session_counts_in_it() {
    #[track_session(agent = "root", id = "spawner")]
    fn spawner() -> Result<(), String> {
        let client = cli_telemetry::current();
        std::thread::spawn(move || cli_telemetry::with_client(&client, || lookup(false)))
            .join()
            .unwrap()?;
        Ok(())
    }
    let (ret, records) = capture(spawner);
    assert!(ret.is_ok());
    assert_eq!(end_of(&records, "spawner")["tool_calls"], 1);
    let tool = records.iter().find(|r| r["event"] == "tool").unwrap();
    assert_eq!(tool["properties"]["session_id"], "spawner");
}

/// Leaked guards cannot keep sessions forever: beyond 64 running, the oldest ends.
#[test]
fn at_most_64_sessions_run_at_once() {
    let ((), records) = capture(|| {
        let client = cli_telemetry::current();
        for i in 0..70 {
            std::mem::forget(client.start_session("a", SessionId::new(format!("s{i}"))));
        }
    });
    let ended: Vec<&str> = records
        .iter()
        .filter(|r| r["properties"]["action"] == "end")
        .map(|r| r["properties"]["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ended, ["s0", "s1", "s2", "s3", "s4", "s5"]);
}
