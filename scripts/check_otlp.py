#!/usr/bin/env python3
"""Strict check of OTLP/HTTP log, trace and metrics request bodies (ExportLogsServiceRequest,
ExportTraceServiceRequest, ExportMetricsServiceRequest), in protobuf or in OTLP's JSON
mapping, gzip-compressed or not.

Usage: check_otlp.py [--signal logs|traces|metrics] [--require-event NAME]... [--min-records N]
                     [--pairs] [--print-json] [--definitions-only] BODY_FILE...
       check_otlp.py [--signal logs|traces|metrics] --response BODY_FILE...

--signal says which service's messages the files hold (default: logs). For traces, the
"events" counted and required are the spans' `gen_ai.operation.name` (`invoke_agent`,
`execute_tool`, `chat`), `command` for the others, and "records" are spans. For metrics, the
"events" are the metric names, and "records" are data points.

Trace and span ids are lowercase hex in OTLP's JSON mapping (not base64, as protobuf's own
JSON mapping has bytes): a JSON body's ids are read as hex (anything else fails), and
--print-json renders them as hex.

Each BODY_FILE holds one request body. A body starting with the gzip magic is decompressed
first; then a body whose first non-blank byte is `{` is JSON, any other is protobuf.

With --response each file is a collector's answer (ExportLogsServiceResponse, e.g. a partial
success), checked by rules 1 to 3 only.

A JSON body passes when:
  1. it is JSON without duplicate object keys;
  2. the OpenTelemetry project's own definitions (the `opentelemetry-proto` package, through
     protobuf's json_format.Parse with ignore_unknown_fields=False) accept it: unknown
     fields fail;
  3. it is written in OTLP's JSON mapping exactly: every key and value of the body appears in
     the canonical rendering of the parsed message (lowerCamelCase keys, 64-bit integers as
     decimal strings, enums as integers);
A protobuf body passes when:
  1. the same definitions parse it (ParseFromString: cut or malformed bytes, a bad wire
     type or invalid UTF-8 in a string fail);
  2. no field anywhere in it is unknown to the definitions (a wrong field number or wire
     type shows up as an unknown field);
  3. it is exactly as long as the parsed message serialized again: no field written twice,
     no padded length or varint, no default value written outside a oneof;
And every body, whatever its encoding:
  4. the semantic rules of the mapping (OTLP_MAPPING.md) hold, which the proto parser cannot
     see: one resource with service.name and telemetry.sdk.*, scope `cli-telemetry`,
     unique attribute keys, timeUnixNano == observedTimeUnixNano as a decimal string of
     whole milliseconds, severityNumber 9/INFO or 17/ERROR, an eventName, log.record.uid;
     for spans: ids of the right length and not zero, a name, kind INTERNAL or CLIENT,
     0 < startTimeUnixNano <= endTimeUnixNano as decimal strings, unique attribute keys, an
     ERROR status with a message and an `error.type` attribute;
     for metrics: every scope `cli-telemetry`, each metric a name, a unit and a Histogram
     or a monotonic Sum with DELTA or CUMULATIVE temporality, each point
     0 < startTimeUnixNano <= timeUnixNano (decimal strings) and unique attribute keys,
     a histogram's boundaries strictly increasing with one bucket count more than
     boundaries, counts adding up to its count, min <= max, a sum's value >= 0, no metric
     name twice in one scope, no two points of a metric with the same attributes, and
     `cli_telemetry.event_id` in every metric's metadata.

With --definitions-only, rule 4 is not checked (for bodies of deliberately corrupted records).
With --pairs the files go by two (A1 B1 A2 B2 ...) and each A must decode to a message equal
to its B's (e.g. the JSON and the protobuf encoding of the same records).
With --print-json the summary line is followed by one line: a JSON array holding, for each
body, the canonical JSON rendering of its parsed message (so a test can read a protobuf body).

Prints one JSON summary line ({"requests", "records", "events", "encodings"}) on success.
Exit status: 0 all bodies pass; 1 a body fails (each failure printed); 2 usage or I/O error;
3 the `opentelemetry-proto` package is missing (a line starting with SKIP says so).
"""

import argparse
import base64
import gzip
import json
import math
import re
import sys

try:
    from google.protobuf import json_format, message as pb_message, unknown_fields
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
except ImportError as e:  # pragma: no cover - depends on the machine
    print(
        f"SKIP: the Python package opentelemetry-proto is not installed ({e}); "
        "install it with `python3 -m pip install opentelemetry-proto==1.45.2`",
        file=sys.stderr,
    )
    sys.exit(3)

DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")
SEVERITIES = {9: "INFO", 17: "ERROR"}
ANY_VALUE_KINDS = {
    "stringValue", "boolValue", "intValue", "doubleValue",
    "arrayValue", "kvlistValue", "bytesValue",
}
INT_ATTRIBUTES = {
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "cli_telemetry.duration_ms",
}
REQUIRED_RESOURCE = {
    "service.name", "service.version", "os.type",
    "telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version",
}


class Failure(Exception):
    pass


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise Failure(f"duplicate JSON object keys {dup}")
    return dict(pairs)


ID_KEYS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def ids_to(data, convert):
    """`data` with every trace or span id converted by `convert(text, size, key)`."""
    if isinstance(data, dict):
        return {
            k: (convert(v, ID_KEYS[k], k) if k in ID_KEYS and isinstance(v, str)
                else ids_to(v, convert))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [ids_to(v, convert) for v in data]
    return data


def hex_to_base64(text, size, key):
    if text == "":
        return text
    if not re.fullmatch(r"[0-9a-f]{%d}" % (2 * size), text):
        raise Failure(f"{key} {text!r} is not {2 * size} lowercase hex digits (OTLP/JSON)")
    return base64.b64encode(bytes.fromhex(text)).decode()


def base64_to_hex(text, size, key):
    return base64.b64decode(text).hex()


def canonical(message):
    """The canonical rendering of a message in OTLP's JSON mapping, every field printed:
    protobuf's JSON mapping, with ids in lowercase hex."""
    try:
        data = json_format.MessageToDict(
            message, use_integers_for_enums=True, always_print_fields_with_no_presence=True
        )
    except TypeError:  # protobuf < 5.26
        data = json_format.MessageToDict(
            message, use_integers_for_enums=True, including_default_value_fields=True
        )
    return ids_to(data, base64_to_hex)


def same_number(a, b):
    return (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool)
        and math.isclose(float(a), float(b), rel_tol=1e-15, abs_tol=0.0)
    )


def subset(given, canon, path):
    """Every key and value of `given` is in `canon`, in the same JSON type."""
    if isinstance(given, dict):
        if not isinstance(canon, dict):
            raise Failure(f"{path}: an object where the mapping has {canon!r}")
        for key, value in given.items():
            if key not in canon:
                raise Failure(f"{path}: key {key!r} is not the JSON mapping's name of a field")
            subset(value, canon[key], f"{path}.{key}")
    elif isinstance(given, list):
        if not isinstance(canon, list) or len(given) != len(canon):
            raise Failure(f"{path}: list differs from the mapping's rendering")
        for i, (g, c) in enumerate(zip(given, canon)):
            subset(g, c, f"{path}[{i}]")
    elif given != canon or type(given) is not type(canon):
        if not same_number(given, canon):
            raise Failure(
                f"{path}: {given!r} is not written as the JSON mapping writes it ({canon!r})"
            )


def attributes(items, where):
    keys = [kv.get("key") for kv in items]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise Failure(f"{where}: duplicate attribute keys {dup}")
    out = {}
    for kv in items:
        value = kv.get("value", {})
        kinds = set(value) & ANY_VALUE_KINDS
        if len(kinds) > 1 or set(value) - ANY_VALUE_KINDS:
            raise Failure(f"{where}: attribute {kv.get('key')!r} has a bad value {value!r}")
        out[kv["key"]] = value
    return out


def check_record(rec, where):
    t, o = rec.get("timeUnixNano"), rec.get("observedTimeUnixNano")
    if not isinstance(t, str) or not DECIMAL.match(t) or int(t) % 1_000_000 or t == "0":
        raise Failure(f"{where}: timeUnixNano {t!r} is not a decimal string of whole ms above 0")
    if o != t:
        raise Failure(f"{where}: observedTimeUnixNano {o!r} differs from timeUnixNano {t!r}")
    sev = rec.get("severityNumber")
    if sev not in SEVERITIES or rec.get("severityText") != SEVERITIES[sev]:
        raise Failure(f"{where}: severity {sev!r}/{rec.get('severityText')!r}")
    name = rec.get("eventName")
    if not isinstance(name, str) or not name:
        raise Failure(f"{where}: no eventName")
    attrs = attributes(rec.get("attributes", []), where)
    uid = attrs.get("log.record.uid", {}).get("stringValue")
    if not uid:
        raise Failure(f"{where}: no log.record.uid")
    for key in INT_ATTRIBUTES & set(attrs):
        if "intValue" not in attrs[key]:
            raise Failure(f"{where}: {key} is not an intValue")
    if ("error.message" in attrs) and "error.type" not in attrs:
        raise Failure(f"{where}: error.message without error.type")
    if name in ("session.start", "session.end"):
        action = attrs.get("cli_telemetry.action", {}).get("stringValue")
        if action != name.split(".")[1]:
            raise Failure(f"{where}: eventName {name} with action {action!r}")
    return name


