//! `aza-pgbouncer --output-dir DIR [-- PROGRAM ARGS...]` (PgBouncer's container entrypoint; also
//! reached as `aza-entrypoint pgbouncer-config`): renders PgBouncer's `pgbouncer.ini`, `userlist.txt`
//! and `.pgpass` from the environment, then optionally runs PROGRAM (normally
//! `pgbouncer DIR/pgbouncer.ini`) in its place with the secrets removed from its environment.
//!
//! Clients authenticate with SCRAM against the verifier PgBouncer reads with
//! `auth_query = SELECT * FROM public.pgbouncer_lookup($1)`, logged in as `pgbouncer_auth`; the
//! primary's first start creates both (see [`crate::runtime::replication`]). `pgbouncer_auth` logs in
//! with its password (`PGBOUNCER_AUTH=password`: then in `userlist.txt`, and in `.pgpass` for tools
//! inside the container such as the health check) or with a TLS client certificate
//! (`PGBOUNCER_AUTH=certificate`: no password in any file).
//!
//! [`Settings::from_lookup`] and [`render`] are pure; [`run`] does the writing.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::parse_listen_addresses;
use crate::environment::{Environment, Uses};
use crate::runtime::contract::{Reader, Secret, SECRET_VARIABLES};
use crate::runtime::replication::{PgbouncerLogin, PGBOUNCER_AUTH_USER};
use crate::runtime::{exec, stdio};

/// libpq's `sslmode` values, which PgBouncer's `server_tls_sslmode` takes.
pub const SSLMODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Everything the configuration depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub login: ServerLogin,
    pub listen_addr: String,
    pub port: u16,
    pub server_sslmode: String,
    pub max_client_conn: u32,
    pub default_pool_size: u32,
    pub postgres_host: String,
    pub postgres_port: u16,
    /// `PGBOUNCER_TLS` on or required: TLS offered to (or demanded of) clients.
    pub client_tls: Option<ClientTls>,
    /// `PGBOUNCER_SERVER_CA_FILE`: the CA `server_tls_sslmode=verify-ca|verify-full` checks the
    /// server's certificate against.
    pub server_ca: Option<PathBuf>,
}

/// How PgBouncer logs in to the server as `pgbouncer_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLogin {
    /// SCRAM with `PGBOUNCER_AUTH_PASS`, kept in `userlist.txt` and `.pgpass`.
    Password(Secret),
    /// `PGBOUNCER_SERVER_CERT_FILE` and `PGBOUNCER_SERVER_KEY_FILE` as PgBouncer's client certificate
    /// (`server_tls_cert_file`, `server_tls_key_file`), presented on every server connection.
    Certificate { cert: PathBuf, key: PathBuf },
}

/// PgBouncer's side of client TLS (`client_tls_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// `require` (PGBOUNCER_TLS=required) or `prefer` (on: TLS when the client asks).
    pub sslmode: &'static str,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One unusable variable, named with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError(pub String);

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingError {}

