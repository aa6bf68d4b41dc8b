//! The client: the application's handle on telemetry. It builds records from events
//! ([`records`]), keeps the running sessions ([`session`], [`sessions`]) and hands each
//! record to its sink.

mod builder;
mod flush;
mod names;
mod otel_setup;
mod records;
mod report;
mod session;
mod sessions;
mod spans;
mod turn;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use builder::ClientBuilder;
pub use flush::FlushGuard;
pub use session::SessionGuard;
pub(crate) use session::ToolCallInfo;
pub(crate) use sessions::{SessionKey, in_session, within as within_session};
pub(crate) use spans::RecordTrace;
pub use turn::ModelTurn;

use crate::config::{self, Consent, Env};
use crate::delivery::{Delivery, OtelStream};
use crate::event::{BuiltinEvent, CommandEvent, Event};
use crate::export::Exporter;
use crate::files;
use crate::files::DEBUG_USER_UUID;
use crate::metrics::{Measure, Metrics};
use crate::outbox::Outbox;
use crate::outcome::Outcome;
use crate::record::Fixed;
use crate::scrub::Scrubber;
use crate::sink::Sink;
use crate::trace::RemoteParent;
use names::NameCache;
use sessions::Sessions;

/// The operator's metrics: the instruments, and where their records go at the last flush
/// point.
struct MetricsSignal {
    metrics: Metrics,
    /// Its destinations: OTLP delivery, the console, the application's own sink.
    sinks: Vec<Arc<dyn Sink>>,
}