def decode(raw):
    """(encoding names, the body's text or bytes, whether it is JSON)."""
    names = []
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise Failure(f"a gzip body that does not decompress: {e}") from None
        names.append("gzip")
    if raw.lstrip()[:1] == b"{":
        try:
            return names + ["json"], raw.decode("utf-8"), True
        except UnicodeDecodeError as e:
            raise Failure(f"JSON body is not UTF-8: {e}") from None
    return names + ["protobuf"], raw, False


def no_unknown_fields(message, path):
    """Fails on any unknown field in `message` or the messages inside it."""
    if len(unknown_fields.UnknownFieldSet(message)):
        raise Failure(f"{path}: fields unknown to opentelemetry-proto (wrong number or wire type)")
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:  # protobuf < 5.29
            repeated = field.label == field.LABEL_REPEATED
        items = value if repeated else [value]
        for i, item in enumerate(items):
            no_unknown_fields(item, f"{path}.{field.json_name}[{i}]")


def parse(body, is_json, message):
    """Parses `body` into `message` strictly (rules 1 to 3 of its encoding)."""
    if is_json:
        data = json.loads(body, object_pairs_hook=no_duplicates)
        try:
            json_format.ParseDict(
                ids_to(data, hex_to_base64), message, ignore_unknown_fields=False
            )
        except json_format.ParseError as e:
            raise Failure(f"opentelemetry-proto refuses it: {e}") from None
        subset(data, canonical(message), "$")
        return
    try:
        message.ParseFromString(body)
    except pb_message.DecodeError as e:
        raise Failure(f"opentelemetry-proto refuses the protobuf: {e}") from None
    no_unknown_fields(message, "$")
    again = len(message.SerializeToString())
    if again != len(body):
        raise Failure(
            f"protobuf body of {len(body)} bytes re-encodes to {again}: a field written twice, "
            "a padded length or a default value written"
        )


SPAN_KINDS = {1: "INTERNAL", 3: "CLIENT"}
OPERATIONS = {"invoke_agent", "execute_tool", "chat"}


def nonzero_hex(text, size):
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{%d}" % (2 * size), text) \
        and text != "0" * (2 * size)


def check_span(span, where):
    if not nonzero_hex(span.get("traceId"), 16) or not nonzero_hex(span.get("spanId"), 8):
        raise Failure(f"{where}: bad trace or span id")
    parent = span.get("parentSpanId", "")
    if parent and not nonzero_hex(parent, 8):
        raise Failure(f"{where}: bad parentSpanId {parent!r}")
    if not span.get("name"):
        raise Failure(f"{where}: no name")
    if span.get("kind") not in SPAN_KINDS:
        raise Failure(f"{where}: kind {span.get('kind')!r} is not INTERNAL or CLIENT")
    start, end = span.get("startTimeUnixNano"), span.get("endTimeUnixNano")
    for t in (start, end):
        if not isinstance(t, str) or not DECIMAL.match(t) or t == "0":
            raise Failure(f"{where}: time {t!r} is not a decimal string above 0")
    if int(start) > int(end):
        raise Failure(f"{where}: starts after it ends")
    attrs = attributes(span.get("attributes", []), where)
    status = span.get("status", {})
    if status.get("code") == 2:
        if not status.get("message") or "error.type" not in attrs:
            raise Failure(f"{where}: an ERROR status without a message or error.type")
    elif status.get("code") not in (None, 0):
        raise Failure(f"{where}: status code {status.get('code')!r}")
    op = attrs.get("gen_ai.operation.name", {}).get("stringValue")
    if op is not None and op not in OPERATIONS:
        raise Failure(f"{where}: gen_ai.operation.name {op!r}")
    return op or "command"


