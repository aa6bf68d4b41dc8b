use cli_telemetry::track_command;

#[track_command(nmae = "run")]
fn run() {}

fn main() {
    run();
}
