//! The series, written as the metrics record(s) of one report: scrubbed, merged, within the
//! record cap.
//!
//! A metrics record is a canonical record of the operator's stream, kept in its metrics
//! outbox like any other and encoded at send time (`export::otlp_metrics`):
//!
//! ```text
//! {"event":"metrics","event_timestamp":MS,"source":"app","properties":{"event_id":"<uuid>",
//!  "start_time_unix_nano":N,"time_unix_nano":N,"temporality":"delta","metrics":[
//!   {"name":"gen_ai.client.token.usage","description":"..","unit":"{token}",
//!    "kind":"histogram","bounds":[1.0,4.0,..],"points":[{"attributes":{"k":"v",..},
//!    "count":N,"sum":X,"min":X,"max":X,"buckets":[N,..]}]},
//!   {"name":"cli_telemetry.cost",..,"kind":"sum","value_type":"double",
//!    "points":[{"attributes":{..},"value":X}]}]}}
//! ```
//!
//! Invariants: every string of an attribute passed the scrubber here; two series whose
//! attributes scrub to the same set are one point (their aggregates merged), so a metric
//! never has two points of one attribute set; a record's line is at most
//! [`MAX_RECORD_BYTES`]: a report that would be longer is split into several records, each
//! with its own `event_id`, each point in exactly one of them.

use std::collections::BTreeMap;

use super::Temporality;
use super::instruments::{Instrument, Kind};
use super::series::{Aggregate, ErrorType, Series, Store};
use crate::limits::MAX_RECORD_BYTES;
use crate::record::new_event_id;

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Str(String),
    Bool(bool),
}

/// One point's attributes, in the order they are written.
type AttrList = Vec<(&'static str, Val)>;

/// The time window and temporality of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// `StartTimeUnixNano` of every point.
    pub(crate) start_ns: u64,
    /// `TimeUnixNano` of every point.
    pub(crate) time_ns: u64,
    pub(crate) temporality: Temporality,
}

/// The attributes of a series, its strings scrubbed.
fn attributes(series: &Series, scrub: &dyn Fn(&str) -> String) -> AttrList {
    let (a, b, flag) = (&*series.attrs.a, &*series.attrs.b, series.attrs.flag);
    let mut out: AttrList = Vec::with_capacity(5);
    let text = |out: &mut AttrList, key: &'static str, s: &str, always: bool| {
        if always || !s.is_empty() {
            out.push((key, Val::Str(scrub(s))));
        }
    };
    let error = |out: &mut AttrList| {
        if let Some(t) = error_type(flag).as_str() {
            out.push(("error.type", Val::Str(t.to_owned())));
        }
    };
    match series.instrument {
        Instrument::TokenUsage | Instrument::OperationDuration => {
            out.push(("gen_ai.operation.name", Val::Str("chat".into())));
            text(&mut out, "gen_ai.provider.name", a, false);
            text(&mut out, "gen_ai.request.model", b, false);
            if series.instrument == Instrument::TokenUsage {
                let kind = if flag == 0 { "input" } else { "output" };
                out.push(("gen_ai.token.type", Val::Str(kind.into())));
            } else {
                error(&mut out);
            }
        }
        Instrument::ToolDuration => {
            text(&mut out, "gen_ai.tool.name", a, true);
            out.push(("gen_ai.tool.type", Val::Str("function".into())));
            text(&mut out, "gen_ai.agent.name", b, false);
            error(&mut out);
        }
        Instrument::CommandDuration => {
            text(&mut out, "cli_telemetry.action", a, true);
            error(&mut out);
        }
        Instrument::Cost => {
            text(&mut out, "gen_ai.provider.name", a, false);
            text(&mut out, "gen_ai.request.model", b, false);
        }
        Instrument::SessionCount => {
            text(&mut out, "gen_ai.agent.name", a, false);
            out.push(("cli_telemetry.is_success", Val::Bool(flag != 0)));
        }
    }
    out
}

/// The error type a series' flag holds (see `Metrics::measure`).
fn error_type(flag: u8) -> ErrorType {
    match flag {
        1 => ErrorType::Other,
        2 => ErrorType::Panic,
        3 => ErrorType::Cancelled,
        _ => ErrorType::None,
    }
}

/// The flag of an error type (the inverse of [`error_type`]).
pub(crate) fn error_flag(e: ErrorType) -> u8 {
    match e {
        ErrorType::None => 0,
        ErrorType::Other => 1,
        ErrorType::Panic => 2,
        ErrorType::Cancelled => 3,
    }
}

