//! The operator's OpenTelemetry stream, wired from the standard variables only: for each
//! signal (traces, logs, metrics) its exporters (`OTEL_<SIGNAL>_EXPORTER`: `otlp`, `console`, `none`),
//! and for OTLP its endpoint, headers, timeout, protocol, compression and outbox.
//!
//! Invariants: nothing of the usage stream reaches this stream (no key, no header, no
//! endpoint, no outbox file), and nothing here reaches the usage stream; a signal without a
//! usable endpoint sends nothing (one warning for an unusable one); each signal is its own
//! destination (its own outbox file and failure state), so one failing never stops another.

use std::sync::Arc;
use std::time::Duration;

use super::builder::Resolved;
use crate::config::{self, Env};
use crate::delivery::{self, DEFAULT_SEND_BUDGET, Delivery, OtelStream, outbox_file};
use crate::diag::{DiagOut, printable};
use crate::export::{self, OtlpCompression, OtlpProtocol, Signal, WireFormat};
use crate::outbox::Outbox;
use crate::sink::Sink;
use crate::status::SignalStatus;
use crate::transport::Transport;

/// The signals of the operator's stream, in the order the status shows them.
pub(super) const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

/// What the stream is wired to, and what the status says of each signal.
pub(super) struct OtelWiring {
    pub(super) stream: Option<OtelStream>,
    pub(super) signals: Vec<SignalStatus>,
    /// The longest request timeout of its signals (each bounds its own flushes).
    pub(super) timeout: Duration,
    /// Where the metrics records go (they are not the stream's records: the client reports
    /// them at the last flush point).
    pub(super) metrics: Vec<Arc<dyn Sink>>,
}

/// Which exporters `OTEL_<SIGNAL>_EXPORTER` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Exporters {
    otlp: bool,
    console: bool,
}

/// `OTEL_<SIGNAL>_EXPORTER`: a comma-separated list of `otlp` (the default), `console` and
/// `none` (nothing, whatever else is listed). Unknown names are skipped with one warning;
/// when nothing known is left, the default applies. Returns the exporters and what decided.
fn exporters(env: &Env, signal: Signal, warnings: &mut Vec<String>) -> (Exporters, String) {
    let var = format!("OTEL_{}_EXPORTER", signal.var_part());
    let Some(raw) = env.non_empty(&var) else {
        return (
            Exporters {
                otlp: true,
                console: false,
            },
            "default".to_owned(),
        );
    };
    let mut chosen = Exporters::default();
    let (mut none, mut unknown) = (false, Vec::new());
    for name in raw.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        match name.as_str() {
            "otlp" => chosen.otlp = true,
            "console" => chosen.console = true,
            "none" => none = true,
            "" => {}
            other => unknown.push(other.to_owned()),
        }
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "ignoring {var}={raw:?}: unknown exporter(s) {} (expected `otlp`, `console` or \
             `none`)",
            unknown.join(", ")
        ));
    }
    if none {
        return (Exporters::default(), var);
    }
    if chosen == Exporters::default() {
        chosen.otlp = true;
        return (chosen, "default".to_owned());
    }
    (chosen, var)
}

/// Wires the stream: the application's own sink when it gave one (it takes every record but
/// the metrics), else each signal's exporters; the metrics to the application's own metrics
/// sink when it gave one, else to the metrics signal's exporters (none when the application
/// took the stream's other records). `None` stream when it is off or has nowhere to go.
pub(super) fn wire(
    r: &Resolved<'_>,
    [app_sink, app_metrics_sink]: [Option<&Arc<dyn Sink>>; 2],
    config_dir: Option<&std::path::Path>,
) -> OtelWiring {
    if !r.settings.otel.enabled {
        let set = SIGNALS
            .iter()
            .find_map(|&signal| export::otlp_endpoint(r.env, signal).map(|(_, var)| var));
        if let Some(var) = set {
            // Often set for other programs: said only in verbose mode, never acted on.
            r.diag.line(&format!(
                "telemetry: {var} is set, but the OpenTelemetry stream is off ({}): nothing \
                 is sent to it; the usage stream never uses it",
                r.settings.otel.decided_by
            ));
        }
        return OtelWiring {
            stream: None,
            signals: Vec::new(),
            timeout: Duration::ZERO,
            metrics: Vec::new(),
        };
    }
    let mut stream = OtelStream::default();
    let mut metrics: Vec<Arc<dyn Sink>> = app_metrics_sink.cloned().into_iter().collect();
    if let Some(sink) = app_sink {
        stream.add(Signal::Logs, sink.clone());
        let mut signals = vec![SignalStatus::new("all", "application sink")];
        if !metrics.is_empty() {
            signals.push(SignalStatus::new("metrics", "application sink"));
        }
        return OtelWiring {
            stream: Some(stream),
            signals,
            timeout: Duration::ZERO,
            metrics,
        };
    }
    let mut warnings = Vec::new();
    let (resource, resource_warnings) = export::otlp_resource(r.env, r.app, r.version);
    warnings.extend(resource_warnings);
    let mut signals = Vec::new();
    let mut longest = Duration::ZERO;
    for signal in SIGNALS {
        if signal == Signal::Metrics && !metrics.is_empty() {
            signals.push(SignalStatus::new("metrics", "application sink"));
            continue;
        }
        let mut place = |sink: Arc<dyn Sink>| match signal {
            Signal::Metrics => metrics.push(sink),
            _ => stream.add(signal, sink),
        };
        let (chosen, by) = exporters(r.env, signal, &mut warnings);
        let mut status = SignalStatus::new(signal.name(), "");
        status.exporter_decided_by = by;
        if chosen.console {
            let format = export::Otlp::for_signal(
                signal,
                &resource,
                OtlpProtocol::Json,
                OtlpCompression::None,
            );
            let out = r.console.clone();
            place(Arc::new(Console { format, out }));
            status.exporters.push("console");
        }
        if chosen.otlp {
            match otlp_delivery(r, signal, &resource, config_dir, &mut warnings) {
                Ok((delivery, endpoint, by)) => {
                    longest = longest.max(delivery.timeout());
                    status.endpoint = Some(config::redact_endpoint(&endpoint));
                    status.endpoint_decided_by = by;
                    place(Arc::new(delivery));
                    status.exporters.push("otlp");
                }
                Err(why) => status.problem = Some(why),
            }
        }
        if let Some(dir) = config_dir {
            status.queued_records = Outbox::named(dir, outbox_file(signal), r.app).count();
        }
        signals.push(status);
    }
    for w in &warnings {
        let w = w.strip_prefix("telemetry: ").unwrap_or(w);
        eprintln!("telemetry: {}", printable(w, false));
    }
    OtelWiring {
        stream: (!stream.is_empty()).then_some(stream),
        signals,
        timeout: longest,
        metrics,
    }
}

