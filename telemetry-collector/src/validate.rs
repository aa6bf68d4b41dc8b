//! The numbers of one record, checked before anything is stored: every number the
//! collector sums or windows by must be a finite, non-negative number within its bound
//! (`limits.rs`), and a record may be dated at most [`MAX_FUTURE_MS`] ahead of the server's
//! clock. A record outside them is skipped and counted, never stored, so the sums of the
//! rollups and the summary stay finite and every window ends at now.
//!
//! An absent or `null` field is fine (it counts as absent); any other type is a rejection.
//! Fractions of the integer fields are cut (`3.7` ms is stored as 3).

use serde_json::{Map, Value};

use crate::limits::{MAX_COST, MAX_COUNT, MAX_DROPPED, MAX_DURATION_MS, MAX_FUTURE_MS, MAX_TOKENS};

/// Why a record was skipped (counted, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

/// The integer properties and their upper bounds (the lower bound is 0).
const INTEGERS: &[(&str, i64)] = &[
    ("duration_ms", MAX_DURATION_MS),
    ("input_tokens", MAX_TOKENS),
    ("output_tokens", MAX_TOKENS),
    ("total_tokens", MAX_TOKENS),
    ("tool_calls", MAX_COUNT),
    ("error_count", MAX_COUNT),
    ("dropped_records", MAX_DROPPED),
];

/// Checks the numbers of a record (an object with an object `properties`); `now_ms` is the
/// server's clock.
///
/// ```
/// use serde_json::json;
/// use telemetry_collector::validate::numbers;
/// let ok = json!({"event": "token", "properties": {"input_tokens": 10, "cost": 0.5}});
/// assert!(numbers(ok.as_object().unwrap(), 0).is_ok());
/// let bad = json!({"event": "token", "properties": {"input_tokens": -1}});
/// assert!(numbers(bad.as_object().unwrap(), 0).unwrap_err().0.contains("input_tokens"));
/// ```
pub fn numbers(record: &Map<String, Value>, now_ms: i64) -> Result<(), Rejection> {
    if let Some(ts) = present(record.get("event_timestamp")) {
        let ms = whole("event_timestamp", ts)?;
        if ms < 0 {
            return Err(Rejection(format!("`event_timestamp` {ms} is before 1970")));
        }
        if ms > now_ms.saturating_add(MAX_FUTURE_MS) {
            return Err(Rejection(format!(
                "`event_timestamp` {ms} is more than 24 h ahead of the server's clock ({now_ms})"
            )));
        }
    }
    let Some(Value::Object(props)) = record.get("properties") else {
        return Ok(());
    };
    for &(key, max) in INTEGERS {
        if let Some(v) = present(props.get(key)) {
            let n = whole(key, v)?;
            if !(0..=max).contains(&n) {
                return Err(Rejection(format!(
                    "`properties.{key}` {n} is outside 0..={max}"
                )));
            }
        }
    }
    if let Some(v) = present(props.get("cost")) {
        let cost = v.as_f64().ok_or_else(|| not_a_number("cost"))?;
        if !cost.is_finite() || !(0.0..=MAX_COST).contains(&cost) {
            return Err(Rejection(format!(
                "`properties.cost` {cost} is outside 0..={MAX_COST}"
            )));
        }
    }
    Ok(())
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn not_a_number(key: &str) -> Rejection {
    Rejection(format!("`{key}` is not a number"))
}

/// A JSON number as a whole number, saturating at the `i64` range (fractions cut).
fn whole(key: &str, v: &Value) -> Result<i64, Rejection> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    if v.as_u64().is_some() {
        return Ok(i64::MAX);
    }
    match v.as_f64() {
        // `as` saturates; bounds are checked by the caller.
        Some(f) if f.is_finite() => Ok(f as i64),
        Some(_) | None => Err(not_a_number(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<(), Rejection> {
        let rec = json!({"event": "x", "event_timestamp": 1000, "properties": props});
        numbers(rec.as_object().unwrap(), 1000)
    }

    #[test]
    fn every_bound_holds_at_its_edge() {
        for &(key, max) in INTEGERS {
            assert!(check(json!({ key: max })).is_ok(), "{key}");
            assert!(check(json!({ key: 0 })).is_ok(), "{key}");
            assert!(check(json!({ key: max + 1 })).is_err(), "{key}");
            assert!(check(json!({ key: -1 })).is_err(), "{key}");
            assert!(check(json!({ key: u64::MAX })).is_err(), "{key}");
            assert!(check(json!({ key: "12" })).is_err(), "{key}");
            assert!(check(json!({ key: null })).is_ok(), "{key}");
        }
        assert!(check(json!({"cost": MAX_COST})).is_ok());
        for bad in [json!(-0.01), json!(1.7e308), json!("NaN"), json!(true)] {
            assert!(check(json!({ "cost": bad })).is_err(), "{bad}");
        }
        assert!(check(json!({"duration_ms": 3.7})).is_ok());
    }

    #[test]
    fn timestamps_may_not_be_far_ahead_or_before_1970() {
        let at = |ts: Value| numbers(json!({"event_timestamp": ts}).as_object().unwrap(), 5);
        assert!(at(json!(5 + MAX_FUTURE_MS)).is_ok());
        assert!(at(json!(6 + MAX_FUTURE_MS)).is_err());
        assert!(at(json!(253_402_300_799_000_i64)).is_err(), "year 9999");
        assert!(at(json!(-1)).is_err());
        assert!(at(json!("soon")).is_err());
        assert!(at(json!(null)).is_ok());
    }
}
