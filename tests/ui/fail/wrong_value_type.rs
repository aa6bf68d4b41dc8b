use cli_telemetry::track_command;

#[track_command(name = run)]
fn run() {}

fn main() {
    run();
}