impl Settings {
    /// Reads the `PGBOUNCER_*`, `POSTGRES_HOST` and `POSTGRES_PORT` variables through one parse of the
    /// contract (see [`Settings::read`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let no_files = |_: &str| -> std::io::Result<(u64, Vec<u8>)> {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "this test reads no files",
            ))
        };
        let mut reader = Reader::new(&lookup, &no_files);
        let login = PgbouncerLogin::read(&mut reader);
        let settings = Settings::read(&mut reader, login);
        match reader.finish(()) {
            Err(problems) => Err(SettingError(problems.to_string())),
            Ok(()) => settings,
        }
    }

    /// Reads PgBouncer's settings; bad values are kept in `r`. `login` is `PGBOUNCER_AUTH` with
    /// `PGBOUNCER_AUTH_PASS[_FILE]`, read once for the primary's setup and for this: without a
    /// password or the client certificate there is no configuration to write, which only
    /// `aza-pgbouncer` minds (the server's container shares the variables, not PgBouncer's files).
    pub fn read(
        r: &mut Reader<'_>,
        login: Option<PgbouncerLogin>,
    ) -> Result<Settings, SettingError> {
        fn checked(r: &mut Reader<'_>, name: &str, result: Result<String, SettingError>) -> String {
            result.unwrap_or_else(|SettingError(problem)| {
                r.problem(name, problem);
                String::new()
            })
        }
        let listen_addr = match r.get("PGBOUNCER_LISTEN_ADDR") {
            None => "127.0.0.1".to_string(),
            Some(value) => {
                let parsed = parse_listen_addresses(&value)
                    .map_err(|problem| SettingError(format!("='{value}' {problem}")));
                checked(r, "PGBOUNCER_LISTEN_ADDR", parsed)
            }
        };
        let postgres_host = match r.get("POSTGRES_HOST") {
            None => "postgres".to_string(),
            Some(host) => checked(r, "POSTGRES_HOST", check_host(&host)),
        };
        let modes: Vec<(&str, &str)> = SSLMODES.iter().map(|m| (*m, *m)).collect();
        let server_sslmode = r
            .choice("PGBOUNCER_SERVER_SSLMODE", &modes, "prefer")
            .to_string();
        let port = |r: &mut Reader<'_>, name: &str, default: u16| {
            r.whole_number(name, 1..=65_535, default.into(), "a TCP port") as u16
        };
        let count = |r: &mut Reader<'_>, name: &str, default: u32| {
            r.whole_number(name, 1..=1_000_000, default.into(), "a whole number") as u32
        };
        let client_tls = read_client_tls(r);
        let server_ca = r.absolute_path("PGBOUNCER_SERVER_CA_FILE");
        if server_sslmode.starts_with("verify-") && server_ca.is_none() {
            r.problem(
                "PGBOUNCER_SERVER_CA_FILE",
                format!(
                    "is not set, and PGBOUNCER_SERVER_SSLMODE={server_sslmode} needs it: the CA \
                     of the server's certificate (a generated one's: PGDATA/tls/ca.crt)"
                ),
            );
        }
        let server_cert = r.absolute_path("PGBOUNCER_SERVER_CERT_FILE");
        let server_key = r.absolute_path("PGBOUNCER_SERVER_KEY_FILE");
        if matches!(login, Some(PgbouncerLogin::Password(_)))
            && (server_cert.is_some() || server_key.is_some())
        {
            r.problem(
                "PGBOUNCER_AUTH",
                "is password (the default) while PGBOUNCER_SERVER_CERT_FILE or _KEY_FILE is set: \
                 set PGBOUNCER_AUTH=certificate, or remove them",
            );
        }
        let login = server_login(login, server_cert, server_key, &server_sslmode);
        // Read whether or not there is a login, so that their problems are kept either way.
        let pgbouncer_port = port(r, "PGBOUNCER_PORT", 6432);
        let max_client_conn = count(r, "PGBOUNCER_MAX_CLIENT_CONN", 200);
        let default_pool_size = count(r, "PGBOUNCER_DEFAULT_POOL_SIZE", 25);
        let postgres_port = port(r, "POSTGRES_PORT", 5432);
        login.map(|login| Settings {
            login,
            client_tls,
            server_ca,
            listen_addr,
            port: pgbouncer_port,
            server_sslmode,
            max_client_conn,
            default_pool_size,
            postgres_host,
            postgres_port,
        })
    }
}

/// How PgBouncer will log in, or every reason it cannot (returned, not kept: only `aza-pgbouncer`
/// minds them).
fn server_login(
    login: Option<PgbouncerLogin>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    sslmode: &str,
) -> Result<ServerLogin, SettingError> {
    match login {
        None => Err(SettingError(
            "PGBOUNCER_AUTH_PASS is not set: set it (or PGBOUNCER_AUTH_PASS_FILE) to the password \
             the primary gave pgbouncer_auth (its own PGBOUNCER_AUTH_PASS), or log in by \
             certificate (PGBOUNCER_AUTH=certificate)"
                .to_string(),
        )),
        Some(PgbouncerLogin::Password(password)) => Ok(ServerLogin::Password(password)),
        Some(PgbouncerLogin::Certificate) => {
            let mut problems = Vec::new();
            for (name, value) in [
                ("PGBOUNCER_SERVER_CERT_FILE", &cert),
                ("PGBOUNCER_SERVER_KEY_FILE", &key),
            ] {
                if value.is_none() {
                    problems.push(format!(
                        "{name} is not set: PGBOUNCER_AUTH=certificate needs PgBouncer's client \
                         certificate (CN pgbouncer_auth, signed by the server's POSTGRES_TLS_CA_FILE) \
                         and its key"
                    ));
                }
            }
            if !matches!(sslmode, "require" | "verify-ca" | "verify-full") {
                problems.push(format!(
                    "PGBOUNCER_SERVER_SSLMODE='{sslmode}' may connect without TLS, where no \
                     certificate is presented: PGBOUNCER_AUTH=certificate needs verify-full, \
                     verify-ca or require"
                ));
            }
            match (cert, key) {
                (Some(cert), Some(key)) if problems.is_empty() => {
                    Ok(ServerLogin::Certificate { cert, key })
                }
                _ => Err(SettingError(problems.join("; "))),
            }
        }
    }
}