def check_trace_body(body, is_json, where, mapping=True):
    message = trace_service_pb2.ExportTraceServiceRequest()
    parse(body, is_json, message)
    if not mapping:
        count = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
        return ["(any)"] * count, message
    data = canonical(message)
    resources = data.get("resourceSpans", [])
    if len(resources) != 1:
        raise Failure(f"{len(resources)} resourceSpans (expected exactly one)")
    res = attributes(resources[0].get("resource", {}).get("attributes", []), "resource")
    missing = REQUIRED_RESOURCE - set(res)
    if missing:
        raise Failure(f"resource lacks {sorted(missing)}")
    scopes = resources[0].get("scopeSpans", [])
    if len(scopes) != 1 or scopes[0].get("scope", {}).get("name") != "cli-telemetry":
        raise Failure("expected one scopeSpans with scope name cli-telemetry")
    spans = scopes[0].get("spans", [])
    return [check_span(s, f"{where} spans[{i}]") for i, s in enumerate(spans)], message


def check_body(body, is_json, where, mapping=True):
    message = logs_service_pb2.ExportLogsServiceRequest()
    parse(body, is_json, message)
    if not mapping:
        count = sum(
            len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs
        )
        return ["(any)"] * count, message
    data = canonical(message)
    resources = data.get("resourceLogs", [])
    if len(resources) != 1:
        raise Failure(f"{len(resources)} resourceLogs (expected exactly one)")
    res = attributes(resources[0].get("resource", {}).get("attributes", []), "resource")
    missing = REQUIRED_RESOURCE - set(res)
    if missing:
        raise Failure(f"resource lacks {sorted(missing)}")
    scopes = resources[0].get("scopeLogs", [])
    if len(scopes) != 1 or scopes[0].get("scope", {}).get("name") != "cli-telemetry":
        raise Failure("expected one scopeLogs with scope name cli-telemetry")
    records = scopes[0].get("logRecords", [])
    names = [check_record(r, f"{where} logRecords[{i}]") for i, r in enumerate(records)]
    return names, message


def check_metric_point(p, where, kind):
    start, end = p.get("startTimeUnixNano"), p.get("timeUnixNano")
    for t in (start, end):
        if not isinstance(t, str) or not DECIMAL.match(t) or t == "0":
            raise Failure(f"{where}: time {t!r} is not a decimal string above 0")
    if int(start) > int(end):
        raise Failure(f"{where}: starts after it ends")
    attrs = attributes(p.get("attributes", []), where)
    if kind == "histogram":
        bounds = p.get("explicitBounds", [])
        counts = [int(c) for c in p.get("bucketCounts", [])]
        if any(not a < b for a, b in zip(bounds, bounds[1:])):
            raise Failure(f"{where}: boundaries {bounds} do not strictly increase")
        if len(counts) != len(bounds) + 1:
            raise Failure(f"{where}: {len(counts)} bucket counts for {len(bounds)} boundaries")
        if sum(counts) != int(p.get("count", "0")):
            raise Failure(f"{where}: bucket counts add up to {sum(counts)}, count {p.get('count')}")
        if int(p.get("count", "0")) > 0 and not p.get("min", 0) <= p.get("max", 0):
            raise Failure(f"{where}: min above max")
    else:
        value = p.get("asDouble", p.get("asInt"))
        if value is None or float(value) < 0:
            raise Failure(f"{where}: a monotonic sum's value {value!r}")
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in attrs.items()))


def check_metric(metric, where):
    name = metric.get("name")
    if not name or not metric.get("unit"):
        raise Failure(f"{where}: no name or unit")
    if "histogram" in metric:
        kind, data = "histogram", metric["histogram"]
    elif "sum" in metric:
        kind, data = "sum", metric["sum"]
        if data.get("isMonotonic") is not True:
            raise Failure(f"{where}: a sum that is not monotonic")
    else:
        raise Failure(f"{where}: neither a histogram nor a sum")
    if data.get("aggregationTemporality") not in (1, 2):
        raise Failure(f"{where}: temporality {data.get('aggregationTemporality')!r}")
    meta = attributes(metric.get("metadata", []), where)
    if not meta.get("cli_telemetry.event_id", {}).get("stringValue"):
        raise Failure(f"{where}: no cli_telemetry.event_id in its metadata")
    seen = set()
    points = data.get("dataPoints", [])
    for i, p in enumerate(points):
        key = check_metric_point(p, f"{where}.dataPoints[{i}]", kind)
        if key in seen:
            raise Failure(f"{where}: two points with the attributes {key}")
        seen.add(key)
    return name, len(points)


