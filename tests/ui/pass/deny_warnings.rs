// The expansion adds no warning of its own, in a crate that denies them all.
#![deny(warnings)]

use cli_telemetry::{track_command, track_session, track_tool};

#[track_command]
fn unit() {}

#[track_tool(name = "t", session = "s", agent = "a")]
fn tool(x: &mut Vec<u8>) -> &mut u8 {
    x.push(1);
    &mut x[0]
}

#[track_session(agent = "root")]
async fn session() -> Result<(), std::fmt::Error> {
    Ok(())
}

#[track_command]
fn diverges() -> u32 {
    todo!()
}

#[track_command]
extern "C" fn extern_c() -> i32 {
    0
}

fn main() {
    std::panic::set_hook(Box::new(|_| {})); // the `todo!()` below panics on purpose
    let (_, records) = cli_telemetry::testing::capture(|| {
        unit();
        *tool(&mut Vec::new()) += 1;
        let _ = pollster::block_on(session());
        let _ = extern_c();
        let _ = std::panic::catch_unwind(diverges);
    });
    assert_eq!(records.len(), 6);
}