/// `PGBOUNCER_TLS` (off, on, required) with `PGBOUNCER_TLS_CERT_FILE` and `PGBOUNCER_TLS_KEY_FILE`.
fn read_client_tls(r: &mut Reader<'_>) -> Option<ClientTls> {
    let sslmode = r.choice(
        "PGBOUNCER_TLS",
        &[
            ("off", None),
            ("on", Some("prefer")),
            ("required", Some("require")),
        ],
        None,
    );
    let cert = r.absolute_path("PGBOUNCER_TLS_CERT_FILE");
    let key = r.absolute_path("PGBOUNCER_TLS_KEY_FILE");
    match (sslmode, cert, key) {
        (Some(sslmode), Some(cert), Some(key)) => Some(ClientTls { sslmode, cert, key }),
        (None, None, None) => None,
        (None, _, _) => {
            r.problem(
                "PGBOUNCER_TLS",
                "is off (the default) while PGBOUNCER_TLS_CERT_FILE or _KEY_FILE is set: set it \
                 to on or required, or remove them",
            );
            None
        }
        (Some(_), _, _) => {
            r.unset_of(
                ["PGBOUNCER_TLS_CERT_FILE", "PGBOUNCER_TLS_KEY_FILE"],
                "PGBOUNCER_TLS needs PGBOUNCER_TLS_CERT_FILE and _KEY_FILE",
            );
            None
        }
    }
}

/// A host name or IP address, or an absolute Unix-socket directory without blanks or quotes.
fn check_host(host: &str) -> Result<String, SettingError> {
    let socket_dir = host.starts_with('/')
        && !host
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '"' || c == '\\');
    if socket_dir {
        return Ok(host.to_string());
    }
    match parse_listen_addresses(host) {
        Ok(parsed) if !parsed.contains(',') && parsed != "*" => Ok(parsed),
        _ => Err(SettingError(format!(
            "='{host}' is not accepted: use one host name, IP address or absolute socket directory"
        ))),
    }
}

/// The three files' contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub ini: String,
    pub userlist: String,
    pub pgpass: String,
}

/// Renders the configuration for files that will live in `output_dir`.
pub fn render(settings: &Settings, output_dir: &Path) -> Rendered {
    let s = settings;
    let ini = format!(
        ";; Written by aza-pgbouncer from the environment; change that, not this file.
[databases]
;; Every database on the server; auth_query runs in the database the client asks for, which is why
;; the primary creates pgbouncer_lookup in template1, postgres and POSTGRES_DB.
* = host={host} port={pg_port} auth_user={auth_user}

[pgbouncer]
listen_addr = {listen}
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {userlist}
auth_user = {auth_user}
auth_query = SELECT * FROM public.pgbouncer_lookup($1)
stats_users = {auth_user}
pool_mode = transaction
max_client_conn = {max_client_conn}
default_pool_size = {pool_size}
server_tls_sslmode = {sslmode}
server_tls_protocols = secure
{tls}ignore_startup_parameters = extra_float_digits
",
        tls = tls_lines(s),
        host = s.postgres_host,
        pg_port = s.postgres_port,
        auth_user = PGBOUNCER_AUTH_USER,
        listen = s.listen_addr,
        port = s.port,
        userlist = output_dir.join("userlist.txt").display(),
        max_client_conn = s.max_client_conn,
        pool_size = s.default_pool_size,
        sslmode = s.server_sslmode,
    );
    // By certificate, both stay empty: no file holds a password (PgBouncer takes a user missing
    // from auth_file as one without a password, which the server's `cert` rule does not ask for).
    let (mut userlist, mut pgpass) = (String::new(), String::new());
    if let ServerLogin::Password(secret) = &s.login {
        userlist = format!(
            "{} {}\n",
            quote_userlist(PGBOUNCER_AUTH_USER),
            quote_userlist(secret.expose())
        );
        let password = escape_pgpass(secret.expose());
        let user = escape_pgpass(PGBOUNCER_AUTH_USER);
        let pg_port = s.postgres_port.to_string();
        let port = s.port.to_string();
        for (host, port) in [
            (s.postgres_host.as_str(), pg_port.as_str()),
            ("localhost", port.as_str()),
            ("127.0.0.1", port.as_str()),
            ("pgbouncer", port.as_str()),
        ] {
            pgpass.push_str(&format!(
                "{}:{}:*:{user}:{password}\n",
                escape_pgpass(host),
                port
            ));
        }
    }
    Rendered {
        ini,
        userlist,
        pgpass,
    }
}

