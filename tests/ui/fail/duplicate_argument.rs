use cli_telemetry::track_tool;

#[track_tool(name = "a", name = "b")]
fn tool() {}

fn main() {
    tool();
}
