//! The scrubber's tests: the rule table (`table`), the fast gate against running every rule
//! (`gate`), and identity replacement and caps (`identity_caps`).

use super::*;

mod gate;
mod identity_caps;
mod table;

/// The scrubber most tests use: Linux home `/home/bob`, login `bob`.
fn bob() -> Scrubber {
    Scrubber::with_identity(Some("/home/bob"), Some("bob"))
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
