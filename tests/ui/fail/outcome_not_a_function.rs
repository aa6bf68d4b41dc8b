// A wrong `outcome` is reported at the expression the user wrote.
use cli_telemetry::track_tool;

#[track_tool(outcome = "failure")]
fn tool() -> u8 {
    1
}

fn main() {
    let _ = tool();
}
