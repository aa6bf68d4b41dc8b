// `future` is for boxed futures; an `async fn`, or a function returning `()`, is no such thing.
use cli_telemetry::{track_command, track_tool};

#[track_tool(future)]
async fn tool() -> Result<(), String> {
    Ok(())
}

#[track_command(future)]
fn unit() {}

fn main() {
    let _ = tool();
    unit();
}
