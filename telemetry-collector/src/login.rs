//! The admin's sign-in state: random session ids that expire and can be revoked
//! (`/logout`), and the throttle on failed admin token attempts per client address.
//!
//! Throttle: the first [`FREE_FAILURES`] failed attempts in a row from an address cost
//! nothing (typos); the k-th after them blocks that address for 2^(k-1) seconds (at most
//! [`MAX_BLOCK`]); attempts while blocked are answered 429 with `Retry-After` and not even
//! checked. A success clears the address. Addresses are kept
//! per IPv4 address and per IPv6 /64, at most [`MAX_ADDRESSES`] of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts in a row an address may make before it is blocked.
pub const FREE_FAILURES: u32 = 3;

/// The longest block after repeated failures: 15 minutes.
pub const MAX_BLOCK: Duration = Duration::from_secs(900);

/// A failed address is forgotten this long after its last failure.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Addresses tracked at once; past it, the one whose last failure is oldest is forgotten.
pub const MAX_ADDRESSES: usize = 10_000;

/// Sessions open at once; past it, the one expiring first is closed.
pub const MAX_SESSIONS: usize = 1_000;

/// Default `--session-ttl`: a session cookie opens the report for 24 hours.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// Sessions and failed attempts.
#[derive(Debug)]
pub struct Login {
    ttl: Duration,
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Instant,
    last: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The address a throttle entry is kept under: IPv4 as is, IPv6 by its /64.
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Login {
    /// Sessions that last `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            sessions: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// How long a session lasts (the cookie's `Max-Age`).
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long `ip` must still wait before its next attempt, if it is blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let f = *lock(&self.failures).get(&client(ip))?;
        (f.blocked_until > now).then(|| f.blocked_until - now)
    }

    /// Records a failed attempt from `ip`; returns how long it is now blocked.
    ///
    /// ```
    /// use std::time::Duration;
    /// let login = telemetry_collector::login::Login::new(Duration::from_secs(60));
    /// let ip = "192.0.2.7".parse().unwrap();
    /// for _ in 0..telemetry_collector::login::FREE_FAILURES {
    ///     assert_eq!(login.failed(ip), Duration::ZERO);
    /// }
    /// assert_eq!(login.failed(ip), Duration::from_secs(1));
    /// assert_eq!(login.failed(ip), Duration::from_secs(2));
    /// assert!(login.blocked(ip).is_some());
    /// login.succeeded(ip);
    /// assert!(login.blocked(ip).is_none());
    /// ```
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut all = lock(&self.failures);
        if all.len() >= MAX_ADDRESSES && !all.contains_key(&client(ip)) {
            all.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if all.len() >= MAX_ADDRESSES
                && let Some(oldest) = all.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k)
            {
                all.remove(&oldest);
            }
        }
        let f = all.entry(client(ip)).or_insert(Failures {
            count: 0,
            blocked_until: now,
            last: now,
        });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        let block = match f.count.checked_sub(FREE_FAILURES + 1) {
            Some(k) => Duration::from_secs(1u64 << k.min(20)).min(MAX_BLOCK),
            None => Duration::ZERO,
        };
        f.blocked_until = now + block;
        f.last = now;
        block
    }

    /// A correct token from `ip`: its failures are forgotten.
    pub fn succeeded(&self, ip: IpAddr) {
        lock(&self.failures).remove(&client(ip));
    }

    /// Opens a session; returns its id (64 hex digits from the OS's random source).
    pub fn open(&self) -> Result<String, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no random source: {e}"))?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut all = lock(&self.sessions);
        all.retain(|_, expires| *expires > now);
        if all.len() >= MAX_SESSIONS
            && let Some(first) = all.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            all.remove(&first);
        }
        all.insert(id.clone(), now + self.ttl);
        Ok(id)
    }

    /// Whether `id` is an open, unexpired session.
    pub fn valid(&self, id: &str) -> bool {
        lock(&self.sessions)
            .get(id)
            .is_some_and(|expires| *expires > Instant::now())
    }

    /// Closes a session (logout); unknown ids are ignored.
    pub fn close(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_expire_and_close() {
        let login = Login::new(Duration::from_millis(50));
        let (a, b) = (login.open().unwrap(), login.open().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(login.valid(&a) && login.valid(&b));
        login.close(&a);
        assert!(!login.valid(&a) && login.valid(&b));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!login.valid(&b), "expired");
    }

    #[test]
    fn blocks_grow_exponentially_up_to_the_cap_and_per_ipv6_64() {
        let login = Login::new(DEFAULT_SESSION_TTL);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let waits: Vec<u64> = (0..16).map(|_| login.failed(ip).as_secs()).collect();
        assert_eq!(&waits[..8], &[0, 0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(waits[15], MAX_BLOCK.as_secs());
        assert!(login.blocked("2001:db8::ffff".parse().unwrap()).is_some());
        assert!(login.blocked("2001:db9::1".parse().unwrap()).is_none());
    }
}
