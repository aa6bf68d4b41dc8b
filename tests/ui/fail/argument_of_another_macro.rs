use cli_telemetry::track_command;

#[track_command(session = "s")]
fn run() {}

fn main() {
    run();
}
