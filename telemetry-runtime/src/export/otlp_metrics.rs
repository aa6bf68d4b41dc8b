//! OTLP metrics: metrics records → one `ExportMetricsServiceRequest`, written through
//! [`otlp_wire`](super::otlp_wire) so the mapping is stated once for protobuf and JSON.
//! `opentelemetry/proto/metrics/v1/metrics.proto` is the reference for every field.
//!
//! One resource per request (the client's), one `ScopeMetrics` (scope `cli-telemetry`) per
//! record, one `Metric` per metric of the record: a `Histogram` of `HistogramDataPoint`s
//! (explicit boundaries, bucket counts, count, sum, min, max) or a monotonic `Sum` of
//! `NumberDataPoint`s (`asDouble` or `asInt`), with the record's temporality
//! (`AGGREGATION_TEMPORALITY_DELTA` or `_CUMULATIVE`) and times. Each `Metric` carries the
//! record's `event_id` in its `metadata` (`cli_telemetry.event_id`: non-identifying, so it
//! never splits a time series) for receivers that deduplicate; the first one of a request
//! also carries `cli_telemetry.dropped_records` when the outbox dropped records.
//!
//! Invariants: a line that is not a metrics record (`metrics::read`) writes nothing the
//! caller keeps; a request never holds more than its limit of bytes.

use super::otlp_batch::{Batch, Written, write_items};
use super::otlp_common::{INT_VALUE, KEY, Pieces, STRING_VALUE, VALUE, write_any_value};
use super::otlp_wire::{Field, Str, Wire, field};
use crate::metrics::Temporality;
use crate::metrics::read::{Attributes, Data, HistogramPoint, Metric, MetricsRecord, read};

/// `ExportMetricsServiceRequest.resource_metrics`.
const RESOURCE_METRICS: Field = field!(1, "resourceMetrics");
/// `ResourceMetrics.scope_metrics`.
const SCOPE_METRICS: Field = field!(2, "scopeMetrics");
/// `ScopeMetrics.metrics`.
const METRICS: Field = field!(2, "metrics");
/// `Metric`'s fields.
const NAME: Field = field!(1, "name");
const DESCRIPTION: Field = field!(2, "description");
const UNIT: Field = field!(3, "unit");
const SUM: Field = field!(7, "sum", oneof);
const HISTOGRAM: Field = field!(9, "histogram", oneof);
const METADATA: Field = field!(12, "metadata");
/// `Sum` and `Histogram`: `data_points` is field 1 of both.
const DATA_POINTS: Field = field!(1, "dataPoints");
const AGGREGATION_TEMPORALITY: Field = field!(2, "aggregationTemporality");
const IS_MONOTONIC: Field = field!(3, "isMonotonic");
/// `NumberDataPoint`'s fields.
const NUMBER_ATTRIBUTES: Field = field!(7, "attributes");
const START_TIME_UNIX_NANO: Field = field!(2, "startTimeUnixNano");
const TIME_UNIX_NANO: Field = field!(3, "timeUnixNano");
const AS_DOUBLE: Field = field!(4, "asDouble", oneof);
const AS_INT: Field = field!(6, "asInt", oneof);
/// `HistogramDataPoint`'s fields (times as in `NumberDataPoint`); `sum`, `min` and `max`
/// are `optional`: written even when zero.
const HISTOGRAM_ATTRIBUTES: Field = field!(9, "attributes");
const COUNT: Field = field!(4, "count");
const HISTOGRAM_SUM: Field = field!(5, "sum", oneof);
const BUCKET_COUNTS: Field = field!(6, "bucketCounts");
const EXPLICIT_BOUNDS: Field = field!(7, "explicitBounds");
const MIN: Field = field!(11, "min", oneof);
const MAX: Field = field!(12, "max", oneof);

/// `AGGREGATION_TEMPORALITY_DELTA` and `_CUMULATIVE`.
const DELTA: u32 = 1;
const CUMULATIVE: u32 = 2;

/// Writes one `ExportMetricsServiceRequest` (its fields, into `w`) carrying `records` from
/// the first, until the next one would take the request over `limit` bytes; `dropped` above
/// zero travels in the first metric's metadata. A record over the limit alone is left out.
pub(super) fn write_request<W: Wire>(
    w: &mut W,
    pieces: &Pieces,
    records: &[String],
    dropped: u64,
    limit: usize,
) -> Written {
    let batch = Batch {
        records,
        dropped,
        limit,
    };
    let expected: usize = batch.records.iter().map(String::len).sum();
    w.list(RESOURCE_METRICS);
    let resource_metrics = w.open_item(RESOURCE_METRICS, expected);
    w.piece(&pieces.resource);
    w.list(SCOPE_METRICS);
    let n = write_items(w, batch, |w, line, carry| {
        let Some(rec) = read(line) else {
            return false;
        };
        let scope = w.open_item(SCOPE_METRICS, line.len() * 2);
        w.piece(&pieces.scope);
        w.list(METRICS);
        for (i, metric) in rec.metrics.iter().enumerate() {
            write_metric(w, &rec, metric, if i == 0 { carry } else { 0 });
        }
        w.end_list();
        w.close(scope);
        true
    });
    w.end_list();
    w.close(resource_metrics);
    w.end_list();
    n
}

