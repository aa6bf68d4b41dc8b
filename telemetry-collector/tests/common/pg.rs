//! A real PostgreSQL server for one test: `initdb` into a temporary directory, `pg_ctl`
//! on a free loopback port, stopped (`-m immediate`) and removed on drop, also when the
//! test panics. Never a mock.
//!
//! Binaries: `$PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian's
//! `postgresql` package, which `.ci/run` installs), else `initdb` on `PATH`. As root (CI),
//! `initdb` refuses to run, so the server runs as the `postgres` user the package creates.
//! Without binaries: `CI` set fails the test; otherwise it prints why it skipped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser the tests connect as, and its password (TCP needs it: scram-sha-256).
pub const USER: &str = "collector";
pub const PASSWORD: &str = "pg-test-password";

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    extra: Vec<String>,
}

fn find_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether PostgreSQL is installed; when not, fails under `CI`, else prints why `test` skips.
pub fn available(test: &str) -> bool {
    binaries_or_skip(test).is_some()
}

/// `None` (after printing why) when PostgreSQL is not installed and `CI` is unset.
fn binaries_or_skip(test: &str) -> Option<PathBuf> {
    match find_bin() {
        Some(bin) => Some(bin),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL binaries (initdb, pg_ctl) are missing on CI: .ci/run installs \
                 Debian's postgresql package"
            );
            eprintln!(
                "\n!!!!!!!! SKIPPED {test}: no PostgreSQL binaries (install Debian's \
                 postgresql package, or set PG_BIN to a directory with initdb and pg_ctl) !!!!!!!!\n"
            );
            None
        }
    }
}

impl Postgres {
    /// A fresh server tuned for tests (no fsync: the tests kill collectors, not PostgreSQL).
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, &["-c", "fsync=off", "-c", "full_page_writes=off"])
    }

    /// A fresh server with PostgreSQL's durable defaults (the benchmarks).
    pub fn start_durable(test: &str) -> Option<Self> {
        Self::start_with(test, &[])
    }

    /// Extra `postgres` options (`-c name=value` pairs) on top of the harness's own.
    pub fn start_with(test: &str, extra: &[&str]) -> Option<Self> {
        let bin = binaries_or_skip(test)?;
        let as_postgres = is_root();
        let dir = if as_postgres {
            // The postgres user must reach the directory: not under root's private temp dir.
            tempfile::Builder::new()
                .prefix("pg-test-")
                .tempdir_in("/tmp")
                .unwrap()
        } else {
            tempfile::Builder::new()
                .prefix("pg-test-")
                .tempdir()
                .unwrap()
        };
        std::fs::write(dir.path().join("pw"), PASSWORD).unwrap();
        let mut pg = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
            extra: extra.iter().map(|o| (*o).to_owned()).collect(),
        };
        if as_postgres {
            pg.ok(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path()));
        }
        let data = pg.data();
        let pwfile = format!("--pwfile={}", pg.dir.path().join("pw").display());
        let initdb = pg.cmd(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                USER,
                &pwfile,
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        pg.ok_as(initdb);
        for _ in 0..5 {
            pg.port = free_port();
            if pg.try_start() {
                return Some(pg);
            }
        }
        panic!("PostgreSQL did not start:\n{}", pg.log());
    }

    fn try_start(&self) -> bool {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        for o in &self.extra {
            opts.push(' ');
            opts.push_str(o);
        }
        let log = format!("{}/server.log", self.dir.path().display());
        let data = self.data();
        let start = self.cmd(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        );
        self.run(start).status.success()
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    /// A command from the binaries' directory, as the `postgres` user when we are root.
    fn cmd(&self, prog: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(prog);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.args(args).current_dir(self.dir.path());
        c
    }

    fn run(&self, mut c: Command) -> Output {
        c.output()
            .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
    }

    fn ok(&self, c: &mut Command) {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ok_as(&self, c: Command) {
        let desc = format!("{c:?}");
        let out = self.run(c);
        assert!(
            out.status.success(),
            "{desc}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (fast shutdown: sessions are disconnected); the data stays.
    pub fn stop_server(&self) {
        let data = self.data();
        let stop = self.cmd(
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "-t", "30", "stop"],
        );
        self.ok_as(stop);
    }

    /// Starts the stopped server again on the same port.
    pub fn start_server(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start again:\n{}",
            self.log()
        );
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://collector:PASSWORD@127.0.0.1:PORT/DB?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// The same URL without the password (it then comes from `PGPASSWORD`).
    pub fn url_without_password(&self, db: &str) -> String {
        format!(
            "postgres://{USER}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL through `psql` on database `db`; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let mut c = self.cmd(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                db,
                "-c",
                sql,
            ],
        );
        c.env("PGPASSWORD", PASSWORD);
        let out = self.run(c);
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new empty database; returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// The data directory (for `postgresql.conf` and certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Makes `path` (created by root) readable by the server's user.
    pub fn give(&self, path: &Path) {
        if self.as_postgres {
            self.ok(Command::new("chown").arg("postgres:postgres").arg(path));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let stop = self.cmd(
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"],
        );
        let _ = self.run(stop);
    }
}
