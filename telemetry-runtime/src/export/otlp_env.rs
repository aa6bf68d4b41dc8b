//! The exporter's configuration from an [`Env`] snapshot: `TELEMETRY_EXPORTER` and the
//! OpenTelemetry exporter variables (`OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`). Pure functions: warnings are returned, never printed.

use std::time::Duration;

use super::otlp_common::OtlpResource;
use super::{OtlpCompression, OtlpProtocol};
use crate::config::{Env, MAX_TIMEOUT};
use crate::limits::{MAX_OTLP_HEADER_BYTES, MAX_OTLP_HEADERS, MAX_TAG_VALUE_CHARS, MAX_TAGS};

/// Resource attribute keys longer than this many characters are cut (as tag keys are).
const MAX_KEY_CHARS: usize = 64;

/// Resource keys the client sets itself; `OTEL_RESOURCE_ATTRIBUTES` never overrides them.
const RESERVED_KEYS: [&str; 6] = [
    "service.name",
    "service.version",
    "os.type",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
];

/// An OpenTelemetry signal. Each has its own `OTEL_EXPORTER_OTLP_<SIGNAL>_<SETTING>`
/// variables, which win over the general `OTEL_EXPORTER_OTLP_<SETTING>` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // Traces and metrics are read by the exporters that send them.
pub(crate) enum Signal {
    /// Logs (`/v1/logs`).
    Logs,
    /// Traces (`/v1/traces`).
    Traces,
    /// Metrics (`/v1/metrics`).
    Metrics,
}

impl Signal {
    /// The path appended to `OTEL_EXPORTER_OTLP_ENDPOINT`: `/v1/logs`, `/v1/traces`,
    /// `/v1/metrics`.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Logs => "/v1/logs",
            Self::Traces => "/v1/traces",
            Self::Metrics => "/v1/metrics",
        }
    }

    /// The signal's name in `OTEL_<SIGNAL>_EXPORTER` and in the status: `logs`, `traces`,
    /// `metrics`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Traces => "traces",
            Self::Metrics => "metrics",
        }
    }

    /// The signal's part of a variable's name: `LOGS`, `TRACES`, `METRICS`.
    pub(crate) fn var_part(self) -> &'static str {
        match self {
            Self::Logs => "LOGS",
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
        }
    }

    /// The variable that decides `setting` (`PROTOCOL`, `COMPRESSION`, ...) for this signal,
    /// and its trimmed value: `OTEL_EXPORTER_OTLP_<SIGNAL>_<setting>` when set to something,
    /// else `OTEL_EXPORTER_OTLP_<setting>`. Empty (or blank) values count as unset.
    pub(crate) fn var<'e>(self, env: &'e Env, setting: &str) -> Option<(String, &'e str)> {
        [
            format!("OTEL_EXPORTER_OTLP_{}_{setting}", self.var_part()),
            format!("OTEL_EXPORTER_OTLP_{setting}"),
        ]
        .into_iter()
        .find_map(|name| {
            let value = env.non_empty(&name)?.trim();
            (!value.is_empty()).then_some((name, value))
        })
    }
}

/// The protocol of `signal`: its variable (see [`Signal::var`]) when set, else `app` (the
/// builder's choice), else `http/protobuf`. `grpc` is not supported: records go over
/// `http/protobuf`, with a warning; any other value keeps what applies without the variable,
/// with a warning. Each warning names the variable.
pub(crate) fn otlp_protocol(
    env: &Env,
    signal: Signal,
    app: Option<OtlpProtocol>,
) -> (OtlpProtocol, Option<String>) {
    let fallback = app.unwrap_or_default();
    let Some((var, raw)) = signal.var(env, "PROTOCOL") else {
        return (fallback, None);
    };
    match raw.to_ascii_lowercase().as_str() {
        "http/protobuf" => (OtlpProtocol::Protobuf, None),
        "http/json" => (OtlpProtocol::Json, None),
        "grpc" => (
            OtlpProtocol::Protobuf,
            Some(format!(
                "{var}=grpc is not supported (only OTLP over HTTP); sending http/protobuf"
            )),
        ),
        _ => (
            fallback,
            Some(format!(
                "ignoring {var}={raw:?}: expected `http/protobuf` or `http/json`; using {}",
                fallback.as_str()
            )),
        ),
    }
}

