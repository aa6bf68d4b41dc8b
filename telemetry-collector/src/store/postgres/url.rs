//! `--db postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]` (or `postgresql://`): parsed
//! once into a [`PgUrl`], which is only ever shown with its password replaced by `***`.
//!
//! The password comes from the URL, else from `PGPASSWORD`; `sslmode` from the URL, else
//! `PGSSLMODE`, else `prefer` (libpq's default). Parameters understood: `sslmode`
//! (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`), `sslrootcert`
//! (a PEM file of trusted roots), `connect_timeout` (seconds), `application_name`, `host`
//! (overrides the URL's host, e.g. a Unix socket directory), `options` (server settings for
//! the collector's sessions, as libpq: `-c synchronous_commit=off`). Anything else is
//! refused, so a misspelt `sslmode` never silently means "no TLS".

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// How TLS is used, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, certificate not checked (libpq's `allow`, taken as `prefer`).
    Allow,
    /// TLS when the server offers it, certificate not checked (the default).
    Prefer,
    /// TLS required; certificate checked only against `sslrootcert` when given.
    Require,
    /// TLS required, certificate chain checked (`sslrootcert`, else the Mozilla roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full"
                ));
            }
        })
    }

    /// The name libpq uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// A parsed PostgreSQL URL. `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// The role to connect as.
    pub user: String,
    password: Option<String>,
    /// A host name, an IP address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// The port (5432 unless given).
    pub port: u16,
    /// The database (the user's name unless given, as libpq does).
    pub dbname: String,
    /// TLS use.
    pub sslmode: SslMode,
    /// A PEM file of trusted root certificates.
    pub sslrootcert: Option<PathBuf>,
    /// How long to wait for a connection (10 s unless given).
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    /// Server settings for every session (`-c name=value ...`).
    pub options: Option<String>,
}

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
///
/// ```
/// use telemetry_collector::store::postgres::url::is_postgres_url;
/// assert!(is_postgres_url("postgres://u@h/db") && is_postgres_url("PostgreSQL://u@h/db"));
/// assert!(!is_postgres_url("./postgres.db"));
/// ```
pub fn is_postgres_url(s: &str) -> bool {
    scheme_rest(s).is_some()
}

fn scheme_rest(s: &str) -> Option<&str> {
    ["postgresql://", "postgres://"].iter().find_map(|scheme| {
        let head = s.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &s[scheme.len()..])
    })
}

fn decode(s: &str, what: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("the URL's {what} is not UTF-8 once percent-decoded"))
}

