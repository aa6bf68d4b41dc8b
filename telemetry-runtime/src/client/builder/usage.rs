//! The usage stream's wiring, for [`build`](super::ClientBuilder::build): where a client's
//! records go (the application's sink, debug output, HTTP delivery or nowhere) and why nothing
//! is sent when an endpoint was given but cannot be used. The operator's stream is wired
//! beside it, in `otel_setup`.

use std::sync::Arc;

use super::{ClientBuilder, Resolved};
use crate::config::{DEFAULT_API_KEY_HEADER, Exporter};
use crate::delivery::{self, DEFAULT_SEND_BUDGET, Delivery};
use crate::export::{self, Cagent, OtlpResource, WireFormat};
use crate::outbox::Outbox;
use crate::sink::{DebugSink, Sink};

/// Where a client's records go.
pub(super) struct Wiring {
    pub(super) sink: Option<Arc<dyn Sink>>,
    /// The HTTP delivery, when records are sent (the same object as `sink`).
    pub(super) delivery: Option<Arc<Delivery>>,
    /// Why nothing is sent although an endpoint was given.
    pub(super) nothing_sent: Option<String>,
}

impl ClientBuilder {
    /// Where records go: the application's sink, debug output, HTTP delivery (only when
    /// enabled, not in debug mode, with a usable endpoint) or nowhere; and, when an endpoint
    /// was given but cannot be used, why nothing is sent.
    pub(super) fn sink_and_delivery(&self, r: &Resolved<'_>) -> Wiring {
        let settings = r.settings;
        let wanted = self.sink.is_none() && !settings.debug && settings.consent.enabled;
        let (delivery, problem) = match wanted.then(|| self.delivery(r)) {
            Some(Ok(d)) => (Some(Arc::new(d)), None),
            Some(Err(problem)) => (None, problem),
            None => (None, None),
        };
        let problem = problem.or_else(|| settings.endpoint_problem.clone());
        let sink: Option<Arc<dyn Sink>> = match (&self.sink, settings.debug, &delivery) {
            (Some(sink), _, _) => Some(sink.clone()),
            (None, true, _) => Some(Arc::new(DebugSink(r.diag.clone()))),
            (None, false, Some(d)) => Some(d.clone()),
            (None, false, None) => None,
        };
        // With the application's own sink no endpoint is used: nothing to explain.
        let problem = (delivery.is_none() && self.sink.is_none())
            .then_some(problem)
            .flatten();
        Wiring {
            sink,
            delivery,
            nothing_sent: problem,
        }
    }

    /// HTTP delivery in the chosen wire format, with the outbox of the config dir. `Err`
    /// without an endpoint (`None`) or with one that cannot be used (why).
    fn delivery(&self, r: &Resolved<'_>) -> Result<Delivery, Option<String>> {
        let Resolved {
            settings,
            env,
            app,
            version,
            ..
        } = *r;
        let timeout = r.timeouts.request;
        let header = self
            .api_key_header
            .clone()
            .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
        let headers: Vec<(String, String)> = settings
            .api_key
            .clone()
            .map(|k| vec![(header, k)])
            .unwrap_or_default();
        let endpoint = settings.endpoint.clone().ok_or(None)?;
        let format: Arc<dyn WireFormat> = match settings.exporter {
            Exporter::Cagent => Arc::new(Cagent),
            // The usage stream's OTLP: the application's resource alone, and its protocol
            // and compression from code. `OTEL_*` configure the operator's stream only.
            Exporter::Otlp => Arc::new(export::Otlp::new(
                &OtlpResource::new(app, version, &[]),
                self.otlp_protocol.unwrap_or_default(),
                self.otlp_compression.unwrap_or_default(),
            )),
        };
        let transport = crate::transport::Transport::new(
            endpoint,
            format!("{app}/{version}"),
            headers,
            r.timeouts.connect,
            timeout,
            env,
        );
        Ok(Delivery::new(
            transport,
            format,
            self.config_dir.as_deref().map(|d| Outbox::new(d, app)),
            delivery::Settings {
                timeout,
                send_budget: settings.send_budget.unwrap_or(DEFAULT_SEND_BUDGET),
                direct: r.direct.clone(),
            },
            r.diag.clone(),
        ))
    }
}
