//! [`ClientBuilder`]: the application's choices, turned into a [`Client`] by
//! [`build`](ClientBuilder::build), which reads the environment once.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

mod usage;

use self::usage::Wiring;
use super::otel_setup::{self, OtelWiring};
use super::{Client, Inner, names::NameCache};
use crate::config::{
    self, Choices, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Env, MAX_TIMEOUT, Settings,
};
use crate::delivery::{self, DEFAULT_SEND_BUDGET, DirectSpend};
use crate::diag::{DiagOut, printable};
use crate::export::{Exporter, OtlpCompression, OtlpProtocol};
use crate::outbox::Outbox;
use crate::scrub::Scrubber;
use crate::sink::Sink;
use crate::trace::{self, RemoteParent};

/// What decided a setting that no variable decided (as in the status report).
const BY_APPLICATION: &str = "application";
const BY_DEFAULT: &str = "default";

/// [`env`](Self::env) (the process environment unless replaced) is read once, in
/// [`build`](Self::build).
#[derive(Default)]
#[must_use]
pub struct ClientBuilder {
    app: Option<String>,
    version: Option<String>,
    endpoint: Option<String>,
    api_key: Option<String>,
    api_key_header: Option<String>,
    enabled: Option<bool>,
    debug: bool,
    verbose: bool,
    config_dir: Option<PathBuf>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    env: Option<Env>,
    env_prefix: Option<String>,
    send_budget: Option<Duration>,
    exporter: Option<Exporter>,
    otel: Option<bool>,
    otlp_protocol: Option<OtlpProtocol>,
    otlp_compression: Option<OtlpCompression>,
    sink: Option<Arc<dyn Sink>>,
    otel_sink: Option<Arc<dyn Sink>>,
    otel_metrics_sink: Option<Arc<dyn Sink>>,
    diag_writer: Option<Arc<Mutex<dyn Write + Send>>>,
}

impl ClientBuilder {
    /// The application's name (the record's `source`) and version.
    pub fn app(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.app = Some(name.into());
        self.version = Some(version.into());
        self
    }

    /// Where records are POSTed. `TELEMETRY_ENDPOINT` (or its prefixed form) overrides it,
    /// and then the key set in code is not sent. Without any endpoint, nothing leaves the
    /// machine. An endpoint that is not an `http://` or `https://` URL with a host is never
    /// used: one warning, nothing sent, and the status report says why.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().endpoint("localhost:4318/v1").env(Env::empty()).build();
    /// let why = client.status().endpoint_problem.unwrap();
    /// assert!(why.contains("the endpoint set in code") && why.contains("no scheme"));
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The API key sent with each request to the endpoint set in code, and only to it: an
    /// endpoint from the environment gets only `TELEMETRY_API_KEY` (or its prefixed form),
    /// read at the endpoint's own prefix level.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The header carrying the API key (default `x-api-key`).
    pub fn api_key_header(mut self, header: impl Into<String>) -> Self {
        self.api_key_header = Some(header.into());
        self
    }

    /// What the application asks for. The user's opt-out (environment, persisted choice)
    /// always wins over `enabled(true)`; `enabled(false)` always disables.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Debug mode: every record is printed to stderr as pretty JSON and not sent, and no
    /// anonymous id is created (an existing one is shown, else
    /// [`DEBUG_USER_UUID`](crate::config::DEBUG_USER_UUID)). `TELEMETRY_DEBUG=1` turns it on too.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Directory for the anonymous id, the persisted choice and the outbox.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// Connect timeout (default 0.5 s; at most 60 s, a longer one is cut with one warning).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Overall timeout of one request (default 1.5 s; at most
    /// [`MAX_TIMEOUT`](crate::config::MAX_TIMEOUT), 60 s: a longer one is cut to it with one
    /// warning). It is also the deadline of a flush, and of all flushes of the process
    /// together beyond the send budget. With the OTLP exporter, `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (or `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`) replaces it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The application's prefix for its variables: with `env_prefix("MYTOOL")`,
    /// `MYTOOL_TELEMETRY_ENABLED`, `_ENDPOINT`, `_API_KEY`, `_DEBUG`, `_VERBOSE`, `_TAGS`,
    /// `_SEND_BUDGET_MS` and `_EXPORTER` are read first, and the unprefixed `TELEMETRY_*`
    /// names only when the prefixed one is unset. `DO_NOT_TRACK` and the CI variables are
    /// never prefixed. The prefix is upper-cased; characters other than letters and digits
    /// become `_`.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let env = Env::from_pairs([
    ///     ("TELEMETRY_ENABLED", "true"),
    ///     ("MYTOOL_TELEMETRY_ENABLED", "false"),
    /// ]);
    /// let client = Client::builder().env_prefix("MYTOOL").env(env).build();
    /// assert!(!client.is_enabled());
    /// assert_eq!(client.consent().decided_by, "MYTOOL_TELEMETRY_ENABLED");
    /// ```
    pub fn env_prefix(mut self, prefix: &str) -> Self {
        self.env_prefix = config::normalise_prefix(prefix);
        self
    }

