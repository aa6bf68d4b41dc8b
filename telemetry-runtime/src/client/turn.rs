//! [`ModelTurn`]: one model turn, measured, recorded with its token usage when it finishes.

use std::time::Instant;

use super::Client;
use crate::trace::SpanStart;

/// One model turn being measured. Made by [`Client::model_turn`]; when
/// [`finish`](Self::finish)ed, it records the turn's token usage (a `token` record, as
/// [`Client::record_token_usage`] does) and, in the operator's OpenTelemetry stream, a `chat`
/// span with the turn's real start and end and its provider; [`fail`](Self::fail) records it
/// as failed. Dropped without either, it records nothing.
///
/// ```
/// use telemetry_runtime::testing;
/// let ((), records) = testing::capture(|| {
///     let client = telemetry_runtime::current();
///     let turn = client.model_turn("openai", "gpt-4o");
///     // ... call the model ...
///     turn.finish(120, 30, 0.0012);
/// });
/// assert_eq!(records[0]["event"], "token");
/// assert_eq!(records[0]["properties"]["model_name"], "gpt-4o");
/// assert_eq!(records[0]["properties"]["total_tokens"], 150);
/// ```
#[derive(Debug)]
#[must_use = "the turn is recorded by `finish`"]
pub struct ModelTurn {
    client: Client,
    provider: String,
    model: String,
    span: Option<SpanStart>,
}

impl Client {
    /// Starts measuring a model turn of `model` from `provider` (the semantic conventions'
    /// `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `aws.bedrock`). Its span hangs off
    /// the current span (a tool running, else the current session, else the command).
    pub fn model_turn(&self, provider: &str, model: &str) -> ModelTurn {
        ModelTurn {
            client: self.clone(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            span: self.open_span(Instant::now()),
        }
    }
}

impl ModelTurn {
    /// Records the turn, ending now, with its token counts and cost.
    pub fn finish(self, input_tokens: u64, output_tokens: u64, cost: f64) {
        let client = &self.client;
        if !client.is_recording() {
            return;
        }
        client.token_usage(
            &self.model,
            Some(&self.provider),
            [input_tokens, output_tokens],
            cost,
            (self.span.map(|s| s.ended(Instant::now())), None),
        );
    }

    /// Records the turn as failed, ending now (the model call returned `error`): a `token`
    /// record of no tokens and no cost and, in the operator's stream, a `chat` span with
    /// status ERROR (the scrubbed `error` as its message) and `error.type` = `_OTHER`. Its
    /// duration counts in the operator's `gen_ai.client.operation.duration` with that
    /// `error.type`; no token usage is measured for it.
    ///
    /// ```
    /// use telemetry_runtime::testing;
    /// let ((), records) = testing::capture(|| {
    ///     let turn = telemetry_runtime::current().model_turn("openai", "gpt-4o");
    ///     turn.fail("rate limited (429)");
    /// });
    /// assert_eq!(records[0]["event"], "token");
    /// assert_eq!(records[0]["properties"]["total_tokens"], 0);
    /// ```
    pub fn fail(self, error: impl std::fmt::Display) {
        let client = &self.client;
        if !client.is_recording() {
            return;
        }
        let mut error = client.scrub(&error.to_string());
        if error.trim().is_empty() {
            "the model turn failed".clone_into(&mut error);
        }
        client.token_usage(
            &self.model,
            Some(&self.provider),
            [0, 0],
            0.0,
            (self.span.map(|s| s.ended(Instant::now())), Some(&error)),
        );
    }
}
