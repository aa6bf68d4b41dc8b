//! The client: builds records from events and hands them to delivery.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{
    self, Consent, DEFAULT_API_KEY_HEADER, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Env,
};
use crate::delivery::Delivery;
use crate::diag::DiagOut;
use crate::event::{
    AgentName, BuiltinEvent, CommandEvent, Event, Field, SessionEndEvent, SessionId,
    SessionStartEvent, TokenEvent, ToolCall,
};
use crate::identity;
use crate::outbox::Outbox;
use crate::outcome::Outcome;
use crate::record::{self, Fixed, RecordWriter};
use crate::scrub::Scrubber;
use crate::testing::Records;

/// Keys the client adds to every record's properties; neither tags nor events overwrite them.
pub const SYSTEM_KEYS: [&str; 5] = ["user_uuid", "version", "os", "os_language", "event_id"];

/// At most this many entries are kept in any array property (such as `args`).
pub const MAX_ARRAY_ITEMS: usize = 32;

/// A record's properties never serialize to more than this many bytes.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// At most this many distinct names a client remembers the scrubbed form of.
const MAX_NAMES: usize = 256;

/// Names and their scrubbed form when it differs from the name.
type ScrubbedNames = HashMap<Box<str>, Option<Box<str>>, BuildHasherDefault<NameHasher>>;

