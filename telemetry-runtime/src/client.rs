//! The client: builds records from events and hands them to delivery.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::config::{
    self, Consent, DEFAULT_API_KEY_HEADER, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Env,
};
use crate::delivery::Delivery;
use crate::diag::DiagOut;
use crate::event::{
    AgentName, CommandEvent, Event, SessionEndEvent, SessionId, SessionStartEvent, TokenEvent,
    ToolEvent,
};
use crate::identity;
use crate::outbox::Outbox;
use crate::outcome::Outcome;
use crate::scrub::Scrubber;

/// Keys the client adds to every record's properties; neither tags nor events overwrite them.
pub const SYSTEM_KEYS: [&str; 5] = ["user_uuid", "version", "os", "os_language", "event_id"];

/// At most this many entries are kept in any array property (such as `args`).
pub const MAX_ARRAY_ITEMS: usize = 32;

/// A record's properties never serialize to more than this many bytes.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// Shrinks properties until the record fits in [`MAX_RECORD_BYTES`] (with room for the
/// envelope): application strings are cut shorter, then arrays, round by round. System keys are
/// short by construction and never cut. Cheap for ordinary records: the exact size is only
/// computed when a quick upper bound says it might be too large.
fn fit_record(props: &mut Map<String, Value>) {
    const ENVELOPE: usize = 256;
    fn rough(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len() * 6 + 2,
            Value::Array(a) => a.iter().map(rough).sum::<usize>() + a.len() + 2,
            Value::Object(m) => {
                m.iter()
                    .map(|(k, v)| k.len() * 6 + 3 + rough(v))
                    .sum::<usize>()
                    + 2
            }
            _ => 24,
        }
    }
    fn shrink(v: &mut Value, chars: usize, items: usize) {
        match v {
            Value::String(s) => {
                if let Some((i, _)) = s.char_indices().nth(chars) {
                    s.truncate(i);
                }
            }
            Value::Array(a) => {
                a.truncate(items);
                a.iter_mut().for_each(|v| shrink(v, chars, items));
            }
            Value::Object(m) => m.values_mut().for_each(|v| shrink(v, chars, items)),
            _ => {}
        }
    }
    let budget = MAX_RECORD_BYTES - ENVELOPE;
    let size = |p: &Map<String, Value>| serde_json::to_vec(p).map_or(usize::MAX, |b| b.len());
    let rough_size: usize = props.iter().map(|(k, v)| k.len() * 6 + 3 + rough(v)).sum();
    if rough_size <= budget {
        return;
    }
    for (chars, items) in [(128, 16), (64, 8), (32, 4), (16, 2), (8, 1), (0, 0)] {
        if size(props) <= budget {
            return;
        }
        for (k, v) in props.iter_mut() {
            if !SYSTEM_KEYS.contains(&k.as_str()) {
                shrink(v, chars, items);
            }
        }
    }
    // Only keys are left: keep the system keys and the event's own action.
    if size(props) > budget {
        props.retain(|k, _| SYSTEM_KEYS.contains(&k.as_str()) || k == "action");
    }
}

/// At most this many error texts are kept in a session's `error` list.
pub const MAX_SESSION_ERRORS: usize = 20;

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

#[derive(Debug)]
struct Inner {
    app: String,
    version: String,
    consent: Consent,
    config_dir: Option<PathBuf>,
    tags: Vec<(String, String)>,
    os_language: String,
    user_uuid: OnceLock<String>,
    sink: Sink,
    diag: DiagOut,
    scrubber: Scrubber,
    session: Mutex<Option<SessionState>>,
    env: Env,
    endpoint: Option<String>,
}

#[derive(Debug)]
enum Sink {
    /// No endpoint: nothing leaves the machine.
    Nowhere,
    /// Debug mode: printed, not sent.
    Debug,
    /// Kept in memory (see [`crate::testing`]).
    Memory(Arc<Mutex<Vec<Value>>>),
    /// Sent over HTTP.
    Http(Box<Delivery>),
}

#[derive(Debug)]
struct SessionState {
    id: SessionId,
    agent: AgentName,
    start: Instant,
    tool_calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: f64,
    error_count: u64,
    errors: Vec<String>,
}

impl SessionState {
    fn add_error(&mut self, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_SESSION_ERRORS {
            self.errors.push(message);
        }
    }
}

