//! [`ClientBuilder`]: the application's choices, turned into a [`Client`] by
//! [`build`](ClientBuilder::build), which reads the environment once.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::{Client, Inner, names::NameCache};
use crate::config::{self, DEFAULT_API_KEY_HEADER, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Env};
use crate::delivery::{DEFAULT_SEND_BUDGET, Delivery, Settings};
use crate::diag::DiagOut;
use crate::export::Cagent;
use crate::outbox::Outbox;
use crate::scrub::Scrubber;
use crate::sink::{DebugSink, Sink};
use crate::testing::Records;

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
    send_budget: Option<Duration>,
    env: Option<Env>,
    sink: Option<Arc<dyn Sink>>,
    diag_writer: Option<Arc<Mutex<dyn Write + Send>>>,
}

impl ClientBuilder {
    /// The application's name (the record's `source`) and version.
    pub fn app(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.app = Some(name.into());
        self.version = Some(version.into());
        self
    }

    /// Where records are POSTed. `TELEMETRY_ENDPOINT` overrides it. Without any endpoint,
    /// nothing leaves the machine.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The API key sent with each request. `TELEMETRY_API_KEY` overrides it.
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

    /// Debug mode: every record is printed to stderr as pretty JSON and not sent.
    /// `TELEMETRY_DEBUG=1` turns it on too.
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// Directory for the anonymous id, the persisted choice and the outbox.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// Connect timeout (default 0.5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Overall timeout of one request (default 1.5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long direct sends may wait on the network in all, per process (default 100 ms,
    /// [`DEFAULT_SEND_BUDGET`](crate::DEFAULT_SEND_BUDGET)). While it lasts, each record is
    /// sent at once; once it is spent, records are appended to the outbox and leave in one
    /// batched request at the next flush point. `TELEMETRY_SEND_BUDGET_MS` overrides it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telemetry_runtime::{Client, Env};
    /// // Zero: every record waits for the next flush point (the end of the command).
    /// let client = Client::builder().env(Env::empty()).send_budget(Duration::ZERO).build();
    /// client.flush();
    /// ```
    pub fn send_budget(mut self, budget: Duration) -> Self {
        self.send_budget = Some(budget);
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

    /// Keeps records in the given vector instead of sending them (used by
    /// [`testing::capture`](crate::testing::capture)).
    #[doc(hidden)]
    pub fn memory(self, records: Records) -> Self {
        self.sink(records)
    }

    /// Sends every record to `sink` instead of an HTTP endpoint (a file, a channel, the
    /// application's own client). Consent still decides whether records are made at all;
    /// debug mode still prints instead. See [`Sink`] for an example.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Resolves the configuration and builds the client. Never fails: bad inputs fall back to
    /// documented defaults, with a warning on stderr where the user should know.
    pub fn build(self) -> Client {
        let env = self.env.clone().unwrap_or_else(Env::from_process);
        let app = self.app.clone().unwrap_or_else(default_app_name);
        let version = self.version.clone().unwrap_or_else(|| "unknown".to_owned());
        let persisted = config::read_persisted(self.config_dir.as_deref());
        let consent = config::resolve_consent(&env, self.enabled, persisted);
        for w in &consent.warnings {
            eprintln!("{w}");
        }
        let debug =
            self.debug || config::parse_flag(env.get("TELEMETRY_DEBUG")) == config::Flag::On;
        let verbose =
            self.verbose || config::parse_flag(env.get("TELEMETRY_VERBOSE")) == config::Flag::On;
        let diag = match (&self.diag_writer, debug || verbose) {
            (_, false) => DiagOut::Off,
            (Some(w), true) => DiagOut::Writer(w.clone()),
            (None, true) => DiagOut::Stderr,
        };
        let endpoint = env
            .non_empty("TELEMETRY_ENDPOINT")
            .map(str::to_owned)
            .or(self.endpoint.clone().filter(|e| !e.trim().is_empty()));
        let delivery = match (&self.sink, debug, consent.enabled, &endpoint) {
            (None, false, true, Some(endpoint)) => Some(Arc::new(
                self.delivery(&env, endpoint, &app, &version, &diag),
            )),
            _ => None,
        };
        let sink: Option<Arc<dyn Sink>> = match (self.sink, debug, &delivery) {
            (Some(sink), _, _) => Some(sink),
            (None, true, _) => Some(Arc::new(DebugSink(diag.clone()))),
            (None, false, Some(d)) => Some(d.clone()),
            (None, false, None) => None,
        };
        if !consent.enabled
            && let Some(dir) = &self.config_dir
        {
            // Opt-out wins: records queued while telemetry was on are deleted, never sent.
            let _ = Outbox::new(dir).delete();
        }
        let tags = env
            .get("TELEMETRY_TAGS")
            .map(config::parse_tags)
            .unwrap_or_default();
        Client {
            inner: Arc::new(Inner {
                os_language: os_language(&env),
                scrubber: Scrubber::from_env(&env),
                app,
                version,
                consent,
                config_dir: self.config_dir,
                tags,
                user_uuid: OnceLock::new(),
                fixed: OnceLock::new(),
                names: NameCache::default(),
                sink,
                delivery,
                debug,
                flush_timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                session: Mutex::new(None),
                env,
                endpoint,
            }),
        }
    }

    /// HTTP delivery to `endpoint`, with the outbox of the config dir.
    fn delivery(
        &self,
        env: &Env,
        endpoint: &str,
        app: &str,
        version: &str,
        diag: &DiagOut,
    ) -> Delivery {
        let api_key = env
            .non_empty("TELEMETRY_API_KEY")
            .map(str::to_owned)
            .or_else(|| self.api_key.clone());
        let header = self
            .api_key_header
            .clone()
            .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let transport = crate::transport::Transport::new(
            endpoint.to_owned(),
            format!("{app}/{version}"),
            api_key.map(|k| (header, k)),
            self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            timeout,
            env,
        );
        Delivery::new(
            transport,
            Arc::new(Cagent),
            self.config_dir.as_deref().map(Outbox::new),
            Settings {
                timeout,
                send_budget: send_budget(env, self.send_budget),
            },
            diag.clone(),
        )
    }
}

/// The send budget: `TELEMETRY_SEND_BUDGET_MS` (whole milliseconds), else the builder's, else
/// [`DEFAULT_SEND_BUDGET`]. A value that is not a whole number of milliseconds prints one
/// warning per process and is ignored.
fn send_budget(env: &Env, chosen: Option<Duration>) -> Duration {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let fallback = chosen.unwrap_or(DEFAULT_SEND_BUDGET);
    let Some(value) = env.non_empty("TELEMETRY_SEND_BUDGET_MS") else {
        return fallback;
    };
    match value.trim().parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => {
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "telemetry: ignoring TELEMETRY_SEND_BUDGET_MS={value:?}: expected whole \
                     milliseconds (e.g. 100); using {} ms",
                    fallback.as_millis()
                );
            }
            fallback
        }
    }
}

pub(super) fn default_app_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `LANG=de_DE.UTF-8` gives `de-DE`; unset, empty, `C` or `POSIX` give `en-US`.
fn os_language(env: &Env) -> String {
    let lang = env.non_empty("LANG").unwrap_or("");
    let base = lang.split(['.', '@']).next().unwrap_or("");
    if base.is_empty() || base == "C" || base == "POSIX" {
        return "en-US".to_owned();
    }
    base.replace('_', "-").chars().take(16).collect()
}