/// FNV-1a, for the short names of [`Inner::names`]: a few instructions per byte where
/// SipHash costs more than the lookup saves. Flooding is no concern: the names come from the
/// application, and at most [`MAX_NAMES`] are kept.
#[derive(Debug)]
struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
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
    /// What every record of this client repeats, built at its first record.
    fixed: OnceLock<Fixed>,
    /// Names (tool, agent, model) and their scrubbed form when it differs: scrubbing is the
    /// costliest step of a record, and these come back in record after record.
    names: RwLock<ScrubbedNames>,
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
    Memory(Records),
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
    memory: Option<Records>,
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
    pub fn memory(mut self, records: Records) -> Self {
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
                fixed: OnceLock::new(),
                names: RwLock::default(),
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
        record::parse(&self.record_json(event))
    }

    /// The JSON text of an application's event: its properties map, scrubbed.
    fn record_json(&self, event: &dyn Event) -> String {
        let mut map = event.properties();
        for value in map.values_mut() {
            self.scrub_value(value);
        }
        // An application's event cannot override the system keys.
        let mut props: Vec<(&String, &Value)> = map
            .iter()
            .filter(|(k, _)| !SYSTEM_KEYS.contains(&k.as_str()))
            .collect();
        props.sort_by(|a, b| a.0.cmp(b.0));
        record::write(event.kind(), self.fixed(), &mut |w| {
            for (k, v) in &props {
                w.json(k, v);
            }
        })
    }

    /// The JSON text of a built-in event: the same record as [`record_json`](Self::record_json)
    /// gives, written from borrowed fields with no intermediate map.
    fn builtin_json(&self, event: &dyn BuiltinEvent) -> String {
        let scrub = |s| self.scrub_cow(s);
        let fixed = self.fixed();
        // Fields come sorted by key, never a system key, with plain keys.
        record::write(event.kind(), fixed, &mut |w: &mut RecordWriter<'_>| {
            event.fields(&mut |k, f| match f {
                Field::Str(s) => w.str(k, true, &scrub(s)),
                Field::Action(a) => w.str(k, true, fixed.action(a)),
                Field::Name(s) => w.str(k, true, &self.scrub_name(s)),
                Field::U64(n) => w.u64(k, true, n),
                Field::Bool(b) => w.bool(k, true, b),
                Field::F64(x) => w.f64(k, true, x),
                Field::List(items) => {
                    w.list(
                        k,
                        true,
                        items.iter().take(MAX_ARRAY_ITEMS).map(|s| scrub(s)),
                    );
                }
            });
        })
    }

    /// Scrubs a string an event holds (the empty string, often an absent session or agent,
    /// is left as it is without a scan: no rule changes it).
    fn scrub_cow<'s>(&self, s: &'s str) -> Cow<'s, str> {
        if s.is_empty() {
            Cow::Borrowed(s)
        } else {
            self.inner.scrubber.scrub(s)
        }
    }

    /// Scrubs a name, remembering the result for the next records (at most [`MAX_NAMES`]
    /// names are remembered; past that, names are scrubbed each time).
    fn scrub_name<'s>(&'s self, name: &'s str) -> Cow<'s, str> {
        if name.is_empty() {
            return Cow::Borrowed(name);
        }
        let names = &self.inner.names;
        {
            let known = names.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(scrubbed) = known.get(name) {
                return match scrubbed {
                    None => Cow::Borrowed(name),
                    Some(s) => Cow::Owned(s.to_string()),
                };
            }
        }
        let scrubbed = self.scrub_cow(name);
        let mut known = names.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() < MAX_NAMES {
            // `None` only for a name the scrubber left whole and identical: a borrowed result
            // can also be a shorter slice of it (the cap, the scan limit).
            let value = match &scrubbed {
                Cow::Borrowed(s) if *s == name => None,
                other => Some(other.as_ref().into()),
            };
            known.insert(name.into(), value);
        }
        scrubbed
    }

    /// What every record repeats (creates the anonymous id at the first record).
    fn fixed(&self) -> &Fixed {
        self.inner.fixed.get_or_init(|| {
            let tags: Vec<(String, String)> = self
                .inner
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), self.inner.scrubber.scrub(v).into_owned()))
                .collect();
            Fixed::new(
                [
                    ("user_uuid", self.user_uuid()),
                    ("version", &self.inner.version),
                    ("os", std::env::consts::OS),
                    ("os_language", &self.inner.os_language),
                ],
                &tags,
                &self.inner.app,
                |s| self.inner.scrubber.scrub(s).into_owned(),
            )
        })
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

    /// Records any event. Synchronous: returns once the record was delivered or its delivery
    /// failed (within the configured timeouts). Never panics, never writes to stdout.
    pub fn track(&self, event: &dyn Event) {
        if self.records_go_somewhere() {
            self.dispatch(self.record_json(event));
        }
    }

    /// [`track`](Self::track) for the built-in events, on the fast path.
    fn track_builtin(&self, event: &dyn BuiltinEvent) {
        if self.records_go_somewhere() {
            self.dispatch(self.builtin_json(event));
        }
    }

    /// Hands a record's JSON text to the sink.
    fn dispatch(&self, line: String) {
        match &self.inner.sink {
            Sink::Nowhere => {}
            Sink::Debug => {
                let text = serde_json::to_string_pretty(&record::parse(&line)).unwrap_or_default();
                self.inner.diag.line(&text);
            }
            Sink::Memory(records) => records.push(line),
            Sink::Http(delivery) => delivery.deliver(line),
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
        self.track_builtin(&CommandEvent::new(
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
        self.track_builtin(&ToolCall {
            tool_name: tool,
            session_id: session_id.as_str(),
            agent_name: agent_name.as_str(),
            duration,
            outcome: &outcome,
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
        self.track_builtin(&TokenEvent {
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
        self.track_builtin(&SessionStartEvent {
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
            self.track_builtin(&SessionEndEvent {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, ToolEvent};
    use crate::record::fit_record;
    use serde_json::Map;

    /// The record as the client built it before it wrote JSON directly: a `Value` map with
    /// the same steps (scrub, system keys, tags, size cap, envelope).
    fn reference_record(client: &Client, event: &dyn Event, id: &Value, ts: &Value) -> Value {
        let mut props = event.properties();
        for value in props.values_mut() {
            client.scrub_value(value);
        }
        for key in SYSTEM_KEYS {
            props.remove(key);
        }
        props.insert("user_uuid".into(), Value::from(client.user_uuid()));
        props.insert("version".into(), Value::from(client.inner.version.as_str()));
        props.insert("os".into(), Value::from(std::env::consts::OS));
        props.insert(
            "os_language".into(),
            Value::from(client.inner.os_language.as_str()),
        );
        props.insert("event_id".into(), id.clone());
        let mut tags = Vec::new();
        for (k, v) in &client.inner.tags {
            if !props.contains_key(k) {
                props.insert(k.clone(), Value::from(client.inner.scrubber.scrub(v)));
                tags.push(k.as_str());
            }
        }
        fit_record(&mut props, &tags);
        let mut record = Map::new();
        record.insert("event".into(), Value::from(event.kind().as_str()));
        record.insert("event_timestamp".into(), ts.clone());
        record.insert("source".into(), Value::from(client.inner.app.as_str()));
        record.insert("properties".into(), Value::Object(props));
        Value::Object(record)
    }

    /// The written JSON is byte for byte `serde_json`'s text of the reference record.
    fn assert_exact(client: &Client, event: &dyn Event, line: &str) {
        let parsed: Value = serde_json::from_str(line).unwrap();
        let id = &parsed["properties"]["event_id"];
        assert!(
            uuid::Uuid::parse_str(id.as_str().unwrap()).is_ok_and(|u| u.get_version_num() == 4)
        );
        let reference = reference_record(client, event, id, &parsed["event_timestamp"]);
        assert_eq!(line, serde_json::to_string(&reference).unwrap());
    }

    struct Custom(Map<String, Value>);
    impl Event for Custom {
        fn kind(&self) -> EventKind {
            EventKind::Command
        }
        fn properties(&self) -> Map<String, Value> {
            self.0.clone()
        }
    }

    fn client(tags: &str) -> Client {
        Client::builder()
            .app("tool \"quoted\" ✓", "1.2.3-beta")
            .env(Env::from_pairs([
                ("TELEMETRY_TAGS", tags),
                ("LANG", "de_DE.UTF-8"),
                ("HOME", "/home/jane"),
                ("USER", "jane"),
            ]))
            .build()
    }

    #[test]
    fn written_records_are_exactly_the_reference_records() {
        let long = "x".repeat(300);
        let awkward = "tab\t quote\" backslash\\ nl\n ctl\u{1} é ✓ 🎉 /home/jane/x mail a@b.io";
        trait Both: Event + BuiltinEvent {}
        impl<T: Event + BuiltinEvent> Both for T {}
        let builtins: Vec<Box<dyn Both>> = vec![
            Box::new(ToolEvent {
                tool_name: "read_file".into(),
                session_id: "s-1".into(),
                agent_name: "root".into(),
                duration: Duration::from_millis(7),
                outcome: Outcome::Success,
            }),
            Box::new(ToolEvent {
                tool_name: awkward.into(),
                session_id: SessionId::default(),
                agent_name: AgentName::default(),
                duration: Duration::MAX,
                outcome: Outcome::failure(format!("password=hunter2 {awkward}")),
            }),
            Box::new(CommandEvent::new(
                "run",
                vec!["--fast".into(), awkward.into()],
                Outcome::Success,
                Duration::ZERO,
            )),
            // Too large: 40 long args are cut (array items, then lengths).
            Box::new(CommandEvent::new(
                "big",
                vec![long.clone(); 40],
                Outcome::failure(long.clone()),
                Duration::ZERO,
            )),
            Box::new(TokenEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                model_name: "openai/gpt-4o".into(),
                input_tokens: 10,
                output_tokens: u64::MAX,
                cost: 0.1 + 0.2,
            }),
            Box::new(TokenEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                model_name: "m".into(),
                input_tokens: 0,
                output_tokens: 0,
                cost: f64::NAN,
            }),
            Box::new(SessionStartEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
            }),
            Box::new(SessionEndEvent {
                session_id: "s".into(),
                agent_name: "a".into(),
                duration: Duration::from_secs(3),
                tool_calls: 2,
                input_tokens: 1,
                output_tokens: 2,
                cost: 1e-7,
                error_count: 1,
                errors: vec![awkward.into()],
            }),
        ];
        let custom = Custom(
            serde_json::json!({
                "action": "custom",
                "event_id": "mine",
                "user_uuid": "mine",
                "team": "overridden by the event",
                "nested": {"path": "/home/jane/notes", "n": [1, 2.5, null, true]},
                "list": (0..40).map(|i| format!("item {i}")).collect::<Vec<_>>(),
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let huge = Custom(
            serde_json::json!({"action": "huge", "blob": "y".repeat(20_000)})
                .as_object()
                .unwrap()
                .clone(),
        );
        for tags in [
            "",
            "team=platform,os=spoof,event_id=spoof,action=spoof,team=again,contact=jane@example.com",
        ] {
            let client = client(tags);
            for event in &builtins {
                let event: &dyn Both = &**event;
                // Twice: the second time, names come from the client's memory.
                assert_exact(&client, event, &client.builtin_json(event));
                assert_exact(&client, event, &client.builtin_json(event));
                assert_exact(&client, event, &client.record_json(event));
            }
            for event in [&custom, &huge] {
                assert_exact(&client, event, &client.record_json(event));
            }
        }
    }
}
