//! Helpers shared by the macro tests.

use serde_json::{Map, Value, json};

/// Keys whose values vary from run to run or machine to machine.
const VARYING: [&str; 6] = [
    "user_uuid",
    "version",
    "os",
    "os_language",
    "event_id",
    "duration_ms",
];

/// The records with only what the tracked function decides: `event` and the properties
/// without system keys and durations.
#[must_use]
pub fn normalize(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            assert_eq!(r["source"], "test");
            assert!(r["event_timestamp"].is_u64());
            let props: Map<String, Value> = r["properties"]
                .as_object()
                .expect("properties")
                .iter()
                .filter(|(k, _)| !VARYING.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json!({"event": r["event"], "properties": props})
        })
        .collect()
}

/// The record's `duration_ms`.
#[must_use]
pub fn duration_ms(record: &Value) -> u64 {
    record["properties"]["duration_ms"]
        .as_u64()
        .expect("duration_ms")
}