/// The compression of `signal`: its variable (see [`Signal::var`]) when set, else `app`,
/// else none. Any value but `gzip` or `none` keeps what applies without the variable, with
/// a warning naming the variable.
pub(crate) fn otlp_compression(
    env: &Env,
    signal: Signal,
    app: Option<OtlpCompression>,
) -> (OtlpCompression, Option<String>) {
    let fallback = app.unwrap_or_default();
    let Some((var, raw)) = signal.var(env, "COMPRESSION") else {
        return (fallback, None);
    };
    match raw.to_ascii_lowercase().as_str() {
        "gzip" => (OtlpCompression::Gzip, None),
        "none" => (OtlpCompression::None, None),
        _ => (
            fallback,
            Some(format!(
                "ignoring {var}={raw:?}: expected `gzip` or `none`; using {}",
                fallback.as_str()
            )),
        ),
    }
}

/// The endpoint of `signal` from the OpenTelemetry variables, per the OTLP exporter
/// specification, with the variable it came from: `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as
/// given; else `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/<signal>` appended to its path. `None`
/// when neither is set (empty counts as unset): the signal is off.
pub(crate) fn otlp_endpoint(env: &Env, signal: Signal) -> Option<(String, String)> {
    const BASE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let own = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.var_part());
    if let Some(url) = env.non_empty(&own) {
        return Some((url.trim().to_owned(), own));
    }
    let base = env.non_empty(BASE)?.trim();
    let path = signal.path();
    Some((
        format!("{}{path}", base.trim_end_matches('/')),
        BASE.to_owned(),
    ))
}

/// Header names the transport sets itself, which frame the request or choose where it goes:
/// one from the environment could cut, re-frame or misdirect the body (`Content-Length: 0`
/// made a collector store an empty request and answer 200).
const FRAMING_HEADERS: [&str; 11] = [
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "content-type",
    "content-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "expect",
];

/// Headers from `OTEL_EXPORTER_OTLP_HEADERS` then `OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`
/// (`k=v,...`, values percent-decoded; a signal's header replaces a general one of the same
/// name, any case).
/// Pairs without `=`, with a name that is not an HTTP token, or with a value that does not
/// decode to a valid header value are skipped, with one warning per variable. Framing names
/// ([`FRAMING_HEADERS`]: `Content-Length`, `Transfer-Encoding`, `Host`, `Connection`,
/// `Content-Type`, `Content-Encoding` ..., any case) are refused, with one warning; of the
/// rest, at most [`MAX_OTLP_HEADERS`] headers and [`MAX_OTLP_HEADER_BYTES`] of names and
/// values are kept, in order, with one warning for what is left out.
pub(crate) fn otlp_headers(env: &Env, signal: Signal) -> (Vec<(String, String)>, Vec<String>) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
        format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.var_part()),
    ] {
        let Some(raw) = env.non_empty(&var) else {
            continue;
        };
        let mut bad = 0;
        for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
            match header_pair(pair) {
                Some((k, _)) if is_framing(&k) => {
                    if !refused.iter().any(|r| r.eq_ignore_ascii_case(&k)) {
                        refused.push(k);
                    }
                }
                Some((k, v)) => {
                    match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&k)) {
                        Some(h) => *h = (k, v),
                        None => headers.push((k, v)),
                    }
                }
                None => bad += 1,
            }
        }
        if bad > 0 {
            warnings.push(format!(
                "{var}: skipped {bad} malformed header(s) (expected `name=value,...`)"
            ));
        }
    }
    if !refused.is_empty() {
        warnings.push(format!(
            "OTEL_EXPORTER_OTLP_HEADERS: refused {} (set by the client itself; never taken \
             from the environment)",
            refused.join(", ")
        ));
    }
    let dropped = cap_headers(&mut headers);
    if dropped > 0 {
        warnings.push(format!(
            "OTEL_EXPORTER_OTLP_HEADERS: left out {dropped} header(s) beyond {MAX_OTLP_HEADERS} \
             headers or {MAX_OTLP_HEADER_BYTES} bytes of names and values"
        ));
    }
    (headers, warnings)
}