/// The ini's client TLS and server CA lines (TLS 1.2 and 1.3 only, the server's cipher list).
fn tls_lines(s: &Settings) -> String {
    let mut lines = String::new();
    if let Some(ca) = &s.server_ca {
        lines.push_str(&format!("server_tls_ca_file = {}\n", ca.display()));
    }
    if let ServerLogin::Certificate { cert, key } = &s.login {
        lines.push_str(&format!(
            "server_tls_cert_file = {}\nserver_tls_key_file = {}\n",
            cert.display(),
            key.display()
        ));
    }
    if let Some(tls) = &s.client_tls {
        lines.push_str(&format!(
            "client_tls_sslmode = {}\nclient_tls_cert_file = {}\nclient_tls_key_file = {}\n\
             client_tls_protocols = secure\nclient_tls_ciphers = {}\n",
            tls.sslmode,
            tls.cert.display(),
            tls.key.display(),
            crate::tls::CIPHERS
        ));
    }
    lines
}

/// A `.pgpass` field: backslashes first, then colons, get a backslash.
pub fn escape_pgpass(field: &str) -> String {
    field.replace('\\', "\\\\").replace(':', "\\:")
}

/// A `userlist.txt` word: in double quotes, inner double quotes doubled.
pub fn quote_userlist(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// Writes the files into `dir` (created 0700 if missing), each 0600, replacing older ones atomically.
pub fn write(dir: &Path, rendered: &Rendered) -> std::io::Result<()> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) => return Err(with_path(e, dir)),
    }
    for (name, contents) in [
        ("pgbouncer.ini", &rendered.ini),
        ("userlist.txt", &rendered.userlist),
        (".pgpass", &rendered.pgpass),
    ] {
        let path = dir.join(name);
        let temporary = dir.join(format!(".{name}.tmp"));
        let _ = fs::remove_file(&temporary);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|e| with_path(e, &temporary))?;
        file.write_all(contents.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| with_path(e, &temporary))?;
        // The umask can only remove bits; make sure libpq's and PgBouncer's 0600 check passes.
        fs::set_permissions(&temporary, fs::Permissions::from_mode(0o600))
            .map_err(|e| with_path(e, &temporary))?;
        fs::rename(&temporary, &path).map_err(|e| with_path(e, &path))?;
    }
    Ok(())
}

fn with_path(error: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// `aza-pgbouncer --help`.
pub const USAGE: &str = "\
aza-pgbouncer: PgBouncer's configuration from the environment, beside an aza-pg server

Usage:
  aza-pgbouncer --output-dir DIR [-- PROGRAM [ARGS...]]
      write pgbouncer.ini, userlist.txt and .pgpass into DIR (PGBOUNCER_*, POSTGRES_HOST,
      POSTGRES_PORT), then run PROGRAM in this one's place, e.g. pgbouncer DIR/pgbouncer.ini
  aza-pgbouncer --help
";

/// `--output-dir DIR [-- PROGRAM ARGS...]`: the directory and the program to run after writing.
pub fn parse_args(args: &[OsString]) -> Result<(PathBuf, Vec<OsString>), String> {
    const NEEDS_DIR: &str = "aza-pgbouncer needs --output-dir DIR (see aza-pgbouncer --help)";
    let (dir, then) = match args.first().and_then(|a| a.to_str()) {
        Some("--output-dir") => (args.get(1).cloned(), args.get(2..).unwrap_or(&[])),
        Some(flag) if flag.starts_with("--output-dir=") => (
            Some(OsString::from(&flag["--output-dir=".len()..])),
            &args[1..],
        ),
        _ => return Err(NEEDS_DIR.to_string()),
    };
    let output_dir = dir
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| NEEDS_DIR.to_string())?;
    match then.split_first() {
        None => Ok((output_dir, Vec::new())),
        Some((dashes, program)) if dashes == "--" && !program.is_empty() => {
            Ok((output_dir, program.to_vec()))
        }
        Some((other, _)) => Err(format!(
            "aza-pgbouncer: unexpected {other:?}; put the program to run after --"
        )),
    }
}

