// `future` on a function whose return type is, by its spelling, no future: one error.
use cli_telemetry::track_tool;

#[track_tool(future)]
fn count() -> u8 {
    1
}

#[track_tool(future)]
fn read() -> std::io::Result<String> {
    Ok(String::new())
}

fn main() {
    let _ = count();
    let _ = read();
}
