//! Honest, anonymous usage telemetry for Rust command-line tools, one attribute per function.
//!
//! This facade re-exports the runtime ([`Client`], events, [`testing`]) and the tracking
//! attribute macros.

#![forbid(unsafe_code)]

pub use telemetry_runtime::*;

#[doc(hidden)]
pub mod __private {
    pub use telemetry_runtime::__private::*;
}
