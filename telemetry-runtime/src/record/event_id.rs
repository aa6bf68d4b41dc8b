//! Per-record `event_id`s: fresh v4 UUIDs without a system call per record.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

thread_local! {
    /// Per thread: a 128-bit key drawn from the operating system once (through std's
    /// `RandomState`, whose keys are), and a counter.
    static EVENT_IDS: Cell<(u128, u64)> = Cell::new((random_key(), 0));
}

fn random_key() -> u128 {
    let state = RandomState::new();
    (u128::from(state.hash_one(1_u8)) << 64) | u128::from(state.hash_one(2_u8))
}

/// A fresh random (version 4) UUID for a record's `event_id`, without a system call per
/// record. Each thread adds a counter to its random 128-bit key and mixes the sum with a
/// bijection (a three-round Feistel network over SplitMix64's finalizer): ids never repeat
/// within a thread, and two threads or processes, with independent random keys, draw from the
/// 2^128 values without any practical chance of meeting. That is all `event_id` is for (a
/// collector drops duplicates); nothing relies on it being unpredictable. (A process that
/// forks without exec continues the parent's sequence in the child.)
pub(crate) fn new_event_id() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(random_u128().to_be_bytes()).into_uuid()
}

/// 128 fresh bits from the per-thread generator of [`new_event_id`] (also the source of trace
/// and span ids): never the same twice within a thread, independent between threads and
/// processes.
pub(crate) fn random_u128() -> u128 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (key, n) = EVENT_IDS.with(|ids| {
        let (key, n) = ids.get();
        ids.set((key, n.wrapping_add(1)));
        (key, n)
    });
    let x = key.wrapping_add(u128::from(n));
    let (mut left, mut right) = ((x >> 64) as u64, x as u64);
    for round in [
        0x9e37_79b9_7f4a_7c15_u64,
        0x3c6e_f372_fe94_f82a,
        0xdaa6_6d2c_7ddf_743f,
    ] {
        (left, right) = (right, left ^ mix(right ^ round));
    }
    (u128::from(left) << 64) | u128::from(right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_fresh_v4_uuids() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = new_event_id();
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(id));
        }
        let other = std::thread::spawn(new_event_id).join().unwrap();
        assert!(seen.insert(other), "another thread draws other ids");
    }
}
