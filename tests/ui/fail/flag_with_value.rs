use cli_telemetry::track_tool;

#[track_tool(future = true)]
fn tool() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = tool();
}
