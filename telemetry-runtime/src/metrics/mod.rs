//! The operator's metrics: instruments aggregated in memory while the process runs
//! (`series`), reported as one metrics record at the last flush point (`report`), with the
//! names, units and boundaries of `instruments`.
//!
//! Invariants: nothing here exists unless the operator's stream has a metrics destination
//! (the client then holds no [`Metrics`] and recording is one `Option` check); a measurement
//! is taken from the same event, with the same numbers, as the record it comes with, so the
//! exported sums and counts are the records' (durations in whole milliseconds, as records
//! carry them; a model turn's duration from its span); a report with nothing recorded since
//! the last one writes no record; with delta temporality every point of a report covers the
//! time since the previous report (the first: since the client was built) and the series
//! start afresh; with cumulative temporality they keep adding up from when the client was
//! built.

mod instruments;
pub(crate) mod read;
mod report;
mod series;

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

pub(crate) use crate::event::Measure;
pub(crate) use instruments::Instrument;
use series::{Attrs, ErrorType, Store};

use crate::config::Env;

/// How the exported points relate to each other over time
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Temporality {
    /// Each report holds what was recorded since the previous one (the default).
    #[default]
    Delta,
    /// Each report holds everything recorded since the client was built.
    Cumulative,
}

/// The temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` asks for, and a
/// warning for a value that is not one: `delta` (the default here), `cumulative`, or
/// `lowmemory` (the specification's name for delta counters and histograms, which are all
/// the instruments there are), any case.
pub(crate) fn temporality(env: &Env) -> (Temporality, Option<String>) {
    const VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let Some(raw) = env.non_empty(VAR) else {
        return (Temporality::Delta, None);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "delta" | "lowmemory" => (Temporality::Delta, None),
        "cumulative" => (Temporality::Cumulative, None),
        _ => (
            Temporality::Delta,
            Some(format!(
                "ignoring {VAR}={raw:?}: expected `delta`, `cumulative` or `lowmemory`; \
                 using `delta`"
            )),
        ),
    }
}

/// The instruments of one client.
#[derive(Debug)]
pub(crate) struct Metrics {
    temporality: Temporality,
    /// When the client was built (Unix nanoseconds): the start of every cumulative point.
    built_ns: u64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    store: Store,
    /// Where the next delta window starts: the last report's time, else when built.
    window_start: u64,
}

impl Metrics {
    /// Empty instruments, starting now.
    pub(crate) fn new(temporality: Temporality) -> Self {
        let built_ns = crate::trace::unix_nanos(Instant::now());
        Self {
            temporality,
            built_ns,
            state: Mutex::new(State {
                store: Store::default(),
                window_start: built_ns,
            }),
        }
    }

    /// Adds one event's measurements.
    pub(crate) fn measure(&self, m: Measure<'_>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let store = &mut state.store;
        let err = |e: Option<&str>| report::error_flag(ErrorType::of(e));
        let seconds = |ms: u64| ms as f64 / 1000.0;
        match m {
            Measure::Command {
                action,
                millis,
                error,
            } => {
                let attrs = Attrs {
                    a: action,
                    b: "",
                    flag: err(error),
                };
                store.record(Instrument::CommandDuration, attrs, seconds(millis));
            }
            Measure::Tool {
                tool,
                agent,
                millis,
                error,
            } => {
                let attrs = Attrs {
                    a: tool,
                    b: agent,
                    flag: err(error),
                };
                store.record(Instrument::ToolDuration, attrs, seconds(millis));
            }
            Measure::Turn {
                model,
                provider,
                input,
                output,
                cost,
                nanos,
                error,
            } => {
                let at = |flag| Attrs {
                    a: provider.unwrap_or(""),
                    b: model,
                    flag,
                };
                if let Some(ns) = nanos.filter(|&ns| ns > 0) {
                    // As the span says it: any failure of a turn is `_OTHER`.
                    let flag = report::error_flag(if error.is_some() {
                        ErrorType::Other
                    } else {
                        ErrorType::None
                    });
                    store.record(Instrument::OperationDuration, at(flag), ns as f64 / 1e9);
                }
                // A failed turn reports no usage: its duration (with `error.type`) only.
                if error.is_some() {
                    return;
                }
                let count = |n: u64| crate::limits::clamp_count(n) as f64;
                store.record(Instrument::TokenUsage, at(0), count(input));
                store.record(Instrument::TokenUsage, at(1), count(output));
                // A counter only grows: a cost that is negative or not a number is left out.
                if cost.is_finite() && cost >= 0.0 {
                    store.record(Instrument::Cost, at(0), cost);
                }
            }
            Measure::SessionEnd { agent, success } => {
                let attrs = Attrs {
                    a: agent,
                    b: "",
                    flag: u8::from(success),
                };
                store.record(Instrument::SessionCount, attrs, 1.0);
            }
        }
    }