def check_metrics_body(body, is_json, where, mapping=True):
    message = metrics_service_pb2.ExportMetricsServiceRequest()
    parse(body, is_json, message)
    if not mapping:
        return [], message
    data = canonical(message)
    resources = data.get("resourceMetrics", [])
    if len(resources) != 1:
        raise Failure(f"{len(resources)} resourceMetrics (expected exactly one)")
    res = attributes(resources[0].get("resource", {}).get("attributes", []), "resource")
    missing = REQUIRED_RESOURCE - set(res)
    if missing:
        raise Failure(f"resource lacks {sorted(missing)}")
    names = []
    for s, scope in enumerate(resources[0].get("scopeMetrics", [])):
        if scope.get("scope", {}).get("name") != "cli-telemetry":
            raise Failure(f"scopeMetrics[{s}]: scope name is not cli-telemetry")
        in_scope = set()
        for m, metric in enumerate(scope.get("metrics", [])):
            name, points = check_metric(metric, f"{where} scopeMetrics[{s}].metrics[{m}]")
            if name in in_scope:
                raise Failure(f"scopeMetrics[{s}]: metric {name} twice")
            in_scope.add(name)
            names += [name] * points
    return names, message


def check_response(body, is_json, signal="logs"):
    message = (trace_service_pb2.ExportTraceServiceResponse() if signal == "traces"
               else metrics_service_pb2.ExportMetricsServiceResponse() if signal == "metrics"
               else logs_service_pb2.ExportLogsServiceResponse())
    parse(body, is_json, message)
    return [], message


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bodies", nargs="+", help="files, each holding one request body")
    ap.add_argument("--signal", choices=["logs", "traces", "metrics"], default="logs",
                    help="the signal of the bodies (default: logs)")
    ap.add_argument("--require-event", action="append", default=[], metavar="NAME",
                    help="an eventName that must appear in at least one body (repeatable)")
    ap.add_argument("--response", action="store_true",
                    help="the files are ExportLogsServiceResponse bodies")
    ap.add_argument("--min-records", type=int, default=0, metavar="N",
                    help="fail with fewer log records than N in all")
    ap.add_argument("--pairs", action="store_true",
                    help="files go by two; each pair must decode to equal messages")
    ap.add_argument("--definitions-only", action="store_true",
                    help="check rules 1 to 3 only, not the mapping's rules")
    ap.add_argument("--print-json", action="store_true",
                    help="print each body's parsed message as canonical JSON (one array)")
    args = ap.parse_args()
    if args.pairs and len(args.bodies) % 2:
        print("--pairs needs an even number of files", file=sys.stderr)
        return 2
    events, failures, encodings, messages = {}, [], {}, []
    for path in args.bodies:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        message = None
        try:
            kinds, body, is_json = decode(raw)
            for kind in kinds:
                encodings[kind] = encodings.get(kind, 0) + 1
            check = {"traces": check_trace_body, "metrics": check_metrics_body}.get(
                args.signal, check_body)
            if args.response:
                names, message = check_response(body, is_json, args.signal)
            else:
                names, message = check(body, is_json, path, not args.definitions_only)
            for name in names:
                events[name] = events.get(name, 0) + 1
        except (Failure, ValueError) as e:
            failures.append(f"{path}: {e}")
        messages.append(message)
    if args.pairs:
        for i in range(0, len(messages), 2):
            a, b = messages[i], messages[i + 1]
            if a is not None and b is not None and a != b:
                failures.append(
                    f"{args.bodies[i]} and {args.bodies[i + 1]} decode to different messages:\n"
                    f"{json.dumps(canonical(a), sort_keys=True)}\n"
                    f"{json.dumps(canonical(b), sort_keys=True)}"
                )
    missing = [e for e in args.require_event if e not in events]
    if missing:
        failures.append(f"no log record with eventName {missing} (seen: {sorted(events)})")
    total = sum(events.values())
    if total < args.min_records:
        failures.append(f"{total} log records, expected at least {args.min_records}")
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if failures:
        return 1
    print(json.dumps({
        "requests": len(args.bodies), "records": total, "events": events,
        "encodings": encodings,
    }))
    if args.print_json:
        print(json.dumps([canonical(m) for m in messages]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
