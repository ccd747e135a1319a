//! The backup sidecar (`aza-backup`), a container of the image beside the server with its data and
//! socket volumes and the repository's settings:
//!
//! - `schedule` (its PID 1): writes pgBackRest's configuration and the crontab
//!   (`/etc/cron.d/aza-backup`, see [`crate::backup::schedule`]), takes a first full backup when the
//!   repository has none (creating the stanza if the server was started before backups were turned
//!   on), then runs Debian's cron in the foreground, supervised: a stop signal ends cron, and the
//!   sidecar with it.
//! - `run TYPE`: one job, as cron starts it (as root; it becomes the server's user): a pgBackRest
//!   backup of that type, a log line with its result and duration, and the metrics file (see
//!   [`crate::backup::metrics`]). Its exit code is pgBackRest's.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use super::privileges::{self, ServiceUser};
use super::reaper::Supervisor;
use super::signals::{SignalAction, STOP};
use super::{log, pgbackrest};
use crate::backup::conf::Cluster;
use crate::backup::schedule::{self, BackupType};
use crate::backup::{info, metrics, Backups};
use crate::config::DEFAULT_SOCKET_DIR;
use crate::environment::{Environment, Uses};

/// The crontab cron reads.
pub const CRONTAB: &str = "/etc/cron.d/aza-backup";
/// This program, as cron runs it.
const PROGRAM: &str = "/usr/local/bin/aza-backup";
/// How long the first job waits for the server to accept connections.
const SERVER_WAIT: Duration = Duration::from_secs(300);
/// Variables `aza-backup run` reads, handed to the jobs through the crontab.
const JOB_VARIABLES: &[&str] = &[
    "PGBACKREST_STANZA",
    "PGBACKREST_CONFIG_INCLUDE_PATH",
    "PGDATA",
    "PGPORT",
    "POSTGRES_USER",
    "AZA_LOG_FORMAT",
    "AZA_LOG_LEVEL",
    "AZA_BACKUP_METRICS_DIR",
];

/// What both commands need: backups on and a usable environment; else the error, printed once.
fn backups(env: &Environment) -> Result<&Backups, String> {
    if let Some(refusal) = env.refusal(Uses::Backup) {
        return Err(refusal);
    }
    env.backup.backups.as_ref().ok_or_else(|| {
        "PGBACKREST_STANZA is not set: the backup sidecar backs up that stanza; give it the server's \
         PGBACKREST_* variables"
            .to_string()
    })
}

fn cluster(env: &Environment) -> Cluster<'_> {
    Cluster {
        pgdata: &env.runtime.pgdata,
        port: env.pgport.unwrap_or(5432),
        socket_dir: DEFAULT_SOCKET_DIR,
        user: &env.runtime.user,
    }
}

/// `aza-backup schedule`: the sidecar's life. `schedule` is read from `AZA_BACKUP_*_SCHEDULE` by the
/// caller, beside the environment every command shares: only the sidecar reads it, so the server's
/// start neither needs nor refuses it.
pub fn schedule(
    mut supervisor: Supervisor,
    env: &Environment,
    schedule: &schedule::Schedule,
) -> ExitCode {
    match prepare_schedule(env, schedule) {
        Ok(()) => {}
        Err(message) => {
            log::error(&message);
            return ExitCode::from(1);
        }
    }
    for (kind, when) in &schedule.jobs {
        log::info(&format!(
            "[BACKUP] {} backups at '{when}' (cron)",
            kind.name()
        ));
    }
    // The first backup: a repository without one cannot restore anything until the first schedule.
    let mut first = Command::new(PROGRAM);
    first.args(["run", "full", "--if-none"]);
    match supervise(&mut supervisor, &mut first) {
        Ok(Some(signal)) => return ExitCode::from(128u8.saturating_add(signal as u8)),
        Ok(None) => {}
        Err(message) => log::warning(&format!("the first backup did not run: {message}")),
    }
    let mut cron = Command::new("cron");
    cron.arg("-f");
    match supervise(&mut supervisor, &mut cron) {
        Ok(Some(signal)) => {
            log::info(&format!("received {signal}; cron stopped"));
            ExitCode::SUCCESS
        }
        Ok(None) => {
            log::error("cron exited on its own; the sidecar stops with it");
            ExitCode::from(1)
        }
        Err(message) => {
            log::error(&format!("cannot run cron: {message}"));
            ExitCode::from(1)
        }
    }
}

