use cli_telemetry::track_command;

#[track_command(verbose)]
fn run() {}

fn main() {
    run();
}