/// One `Metric` of a record.
fn write_metric<W: Wire>(w: &mut W, rec: &MetricsRecord, metric: &Metric, dropped: u64) {
    let m = w.open_item(METRICS, 256);
    w.string(NAME, Str::Text(&metric.name));
    w.string(DESCRIPTION, Str::Text(&metric.description));
    w.string(UNIT, Str::Text(&metric.unit));
    let temporality = match rec.temporality {
        Temporality::Delta => DELTA,
        Temporality::Cumulative => CUMULATIVE,
    };
    match &metric.data {
        Data::Histogram { bounds, points } => {
            let h = w.open(HISTOGRAM);
            w.list(DATA_POINTS);
            for p in points {
                write_histogram_point(w, rec, bounds, p);
            }
            w.end_list();
            w.enumeration(AGGREGATION_TEMPORALITY, temporality);
            w.close(h);
        }
        Data::SumDouble(points) => {
            let s = w.open(SUM);
            w.list(DATA_POINTS);
            for (attrs, v) in points {
                let p = number_point(w, rec, attrs);
                w.double(AS_DOUBLE, *v);
                w.close(p);
            }
            w.end_list();
            w.enumeration(AGGREGATION_TEMPORALITY, temporality);
            w.boolean(IS_MONOTONIC, true);
            w.close(s);
        }
        Data::SumInt(points) => {
            let s = w.open(SUM);
            w.list(DATA_POINTS);
            for (attrs, v) in points {
                let p = number_point(w, rec, attrs);
                w.sfixed64(AS_INT, *v);
                w.close(p);
            }
            w.end_list();
            w.enumeration(AGGREGATION_TEMPORALITY, temporality);
            w.boolean(IS_MONOTONIC, true);
            w.close(s);
        }
    }
    w.list(METADATA);
    let kv = w.open_item(METADATA, rec.event_id.len() + 40);
    w.string(KEY, Str::Quoted("\"cli_telemetry.event_id\""));
    let v = w.open(VALUE);
    w.string(STRING_VALUE, Str::Text(&rec.event_id));
    w.close(v);
    w.close(kv);
    if dropped > 0 {
        let kv = w.open_item(METADATA, 48);
        w.string(KEY, Str::Quoted("\"cli_telemetry.dropped_records\""));
        let v = w.open(VALUE);
        let dropped = crate::limits::clamp_count(dropped);
        w.int64(INT_VALUE, i64::try_from(dropped).unwrap_or(i64::MAX));
        w.close(v);
        w.close(kv);
    }
    w.end_list();
    w.close(m);
}

/// Opens a `NumberDataPoint` and writes its attributes and times; the caller writes the
/// value and closes it.
fn number_point<W: Wire>(
    w: &mut W,
    rec: &MetricsRecord,
    attrs: &Attributes,
) -> super::otlp_wire::Open {
    let p = w.open_item(DATA_POINTS, 128);
    write_attributes(w, NUMBER_ATTRIBUTES, attrs);
    w.fixed64(START_TIME_UNIX_NANO, rec.start_ns);
    w.fixed64(TIME_UNIX_NANO, rec.time_ns);
    p
}

fn write_histogram_point<W: Wire>(
    w: &mut W,
    rec: &MetricsRecord,
    bounds: &[f64],
    p: &HistogramPoint,
) {
    let open = w.open_item(DATA_POINTS, 256);
    write_attributes(w, HISTOGRAM_ATTRIBUTES, &p.attributes);
    w.fixed64(START_TIME_UNIX_NANO, rec.start_ns);
    w.fixed64(TIME_UNIX_NANO, rec.time_ns);
    w.fixed64(COUNT, p.count);
    w.double(HISTOGRAM_SUM, p.sum);
    w.packed_fixed64(BUCKET_COUNTS, &p.buckets);
    w.packed_double(EXPLICIT_BOUNDS, bounds);
    if p.count > 0 {
        w.double(MIN, p.min);
        w.double(MAX, p.max);
    }
    w.close(open);
}

/// A point's attributes (`KeyValue`s of strings, booleans and integers).
fn write_attributes<W: Wire>(w: &mut W, field: Field, attrs: &Attributes) {
    w.list(field);
    for (k, v) in attrs {
        let text = v.to_string();
        let kv = w.open_item(field, k.len() + text.len() + 8);
        w.string(KEY, Str::Text(k));
        let value = w.open(VALUE);
        write_any_value(w, &text);
        w.close(value);
        w.close(kv);
    }
    w.end_list();
}

/// The request of `records` in `protocol`, whole (tests and the console).
#[cfg(test)]
pub(super) fn encode_for_tests(
    pieces: &Pieces,
    protocol: super::OtlpProtocol,
    records: &[String],
) -> Vec<u8> {
    use super::otlp_wire::{JsonWire, ProtoWire};
    let limit = crate::limits::MAX_BODY_BYTES;
    match protocol {
        super::OtlpProtocol::Json => {
            let mut w = JsonWire::message(1024);
            write_request(&mut w, pieces, records, 0, limit);
            w.finish()
        }
        super::OtlpProtocol::Protobuf => {
            let mut w = ProtoWire::new(1024);
            write_request(&mut w, pieces, records, 0, limit);
            w.finish()
        }
    }
}
