#!/usr/bin/env python3
"""Sends log records to an OTLP/HTTP endpoint with the official OpenTelemetry Python SDK
(`opentelemetry-sdk` + `opentelemetry-exporter-otlp-proto-http`: protobuf, its default), as a
real application would: a LoggerProvider, a SimpleLogRecordProcessor, the OTLPLogExporter.

Usage: otel_sdk_logs.py --endpoint URL [--api-key KEY] [--gzip] [--tools N] [--run-id ID]

Emits one `cli_telemetry.command` record (action `build`) and N `cli_telemetry.tool` records
(`gen_ai.tool.name` = `read_file`, every third one failing), each with a unique
`log.record.uid`, from a resource `service.name` = `sdk-app`, `service.version` = `4.5.6`.

Prints one JSON line ({"exports", "records", "compression"}) when every export succeeded.
Exit status: 0 every export succeeded; 1 an export failed; 2 usage; 3 the SDK is missing (a
line starting with SKIP says so).
"""

import argparse
import json
import sys
import uuid

try:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
except ImportError as e:  # pragma: no cover - depends on the machine
    print(
        f"SKIP: the OpenTelemetry Python SDK is not installed ({e}); install it with "
        "`python3 -m pip install opentelemetry-sdk==1.45.2 "
        "opentelemetry-exporter-otlp-proto-http==1.45.2`",
        file=sys.stderr,
    )
    sys.exit(3)


class CheckedExporter(OTLPLogExporter):
    """The SDK's exporter, remembering the result of every export."""

    results = []

    def export(self, batch):
        result = super().export(batch)
        self.results.append((result, len(batch)))
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="the full /v1/logs URL")
    ap.add_argument("--api-key", help="sent as x-api-key")
    ap.add_argument("--gzip", action="store_true", help="Content-Encoding: gzip")
    ap.add_argument("--tools", type=int, default=3, help="tool records to send")
    ap.add_argument("--run-id", default="", help="a prefix for the records' uids")
    args = ap.parse_args()
    exporter = CheckedExporter(
        endpoint=args.endpoint,
        headers={"x-api-key": args.api_key} if args.api_key else None,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression,
        timeout=10,
    )
    resource = Resource.create({"service.name": "sdk-app", "service.version": "4.5.6"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("sdk-test", "1.0")
    uid = lambda: f"{args.run_id}{uuid.uuid4()}"  # noqa: E731
    user = str(uuid.uuid4())
    logger.emit(
        event_name="cli_telemetry.command",
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        attributes={
            "log.record.uid": uid(), "enduser.pseudo.id": user,
            "cli_telemetry.action": "build", "cli_telemetry.duration_ms": 40,
            "cli_telemetry.is_success": True,
        },
    )
    for i in range(args.tools):
        ok = i % 3 != 2
        attributes = {
            "log.record.uid": uid(), "enduser.pseudo.id": user,
            "gen_ai.tool.name": "read_file", "gen_ai.operation.name": "execute_tool",
            "cli_telemetry.duration_ms": 10 + i, "cli_telemetry.is_success": ok,
        }
        if not ok:
            attributes.update({"error.message": "not found", "error.type": "_OTHER"})
        logger.emit(
            event_name="cli_telemetry.tool",
            severity_number=SeverityNumber.INFO if ok else SeverityNumber.ERROR,
            severity_text="INFO" if ok else "ERROR",
            attributes=attributes,
        )
    provider.shutdown()
    failed = [r for r, _ in exporter.results if r != LogRecordExportResult.SUCCESS]
    if failed or not exporter.results:
        print(f"FAIL: {len(failed)} of {len(exporter.results)} exports failed", file=sys.stderr)
        return 1
    print(json.dumps({
        "exports": len(exporter.results),
        "records": sum(n for _, n in exporter.results),
        "compression": "gzip" if args.gzip else "none",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