impl PgUrl {
    /// Parses a URL, reading `PGPASSWORD` and `PGSSLMODE` through `env`. Errors never
    /// contain the password.
    ///
    /// ```
    /// use telemetry_collector::store::postgres::url::{PgUrl, SslMode};
    /// let env = |k: &str| (k == "PGPASSWORD").then(|| "s3cret".to_owned());
    /// let url = PgUrl::parse_with("postgres://collector@db.internal/telemetry?sslmode=require", env).unwrap();
    /// assert_eq!((url.port, url.sslmode), (5432, SslMode::Require));
    /// assert_eq!(url.password(), Some("s3cret"));
    /// assert_eq!(url.to_string(), "postgres://collector:***@db.internal:5432/telemetry?sslmode=require");
    /// ```
    pub fn parse_with(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let rest =
            scheme_rest(s).ok_or("a PostgreSQL URL starts with postgres:// or postgresql://")?;
        if rest.contains('#') {
            return Err("a PostgreSQL URL has no #fragment".into());
        }
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        // The password may hold '@' and '/': the host starts after the last '@'.
        let (userinfo, hostpath) = match main.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, main),
        };
        let (hostport, db) = hostpath.split_once('/').unwrap_or((hostpath, ""));
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (decode(name, "user")?, Some(decode(pw, "password")?)),
                None => (decode(u, "user")?, None),
            },
            None => (String::new(), None),
        };
        let user = if user.is_empty() {
            env("PGUSER").filter(|u| !u.is_empty()).ok_or(
                "the URL names no user (postgres://USER@HOST:PORT/DB) and PGUSER is not set",
            )?
        } else {
            user
        };
        let (host, port) = split_host_port(hostport)?;
        let dbname = match decode(db, "database")? {
            d if d.is_empty() => user.clone(),
            d => d,
        };
        let mut url = Self {
            password: password
                .or_else(|| env("PGPASSWORD"))
                .filter(|p| !p.is_empty()),
            host,
            port,
            dbname,
            sslmode: SslMode::Prefer,
            sslrootcert: None,
            connect_timeout: Duration::from_secs(10),
            application_name: "telemetry-collector".into(),
            options: None,
            user,
        };
        let mut sslmode = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v, "parameters")?;
            match k {
                "sslmode" => sslmode = Some(SslMode::parse(&v)?),
                "sslrootcert" => url.sslrootcert = Some(PathBuf::from(v)),
                "connect_timeout" => {
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| format!("connect_timeout {v:?} is not whole seconds"))?;
                    url.connect_timeout = Duration::from_secs(secs.clamp(1, 3600));
                }
                "application_name" => url.application_name = v,
                "host" => url.host = v,
                "options" => url.options = Some(v).filter(|o| !o.is_empty()),
                other => {
                    return Err(format!(
                        "unknown URL parameter {other:?} (known: sslmode, sslrootcert, \
                         connect_timeout, application_name, host, options)"
                    ));
                }
            }
        }
        url.sslmode = match sslmode {
            Some(m) => m,
            None => match env("PGSSLMODE").filter(|m| !m.is_empty()) {
                Some(m) => SslMode::parse(&m).map_err(|e| format!("PGSSLMODE: {e}"))?,
                None => SslMode::Prefer,
            },
        };
        if url.host.is_empty() {
            return Err("the URL names no host (postgres://USER@HOST:PORT/DB)".into());
        }
        Ok(url)
    }

    /// [`PgUrl::parse_with`] reading the process environment.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::parse_with(s, |k| std::env::var(k).ok())
    }

    /// The password (from the URL or `PGPASSWORD`), for the connection only.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The settings tokio-postgres connects with.
    pub fn to_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .port(self.port)
            .connect_timeout(self.connect_timeout)
            .application_name(&self.application_name)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(60))
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            });
        if self.host.starts_with('/') {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        if let Some(p) = &self.password {
            c.password(p);
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        c
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, each percent-decoded.
fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or("an IPv6 host in the URL lacks its closing ]")?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.contains(',') {
        return Err("several hosts in one URL are not supported: give one".into());
    }
    let port = match port {
        None | Some("") => 5432,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("the URL's port {p:?} is not a number from 1 to 65535"))?,
    };
    Ok((decode(host, "host")?, port))
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let pw = if self.password.is_some() { ":***" } else { "" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else if self.host.starts_with('/') {
            enc(&self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "postgres://{}{pw}@{host}:{}/{}?sslmode={}",
            enc(&self.user),
            self.port,
            enc(&self.dbname),
            self.sslmode.as_str()
        )
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn both_schemes_ports_hosts_and_defaults() {
        let u = PgUrl::parse_with("postgresql://me@localhost/", no_env).unwrap();
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.dbname.as_str()),
            ("me", "localhost", 5432, "me")
        );
        assert_eq!(u.sslmode, SslMode::Prefer);
        let u = PgUrl::parse_with("postgres://me@[::1]:6543/db", no_env).unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 6543));
        assert_eq!(u.to_string(), "postgres://me@[::1]:6543/db?sslmode=prefer");
        let u = PgUrl::parse_with("postgres://me@%2Frun%2Fpg:5433/db", no_env).unwrap();
        assert_eq!(u.host, "/run/pg");
        let u = PgUrl::parse_with(
            "postgres://me@ignored/db?host=/tmp/s&sslmode=disable",
            no_env,
        )
        .unwrap();
        assert_eq!((u.host.as_str(), u.sslmode), ("/tmp/s", SslMode::Disable));
    }

    #[test]
    fn the_password_comes_from_the_url_first_then_pgpassword_and_is_never_shown() {
        let env = |k: &str| (k == "PGPASSWORD").then(|| "from-env".to_owned());
        let u = PgUrl::parse_with("postgres://me:p%40ss/w@h:1/db", env).unwrap();
        assert_eq!(u.password(), Some("p@ss/w"));
        let shown = format!("{u} {u:?}");
        assert!(
            !shown.contains("p@ss") && !shown.contains("p%40ss"),
            "{shown}"
        );
        assert!(shown.contains("me:***@h:1/db"), "{shown}");
        let u = PgUrl::parse_with("postgres://me@h/db", env).unwrap();
        assert_eq!(u.password(), Some("from-env"));
        assert!(!u.to_string().contains("from-env"));
    }

    #[test]
    fn sslmode_from_the_url_then_pgsslmode_and_every_libpq_value() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            let u = PgUrl::parse_with(&format!("postgres://u@h/d?sslmode={m}"), no_env).unwrap();
            assert_eq!(u.sslmode.as_str(), m);
        }
        let env = |k: &str| (k == "PGSSLMODE").then(|| "verify-full".to_owned());
        assert_eq!(
            PgUrl::parse_with("postgres://u@h/d", env).unwrap().sslmode,
            SslMode::VerifyFull
        );
        assert_eq!(
            PgUrl::parse_with("postgres://u@h/d?sslmode=disable", env)
                .unwrap()
                .sslmode,
            SslMode::Disable
        );
    }

    #[test]
    fn bad_urls_get_a_reason_without_the_password() {
        for bad in [
            "postgres://u:hunter2@h:99999/d",
            "postgres://u:hunter2@h/d?sslmode=on",
            "postgres://u:hunter2@h/d?ssl=true",
            "postgres://u:hunter2@/d",
            "postgres://u:hunter2@[::1/d",
            "postgres://u:hunter2@a,b/d",
            "postgres://u:hunter2@h/d#x",
            "postgres://:hunter2@h/d",
            "mysql://u:hunter2@h/d",
        ] {
            let e = PgUrl::parse_with(bad, no_env).unwrap_err();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
    }
}
