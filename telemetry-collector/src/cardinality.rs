//! Bounds the distinct names the rollups keep per UTC day and dimension: the first
//! `--max-names-per-day` names of a day keep their own row, every later one is folded into
//! the [`OTHER`] row, so a client sending 100,000 made-up tool names costs a day at most that
//! many rows and the summary's time stays bounded. Records themselves are stored whole;
//! only the rollups fold.
//!
//! Invariant: the names a dimension holds in the database for a day are a subset of
//! [`NameCaps`]' set for that day, and each set holds at most the cap. Sets are loaded from
//! the database the first time a (day, dimension) is touched; a set that gained a name in a
//! transaction that then failed only makes the bound stricter.

use std::collections::{HashMap, HashSet};

use crate::limits::OTHER;

/// What a name is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim<'a> {
    /// The record kinds (`event`) of a day.
    Kind,
    /// The names (command, tool, model, agent) of one kind on a day.
    Name(&'a str),
    /// Error texts.
    Error,
    /// `version` values of installs.
    Version,
    /// `os` values of installs.
    Os,
}

/// Entries kept in memory before every set is dropped (and reloaded when touched again).
const MAX_ENTRIES: usize = 200_000;

/// The names kept on one day, per dimension.
#[derive(Debug, Default)]
struct Day {
    kinds: Option<HashSet<String>>,
    names: HashMap<String, HashSet<String>>,
    errors: Option<HashSet<String>>,
    versions: Option<HashSet<String>>,
    os: Option<HashSet<String>>,
}

/// The names kept per (day, dimension), loaded lazily.
#[derive(Debug)]
pub struct NameCaps {
    max: usize,
    days: HashMap<i64, Day>,
    entries: usize,
}

impl NameCaps {
    /// At most `max` names per (day, dimension).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            days: HashMap::new(),
            entries: 0,
        }
    }

    /// Forgets every set (retention deleted rows, or after a failure).
    pub fn clear(&mut self) {
        self.days.clear();
        self.entries = 0;
    }

    /// `name` when its day and dimension keep it (already kept, or room left), else
    /// [`OTHER`]. `load` lists the names the database holds for the day and dimension; it
    /// is called once per (day, dimension) until the sets are cleared. The empty name and
    /// [`OTHER`] itself are never counted.
    ///
    /// ```
    /// use telemetry_collector::cardinality::{Dim, NameCaps};
    /// let mut caps = NameCaps::new(2);
    /// let none = |_: i64, _: Dim<'_>| Ok::<_, ()>(Vec::new());
    /// assert_eq!(caps.fold(1, Dim::Error, "a", none), Ok("a"));
    /// assert_eq!(caps.fold(1, Dim::Error, "b", none), Ok("b"));
    /// assert_eq!(caps.fold(1, Dim::Error, "c", none), Ok("(other)"));
    /// assert_eq!(caps.fold(1, Dim::Error, "a", none), Ok("a"));
    /// assert_eq!(caps.fold(2, Dim::Error, "c", none), Ok("c"));
    /// ```
    pub fn fold<'n, E>(
        &mut self,
        day: i64,
        dim: Dim<'_>,
        name: &'n str,
        load: impl FnOnce(i64, Dim<'_>) -> Result<Vec<String>, E>,
    ) -> Result<&'n str, E> {
        if name.is_empty() || name == OTHER {
            return Ok(name);
        }
        if self.entries > MAX_ENTRIES && !self.days.contains_key(&day) {
            self.clear();
        }
        let d = self.days.entry(day).or_default();
        let slot = match dim {
            Dim::Kind => &mut d.kinds,
            Dim::Error => &mut d.errors,
            Dim::Version => &mut d.versions,
            Dim::Os => &mut d.os,
            Dim::Name(kind) => {
                if !d.names.contains_key(kind) {
                    let loaded = loaded(load(day, dim)?);
                    self.entries += loaded.len() + 1;
                    d.names.insert(kind.to_owned(), loaded);
                }
                let set = d.names.get_mut(kind).expect("inserted above");
                return Ok(keep(set, name, self.max, &mut self.entries));
            }
        };
        let set = match slot {
            Some(set) => set,
            None => {
                let set = loaded(load(day, dim)?);
                self.entries += set.len() + 1;
                slot.insert(set)
            }
        };
        Ok(keep(set, name, self.max, &mut self.entries))
    }
}

fn loaded(names: Vec<String>) -> HashSet<String> {
    names.into_iter().filter(|n| n != OTHER).collect()
}

fn keep<'n>(set: &mut HashSet<String>, name: &'n str, max: usize, entries: &mut usize) -> &'n str {
    if set.contains(name) {
        return name;
    }
    if set.len() >= max {
        return OTHER;
    }
    set.insert(name.to_owned());
    *entries += 1;
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_already_stored_count_against_the_cap() {
        let mut caps = NameCaps::new(2);
        let stored = |_: i64, d: Dim<'_>| {
            Ok::<_, ()>(match d {
                Dim::Name("tool") => vec!["x".into(), OTHER.into()],
                _ => vec![],
            })
        };
        let tool = Dim::Name("tool");
        assert_eq!(caps.fold(7, tool, "x", stored), Ok("x"));
        assert_eq!(caps.fold(7, tool, "y", stored), Ok("y"));
        assert_eq!(caps.fold(7, tool, "z", stored), Ok(OTHER));
        assert_eq!(caps.fold(7, Dim::Name("command"), "z", stored), Ok("z"));
        assert_eq!(caps.fold(7, tool, "", stored), Ok(""));
        assert_eq!(caps.fold(7, tool, OTHER, stored), Ok(OTHER));
    }
}
