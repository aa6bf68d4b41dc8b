//! The OTLP wire: one set of calls that writes a message either in protobuf (`proto`) or in
//! OTLP's JSON mapping (`json`), so each OTLP message (logs, traces, metrics) is mapped once and written twice. Plus gzip for request bodies (`gzip`).
//!
//! A message is written field by field, in the order the caller chooses, with [`Wire`]:
//! scalars with their [`Field`] (number and JSON name), embedded messages between
//! [`Wire::open`] and [`Wire::close`], repeated messages as [`Wire::list`], then one
//! [`Wire::open_item`]/[`Wire::close`] per item, then [`Wire::end_list`].
//!
//! Invariants:
//! - Both writers produce the same message from the same calls: a JSON body and a protobuf
//!   body decode (with the OpenTelemetry project's definitions) to equal messages. The tests
//!   check this for every body through Python `opentelemetry-proto`.
//! - JSON follows OTLP's JSON mapping: lowerCamelCase keys, 64-bit integers as decimal
//!   strings, enums as integers, trace and span ids as lowercase hex.
//! - Protobuf leaves out a scalar holding its type's default value unless the field has
//!   presence (a member of a oneof such as `AnyValue`'s), as every protobuf encoder does.
//! - Writing never fails and never panics; a caller can undo what it wrote since a
//!   [`Wire::len`] with [`Wire::truncate`].

mod gzip;
mod json;
mod proto;

pub(crate) use gzip::gzip;
pub(crate) use json::JsonWire;
#[cfg(test)]
pub(crate) use proto::varint as varint_for_tests;
pub(crate) use proto::{ProtoWire, Reader, Value as ProtoValue};

/// A field of an OTLP message: its number, its name in the JSON mapping, and whether it has
/// presence (see the module's invariants). Declare fields with [`field!`](crate::field).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The protobuf field number.
    pub(crate) number: u32,
    /// `"jsonName":`, as written before the value in JSON.
    pub(crate) key: &'static str,
    /// Whether protobuf writes the field even when it holds its type's default value.
    pub(crate) presence: bool,
}

/// A [`Field`] constant: `field!(1, "timeUnixNano")`, or `field!(1, "stringValue", oneof)`
/// for a member of a oneof.
macro_rules! field {
    ($number:literal, $json:literal) => {
        $crate::export::otlp_wire::Field {
            number: $number,
            key: concat!("\"", $json, "\":"),
            presence: false,
        }
    };
    ($number:literal, $json:literal, oneof) => {
        $crate::export::otlp_wire::Field {
            number: $number,
            key: concat!("\"", $json, "\":"),
            presence: true,
        }
    };
}
pub(crate) use field;

/// A string value, in the form the caller has it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Str<'a> {
    /// A JSON string literal, quotes included, without escapes (a constant such as
    /// `"\"INFO\""`): JSON copies it, protobuf its contents.
    Quoted(&'a str),
    /// A JSON string literal, quotes included, as read from a record (escapes possible):
    /// JSON copies it, protobuf decodes it.
    Json(&'a str),
    /// Text free of `"`, `\` and control characters: JSON string contents as it is.
    Plain(&'a str),
    /// Any text: escaped for JSON where needed.
    Text(&'a str),
}

/// Where an open embedded message starts; given back to [`Wire::close`].
#[derive(Debug, Clone, Copy)]
#[must_use = "an open message must be closed"]
pub(crate) struct Open {
    /// Protobuf: where the length prefix starts. JSON: unused.
    at: usize,
    /// Protobuf: how many bytes were reserved for the length prefix.
    reserved: u8,
}

/// The body of an OTLP/HTTP request, written field by field (see the module's docs).
pub(crate) trait Wire {
    /// Bytes written so far: a point to [`truncate`](Self::truncate) back to.
    fn len(&self) -> usize;
    /// Undoes everything written after `len` (a value [`len`](Self::len) returned, with no
    /// message opened since then still open).
    fn truncate(&mut self, len: usize);
    /// Opens an embedded message in the singular `field`.
    fn open(&mut self, field: Field) -> Open;
    /// Opens one item of the repeated message `field`, inside [`list`](Self::list).
    /// `size_hint` is the expected size of the item in bytes (it only saves a move).
    fn open_item(&mut self, field: Field, size_hint: usize) -> Open;
    /// Closes a message opened with [`open`](Self::open) or [`open_item`](Self::open_item).
    fn close(&mut self, open: Open);
    /// Starts the items of the repeated message `field` (JSON: an array; protobuf: nothing).
    fn list(&mut self, field: Field);
    /// Ends the items started by the last [`list`](Self::list).
    fn end_list(&mut self);
    /// A string.
    fn string(&mut self, field: Field, s: Str<'_>);
    /// A string made of `prefix` (plain text, see [`Str::Plain`]) followed by `s`.
    fn prefixed_string(&mut self, field: Field, prefix: &'static str, s: Str<'_>);
    /// A `fixed64` (times in nanoseconds): JSON writes a decimal string.
    fn fixed64(&mut self, field: Field, n: u64);
    /// An `int64` given as the decimal text of a number that fits one (JSON: a string).
    fn int64_text(&mut self, field: Field, text: &str);
    /// An `int64`: JSON writes a decimal string.
    fn int64(&mut self, field: Field, n: i64);
    /// An enum's number (JSON: a number).
    fn enumeration(&mut self, field: Field, n: u32);
    /// A `bool`.
    fn boolean(&mut self, field: Field, b: bool);
    /// A `double` given as the text of a JSON number: JSON copies it, protobuf parses it.
    fn double_text(&mut self, field: Field, text: &str);
    /// A `double`: JSON writes the shortest text that reads back as the same number
    /// (`"NaN"`, `"Infinity"`, `"-Infinity"` as the mapping writes those).
    fn double(&mut self, field: Field, x: f64);
    /// An `sfixed64` (JSON: a decimal string).
    fn sfixed64(&mut self, field: Field, n: i64);
    /// A packed `repeated fixed64` (JSON: an array of decimal strings); nothing when empty.
    fn packed_fixed64(&mut self, field: Field, items: &[u64]);
    /// A packed `repeated double` (JSON: an array of numbers); nothing when empty.
    fn packed_double(&mut self, field: Field, items: &[f64]);
    /// A trace or span id (`bytes`): JSON writes it in lowercase hex, as OTLP's JSON
    /// mapping requires for ids (not base64).
    #[allow(dead_code)] // Spans and log records with a trace context write ids.
    fn id(&mut self, field: Field, id: &[u8]);
    /// Fields written beforehand by a writer of the same kind ([`JsonWire::fragment`] or
    /// [`ProtoWire::new`], then `into_bytes`), as if their calls were made here: what every
    /// request repeats (the resource, the scope) is written once per exporter.
    fn piece(&mut self, piece: &[u8]);
}

#[cfg(test)]
mod tests;
