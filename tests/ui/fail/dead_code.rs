// An annotated function that is never used still gets rustc's `dead_code` warning.
#![deny(dead_code)]

use telemetry::track_command;

#[track_command]
fn unused() {}

fn main() {}
