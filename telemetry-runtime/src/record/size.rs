//! Fitting a record in [`MAX_RECORD_BYTES`]: a cheap upper bound first, then the exact
//! size only for records that might be too large. Tags go first, then the event's own strings
//! and arrays are cut shorter; system keys are never cut.

use serde_json::{Map, Value};

use crate::limits::{MAX_RECORD_BYTES, SYSTEM_KEYS};

/// Bytes of a record's properties, room for the envelope taken off [`MAX_RECORD_BYTES`].
pub(super) const PROPERTIES_BUDGET: usize = MAX_RECORD_BYTES - 256;

/// An upper bound of the JSON size of a value (every character escaped as `\uXXXX`).
pub(super) fn rough(v: &Value) -> usize {
    match v {
        Value::String(s) => rough_str(s),
        Value::Array(a) => a.iter().map(rough).sum::<usize>() + a.len() + 2,
        Value::Object(m) => {
            m.iter()
                .map(|(k, v)| rough_key(k) + rough(v))
                .sum::<usize>()
                + 2
        }
        _ => 24,
    }
}

pub(super) fn rough_str(s: &str) -> usize {
    s.len() * 6 + 2
}

pub(super) fn rough_key(key: &str) -> usize {
    key.len() * 6 + 3
}

/// Shrinks properties until the record fits in [`MAX_RECORD_BYTES`] (with room for the
/// envelope). `tags`: the keys of `props` that are the client's tags (an event's own property
/// of a tag's name is no tag).
///
/// What goes first is decoration: whole tags, the largest first, until the record fits. Only
/// then are the event's own strings cut shorter, then its arrays, round by round. System keys
/// are short by construction and never cut. Cheap for ordinary records: the exact size is only
/// computed when a quick upper bound says it might be too large.
pub(crate) fn fit_record(props: &mut Map<String, Value>, tags: &[&str]) {
    fn shrink(v: &mut Value, chars: usize, items: usize) {
        match v {
            Value::String(s) => {
                if let Some((i, _)) = s.char_indices().nth(chars) {
                    s.truncate(i);
                }
            }
            Value::Array(a) => {
                a.truncate(items);
                a.iter_mut().for_each(|v| shrink(v, chars, items));
            }
            Value::Object(m) => m.values_mut().for_each(|v| shrink(v, chars, items)),
            _ => {}
        }
    }
    let budget = PROPERTIES_BUDGET;
    let rough_size: usize = props.iter().map(|(k, v)| rough_key(k) + rough(v)).sum();
    if rough_size <= budget {
        return;
    }
    drop_tags(props, tags, budget);
    for (chars, items) in [(128, 16), (64, 8), (32, 4), (16, 2), (8, 1), (0, 0)] {
        if json_size(props) <= budget {
            return;
        }
        for (k, v) in props.iter_mut() {
            if !SYSTEM_KEYS.contains(&k.as_str()) {
                shrink(v, chars, items);
            }
        }
    }
    // Only keys are left: keep the system keys and the event's own action.
    if json_size(props) > budget {
        props.retain(|k, _| SYSTEM_KEYS.contains(&k.as_str()) || k == "action");
    }
}

/// The size of a value as JSON text.
fn json_size(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |b| b.len())
}

/// Removes whole tags, the largest first, until `props` fit in `budget` bytes (or no tag is
/// left). The size is kept by subtraction: an entry is its key, a colon, its value and a
/// comma (the system keys are always there, so no removed entry is the only one).
fn drop_tags(props: &mut Map<String, Value>, tags: &[&str], budget: usize) {
    let mut sized: Vec<(usize, &str)> = tags
        .iter()
        .filter_map(|&k| {
            Some((
                json_size(&k)
                    .saturating_add(json_size(props.get(k)?))
                    .saturating_add(2),
                k,
            ))
        })
        .collect();
    sized.sort_by_key(|&(bytes, _)| std::cmp::Reverse(bytes));
    let mut size = json_size(props);
    for (bytes, key) in sized {
        if size <= budget {
            return;
        }
        props.remove(key);
        size = size.saturating_sub(bytes);
    }
}
