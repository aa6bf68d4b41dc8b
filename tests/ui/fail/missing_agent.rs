use cli_telemetry::track_session;

#[track_session(id = "s-1")]
fn session() {}

fn main() {
    session();
}