/// The points of every instrument: scrubbed attribute sets, merged, sorted.
fn points(
    store: &Store,
    scrub: &dyn Fn(&str) -> String,
) -> BTreeMap<Instrument, Vec<(AttrList, Aggregate)>> {
    let mut merged: BTreeMap<(Instrument, AttrList), Aggregate> = BTreeMap::new();
    for series in store.series() {
        let key = (series.instrument, attributes(series, scrub));
        match merged.get_mut(&key) {
            Some(agg) => agg.merge(&series.value),
            None => {
                merged.insert(key, series.value.clone());
            }
        }
    }
    for instrument in Instrument::ALL {
        if let Some(agg) = store.overflow(instrument) {
            let key = (instrument, vec![("otel.metric.overflow", Val::Bool(true))]);
            merged.insert(key, agg.clone());
        }
    }
    let mut out: BTreeMap<Instrument, Vec<(AttrList, Aggregate)>> = BTreeMap::new();
    for ((instrument, attrs), agg) in merged {
        out.entry(instrument).or_default().push((attrs, agg));
    }
    out
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A JSON number for a double (finite: sums are held to `f64::MAX`).
fn json_f64(x: f64) -> String {
    let x = if x.is_nan() {
        0.0
    } else {
        x.clamp(-f64::MAX, f64::MAX)
    };
    serde_json::Value::from(x).to_string()
}

/// One point's JSON object.
fn point_json(attrs: &AttrList, agg: &Aggregate) -> String {
    let mut s = String::from("{\"attributes\":{");
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&json_str(k));
        s.push(':');
        match v {
            Val::Str(t) => s.push_str(&json_str(t)),
            Val::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        }
    }
    s.push('}');
    match agg {
        Aggregate::Histogram(h) => {
            let buckets: Vec<String> = h.buckets.iter().map(u64::to_string).collect();
            s.push_str(&format!(
                ",\"count\":{},\"sum\":{},\"min\":{},\"max\":{},\"buckets\":[{}]}}",
                h.count,
                json_f64(h.sum),
                json_f64(h.min),
                json_f64(h.max),
                buckets.join(",")
            ));
        }
        Aggregate::Double(x) => s.push_str(&format!(",\"value\":{}}}", json_f64(*x))),
        Aggregate::Int(n) => {
            s.push_str(&format!(",\"value\":{}}}", crate::limits::clamp_count(*n)))
        }
    }
    s
}

/// A metric's JSON up to its first point (`..."points":[`).
fn metric_head(instrument: Instrument) -> String {
    let mut s = format!(
        "{{\"name\":{},\"description\":{},\"unit\":{},",
        json_str(instrument.name()),
        json_str(instrument.description()),
        json_str(instrument.unit())
    );
    match instrument.kind() {
        Kind::Histogram(bounds) => {
            let b: Vec<String> = bounds.iter().map(|&x| json_f64(x)).collect();
            s.push_str(&format!(
                "\"kind\":\"histogram\",\"bounds\":[{}],",
                b.join(",")
            ));
        }
        Kind::SumDouble => s.push_str("\"kind\":\"sum\",\"value_type\":\"double\","),
        Kind::SumInt => s.push_str("\"kind\":\"sum\",\"value_type\":\"int\","),
    }
    s.push_str("\"points\":[");
    s
}

/// The metrics record(s) of `store` for one report; none when it holds no series.
pub(crate) fn records(
    store: &Store,
    scrub: &dyn Fn(&str) -> String,
    source: &str,
    window: Window,
) -> Vec<String> {
    let mut packer = Packer::new(source, window);
    for (instrument, points) in points(store, scrub) {
        let head = metric_head(instrument);
        for (attrs, agg) in &points {
            packer.point(&head, &point_json(attrs, agg));
        }
        packer.end_metric();
    }
    packer.finish()
}

/// Packs metrics and points into records of at most [`MAX_RECORD_BYTES`].
struct Packer<'a> {
    source: &'a str,
    window: Window,
    done: Vec<String>,
    /// The record being written, when one is open.
    open: Option<String>,
    /// Whether the record being written has a metric open, and whether it has points.
    in_metric: bool,
    points: bool,
}

/// What closes a metric (`]}`) and a record (`]}}`).
const CLOSING: usize = 5;

impl<'a> Packer<'a> {
    fn new(source: &'a str, window: Window) -> Self {
        Self {
            source,
            window,
            done: Vec::new(),
            open: None,
            in_metric: false,
            points: false,
        }
    }

    /// A new record's text up to its metrics array (`..."metrics":[`).
    fn record_head(&self) -> String {
        let temporality = match self.window.temporality {
            Temporality::Delta => "delta",
            Temporality::Cumulative => "cumulative",
        };
        format!(
            "{{\"event\":\"metrics\",\"event_timestamp\":{},\"source\":{},\"properties\":{{\
             \"event_id\":\"{}\",\"start_time_unix_nano\":{},\"time_unix_nano\":{},\
             \"temporality\":\"{temporality}\",\"metrics\":[",
            self.window.time_ns / 1_000_000,
            json_str(self.source),
            new_event_id(),
            self.window.start_ns,
            self.window.time_ns,
        )
    }