/// The program: render, write, then run `then` (if any) in place of this process.
pub fn run(env: &Environment, output_dir: &Path, then: &[OsString]) -> ExitCode {
    let settings = match (env.refusal(Uses::Pgbouncer), &env.pgbouncer) {
        (Some(refusal), _) => {
            stdio::eprint(&format!("[PGBOUNCER] ERROR: {refusal}\n"));
            return ExitCode::from(1);
        }
        (None, Err(error)) => {
            stdio::eprint(&format!("[PGBOUNCER] ERROR: {error}\n"));
            return ExitCode::from(1);
        }
        (None, Ok(settings)) => settings,
    };
    let problems = check_tls_files(settings);
    if !problems.is_empty() {
        stdio::eprint(&format!(
            "[PGBOUNCER] ERROR: {}; nothing was written\n",
            problems.join("; ")
        ));
        return ExitCode::from(1);
    }
    let output_dir = absolute(output_dir);
    if let Err(error) = write(&output_dir, &render(settings, &output_dir)) {
        stdio::eprint(&format!("[PGBOUNCER] ERROR: cannot write the configuration: {error}; pass a writable --output-dir\n"));
        return ExitCode::from(1);
    }
    stdio::print(&format!(
        "[PGBOUNCER] wrote pgbouncer.ini, userlist.txt and .pgpass to {} (listen {}:{}, server {}:{}, sslmode {})\n",
        output_dir.display(),
        settings.listen_addr,
        settings.port,
        settings.postgres_host,
        settings.postgres_port,
        settings.server_sslmode
    ));
    let Some((program, args)) = then.split_first() else {
        return ExitCode::SUCCESS;
    };
    for secret in SECRET_VARIABLES {
        std::env::remove_var(secret);
    }
    std::env::set_var("PGPASSFILE", output_dir.join(".pgpass"));
    exec::pass_through(program, args)
}

/// The mounted TLS files, checked as this process's user (PgBouncer's) before PgBouncer would fail
/// on them with a less helpful message.
fn check_tls_files(settings: &Settings) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(tls) = &settings.client_tls {
        problems.extend(crate::runtime::tls::check_pair(
            ("PGBOUNCER_TLS_CERT_FILE", &tls.cert),
            ("PGBOUNCER_TLS_KEY_FILE", &tls.key),
            None,
        ));
    }
    if let Some(ca) = &settings.server_ca {
        problems.extend(crate::runtime::tls::check_ca(
            "PGBOUNCER_SERVER_CA_FILE",
            ca,
            None,
        ));
    }
    if let ServerLogin::Certificate { cert, key } = &settings.login {
        let pair = crate::runtime::tls::check_pair(
            ("PGBOUNCER_SERVER_CERT_FILE", cert),
            ("PGBOUNCER_SERVER_KEY_FILE", key),
            None,
        );
        if pair.is_empty() {
            // The server's `cert` method compares the common name with the role.
            match crate::runtime::tls::common_name(cert) {
                Some(name) if name == PGBOUNCER_AUTH_USER => {}
                name => problems.push(format!(
                    "PGBOUNCER_SERVER_CERT_FILE={}: its common name is {}, and the server admits \
                     the certificate only for the role of that name: issue it for CN \
                     {PGBOUNCER_AUTH_USER}",
                    cert.display(),
                    name.map_or("missing".to_string(), |n| format!("'{n}'"))
                )),
            }
        }
        problems.extend(pair);
    }
    problems
}

