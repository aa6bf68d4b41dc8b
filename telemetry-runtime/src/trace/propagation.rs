//! The W3C Trace Context of a parent process: `TRACEPARENT` and `TRACESTATE` in the
//! environment (the OpenTelemetry convention for environment carriers), parsed strictly, and
//! the `traceparent` value a child process is given.
//!
//! Invariants: a `traceparent` is accepted only when every field is valid (version not `ff`,
//! ids lowercase hex and not all zero, version `00` exactly 55 characters); a `tracestate` only
//! with a valid `traceparent`, and only whole: one malformed member drops all of it.

use super::{SpanContext, SpanId, TraceId};

/// Longest `tracestate` kept (W3C: at least 512 characters must be propagated).
pub(crate) const MAX_TRACESTATE_CHARS: usize = 512;
/// Most `tracestate` list members (W3C).
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// The parent process's span: this process's root spans are its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteParent {
    /// The parent's trace, span and sampled flag.
    pub(crate) cx: SpanContext,
    /// `TRACESTATE`, validated; carried by every span of this trace.
    pub(crate) state: Option<String>,
}

/// Parses a `traceparent` header value. `Err` says what is wrong, for verbose mode.
pub(crate) fn parse_traceparent(value: &str) -> Result<SpanContext, &'static str> {
    let v = value.trim();
    let fields: Vec<&str> = v.splitn(5, '-').collect();
    let [version, trace, span, flags, rest @ ..] = fields.as_slice() else {
        return Err("expected version-traceid-parentid-flags");
    };
    let hex2 = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| u8::from_str_radix(s, 16).ok())
            .flatten()
    };
    let version = hex2(version).ok_or("the version is not two lowercase hex digits")?;
    if version == 0xff {
        return Err("version ff is invalid");
    }
    if version == 0 && !rest.is_empty() {
        return Err("version 00 has exactly four fields");
    }
    let trace_id = TraceId::from_hex(trace)
        .ok_or("the trace id is not 32 lowercase hex digits, not all zero")?;
    let span_id = SpanId::from_hex(span)
        .ok_or("the parent id is not 16 lowercase hex digits, not all zero")?;
    let flags = hex2(flags).ok_or("the flags are not two lowercase hex digits")?;
    Ok(SpanContext {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// Formats a `traceparent` (version `00`) for `cx`.
pub(crate) fn format_traceparent(cx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{}",
        cx.trace_id.to_hex(),
        cx.span_id.to_hex(),
        if cx.sampled { "01" } else { "00" }
    )
}

/// Validates a `tracestate` value: comma-separated `key=value` members (empty members and
/// spaces around them ignored), at most 32, keys unique and of the W3C grammar, values of
/// printable ASCII without `,` and `=`, at most 512 characters in all. Returns the members
/// joined by `,`; `Err` says what is wrong.
pub(crate) fn parse_tracestate(value: &str) -> Result<Option<String>, &'static str> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for member in value.split(',').map(|m| m.trim_matches([' ', '\t'])) {
        if member.is_empty() {
            continue;
        }
        let (key, val) = member.split_once('=').ok_or("a member has no `=`")?;
        if !valid_key(key) {
            return Err("a key is not of the W3C grammar");
        }
        if !valid_value(val) {
            return Err("a value is not of the W3C grammar");
        }
        if members.iter().any(|(k, _)| *k == key) {
            return Err("a key appears twice");
        }
        members.push((key, val));
    }
    if members.len() > MAX_TRACESTATE_MEMBERS {
        return Err("more than 32 members");
    }
    let joined: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let joined = joined.join(",");
    if joined.len() > MAX_TRACESTATE_CHARS {
        return Err("longer than 512 characters");
    }
    Ok((!joined.is_empty()).then_some(joined))
}

/// `simple-key` or `tenant-id@system-id` (W3C Trace Context, level 1).
fn valid_key(key: &str) -> bool {
    let rest_ok = |s: &str| {
        s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    };
    match key.split_once('@') {
        None => {
            key.len() <= 256
                && key.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && rest_ok(key)
        }
        Some((tenant, system)) => {
            (1..=241).contains(&tenant.len())
                && tenant
                    .as_bytes()
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && rest_ok(tenant)
                && (1..=14).contains(&system.len())
                && system
                    .as_bytes()
                    .first()
                    .is_some_and(u8::is_ascii_lowercase)
                && rest_ok(system)
        }
    }
}

/// 1 to 256 printable ASCII characters but `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && !value.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn valid_traceparents_parse() {
        let cx = parse_traceparent(VALID).unwrap();
        assert_eq!(cx.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span_id.to_hex(), "00f067aa0ba902b7");
        assert!(cx.sampled);
        assert_eq!(format_traceparent(&cx), VALID);
        let unsampled = parse_traceparent(&VALID.replace("-01", "-00")).unwrap();
        assert!(!unsampled.sampled);
        assert!(format_traceparent(&unsampled).ends_with("-00"));
        // Flags other than `sampled` are kept out of what we propagate.
        assert!(
            parse_traceparent(&VALID.replace("-01", "-03"))
                .unwrap()
                .sampled
        );
        // A later version may carry more fields.
        assert!(parse_traceparent(&format!("cc{}-what-ever", &VALID[2..])).is_ok());
        assert!(parse_traceparent(&format!(" {VALID}\n")).is_ok());
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "garbage",
            &VALID.replace("00-", "ff-"),
            &VALID.to_uppercase(),
            &format!("{VALID}-extra"),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\u{0}",
        ] {
            assert!(parse_traceparent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tracestate_is_validated_whole() {
        assert_eq!(
            parse_tracestate(" congo=t61rcWkgMzE , rojo=00f067aa0ba902b7,,").unwrap(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7".to_owned())
        );
        assert_eq!(
            parse_tracestate("tenant1@vendor=x").unwrap(),
            Some("tenant1@vendor=x".to_owned())
        );
        assert_eq!(parse_tracestate(" , ").unwrap(), None);
        for bad in [
            "novalue",
            "Upper=x",
            "a=b,a=c",
            "a=b=c",
            "a=\u{7f}",
            "a=é",
            "@vendor=x",
            "t@Vendor=x",
        ] {
            assert!(parse_tracestate(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tracestate(&many.join(",")).is_err());
        let long: Vec<String> = (0..30)
            .map(|i| format!("k{i}={}", "v".repeat(20)))
            .collect();
        assert!(parse_tracestate(&long.join(",")).is_err());
    }
}
