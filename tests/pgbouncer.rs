//! PgBouncer for real: Debian's `pgbouncer`, configured by `aza-pgbouncer`, in front of a primary the
//! entrypoint initialised with `PGBOUNCER_AUTH_PASS` (or `PGBOUNCER_AUTH=certificate`). Clients log in
//! with SCRAM through `auth_query`; passwords with `:`, `\`, `@`, `&`, `'` and `"` work for the pooler's
//! own role and for applications; by certificate, no file PgBouncer reads holds a password.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::pki::Pki;
use support::server::{free_port, path_with_postgres, postgres_bin, Instance};
use support::{entrypoint, text, timeout};

const AUTH_PASS: &str = r#"b0uncer:"au\th@&'x"#;
const APP_PASS: &str = r"app:p\ss@w&rd'";

/// Debian's pgbouncer, killed on drop.
struct Bouncer {
    child: Child,
    log: PathBuf,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bouncer {
    /// Waits for a configuration that must be refused to end the program; its exit status.
    fn wait_refused(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout(Duration::from_secs(10));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "not refused\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn pgbouncer_path() -> String {
    for candidate in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"] {
        if Path::new(candidate).exists() {
            return candidate.to_string();
        }
    }
    panic!("pgbouncer is not installed; apt-get install pgbouncer (scripts/test.sh does)");
}

fn postgres_ids() -> (u32, u32) {
    let user = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("a postgres user on this machine");
    (user.uid.as_raw(), user.gid.as_raw())
}

/// `aza-pgbouncer --output-dir DIR -- pgbouncer DIR/pgbouncer.ini`, as `postgres` (PgBouncer refuses
/// to run as root).
fn start_bouncer(primary: &Instance, dir: &Path, port: u16) -> Bouncer {
    start_bouncer_with(primary, dir, port, &[])
}

/// `aza-pgbouncer`, built beside the entrypoint.
fn aza_pgbouncer() -> &'static str {
    env!("CARGO_BIN_EXE_aza-pgbouncer")
}

/// [`start_bouncer`] with more variables; `PGBOUNCER_AUTH_PASS` unless they say
/// `PGBOUNCER_AUTH=certificate`.
fn start_bouncer_with(
    primary: &Instance,
    dir: &Path,
    port: u16,
    extra: &[(&str, &str)],
) -> Bouncer {
    let log = primary.scratch.join("pgbouncer.log");
    let out = fs::File::create(&log).unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
    let (uid, gid) = postgres_ids();
    let by_certificate = extra.contains(&("PGBOUNCER_AUTH", "certificate"));
    let mut command = Command::new(aza_pgbouncer());
    command.env_clear();
    if !by_certificate {
        command.env("PGBOUNCER_AUTH_PASS", AUTH_PASS);
    }
    let child = command
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/bin", path_with_postgres()),
        )
        .env("PGBOUNCER_LISTEN_ADDR", "127.0.0.1")
        .env("PGBOUNCER_PORT", port.to_string())
        .env("POSTGRES_HOST", "127.0.0.1")
        .env("POSTGRES_PORT", primary.port.to_string())
        .envs(extra.iter().copied())
        .arg("--output-dir")
        .arg(dir)
        .arg("--")
        .arg(pgbouncer_path())
        .arg(dir.join("pgbouncer.ini"))
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Bouncer { child, log }
}