/// Whether `name` is one of [`FRAMING_HEADERS`] (any case).
fn is_framing(name: &str) -> bool {
    FRAMING_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// Keeps the first headers within [`MAX_OTLP_HEADERS`] and [`MAX_OTLP_HEADER_BYTES`];
/// returns how many were left out.
fn cap_headers(headers: &mut Vec<(String, String)>) -> usize {
    let mut bytes = 0_usize;
    let before = headers.len();
    let mut kept = 0;
    headers.retain(|(k, v)| {
        let size = k.len() + v.len();
        let fits = kept < MAX_OTLP_HEADERS && bytes + size <= MAX_OTLP_HEADER_BYTES;
        if fits {
            kept += 1;
            bytes += size;
        }
        fits
    });
    before - headers.len()
}

fn header_pair(pair: &str) -> Option<(String, String)> {
    let (k, v) = pair.split_once('=')?;
    let k = k.trim();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if k.is_empty() || !k.bytes().all(is_token) {
        return None;
    }
    let v = percent_decode(v.trim())?;
    let v = v.trim();
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    Some((k.to_owned(), v.to_owned()))
}

/// The request timeout of `signal`: `OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds, with the variable it came from. `None` when neither is set, or (with a
/// warning) for a value that is not a whole number of milliseconds above zero: the client's
/// own timeout applies (zero would mean waiting forever). A value above [`MAX_TIMEOUT`] is
/// cut to it, with a warning.
pub(crate) fn otlp_timeout(
    env: &Env,
    signal: Signal,
) -> (Option<(Duration, String)>, Option<String>) {
    let var = [
        format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.var_part()),
        "OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(),
    ]
    .into_iter()
    .find(|v| env.non_empty(v).is_some());
    let Some(var) = var else {
        return (None, None);
    };
    let raw = env.non_empty(&var).unwrap_or_default();
    let max_ms = MAX_TIMEOUT.as_millis();
    let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(ms) if ms > 0 && u128::from(ms) <= max_ms => {
            (Some((Duration::from_millis(ms), var)), None)
        }
        // Digits only, above the cap (however many: `u64` or not).
        _ if digits && !raw.trim_start_matches('0').is_empty() => {
            let warning =
                format!("{var}: `{raw}` ms is above the {max_ms} ms cap; using {max_ms} ms");
            (Some((MAX_TIMEOUT, var)), Some(warning))
        }
        _ => (
            None,
            Some(format!(
                "{var}: {raw:?} is not a timeout in milliseconds above 0; using the default"
            )),
        ),
    }
}

/// The resource of the operator's stream: `service.name` is `OTEL_SERVICE_NAME` or
/// `app_name`, `service.version` is `app_version`, plus `OTEL_RESOURCE_ATTRIBUTES` (`k=v,...`,
/// keys and values percent-decoded). They are the operator's own values for the operator's
/// own backend: sent as given, not scrubbed, only capped like `TELEMETRY_TAGS` (at most
/// [`MAX_TAGS`] pairs, keys at 64 and values at [`MAX_TAG_VALUE_CHARS`] characters, a later
/// duplicate replacing an earlier one; the keys the client sets itself are ignored).
/// Malformed pairs are skipped with one warning. The usage stream never reads them.
pub(crate) fn otlp_resource(
    env: &Env,
    app_name: &str,
    app_version: &str,
) -> (OtlpResource, Vec<String>) {
    let service = env
        .non_empty("OTEL_SERVICE_NAME")
        .map_or_else(|| app_name.to_owned(), |s| cap(s.trim()));
    let (extra, bad) = env
        .non_empty("OTEL_RESOURCE_ATTRIBUTES")
        .map_or_else(Default::default, resource_pairs);
    let mut warnings = Vec::new();
    if bad > 0 {
        warnings.push(format!(
            "OTEL_RESOURCE_ATTRIBUTES: skipped {bad} malformed pair(s) (expected `key=value,...`)"
        ));
    }
    (OtlpResource::new(&service, app_version, &extra), warnings)
}

/// The capped pairs of `OTEL_RESOURCE_ATTRIBUTES` and how many were malformed.
fn resource_pairs(raw: &str) -> (Vec<(String, String)>, usize) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut bad = 0;
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let decoded = pair.split_once('=').and_then(|(k, v)| {
            let k = percent_decode(k.trim())?.trim().to_owned();
            let v = percent_decode(v.trim())?.trim().to_owned();
            (!k.is_empty()).then_some((k, v))
        });
        let Some((k, v)) = decoded else {
            bad += 1;
            continue;
        };
        if RESERVED_KEYS.contains(&k.as_str()) {
            continue;
        }
        let (k, v): (String, String) = (k.chars().take(MAX_KEY_CHARS).collect(), cap(&v));
        if let Some(p) = pairs.iter_mut().find(|(seen, _)| *seen == k) {
            p.1 = v;
        } else if pairs.len() < MAX_TAGS {
            pairs.push((k, v));
        }
    }
    (pairs, bad)
}

fn cap(v: &str) -> String {
    v.chars().take(MAX_TAG_VALUE_CHARS).collect()
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