    /// Adds one point of the metric `head` opens.
    fn point(&mut self, head: &str, point: &str) {
        let need = |rec: &str, in_metric: bool| {
            let opening = if in_metric { 1 } else { head.len() + 1 };
            rec.len() + opening + point.len() + CLOSING
        };
        if let Some(rec) = &self.open
            && self.points
            && need(rec, self.in_metric) > MAX_RECORD_BYTES
        {
            self.close_record();
        }
        let rec = match self.open.take() {
            Some(rec) => rec,
            None => {
                self.in_metric = false;
                self.points = false;
                self.record_head()
            }
        };
        let mut rec = rec;
        if self.in_metric {
            rec.push(',');
        } else {
            if !rec.ends_with('[') {
                rec.push(',');
            }
            rec.push_str(head);
            self.in_metric = true;
        }
        rec.push_str(point);
        self.points = true;
        self.open = Some(rec);
    }

    /// Ends the metric being written (its next point, if any, opens it again).
    fn end_metric(&mut self) {
        if self.in_metric
            && let Some(rec) = &mut self.open
        {
            rec.push_str("]}");
        }
        self.in_metric = false;
    }

    fn close_record(&mut self) {
        self.end_metric();
        if let Some(mut rec) = self.open.take() {
            rec.push_str("]}}");
            self.done.push(rec);
        }
        self.points = false;
    }

    fn finish(mut self) -> Vec<String> {
        self.close_record();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::Attrs;
    use serde_json::Value;

    fn window() -> Window {
        Window {
            start_ns: 1_700_000_000_000_000_000,
            time_ns: 1_700_000_001_500_000_000,
            temporality: Temporality::Delta,
        }
    }

    fn upper(s: &str) -> String {
        s.replace("secret", "<redacted>")
    }

    #[test]
    fn series_that_scrub_alike_are_one_point_and_every_string_is_scrubbed() {
        let mut store = Store::default();
        let a = |a, b, flag| Attrs { a, b, flag };
        store.record(Instrument::ToolDuration, a("read secret", "root", 0), 0.5);
        store.record(Instrument::ToolDuration, a("read secret", "root", 0), 0.25);
        store.record(Instrument::ToolDuration, a("read secret", "root", 1), 0.25);
        store.record(Instrument::SessionCount, a("", "", 1), 1.0);
        let lines = records(&store, &upper, "my \"app\"", window());
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains("secret"), "{}", lines[0]);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["event"], "metrics");
        assert_eq!(v["source"], "my \"app\"");
        assert_eq!(v["event_timestamp"], 1_700_000_001_500_u64);
        let p = &v["properties"];
        assert_eq!(p["start_time_unix_nano"], 1_700_000_000_000_000_000_u64);
        assert_eq!(p["temporality"], "delta");
        let metrics = p["metrics"].as_array().unwrap();
        let names: Vec<&str> = metrics
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "gen_ai.execute_tool.duration",
                "cli_telemetry.session.count"
            ]
        );
        let tool = &metrics[0]["points"];
        assert_eq!(tool.as_array().unwrap().len(), 2);
        assert_eq!(tool[0]["attributes"]["gen_ai.tool.name"], "read <redacted>");
        assert_eq!(tool[0]["count"], 2);
        assert_eq!(tool[0]["sum"], 0.75);
        assert_eq!(tool[1]["attributes"]["error.type"], "_OTHER");
        let session = &metrics[1]["points"][0];
        assert_eq!(session["attributes"]["cli_telemetry.is_success"], true);
        assert!(session["attributes"].get("gen_ai.agent.name").is_none());
        assert_eq!(session["value"], 1);
    }

    #[test]
    fn a_large_report_is_split_into_records_within_the_cap_with_every_point_once() {
        let mut store = Store::default();
        let names: Vec<String> = (0..90)
            .map(|i| format!("tool-{i:03}-{}", "x".repeat(80)))
            .collect();
        for (i, n) in names.iter().enumerate() {
            let attrs = Attrs {
                a: n,
                b: "agent",
                flag: 0,
            };
            store.record(Instrument::ToolDuration, attrs, i as f64);
            store.record(Instrument::CommandDuration, attrs, 1.0);
        }
        let lines = records(&store, &|s: &str| s.to_owned(), "app", window());
        assert!(lines.len() > 2, "{}", lines.len());
        let mut ids = std::collections::HashSet::new();
        let mut seen = Vec::new();
        for line in &lines {
            assert!(line.len() <= MAX_RECORD_BYTES, "{}", line.len());
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(ids.insert(v["properties"]["event_id"].as_str().unwrap().to_owned()));
            for m in v["properties"]["metrics"].as_array().unwrap() {
                for p in m["points"].as_array().unwrap() {
                    let key = ["gen_ai.tool.name", "cli_telemetry.action"]
                        .iter()
                        .find_map(|k| p["attributes"][k].as_str())
                        .unwrap();
                    seen.push((m["name"].as_str().unwrap().to_owned(), key.to_owned()));
                }
            }
        }
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), before, "a point written twice");
        assert_eq!(seen.len(), 180);
    }

    #[test]
    fn nothing_recorded_is_no_record() {
        assert!(records(&Store::default(), &|s: &str| s.to_owned(), "app", window()).is_empty());
    }
}
