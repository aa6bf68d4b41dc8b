#!/usr/bin/env python3
"""Strict check of OTLP/HTTP JSON log request bodies (ExportLogsServiceRequest).

Usage: check_otlp.py [--require-event NAME]... [--min-records N] BODY_FILE...
       check_otlp.py --response BODY_FILE...

With --response each file is a collector's answer (ExportLogsServiceResponse, e.g. a partial
success), checked by rules 1 to 3 only.

Each BODY_FILE holds one request body. A body passes when:
  1. it is JSON without duplicate object keys;
  2. the OpenTelemetry project's own definitions (the `opentelemetry-proto` package, through
     protobuf's json_format.Parse with ignore_unknown_fields=False) accept it: unknown
     fields fail;
  3. it is written in OTLP's JSON mapping exactly: every key and value of the body appears in
     the canonical rendering of the parsed message (lowerCamelCase keys, 64-bit integers as
     decimal strings, enums as integers);
  4. the semantic rules of the mapping (OTLP_MAPPING.md) hold, which the proto parser cannot
     see: one resource with service.name and telemetry.sdk.*, scope `cli-telemetry`,
     unique attribute keys, timeUnixNano == observedTimeUnixNano as a decimal string of
     whole milliseconds, severityNumber 9/INFO or 17/ERROR, an eventName, log.record.uid.

Prints one JSON summary line ({"requests", "records", "events"}) on success.
Exit status: 0 all bodies pass; 1 a body fails (each failure printed); 2 usage or I/O error;
3 the `opentelemetry-proto` package is missing (a line starting with SKIP says so).
"""

import argparse
import json
import math
import re
import sys

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
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


def canonical(message):
    """The canonical JSON-mapping rendering of a message, every field printed."""
    try:
        return json_format.MessageToDict(
            message, use_integers_for_enums=True, always_print_fields_with_no_presence=True
        )
    except TypeError:  # protobuf < 5.26
        return json_format.MessageToDict(
            message, use_integers_for_enums=True, including_default_value_fields=True
        )


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
    if not isinstance(t, str) or not DECIMAL.match(t) or int(t) % 1_000_000:
        raise Failure(f"{where}: timeUnixNano {t!r} is not a decimal string of whole ms")
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


def check_body(text, where):
    data = json.loads(text, object_pairs_hook=no_duplicates)
    message = logs_service_pb2.ExportLogsServiceRequest()
    try:
        json_format.Parse(text, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise Failure(f"opentelemetry-proto refuses it: {e}") from None
    subset(data, canonical(message), "$")
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
    return [check_record(r, f"{where} logRecords[{i}]") for i, r in enumerate(records)]


def check_response(text):
    data = json.loads(text, object_pairs_hook=no_duplicates)
    message = logs_service_pb2.ExportLogsServiceResponse()
    try:
        json_format.Parse(text, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise Failure(f"opentelemetry-proto refuses it: {e}") from None
    subset(data, canonical(message), "$")
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bodies", nargs="+", help="files, each holding one request body")
    ap.add_argument("--require-event", action="append", default=[], metavar="NAME",
                    help="an eventName that must appear in at least one body (repeatable)")
    ap.add_argument("--response", action="store_true",
                    help="the files are ExportLogsServiceResponse bodies")
    ap.add_argument("--min-records", type=int, default=0, metavar="N",
                    help="fail with fewer log records than N in all")
    args = ap.parse_args()
    events, failures = {}, []
    for path in args.bodies:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        try:
            names = check_response(text) if args.response else check_body(text, path)
            for name in names:
                events[name] = events.get(name, 0) + 1
        except (Failure, ValueError) as e:
            failures.append(f"{path}: {e}")
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
    print(json.dumps({"requests": len(args.bodies), "records": total, "events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
