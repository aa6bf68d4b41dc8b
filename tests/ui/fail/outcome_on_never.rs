use cli_telemetry::track_command;

#[track_command(outcome = |_: &u8| cli_telemetry::Outcome::Success)]
fn forever() -> ! {
    loop {}
}

fn main() {
    forever();
}
