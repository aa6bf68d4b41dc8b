// `outcome = ..` and `future` compile clean in a crate that denies warnings.
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use cli_telemetry::{Outcome, track_tool};

type Job = Pin<Box<dyn Future<Output = Result<u8, String>> + Send>>;

#[track_tool(future)]
fn job() -> Job {
    Box::pin(async { Err("job".to_owned()) })
}

#[track_tool(outcome = |n: &u8| if *n == 0 { Outcome::failure("zero") } else { Outcome::Success })]
fn count() -> u8 {
    0
}

fn main() {
    let (_, records) = cli_telemetry::testing::capture(|| {
        let _ = pollster::block_on(job());
        count()
    });
    assert_eq!(records[0]["properties"]["error"], "job");
    assert_eq!(records[1]["properties"]["error"], "zero");
}
