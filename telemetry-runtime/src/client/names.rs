//! The scrubbed form of names (tool, agent, model) a client has seen: scrubbing is the
//! costliest step of a record, and these names come back in record after record.
//!
//! Invariant: the cache returns only strings the scrubber produced for that very name. A name
//! is remembered as "unchanged" only when scrubbing returned it whole and identical; any other
//! result is remembered as the owned text the scrubber gave.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{PoisonError, RwLock};

/// At most this many distinct names are remembered; past that, names are scrubbed each time.
const MAX_NAMES: usize = 256;

/// Names and their scrubbed form when it differs from the name.
type ScrubbedNames = HashMap<Box<str>, Option<Box<str>>, BuildHasherDefault<NameHasher>>;

/// FNV-1a, for short names: a few instructions per byte where SipHash costs more than the
/// lookup saves. Flooding is no concern: the names come from the application, and at most
/// [`MAX_NAMES`] are kept.
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

/// The cache of one client.
#[derive(Debug, Default)]
pub(super) struct NameCache(RwLock<ScrubbedNames>);

impl NameCache {
    /// The scrubbed form of `name`, from the cache or from `scrub` (then remembered).
    pub(super) fn get_or_scrub<'s>(
        &self,
        name: &'s str,
        scrub: impl FnOnce(&'s str) -> Cow<'s, str>,
    ) -> Cow<'s, str> {
        {
            let known = self.0.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(scrubbed) = known.get(name) {
                return match scrubbed {
                    None => Cow::Borrowed(name),
                    Some(s) => Cow::Owned(s.to_string()),
                };
            }
        }
        let scrubbed = scrub(name);
        let mut known = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() < MAX_NAMES {
            let value = match &scrubbed {
                // Whole and identical: the name itself is its scrubbed form.
                Cow::Borrowed(s) if *s == name => None,
                other => Some(other.as_ref().into()),
            };
            known.insert(name.into(), value);
        }
        scrubbed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortened_borrowed_result_is_remembered_as_it_was_given() {
        let cache = NameCache::default();
        let name = "abcdef";
        let cut = |s: &'static str| Cow::Borrowed(&s[..3]);
        assert_eq!(cache.get_or_scrub(name, cut), "abc");
        // The second lookup must not hand back the whole name.
        assert_eq!(cache.get_or_scrub(name, |_| unreachable!()), "abc");
        assert_eq!(cache.get_or_scrub("x", Cow::Borrowed), "x");
        assert_eq!(cache.get_or_scrub("x", |_| unreachable!()), "x");
    }
}