    /// How long a process may spend sending before records wait in the outbox for a later
    /// flush or run (default 100 ms). `TELEMETRY_SEND_BUDGET_MS` overrides it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().send_budget(Duration::from_millis(50)).env(Env::empty()).build();
    /// assert_eq!(client.send_budget(), Duration::from_millis(50));
    /// ```
    pub fn send_budget(mut self, budget: Duration) -> Self {
        self.send_budget = Some(budget);
        self
    }

    /// The wire format records are sent in (default [`Exporter::Cagent`]).
    /// `TELEMETRY_EXPORTER` (`cagent` or `otlp`) overrides it.
    ///
    /// ```
    /// use telemetry_runtime::config::Exporter;
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().exporter(Exporter::Otlp).env(Env::empty()).build();
    /// assert_eq!(client.exporter(), Exporter::Otlp);
    /// ```
    pub fn exporter(mut self, exporter: Exporter) -> Self {
        self.exporter = Some(exporter);
        self
    }

    /// Turns the operator's OpenTelemetry stream on (or off) in code: traces of every command,
    /// session, tool call and model turn, to the `OTEL_EXPORTER_OTLP_*` endpoints. Off by
    /// default; `TELEMETRY_OTEL` (or its prefixed form) overrides it, and
    /// `OTEL_SDK_DISABLED=true` turns it off whatever else says. The usage stream's opt-outs
    /// (`DO_NOT_TRACK`, `TELEMETRY_ENABLED=false`, CI, the persisted choice) do not govern it.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder().otel(true).env(Env::empty()).build();
    /// assert!(client.is_otel_enabled());
    /// let env = Env::from_pairs([("TELEMETRY_OTEL", "0")]);
    /// assert!(!Client::builder().otel(true).env(env).build().is_otel_enabled());
    /// ```
    pub fn otel(mut self, on: bool) -> Self {
        self.otel = Some(on);
        self
    }

    /// Sends the operator's stream to `sink` instead of its OpenTelemetry endpoints: each
    /// record as its compact JSON text with its `trace` object (ids, times, extras), the
    /// stream's consent still deciding whether any is made (see [`otel`](Self::otel)).
    /// [`testing::capture_otel`](crate::testing::capture_otel) uses it.
    pub fn otel_sink(mut self, sink: impl Sink) -> Self {
        self.otel_sink = Some(Arc::new(sink));
        self
    }

