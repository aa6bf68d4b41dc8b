//! Sessions: a session's aggregates, the session events, and [`SessionGuard`]. Which
//! sessions run and which one is current where: [`super::sessions`].
//!
//! Invariants: sessions change only under the client's session lock; a start (with the end
//! of a session it replaces) happens in one critical section, so a session another thread
//! starts in between is never lost without its end event; a session's own outcome (its
//! guard's) counts in its own aggregates, whatever session is current. A poisoned lock is
//! used as it is (the state is plain data, always consistent between statements).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::sessions::{Origin, SessionKey, Sessions};
use super::{Client, RecordTrace};
use crate::event::{
    AgentName, SessionEndEvent, SessionId, SessionStartEvent, TokenEvent, ToolCall,
};
use crate::limits::MAX_SESSION_ERRORS;
use crate::outcome::Outcome;
use crate::trace::{self, Frame, SpanEnd, SpanStart};

/// Who made a tool call and how the model named it.
#[derive(Debug)]
pub(crate) struct ToolCallInfo<'a> {
    pub(crate) name: &'a str,
    pub(crate) session: Option<SessionId>,
    pub(crate) agent: Option<AgentName>,
    /// The model's id of this call (`gen_ai.tool.call.id`), when given.
    pub(crate) call_id: Option<String>,
}

/// A running session and its aggregates.
#[derive(Debug)]
pub(super) struct SessionState {
    pub(super) key: SessionKey,
    pub(super) origin: Origin,
    pub(super) id: SessionId,
    agent: AgentName,
    start: Instant,
    tool_calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost: f64,
    error_count: u64,
    errors: Vec<String>,
    /// The session's `invoke_agent` span, when tracing.
    span: Option<SpanStart>,
    /// The model provider of its turns (the first one named), scrubbed.
    provider: Option<String>,
    /// Why the session itself failed (its body's error or panic, scrubbed), as opposed to
    /// errors it counted (a failed tool call the agent went on from).
    failure: Option<String>,
}

impl SessionState {
    fn new(
        (key, origin): (SessionKey, Origin),
        id: SessionId,
        agent: AgentName,
        start: Instant,
        span: Option<SpanStart>,
    ) -> Self {
        Self {
            key,
            origin,
            id,
            agent,
            start,
            span,
            provider: None,
            failure: None,
            tool_calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            error_count: 0,
            errors: Vec::new(),
        }
    }

    /// Counts an error; its (scrubbed) text is kept while fewer than [`MAX_SESSION_ERRORS`] are.
    fn on_error(&mut self, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_SESSION_ERRORS {
            self.errors.push(message);
        }
    }

    /// Counts a tool call of this session (and its error, already scrubbed).
    fn on_tool_call(&mut self, error: Option<String>) {
        self.tool_calls += 1;
        if let Some(e) = error {
            self.on_error(e);
        }
    }

    /// Adds one model turn's tokens and cost (a cost that is not finite is not added).
    fn on_tokens(&mut self, input: u64, output: u64, cost: f64) {
        self.input_tokens = self.input_tokens.saturating_add(input);
        self.output_tokens = self.output_tokens.saturating_add(output);
        if cost.is_finite() {
            self.cost += cost;
        }
    }

    fn into_end_event(self) -> (SessionEndEvent, Option<SpanEnd>, [Option<String>; 2]) {
        let now = Instant::now();
        let end = SessionEndEvent {
            session_id: self.id,
            agent_name: self.agent,
            duration: now.saturating_duration_since(self.start),
            tool_calls: self.tool_calls,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost: self.cost,
            error_count: self.error_count,
            errors: self.errors,
        };
        let span = self.span.map(|s| s.ended(now));
        (end, span, [self.provider, self.failure])
    }
}

