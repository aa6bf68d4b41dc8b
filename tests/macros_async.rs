//! Runtime tests of the tracking macros on `async fn`s and `#[async_trait]` methods.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cli_telemetry::testing::capture;
use cli_telemetry::{track_command, track_session, track_tool};
use serde_json::json;

mod common;
use common::{duration_ms, normalize};

/// Runs a future to completion on this thread, so `capture`'s client is current while it runs.
fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// A timer future that needs real awaiting: pending until `until`, waking itself from a thread.
struct Sleep {
    until: Instant,
    started: bool,
}

fn sleep(ms: u64) -> Sleep {
    Sleep {
        until: Instant::now() + Duration::from_millis(ms),
        started: false,
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.until {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (waker, until) = (cx.waker().clone(), self.until);
            std::thread::spawn(move || {
                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                waker.wake();
            });
        }
        Poll::Pending
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[derive(Debug, PartialEq)]
struct AsyncError(String);
impl std::fmt::Display for AsyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "async: {}", self.0)
    }
}
impl std::error::Error for AsyncError {}

#[track_command(args = [flag])]
async fn async_cmd(flag: &str) -> Result<usize, AsyncError> {
    sleep(1).await;
    if flag.is_empty() {
        return Err(AsyncError("empty".into()));
    }
    let n: usize = flag
        .len()
        .to_string()
        .parse()
        .map_err(|_| AsyncError("nan".into()))?;
    Ok(n)
}

#[track_command]
async fn async_question(s: &str) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    sleep(1).await;
    Ok(s.parse()?)
}

#[test]
fn async_fn_early_return_and_question_mark() {
    let (v, records) = capture(|| block_on(async_cmd("--x")));
    assert_eq!(v.unwrap(), 3);
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "async_cmd", "args": ["--x"], "is_success": true}})]
    );
    let (v, records) = capture(|| block_on(async_cmd("")));
    assert!(v.is_err());
    assert_eq!(records[0]["properties"]["error"], "async: empty");

    let (v, records) = capture(|| block_on(async_question("x")));
    assert!(v.is_err());
    assert_eq!(
        records[0]["properties"]["error"],
        "invalid digit found in string"
    );
}

#[track_tool]
async fn async_sleeps(ms: u64) -> u64 {
    sleep(ms).await;
    ms
}

#[track_tool]
async fn async_unit_sleeps(ms: u64) {
    sleep(ms).await;
}

#[test]
fn async_duration_covers_awaits() {
    let (v, records) = capture(|| block_on(async_sleeps(20)));
    assert_eq!(v, 20);
    assert!(duration_ms(&records[0]) >= 20, "{records:?}");
    // Without a declared return type too.
    let ((), records) = capture(|| block_on(async_unit_sleeps(20)));
    assert!(duration_ms(&records[0]) >= 20, "{records:?}");
}

#[test]
fn tracked_futures_stay_send() {
    // Compile-time assertions: the body's future is `Send`, so the tracked one is too.
    let f = assert_send(async_cmd("a"));
    let g = assert_send(async_sleeps(0));
    let agent = AsyncAgent::default();
    let h = assert_send(agent.run_tool(1));
    let (v, records) = capture(|| block_on(async { (f.await.is_ok(), g.await, h.await) }));
    assert_eq!(v, (true, 0, Ok(1)));
    assert_eq!(records.len(), 3);
}

// Methods on a struct, a returned reference, generics.

#[derive(Default)]
struct AsyncAgent {
    name: String,
    items: Vec<u32>,
}

impl AsyncAgent {
    #[track_tool(agent = self.name.as_str())]
    async fn run_tool(&self, n: u32) -> Result<u32, AsyncError> {
        sleep(1).await;
        Ok(n)
    }

    #[track_command]
    async fn first_mut(&mut self) -> &mut u32 {
        sleep(1).await;
        if self.items.is_empty() {
            self.items.push(0);
        }
        &mut self.items[0]
    }

    #[track_command]
    async fn consume(self) -> String {
        self.name
    }

    #[track_command]
    async fn create(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            items: Vec::new(),
        }
    }
}

#[track_command]
async fn async_generic<T>(items: Vec<T>, extra: impl Into<String>) -> (usize, String)
where
    T: Clone + Send,
{
    sleep(1).await;
    (items.len(), extra.into())
}

#[track_command]
async fn async_collect(s: &str) -> Vec<char> {
    s.chars().collect()
}

