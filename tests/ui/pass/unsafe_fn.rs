// `unsafe fn` keeps its unsafety; the body still needs its own `unsafe` blocks (edition 2024).
use cli_telemetry::track_command;

/// Reads the byte `p` points at.
///
/// # Safety
/// `p` must be valid for reads.
#[track_command]
unsafe fn read(p: *const u8) -> u8 {
    unsafe { *p }
}

fn main() {
    let x = 7_u8;
    let (v, records) = cli_telemetry::testing::capture(|| unsafe { read(&raw const x) });
    assert_eq!(v, 7);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["properties"]["action"], "read");
    assert_eq!(records[0]["properties"]["is_success"], true);
}
