use cli_telemetry::track_tool;

#[track_tool(crate = 42)]
fn tool() {}

fn main() {
    tool();
}