/// A telemetry client. Cheap to clone (an `Arc`), `Send + Sync`.
///
/// ```
/// use telemetry_runtime::{Client, Env};
/// // No endpoint: records are built only for debug mode, nothing leaves the machine.
/// let client = Client::builder().app("mytool", "1.2.3").env(Env::empty()).build();
/// assert!(client.is_enabled());
/// client.track_command("run", Vec::<String>::new());
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    app: String,
    version: String,
    /// The usage stream's consent.
    consent: Consent,
    /// The operator's OpenTelemetry stream's consent.
    otel: Consent,
    /// Where the operator's stream goes; `None`: it is off or has nowhere to go (then no
    /// record carries trace context).
    otel_stream: Option<OtelStream>,
    /// What the status says of each signal of the operator's stream.
    otel_signals: Vec<crate::status::SignalStatus>,
    /// The operator's metrics and where their records go; `None` (then nothing is
    /// aggregated) unless the operator's stream is on and has a metrics destination.
    metrics: Option<MetricsSignal>,
    /// The parent process's span (`TRACEPARENT`, `TRACESTATE`), when valid.
    remote: Option<RemoteParent>,
    config_dir: Option<PathBuf>,
    tags: Vec<(String, String)>,
    os_language: String,
    user_uuid: OnceLock<String>,
    /// What every record of this client repeats, built at its first record.
    fixed: OnceLock<Fixed>,
    /// Names (tool, agent, model) and their scrubbed form.
    names: NameCache,
    /// Where the usage stream's records go; `None`: nowhere (no endpoint).
    sink: Option<Arc<dyn Sink>>,
    /// The HTTP delivery when records are sent (the same object as `sink`).
    delivery: Option<Arc<Delivery>>,
    debug: bool,
    /// One deadline for a whole flush: the request timeout.
    flush_timeout: Duration,
    /// The one flush deadline of the process, shared by every destination.
    flush_window: crate::delivery::FlushWindow,
    /// Why nothing is sent although an endpoint was given (it cannot be used).
    nothing_sent: Option<String>,
    scrubber: Scrubber,
    /// The running sessions (see [`sessions`]).
    sessions: Mutex<Sessions>,
    env: Env,
    endpoint: Option<String>,
    /// The send budget chosen (for `Client::send_budget` and the status report; delivery got
    /// its own copy when it was built). `None`: the default applies.
    send_budget: Option<Duration>,
    /// The wire format chosen (delivery was built with it).
    exporter: Exporter,
    /// Each setting's name and what decided it (for the status report).
    decided_by: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("app", &self.app)
            .field("version", &self.version)
            .field("consent", &self.consent)
            .field("config_dir", &self.config_dir)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(config::redact_endpoint),
            )
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the process environment only: the application name is the
    /// executable's file name, and the config dir is the platform's config dir joined with
    /// it (see [`platform_config_dir`](crate::platform_config_dir)). An application installs
    /// it with `set_global(Client::from_env())`; [`global()`](crate::global) never builds it by
    /// itself (without an application client, telemetry is off).
    ///
    /// ```no_run
    /// let _ = telemetry_runtime::set_global(telemetry_runtime::Client::from_env());
    /// ```
    #[must_use]
    pub fn from_env() -> Self {
        let env = Env::from_process();
        let app = builder::default_app_name();
        let mut builder = Self::builder();
        if let Some(dir) = config::platform_config_dir(&env) {
            builder = builder.config_dir(dir.join(&app));
        }
        builder.app(app, "unknown").env(env).build()
    }

    /// A client that is disabled: records nothing, writes nothing.
    ///
    /// ```
    /// assert!(!telemetry_runtime::Client::disabled().is_enabled());
    /// ```
    #[must_use]
    pub fn disabled() -> Self {
        Self::builder().env(Env::empty()).enabled(false).build()
    }

    /// Whether the usage stream (the vendor's anonymous statistics) is enabled: see
    /// [`consent`](Self::consent). The operator's OpenTelemetry stream has its own switch
    /// ([`otel_consent`](Self::otel_consent)).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.consent.enabled
    }

    /// Whether the operator's OpenTelemetry stream is switched on (`TELEMETRY_OTEL`,
    /// [`ClientBuilder::otel`], `OTEL_SDK_DISABLED`).
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let env = Env::from_pairs([("DO_NOT_TRACK", "1"), ("TELEMETRY_OTEL", "1")]);
    /// let client = Client::builder().env(env).build();
    /// assert!(!client.is_enabled() && client.is_otel_enabled());
    /// ```
    #[must_use]
    pub fn is_otel_enabled(&self) -> bool {
        self.inner.otel.enabled
    }

    /// Whether the operator's OpenTelemetry stream is on, which input decided, and why.
    #[must_use]
    pub fn otel_consent(&self) -> &Consent {
        &self.inner.otel
    }

    /// Each signal of the operator's stream, for the status report.
    pub(crate) fn otel_signals(&self) -> &[crate::status::SignalStatus] {
        &self.inner.otel_signals
    }

    /// Whether tracked calls make records at all: for the usage stream, or for the
    /// operator's stream when it has somewhere to go.
    pub(crate) fn is_recording(&self) -> bool {
        self.inner.consent.enabled || self.inner.otel_stream.is_some() || self.has_metrics()
    }

    /// Whether debug mode is on (records printed, not sent).
    #[must_use]
    pub fn is_debug(&self) -> bool {
        self.inner.debug
    }

    /// Whether the usage stream is enabled, which source decided, and why.
    #[must_use]
    pub fn consent(&self) -> &Consent {
        &self.inner.consent
    }

    /// The application name (the records' `source`).
    #[must_use]
    pub fn app_name(&self) -> &str {
        &self.inner.app
    }

    /// The application version.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The config dir, if any.
    #[must_use]
    pub fn config_dir(&self) -> Option<&Path> {
        self.inner.config_dir.as_deref()
    }

    /// The endpoint records are sent to, if any (never the API key).
    #[must_use]
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.delivery.as_deref().map(Delivery::endpoint)
    }

    /// The endpoint from the builder or `TELEMETRY_ENDPOINT`, whether or not telemetry is
    /// enabled. It may hold credentials: print
    /// [`redact_endpoint`](crate::config::redact_endpoint)'s text of it, as the status report does.
    #[must_use]
    pub fn configured_endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// How long a process may spend sending before records wait in the outbox: the builder's
    /// [`send_budget`](ClientBuilder::send_budget), `TELEMETRY_SEND_BUDGET_MS`, or
    /// [`DEFAULT_SEND_BUDGET`](crate::config::DEFAULT_SEND_BUDGET).
    #[must_use]
    pub fn send_budget(&self) -> Duration {
        self.inner
            .send_budget
            .unwrap_or(config::DEFAULT_SEND_BUDGET)
    }

    /// The timeout of one request, the deadline of a flush (see
    /// [`ClientBuilder::timeout`]).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.flush_timeout
    }

    /// Why nothing is sent although an endpoint was given: where it came from and what is
    /// wrong with it (see [`Status::endpoint_problem`](crate::Status::endpoint_problem)).
    pub(crate) fn endpoint_problem(&self) -> Option<&str> {
        self.inner.nothing_sent.as_deref()
    }

    /// The wire format records are sent in: the builder's
    /// [`exporter`](ClientBuilder::exporter), `TELEMETRY_EXPORTER`, or the default.
    #[must_use]
    pub fn exporter(&self) -> Exporter {
        self.inner.exporter
    }

    /// Each setting's name and what decided it: a variable name (e.g.
    /// `CAGENT_TELEMETRY_ENDPOINT`), `application` or `default`.
    pub(crate) fn decided_by(&self) -> &[(&'static str, String)] {
        &self.inner.decided_by
    }

    /// Keeps every record of this process on the machine: they wait in the outbox and a later
    /// process sends them, if telemetry is still enabled then. Used when the first-run notice
    /// is shown, so nothing leaves before the user could read how to opt out.
    pub fn hold_delivery(&self) {
        if let Some(d) = &self.inner.delivery {
            d.hold();
        }
    }

    /// How many records wait in the outbox.
    #[must_use]
    pub fn queued_records(&self) -> usize {
        self.inner
            .config_dir
            .as_deref()
            .map_or(0, |d| Outbox::new(d, &self.inner.app).count())
    }

    /// The anonymous id if one was already created (never creates one).
    #[must_use]
    pub fn existing_user_uuid(&self) -> Option<String> {
        files::read_user_uuid(self.inner.config_dir.as_deref()?)
    }

    /// Persists the user's choice in the config dir (`telemetry enable` / `telemetry disable`).
    /// It applies to clients built afterwards; the environment still overrides it. Disabling
    /// also deletes the outbox unsent.
    ///
    /// # Errors
    /// No config dir, or it cannot be written.
    pub fn persist_choice(&self, enabled: bool) -> std::io::Result<()> {
        let dir = self.require_config_dir()?;
        std::fs::create_dir_all(dir)?;
        let text: &[u8] = if enabled { b"enabled\n" } else { b"disabled\n" };
        files::replace(&dir.join(files::CONSENT_FILE), text, true)?;
        if !enabled {
            Outbox::new(dir, &self.inner.app).delete()?;
        }
        Ok(())
    }

    /// Forgets this installation: deletes the anonymous id and the outbox; when telemetry is
    /// enabled, a new id is created at once (when disabled, none is created until it is).
    ///
    /// # Errors
    /// No config dir, or a file cannot be removed.
    pub fn reset(&self) -> std::io::Result<()> {
        let dir = self.require_config_dir()?;
        files::remove(&dir.join(files::USER_UUID_FILE))?;
        files::clean_temps(dir, files::USER_UUID_FILE, true);
        files::clean_temps(dir, files::CONSENT_FILE, true);
        Outbox::new(dir, &self.inner.app).delete()?;
        if self.is_enabled() {
            let _ = files::load_or_create_user_uuid(Some(dir));
        }
        Ok(())
    }

    /// The environment snapshot this client was built from.
    pub(crate) fn env(&self) -> &Env {
        &self.inner.env
    }

    fn require_config_dir(&self) -> std::io::Result<&Path> {
        self.inner.config_dir.as_deref().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no telemetry config dir is set",
            )
        })
    }

    /// The tags from `TELEMETRY_TAGS`.
    #[must_use]
    pub fn tags(&self) -> &[(String, String)] {
        &self.inner.tags
    }

    /// The anonymous user id, created on first use (only when the usage stream is enabled).
    /// Debug mode, and the operator's stream alone, create no file: they show the existing
    /// id, or [`DEBUG_USER_UUID`] when there is none yet.
    fn user_uuid(&self) -> &str {
        self.inner.user_uuid.get_or_init(|| {
            let dir = self.inner.config_dir.as_deref();
            if self.inner.debug || !self.inner.consent.enabled {
                return dir
                    .and_then(files::read_user_uuid)
                    .unwrap_or_else(|| DEBUG_USER_UUID.to_owned());
            }
            files::load_or_create_user_uuid(dir)
        })
    }

    /// Whether built records go anywhere (an endpoint, memory, debug output, or the
    /// operator's stream).
    fn records_go_somewhere(&self) -> bool {
        (self.inner.consent.enabled && self.inner.sink.is_some())
            || self.inner.otel_stream.is_some()
    }

    /// Records any event. Synchronous: returns once the record was delivered or its delivery
    /// failed (within the configured timeouts). Never panics, never writes to stdout.
    pub fn track(&self, event: &dyn Event) {
        match event.__builtin() {
            Some(builtin) => self.track_builtin(builtin.0),
            None if self.records_go_somewhere() => {
                self.dispatch(self.record_json(event), RecordTrace::Current);
            }
            None => {}
        }
    }

    /// [`track`](Self::track) for the built-in events, on the fast path: a command, tool
    /// call, model turn or session end recorded directly is a span ending now (a tool of
    /// type `function`); any other record is made in the current span.
    fn track_builtin(&self, event: &dyn BuiltinEvent) {
        let span = event.span_duration().and_then(|d| self.span_ending_now(d));
        let attrs: &[(&'static str, &str)] = match event.kind() {
            crate::event::EventKind::Tool => &[("tool_type", "function")],
            _ => &[],
        };
        let trace = match span {
            Some(_) => RecordTrace::Ends(span, attrs),
            None => RecordTrace::Current,
        };
        self.track_builtin_in(event, trace);
    }

    /// [`track_builtin`](Self::track_builtin) with the record's place in the trace.
    pub(crate) fn track_builtin_in(&self, event: &dyn BuiltinEvent, trace: RecordTrace<'_>) {
        if let Some(m) = &self.inner.metrics {
            measure(&m.metrics, event, &trace);
        }
        if self.records_go_somewhere() {
            self.dispatch(self.builtin_json(event), trace);
        }
    }

    /// Hands a record's JSON text to each stream: the usage stream as it is, the operator's
    /// stream with its `trace` object.
    fn dispatch(&self, line: String, trace: RecordTrace<'_>) {
        let usage = self
            .inner
            .sink
            .as_deref()
            .filter(|_| self.inner.consent.enabled);
        let span = matches!(trace, RecordTrace::Ends(Some(end), _) if end.span.cx.sampled);
        match (usage, &self.inner.otel_stream) {
            (Some(u), Some(o)) => {
                let traced = self.traced(line.clone(), trace);
                u.record(line);
                o.record(traced, span);
            }
            (Some(u), None) => u.record(line),
            (None, Some(o)) => o.record(self.traced(line, trace), span),
            (None, None) => {}
        }
    }

    /// Records a command: `action` and the reported `args` (scrubbed), successful, duration 0.
    /// The tracking macro [`track_command`](../telemetry/attr.track_command.html) records
    /// outcome and duration; use [`track`](Self::track) with a [`CommandEvent`] for full control.
    pub fn track_command<S: AsRef<str>>(&self, action: &str, args: impl IntoIterator<Item = S>) {
        if !self.is_recording() {
            return;
        }
        let args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self.track_builtin(&CommandEvent::new(
            action,
            args,
            Outcome::Success,
            Duration::ZERO,
        ));
    }
}

/// Adds what a built-in event measures to the operator's metrics; a model turn's provider,
/// duration and error come from its span.
fn measure(metrics: &Metrics, event: &dyn BuiltinEvent, trace: &RecordTrace<'_>) {
    match event.measure() {
        Some(Measure::Turn {
            model,
            input,
            output,
            cost,
            ..
        }) => metrics.measure(Measure::Turn {
            model,
            provider: trace.attr("provider"),
            input,
            output,
            cost,
            nanos: trace.span_nanos(),
            error: trace.attr("error"),
        }),
        Some(m) => metrics.measure(m),
        None => {}
    }
}
