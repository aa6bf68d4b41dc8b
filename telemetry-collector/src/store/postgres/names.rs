//! The bound on distinct names per UTC day and dimension (`--max-names-per-day`), kept
//! exactly across replicas: the rollups of a day hold at most that many kinds, names per
//! kind, error texts, versions and OSes; later ones are folded into [`OTHER`].
//!
//! Each replica remembers, per (day, dimension), the names it knows the database holds.
//! A group whose names are all known (or whose sets are known to be full) is folded
//! without asking anyone: a known name adds no new name, a full set folds to `OTHER`. A
//! group with any other name takes the advisory lock [`NAMES_LOCK`] in its transaction,
//! reloads the sets it touches from the database, admits names while there is room and
//! stores the rows before committing, so two replicas never admit past the bound between
//! them. New names are rare after a day's first minutes, and so is the lock.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;

use super::ingest::pg_day;
use crate::limits::OTHER;
use crate::record::Row;
use crate::rollup::{Contribution, NO_NAME, contribution};

/// The advisory lock under which new names are admitted.
pub const NAMES_LOCK: i64 = 0x7465_6c65_6d03;

/// Entries kept in memory before every set is dropped (and reloaded when touched again).
const MAX_ENTRIES: usize = 200_000;

/// What a name is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Dim {
    Kind,
    Name(String),
    Error,
    Version,
    Os,
}

/// The names a replica knows the database holds, per (day, dimension).
pub struct Names {
    max: usize,
    kept: HashMap<(i32, Dim), HashSet<String>>,
    entries: usize,
}

impl Names {
    /// At most `max` names per day and dimension.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            kept: HashMap::new(),
            entries: 0,
        }
    }

    /// Forgets every set (after a failed transaction, which may have admitted names).
    pub fn forget(&mut self) {
        self.kept.clear();
        self.entries = 0;
    }

    /// The folded name, or `None` when this replica cannot tell without the database.
    /// With `admit`, an unknown name takes a free place (the set must have been reloaded
    /// under [`NAMES_LOCK`]).
    fn fold<'a>(&mut self, day: i32, dim: Dim, name: &'a str, admit: bool) -> Option<&'a str> {
        if name.is_empty() || name == OTHER {
            return Some(name);
        }
        let set = self.kept.get_mut(&(day, dim))?;
        if set.contains(name) {
            Some(name)
        } else if set.len() >= self.max {
            Some(OTHER)
        } else if admit {
            set.insert(name.to_owned());
            self.entries += 1;
            Some(name)
        } else {
            None
        }
    }

    /// The rows' contributions when every name is decided locally.
    pub fn fast<'a>(&mut self, rows: &[&'a Row]) -> Option<Vec<Contribution<'a>>> {
        rows.iter().map(|r| self.row(r, false)).collect()
    }

    /// The rows' contributions inside a transaction holding [`NAMES_LOCK`]: every set of
    /// the rows' days is reloaded from the database first (another replica may have added
    /// names since this one loaded them).
    pub async fn locked<'a>(
        &mut self,
        tx: &impl GenericClient,
        rows: &[&'a Row],
    ) -> Result<Vec<Contribution<'a>>, tokio_postgres::Error> {
        if self.entries > MAX_ENTRIES {
            self.forget();
        }
        let days: HashSet<i32> = rows.iter().map(|r| day_of(r)).collect();
        self.kept.retain(|(d, _), _| !days.contains(d));
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            while let Some(key) = self.missing(r) {
                let names = load(tx, key.0, &key.1).await?;
                self.entries += names.len() + 1;
                let set = names.into_iter().filter(|n| n != OTHER).collect();
                self.kept.insert(key, set);
            }
            // With every set present, admitting always decides; the fallback is unreachable.
            let c = self.row(r, true);
            out.push(c.unwrap_or_else(|| contribution(r, OTHER, OTHER, None, None)));
        }
        Ok(out)
    }

    /// The first (day, dimension) whose set `r` needs and this replica lacks.
    fn missing(&mut self, r: &Row) -> Option<(i32, Dim)> {
        let day = day_of(r);
        let mut need = vec![(day, Dim::Kind)];
        if let Some(kind) = self.fold(day, Dim::Kind, r.kind.as_str(), true) {
            need.push((day, Dim::Name(kind.to_owned())));
        }
        if r.error.is_some() {
            need.push((day, Dim::Error));
        }
        if r.user_id.is_some() {
            need.push((day, Dim::Version));
            need.push((day, Dim::Os));
        }
        need.into_iter().find(|k| !self.kept.contains_key(k))
    }

    fn row<'a>(&mut self, r: &'a Row, admit: bool) -> Option<Contribution<'a>> {
        let day = day_of(r);
        let kind = self.fold(day, Dim::Kind, r.kind.as_str(), admit)?;
        let name = r.name.as_deref().unwrap_or(NO_NAME);
        let name = self.fold(day, Dim::Name(kind.to_owned()), name, admit)?;
        let error = match r.error.as_deref() {
            Some(e) => Some(self.fold(day, Dim::Error, e, admit)?),
            None => None,
        };
        let install = match r.user_id.as_deref() {
            Some(user) => {
                let v = r.version.as_deref().unwrap_or("");
                let o = r.os.as_deref().unwrap_or("");
                Some((
                    user,
                    self.fold(day, Dim::Version, v, admit)?,
                    self.fold(day, Dim::Os, o, admit)?,
                ))
            }
            None => None,
        };
        Some(contribution(r, kind, name, error, install))
    }
}

/// The names the rollups hold for a day and dimension.
async fn load(
    tx: &impl GenericClient,
    day: i32,
    dim: &Dim,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = match dim {
        Dim::Kind => {
            tx.query("SELECT DISTINCT kind FROM daily WHERE day = $1", &[&day])
                .await?
        }
        Dim::Name(kind) => {
            tx.query(
                "SELECT name FROM daily WHERE day = $1 AND kind = $2",
                &[&day, kind],
            )
            .await?
        }
        Dim::Error => {
            tx.query("SELECT text FROM daily_errors WHERE day = $1", &[&day])
                .await?
        }
        Dim::Version => {
            tx.query(
                "SELECT DISTINCT version FROM daily_installs WHERE day = $1",
                &[&day],
            )
            .await?
        }
        Dim::Os => {
            tx.query(
                "SELECT DISTINCT os FROM daily_installs WHERE day = $1",
                &[&day],
            )
            .await?
        }
    };
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A row's day as the names' keys hold it.
fn day_of(r: &Row) -> i32 {
    pg_day(crate::rollup::day_of(r.ts_ms))
}
