//! `aza-entrypoint healthcheck`: whether this server can take traffic, for Docker's HEALTHCHECK and
//! Kubernetes probes. Exit 0 when healthy, 1 when not, with one line saying why.
//!
//! The checks, in order:
//! 1. the server accepts a connection and answers a query within the timeout;
//! 2. it is in recovery exactly when `POSTGRES_ROLE=replica` (a promoted replica is as wrong as a
//!    primary that came up as a standby);
//! 3. if the initialisation status table `pg_aza_status` exists, its latest row (by `started_at`, as
//!    docker/initdb/01-extensions.sql creates it)
//!    is not `in_progress` or `failed`; `partial` is healthy with a warning.
//!
//! One `psql` session does all of it (psql is in the image; a client library would cost the static
//! binary size and C). It connects over the Unix socket, where first start trusts local connections, so
//! no password is needed or handled. During first-start initialisation the temporary server listens on
//! a private socket only, so the check fails until the real server runs.
//!
//! Resolving the settings ([`HealthConfig::from_lookup`]), reading psql's output ([`interpret`]) and
//! judging it ([`judge`]) are pure; [`check`] only spawns psql and waits.

use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::contract::{ContractErrors, Reader, RuntimeConfig, SECRET_VARIABLES};
use super::replication;

/// PostgreSQL's `unix_socket_directories` in the image (Debian's build default).
pub use crate::config::DEFAULT_SOCKET_DIR;
pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What this container is meant to be, from `POSTGRES_ROLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
    /// A Patroni node (`POSTGRES_ROLE=ha`): leader or replica, as Patroni decides.
    Ha,
}

/// Where and as whom psql connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A socket directory (starts with `/`) or a host name.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
}

impl Target {
    /// The server's address as libpq names it: the socket file, or `host:port`.
    pub fn address(&self) -> String {
        if self.host.starts_with('/') {
            format!(
                "socket {}/.s.PGSQL.{}",
                self.host.trim_end_matches('/'),
                self.port
            )
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (user {}, database {})",
            self.address(),
            self.user,
            self.database
        )
    }
}

/// Everything the healthcheck reads from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub target: Target,
    pub role: Role,
}

impl HealthConfig {
    /// Resolves the settings from a whole parse of the contract (see [`HealthConfig::read`]).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
    ) -> Result<HealthConfig, HealthError> {
        let mut reader = Reader::new(&lookup, &read_file);
        let runtime = RuntimeConfig::read(&mut reader);
        let role = replication::Role::read(&mut reader, None).kind();
        let pgport = read_pgport(&mut reader);
        let config = HealthConfig::read(&reader, &runtime, role, pgport);
        reader.finish(config).map_err(HealthError::Config)
    }

    /// `PGHOST`/`PGPORT`/`PGUSER`/`PGDATABASE` win; otherwise the socket directory and port are the
    /// image's defaults, the user is the superuser first start created (`POSTGRES_USER[_FILE]`) and the
    /// database the one it created (`POSTGRES_DB[_FILE]`), as the contract parsed them.
    pub fn read(
        r: &Reader<'_>,
        runtime: &RuntimeConfig,
        role: replication::RoleKind,
        pgport: Option<u16>,
    ) -> HealthConfig {
        HealthConfig {
            target: Target {
                host: r
                    .get("PGHOST")
                    .unwrap_or_else(|| DEFAULT_SOCKET_DIR.to_string()),
                port: pgport.unwrap_or(DEFAULT_PORT),
                user: r.get("PGUSER").unwrap_or_else(|| runtime.user.clone()),
                database: r
                    .get("PGDATABASE")
                    .unwrap_or_else(|| runtime.database.clone()),
            },
            role: match role {
                replication::RoleKind::Primary => Role::Primary,
                replication::RoleKind::Replica => Role::Replica,
                replication::RoleKind::Ha => Role::Ha,
            },
        }
    }
}

/// `PGPORT`: the port a start listens on unless its arguments say otherwise, and the one the
/// healthcheck asks.
pub fn read_pgport(r: &mut Reader<'_>) -> Option<u16> {
    r.get("PGPORT")?;
    let port = r.whole_number("PGPORT", 1..=65_535, DEFAULT_PORT.into(), "a port number");
    u16::try_from(port).ok()
}

/// What `pg_aza_status` says about the initialisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitRecord {
    /// No such table: nothing to check.
    NoTable,
    /// The table exists but holds no row.
    NoRows,
    Latest {
        status: Option<String>,
        failed_extensions: Vec<String>,
    },
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub in_recovery: bool,
    pub init: InitRecord,
}

/// A passed check: the line to print, and warnings worth a look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthy {
    pub summary: String,
    pub warnings: Vec<String>,
}

/// Why the server is not healthy (or the check could not run).
#[derive(Debug)]
pub enum HealthError {
    /// Unusable environment variables.
    Config(ContractErrors),
    /// psql could not be started.
    Psql(std::io::Error),
    /// No session: nothing listens, or the server refused (starting up, shutting down, no such role).
    NotAccepting { target: String, detail: String },
    /// psql did not finish in time and was killed.
    TimedOut { target: String, timeout: Duration },
    /// Connected, but a query failed.
    Query { target: String, detail: String },
    /// psql finished but its output is not what the script prints.
    UnexpectedOutput { output: String },
    /// In recovery when it must not be, or the other way round.
    WrongRole { role: Role },
    /// `pg_aza_status` says the initialisation is not done or failed.
    Initialisation {
        status: String,
        failed_extensions: Vec<String>,
    },
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::Config(e) => e.fmt(f),
            HealthError::Psql(e) if e.kind() == std::io::ErrorKind::NotFound => write!(
                f,
                "cannot run psql: it is not on PATH; the healthcheck needs PostgreSQL's client"
            ),
            HealthError::Psql(e) => write!(f, "cannot run psql: {e}"),
            HealthError::NotAccepting { target, detail } => {
                write!(f, "PostgreSQL is not accepting connections on {target}: {detail}")
            }
            HealthError::TimedOut { target, timeout } => write!(
                f,
                "PostgreSQL did not answer within {} s on {target}: it is not accepting connections in time \
                 (starting, overloaded or stuck); a longer --timeout may help",
                seconds(*timeout)
            ),
            HealthError::Query { target, detail } => {
                write!(f, "the health query failed on {target}: {detail}")
            }
            HealthError::UnexpectedOutput { output } => write!(
                f,
                "psql's output is not what the health query prints: {:?}",
                output
            ),
            HealthError::WrongRole { role: Role::Replica } => write!(
                f,
                "expected a replica in recovery (POSTGRES_ROLE=replica), but PostgreSQL is not in recovery: \
                 it was promoted or is not a standby; if it is meant to be a primary now, unset \
                 POSTGRES_ROLE or set it to primary"
            ),
            HealthError::WrongRole {
                role: Role::Primary | Role::Ha,
            } => write!(
                f,
                "expected a primary (POSTGRES_ROLE unset or primary), but PostgreSQL is in recovery (a \
                 standby or still replaying WAL); if it is meant to be a replica, set POSTGRES_ROLE=replica"
            ),
            HealthError::Initialisation {
                status,
                failed_extensions,
            } => {
                if status == "in_progress" {
                    write!(f, "initialisation is still in progress (pg_aza_status)")
                } else {
                    write!(
                        f,
                        "initialisation failed according to pg_aza_status (status {status}{}); see the \
                         first start's log",
                        failed_list(failed_extensions)
                    )
                }
            }
        }
    }
}

impl std::error::Error for HealthError {}

fn failed_list(failed: &[String]) -> String {
    if failed.is_empty() {
        String::new()
    } else {
        format!(", failed extensions: {}", failed.join(", "))
    }
}

fn seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What psql runs: every answer on its own `name=value` line. The status row is read as JSON so that
/// columns other than `status` and `started_at` are optional. The server-side timeouts stop a
/// query stuck on a lock from outliving the killed psql.
pub fn script(timeout: Duration) -> String {
    let ms = timeout.as_millis().max(1);
    format!(
        "SET statement_timeout = {ms};
SET lock_timeout = {ms};
SELECT 1 AS answered, pg_is_in_recovery() AS in_recovery,
       to_regclass('pg_aza_status') IS NOT NULL AS has_status \\gset
\\echo answered=:answered
\\echo in_recovery=:in_recovery
\\if :has_status
SELECT 'status_row=' || coalesce(
    (SELECT to_jsonb(s)::text FROM pg_aza_status s ORDER BY s.started_at DESC LIMIT 1), 'null');
\\endif
"
    )
}

/// Reads psql's exit code (`None`: killed by a signal), output and errors into an [`Answer`].
///
/// psql exits 2 when it has no session (connection failed or refused), 3 when a query failed under
/// `ON_ERROR_STOP`, 1 for its own errors.
pub fn interpret(
    code: Option<i32>,
    stdout: &str,
    stderr: &str,
    target: &Target,
    as_root: bool,
) -> Result<Answer, HealthError> {
    match code {
        Some(0) => parse_output(stdout),
        Some(2) => {
            let mut detail = connection_detail(stderr);
            if as_root && detail.contains("Peer authentication failed") {
                detail.push_str(
                    "; run the healthcheck as the server's OS user (docker exec -u postgres ...) or trust \
                     local connections in pg_hba.conf",
                );
            }
            Err(HealthError::NotAccepting {
                target: target.describe(),
                detail,
            })
        }
        Some(code) => Err(HealthError::Query {
            target: target.describe(),
            detail: query_detail(stderr, &format!("psql exited with status {code}")),
        }),
        None => Err(HealthError::Query {
            target: target.describe(),
            detail: "psql was killed by a signal".to_string(),
        }),
    }
}

/// libpq's first line without the prefixes that repeat what the message already says:
/// `psql: error: connection to server on socket "..." failed: No such file or directory` → the reason.
fn connection_detail(stderr: &str) -> String {
    let line = first_line(stderr, "psql gave no reason");
    let line = line.strip_prefix("psql: error: ").unwrap_or(&line);
    let line = match line.split_once(" failed: ") {
        Some((head, reason)) if head.starts_with("connection to server") => reason,
        _ => line,
    };
    line.replace("FATAL:  ", "FATAL: ")
}

/// The first error line, without psql's `psql:<stdin>:7: ` location prefix.
fn query_detail(stderr: &str, fallback: &str) -> String {
    let line = first_line(stderr, fallback);
    let line = match line.strip_prefix("psql:<stdin>:") {
        Some(rest) => rest
            .split_once(": ")
            .map(|(_, message)| message)
            .unwrap_or(rest),
        None => line.strip_prefix("psql: error: ").unwrap_or(&line),
    };
    line.replace("ERROR:  ", "ERROR: ")
}

fn first_line(text: &str, fallback: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(fallback)
        .to_string()
}

/// Parses the `name=value` lines [`script`] prints.
pub fn parse_output(stdout: &str) -> Result<Answer, HealthError> {
    let unexpected = || HealthError::UnexpectedOutput {
        output: stdout.to_string(),
    };
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
    };
    if value("answered") != Some("1") {
        return Err(unexpected());
    }
    let in_recovery = match value("in_recovery") {
        Some("t") => true,
        Some("f") => false,
        _ => return Err(unexpected()),
    };
    let init = match value("status_row") {
        None => InitRecord::NoTable,
        Some(json) => match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::Null) => InitRecord::NoRows,
            Ok(serde_json::Value::Object(row)) => InitRecord::Latest {
                status: row
                    .get("status")
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
                failed_extensions: row
                    .get("failed_extensions")
                    .and_then(|f| f.as_array())
                    .map(|names| {
                        names
                            .iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => return Err(unexpected()),
        },
    };
    Ok(Answer { in_recovery, init })
}

/// The role rule and the initialisation rule.
pub fn judge(answer: &Answer, config: &HealthConfig) -> Result<Healthy, HealthError> {
    let role_ok = match config.role {
        Role::Primary => !answer.in_recovery,
        Role::Replica => answer.in_recovery,
        Role::Ha => true,
    };
    if !role_ok {
        return Err(HealthError::WrongRole { role: config.role });
    }
    let mut warnings = Vec::new();
    let init_note = match &answer.init {
        InitRecord::NoTable => String::new(),
        InitRecord::NoRows => "; pg_aza_status is empty".to_string(),
        InitRecord::Latest {
            status,
            failed_extensions,
        } => match status.as_deref() {
            Some("completed") => "; initialisation completed".to_string(),
            Some(bad @ ("in_progress" | "failed")) => {
                return Err(HealthError::Initialisation {
                    status: bad.to_string(),
                    failed_extensions: failed_extensions.clone(),
                })
            }
            Some("partial") => {
                warnings.push(format!(
                    "initialisation was partial according to pg_aza_status{}",
                    failed_list(failed_extensions)
                ));
                "; initialisation partial".to_string()
            }
            other => {
                let shown = other.map_or("no status".to_string(), |s| format!("status '{s}'"));
                warnings.push(format!(
                    "pg_aza_status's latest row has {shown}, which the healthcheck does not know \
                     (expected completed, partial, in_progress or failed)"
                ));
                String::new()
            }
        },
    };
    let role = match (config.role, answer.in_recovery) {
        (Role::Primary, _) => "primary",
        (Role::Replica, _) => "replica in recovery",
        (Role::Ha, false) => "HA leader",
        (Role::Ha, true) => "HA replica in recovery",
    };
    Ok(Healthy {
        summary: format!(
            "{role} answering queries on {}{init_note}",
            config.target.describe()
        ),
        warnings,
    })
}

/// Runs the checks against the server the environment names, giving up after `timeout`.
pub fn check(config: &HealthConfig, timeout: Duration) -> Result<Healthy, HealthError> {
    judge(&ask(&config.target, timeout)?, config)
}

/// Asks the server at `target` the health query, giving up after `timeout` (also what version-info
/// asks for the role now).
pub fn ask(target: &Target, timeout: Duration) -> Result<Answer, HealthError> {
    let mut command = Command::new("psql");
    for secret in SECRET_VARIABLES {
        command.env_remove(secret);
    }
    command
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "--no-password"])
        .arg("-h")
        .arg(&target.host)
        .arg("-p")
        .arg(target.port.to_string())
        .arg("-U")
        .arg(&target.user)
        .arg("-d")
        .arg(&target.database)
        // libpq's connect timeout is whole seconds, at least 2; our own deadline below is exact.
        .env(
            "PGCONNECT_TIMEOUT",
            timeout.as_secs_f64().ceil().max(2.0).to_string(),
        )
        .env("PGAPPNAME", "aza-healthcheck")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let deadline = Instant::now() + timeout;
    let mut child = command.spawn().map_err(HealthError::Psql)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A few hundred bytes fit in the pipe; if psql already quit, its exit status says why.
        let _ = stdin.write_all(script(timeout).as_bytes());
    }
    let status = loop {
        if let Some(status) = child.try_wait().map_err(HealthError::Psql)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HealthError::TimedOut {
                target: target.describe(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // psql has exited, so its (small) output is all in the pipes.
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let as_root = nix::unistd::Uid::effective().is_root();
    interpret(status.code(), &stdout, &stderr, target, as_root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn config(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Result<HealthConfig, HealthError> {
        HealthConfig::from_lookup(fake_env(vars), fake_files(files))
    }

    fn target_of(vars: &[(&str, &str)]) -> (String, u16, String, String) {
        let t = config(vars, &[]).unwrap().target;
        (t.host, t.port, t.user, t.database)
    }

    fn owned(host: &str, port: u16, user: &str, db: &str) -> (String, u16, String, String) {
        (host.into(), port, user.into(), db.into())
    }

    #[test]
    fn connection_settings_follow_libpq_then_the_first_start_contract() {
        let socket = DEFAULT_SOCKET_DIR;
        for (vars, expected) in [
            (vec![], owned(socket, 5432, "postgres", "postgres")),
            (
                vec![("POSTGRES_USER", "app")],
                owned(socket, 5432, "app", "app"),
            ),
            (
                vec![("POSTGRES_USER", "app"), ("POSTGRES_DB", "appdb")],
                owned(socket, 5432, "app", "appdb"),
            ),
            (
                // The database first start created, not one named after PGUSER.
                vec![("PGUSER", "monitor"), ("POSTGRES_USER", "app")],
                owned(socket, 5432, "monitor", "app"),
            ),
            (
                vec![
                    ("PGHOST", "/tmp/s"),
                    ("PGPORT", "6000"),
                    ("PGUSER", "u"),
                    ("PGDATABASE", "d"),
                    ("POSTGRES_USER", "app"),
                ],
                owned("/tmp/s", 6000, "u", "d"),
            ),
            (
                vec![("PGHOST", ""), ("PGUSER", ""), ("POSTGRES_USER", "")],
                owned(socket, 5432, "postgres", "postgres"),
            ),
        ] {
            assert_eq!(target_of(&vars), expected, "{vars:?}");
        }
    }

    #[test]
    fn file_variants_name_the_user_and_database() {
        let c = config(
            &[("POSTGRES_USER_FILE", "/run/secrets/user")],
            &[("/run/secrets/user", "app\n")],
        )
        .unwrap();
        assert_eq!(
            (c.target.user.as_str(), c.target.database.as_str()),
            ("app", "app")
        );
        // PG* win over what first start created.
        let c = config(
            &[
                ("PGUSER", "u"),
                ("PGDATABASE", "d"),
                ("POSTGRES_USER_FILE", "/run/secrets/user"),
            ],
            &[("/run/secrets/user", "app\n")],
        )
        .unwrap();
        assert_eq!(
            (c.target.user.as_str(), c.target.database.as_str()),
            ("u", "d")
        );
        // One contract: a file the start would refuse is refused here too, even when PG* say it all.
        let e = config(&[("PGUSER", "u"), ("POSTGRES_USER_FILE", "/missing")], &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("POSTGRES_USER_FILE='/missing' cannot be read"),
            "{e}"
        );
        let e = config(&[("POSTGRES_DB_FILE", "/missing")], &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("POSTGRES_DB_FILE='/missing' cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn role_and_port_are_validated() {
        assert_eq!(config(&[], &[]).unwrap().role, Role::Primary);
        assert_eq!(
            config(&[("POSTGRES_ROLE", "")], &[]).unwrap().role,
            Role::Primary
        );
        assert_eq!(
            config(&[("POSTGRES_ROLE", "primary")], &[]).unwrap().role,
            Role::Primary
        );
        // The same parse as the start's: a replica's own settings come with it, and any case works.
        let replica = [("PRIMARY_HOST", "db"), ("PG_REPLICATION_PASSWORD", "x")];
        for spelling in ["replica", "Replica", "REPLICA"] {
            let mut vars = replica.to_vec();
            vars.push(("POSTGRES_ROLE", spelling));
            assert_eq!(
                config(&vars, &[]).unwrap().role,
                Role::Replica,
                "{spelling}"
            );
        }
        let e = config(&[("POSTGRES_ROLE", "standby")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "POSTGRES_ROLE='standby' is not accepted: use primary, replica, ha (any case)"
        );
        for port in ["0", "65536", "five", "-1"] {
            let e = config(&[("PGPORT", port)], &[]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("PGPORT='{port}' is not accepted: use a port number, 1 to 65535")
            );
        }
    }

    #[test]
    fn output_is_parsed_into_an_answer() {
        let latest = |status: Option<&str>, failed: &[&str]| InitRecord::Latest {
            status: status.map(str::to_string),
            failed_extensions: failed.iter().map(|s| s.to_string()).collect(),
        };
        for (stdout, in_recovery, init) in [
            ("answered=1\nin_recovery=f\n", false, InitRecord::NoTable),
            ("answered=1\nin_recovery=t\n", true, InitRecord::NoTable),
            ("answered=1\nin_recovery=f\nstatus_row=null\n", false, InitRecord::NoRows),
            (
                "answered=1\nin_recovery=f\nstatus_row={\"status\": \"partial\", \"started_at\": \
                 \"2025-01-01T00:00:00+00:00\", \"failed_extensions\": [\"pgmq\", \"vector\"]}\n",
                false,
                latest(Some("partial"), &["pgmq", "vector"]),
            ),
            (
                "answered=1\nin_recovery=f\nstatus_row={\"status\": \"completed\", \"failed_extensions\": null}\n",
                false,
                latest(Some("completed"), &[]),
            ),
            (
                "answered=1\nin_recovery=f\nstatus_row={\"state\": \"x\"}\n",
                false,
                latest(None, &[]),
            ),
        ] {
            assert_eq!(
                parse_output(stdout).unwrap(),
                Answer { in_recovery, init },
                "{stdout}"
            );
        }
        for bad in [
            "",
            "answered=1\n",
            "answered=1\nin_recovery=maybe\n",
            "answered=2\nin_recovery=f\n",
            "answered=1\nin_recovery=f\nstatus_row=[1]\n",
            "answered=1\nin_recovery=f\nstatus_row={oops\n",
        ] {
            assert!(
                matches!(parse_output(bad), Err(HealthError::UnexpectedOutput { .. })),
                "{bad:?}"
            );
        }
    }

    fn verdict(role: Role, in_recovery: bool, init: InitRecord) -> Result<Healthy, HealthError> {
        let mut c = config(&[], &[]).unwrap();
        c.role = role;
        judge(&Answer { in_recovery, init }, &c)
    }

    fn row(status: &str, failed: &[&str]) -> InitRecord {
        InitRecord::Latest {
            status: Some(status.to_string()),
            failed_extensions: failed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn recovery_must_match_the_role() {
        assert!(verdict(Role::Primary, false, InitRecord::NoTable).is_ok());
        assert!(verdict(Role::Replica, true, InitRecord::NoTable).is_ok());
        let e = verdict(Role::Replica, false, InitRecord::NoTable).unwrap_err();
        assert!(
            e.to_string().starts_with("expected a replica in recovery"),
            "{e}"
        );
        let e = verdict(Role::Primary, true, InitRecord::NoTable).unwrap_err();
        assert!(e.to_string().starts_with("expected a primary"), "{e}");
        assert!(e.to_string().contains("POSTGRES_ROLE=replica"), "{e}");
    }

    #[test]
    fn the_latest_initialisation_status_decides() {
        // (record, healthy, warnings, text in the summary or error)
        for (init, healthy, warnings, text) in [
            (InitRecord::NoTable, true, 0, "primary answering queries on socket /var/run/postgresql/.s.PGSQL.5432 (user postgres, database postgres)"),
            (InitRecord::NoRows, true, 0, "pg_aza_status is empty"),
            (row("completed", &[]), true, 0, "initialisation completed"),
            (row("partial", &["pgmq"]), true, 1, "initialisation partial"),
            (row("surprising", &[]), true, 1, ""),
            (row("in_progress", &[]), false, 0, "initialisation is still in progress (pg_aza_status)"),
            (row("failed", &["vector", "pgmq"]), false, 0, "failed extensions: vector, pgmq"),
        ] {
            let shown = format!("{init:?}");
            match verdict(Role::Primary, false, init) {
                Ok(h) => {
                    assert!(healthy, "{shown}: {h:?}");
                    assert_eq!(h.warnings.len(), warnings, "{shown}: {h:?}");
                    assert!(h.summary.contains(text), "{shown}: {h:?}");
                }
                Err(e) => {
                    assert!(!healthy, "{shown}: {e}");
                    assert!(e.to_string().contains(text), "{shown}: {e}");
                }
            }
        }
        let h = verdict(Role::Primary, false, row("partial", &["pgmq", "vector"])).unwrap();
        assert_eq!(
            h.warnings,
            ["initialisation was partial according to pg_aza_status, failed extensions: pgmq, vector"]
        );
    }

    #[test]
    fn psql_failures_become_one_clear_line() {
        let t = config(&[], &[]).unwrap().target;
        let no_socket = "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" \
                         failed: No such file or directory\n\tIs the server running locally and accepting \
                         connections on that socket?\n";
        let e = interpret(Some(2), "", no_socket, &t, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PostgreSQL is not accepting connections on socket /var/run/postgresql/.s.PGSQL.5432 (user \
             postgres, database postgres): No such file or directory"
        );
        let starting =
            "psql: error: connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  the \
                        database system is starting up\n";
        let e = interpret(Some(2), "", starting, &t, false).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": FATAL: the database system is starting up"),
            "{e}"
        );

        let peer = "psql: error: connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  Peer \
                    authentication failed for user \"postgres\"\n";
        let as_user = interpret(Some(2), "", peer, &t, false)
            .unwrap_err()
            .to_string();
        let as_root = interpret(Some(2), "", peer, &t, true)
            .unwrap_err()
            .to_string();
        assert!(!as_user.contains("docker exec -u postgres"), "{as_user}");
        assert!(as_root.contains("docker exec -u postgres"), "{as_root}");

        let query = "psql:<stdin>:8: ERROR:  column s.started_at does not exist\nLINE 2: ...\n";
        let e = interpret(Some(3), "answered=1\n", query, &t, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the health query failed on socket /var/run/postgresql/.s.PGSQL.5432 (user postgres, database \
             postgres): ERROR: column s.started_at does not exist"
        );
        let e = interpret(Some(1), "", "", &t, false).unwrap_err();
        assert!(e.to_string().ends_with("psql exited with status 1"), "{e}");
        assert!(interpret(None, "", "", &t, false).is_err());
        assert!(interpret(Some(0), "answered=1\nin_recovery=f\n", "", &t, false).is_ok());
    }

    #[test]
    fn tcp_targets_read_as_host_and_port() {
        let t = config(&[("PGHOST", "db.internal"), ("PGPORT", "6432")], &[])
            .unwrap()
            .target;
        assert_eq!(t.address(), "db.internal:6432");
        let t = config(&[("PGHOST", "/tmp/s/")], &[]).unwrap().target;
        assert_eq!(t.address(), "socket /tmp/s/.s.PGSQL.5432");
    }

    #[test]
    fn the_script_bounds_its_queries_and_never_needs_the_table() {
        let s = script(Duration::from_millis(2500));
        assert!(s.contains("SET statement_timeout = 2500;"), "{s}");
        assert!(s.contains("SET lock_timeout = 2500;"), "{s}");
        // The status query sits inside \if, so a missing table is not an error.
        let table_query = s.find("FROM pg_aza_status").unwrap();
        assert!(s.find("\\if :has_status").unwrap() < table_query);
        assert!(table_query < s.find("\\endif").unwrap());
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
        assert_eq!(seconds(Duration::from_secs(5)), "5");
    }
}
