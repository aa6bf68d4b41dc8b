//! The operator's OpenTelemetry stream (B) beside the usage stream (A): its own switch, its own
//! consent, and a status that shows both.

use telemetry_runtime::{Client, ConsentSource, Env};

fn client(pairs: &[(&str, &str)]) -> Client {
    Client::builder()
        .app("mytool", "1.0")
        .env_prefix("MYTOOL")
        .env(Env::from_pairs(pairs.iter().copied()))
        .build()
}

#[test]
fn the_status_shows_both_streams_and_what_decided_each() {
    let c = client(&[("DO_NOT_TRACK", "1"), ("MYTOOL_TELEMETRY_OTEL", "on")]);
    let status = c.status();
    assert!(!status.enabled && status.otel.enabled);
    assert_eq!(status.source, ConsentSource::DoNotTrack);
    assert_eq!(status.otel.decided_by, "MYTOOL_TELEMETRY_OTEL");
    let text = status.to_string();
    assert!(text.contains("Telemetry:      disabled"), "{text}");
    assert!(
        text.contains("OpenTelemetry:  on (decided by MYTOOL_TELEMETRY_OTEL"),
        "{text}"
    );

    let text = client(&[]).status().to_string();
    assert!(
        text.contains("OpenTelemetry:  off (decided by default"),
        "{text}"
    );
    let off = client(&[("TELEMETRY_OTEL", "1"), ("OTEL_SDK_DISABLED", "true")]);
    assert!(!off.is_otel_enabled());
    assert!(
        off.status()
            .to_string()
            .contains("decided by OTEL_SDK_DISABLED")
    );
}

#[test]
fn the_usage_streams_opt_outs_and_the_operators_switch_are_independent() {
    for opt_out in [
        ("DO_NOT_TRACK", "1"),
        ("TELEMETRY_ENABLED", "false"),
        ("CI", "true"),
    ] {
        let c = client(&[opt_out, ("TELEMETRY_OTEL", "true")]);
        assert!(!c.is_enabled() && c.is_otel_enabled(), "{opt_out:?}");
    }
    let c = client(&[("TELEMETRY_ENABLED", "true"), ("TELEMETRY_OTEL", "off")]);
    assert!(c.is_enabled() && !c.is_otel_enabled());
    let c = Client::builder()
        .env(Env::empty())
        .enabled(false)
        .otel(true)
        .build();
    assert!(!c.is_enabled() && c.is_otel_enabled());
    assert_eq!(c.otel_consent().source, ConsentSource::Application);
}