/// Builds a [`Client`]. Every setting has a default; the environment given with
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
    memory: Option<Arc<Mutex<Vec<Value>>>>,
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
    pub fn memory(mut self, records: Arc<Mutex<Vec<Value>>>) -> Self {
        self.memory = Some(records);
        self
    }

    /// Resolves the configuration and builds the client. Never fails: bad inputs fall back to
    /// documented defaults, with a warning on stderr where the user should know.
    pub fn build(self) -> Client {
        let env = self.env.unwrap_or_else(Env::from_process);
        let app = self.app.unwrap_or_else(default_app_name);
        let version = self.version.unwrap_or_else(|| "unknown".to_owned());
        let config_dir = self.config_dir;
        let persisted = config::read_persisted(config_dir.as_deref());
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
            .or(self.endpoint.filter(|e| !e.trim().is_empty()));
        let api_key = env
            .non_empty("TELEMETRY_API_KEY")
            .map(str::to_owned)
            .or(self.api_key);
        let header = self
            .api_key_header
            .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_owned());
        let sink = if let Some(mem) = self.memory {
            Sink::Memory(mem)
        } else if debug {
            Sink::Debug
        } else if let (true, Some(endpoint)) = (consent.enabled, &endpoint) {
            let transport = crate::transport::Transport::new(
                endpoint.clone(),
                format!("{app}/{version}"),
                api_key.map(|k| (header, k)),
                self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                self.timeout.unwrap_or(DEFAULT_TIMEOUT),
                &env,
            );
            let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
            Sink::Http(Box::new(Delivery::new(
                transport,
                config_dir.as_deref().map(Outbox::new),
                timeout,
                diag.clone(),
            )))
        } else {
            Sink::Nowhere
        };
        if !consent.enabled
            && let Some(dir) = &config_dir
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
                config_dir,
                tags,
                user_uuid: OnceLock::new(),
                sink,
                diag,
                session: Mutex::new(None),
                env,
                endpoint,
            }),
        }
    }
}

