//! The generated code is clean under `#![deny(warnings)]` and `clippy::pedantic`: this file is
//! compiled by `cargo test` and linted by `cargo clippy --all-targets`, with every kind of
//! function the macros expand differently (sync, unit, `async fn`, `#[async_trait]`, never
//! returning, `impl Trait`, stacked, with argument expressions, boxed futures by `future`,
//! `outcome = ..`, a type parameter as the return type).

#![deny(warnings, clippy::pedantic)]

use std::fmt;
use std::future::Future;

use cli_telemetry::{track_command, track_session, track_tool};

#[derive(Debug, PartialEq)]
struct Failure;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failure")
    }
}

impl std::error::Error for Failure {}

#[track_command]
fn unit() {}

#[track_command(name = "run", args = ["--all"])]
fn result(fail: bool) -> Result<u8, Failure> {
    if fail {
        return Err(Failure);
    }
    Ok(1)
}

#[track_tool(session = "s", agent = "a")]
fn tool(items: &[u32]) -> impl Iterator<Item = u32> + '_ {
    items.iter().map(|x| x + 1)
}

#[track_command]
#[track_session(agent = "root", id = id)]
fn stacked(id: &str) -> Result<usize, Failure> {
    if id.is_empty() {
        Err(Failure)
    } else {
        Ok(id.len())
    }
}

#[track_command]
fn never() -> ! {
    panic!("never returns")
}

#[track_tool]
async fn async_tool(n: u32) -> Result<u32, Failure> {
    if n == 0 {
        return Err(Failure);
    }
    Ok(n)
}

#[track_command]
async fn async_unit() {}

#[track_tool]
fn deferred(n: u8) -> impl Future<Output = Result<u8, Failure>> + Send {
    async move { if n == 0 { Err(Failure) } else { Ok(n) } }
}

#[async_trait::async_trait]
trait Tool {
    async fn call(&self) -> Result<u8, Failure>;
}

struct Echo;

#[async_trait::async_trait]
impl Tool for Echo {
    #[track_tool]
    async fn call(&self) -> Result<u8, Failure> {
        Ok(2)
    }
}

type Job = std::pin::Pin<Box<dyn Future<Output = Result<u8, Failure>> + Send>>;

#[track_tool(future)]
fn job(n: u8) -> Job {
    Box::pin(async move { if n == 0 { Err(Failure) } else { Ok(n) } })
}

#[track_tool(outcome = |n: &u8| if *n == 0 {
    cli_telemetry::Outcome::failure("zero")
} else {
    cli_telemetry::Outcome::Success
})]
fn stated(n: u8) -> u8 {
    n
}

#[track_tool]
fn generic<T>(value: T) -> T {
    value
}

#[test]
fn lint_clean_functions_run() {
    let (v, records) = cli_telemetry::testing::capture(|| {
        unit();
        let results = result(false).is_ok() && result(true).is_err();
        let sum: u32 = tool(&[1, 2]).sum();
        let len = stacked("abc");
        let tools = pollster::block_on(async {
            let deferred_ok = deferred(1).await.is_ok();
            (
                async_tool(0).await.is_err() && deferred_ok,
                Echo.call().await,
            )
        });
        pollster::block_on(async_unit());
        let panicked = std::panic::catch_unwind(|| never()).is_err();
        let more = (
            pollster::block_on(job(0)).is_err(),
            stated(0),
            generic(Err::<(), Failure>(Failure)).is_err(),
        );
        (results, sum, len.ok(), tools, panicked, more)
    });
    assert_eq!(v, (true, 5, Some(3), (true, Ok(2)), true, (true, 0, true)));
    assert_eq!(records.len(), 15);
    assert!(
        records[12..]
            .iter()
            .all(|r| r["properties"]["is_success"] == false)
    );
}
