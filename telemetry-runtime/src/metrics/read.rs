//! Reading a metrics record back (from the outbox, at send time), strictly: the exporter gets
//! only records whose every number is consistent, since an outbox line may have been edited
//! or planted.
//!
//! A line is a metrics record when it parses as the format `report` writes and: `event` is
//! `metrics`; the temporality is `delta` or `cumulative`; `0 < start <= time`; each metric
//! has a name and a kind `histogram` (strictly increasing finite boundaries, each point with
//! one bucket count more than boundaries, counts adding up to its count, finite sum, min and
//! max with min <= max when the count is above 0) or `sum` (`value_type` `double` with a
//! finite value at least 0, or `int` with a whole value at most `i64::MAX`); attributes are
//! strings, booleans or integers. Anything else is not a metrics record.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::Temporality;

/// A metrics record, read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricsRecord {
    pub(crate) event_id: String,
    pub(crate) start_ns: u64,
    pub(crate) time_ns: u64,
    pub(crate) temporality: Temporality,
    pub(crate) metrics: Vec<Metric>,
}

/// One metric of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) unit: String,
    pub(crate) data: Data,
}

/// A metric's points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    Histogram {
        bounds: Vec<f64>,
        points: Vec<HistogramPoint>,
    },
    SumDouble(Vec<(Attributes, f64)>),
    SumInt(Vec<(Attributes, i64)>),
}

/// A point's attributes: each value a JSON string, boolean or integer.
pub(crate) type Attributes = Vec<(String, Value)>;

/// One histogram point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramPoint {
    pub(crate) attributes: Attributes,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) buckets: Vec<u64>,
}

#[derive(Deserialize)]
struct Line {
    event: String,
    properties: Props,
}

#[derive(Deserialize)]
struct Props {
    event_id: String,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    temporality: String,
    metrics: Vec<MetricLine>,
}

#[derive(Deserialize)]
struct MetricLine {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    unit: String,
    kind: String,
    #[serde(default)]
    bounds: Vec<f64>,
    #[serde(default)]
    value_type: String,
    points: Vec<PointLine>,
}

#[derive(Deserialize)]
struct PointLine {
    attributes: Map<String, Value>,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    sum: f64,
    #[serde(default)]
    min: f64,
    #[serde(default)]
    max: f64,
    #[serde(default)]
    buckets: Vec<u64>,
    value: Option<Number>,
}

/// The metrics record of `line`; `None` when it is not one (see the module's rules).
pub(crate) fn read(line: &str) -> Option<MetricsRecord> {
    let line: Line = serde_json::from_str(line).ok()?;
    let p = line.properties;
    let temporality = match p.temporality.as_str() {
        "delta" => Temporality::Delta,
        "cumulative" => Temporality::Cumulative,
        _ => return None,
    };
    let times_ok = 0 < p.start_time_unix_nano && p.start_time_unix_nano <= p.time_unix_nano;
    if line.event != "metrics" || !times_ok || p.event_id.is_empty() {
        return None;
    }
    let metrics = p
        .metrics
        .into_iter()
        .map(metric)
        .collect::<Option<Vec<_>>>()?;
    Some(MetricsRecord {
        event_id: p.event_id,
        start_ns: p.start_time_unix_nano,
        time_ns: p.time_unix_nano,
        temporality,
        metrics,
    })
}

fn metric(m: MetricLine) -> Option<Metric> {
    if m.name.is_empty() {
        return None;
    }
    let data = match (m.kind.as_str(), m.value_type.as_str()) {
        ("histogram", _) => {
            let increasing = m.bounds.windows(2).all(|w| w[0] < w[1]);
            if !increasing || !m.bounds.iter().all(|b| b.is_finite()) {
                return None;
            }
            let points = m
                .points
                .into_iter()
                .map(|p| histogram_point(p, m.bounds.len()))
                .collect::<Option<_>>()?;
            Data::Histogram {
                bounds: m.bounds,
                points,
            }
        }
        ("sum", "double") => Data::SumDouble(
            m.points
                .into_iter()
                .map(|p| {
                    let v = p.value?.as_f64().filter(|v| v.is_finite() && *v >= 0.0)?;
                    Some((attributes(p.attributes)?, v))
                })
                .collect::<Option<_>>()?,
        ),
        ("sum", "int") => Data::SumInt(
            m.points
                .into_iter()
                .map(|p| {
                    let v = p.value?.as_i64().filter(|v| *v >= 0)?;
                    Some((attributes(p.attributes)?, v))
                })
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    };
    Some(Metric {
        name: m.name,
        description: m.description,
        unit: m.unit,
        data,
    })
}

fn histogram_point(p: PointLine, bounds: usize) -> Option<HistogramPoint> {
    let total = p
        .buckets
        .iter()
        .try_fold(0_u64, |sum, &n| sum.checked_add(n))?;
    let finite = p.sum.is_finite() && p.min.is_finite() && p.max.is_finite();
    let ok = p.buckets.len() == bounds + 1
        && total == p.count
        && finite
        && (p.count == 0 || p.min <= p.max);
    ok.then_some(())?;
    Some(HistogramPoint {
        attributes: attributes(p.attributes)?,
        count: p.count,
        sum: p.sum,
        min: p.min,
        max: p.max,
        buckets: p.buckets,
    })
}

fn attributes(map: Map<String, Value>) -> Option<Attributes> {
    map.into_iter()
        .map(|(k, v)| {
            let ok = matches!(&v, Value::String(_) | Value::Bool(_)) || v.as_i64().is_some();
            ok.then_some((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Measure, Metrics};

    #[test]
    fn what_report_writes_reads_back_and_inconsistent_lines_do_not() {
        let m = Metrics::new(Temporality::Cumulative);
        m.measure(Measure::Tool {
            tool: "read_file",
            agent: "root",
            millis: 12,
            error: Some("boom"),
        });
        m.measure(Measure::SessionEnd {
            agent: "root",
            success: true,
        });
        let line = m.report("app", &|s: &str| s.to_owned()).remove(0);
        let rec = read(&line).expect("a metrics record");
        assert_eq!(rec.temporality, Temporality::Cumulative);
        assert_eq!(rec.metrics.len(), 2);
        let Data::Histogram { bounds, points } = &rec.metrics[0].data else {
            panic!("{:?}", rec.metrics[0])
        };
        assert_eq!(bounds.len(), 14);
        assert_eq!((points[0].count, points[0].sum), (1, 0.012));
        assert_eq!(points[0].buckets[1], 1, "0.012 s is in (0.01, 0.02]");
        assert!(matches!(&rec.metrics[1].data, Data::SumInt(p) if p[0].1 == 1));
        for (from, to) in [
            ("\"count\":1", "\"count\":2"),
            (
                "\"temporality\":\"cumulative\"",
                "\"temporality\":\"sometimes\"",
            ),
            ("\"event\":\"metrics\"", "\"event\":\"tool\""),
            ("\"value\":1", "\"value\":-1"),
            ("\"bounds\":[0.01,", "\"bounds\":[0.5,"),
            (
                "\"gen_ai.tool.name\":\"read_file\"",
                "\"gen_ai.tool.name\":[1]",
            ),
        ] {
            assert!(line.contains(from), "{from} not in {line}");
            assert_eq!(read(&line.replacen(from, to, 1)), None, "{to}");
        }
        assert_eq!(read("not json"), None);
    }
}