/// The HTTP delivery of one signal, its endpoint and the variable that gave it; `Err(why)`
/// when the signal has no usable endpoint.
fn otlp_delivery(
    r: &Resolved<'_>,
    signal: Signal,
    resource: &export::OtlpResource,
    config_dir: Option<&std::path::Path>,
    warnings: &mut Vec<String>,
) -> Result<(Delivery, String, String), String> {
    let env = r.env;
    let Some((endpoint, var)) = export::otlp_endpoint(env, signal) else {
        return Err(format!(
            "no endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_{}_ENDPOINT)",
            signal.var_part()
        ));
    };
    if let Some(problem) = config::endpoint_problem(&endpoint) {
        let shown = format!("{var}={:?}", config::redact_endpoint(&endpoint));
        warnings.push(format!(
            "ignoring {shown}: {problem}; no {} are sent",
            signal.name()
        ));
        return Err(format!("{shown} cannot be used: {problem}"));
    }
    let (headers, header_warnings) = export::otlp_headers(env, signal);
    warnings.extend(header_warnings);
    let (timeout, timeout_warning) = export::otlp_timeout(env, signal);
    warnings.extend(timeout_warning);
    let timeout = timeout.map_or(r.timeouts.request, |(t, _)| t);
    let (protocol, protocol_warning) = export::otlp_protocol(env, signal, None);
    let (compression, compression_warning) = export::otlp_compression(env, signal, None);
    warnings.extend(protocol_warning.into_iter().chain(compression_warning));
    let transport = Transport::new(
        endpoint.clone(),
        format!("{}/{}", r.app, r.version),
        headers,
        r.timeouts.connect,
        timeout,
        env,
    );
    let format: Arc<dyn WireFormat> = Arc::new(export::Otlp::for_signal(
        signal,
        resource,
        protocol,
        compression,
    ));
    let outbox = config_dir.map(|d| Outbox::named(d, outbox_file(signal), r.app));
    let label = match signal {
        Signal::Traces => "otel traces",
        Signal::Logs => "otel logs",
        Signal::Metrics => "otel metrics",
    };
    let delivery = Delivery::new(
        transport,
        format,
        outbox,
        delivery::Settings {
            timeout,
            send_budget: r.settings.send_budget.unwrap_or(DEFAULT_SEND_BUDGET),
            direct: r.direct.clone(),
        },
        r.diag.labelled(label),
    );
    Ok((delivery, endpoint, var))
}

/// The `console` exporter: each record's OTLP request, in the JSON mapping, on one line of
/// stderr (or the application's debug output).
struct Console {
    format: export::Otlp,
    out: DiagOut,
}

impl Sink for Console {
    fn record(&self, json: String) {
        let encoded = self.format.encode_counted(std::slice::from_ref(&json), 0);
        if encoded.skipped == 0 && encoded.too_large == 0 {
            self.out.line(&String::from_utf8_lossy(&encoded.body));
        }
    }
}

/// The operator's metrics, when its stream is `on` and has a metrics destination (`sinks`);
/// the temporality from `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (one warning for
/// a value that is not one).
pub(super) fn metrics_signal(
    on: bool,
    env: &Env,
    sinks: Vec<Arc<dyn Sink>>,
) -> Option<super::MetricsSignal> {
    if !on || sinks.is_empty() {
        return None;
    }
    let (temporality, warning) = crate::metrics::temporality(env);
    if let Some(w) = warning {
        eprintln!("telemetry: {}", printable(&w, false));
    }
    Some(super::MetricsSignal {
        metrics: crate::metrics::Metrics::new(temporality),
        sinks,
    })
}
