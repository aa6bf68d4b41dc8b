//! Runtime of the `cli-telemetry` crate: typed events, the client, consent and configuration,
//! the anonymous identity, delivery and testing helpers.
//!
//! Applications depend on the facade crate `cli-telemetry`, which re-exports this API together
//! with the tracking attribute macros.

#![forbid(unsafe_code)]

mod client;
mod config;
mod current;
mod delivery;
mod diag;
mod event;
mod export;
// Some file names are still opened outside the safe-open primitives (identity, consent).
#[allow(dead_code)]
mod files;
mod identity;
pub mod limits;
mod notice;
mod outbox;
mod outcome;
mod record;
mod scrub;
mod sink;
mod status;
mod transport;

pub mod testing;

#[doc(hidden)]
pub mod __private {
    //! Support for macro-generated code. Not a public API.
    pub use crate::private::*;
}
mod private;

pub use client::{Client, ClientBuilder, DEBUG_USER_UUID, FlushGuard, SessionGuard};
pub use config::{
    CI_VARIABLES, Consent, ConsentSource, DEFAULT_API_KEY_HEADER, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SEND_BUDGET, DEFAULT_TIMEOUT, DO_NOT_TRACK, Env, MAX_TAG_VALUE_CHARS, MAX_TAGS, go_os,
    parse_tags, platform_config_dir, redact_endpoint,
};
pub use current::{
    WithClient, current, global, maybe_enabled, set_global, with_client, with_client_future,
};
pub use delivery::MAX_BATCH;
pub use event::{
    AgentName, CommandEvent, Event, EventKind, SessionEndEvent, SessionId, SessionStartEvent,
    TokenEvent, ToolEvent,
};
#[doc(hidden)]
pub use export::BenchEncoder as __BenchEncoder;
pub use export::Exporter;
pub use identity::{USER_UUID_FILE, load_or_create_user_uuid, read_user_uuid};
pub use limits::{MAX_ARRAY_ITEMS, MAX_RECORD_BYTES, MAX_SESSION_ERRORS, SYSTEM_KEYS};
pub use notice::{NOTICE_FILE, NoticeOutcome, notice_text};
pub use outbox::{MAX_BYTES as OUTBOX_MAX_BYTES, MAX_RECORDS as OUTBOX_MAX_RECORDS, OUTBOX_FILE};
pub use outcome::{Outcome, TrackOutcome};
pub use scrub::{MAX_STRING_CHARS, Scrubber, scrub};
pub use sink::Sink;
pub use status::Status;
