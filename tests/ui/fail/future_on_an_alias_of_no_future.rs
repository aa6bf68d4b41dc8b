// `future` on a function returning an alias of something that is no future: the macro cannot
// see through the alias, the compiler says it once.
use cli_telemetry::track_tool;

type Job = u8;

#[track_tool(future)]
fn job() -> Job {
    1
}

fn main() {
    let _ = job();
}
