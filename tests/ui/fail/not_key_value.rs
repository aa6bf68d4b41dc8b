use cli_telemetry::track_command;

#[track_command(name)]
fn run() {}

fn main() {
    run();
}
