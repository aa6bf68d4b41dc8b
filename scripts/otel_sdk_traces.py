#!/usr/bin/env python3
"""Sends one agent run as spans to an OTLP/HTTP endpoint with the official OpenTelemetry
Python SDK (`opentelemetry-sdk` + `opentelemetry-exporter-otlp-proto-http`: protobuf, its
default), as an instrumented application would: a TracerProvider, a SimpleSpanProcessor, the
OTLPSpanExporter, spans nested by the SDK's own context.

Usage: otel_sdk_traces.py --endpoint URL --session ID [--api-key KEY] [--gzip]

The run, in the GenAI semantic conventions' shapes: `run` (the command) → `invoke_agent
root` (gen_ai.conversation.id = ID) → model turns `chat small` (CLIENT, with token counts)
and three tool calls `execute_tool read_file` / `read_file` / `list_directory`, the second
failing with status ERROR "not found".

Prints one JSON line ({"exports", "spans", "trace_id"}) when every export succeeded.
Exit status: 0 every export succeeded; 1 an export failed; 2 usage; 3 the SDK is missing (a
line starting with SKIP says so).
"""

import argparse
import json
import sys

try:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as e:  # pragma: no cover - depends on the machine
    print(
        f"SKIP: the OpenTelemetry Python SDK is not installed ({e}); install it with "
        "`python3 -m pip install opentelemetry-sdk==1.45.2 "
        "opentelemetry-exporter-otlp-proto-http==1.45.2`",
        file=sys.stderr,
    )
    sys.exit(3)


class CheckedExporter(OTLPSpanExporter):
    """The SDK's exporter, remembering the result of every export."""

    results = []

    def export(self, spans):
        result = super().export(spans)
        self.results.append((result, len(spans)))
        return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True, help="the full /v1/traces URL")
    ap.add_argument("--session", required=True, help="gen_ai.conversation.id")
    ap.add_argument("--api-key", help="sent as x-api-key")
    ap.add_argument("--gzip", action="store_true", help="Content-Encoding: gzip")
    args = ap.parse_args()
    exporter = CheckedExporter(
        endpoint=args.endpoint,
        headers={"x-api-key": args.api_key} if args.api_key else None,
        compression=Compression.Gzip if args.gzip else Compression.NoCompression,
        timeout=10,
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk-test", "1.0")
    common = {"gen_ai.conversation.id": args.session, "gen_ai.agent.name": "root"}

    def chat(tokens_in, tokens_out):
        with tracer.start_as_current_span("chat small", kind=SpanKind.CLIENT, attributes={
            **common, "gen_ai.operation.name": "chat", "gen_ai.provider.name": "scripted",
            "gen_ai.request.model": "small", "gen_ai.usage.input_tokens": tokens_in,
            "gen_ai.usage.output_tokens": tokens_out,
        }):
            pass

    def tool(name, error=None):
        with tracer.start_as_current_span(f"execute_tool {name}", attributes={
            **common, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
        }) as span:
            if error:
                span.set_attribute("error.type", "_OTHER")
                span.set_status(Status(StatusCode.ERROR, error))

    with tracer.start_as_current_span("run") as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("invoke_agent root", attributes={
            **common, "gen_ai.operation.name": "invoke_agent",
        }):
            chat(40, 5)
            tool("read_file")
            chat(60, 8)
            tool("read_file", "not found")
            chat(55, 9)
            tool("list_directory")
            chat(70, 12)
    provider.shutdown()
    failed = [r for r, _ in exporter.results if r != SpanExportResult.SUCCESS]
    if failed or not exporter.results:
        print(f"FAIL: {len(failed)} of {len(exporter.results)} exports failed", file=sys.stderr)
        return 1
    print(json.dumps({
        "exports": len(exporter.results),
        "spans": sum(n for _, n in exporter.results),
        "trace_id": trace_id,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
