// An annotated function that is never used still gets rustc's `dead_code` warning.
#![deny(dead_code)]

use cli_telemetry::track_command;

#[track_command]
fn unused() {}

fn main() {}