    /// The metrics record(s) of everything recorded since the last report (delta) or since
    /// the client was built (cumulative), ending now; none when nothing was recorded since
    /// the last report. Strings are scrubbed by `scrub`; `source` is the application's name.
    pub(crate) fn report(&self, source: &str, scrub: &dyn Fn(&str) -> String) -> Vec<String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.store.take_changed() {
            return Vec::new();
        }
        let now = crate::trace::unix_nanos(Instant::now());
        let start = match self.temporality {
            Temporality::Delta => state.window_start,
            Temporality::Cumulative => self.built_ns,
        };
        let window = report::Window {
            start_ns: start,
            time_ns: now.max(start),
            temporality: self.temporality,
        };
        let lines = report::records(&state.store, scrub, source, window);
        if self.temporality == Temporality::Delta {
            state.store.clear();
            state.window_start = window.time_ns;
        }
        lines
    }
}

/// Support for the recording benchmark (`benches/recording.rs`): the instruments alone,
/// reachable from outside the crate. Not a public API.
///
/// ```
/// let m = telemetry_runtime::__BenchMetrics::default();
/// m.tool_call("read_file", 12);
/// assert_eq!(m.report().len(), 1);
/// ```
#[derive(Debug)]
pub struct BenchMetrics(Metrics);

impl Default for BenchMetrics {
    fn default() -> Self {
        Self(Metrics::new(Temporality::Delta))
    }
}

impl BenchMetrics {
    /// Measures one successful tool call of the agent `root`, as a tracked tool does.
    pub fn tool_call(&self, tool: &str, millis: u64) {
        self.0.measure(Measure::Tool {
            tool,
            agent: "root",
            millis,
            error: None,
        });
    }

