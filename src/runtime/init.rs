//! First-start initialisation: initdb, `pg_hba.conf`, a temporary socket-only server, the database,
//! the init scripts, then the atomic commit (see [`super::datadir`]).
//!
//! Every child runs in a `Session` (see `session`) under the [`Supervisor`], so a stop signal during initialisation
//! stops the current step and the temporary server cleanly and the entrypoint exits 128 + the signal;
//! the next start then finds the staging directory and initialises again from scratch.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::pipe2;

use super::contract::RuntimeConfig;
use super::datadir;
use super::log;
use super::reaper::{ChildOutcome, SuperviseError, Supervisor};
use super::replication::{self, PrimarySetup};
use super::session::{quiet_command, Session, TempServer, WorkDir};
use crate::backup::Backups;
use crate::tls::network_rules;

/// Why initialisation did not complete.
#[derive(Debug)]
pub enum InitError {
    /// A step (initdb, a script, ...) failed; the message names it and its exit status.
    Step {
        step: String,
        outcome: ChildOutcome,
    },
    Spawn(SuperviseError),
    Io {
        action: String,
        source: std::io::Error,
    },
    /// A signal asked us to stop.
    Interrupted(Signal),
    /// A replica's bootstrap could not go on (primary unreachable, slot missing, ...).
    Bootstrap(String),
    /// A restore could not go on (no backup, a target outside the archive, ...); `PGDATA` was left
    /// as it was.
    Restore(String),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Step { step, outcome } => write!(
                f,
                "initialisation failed: {step} {outcome}; the next start will initialise again from scratch"
            ),
            InitError::Spawn(e) => write!(f, "initialisation failed: {e}"),
            InitError::Io { action, source } => write!(f, "initialisation failed: cannot {action}: {source}"),
            InitError::Interrupted(signal) => {
                write!(f, "initialisation interrupted by {signal}; the next start begins it again from scratch")
            }
            InitError::Restore(message) => {
                write!(f, "restore failed: {message}; PGDATA was left as it was")
            }
            InitError::Bootstrap(message) => {
                write!(f, "replica bootstrap failed: {message}; the next start will try again from scratch")
            }
        }
    }
}

impl std::error::Error for InitError {}

impl InitError {
    pub fn exit_code(&self) -> u8 {
        match self {
            InitError::Interrupted(signal) => 128u8.saturating_add(*signal as u8),
            _ => 1,
        }
    }
}

pub(super) fn io_error(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let action = action.into();
    move |source| InitError::Io { action, source }
}

/// What initialisation needs besides the contract.
pub struct InitRequest<'a> {
    pub config: &'a RuntimeConfig,
    /// The PostgreSQL arguments of the real start (user's plus tuned); the temporary server gets the
    /// same, made socket-only.
    pub server_args: &'a [String],
    /// The plan, when its settings go in the tuning file: the new cluster gets it before the
    /// temporary server starts, so init scripts see the tuned server (its preload libraries too).
    pub settings_file: Option<&'a crate::plan::Plan>,
    pub port: u16,
    /// `--locale=...` to pass to initdb, or `None` when the user chose one in `POSTGRES_INITDB_ARGS`.
    pub locale: Option<String>,
    /// Replication and PgBouncer roles to create before the init scripts run.
    pub primary: &'a PrimarySetup,
    /// Backups are on: the stanza is created in the temporary server's session.
    pub backups: Option<&'a Backups>,
    /// An HA node's first leader: the replication rules for Patroni's replication role, and the
    /// node's own tuning file (outside `PGDATA`, so every node that clones this cluster includes its
    /// own), which `postgresql.conf` is made to include first.
    pub ha: Option<HaInit<'a>>,
}

/// What Patroni's custom bootstrap adds to a first start's initialisation.
pub struct HaInit<'a> {
    pub replication_user: &'a str,
    pub tuning_file: &'a Path,
}