fn default_app_name() -> String {
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

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Client {
    /// A builder with every setting at its default.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the process environment only: the application name is the
    /// executable's file name, and the config dir is the platform's config dir joined with
    /// it (see [`platform_config_dir`](crate::platform_config_dir)). This is what
    /// [`global()`](crate::global) uses when the application installed no client.
    #[must_use]
    pub fn from_env() -> Self {
        let env = Env::from_process();
        let app = default_app_name();
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

    /// Whether telemetry is enabled for this client.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.consent.enabled
    }

    /// Whether debug mode is on (records printed, not sent).
    #[must_use]
    pub fn is_debug(&self) -> bool {
        matches!(self.inner.sink, Sink::Debug)
    }

    /// Whether telemetry is enabled, which source decided, and why.
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
        match &self.inner.sink {
            Sink::Http(d) => Some(d.endpoint()),
            _ => None,
        }
    }

    /// The endpoint from the builder or `TELEMETRY_ENDPOINT`, whether or not telemetry is
    /// enabled (for status reports).
    #[must_use]
    pub fn configured_endpoint(&self) -> Option<&str> {
        self.inner.endpoint.as_deref()
    }

    /// Keeps every record of this process on the machine: they wait in the outbox and a later
    /// process sends them, if telemetry is still enabled then. Used when the first-run notice
    /// is shown, so nothing leaves before the user could read how to opt out.
    pub fn hold_delivery(&self) {
        if let Sink::Http(d) = &self.inner.sink {
            d.hold();
        }
    }

    /// How many records wait in the outbox.
    #[must_use]
    pub fn queued_records(&self) -> usize {
        self.inner
            .config_dir
            .as_deref()
            .map_or(0, |d| Outbox::new(d).count())
    }

    /// The anonymous id if one was already created (never creates one).
    #[must_use]
    pub fn existing_user_uuid(&self) -> Option<String> {
        identity::read_user_uuid(self.inner.config_dir.as_deref()?)
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
        identity::write_private(
            &dir.join(config::CONSENT_FILE),
            if enabled { b"enabled\n" } else { b"disabled\n" },
        )?;
        if !enabled {
            Outbox::new(dir).delete()?;
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
        match std::fs::remove_file(dir.join(identity::USER_UUID_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Outbox::new(dir).delete()?;
        if self.is_enabled() {
            let _ = identity::load_or_create_user_uuid(Some(dir));
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

    /// The anonymous user id, created on first use (only when enabled).
    fn user_uuid(&self) -> &str {
        self.inner
            .user_uuid
            .get_or_init(|| identity::load_or_create_user_uuid(self.inner.config_dir.as_deref()))
    }

    /// Whether built records go anywhere (an endpoint, memory, or debug output).
    fn records_go_somewhere(&self) -> bool {
        self.inner.consent.enabled && !matches!(self.inner.sink, Sink::Nowhere)
    }

    /// Scrubs a string the application supplied, as every recorded string is.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.inner.scrubber.scrub(text).into_owned()
    }

    /// Builds the record (envelope) for an event, exactly as it would be sent.
    ///
    /// ```
    /// use telemetry_runtime::{Client, CommandEvent, Env, Outcome};
    /// let client = Client::builder().app("mytool", "1.0.0").env(Env::empty()).build();
    /// let ev = CommandEvent::new("run", vec![], Outcome::Success, Default::default());
    /// let record = client.build_record(&ev);
    /// assert_eq!(record["event"], "command");
    /// assert_eq!(record["source"], "mytool");
    /// assert_eq!(record["properties"]["version"], "1.0.0");
    /// ```
    #[must_use]
    pub fn build_record(&self, event: &dyn Event) -> Value {
        let mut props = event.properties();
        for value in props.values_mut() {
            self.scrub_value(value);
        }
        self.add_system_properties(&mut props);
        fit_record(&mut props);
        let mut record = Map::with_capacity(4);
        record.insert("event".into(), Value::from(event.kind().as_str()));
        record.insert("event_timestamp".into(), Value::from(now_millis()));
        record.insert("source".into(), Value::from(self.inner.app.as_str()));
        record.insert("properties".into(), Value::Object(props));
        Value::Object(record)
    }

    fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.inner.scrubber.scrub_in_place(s),
            Value::Array(items) => {
                items.truncate(MAX_ARRAY_ITEMS);
                items.iter_mut().for_each(|v| self.scrub_value(v));
            }
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub_value(v)),
            _ => {}
        }
    }

    fn add_system_properties(&self, props: &mut Map<String, Value>) {
        for key in SYSTEM_KEYS {
            props.remove(key);
        }
        props.insert("user_uuid".into(), Value::from(self.user_uuid()));
        props.insert("version".into(), Value::from(self.inner.version.as_str()));
        props.insert("os".into(), Value::from(std::env::consts::OS));
        props.insert(
            "os_language".into(),
            Value::from(self.inner.os_language.as_str()),
        );
        props.insert(
            "event_id".into(),
            Value::from(uuid::Uuid::new_v4().hyphenated().to_string()),
        );
        for (k, v) in &self.inner.tags {
            if !props.contains_key(k) {
                props.insert(k.clone(), Value::from(self.inner.scrubber.scrub(v)));
            }
        }
    }

    /// Records any event. Synchronous: returns once the record was delivered or its delivery
    /// failed (within the configured timeouts). Never panics, never writes to stdout.
    pub fn track(&self, event: &dyn Event) {
        if !self.records_go_somewhere() {
            return;
        }
        let record = self.build_record(event);
        match &self.inner.sink {
            Sink::Nowhere => {}
            Sink::Debug => {
                let text = serde_json::to_string_pretty(&record).unwrap_or_default();
                self.inner.diag.line(&text);
            }
            Sink::Memory(records) => {
                if let Ok(mut r) = records.lock() {
                    r.push(record);
                }
            }
            Sink::Http(delivery) => delivery.deliver(&record),
        }
    }

    /// Records a command: `action` and the reported `args` (scrubbed), successful, duration 0.
    /// The tracking macro [`track_command`](../telemetry/attr.track_command.html) records
    /// outcome and duration; use [`track`](Self::track) with a [`CommandEvent`] for full control.
    pub fn track_command<S: AsRef<str>>(&self, action: &str, args: impl IntoIterator<Item = S>) {
        if !self.is_enabled() {
            return;
        }
        let args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self.track(&CommandEvent::new(
            action,
            args,
            Outcome::Success,
            Duration::ZERO,
        ));
    }

    /// The current session's id and agent name, if a session is running.
    #[must_use]
    pub fn current_session(&self) -> Option<(SessionId, AgentName)> {
        let s = self.inner.session.lock().ok()?;
        s.as_ref().map(|s| (s.id.clone(), s.agent.clone()))
    }

    /// Records a tool call. Empty `session`/`agent` are filled from the current session; the
    /// call counts in the current session's aggregates when it belongs to it.
    pub fn record_tool_call(
        &self,
        tool: &str,
        session: Option<SessionId>,
        agent: Option<AgentName>,
        duration: Duration,
        outcome: Outcome,
    ) {
        if !self.is_enabled() {
            return;
        }
        let (session_id, agent_name) = {
            let mut guard = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(s) if session.as_ref().is_none_or(|id| *id == s.id) => {
                    s.tool_calls += 1;
                    if let Some(e) = outcome.error() {
                        s.add_error(self.inner.scrubber.scrub(e).into_owned());
                    }
                    (s.id.clone(), agent.unwrap_or_else(|| s.agent.clone()))
                }
                _ => (session.unwrap_or_default(), agent.unwrap_or_default()),
            }
        };
        self.track(&ToolEvent {
            tool_name: tool.to_owned(),
            session_id,
            agent_name,
            duration,
            outcome,
        });
    }

    /// Records the token usage of one model turn in the current session.
    pub fn record_token_usage(
        &self,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cost: f64,
    ) {
        if !self.is_enabled() {
            return;
        }
        let (session_id, agent_name) = {
            let mut guard = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(s) => {
                    s.input_tokens = s.input_tokens.saturating_add(input_tokens);
                    s.output_tokens = s.output_tokens.saturating_add(output_tokens);
                    if cost.is_finite() {
                        s.cost += cost;
                    }
                    (s.id.clone(), s.agent.clone())
                }
                None => Default::default(),
            }
        };
        self.track(&TokenEvent {
            session_id,
            agent_name,
            model_name: model.to_owned(),
            input_tokens,
            output_tokens,
            cost,
        });
    }

    /// Starts a session (ending a running one first) and records its start.
    pub fn record_session_start(
        &self,
        agent: impl Into<AgentName>,
        session_id: impl Into<SessionId>,
    ) {
        if !self.is_enabled() {
            return;
        }
        self.record_session_end();
        let (id, agent) = (session_id.into(), agent.into());
        {
            let mut guard = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
            *guard = Some(SessionState {
                id: id.clone(),
                agent: agent.clone(),
                start: Instant::now(),
                tool_calls: 0,
                input_tokens: 0,
                output_tokens: 0,
                cost: 0.0,
                error_count: 0,
                errors: Vec::new(),
            });
        }
        self.track(&SessionStartEvent {
            session_id: id,
            agent_name: agent,
        });
    }

    /// Starts a session and returns a guard that ends it when dropped (early return, `?`,
    /// panic: a panic counts as an error of the session).
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, SessionId};
    /// let client = Client::builder().env(Env::empty()).build();
    /// {
    ///     let _session = client.start_session("root", SessionId::random());
    ///     assert!(client.current_session().is_some());
    /// }
    /// assert!(client.current_session().is_none());
    /// ```
    pub fn start_session(
        &self,
        agent: impl Into<AgentName>,
        session_id: impl Into<SessionId>,
    ) -> SessionGuard {
        let session_id = session_id.into();
        self.record_session_start(agent, session_id.clone());
        SessionGuard {
            client: self.clone(),
            session_id,
            done: false,
        }
    }

    /// Counts an error in the current session and keeps its (scrubbed) text.
    pub fn record_error(&self, message: &str) {
        if !self.is_enabled() {
            return;
        }
        let mut guard = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_mut() {
            s.add_error(self.inner.scrubber.scrub(message).into_owned());
        }
    }

    /// Ends the current session and records its aggregates. Sent once: later calls, with no
    /// session running, do nothing.
    pub fn record_session_end(&self) {
        let state = {
            let mut guard = self.inner.session.lock().unwrap_or_else(|p| p.into_inner());
            guard.take()
        };
        if let Some(s) = state {
            self.track(&SessionEndEvent {
                session_id: s.id,
                agent_name: s.agent,
                duration: s.start.elapsed(),
                tool_calls: s.tool_calls,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cost: s.cost,
                error_count: s.error_count,
                errors: s.errors,
            });
        }
    }

    fn end_session_if(&self, id: &SessionId) {
        let is_current = self
            .inner
            .session
            .lock()
            .map(|g| g.as_ref().is_some_and(|s| s.id == *id))
            .unwrap_or(false);
        if is_current {
            self.record_session_end();
        }
    }
}

/// Ends its session when dropped. Returned by [`Client::start_session`].
#[derive(Debug)]
#[must_use = "the session ends when the guard is dropped"]
pub struct SessionGuard {
    client: Client,
    session_id: SessionId,
    done: bool,
}

impl SessionGuard {
    /// The session's id.
    #[must_use]
    pub fn id(&self) -> &SessionId {
        &self.session_id
    }

    /// Ends the session now, counting `outcome`'s error if it failed.
    pub fn finish(mut self, outcome: &Outcome) {
        if let Some(e) = outcome.error() {
            self.client.record_error(e);
        }
        self.done = true;
        self.client.end_session_if(&self.session_id);
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if std::thread::panicking() {
            self.client.record_error("panicked");
        }
        self.client.end_session_if(&self.session_id);
    }
}
