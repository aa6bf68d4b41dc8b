//! A record's JSON text, written straight from an event's properties: the hot path of every
//! tracked call when telemetry is on.
//!
//! The text is byte for byte what `serde_json` writes for the record as a [`Value`] map
//! (keys in sorted order, the same escapes and number formats); a unit test in the client holds
//! it to a reference built that way. Writing it directly saves the map, its owned keys and
//! values, and a second pass: properties arrive sorted by key and are merged on the fly with
//! the client's [`Fixed`] ones (system properties and tags, serialized once per client).

mod event_id;
mod fixed;
mod json;
mod size;
mod writer;

use serde_json::Value;

pub(crate) use fixed::{Fixed, SystemProps};
pub(crate) use size::fit_record;
pub(crate) use writer::RecordWriter;

use crate::event::EventKind;

pub(crate) use event_id::{new_event_id, random_u128};
use size::PROPERTIES_BUDGET;
use writer::{MapWriter, TextWriter};

/// An event's properties, given to a writer: sorted by key, no system key, scrubbed.
pub(crate) trait Emit {
    /// Gives every property to `w`. Called once for the text, and a second time (for a map)
    /// when the record is too large: it must give the same properties both times.
    fn emit<W: RecordWriter>(&self, w: &mut W);
}

/// Writes a record: `emit` gives the event's properties to the writer; the fixed ones are
/// merged in. A record whose rough size passes the budget is written again the careful way:
/// its properties collected in a map and cut by [`fit_record`].
pub(crate) fn write(kind: EventKind, fixed: &Fixed, emit: &impl Emit) -> String {
    let mut id = uuid::Uuid::encode_buffer();
    let id: &str = new_event_id().hyphenated().encode_lower(&mut id);
    let mut w = TextWriter::new(kind, &fixed.props, id, fixed.capacity);
    emit.emit(&mut w);
    let (mut out, rough) = w.finish();
    if rough <= PROPERTIES_BUDGET {
        out.push_str(&fixed.tail);
        return out;
    }
    // Rare: too large.
    let mut map = MapWriter::default();
    emit.emit(&mut map);
    let mut map = map.0;
    let mut tags = Vec::new();
    for p in &fixed.props {
        if !(p.is_tag && map.contains_key(&p.key)) {
            map.insert(p.key.clone(), Value::from(p.value.as_deref().unwrap_or(id)));
            if p.is_tag {
                tags.push(p.key.as_str());
            }
        }
    }
    fit_record(&mut map, &tags);
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut w = TextWriter::new(kind, &[], id, fixed.capacity);
    for (k, v) in entries {
        w.json(k, v);
    }
    let (mut out, _) = w.finish();
    out.push_str(&fixed.tail);
    out
}

/// Parses a record the client wrote (always valid JSON).
pub(crate) fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or(Value::Null)
}
