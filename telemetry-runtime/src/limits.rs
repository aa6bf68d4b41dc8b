//! Caps on what a record may hold. Every string, array and record that leaves the machine is
//! within these bounds, whatever the application passes.

/// Keys the client adds to every record's properties; neither tags nor events overwrite them.
pub const SYSTEM_KEYS: [&str; 5] = [USER_UUID, VERSION, OS, OS_LANGUAGE, EVENT_ID];

/// The system property holding the anonymous id.
pub(crate) const USER_UUID: &str = "user_uuid";
/// The system property holding the application's version.
pub(crate) const VERSION: &str = "version";
/// The system property holding the operating system's (Go) name.
pub(crate) const OS: &str = "os";
/// The system property holding the user's language.
pub(crate) const OS_LANGUAGE: &str = "os_language";
/// The system property holding the record's unique id.
pub(crate) const EVENT_ID: &str = "event_id";

/// At most this many entries are kept in any array property (such as `args`).
pub const MAX_ARRAY_ITEMS: usize = 32;

/// A record's properties never serialize to more than this many bytes.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// At most this many error texts are kept in a session's `error` list.
pub const MAX_SESSION_ERRORS: usize = 20;

/// At most this many `TELEMETRY_TAGS` pairs are kept.
pub const MAX_TAGS: usize = 20;
/// Tag values longer than this many characters are cut.
pub const MAX_TAG_VALUE_CHARS: usize = 128;

pub use crate::delivery::MAX_BATCH;
pub use crate::outbox::{MAX_BYTES as OUTBOX_MAX_BYTES, MAX_RECORDS as OUTBOX_MAX_RECORDS};
pub use crate::scrub::MAX_STRING_CHARS;