    /// The metrics records of what was measured since the last report.
    #[must_use]
    pub fn report(&self) -> Vec<String> {
        self.0.report("bench", &|s: &str| s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn turn(input: u64, cost: f64, nanos: Option<u64>) -> Measure<'static> {
        Measure::Turn {
            model: "gpt",
            provider: Some("openai"),
            input,
            output: 10,
            cost,
            nanos,
            error: None,
        }
    }

    fn parse(lines: &[String]) -> Vec<Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn metric<'a>(record: &'a Value, name: &str) -> &'a Value {
        record["properties"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn delta_reports_cover_consecutive_windows_and_cumulative_ones_keep_adding() {
        for temporality in [Temporality::Delta, Temporality::Cumulative] {
            let m = Metrics::new(temporality);
            let id = |s: &str| s.to_owned();
            assert!(
                m.report("app", &id).is_empty(),
                "nothing recorded: no record"
            );
            m.measure(turn(100, 0.5, Some(2_000_000)));
            m.measure(turn(3, f64::NAN, None));
            let first = parse(&m.report("app", &id));
            assert_eq!(first.len(), 1);
            assert!(m.report("app", &id).is_empty(), "nothing new: no record");
            m.measure(turn(7, -1.0, Some(1)));
            let second = parse(&m.report("app", &id));
            let (p1, p2) = (&first[0]["properties"], &second[0]["properties"]);
            let t1 = p1["time_unix_nano"].as_u64().unwrap();
            assert!(p1["start_time_unix_nano"].as_u64().unwrap() <= t1);
            let usage = |r: &Value| metric(r, "gen_ai.client.token.usage")["points"][0].clone();
            assert_eq!(usage(&first[0])["count"], 2);
            assert_eq!(usage(&first[0])["sum"], 103.0);
            let cost = |r: &Value| metric(r, "cli_telemetry.cost")["points"][0]["value"].clone();
            assert_eq!(cost(&first[0]), 0.5, "NaN is left out");
            let duration =
                |r: &Value| metric(r, "gen_ai.client.operation.duration")["points"][0].clone();
            assert_eq!(
                duration(&first[0])["count"],
                1,
                "a turn without a duration has none"
            );
            assert_eq!(duration(&first[0])["sum"], 0.002);
            match temporality {
                Temporality::Delta => {
                    assert_eq!(p1["temporality"], "delta");
                    assert_eq!(p2["start_time_unix_nano"].as_u64(), Some(t1));
                    assert_eq!(usage(&second[0])["count"], 1);
                    assert_eq!(usage(&second[0])["sum"], 7.0);
                    assert_eq!(cost(&second[0]), Value::Null, "a negative cost is left out");
                }
                Temporality::Cumulative => {
                    assert_eq!(p2["temporality"], "cumulative");
                    assert_eq!(p2["start_time_unix_nano"], p1["start_time_unix_nano"]);
                    assert_eq!(usage(&second[0])["count"], 3);
                    assert_eq!(usage(&second[0])["sum"], 110.0);
                    assert_eq!(cost(&second[0]), 0.5);
                }
            }
        }
    }

    #[test]
    fn without_the_operators_stream_or_a_metrics_destination_the_client_holds_no_instruments() {
        use crate::{Client, testing::Records};
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
        let holds = |pairs: &[(&str, &str)], sink: bool| {
            let mut b = Client::builder().env(Env::from_pairs(pairs.iter().copied()));
            if sink {
                b = b.otel_metrics_sink(Records::default());
            }
            b.build().has_metrics()
        };
        assert!(holds(&[("TELEMETRY_OTEL", "1")], true));
        assert!(holds(&[("TELEMETRY_OTEL", "1"), endpoint], false));
        assert!(holds(
            &[
                ("TELEMETRY_OTEL", "1"),
                ("OTEL_METRICS_EXPORTER", "console")
            ],
            false
        ));
        // The stream off, or on without anywhere for metrics to go: nothing is aggregated.
        assert!(!holds(&[endpoint], true));
        assert!(!holds(&[("TELEMETRY_OTEL", "0"), endpoint], true));
        assert!(!holds(
            &[("TELEMETRY_OTEL", "1"), ("OTEL_SDK_DISABLED", "true")],
            true
        ));
        assert!(!holds(
            &[
                ("TELEMETRY_OTEL", "1"),
                endpoint,
                ("OTEL_METRICS_EXPORTER", "none")
            ],
            false
        ));
        assert!(
            !holds(&[("TELEMETRY_OTEL", "1")], false),
            "no endpoint: the signal is off"
        );
    }

    #[test]
    fn the_temporality_preference_is_read_in_any_case_and_a_bad_value_warns() {
        let t = |v: &str| {
            temporality(&Env::from_pairs([(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                v,
            )]))
        };
        assert_eq!(temporality(&Env::empty()), (Temporality::Delta, None));
        assert_eq!(t("Cumulative"), (Temporality::Cumulative, None));
        assert_eq!(t("DELTA"), (Temporality::Delta, None));
        assert_eq!(t("lowmemory"), (Temporality::Delta, None));
        let (got, warning) = t("sometimes");
        assert_eq!(got, Temporality::Delta);
        assert!(
            warning
                .unwrap()
                .contains("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        );
    }
}
