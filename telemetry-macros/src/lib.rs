//! Attribute macros of the `telemetry` crate. Use them through `telemetry`, not directly.