    /// Sends the operator's metrics to `sink`: at the last flush point (the outermost
    /// command returning, [`Client::shutdown`], the [`FlushGuard`](crate::FlushGuard)), the
    /// metrics recorded since the last report as one record (or several, each at most
    /// [`MAX_RECORD_BYTES`](crate::limits::MAX_RECORD_BYTES)), with `"event":"metrics"`,
    /// the operator's stream's consent still deciding whether anything is measured (see
    /// [`otel`](Self::otel)). Nothing is measured without a metrics destination.
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, testing::Records};
    /// let metrics = Records::default();
    /// let client = Client::builder()
    ///     .otel(true)
    ///     .env(Env::empty())
    ///     .otel_metrics_sink(metrics.clone())
    ///     .build();
    /// let ok = telemetry_runtime::Outcome::Success;
    /// client.record_tool_call("read_file", None, None, Default::default(), ok);
    /// client.shutdown();
    /// let record = &metrics.take()[0];
    /// assert_eq!(record["event"], "metrics");
    /// assert_eq!(record["properties"]["metrics"][0]["name"], "gen_ai.execute_tool.duration");
    /// ```
    pub fn otel_metrics_sink(mut self, sink: impl Sink) -> Self {
        self.otel_metrics_sink = Some(Arc::new(sink));
        self
    }

    /// How the OTLP exporter encodes records (default [`OtlpProtocol::Protobuf`], the
    /// OpenTelemetry specification's `http/protobuf`). `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` or
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` or `http/json`) overrides it.
    ///
    /// ```
    /// use telemetry_runtime::config::{Exporter, OtlpProtocol};
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder()
    ///     .exporter(Exporter::Otlp)
    ///     .otlp_protocol(OtlpProtocol::Json)
    ///     .endpoint("http://127.0.0.1:4318/v1/logs")
    ///     .env(Env::empty())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp_protocol = Some(protocol);
        self
    }

    /// Whether the OTLP exporter compresses request bodies (default
    /// [`OtlpCompression::None`]). `OTEL_EXPORTER_OTLP_LOGS_COMPRESSION` or
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip` or `none`) overrides it.
    ///
    /// ```
    /// use telemetry_runtime::config::{Exporter, OtlpCompression};
    /// use telemetry_runtime::{Client, Env};
    /// let client = Client::builder()
    ///     .exporter(Exporter::Otlp)
    ///     .otlp_compression(OtlpCompression::Gzip)
    ///     .endpoint("http://127.0.0.1:4318/v1/logs")
    ///     .env(Env::empty())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn otlp_compression(mut self, compression: OtlpCompression) -> Self {
        self.otlp_compression = Some(compression);
        self
    }

    /// The environment to read instead of the process's.
    pub fn env(mut self, env: Env) -> Self {
        self.env = Some(env);
        self
    }

    /// Uses an empty environment unless one was given.
    pub(crate) fn env_or_empty(mut self) -> Self {
        self.env.get_or_insert_with(Env::empty);
        self
    }

    /// Verbose mode: records are delivered normally, and each delivery decision (sent,
    /// queued, dropped, and why) is printed to stderr. `TELEMETRY_VERBOSE=1` turns it on too.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Where debug-mode output goes instead of stderr.
    pub fn debug_output(mut self, writer: Arc<Mutex<dyn Write + Send>>) -> Self {
        self.diag_writer = Some(writer);
        self
    }

    /// Sends every record to `sink` instead of an HTTP endpoint (a file, a channel, the
    /// application's own client). Consent still decides whether records are made at all;
    /// debug mode still prints instead. See [`Sink`] for an example.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Resolves the configuration and builds the client. Never fails: bad inputs fall back to
    /// documented defaults, with one warning each on stderr.
    pub fn build(self) -> Client {
        let env = self.env.clone().unwrap_or_else(Env::from_process);
        let app = self.app.clone().unwrap_or_else(default_app_name);
        let version = self.version.clone().unwrap_or_else(|| "unknown".to_owned());
        let dir = self.config_dir.as_deref();
        let mut settings =
            Settings::resolve(&env, &self.choices(), &|| config::read_persisted(dir));
        let timeouts = self.timeouts();
        settings
            .decided_by
            .push(("timeout", timeouts.decided_by.clone()));
        let scrubber = Scrubber::from_env(&env);
        let unclean_tags = drop_unclean_tags(&mut settings, &scrubber);
        let warnings = [
            &settings.consent.warnings,
            &settings.otel.warnings,
            &settings.warnings,
            &timeouts.warnings,
            &unclean_tags,
        ];
        for w in warnings.into_iter().flatten() {
            // Warnings quote the environment: never a control character to the terminal.
            eprintln!("{}", printable(w, false));
        }
        let diag = self.diag_out(settings.debug || settings.verbose);
        let direct = DirectSpend::default();
        let console = self.diag_out(true);
        let resolved = Resolved {
            settings: &settings,
            env: &env,
            app: &app,
            version: &version,
            diag: &diag,
            console: &console,
            timeouts: &timeouts,
            direct: &direct,
        };
        let Wiring {
            sink,
            delivery,
            nothing_sent,
        } = self.sink_and_delivery(&resolved);
        let OtelWiring {
            stream: otel_stream,
            signals: otel_signals,
            timeout: otel_timeout,
            metrics: metrics_sinks,
        } = otel_setup::wire(
            &resolved,
            [self.otel_sink.as_ref(), self.otel_metrics_sink.as_ref()],
            self.config_dir.as_deref(),
        );
        let metrics = otel_setup::metrics_signal(settings.otel.enabled, &env, metrics_sinks);
        let remote = (otel_stream.is_some() || metrics.is_some())
            .then(|| remote_parent(&env, &diag))
            .flatten();
        if !settings.consent.enabled
            && let Some(dir) = &self.config_dir
        {
            // Opt-out wins: records queued while telemetry was on are deleted, never sent.
            let _ = Outbox::new(dir, &app).delete();
        }
        let Settings {
            consent,
            otel,
            tags,
            os_language,
            debug,
            endpoint,
            ..
        } = settings;
        Client {
            inner: Arc::new(Inner {
                os_language,
                scrubber,
                app,
                version,
                consent,
                otel,
                otel_stream,
                otel_signals,
                metrics,
                remote,
                config_dir: self.config_dir,
                tags,
                user_uuid: OnceLock::new(),
                fixed: OnceLock::new(),
                names: NameCache::default(),
                sink,
                delivery,
                debug,
                // Each destination bounds its own requests and flushes by its own timeout.
                flush_timeout: timeouts.request.max(otel_timeout),
                flush_window: delivery::FlushWindow::new(
                    settings.send_budget.unwrap_or(DEFAULT_SEND_BUDGET),
                    timeouts.request.max(otel_timeout),
                    direct,
                ),
                nothing_sent,
                sessions: Mutex::default(),
                env,
                endpoint,
                send_budget: settings.send_budget,
                exporter: settings.exporter,
                decided_by: settings.decided_by,
            }),
        }
    }

    /// The connect and request timeouts: the builder's, else the defaults; each at most
    /// [`MAX_TIMEOUT`], with one warning for a longer one. The request timeout is also the
    /// deadline of a flush, and of all flushes of the process together. (`OTEL_*` never
    /// configure the usage stream: the operator's stream reads its own timeouts.)
    fn timeouts(&self) -> Timeouts {
        let mut warnings = Vec::new();
        let mut cap = |what: &str, d: Duration| {
            if d > MAX_TIMEOUT {
                warnings.push(format!(
                    "telemetry: the {what} ({} ms) is above the {} ms cap; using {} ms",
                    d.as_millis(),
                    MAX_TIMEOUT.as_millis(),
                    MAX_TIMEOUT.as_millis()
                ));
            }
            d.min(MAX_TIMEOUT)
        };
        let connect = cap(
            "connect timeout set in code",
            self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        );
        let request = match self.timeout {
            Some(t) => (cap("timeout set in code", t), BY_APPLICATION.to_owned()),
            None => (DEFAULT_TIMEOUT, BY_DEFAULT.to_owned()),
        };
        Timeouts {
            connect,
            request: request.0,
            decided_by: request.1,
            warnings,
        }
    }

    /// Where debug and verbose output go: nowhere when `on` is false, else the writer given
    /// with [`debug_output`](Self::debug_output) or stderr.
    fn diag_out(&self, on: bool) -> DiagOut {
        match (&self.diag_writer, on) {
            (_, false) => DiagOut::Off,
            (Some(w), true) => DiagOut::Writer(w.clone()),
            (None, true) => DiagOut::Stderr,
        }
    }

    /// The application's choices that settings resolution weighs against the environment.
    fn choices(&self) -> Choices {
        Choices {
            enabled: self.enabled,
            debug: self.debug,
            verbose: self.verbose,
            endpoint: self.endpoint.clone(),
            api_key: self.api_key.clone(),
            env_prefix: self.env_prefix.clone(),
            send_budget: self.send_budget,
            exporter: self.exporter,
            otel: self.otel,
        }
    }
}

