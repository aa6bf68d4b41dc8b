use cli_telemetry::track_command;

#[track_command]
const fn answer() -> u32 {
    42
}

const ANSWER: u32 = answer();

fn main() {
    let _ = ANSWER;
}
