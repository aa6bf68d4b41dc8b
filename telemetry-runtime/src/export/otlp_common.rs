//! What every OTLP signal shares (logs today; traces and metrics write the same): the
//! resource, the instrumentation scope, and attributes (`KeyValue`, `AnyValue`) made from a
//! record's JSON values, written through [`otlp_wire`](super::otlp_wire) in either encoding.
//!
//! `opentelemetry/proto/common/v1/common.proto` and `resource/v1/resource.proto` are the
//! reference for every field here.

use super::OtlpProtocol;
use super::otlp_parse::{with_items, with_members};
use super::otlp_wire::{Field, JsonWire, ProtoWire, Str, Wire, field};

/// The scope's and `telemetry.sdk.name`'s name: the facade crate.
pub(crate) const SDK_NAME: &str = "cli-telemetry";
/// This crate's version (the workspace's: the facade's too).
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `Resource*.resource` and `Scope*.scope`: field 1 in every signal's messages.
pub(crate) const RESOURCE: Field = field!(1, "resource");
/// `Scope{Logs,Spans,Metrics}.scope`.
pub(crate) const SCOPE: Field = field!(1, "scope");
/// `Resource.attributes`.
const RESOURCE_ATTRIBUTES: Field = field!(1, "attributes");
/// `InstrumentationScope.name` and `.version`.
const SCOPE_NAME: Field = field!(1, "name");
const SCOPE_VERSION: Field = field!(2, "version");

/// `KeyValue.key` and `.value`.
pub(crate) const KEY: Field = field!(1, "key");
pub(crate) const VALUE: Field = field!(2, "value");
/// The members of `AnyValue`'s oneof.
pub(crate) const STRING_VALUE: Field = field!(1, "stringValue", oneof);
pub(crate) const BOOL_VALUE: Field = field!(2, "boolValue", oneof);
pub(crate) const INT_VALUE: Field = field!(3, "intValue", oneof);
pub(crate) const DOUBLE_VALUE: Field = field!(4, "doubleValue", oneof);
pub(crate) const ARRAY_VALUE: Field = field!(5, "arrayValue", oneof);
pub(crate) const KVLIST_VALUE: Field = field!(6, "kvlistValue", oneof);
/// `ArrayValue.values` and `KeyValueList.values`.
const VALUES: Field = field!(1, "values");

/// The resource of every request a client sends: string attributes, unique keys, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpResource {
    attributes: Vec<(String, String)>,
}

impl OtlpResource {
    /// `service.name`, `service.version`, `os.type`, `telemetry.sdk.{name,language,version}`,
    /// then `extra` (already capped and scrubbed): an extra key equal to one of those or to an
    /// earlier extra key is left out.
    pub(crate) fn new(
        service_name: &str,
        service_version: &str,
        extra: &[(String, String)],
    ) -> Self {
        let mut attributes: Vec<(String, String)> = [
            ("service.name", service_name),
            ("service.version", service_version),
            ("os.type", os_type(std::env::consts::OS)),
            ("telemetry.sdk.name", SDK_NAME),
            ("telemetry.sdk.language", "rust"),
            ("telemetry.sdk.version", SDK_VERSION),
        ]
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            if !attributes.iter().any(|(seen, _)| seen == k) {
                attributes.push((k.clone(), v.clone()));
            }
        }
        Self { attributes }
    }

    /// The attributes, in the order they are sent.
    pub(crate) fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }
}

/// The semantic conventions' `os.type` for a Rust `std::env::consts::OS`.
pub(crate) fn os_type(os: &str) -> &str {
    match os {
        "macos" | "ios" => "darwin",
        "dragonfly" => "dragonflybsd",
        other => other,
    }
}

/// What every request of one client repeats, written once in one protocol: the `resource`
/// field and the `scope` field (this crate), for [`Wire::piece`].
#[derive(Debug, Clone)]
pub(crate) struct Pieces {
    /// `resource` (field 1 of `Resource{Logs,Spans,Metrics}`).
    pub(crate) resource: Vec<u8>,
    /// `scope` (field 1 of `Scope{Logs,Spans,Metrics}`).
    pub(crate) scope: Vec<u8>,
}

impl Pieces {
    /// The pieces of `resource` in `protocol`.
    pub(crate) fn new(resource: &OtlpResource, protocol: OtlpProtocol) -> Self {
        match protocol {
            OtlpProtocol::Json => {
                let (mut r, mut s) = (JsonWire::fragment(), JsonWire::fragment());
                write_resource(&mut r, resource);
                write_scope(&mut s);
                Self {
                    resource: r.finish(),
                    scope: s.finish(),
                }
            }
            OtlpProtocol::Protobuf => {
                let (mut r, mut s) = (ProtoWire::new(256), ProtoWire::new(32));
                write_resource(&mut r, resource);
                write_scope(&mut s);
                Self {
                    resource: r.finish(),
                    scope: s.finish(),
                }
            }
        }
    }
}

/// The `resource` field: its attributes, all strings.
fn write_resource<W: Wire>(w: &mut W, resource: &OtlpResource) {
    let open = w.open(RESOURCE);
    w.list(RESOURCE_ATTRIBUTES);
    for (k, v) in resource.attributes() {
        let kv = w.open_item(RESOURCE_ATTRIBUTES, k.len() + v.len() + 8);
        w.string(KEY, Str::Text(k));
        let value = w.open(VALUE);
        w.string(STRING_VALUE, Str::Text(v));
        w.close(value);
        w.close(kv);
    }
    w.end_list();
    w.close(open);
}

/// The `scope` field: this crate's name and version.
fn write_scope<W: Wire>(w: &mut W) {
    let open = w.open(SCOPE);
    w.string(SCOPE_NAME, Str::Text(SDK_NAME));
    w.string(SCOPE_VERSION, Str::Text(SDK_VERSION));
    w.close(open);
}

/// The member of an `AnyValue` (already opened by the caller) for a record's JSON value
/// `text`: string, bool, integer (when it fits an int64), other numbers as a double, arrays
/// and objects recursively; `null` writes nothing (the empty `AnyValue`).
pub(crate) fn write_any_value<W: Wire>(w: &mut W, text: &str) {
    match text.as_bytes().first() {
        Some(b'"') => w.string(STRING_VALUE, Str::Json(text)),
        Some(b't') => w.boolean(BOOL_VALUE, true),
        Some(b'f') => w.boolean(BOOL_VALUE, false),
        Some(b'[') => {
            let array = w.open(ARRAY_VALUE);
            w.list(VALUES);
            with_items(text, |items| {
                for item in items {
                    let value = w.open_item(VALUES, item.len() + 4);
                    write_any_value(w, item);
                    w.close(value);
                }
            });
            w.end_list();
            w.close(array);
        }
        Some(b'{') => {
            let kvlist = w.open(KVLIST_VALUE);
            w.list(VALUES);
            with_members(text, |members, plain| {
                for &(k, v) in members {
                    let kv = w.open_item(VALUES, k.len() + v.len() + 8);
                    w.string(KEY, if plain { Str::Plain(k) } else { Str::Text(k) });
                    let value = w.open(VALUE);
                    write_any_value(w, v);
                    w.close(value);
                    w.close(kv);
                }
            });
            w.end_list();
            w.close(kvlist);
        }
        Some(b'-' | b'0'..=b'9') if is_int64(text) => w.int64_text(INT_VALUE, text),
        Some(b'-' | b'0'..=b'9') => w.double_text(DOUBLE_VALUE, text),
        _ => {}
    }
}

/// Whether a JSON number is an integer that fits an int64.
fn is_int64(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() < 19 || text.parse::<i64>().is_ok())
}