/// What `build` resolved before choosing where records go.
#[derive(Clone, Copy)]
pub(super) struct Resolved<'a> {
    pub(super) settings: &'a Settings,
    pub(super) env: &'a Env,
    pub(super) app: &'a str,
    pub(super) version: &'a str,
    /// Debug and verbose output (off when neither is on).
    pub(super) diag: &'a DiagOut,
    /// Where the `console` exporter prints: stderr, or the application's debug output.
    pub(super) console: &'a DiagOut,
    pub(super) timeouts: &'a Timeouts,
    /// The send budget's account, shared by every destination of the client.
    pub(super) direct: &'a DirectSpend,
}

/// The timeouts in force, what decided the request timeout, and the warnings to print.
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) request: Duration,
    decided_by: String,
    warnings: Vec<String>,
}

/// The parent process's span from `TRACEPARENT` (and `TRACESTATE`), when valid; what is
/// wrong with either is said in verbose mode, and the value ignored.
fn remote_parent(env: &Env, diag: &DiagOut) -> Option<RemoteParent> {
    let raw = env.non_empty("TRACEPARENT")?;
    let cx = match trace::parse_traceparent(raw) {
        Ok(cx) => cx,
        Err(why) => {
            diag.line(&format!("telemetry: ignoring TRACEPARENT: {why}"));
            return None;
        }
    };
    let state = match env.non_empty("TRACESTATE").map(trace::parse_tracestate) {
        None => None,
        Some(Ok(state)) => state,
        Some(Err(why)) => {
            diag.line(&format!("telemetry: ignoring TRACESTATE: {why}"));
            None
        }
    };
    Some(RemoteParent { cx, state })
}