/// Runs the whole initialisation; on success `PGDATA` holds a committed cluster.
pub fn initialise(supervisor: &mut Supervisor, request: &InitRequest<'_>) -> Result<(), InitError> {
    let config = request.config;
    let started = Instant::now();
    let staging = datadir::staging_dir(&config.pgdata);
    let work = WorkDir::create()?;
    let mut session = Session {
        supervisor,
        interrupted: None,
        stop_timeout: config.stop_timeout,
    };

    log::info(&format!(
        "[INIT] initialising a new cluster in {}",
        config.pgdata.display()
    ));
    session.run_initdb(request, &staging, &work)?;
    if let Some(ha) = &request.ha {
        // Patroni's bootstrap: its configuration takes over pg_hba.conf once it runs.
        append_hba(&staging, &replication::primary_hba_rules(request.primary))?;
        append_hba(
            &staging,
            &replication::replication_hba_rules(ha.replication_user),
        )?;
        super::settings_file::include_absolute(&staging, ha.tuning_file).map_err(io_error(
            "make postgresql.conf include the node's tuning file",
        ))?;
        append_host_rule(&staging, &config.host_auth_method)?;
    } else {
        include_network_rules(&staging)?;
    }
    if let Some(plan) = request.settings_file {
        super::settings_file::install(&staging, plan)
            .map_err(io_error("write the tuned settings into the new cluster"))?;
    }

    let mut server = TempServer::new(staging.clone(), work.path.clone(), request.port);
    // Archiving starts with the real server: the stanza does not exist before the session's last step
    // creates it, and the initialisation's WAL precedes any backup a restore could start from.
    let mut server_args = request.server_args.to_vec();
    server_args.extend(["-c".to_string(), "archive_mode=off".to_string()]);
    let result = session.with_temp_server(&mut server, &server_args, |session, server| {
        session.ensure_database(server, config)?;
        if !request.primary.is_empty() {
            session.set_up_primary(server, config, request.primary)?;
        }
        session.run_init_scripts(server, request)?;
        // Last: an initialisation that fails before this leaves no stanza of a cluster that never
        // was, which the next attempt (a new system identifier) could not create its own over.
        match request.backups {
            Some(backups) => session.create_stanza(server, backups),
            None => Ok(()),
        }
    });
    result?;

    datadir::commit(&config.pgdata).map_err(io_error(format!(
        "move the new cluster into {}",
        config.pgdata.display()
    )))?;
    let elapsed = started.elapsed();
    log::event(
        log::Level::Info,
        &format!(
            "[INIT] initialisation complete in {:.1} s",
            elapsed.as_secs_f64()
        ),
        &[
            ("step", "initialisation".into()),
            ("duration_ms", (elapsed.as_millis() as u64).into()),
        ],
    );
    Ok(())
}

