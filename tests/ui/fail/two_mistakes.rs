// Two mistakes, two errors, nothing more.
use cli_telemetry::track_tool;

#[track_tool(name = "a", nmae = "b", name = "c")]
fn tool() {}

fn main() {
    tool();
}
