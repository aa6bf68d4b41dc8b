//! Every bound on what the public ingest may cost the collector: the numbers a record may
//! carry, how far ahead of the clock it may be dated, the names a day keeps per dimension,
//! and the connection, header, body and idle limits of the HTTP server, each with its
//! `serve` flag and default (the crate README lists them with what a client sees when one
//! sheds it). `--max-body` is [`crate::Config::max_body`].

use std::time::Duration;

/// Milliseconds a record may be dated ahead of the server's clock (24 h); later ones are
/// skipped and counted.
pub const MAX_FUTURE_MS: i64 = 24 * 3_600_000;

/// The largest `duration_ms` kept: 30 days.
pub const MAX_DURATION_MS: i64 = 30 * 86_400_000;

/// The largest `input_tokens`, `output_tokens` or `total_tokens` of one record: 10^10.
pub const MAX_TOKENS: i64 = 10_000_000_000;

/// The largest `cost` of one record: 1,000,000 (whatever the currency).
pub const MAX_COST: f64 = 1_000_000.0;

/// The largest `tool_calls` or `error_count` of one session end: 1,000,000.
pub const MAX_COUNT: i64 = 1_000_000;

/// The largest `dropped_records` one record may report: 10^9.
pub const MAX_DROPPED: i64 = 1_000_000_000;

/// Default `--header-timeout`: a connection must send a complete request head within 10 s of
/// its first byte.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `--body-timeout`: a request body must arrive whole within 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `--idle-timeout`: a keep-alive connection with no request under way and no bytes
/// moving is closed after 30 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `--max-connections` (lowered at start to fit the process's open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default `--max-concurrent-bodies`: ingest requests read, parsed and stored at once (each
/// holds its slot until answered): raw bodies take at most this many times `--max-body`, and
/// each costs about 5 MiB at its peak once parsed (1 MiB bodies, BENCHMARKS.md).
pub const DEFAULT_MAX_CONCURRENT_BODIES: usize = 32;

/// How long an ingest request waits for one of the `--max-concurrent-bodies` slots before it
/// is shed with 503.
pub const BODY_SLOT_WAIT: Duration = Duration::from_secs(1);

/// Default `--max-names-per-day`: distinct names the rollups keep per UTC day and dimension.
pub const DEFAULT_MAX_NAMES_PER_DAY: usize = 1000;

/// The row the rollups fold every name past `--max-names-per-day` into.
pub const OTHER: &str = "(other)";

/// File descriptors kept free when `--max-connections` is fitted to the open-file limit:
/// [`REFUSALS`] for connections being refused, and 32 for SQLite, the listener and the rest.
pub const RESERVED_FDS: u64 = REFUSALS as u64 + 32;

/// Connections over `--max-connections` answered 503 at once (each for at most a second);
/// past it they are closed unanswered.
pub const REFUSALS: usize = 64;

/// The `serve` flags that bound connections, request reading and rollup cardinality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `--header-timeout`: time to send a whole request head, from its first byte.
    pub header_timeout: Duration,
    /// `--body-timeout`: time to send a whole request body.
    pub body_timeout: Duration,
    /// `--idle-timeout`: a keep-alive connection with nothing under way is closed after this.
    pub idle_timeout: Duration,
    /// `--max-connections`: open connections; more are answered 503 and closed.
    pub max_connections: usize,
    /// `--max-concurrent-bodies`: ingest bodies read at once; more wait briefly, then 503.
    pub max_concurrent_bodies: usize,
    /// `--max-names-per-day`: distinct names per UTC day and dimension in the rollups.
    pub max_names_per_day: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_concurrent_bodies: DEFAULT_MAX_CONCURRENT_BODIES,
            max_names_per_day: DEFAULT_MAX_NAMES_PER_DAY,
        }
    }
}

impl Limits {
    /// Refuses a zero bound, with the flag's name.
    ///
    /// ```
    /// let mut l = telemetry_collector::limits::Limits::default();
    /// assert!(l.check().is_ok());
    /// l.max_connections = 0;
    /// assert!(l.check().unwrap_err().contains("--max-connections"));
    /// ```
    pub fn check(&self) -> Result<(), String> {
        let zero = [
            ("--header-timeout", self.header_timeout.is_zero()),
            ("--body-timeout", self.body_timeout.is_zero()),
            ("--idle-timeout", self.idle_timeout.is_zero()),
            ("--max-connections", self.max_connections == 0),
            ("--max-concurrent-bodies", self.max_concurrent_bodies == 0),
            ("--max-names-per-day", self.max_names_per_day == 0),
        ];
        match zero.iter().find(|(_, z)| *z) {
            Some((flag, _)) => Err(format!("{flag} must be at least 1")),
            None => Ok(()),
        }
    }

    /// `max_connections`, lowered so that connections plus [`RESERVED_FDS`] fit the soft
    /// open-file limit (`ulimit -n`): past it, `accept` fails and nobody is answered.
    pub fn fitted_connections(&self) -> usize {
        match open_file_limit() {
            Some(limit) => {
                let room = limit.saturating_sub(RESERVED_FDS).max(1);
                self.max_connections
                    .min(usize::try_from(room).unwrap_or(usize::MAX))
            }
            None => self.max_connections,
        }
    }
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (Linux); `None` elsewhere or when
/// unlimited.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_the_open_file_limit() {
        let l = Limits {
            max_connections: usize::MAX,
            ..Limits::default()
        };
        if let Some(limit) = open_file_limit() {
            assert_eq!(l.fitted_connections() as u64, (limit - RESERVED_FDS).max(1));
        }
        assert!(Limits::default().fitted_connections() <= DEFAULT_MAX_CONNECTIONS);
    }
}
