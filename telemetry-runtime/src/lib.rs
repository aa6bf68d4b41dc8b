//! Runtime of the `cli-telemetry` crate: typed events, the client, consent and configuration,
//! the anonymous identity, delivery and testing helpers.
//!
//! Applications depend on the facade crate `cli-telemetry`, which re-exports this API together
//! with the tracking attribute macros.

#![forbid(unsafe_code)]

mod client;
pub mod config;
mod current;
mod delivery;
mod diag;
pub mod event;
mod export;
pub mod files;
pub mod limits;
mod metrics;
mod notice;
mod outbox;
mod outcome;
mod record;
pub mod scrub;
mod sink;
mod status;
mod trace;
mod transport;

pub mod testing;

#[doc(hidden)]
pub mod __private {
    //! Support for macro-generated code. Not a public API.
    pub use crate::private::*;
}
mod private;

// The public paths are assembled here, and only here: each item is defined in the module
// that owns it, and no module re-exports a module that imports it (the module graph has no
// cycle; tests/module_graph.rs checks it). The root holds what an application writes in
// `main` and around its tracked functions (at most 30 items with the modules and the facade's
// macros); the rest is grouped in `config`, `event`, `files`, `limits`, `scrub` and `testing`.
pub use client::{Client, ClientBuilder, FlushGuard, ModelTurn, SessionGuard};
pub use config::Env;
pub use current::{WithClient, current, global, set_global, with_client, with_client_future};
pub use event::{AgentName, Event, SessionId};
#[doc(hidden)]
pub use export::BenchEncoder as __BenchEncoder;
#[doc(hidden)]
pub use metrics::BenchMetrics as __BenchMetrics;
pub use notice::NoticeOutcome;
pub use outcome::{Outcome, TrackOutcome};
pub use sink::Sink;
pub use status::{SignalStatus, Status};

// Earlier root paths of items that now live in a module (see CHANGELOG): they still compile,
// undocumented, until the next breaking release.
#[doc(hidden)]
pub use config::{
    Consent, ConsentSource, Exporter, OtlpCompression, OtlpProtocol, platform_config_dir,
};
#[doc(hidden)]
pub use limits::MAX_BODY_BYTES;
#[doc(hidden)]
pub use scrub::Scrubber;