/// The session lock, poisoned or not.
fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    sessions.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.inner.sessions)
    }

    /// How the current session's span looks to new spans, when there is one.
    pub(super) fn session_frame(&self) -> Option<Frame> {
        self.sessions()
            .current()
            .and_then(|s| s.span.as_ref().map(SpanStart::frame))
    }

    /// Records a session's end and its span.
    fn end(&self, state: SessionState) {
        let (end, span, [provider, failure]) = state.into_end_event();
        let extras = [("provider", provider), ("error", failure)];
        let attrs: Vec<(&'static str, &str)> = extras
            .iter()
            .filter_map(|(k, v)| Some((*k, v.as_deref()?)))
            .collect();
        self.track_builtin_in(&end, RecordTrace::Ends(span, &attrs));
    }

    /// The current session's id and agent name, if a session is running: the innermost
    /// `#[track_session]` whose body is running here (this thread, or this future), else the
    /// newest session started with [`start_session`](Self::start_session) or
    /// [`record_session_start`](Self::record_session_start), else the newest running.
    #[must_use]
    pub fn current_session(&self) -> Option<(SessionId, AgentName)> {
        let s = self.sessions();
        s.current().map(|s| (s.id.clone(), s.agent.clone()))
    }

    /// Records a tool call. Empty `session`/`agent` are filled from the current session; the
    /// call counts in the aggregates of the session it belongs to (the current one, or the
    /// running one `session` names).
    pub fn record_tool_call(
        &self,
        tool: &str,
        session: Option<SessionId>,
        agent: Option<AgentName>,
        duration: Duration,
        outcome: Outcome,
    ) {
        if !self.is_recording() {
            return;
        }
        let span = self.span_ending_now(duration);
        let call = ToolCallInfo {
            name: tool,
            session,
            agent,
            call_id: None,
        };
        self.tool_call(call, duration, outcome, span);
    }

    /// Records a tool call whose span (when tracing) was opened when it started.
    pub(crate) fn tool_call(
        &self,
        call: ToolCallInfo<'_>,
        duration: Duration,
        outcome: Outcome,
        span: Option<SpanEnd>,
    ) {
        let ToolCallInfo {
            name: tool,
            session,
            agent,
            call_id,
        } = call;
        let (session_id, agent_name) = {
            let mut sessions = self.sessions();
            let target = match &session {
                Some(id) => sessions.named_mut(id),
                None => sessions.current_mut(),
            };
            match target {
                Some(s) => {
                    let error = outcome.error().map(|e| self.scrub(e));
                    s.on_tool_call(error);
                    (s.id.clone(), agent.unwrap_or_else(|| s.agent.clone()))
                }
                None => (session.unwrap_or_default(), agent.unwrap_or_default()),
            }
        };
        let call_id = call_id
            .filter(|id| !id.is_empty())
            .map(|id| self.scrub(&id));
        let mut attrs = vec![("tool_type", "function")];
        if let Some(id) = &call_id {
            attrs.push(("tool_call_id", id.as_str()));
        }
        self.track_builtin_in(
            &ToolCall {
                tool_name: tool,
                session_id: session_id.as_str(),
                agent_name: agent_name.as_str(),
                duration,
                outcome: &outcome,
            },
            RecordTrace::Ends(span, &attrs),
        );
    }

    /// Records the token usage of one model turn in the current session. Its span (in the
    /// operator's stream) has no length: [`model_turn`](Self::model_turn) and
    /// [`record_model_turn`](Self::record_model_turn) give it its real start and end, and
    /// its provider.
    pub fn record_token_usage(
        &self,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cost: f64,
    ) {
        if !self.is_recording() {
            return;
        }
        let span = self.span_ending_now(Duration::ZERO);
        self.token_usage(
            model,
            None,
            [input_tokens, output_tokens],
            cost,
            (span, None),
        );
    }

    /// Records one model turn: its token usage (as [`record_token_usage`]) and, for its
    /// `chat` span, its `provider` (e.g. `openai`, `anthropic`) and how long it took,
    /// ending now.
    ///
    /// [`record_token_usage`]: Self::record_token_usage
    pub fn record_model_turn(
        &self,
        provider: &str,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cost: f64,
        duration: Duration,
    ) {
        if !self.is_recording() {
            return;
        }
        let span = self.span_ending_now(duration);
        self.token_usage(
            model,
            Some(provider),
            [input_tokens, output_tokens],
            cost,
            (span, None),
        );
    }

    /// Records a model turn whose span (when tracing) was opened when it started; `error`,
    /// already scrubbed, when the turn failed (its span's status and `error.type`).
    pub(crate) fn token_usage(
        &self,
        model: &str,
        provider: Option<&str>,
        [input_tokens, output_tokens]: [u64; 2],
        cost: f64,
        (span, error): (Option<SpanEnd>, Option<&str>),
    ) {
        let provider = provider
            .filter(|p| !p.trim().is_empty())
            .map(|p| self.scrub(p));
        let (session_id, agent_name) = {
            let mut sessions = self.sessions();
            match sessions.current_mut() {
                Some(s) => {
                    s.on_tokens(input_tokens, output_tokens, cost);
                    if s.provider.is_none() {
                        s.provider.clone_from(&provider);
                    }
                    (s.id.clone(), s.agent.clone())
                }
                None => Default::default(),
            }
        };
        let extras = [("provider", provider.as_deref()), ("error", error)];
        let attrs: Vec<(&'static str, &str)> =
            extras.iter().filter_map(|&(k, v)| Some((k, v?))).collect();
        self.track_builtin_in(
            &TokenEvent {
                session_id,
                agent_name,
                model_name: model.to_owned(),
                input_tokens,
                output_tokens,
                cost,
            },
            RecordTrace::Ends(span, &attrs),
        );
    }

    /// Starts a session and records its start. It replaces the session the previous call of
    /// this method started, if that one still runs (which ends, with its end event); it nests
    /// inside the others (see [`start_session`](Self::start_session)).
    pub fn record_session_start(
        &self,
        agent: impl Into<AgentName>,
        session_id: impl Into<SessionId>,
    ) {
        self.begin_session(agent.into(), session_id.into(), Origin::Replaced);
    }

    /// Starts a session and returns a guard that ends it when dropped (early return, `?`,
    /// panic: a panic counts as an error of the session).
    ///
    /// Sessions nest: one started while another runs (a sub-agent) is current until it ends,
    /// then the outer one is again; each ends once, with its own aggregates. A session started
    /// here is current on every thread of the client (`#[track_session]` scopes its session
    /// to its body instead).
    ///
    /// ```
    /// use telemetry_runtime::{Client, Env, SessionId};
    /// let client = Client::builder().env(Env::empty()).build();
    /// {
    ///     let _outer = client.start_session("root", SessionId::new("outer"));
    ///     {
    ///         let _inner = client.start_session("helper", SessionId::new("inner"));
    ///         assert_eq!(client.current_session().unwrap().0.as_str(), "inner");
    ///     }
    ///     assert_eq!(client.current_session().unwrap().0.as_str(), "outer");
    /// }
    /// assert!(client.current_session().is_none());
    /// ```
    pub fn start_session(
        &self,
        agent: impl Into<AgentName>,
        session_id: impl Into<SessionId>,
    ) -> SessionGuard {
        self.guarded_session(agent.into(), session_id.into(), Origin::Nested)
    }

    /// Starts a session current only where its body runs (`#[track_session]`: see
    /// [`super::sessions::within`]).
    pub(crate) fn start_scoped_session(&self, agent: AgentName, id: SessionId) -> SessionGuard {
        self.guarded_session(agent, id, Origin::Scoped)
    }

    fn guarded_session(&self, agent: AgentName, id: SessionId, origin: Origin) -> SessionGuard {
        let key = self.begin_session(agent, id.clone(), origin);
        SessionGuard {
            client: self.clone(),
            session_id: id,
            key,
            done: false,
        }
    }

    /// Starts a session of `origin`: in one critical section, ends the session it replaces
    /// and adds it (its span under the newest open span); then records the ends and its start.
    fn begin_session(&self, agent: AgentName, id: SessionId, origin: Origin) -> Option<SessionKey> {
        if !self.is_recording() {
            return None;
        }
        let key = SessionKey::next();
        let start = Instant::now();
        let (ended, span) = {
            let mut sessions = self.sessions();
            let replaced = (origin == Origin::Replaced)
                .then(|| sessions.take_replaced())
                .flatten();
            let span = self.is_tracing().then(|| {
                let outer = sessions
                    .current()
                    .and_then(|s| s.span.as_ref().map(SpanStart::frame));
                SpanStart::child_of(self.parent_between(trace::innermost(), outer), start)
            });
            let state = SessionState::new((key, origin), id.clone(), agent.clone(), start, span);
            let mut ended: Vec<SessionState> = replaced.into_iter().collect();
            ended.extend(sessions.push(state));
            (ended, span)
        };
        for s in ended {
            self.end(s);
        }
        self.track_builtin_in(
            &SessionStartEvent {
                session_id: id,
                agent_name: agent,
            },
            RecordTrace::In(span),
        );
        Some(key)
    }

    /// Counts an error in the current session and keeps its (scrubbed) text.
    pub fn record_error(&self, message: &str) {
        if !self.is_recording() {
            return;
        }
        let message = self.scrub(message);
        if let Some(s) = self.sessions().current_mut() {
            s.on_error(message);
        }
    }

    /// Ends the current session and records its aggregates. Sent once: later calls, with no
    /// session running, do nothing.
    pub fn record_session_end(&self) {
        let state = self.sessions().take_current();
        if let Some(s) = state {
            self.end(s);
            self.flush_point();
        }
    }

    /// Ends the session `key` if it still runs, in one critical section; `failure` (its body's
    /// error or panic) first counts as one of its errors and marks its span as failed.
    fn end_session(&self, key: SessionKey, failure: Option<&str>) {
        let failure = failure.map(|e| self.scrub(e));
        let state = {
            let mut sessions = self.sessions();
            if let (Some(text), Some(s)) = (failure, sessions.by_key_mut(key)) {
                s.failure = Some(text.clone());
                s.on_error(text);
            }
            sessions.take(key)
        };
        if let Some(s) = state {
            self.end(s);
            self.flush_point();
        }
    }
}

/// Ends its session when dropped. Returned by [`Client::start_session`].
#[derive(Debug)]
#[must_use = "the session ends when the guard is dropped"]
pub struct SessionGuard {
    client: Client,
    session_id: SessionId,
    /// `None`: telemetry was off when it started (no session runs).
    key: Option<SessionKey>,
    done: bool,
}

impl SessionGuard {
    /// The session's id.
    #[must_use]
    pub fn id(&self) -> &SessionId {
        &self.session_id
    }

    /// The session's key, while it may run.
    pub(crate) fn key(&self) -> Option<SessionKey> {
        self.key
    }

    /// Ends the session now, counting `outcome`'s error in it if it failed.
    pub fn finish(mut self, outcome: &Outcome) {
        self.done = true;
        if let Some(key) = self.key {
            self.client.end_session(key, outcome.error());
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(key) = self.key {
            let error = std::thread::panicking().then_some("panicked");
            self.client.end_session(key, error);
        }
    }
}
