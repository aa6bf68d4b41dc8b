//! Helpers shared by the integration tests: clients wired to a real collector on 127.0.0.1,
//! and exact checks of the record envelope.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use telemetry_runtime::files::read_user_uuid;
use telemetry_runtime::limits::SYSTEM_KEYS;
use telemetry_runtime::{Client, ClientBuilder, Env};

/// The application name of every test client (the records' `source`).
pub const APP: &str = "testapp";
/// The application version of every test client.
pub const VERSION: &str = "1.2.3";

/// A builder sending to `endpoint`, with `dir` as config dir and an empty environment, so the
/// variables of the machine running the tests never matter.
pub fn builder(endpoint: &str, dir: &Path) -> ClientBuilder {
    Client::builder()
        .app(APP, VERSION)
        .endpoint(endpoint)
        .config_dir(dir)
        .env(Env::empty())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(d.as_millis()).unwrap()
}

/// Asserts `value` is a v4 UUID in hyphenated lower-case form and returns it.
pub fn assert_uuid_v4(value: &Value) -> String {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    let id = uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("not a UUID {s:?}: {e}"));
    assert_eq!(id.get_version_num(), 4, "{s}");
    assert_eq!(id.hyphenated().to_string(), s, "hyphenated lower case");
    s.to_owned()
}

/// What the envelope of a record must hold.
pub struct Envelope<'a> {
    /// `event`: `command`, `tool`, `token` or `session`.
    pub kind: &'a str,
    /// Expected `os_language`.
    pub os_language: &'a str,
    /// `event_timestamp` must lie within these bounds (inclusive).
    pub not_before: u64,
    /// Upper bound of `event_timestamp`.
    pub not_after: u64,
    /// When given, `user_uuid` must be the id persisted there.
    pub config_dir: Option<&'a Path>,
}

/// Checks the envelope and the system properties of `record` exactly, and returns the rest of
/// the properties (the event's own keys and the tags) for an exact comparison by the caller.
pub fn own_properties(record: &Value, expect: &Envelope<'_>) -> Value {
    let obj = record.as_object().expect("a record is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["event", "event_timestamp", "properties", "source"],
        "{record}"
    );
    assert_eq!(record["event"], expect.kind, "{record}");
    assert_eq!(record["source"], APP);
    let ts = record["event_timestamp"]
        .as_u64()
        .expect("event_timestamp is unix ms");
    assert!(
        (expect.not_before..=expect.not_after).contains(&ts),
        "event_timestamp {ts} not within {}..={}",
        expect.not_before,
        expect.not_after
    );
    let mut props: Map<String, Value> = record["properties"]
        .as_object()
        .expect("properties is an object")
        .clone();
    for key in SYSTEM_KEYS {
        assert!(props.contains_key(key), "missing {key} in {record}");
    }
    let user_uuid = assert_uuid_v4(&props["user_uuid"]);
    if let Some(dir) = expect.config_dir {
        assert_eq!(
            read_user_uuid(dir).as_deref(),
            Some(user_uuid.as_str()),
            "user_uuid is the persisted id"
        );
    }
    assert_uuid_v4(&props["event_id"]);
    assert_eq!(props["version"], VERSION);
    assert_eq!(props["os"], telemetry_runtime::config::go_os());
    assert_eq!(props["os_language"], expect.os_language);
    for key in SYSTEM_KEYS {
        props.remove(key);
    }
    Value::Object(props)
}

/// A buffer to pass to `ClientBuilder::debug_output`, and a way to read what was written.
#[derive(Clone, Default)]
pub struct DebugBuffer(Arc<Mutex<Vec<u8>>>);

impl DebugBuffer {
    /// The writer for `ClientBuilder::debug_output`.
    pub fn writer(&self) -> Arc<Mutex<dyn Write + Send>> {
        self.0.clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("debug output is UTF-8")
    }
}

/// The names of the entries of `dir` (empty when it does not exist), sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The records waiting in the outbox of `dir` (lines that are records; meta lines and
/// garbage are left out).
pub fn outbox_records(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join(telemetry_runtime::files::OUTBOX_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("event").is_some())
        .collect()
}

/// The value of the OTLP attribute `key` of a span or log record (JSON encoding), if any.
pub fn attr<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}