/// psql to 127.0.0.1:`port` with `password` (or none, to use `PGPASSFILE`).
fn psql(
    port: u16,
    user: &str,
    password: Option<&str>,
    database: &str,
    sql: &str,
) -> Result<String, String> {
    let mut command = Command::new(postgres_bin().join("psql"));
    command
        .env_clear()
        .env("PGCONNECT_TIMEOUT", "5")
        .args([
            "-X",
            "-At",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .args(["-U", user, "-d", database, "-c", sql]);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().unwrap();
    if output.status.success() {
        Ok(text(&output.stdout).trim_end().to_string())
    } else {
        Err(text(&output.stderr))
    }
}

/// The application role (`APP_PASS`) and its database `appdb`.
fn create_app(primary: &Instance) {
    primary
        .psql(&format!(
            "CREATE ROLE app LOGIN PASSWORD {}",
            sql_literal(APP_PASS)
        ))
        .unwrap();
    primary.psql("CREATE DATABASE appdb OWNER app").unwrap();
}

fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[test]
fn clients_log_in_through_pgbouncer_with_scram_via_auth_query() {
    let mut primary = Instance::new();
    primary.set_env("PGBOUNCER_AUTH_PASS", AUTH_PASS);
    primary.start();
    primary.wait_ready();
    create_app(&primary);
    assert_eq!(
        primary
            .psql("SELECT rolcanlogin::text || rolinherit::text || rolconnlimit FROM pg_roles WHERE rolname = 'pgbouncer_auth'")
            .unwrap(),
        "truefalse10"
    );
    assert_eq!(
        primary
            .psql("SELECT prosecdef::text || array_to_string(proconfig, ',') FROM pg_proc WHERE proname = 'pgbouncer_lookup'")
            .unwrap(),
        "truesearch_path=pg_catalog"
    );

    let dir = primary.scratch.join("pgbouncer");
    let port = free_port();
    let bouncer = start_bouncer(&primary, &dir, port);
    for name in ["pgbouncer.ini", "userlist.txt", ".pgpass"] {
        let deadline = Instant::now() + timeout(Duration::from_secs(10));
        while !dir.join(name).exists() {
            assert!(
                Instant::now() < deadline,
                "{name} never appeared\n{}",
                bouncer.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(
        fs::metadata(dir.join(".pgpass"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // Through the pooler, with SCRAM against the verifier auth_query returns.
    let deadline = Instant::now() + timeout(Duration::from_secs(15));
    let through = loop {
        let attempt = psql(
            port,
            "app",
            Some(APP_PASS),
            "appdb",
            "SELECT current_user || '@' || current_database()",
        );
        if attempt.is_ok() || Instant::now() > deadline {
            break attempt;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        through.as_deref(),
        Ok("app@appdb"),
        "{}",
        bouncer.log_text()
    );
    assert_eq!(
        psql(port, "app", Some(APP_PASS), "postgres", "SELECT 40 + 2").as_deref(),
        Ok("42")
    );
    let refused = psql(port, "app", Some("wrong"), "appdb", "SELECT 1").unwrap_err();
    assert!(refused.contains("SASL authentication failed"), "{refused}");
    // PgBouncer 1.18 says so when auth_query finds no role (instead of a row of NULLs).
    let unknown = psql(port, "nobody", Some(APP_PASS), "appdb", "SELECT 1").unwrap_err();
    assert!(unknown.contains("FATAL:  no such user"), "{unknown}");

    // .pgpass holds the escaped auth password: libpq reads it back for the pooler and for the server.
    let mut admin = Command::new(postgres_bin().join("psql"));
    admin
        .env_clear()
        .env("PGPASSFILE", dir.join(".pgpass"))
        .args(["-X", "-At", "-w", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args([
            "-U",
            "pgbouncer_auth",
            "-d",
            "pgbouncer",
            "-c",
            "SHOW VERSION",
        ]);
    let output = admin.output().unwrap();
    assert!(
        output.status.success() && text(&output.stdout).contains("PgBouncer"),
        "{}",
        text(&output.stderr)
    );
    let mut direct = Command::new(postgres_bin().join("psql"));
    direct
        .env_clear()
        .env("PGPASSFILE", dir.join(".pgpass"))
        .args(["-X", "-At", "-w", "-h", "127.0.0.1", "-p"])
        .arg(primary.port.to_string())
        .args([
            "-U",
            "pgbouncer_auth",
            "-d",
            "postgres",
            "-c",
            "SELECT string_agg(usename, ',') FROM (SELECT usename FROM pgbouncer_lookup('app') \
             UNION ALL SELECT usename FROM pgbouncer_lookup('postgres')) AS found",
        ]);
    let output = direct.output().unwrap();
    // The superuser's verifier is not served, not even to pgbouncer_auth.
    assert_eq!(
        text(&output.stdout).trim(),
        "app",
        "{}",
        text(&output.stderr)
    );

    // Only pgbouncer_auth may read verifiers.
    let denied = primary
        .psql_as(
            "app",
            APP_PASS,
            "appdb",
            "SELECT * FROM pgbouncer_lookup('postgres')",
        )
        .unwrap_err();
    assert!(denied.contains("permission denied"), "{denied}");

    let log = bouncer.log_text() + &primary.log_text();
    for secret in [AUTH_PASS, APP_PASS] {
        assert!(!log.contains(secret), "a password appeared in a log\n{log}");
    }
    drop(bouncer);
    primary.stop();
}

/// psql through PgBouncer as `app` with libpq options.
fn psql_tls(port: u16, options: &str, sql: &str) -> Result<String, String> {
    let conninfo =
        format!("host=127.0.0.1 port={port} user=app dbname=appdb connect_timeout=5 {options}");
    let output = Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", APP_PASS)
        .args(["-X", "-At", "-w", "-d", &conninfo, "-c", sql])
        .output()
        .unwrap();
    if output.status.success() {
        Ok(text(&output.stdout).trim_end().to_string())
    } else {
        Err(text(&output.stderr))
    }
}

#[test]
fn pgbouncer_requires_tls_from_clients_and_verifies_the_server() {
    let mut primary = Instance::new();
    primary
        .set_env("PGBOUNCER_AUTH_PASS", AUTH_PASS)
        .set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_GENERATE", "true");
    primary.start();
    primary.wait_ready();
    create_app(&primary);
    let pki = Pki::create(&primary.dir.path().join("certs"), postgres_ids());
    let loopback = "DNS:localhost,IP:127.0.0.1";
    pki.server("bouncer", None, loopback, "30");
    let (crt, key) = (pki.path("bouncer.crt"), pki.path("bouncer.key"));
    let server_ca = pki.path("server-ca.crt");
    fs::copy(primary.pgdata.join("tls/ca.crt"), &server_ca).unwrap();
    fs::set_permissions(&server_ca, fs::Permissions::from_mode(0o644)).unwrap();

    // A key that is not the certificate's: refused, nothing written.
    pki.server("other", None, loopback, "30");
    let other_key = pki.path("other.key");
    let refused_dir = primary.scratch.join("refused");
    let (crt_s, other_s) = (crt.to_str().unwrap(), other_key.to_str().unwrap());
    let mut refused = start_bouncer_with(
        &primary,
        &refused_dir,
        free_port(),
        &[
            ("PGBOUNCER_TLS", "required"),
            ("PGBOUNCER_TLS_CERT_FILE", crt_s),
            ("PGBOUNCER_TLS_KEY_FILE", other_s),
        ],
    );
    let status = refused.wait_refused();
    assert_eq!(status.code(), Some(1), "{}", refused.log_text());
    assert!(
        refused
            .log_text()
            .contains("is not the key of PGBOUNCER_TLS_CERT_FILE"),
        "{}",
        refused.log_text()
    );
    assert!(!refused_dir.exists());

    let dir = primary.scratch.join("pgbouncer");
    let port = free_port();
    let bouncer = start_bouncer_with(
        &primary,
        &dir,
        port,
        &[
            ("PGBOUNCER_TLS", "required"),
            ("PGBOUNCER_TLS_CERT_FILE", crt_s),
            ("PGBOUNCER_TLS_KEY_FILE", key.to_str().unwrap()),
            ("PGBOUNCER_SERVER_SSLMODE", "verify-full"),
            ("PGBOUNCER_SERVER_CA_FILE", server_ca.to_str().unwrap()),
        ],
    );
    // The client verifies PgBouncer; PgBouncer's connection to the server is TLS too (it verified
    // the server against its CA, or the login would fail).
    let verify = format!("sslmode=verify-full sslrootcert={}", crt.display());
    let own = "SELECT ssl::text || ' ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let deadline = Instant::now() + timeout(Duration::from_secs(15));
    let through = loop {
        let attempt = psql_tls(port, &verify, own);
        if attempt.is_ok() || Instant::now() > deadline {
            break attempt;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        through.as_deref(),
        Ok("true TLSv1.3"),
        "{}",
        bouncer.log_text()
    );
    let plain = psql_tls(port, "sslmode=disable", "SELECT 1").unwrap_err();
    assert!(plain.contains("SSL required"), "{plain}");
    let ini = fs::read_to_string(dir.join("pgbouncer.ini")).unwrap();
    assert!(ini.contains("client_tls_protocols = secure"), "{ini}");
    drop(bouncer);
    primary.stop();
}

#[test]
fn pgbouncer_config_without_a_password_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("conf");
    // Through the entrypoint's verb of earlier versions, which runs aza-pgbouncer beside it.
    let output = Command::new(entrypoint())
        .env_clear()
        .env("PGBOUNCER_SERVER_SSLMODE", "prefer")
        .args(["pgbouncer-config", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with("[PGBOUNCER] ERROR: PGBOUNCER_AUTH_PASS is not set"),
        "{}",
        text(&output.stderr)
    );
    assert!(!out.exists());

    let output = Command::new(aza_pgbouncer())
        .env_clear()
        .env("PGBOUNCER_AUTH_PASS", "x")
        .env("PGBOUNCER_SERVER_SSLMODE", "maybe")
        .arg("--output-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("PGBOUNCER_SERVER_SSLMODE='maybe' is not accepted"),
        "{}",
        text(&output.stderr)
    );
    assert!(!out.exists());
}

/// Every regular file under `dir`, with its contents.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            let bytes = fs::read(&path).unwrap();
            found.push((path, bytes));
        }
    }
    found
}

#[test]
fn pgbouncer_logs_in_by_certificate_and_no_file_it_reads_holds_a_password() {
    let mut primary = Instance::new();
    let pki = Pki::create(&primary.dir.path().join("certs"), postgres_ids());
    let loopback = "DNS:localhost,IP:127.0.0.1";
    pki.ca("ca");
    pki.give("ca.crt", 0o644);
    pki.server("server", Some("ca"), loopback, "30");
    // PgBouncer's client certificate: CN pgbouncer_auth, from the CA the server verifies with; and
    // one from the same CA for another name, which the checks refuse before anything is written.
    pki.server("pgbouncer_auth", Some("ca"), loopback, "30");
    pki.server("someone", Some("ca"), loopback, "30");
    primary
        .set_env("PGBOUNCER_AUTH", "certificate")
        .set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_CERT_FILE", &pki.text("server.crt"))
        .set_env("POSTGRES_TLS_KEY_FILE", &pki.text("server.key"))
        .set_env("POSTGRES_TLS_CA_FILE", &pki.text("ca.crt"));
    primary.start();
    primary.wait_ready();
    // The role exists without a password; its rules are hostssl ... cert.
    assert_eq!(
        primary
            .psql("SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = 'pgbouncer_auth'")
            .unwrap(),
        "t|t"
    );
    let rules = primary
        .psql(
            "SELECT DISTINCT type || ' ' || auth_method FROM pg_hba_file_rules \
             WHERE 'pgbouncer_auth' = ANY(user_name) ORDER BY 1",
        )
        .unwrap();
    assert_eq!(rules, "host reject\nhostssl cert");
    create_app(&primary);

    let certificate = |name: &str| {
        [
            ("PGBOUNCER_AUTH", "certificate"),
            ("PGBOUNCER_SERVER_SSLMODE", "verify-full"),
            (
                "PGBOUNCER_SERVER_CA_FILE",
                pki.text("ca.crt").leak() as &str,
            ),
            (
                "PGBOUNCER_SERVER_CERT_FILE",
                pki.text(&format!("{name}.crt")).leak() as &str,
            ),
            (
                "PGBOUNCER_SERVER_KEY_FILE",
                pki.text(&format!("{name}.key")).leak() as &str,
            ),
        ]
    };
    // A certificate for another name: refused, naming its CN, nothing written.
    let refused_dir = primary.scratch.join("refused");
    let mut refused =
        start_bouncer_with(&primary, &refused_dir, free_port(), &certificate("someone"));
    let status = refused.wait_refused();
    assert_eq!(status.code(), Some(1), "{}", refused.log_text());
    assert!(
        refused.log_text().contains("its common name is 'someone'"),
        "{}",
        refused.log_text()
    );
    assert!(!refused_dir.exists());

    let dir = primary.scratch.join("pgbouncer");
    let port = free_port();
    let bouncer = start_bouncer_with(&primary, &dir, port, &certificate("pgbouncer_auth"));
    // An application logs in through PgBouncer with SCRAM: PgBouncer fetched its verifier as
    // pgbouncer_auth, logged in by certificate over TLS.
    let deadline = Instant::now() + timeout(Duration::from_secs(15));
    let through = loop {
        let attempt = psql(port, "app", Some(APP_PASS), "appdb", "SELECT current_user");
        if attempt.is_ok() || Instant::now() > deadline {
            break attempt;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(through.as_deref(), Ok("app"), "{}", bouncer.log_text());
    let wrong = psql(port, "app", Some("not it"), "appdb", "SELECT 1").unwrap_err();
    assert!(wrong.contains("SASL authentication failed"), "{wrong}");
    let ssl = primary
        .psql("SELECT count(*) FILTER (WHERE s.ssl AND s.client_dn = '/CN=pgbouncer_auth') || '/' || count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'pgbouncer_auth'")
        .unwrap();
    let (by_certificate, all) = ssl.split_once('/').unwrap();
    assert!(all != "0" && by_certificate == all, "{ssl}");
    // No file PgBouncer reads holds a password: not the application's, not any other.
    let ini = fs::read_to_string(dir.join("pgbouncer.ini")).unwrap();
    assert!(ini.contains("server_tls_cert_file = "), "{ini}");
    for (path, bytes) in files_under(&dir) {
        let contents = String::from_utf8_lossy(&bytes);
        for secret in [APP_PASS, AUTH_PASS, support::server::PASSWORD] {
            assert!(
                !contents.contains(secret),
                "{} holds a password",
                path.display()
            );
        }
        if path.ends_with("userlist.txt") || path.ends_with(".pgpass") {
            assert_eq!(contents, "", "{}", path.display());
        }
    }
    // Straight to the server over TLS (libpq's prefer) without a client certificate, the role is
    // refused by its cert rule, whatever password is offered...
    let direct = psql(
        primary.port,
        "pgbouncer_auth",
        Some(AUTH_PASS),
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(
        direct.contains("certificate authentication failed")
            || direct.contains("connection requires a valid client certificate"),
        "{direct}"
    );
    // ...and a client of PgBouncer cannot log in as it (the lookup serves no row for it).
    let as_lookup_role = psql(
        port,
        "pgbouncer_auth",
        Some(AUTH_PASS),
        "postgres",
        "SELECT 1",
    )
    .unwrap_err();
    assert!(!as_lookup_role.is_empty());
    assert_eq!(
        primary
            .psql("SET ROLE pgbouncer_auth; SELECT count(*) FROM public.pgbouncer_lookup('pgbouncer_auth')")
            .unwrap()
            .lines()
            .last(),
        Some("0")
    );
    drop(bouncer);
    primary.stop();
}

#[test]
fn test_passwords_are_listed_for_the_leak_check() {
    assert!(
        support::server::is_listed_for_the_leak_check(AUTH_PASS),
        "AUTH_PASS is not in tests/secrets.txt"
    );
    assert!(
        support::server::is_listed_for_the_leak_check(APP_PASS),
        "APP_PASS is not in tests/secrets.txt"
    );
}
