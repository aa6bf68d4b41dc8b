use cli_telemetry::track_tool;

#[track_tool]
pub struct Tool {
    pub name: String,
}

fn main() {
    let _ = Tool { name: String::new() };
}