#[track_command]
async fn async_impl_iter(n: u32) -> impl Iterator<Item = u32> {
    sleep(1).await;
    0..n
}

#[test]
fn async_methods_and_generics() {
    let (v, records) = capture(|| {
        block_on(async {
            let mut a = AsyncAgent::create("bot").await;
            *a.first_mut().await += 3;
            let tool = a.run_tool(9).await;
            let items = a.items.clone();
            let name = a.consume().await;
            let g = async_generic(vec![1, 2], "x").await;
            let c = async_collect("ab").await;
            let it: Vec<u32> = async_impl_iter(2).await.collect();
            (items, tool.unwrap(), name, g, c, it)
        })
    });
    assert_eq!(
        v,
        (
            vec![3],
            9,
            "bot".to_owned(),
            (2, "x".to_owned()),
            vec!['a', 'b'],
            vec![0, 1]
        )
    );
    let n = normalize(&records);
    assert_eq!(n.len(), 7);
    assert_eq!(
        n[2],
        json!({"event": "tool", "properties": {"action": "call", "session_id": "",
            "agent_name": "bot", "tool_name": "run_tool", "is_success": true}})
    );
    let names: Vec<_> = n
        .iter()
        .map(|r| {
            r["properties"]["tool_name"]
                .as_str()
                .or(r["properties"]["action"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "create",
            "first_mut",
            "run_tool",
            "consume",
            "async_generic",
            "async_collect",
            "async_impl_iter"
        ]
    );
}

// Panics in async bodies.

#[track_command]
async fn async_panics() -> u8 {
    sleep(1).await;
    panic!("async boom")
}

#[test]
fn async_panic_is_recorded_and_unwinds() {
    let (r, records) = capture(|| std::panic::catch_unwind(|| block_on(async_panics())));
    assert!(r.is_err());
    assert_eq!(
        normalize(&records),
        [json!({"event": "command", "properties":
            {"action": "async_panics", "is_success": false, "error": "panicked"}})]
    );
}

// Sessions and stacking in async code.

#[track_session(agent = agent, id = "async-sess")]
async fn async_session(agent: &str, fail: bool) -> Result<(), AsyncError> {
    async_sleeps(1).await;
    if fail {
        return Err(AsyncError("session".into()));
    }
    Ok(())
}

#[track_command(name = "chat")]
#[track_session(agent = "root")]
async fn async_stacked() -> u8 {
    async_sleeps(1).await;
    1
}

#[test]
fn async_sessions() {
    let (v, records) = capture(|| block_on(async_session("coder", true)));
    assert!(v.is_err());
    let n = normalize(&records);
    assert_eq!(n.len(), 3);
    assert_eq!(n[1]["properties"]["session_id"], "async-sess");
    assert_eq!(n[1]["properties"]["agent_name"], "coder");
    assert_eq!(n[2]["properties"]["action"], "end");
    assert_eq!(n[2]["properties"]["tool_calls"], 1);
    assert_eq!(n[2]["properties"]["error"], json!(["async: session"]));

    let (v, records) = capture(|| block_on(async_stacked()));
    assert_eq!(v, 1);
    let kinds: Vec<_> = normalize(&records)
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["session", "tool", "command", "session"]);
}

// `#[async_trait]` impls: the duration covers the awaited work, `self` is usable in arguments.

#[async_trait::async_trait]
trait Tool {
    async fn call(&self, input: &str) -> Result<String, AsyncError>;
    async fn slow(&self, ms: u64) -> u64;
}

struct Echo {
    session: String,
}

#[async_trait::async_trait]
impl Tool for Echo {
    #[track_tool(name = "echo", session = self.session.clone(), agent = "echoer")]
    async fn call(&self, input: &str) -> Result<String, AsyncError> {
        sleep(1).await;
        if input.is_empty() {
            return Err(AsyncError("nothing to echo".into()));
        }
        Ok(input.to_owned())
    }

    #[track_tool]
    async fn slow(&self, ms: u64) -> u64 {
        sleep(ms).await;
        ms
    }
}

#[test]
fn async_trait_methods() {
    let echo = Echo {
        session: "s-echo".into(),
    };
    let (v, records) = capture(|| {
        block_on(async {
            let dyn_tool: &(dyn Tool + Sync) = &echo;
            let fut = assert_send(dyn_tool.call("hi"));
            (fut.await, echo.call("").await.is_err(), echo.slow(20).await)
        })
    });
    assert_eq!(v.0.unwrap(), "hi");
    assert!(v.1);
    let n = normalize(&records);
    assert_eq!(
        n[..2],
        [
            json!({"event": "tool", "properties": {"action": "call", "session_id": "s-echo",
                "agent_name": "echoer", "tool_name": "echo", "is_success": true}}),
            json!({"event": "tool", "properties": {"action": "call", "session_id": "s-echo",
                "agent_name": "echoer", "tool_name": "echo", "is_success": false,
                "error": "async: nothing to echo"}}),
        ]
    );
    assert_eq!(n[2]["properties"]["tool_name"], "slow");
    assert!(duration_ms(&records[2]) >= 20, "{records:?}");
}

// A sync function returning `impl Future`: the future is timed, not its creation.

#[track_tool(name = "deferred")]
fn deferred(ms: u64) -> impl Future<Output = Result<u64, AsyncError>> + Send {
    let start = Instant::now();
    async move {
        sleep(ms).await;
        if ms == 0 {
            return Err(AsyncError("zero".into()));
        }
        Ok(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

#[test]
fn impl_future_is_timed_until_completion() {
    let (v, records) = capture(|| {
        let fut = assert_send(deferred(20));
        block_on(async { (fut.await.is_ok(), deferred(0).await.is_err()) })
    });
    assert_eq!(v, (true, true));
    assert!(duration_ms(&records[0]) >= 20, "{records:?}");
    assert_eq!(
        normalize(&records)[1],
        json!({"event": "tool", "properties": {"action": "call", "session_id": "",
            "agent_name": "", "tool_name": "deferred", "is_success": false,
            "error": "async: zero"}})
    );
}

// Native async fn in traits.

trait NativeTool {
    fn run(&self) -> impl Future<Output = Result<u8, AsyncError>> + Send;
}

impl NativeTool for Echo {
    #[track_tool(name = "native")]
    async fn run(&self) -> Result<u8, AsyncError> {
        sleep(1).await;
        Err(AsyncError(self.session.clone()))
    }
}

#[test]
fn native_async_trait_methods() {
    let echo = Echo {
        session: "x".into(),
    };
    let (v, records) = capture(|| block_on(assert_send(echo.run())));
    assert!(v.is_err());
    assert_eq!(records[0]["properties"]["tool_name"], "native");
    assert_eq!(records[0]["properties"]["error"], "async: x");
}

// Boxed futures under the names of `futures` (mirrored here: the macro reads only the
// spelling), and under a name of the user's with `future`.

mod futures {
    pub mod future {
        use std::future::Future;
        use std::pin::Pin;

        /// As `futures::future::BoxFuture`.
        pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
        /// As `futures::future::LocalBoxFuture`.
        pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
    }
}

use futures::future::LocalBoxFuture;

type Job = Pin<Box<dyn Future<Output = Result<u64, AsyncError>> + Send>>;

struct Worker;

impl Worker {
    #[track_tool(name = "boxed")]
    fn boxed(&self, ms: u64) -> futures::future::BoxFuture<'static, Result<u64, AsyncError>> {
        Box::pin(async move {
            sleep(ms).await;
            Err(AsyncError(format!("after {ms} ms")))
        })
    }

    #[track_tool(name = "local")]
    fn local<'a>(&'a self, label: &'a str) -> LocalBoxFuture<'a, Result<(), AsyncError>> {
        Box::pin(async move {
            sleep(20).await;
            Err(AsyncError(label.to_owned()))
        })
    }

    #[track_tool(name = "job", future)]
    fn job(&self, ms: u64) -> Job {
        Box::pin(async move {
            sleep(ms).await;
            Err(AsyncError("job".into()))
        })
    }
}

#[test]
fn boxed_future_aliases_are_awaited() {
    let (v, records) = capture(|| {
        let w = Worker;
        let boxed = assert_send(w.boxed(20));
        let job = assert_send(w.job(20));
        block_on(async { (boxed.await, w.local("local").await, job.await) })
    });
    assert!(v.0.is_err() && v.1.is_err() && v.2.is_err());
    let n = normalize(&records);
    let errors: Vec<_> = n
        .iter()
        .map(|r| {
            (
                r["properties"]["tool_name"].as_str().unwrap(),
                r["properties"]["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("boxed", "async: after 20 ms"),
            ("local", "async: local"),
            ("job", "async: job"),
        ]
    );
    for r in &records {
        assert!(duration_ms(r) >= 20, "{records:?}");
    }
}