/// pgBackRest's configuration, the metrics directory and the crontab, as root.
fn prepare_schedule(env: &Environment, schedule: &schedule::Schedule) -> Result<(), String> {
    let backups = backups(env)?;
    if !nix::unistd::Uid::effective().is_root() {
        return Err(
            "aza-backup schedule runs Debian's cron, which needs root: run the sidecar as root (its \
             jobs become the server's user)"
                .to_string(),
        );
    }
    let user = privileges::service_user_if_root()
        .map_err(|e| e.to_string())?
        .ok_or("no service user")?;
    let path = pgbackrest::prepare(backups, &cluster(env), Some(&user))?;
    log::info(&format!(
        "[BACKUP] stanza {}, pgBackRest's configuration in {}",
        backups.stanza,
        path.display()
    ));
    let metrics = &env.backup.metrics_dir;
    fs::create_dir_all(metrics)
        .and_then(|()| {
            nix::unistd::chown(metrics, Some(user.uid), Some(user.gid)).map_err(Into::into)
        })
        .map_err(|e| {
            format!(
                "cannot create {} for the backup metrics: {e}",
                metrics.display()
            )
        })?;
    let environment: Vec<(String, String)> = JOB_VARIABLES
        .iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
            Some((name.to_string(), value))
        })
        .collect();
    // One line each in the crontab: a line break would end the line and start a command.
    if let Some((name, _)) = environment
        .iter()
        .find(|(_, v)| v.chars().any(char::is_control))
    {
        return Err(format!(
            "{name} contains a control character (a line break?), which the crontab cannot hold"
        ));
    }
    let text = schedule::crontab(schedule, PROGRAM, &environment);
    write_file(Path::new(CRONTAB), &text, 0o644).map_err(|e| format!("cannot write {CRONTAB}: {e}"))
}

/// Runs `command` under the supervisor to its end; `Some(signal)` when a stop signal ended it.
fn supervise(supervisor: &mut Supervisor, command: &mut Command) -> Result<Option<Signal>, String> {
    let pid = supervisor.spawn(command, true).map_err(|e| e.to_string())?;
    let mut stopped = None;
    let mut on_signal = |signal: Signal| {
        if STOP.contains(&signal) {
            stopped.get_or_insert(signal);
            SignalAction::ForwardToGroup(Signal::SIGTERM)
        } else {
            SignalAction::Ignore
        }
    };
    supervisor
        .wait_for(pid, &mut on_signal)
        .map_err(|e| e.to_string())?;
    Ok(stopped)
}

/// `aza-backup run TYPE [--if-none]`: one backup. Every run that tried and failed, whatever stopped
/// it (the repository unreachable, the server not answering, pgBackRest's own error), is logged and
/// recorded in the metrics as failed, so the alerts see it.
pub fn run(env: &Environment, kind: BackupType, only_if_none: bool) -> ExitCode {
    let backups = match backups(env) {
        Ok(backups) => backups,
        Err(message) => {
            log::error(&message);
            return ExitCode::from(1);
        }
    };
    let stanza = &backups.stanza;
    let started = Instant::now();
    let (success, code) = match run_job(env, stanza, kind, only_if_none) {
        Ok(Job::NotNeeded) => return ExitCode::SUCCESS,
        Ok(Job::Ran(status)) => (
            status.success(),
            status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1)),
        ),
        Err(message) => {
            log::error(&format!("[BACKUP] {message}"));
            (false, 1)
        }
    };
    let duration = started.elapsed().as_secs_f64();
    let message = format!(
        "[BACKUP] {} backup of stanza {stanza} {} in {duration:.1} s",
        kind.name(),
        if success { "succeeded" } else { "FAILED" }
    );
    let fields = [
        ("backup_type", kind.name().into()),
        ("success", success.into()),
        ("duration_ms", ((duration * 1000.0) as u64).into()),
    ];
    let level = if success {
        log::Level::Info
    } else {
        log::Level::Error
    };
    log::event(level, &message, &fields);
    let ended = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64().floor());
    let run = metrics::Run {
        stanza,
        kind,
        success,
        ended,
        duration: (duration * 10.0).round() / 10.0,
    };
    if let Err(e) = write_metrics(&env.backup.metrics_dir, &run) {
        log::warning(&format!(
            "cannot write the backup metrics into {}: {e}",
            env.backup.metrics_dir.display()
        ));
    }
    ExitCode::from(code)
}