impl Session<'_> {
    fn run_initdb(
        &mut self,
        request: &InitRequest<'_>,
        staging: &Path,
        work: &WorkDir,
    ) -> Result<(), InitError> {
        let config = request.config;
        let mut command = quiet_command("initdb");
        command
            .arg("-D")
            .arg(staging)
            .arg(format!("--username={}", config.user))
            .arg("--encoding=UTF8");
        if let Some(password) = &config.password {
            let file = work.path.join("pwfile");
            let mut handle = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .map_err(io_error("write the password file for initdb"))?;
            writeln!(handle, "{}", password.expose())
                .map_err(io_error("write the password file for initdb"))?;
            command.arg(format!("--pwfile={}", file.display()));
        }
        if let Some(locale) = &request.locale {
            command.arg(locale);
        }
        if !config.data_checksums {
            command.arg("--no-data-checksums");
        }
        if let Some(waldir) = &config.waldir {
            command.arg(format!("--waldir={}", waldir.display()));
        }
        if !config.initdb_args_choose_auth() {
            // Local socket connections stay trusted, as in the official image (init scripts and
            // `docker exec psql` rely on it); every TCP connection needs the chosen method.
            command
                .arg("--auth-local=trust")
                .arg(format!("--auth-host={}", config.host_auth_method));
        }
        command.args(&config.initdb_args);
        provide_passwd_entry(&mut command, &work.path, &config.pgdata)?;
        let result = self.run("initdb", &mut command);
        let _ = fs::remove_file(work.path.join("pwfile"));
        result
    }

    /// `pgbackrest stanza-create` against the temporary server: the repositories learn this cluster's
    /// system identifier and version, which every archived segment and backup is checked against.
    fn create_stanza(&mut self, server: &TempServer, backups: &Backups) -> Result<(), InitError> {
        let mut command = quiet_command("pgbackrest");
        command
            .arg(format!("--stanza={}", backups.stanza))
            .arg(format!("--pg1-path={}", server.data.display()))
            .arg(format!("--pg1-socket-path={}", server.socket_dir.display()))
            .arg(format!("--pg1-port={}", server.port))
            .arg("stanza-create");
        self.run(
            &format!(
                "pgbackrest stanza-create (stanza {}; a repository that already holds it for another \
                 cluster is refused: restore from it with AZA_RESTORE_SET=latest if its backups are \
                 the ones you want, else choose another PGBACKREST_STANZA or another repository)",
                backups.stanza
            ),
            &mut command,
        )
    }

    /// Creates `POSTGRES_DB` unless it exists (initdb made `postgres`).
    fn ensure_database(
        &mut self,
        server: &TempServer,
        config: &RuntimeConfig,
    ) -> Result<(), InitError> {
        let sql = "SELECT format('CREATE DATABASE %I', :'db') \
                   WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec\n";
        let sql_file = server.socket_dir.join("create-database.sql");
        fs::write(&sql_file, sql).map_err(io_error("write the CREATE DATABASE script"))?;
        let mut command = psql(server, config, "postgres");
        command
            .arg("-v")
            .arg(format!("db={}", config.database))
            .arg("-f")
            .arg(&sql_file);
        self.run(
            &format!("creating database {}", config.database),
            &mut command,
        )
    }

    /// Creates the replication and PgBouncer roles, the slot and `pgbouncer_lookup`. The passwords are
    /// in a 0600 script in the private work directory, never in an argument.
    fn set_up_primary(
        &mut self,
        server: &TempServer,
        config: &RuntimeConfig,
        setup: &PrimarySetup,
    ) -> Result<(), InitError> {
        let sql_file = server.socket_dir.join("primary-setup.sql");
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&sql_file)
            .and_then(|mut file| {
                file.write_all(replication::primary_setup_sql(setup, &config.database).as_bytes())
            });
        let result = written
            .map_err(io_error("write the replication and PgBouncer setup script"))
            .and_then(|()| {
                let mut command = psql(server, config, "postgres");
                command.arg("-f").arg(&sql_file);
                self.run("creating the replication and PgBouncer roles", &mut command)
            });
        let _ = fs::remove_file(&sql_file);
        result
    }

    fn run_init_scripts(
        &mut self,
        server: &TempServer,
        request: &InitRequest<'_>,
    ) -> Result<(), InitError> {
        let config = request.config;
        let dir = &config.initdb_dir;
        let mut scripts: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(io_error(format!("list {}", dir.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(format!("list {}", dir.display()))(e)),
        };
        // Byte order of the names, like the shell's glob in the C locale.
        scripts.sort();
        for script in scripts {
            let name = script
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let step = format!("init script {name}");
            match ScriptKind::of(&name) {
                Some(ScriptKind::Shell) => {
                    let executable = fs::metadata(&script)
                        .map(|m| m.permissions().mode() & 0o111 != 0)
                        .unwrap_or(false);
                    let mut command = if executable {
                        Command::new(&script)
                    } else {
                        let mut sh = Command::new("sh");
                        sh.arg(&script);
                        sh
                    };
                    script_environment(&mut command, server, config);
                    log::info(&format!("[INIT] running {name}"));
                    self.run(&step, &mut command)?;
                }
                Some(ScriptKind::Sql { decompressor }) => {
                    let mut command = psql(server, config, &config.database);
                    log::info(&format!("[INIT] running {name}"));
                    match decompressor {
                        None => {
                            command.arg("-f").arg(&script);
                            self.run(&step, &mut command)?;
                        }
                        Some(tool) => self.run_piped(&step, tool, &script, &mut command)?,
                    }
                }
                None => log::info(&format!(
                    "[INIT] ignoring {name} (not .sh, .sql, .sql.gz, .sql.xz or .sql.zst)"
                )),
            }
        }
        Ok(())
    }

    /// `tool -dc script | psql`: both must succeed.
    fn run_piped(
        &mut self,
        step: &str,
        tool: &str,
        script: &Path,
        psql: &mut Command,
    ) -> Result<(), InitError> {
        // Close-on-exec, so no other child inherits the pipe; the spawn moves each end onto stdin/stdout.
        let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| io_error("create a pipe for the decompressor")(e.into()))?;
        let pid = {
            let mut decompress = quiet_command(tool);
            decompress
                .arg("-dc")
                .arg(script)
                .stdout(Stdio::from(write_end));
            // Dropping the command closes our copy of the write end, so psql sees the end of input.
            self.spawn(&mut decompress)?
        };
        psql.stdin(Stdio::from(read_end));
        let psql_result = self.run(step, psql);
        // The command keeps its copy of the read end: close it, or a decompressor still writing
        // after psql stopped early (ON_ERROR_STOP) would block on a full pipe forever.
        psql.stdin(Stdio::null());
        let outcome = self.wait_child(pid)?;
        psql_result?;
        if !outcome.success() {
            return Err(InitError::Step {
                step: format!("{step} ({tool} -dc)"),
                outcome,
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScriptKind {
    Shell,
    Sql { decompressor: Option<&'static str> },
}

impl ScriptKind {
    fn of(name: &str) -> Option<ScriptKind> {
        let kinds: [(&str, ScriptKind); 5] = [
            (".sh", ScriptKind::Shell),
            (".sql", ScriptKind::Sql { decompressor: None }),
            (
                ".sql.gz",
                ScriptKind::Sql {
                    decompressor: Some("gzip"),
                },
            ),
            (
                ".sql.xz",
                ScriptKind::Sql {
                    decompressor: Some("xz"),
                },
            ),
            (
                ".sql.zst",
                ScriptKind::Sql {
                    decompressor: Some("zstd"),
                },
            ),
        ];
        kinds
            .into_iter()
            .find(|(suffix, _)| name.ends_with(suffix))
            .map(|(_, kind)| kind)
    }
}

/// psql against the temporary server, as the superuser, stopping at the first error.
fn psql(server: &TempServer, config: &RuntimeConfig, database: &str) -> Command {
    let mut command = quiet_command("psql");
    command
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "--no-psqlrc",
            "--no-password",
            "-q",
        ])
        .arg("-h")
        .arg(&server.socket_dir)
        .arg("-p")
        .arg(server.port.to_string())
        .arg("-U")
        .arg(&config.user)
        .arg("-d")
        .arg(database);
    command
}

/// Init scripts get the full environment (they may need the passwords, as in the official image),
/// pointed at the temporary server and at the cluster being built.
fn script_environment(command: &mut Command, server: &TempServer, config: &RuntimeConfig) {
    command
        .env("PGDATA", &server.data)
        .env("PGHOST", &server.socket_dir)
        .env("PGPORT", server.port.to_string())
        .env("PGUSER", &config.user)
        .env("PGDATABASE", &config.database);
}

/// Where Debian and the official image install nss_wrapper.
const NSS_WRAPPER_LIBRARIES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
];

/// initdb refuses to run for a user ID without a passwd entry, which is how OpenShift and Kubernetes
/// `runAsUser` start containers. As the official image does, give initdb (only) an entry through
/// nss_wrapper when the library is installed; otherwise say what to do.
fn provide_passwd_entry(command: &mut Command, work: &Path, home: &Path) -> Result<(), InitError> {
    let (uid, gid) = (nix::unistd::Uid::effective(), nix::unistd::Gid::effective());
    if matches!(nix::unistd::User::from_uid(uid), Ok(Some(_))) {
        return Ok(());
    }
    let Some(library) = NSS_WRAPPER_LIBRARIES
        .iter()
        .find(|path| Path::new(path).exists())
    else {
        return Err(InitError::Io {
            action: format!("run initdb as user ID {uid}, which has no passwd entry"),
            source: std::io::Error::other(
                "install libnss-wrapper in the image (initdb then gets a temporary entry) or run as a user \
                 that exists in /etc/passwd",
            ),
        });
    };
    let passwd = work.join("passwd");
    let group = work.join("group");
    fs::write(
        &passwd,
        format!(
            "postgres:x:{uid}:{gid}:PostgreSQL:{}:/bin/false\n",
            home.display()
        ),
    )
    .map_err(io_error("write a passwd entry for initdb"))?;
    fs::write(&group, format!("postgres:x:{gid}:\n"))
        .map_err(io_error("write a group entry for initdb"))?;
    command
        .env("LD_PRELOAD", library)
        .env("NSS_WRAPPER_PASSWD", &passwd)
        .env("NSS_WRAPPER_GROUP", &group);
    log::info(&format!(
        "[INIT] user ID {uid} has no passwd entry; initdb runs with a temporary one (nss_wrapper)"
    ));
    Ok(())
}

/// Appends `rules` (nothing when empty) to the staged `pg_hba.conf`.
fn append_hba(data: &Path, rules: &str) -> Result<(), InitError> {
    if rules.is_empty() {
        return Ok(());
    }
    let hba = data.join("pg_hba.conf");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&hba)
        .map_err(io_error(format!("open {}", hba.display())))?;
    write!(file, "\n# Added by aza-entrypoint on first start\n{rules}")
        .map_err(io_error(format!("append to {}", hba.display())))
}

/// Makes the staged `pg_hba.conf` include the network rules the entrypoint rewrites at every start
/// ([`network_rules::FILE`]), before initdb's own TCP rules: the environment decides who connects
/// over TCP, loopback included (so `POSTGRES_TLS=required` refuses plaintext there too), while
/// initdb's socket rules stay first.
fn include_network_rules(data: &Path) -> Result<(), InitError> {
    let hba = data.join("pg_hba.conf");
    let text = fs::read_to_string(&hba).map_err(io_error(format!("read {}", hba.display())))?;
    let block = format!(
        "# Added by aza-entrypoint on first start: the TCP rules, rewritten at every start from the\n\
         # environment (POSTGRES_TLS, POSTGRES_HOST_AUTH_METHOD, ...). Rules of your own go above.\n\
         {}\n\n",
        network_rules::INCLUDE_LINE
    );
    let at = first_host_rule(&text).unwrap_or(text.len());
    let mut staged = String::with_capacity(text.len() + block.len());
    staged.push_str(&text[..at]);
    if !staged.is_empty() && !staged.ends_with('\n') {
        staged.push('\n');
    }
    staged.push_str(&block);
    staged.push_str(&text[at..]);
    fs::write(&hba, staged).map_err(io_error(format!("write {}", hba.display())))?;
    // The socket-only temporary server needs no TCP rule; the start writes the real ones before
    // the server listens. The file exists so that PostgreSQL does not log it as missing.
    let rules = data.join(network_rules::FILE);
    fs::write(&rules, "# Written by aza-entrypoint at every start\n")
        .map_err(io_error(format!("write {}", rules.display())))
}

/// The byte offset of the first TCP rule (`host`, `hostssl`, ...) of a `pg_hba.conf`.
fn first_host_rule(hba: &str) -> Option<usize> {
    let mut offset = 0;
    for line in hba.split_inclusive('\n') {
        if line
            .split_whitespace()
            .next()
            .is_some_and(|w| w.starts_with("host"))
        {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Appends the rule that admits TCP connections from anywhere with the chosen method.
fn append_host_rule(data: &Path, method: &str) -> Result<(), InitError> {
    let hba = data.join("pg_hba.conf");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&hba)
        .map_err(io_error(format!("open {}", hba.display())))?;
    let warning = if method == "trust" {
        "# WARNING: trust lets anyone connect without a password\n"
    } else {
        ""
    };
    write!(
        file,
        "\n# Added by aza-entrypoint on first start\n{warning}host all all all {method}\n"
    )
    .map_err(io_error(format!("append to {}", hba.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_rules_come_after_the_socket_rules_and_before_initdbs_tcp_rules() {
        let dir = std::env::temp_dir().join(format!("aza-hba-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let initdb =
            "# comment host\nlocal all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
        fs::write(dir.join("pg_hba.conf"), initdb).unwrap();
        include_network_rules(&dir).unwrap();
        let text = fs::read_to_string(dir.join("pg_hba.conf")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let rules: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(
            rules,
            [
                "local all all trust",
                network_rules::INCLUDE_LINE,
                "host all all 127.0.0.1/32 scram-sha-256"
            ]
        );
        assert_eq!(
            network_rules::check_inclusion(&text, &dir, &dir.join(network_rules::FILE), true, None),
            Ok(())
        );
        assert_eq!(first_host_rule("local all all trust"), None);
    }

    #[test]
    fn script_kinds_by_suffix() {
        assert_eq!(ScriptKind::of("01-a.sh"), Some(ScriptKind::Shell));
        assert_eq!(
            ScriptKind::of("02.sql"),
            Some(ScriptKind::Sql { decompressor: None })
        );
        assert_eq!(
            ScriptKind::of("03.sql.gz"),
            Some(ScriptKind::Sql {
                decompressor: Some("gzip")
            })
        );
        assert_eq!(
            ScriptKind::of("04.sql.xz"),
            Some(ScriptKind::Sql {
                decompressor: Some("xz")
            })
        );
        assert_eq!(
            ScriptKind::of("05.sql.zst"),
            Some(ScriptKind::Sql {
                decompressor: Some("zstd")
            })
        );
        assert_eq!(ScriptKind::of("README.md"), None);
        assert_eq!(ScriptKind::of("x.sql.bz2"), None);
    }
}