/// PgBouncer resolves `auth_file` against its working directory; the ini names an absolute path.
fn absolute(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fake_env;

    #[test]
    fn the_arguments_are_a_directory_and_a_program() {
        let args = |list: &[&str]| -> Vec<OsString> { list.iter().map(OsString::from).collect() };
        assert_eq!(
            parse_args(&args(&["--output-dir", "/tmp/p"])),
            Ok(("/tmp/p".into(), vec![]))
        );
        assert_eq!(
            parse_args(&args(&[
                "--output-dir=/tmp/p",
                "--",
                "pgbouncer",
                "/tmp/p/pgbouncer.ini"
            ])),
            Ok((
                "/tmp/p".into(),
                args(&["pgbouncer", "/tmp/p/pgbouncer.ini"])
            ))
        );
        for bad in [
            &[][..],
            &["--output-dir"],
            &["--output-dir", "/d", "pgbouncer"],
            &["--output-dir", "/d", "--"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingError> {
        Settings::from_lookup(fake_env(vars))
    }

    #[test]
    fn pgpass_escapes_backslashes_first_then_colons() {
        assert_eq!(escape_pgpass("test:password:123"), r"test\:password\:123");
        assert_eq!(
            escape_pgpass(r"test\:complex:pass\word"),
            r"test\\\:complex\:pass\\word"
        );
        assert_eq!(escape_pgpass("p@ss&word\"'"), "p@ss&word\"'");
        assert_eq!(escape_pgpass("::1"), r"\:\:1");
    }

    #[test]
    fn userlist_doubles_double_quotes() {
        assert_eq!(quote_userlist(r#"a"b\c:d"#), r#""a""b\c:d""#);
        assert_eq!(quote_userlist(""), r#""""#);
    }

    #[test]
    fn defaults_and_rendering() {
        let s = settings(&[("PGBOUNCER_AUTH_PASS", r#"pa:ss\"w"#)]).unwrap();
        assert_eq!(
            (
                s.listen_addr.as_str(),
                s.port,
                s.server_sslmode.as_str(),
                s.max_client_conn,
                s.default_pool_size,
                s.postgres_host.as_str(),
                s.postgres_port
            ),
            ("127.0.0.1", 6432, "prefer", 200, 25, "postgres", 5432)
        );
        let out = render(&s, Path::new("/tmp/pgb"));
        for line in [
            "* = host=postgres port=5432 auth_user=pgbouncer_auth\n",
            "listen_addr = 127.0.0.1\n",
            "listen_port = 6432\n",
            "auth_type = scram-sha-256\n",
            "auth_file = /tmp/pgb/userlist.txt\n",
            "auth_user = pgbouncer_auth\n",
            "auth_query = SELECT * FROM public.pgbouncer_lookup($1)\n",
            "pool_mode = transaction\n",
            "max_client_conn = 200\n",
            "default_pool_size = 25\n",
            "server_tls_sslmode = prefer\n",
        ] {
            assert!(out.ini.contains(line), "{line}\n{}", out.ini);
        }
        assert!(!out.ini.contains("pa:ss"), "the password is not in the ini");
        assert_eq!(out.userlist, "\"pgbouncer_auth\" \"pa:ss\\\"\"w\"\n");
        assert_eq!(
            out.pgpass.lines().next(),
            Some(r#"postgres:5432:*:pgbouncer_auth:pa\:ss\\"w"#)
        );
        assert_eq!(out.pgpass.lines().count(), 4);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_accepted() {
        let e = settings(&[]).unwrap_err();
        assert!(e.0.starts_with("PGBOUNCER_AUTH_PASS is not set"), "{e}");
        for (name, value, accepted) in [
            ("PGBOUNCER_LISTEN_ADDR", "300.1.1.1", "not an address"),
            ("PGBOUNCER_SERVER_SSLMODE", "on", "disable, allow, prefer"),
            ("PGBOUNCER_PORT", "0", "1 to 65535"),
            ("POSTGRES_PORT", "x", "1 to 65535"),
            ("PGBOUNCER_MAX_CLIENT_CONN", "-5", "whole number"),
            ("PGBOUNCER_DEFAULT_POOL_SIZE", "0", "whole number"),
            ("POSTGRES_HOST", "a b", "one host name"),
        ] {
            let e = settings(&[("PGBOUNCER_AUTH_PASS", "x"), (name, value)]).unwrap_err();
            assert!(
                e.0.starts_with(&format!("{name}='{value}'")) && e.0.contains(accepted),
                "{e}"
            );
        }
        let s = settings(&[
            ("PGBOUNCER_AUTH_PASS", "x"),
            ("PGBOUNCER_LISTEN_ADDR", "0.0.0.0"),
            ("POSTGRES_HOST", "/run/postgresql"),
            ("PGBOUNCER_SERVER_SSLMODE", "verify-full"),
            ("PGBOUNCER_SERVER_CA_FILE", "/certs/ca.crt"),
        ])
        .unwrap();
        assert_eq!(s.listen_addr, "0.0.0.0");
        assert_eq!(s.postgres_host, "/run/postgresql");
    }

    #[test]
    fn tls_to_clients_and_a_verified_server() {
        let s = settings(&[
            ("PGBOUNCER_AUTH_PASS", "x"),
            ("PGBOUNCER_TLS", "required"),
            ("PGBOUNCER_TLS_CERT_FILE", "/certs/pgb.crt"),
            ("PGBOUNCER_TLS_KEY_FILE", "/certs/pgb.key"),
            ("PGBOUNCER_SERVER_SSLMODE", "verify-full"),
            ("PGBOUNCER_SERVER_CA_FILE", "/certs/ca.crt"),
        ])
        .unwrap();
        let ini = render(&s, Path::new("/tmp/pgb")).ini;
        for line in [
            "client_tls_sslmode = require\n",
            "client_tls_cert_file = /certs/pgb.crt\n",
            "client_tls_key_file = /certs/pgb.key\n",
            "client_tls_protocols = secure\n",
            "server_tls_sslmode = verify-full\n",
            "server_tls_ca_file = /certs/ca.crt\n",
        ] {
            assert!(ini.contains(line), "{line}\n{ini}");
        }
        let plain = render(
            &settings(&[("PGBOUNCER_AUTH_PASS", "x")]).unwrap(),
            Path::new("/p"),
        )
        .ini;
        assert!(!plain.contains("client_tls"), "{plain}");
        for (vars, problem) in [
            (
                vec![("PGBOUNCER_TLS", "on")],
                "PGBOUNCER_TLS_CERT_FILE is not set",
            ),
            (
                vec![("PGBOUNCER_TLS_KEY_FILE", "/k")],
                "PGBOUNCER_TLS is off",
            ),
            (
                vec![("PGBOUNCER_SERVER_SSLMODE", "verify-ca")],
                "PGBOUNCER_SERVER_CA_FILE is not set",
            ),
        ] {
            let mut vars = vars;
            vars.push(("PGBOUNCER_AUTH_PASS", "x"));
            let e = settings(&vars).unwrap_err();
            assert!(e.0.starts_with(problem), "{e}");
        }
    }

    #[test]
    fn by_certificate_no_file_holds_a_password() {
        let vars = [
            ("PGBOUNCER_AUTH", "certificate"),
            ("PGBOUNCER_SERVER_SSLMODE", "verify-full"),
            ("PGBOUNCER_SERVER_CA_FILE", "/c/ca.crt"),
            ("PGBOUNCER_SERVER_CERT_FILE", "/c/pgbouncer_auth.crt"),
            ("PGBOUNCER_SERVER_KEY_FILE", "/c/pgbouncer_auth.key"),
        ];
        let s = settings(&vars).unwrap();
        let out = render(&s, Path::new("/tmp/pgb"));
        assert_eq!((out.userlist.as_str(), out.pgpass.as_str()), ("", ""));
        assert!(out.ini.contains(
            "server_tls_cert_file = /c/pgbouncer_auth.crt\nserver_tls_key_file = /c/pgbouncer_auth.key\n"
        ));
        assert!(out.ini.contains("server_tls_sslmode = verify-full\n"));
        // Every reason it cannot log in, at once.
        let error = settings(&[("PGBOUNCER_AUTH", "certificate")])
            .unwrap_err()
            .0;
        for expected in [
            "PGBOUNCER_SERVER_CERT_FILE is not set",
            "PGBOUNCER_SERVER_KEY_FILE is not set",
            "PGBOUNCER_SERVER_SSLMODE='prefer' may connect without TLS",
        ] {
            assert!(error.contains(expected), "{error}");
        }
        // By password, a client certificate is a contradiction, named.
        let error = settings(&[
            ("PGBOUNCER_AUTH_PASS", "x"),
            ("PGBOUNCER_SERVER_CERT_FILE", "/c/a.crt"),
        ])
        .unwrap_err()
        .0;
        assert!(
            error.contains("PGBOUNCER_AUTH is password (the default)"),
            "{error}"
        );
    }

    #[test]
    fn files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("conf");
        let s = settings(&[("PGBOUNCER_AUTH_PASS", "x")]).unwrap();
        write(&out, &render(&s, &out)).unwrap();
        write(&out, &render(&s, &out)).unwrap();
        for name in ["pgbouncer.ini", "userlist.txt", ".pgpass"] {
            let mode = fs::metadata(out.join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        assert_eq!(fs::read_dir(&out).unwrap().count(), 3);
    }
}
