//! Connecting to a real PostgreSQL: the URL's password or `PGPASSWORD`, `sslmode` against a
//! server with a certificate, errors that never show the password, migrations that run once
//! when replicas start together, and a newer schema refused.

#[path = "common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use pg::{PASSWORD, Postgres};
use telemetry_collector::store::postgres::{self, PgUrl, schema};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Connects and asks whether the session is encrypted.
fn connect(url: &PgUrl) -> Result<bool, String> {
    block_on(async {
        let pool = postgres::pool(url, 1)?;
        let client = pool
            .get()
            .await
            .map_err(|e| postgres::connect_error(url, &e))?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get(0))
    })
}

#[test]
fn the_password_comes_from_the_url_or_pgpassword_and_no_error_shows_it() {
    let Some(pg) = Postgres::start("the_password_comes_from_the_url_or_pgpassword") else {
        return;
    };
    let no_env = |_: &str| None;
    let in_url = PgUrl::parse_with(&pg.url("postgres"), no_env).unwrap();
    assert_eq!(connect(&in_url), Ok(false));
    let env = |k: &str| (k == "PGPASSWORD").then(|| PASSWORD.to_owned());
    let from_env = PgUrl::parse_with(&pg.url_without_password("postgres"), env).unwrap();
    assert_eq!(connect(&from_env), Ok(false));
    // The URL's password wins over PGPASSWORD.
    let wrong_env = |k: &str| (k == "PGPASSWORD").then(|| "not-it".to_owned());
    assert_eq!(
        connect(&PgUrl::parse_with(&pg.url("postgres"), wrong_env).unwrap()),
        Ok(false)
    );
    let wrong = PgUrl::parse_with(
        &pg.url("postgres").replace(PASSWORD, "hunter2-wrong"),
        no_env,
    )
    .unwrap();
    let e = connect(&wrong).unwrap_err();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains(":***@127.0.0.1"), "{e}");
    let nobody = PgUrl::parse_with(&pg.url_without_password("postgres"), no_env).unwrap();
    let e = connect(&nobody).unwrap_err();
    assert!(
        e.contains("cannot connect to postgres://collector@127.0.0.1"),
        "{e}"
    );
}

#[test]
fn migrations_run_once_when_replicas_start_together() {
    let Some(pg) = Postgres::start("migrations_run_once_when_replicas_start_together") else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("race")).unwrap();
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                block_on(async { postgres::open(&url).await.map(drop) })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Ok(()));
    }
    assert_eq!(
        pg.psql(
            "race",
            "SELECT version, (SELECT COUNT(*) FROM schema_version) FROM schema_version"
        ),
        format!("{}|1", schema::latest())
    );
    let tables = pg.psql(
        "race",
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    // The tables retention prunes by day, and events, spans, schema_version.
    assert_eq!(tables, (schema::DAY_TABLES.len() + 3).to_string());
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let Some(pg) = Postgres::start("a_newer_schema_is_refused_with_a_clear_error") else {
        return;
    };
    let url = PgUrl::parse(&pg.create_db("future")).unwrap();
    block_on(postgres::open(&url)).unwrap();
    let newer = schema::latest() + 1;
    pg.psql(
        "future",
        &format!("UPDATE schema_version SET version = {newer}"),
    );
    let e = block_on(postgres::open(&url)).map(drop).unwrap_err();
    assert!(
        e.contains(&format!(
            "schema version {newer}, newer than this collector's"
        )),
        "{e}"
    );
    assert!(!e.contains(PASSWORD), "{e}");
    // Nothing was changed by the refusal.
    assert_eq!(
        pg.psql("future", "SELECT version FROM schema_version"),
        newer.to_string()
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package, a dependency of postgresql) runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for `localhost` only (not 127.0.0.1), signed by it; and
/// a second CA.
fn certificates(dir: &Path) {
    let subj_ca = "/CN=test ca";
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", subj_ca,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "2",
            "-subj",
            "/CN=other ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
}

#[test]
fn sslmode_is_honoured_against_a_server_with_a_certificate() {
    if !pg::available("sslmode_is_honoured_against_a_server_with_a_certificate") {
        return;
    }
    let certs = tempfile::Builder::new()
        .prefix("pg-certs-")
        .tempdir_in("/tmp")
        .unwrap();
    certificates(certs.path());
    let (cert, key) = (
        certs.path().join("server.pem"),
        certs.path().join("server.key"),
    );
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let opts = [
        "-c".to_owned(),
        "ssl=on".to_owned(),
        "-c".to_owned(),
        format!("ssl_cert_file={}", cert.display()),
        "-c".to_owned(),
        format!("ssl_key_file={}", key.display()),
    ];
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    // The server reads the key as its own user.
    let owner = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&owner.stdout).trim() == "0" {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(certs.path())
            .status()
            .unwrap();
    }
    let pg = Postgres::start_with("sslmode", &opts).unwrap();
    let base = pg.url("postgres").replace("?sslmode=disable", "");
    let ca = certs.path().join("ca.pem").display().to_string();
    let other = certs.path().join("other.pem").display().to_string();
    let try_mode = |q: &str| connect(&PgUrl::parse_with(&format!("{base}?{q}"), |_| None).unwrap());
    assert_eq!(try_mode("sslmode=disable"), Ok(false));
    assert_eq!(try_mode("sslmode=prefer"), Ok(true));
    assert_eq!(
        try_mode("sslmode=require"),
        Ok(true),
        "require does not check the certificate"
    );
    assert_eq!(
        try_mode(&format!("sslmode=verify-ca&sslrootcert={ca}")),
        Ok(true)
    );
    // The certificate names localhost, not 127.0.0.1.
    let e = try_mode(&format!("sslmode=verify-full&sslrootcert={ca}")).unwrap_err();
    assert!(e.contains("cannot connect"), "{e}");
    let by_name = base.replace("@127.0.0.1:", "@localhost:");
    let full = format!("{by_name}?sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(
        connect(&PgUrl::parse_with(&full, |_| None).unwrap()),
        Ok(true)
    );
    // A chain that does not lead to the given root, or to the Mozilla roots.
    assert!(try_mode(&format!("sslmode=verify-ca&sslrootcert={other}")).is_err());
    assert!(try_mode(&format!("sslmode=require&sslrootcert={other}")).is_err());
    assert!(try_mode("sslmode=verify-ca").is_err());
}

#[test]
fn url_options_set_the_sessions_server_settings() {
    let Some(pg) = Postgres::start("url_options_set_the_sessions_server_settings") else {
        return;
    };
    let url = pg.url("postgres") + "&options=-c%20synchronous_commit%3Doff&application_name=c1";
    let url = PgUrl::parse_with(&url, |_| None).unwrap();
    let got: (String, String) = block_on(async {
        let pool = postgres::pool(&url, 1).unwrap();
        let c = pool.get().await.unwrap();
        let row = c
            .query_one(
                "SELECT current_setting('synchronous_commit'), current_setting('application_name')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    });
    assert_eq!(got, ("off".to_owned(), "c1".to_owned()));
}