/// Drops the tags whose key the scrubber would change (keys leave as given, so they cannot be
/// repaired); one warning, naming the variable, never the keys.
fn drop_unclean_tags(settings: &mut Settings, scrubber: &Scrubber) -> Vec<String> {
    let dropped = scrubber.drop_unclean_keys(&mut settings.tags);
    if dropped == 0 {
        return Vec::new();
    }
    let var = settings
        .decided_by
        .iter()
        .find(|(setting, _)| *setting == "tags")
        .map_or("TELEMETRY_TAGS", |(_, by)| by.as_str());
    vec![format!(
        "{var}: dropped {dropped} tag(s) whose key holds a secret or personal data \
         (keys are scrubbed like values, and sent only when nothing would change)"
    )]
}

pub(super) fn default_app_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts(b: ClientBuilder, _env: &Env) -> Timeouts {
        b.timeouts()
    }

    #[test]
    fn timeouts_above_a_minute_are_cut_with_one_warning_each() {
        let hour = Duration::from_secs(3_600);
        let t = timeouts(
            ClientBuilder::default().timeout(hour).connect_timeout(hour),
            &Env::empty(),
        );
        assert_eq!((t.request, t.connect), (MAX_TIMEOUT, MAX_TIMEOUT));
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(t.warnings.iter().all(|w| w.contains("60000 ms cap")));
        let t = timeouts(ClientBuilder::default().timeout(MAX_TIMEOUT), &Env::empty());
        assert_eq!((t.request, t.warnings.len()), (MAX_TIMEOUT, 0));
        // The usage stream never reads OTLP's variable, whatever its format (issue 21: it
        // is the operator's stream's).
        let env = Env::from_pairs([("OTEL_EXPORTER_OTLP_TIMEOUT", "18446744073709551615")]);
        for b in [
            ClientBuilder::default().exporter(Exporter::Otlp),
            ClientBuilder::default(),
        ] {
            let t = timeouts(b, &env);
            assert_eq!((t.request, t.warnings.len()), (DEFAULT_TIMEOUT, 0));
        }
    }
}