/// How a job ended that did not fail before pgBackRest's backup.
enum Job {
    /// `--if-none`, and the repository has a backup.
    NotNeeded,
    Ran(std::process::ExitStatus),
}

fn run_job(
    env: &Environment,
    stanza: &str,
    kind: BackupType,
    only_if_none: bool,
) -> Result<Job, String> {
    if let Some(user) = privileges::service_user_if_root().map_err(|e| e.to_string())? {
        become_user(&user)?;
    }
    let cluster = cluster(env);
    if only_if_none {
        wait_for_server(&cluster)?;
    }
    match stanza_info(stanza)? {
        None => {
            log::info(&format!(
                "[BACKUP] the repository has no stanza {stanza} yet: creating it"
            ));
            let created = pgbackrest(stanza).arg("stanza-create").status();
            if !created.as_ref().is_ok_and(|s| s.success()) {
                return Err(format!(
                    "pgbackrest stanza-create failed ({created:?}; its message is above)"
                ));
            }
        }
        Some(info) if only_if_none && !info.backups.is_empty() => {
            let latest = &info.backups[info.backups.len() - 1];
            log::info(&format!(
                "[BACKUP] the repository has backups (latest {}, ended {}): no first backup needed",
                latest.label, latest.stop
            ));
            return Ok(Job::NotNeeded);
        }
        Some(_) => {}
    }
    log::info(&format!(
        "[BACKUP] {} backup of stanza {stanza} starting",
        kind.name()
    ));
    pgbackrest(stanza)
        .arg("--log-level-console=info")
        .arg(format!("--type={}", kind.name()))
        .arg("backup")
        .status()
        .map(Job::Ran)
        .map_err(|e| format!("cannot run pgbackrest: {e}"))
}

fn become_user(user: &ServiceUser) -> Result<(), String> {
    privileges::drop_to(user).map_err(|e| e.to_string())?;
    std::env::set_var("HOME", &user.home);
    std::env::set_var("USER", &user.name);
    Ok(())
}

fn pgbackrest(stanza: &str) -> Command {
    let mut command = Command::new("pgbackrest");
    command.arg(format!("--stanza={stanza}"));
    command
}

/// The stanza's entry in `pgbackrest info`; `None` when the repository has no such stanza.
fn stanza_info(stanza: &str) -> Result<Option<info::StanzaInfo>, String> {
    let output = pgbackrest(stanza)
        .args(["--output=json", "info"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run pgbackrest info: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "pgbackrest info {} (its message is above): check the PGBACKREST_REPO1_* variables and \
             that the repository is reachable",
            output.status
        ));
    }
    let parsed = info::parse(&String::from_utf8_lossy(&output.stdout), stanza)?;
    Ok((parsed.status != "missing stanza path").then_some(parsed))
}

/// Polls `pg_isready` on the server's socket until it answers or [`SERVER_WAIT`] has passed.
fn wait_for_server(cluster: &Cluster<'_>) -> Result<(), String> {
    let started = Instant::now();
    let mut said = Instant::now();
    loop {
        let ready = Command::new("pg_isready")
            .args(["-q", "-h", cluster.socket_dir, "-p"])
            .arg(cluster.port.to_string())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if started.elapsed() > SERVER_WAIT {
            return Err(format!(
                "the server did not accept connections on {}/.s.PGSQL.{} within {} s: mount the \
                 server's socket volume at {} and its data volume at {}",
                cluster.socket_dir,
                cluster.port,
                SERVER_WAIT.as_secs(),
                cluster.socket_dir,
                cluster.pgdata.display()
            ));
        }
        if said.elapsed() > Duration::from_secs(15) {
            said = Instant::now();
            log::info("[BACKUP] waiting for the server before the first backup");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn write_metrics(dir: &Path, run: &metrics::Run<'_>) -> std::io::Result<()> {
    let path = dir.join(metrics::file_name(run.kind));
    let previous = fs::read_to_string(&path).ok();
    write_file(&path, &metrics::render(run, previous.as_deref()), 0o644)
}

/// Writes `text` to `path` whole: a temporary file in the same directory, renamed over it.
fn write_file(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial: PathBuf = path.with_file_name(format!(".{name}.partial"));
    let _ = fs::remove_file(&partial);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&partial)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    match written.and_then(|()| fs::rename(&partial, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&partial);
            Err(e)
        }
    }
}
