//! docker/cagent's wire format: `{"records": [record, ...]}`, the canonical records verbatim.

use serde_json::Value;

use super::{Answer, Encoded, Verdict, WireFormat};
use crate::limits::MAX_BODY_BYTES;

/// The cagent exporter: the body is exactly `{"records":[...]}`, nothing else at the top level.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cagent;

impl WireFormat for Cagent {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    /// Records are copied as they are, as many as fit in [`MAX_BODY_BYTES`]; a record that
    /// alone would not fit is left out and counted (`too_large`).
    fn encode_counted(&self, records: &[String], dropped: u64) -> Encoded {
        const HEAD: &str = "{\"records\":[";
        const TAIL: &str = "]}";
        let size = records.iter().map(|r| r.len() + 1).sum::<usize>() + 32;
        let mut body = String::with_capacity(size.min(MAX_BODY_BYTES));
        body.push_str(HEAD);
        let (mut written, mut too_large, mut taken) = (0_usize, 0_usize, 0_usize);
        for r in records {
            let mark = body.len();
            if written > 0 {
                body.push(',');
            }
            match (written, dropped) {
                (0, 1..) => body.push_str(&with_dropped(r, dropped)),
                _ => body.push_str(r),
            }
            if body.len() + TAIL.len() > MAX_BODY_BYTES {
                body.truncate(mark);
                if written > 0 {
                    break;
                }
                too_large += 1;
            } else {
                written += 1;
            }
            taken += 1;
        }
        body.push_str(TAIL);
        Encoded {
            body: body.into_bytes(),
            content_encoding: None,
            taken,
            skipped: 0,
            too_large,
            carried_dropped: dropped == 0 || written > 0,
        }
    }

    fn judge(&self, answer: &Answer<'_>) -> Verdict {
        match answer.status {
            200..=299 => Verdict::Delivered {
                rejected: 0,
                message: None,
            },
            s @ (429 | 500..=599) => Verdict::Retry {
                after: answer.retry_after,
                why: format!("collector answered {s}"),
            },
            s => Verdict::Refused {
                why: format!("collector refused them ({s})"),
            },
        }
    }
}

/// The record with a `dropped_records` property added (the line as it is if it is not an
/// object with properties: the count is then carried by the next batch).
fn with_dropped(line: &str, dropped: u64) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    match v.get_mut("properties").and_then(Value::as_object_mut) {
        Some(props) => {
            let dropped = crate::limits::clamp_count(dropped);
            props.insert("dropped_records".into(), Value::from(dropped));
            v.to_string()
        }
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_exactly_records_and_carries_drops_on_the_first_record() {
        let recs = vec![
            r#"{"event":"tool","properties":{"a":1}}"#.to_owned(),
            r#"{"event":"tool"}"#.to_owned(),
        ];
        assert_eq!(
            Cagent.encode(&recs, 0),
            br#"{"records":[{"event":"tool","properties":{"a":1}},{"event":"tool"}]}"#
        );
        let v: Value = serde_json::from_slice(&Cagent.encode(&recs, 7)).unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            1,
            "only `records` at the top level"
        );
        assert_eq!(v["records"][0]["properties"]["dropped_records"], 7);
        let v: Value = serde_json::from_slice(&Cagent.encode(&recs, u64::MAX)).unwrap();
        assert_eq!(
            v["records"][0]["properties"]["dropped_records"],
            i64::MAX,
            "every count fits an int64"
        );
        assert_eq!(v["records"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn answers() {
        let judge = |status| {
            Cagent.judge(&Answer {
                status,
                body: b"",
                retry_after: None,
                content_type: None,
            })
        };
        assert!(matches!(judge(200), Verdict::Delivered { rejected: 0, .. }));
        assert!(matches!(judge(429), Verdict::Retry { .. }));
        assert!(matches!(judge(503), Verdict::Retry { .. }));
        assert!(matches!(judge(400), Verdict::Refused { .. }));
    }
}
