//! First start from a backup (`AZA_RESTORE_SET`, `AZA_RESTORE_TARGET_TIME`; see
//! [`crate::backup::config`]): instead of initdb, `pgbackrest restore` fills the staging directory,
//! a temporary server recovers it to the target and promotes, and the cluster is committed like an
//! initialisation (see [`super::datadir`]).
//!
//! What the repository holds is asked first (`pgbackrest info`), so a restore with no backup, an
//! unknown backup or a target before the chosen backup's end exits 1 with the reason before anything
//! is written. A target after the end of the archive is found by the recovery itself (PostgreSQL
//! stops with "recovery ended before configured recovery target was reached"), and a restore to the
//! end of the archive that stopped short of its last segment (the repository failed midway, which
//! PostgreSQL cannot tell from the archive's end) by comparing the control file with `info`; the
//! staging directory is then removed, so `PGDATA` is left as it was. A kill mid-restore leaves the
//! staging directory, and the next start restores again from scratch.
//!
//! The temporary server runs with `hot_standby=off`: no connection before it has promoted, and a
//! smaller container than the backed-up server's is not held to the old server's `max_connections`
//! during recovery; and with an empty `archive_command`, so that its new timeline reaches the
//! repository only from the committed cluster. `pg_ctl -w` returns once recovery has begun; the end
//! is awaited in `postmaster.pid`, whose status turns `ready` at promotion — no login, since the
//! restored cluster's roles are its own. After a clean stop the recovery target is removed from
//! `postgresql.auto.conf` (a replica copied later would stop at it) and the cluster is committed.
//!
//! Not supported: a backup with tablespaces (pgBackRest restores them to their old paths, outside the
//! staging directory), and `POSTGRES_INITDB_WALDIR` (refused with the environment).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::contract::RuntimeConfig;
use super::datadir;
use super::init::{io_error, InitError};
use super::log;
use super::reaper::Supervisor;
use super::session::{quiet_command, Session, TempServer, WorkDir};
use crate::backup::{info, recovery, Backups, RestoreRequest};
use crate::plan::Plan;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// How long `pg_ctl start` may wait for the temporary server to begin recovery (it replays the
/// backup's own WAL first; an archive of days then replays for hours, awaited without a bound).
const RECOVERY_WAIT_SECONDS: u32 = 7 * 24 * 3600;
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How often a long recovery says it is still going.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

/// What a restore needs.
pub struct RestoreJob<'a> {
    pub config: &'a RuntimeConfig,
    pub backups: &'a Backups,
    pub request: &'a RestoreRequest,
    pub plan: &'a Plan,
    pub port: u16,
    /// The replication slot a primary with `PG_REPLICATION_PASSWORD` has, to create again.
    pub slot: Option<&'a str>,
}

/// Restores into `PGDATA`; on success `PGDATA` holds a committed, promoted cluster. On failure (other
/// than a stop signal, after which the next start restores again) nothing is left in `PGDATA`.
pub fn restore(supervisor: &mut Supervisor, job: &RestoreJob<'_>) -> Result<(), InitError> {
    let started = Instant::now();
    let mut session = Session {
        supervisor,
        interrupted: None,
        stop_timeout: job.config.stop_timeout,
    };
    let result = restore_into_staging(&mut session, job);
    let result = match result {
        Ok(()) => match datadir::commit(&job.config.pgdata) {
            Ok(()) => Ok(()),
            // PG_VERSION moves last: once it is in PGDATA the restored cluster is complete there,
            // and what failed was the tidying after it. Not "left as it was".
            Err(e)
                if datadir::inspect(&job.config.pgdata).ok()
                    == Some(datadir::DataDirState::Initialised) =>
            {
                return Err(InitError::Io {
                    action: format!(
                        "finish committing the restored cluster (it is complete in {}, and the \
                         next start runs it)",
                        job.config.pgdata.display()
                    ),
                    source: e,
                });
            }
            Err(e) => Err(io_error(format!(
                "move the restored cluster into {}",
                job.config.pgdata.display()
            ))(e)),
        },
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => {
            log::info(&format!(
                "[RESTORE] restore complete in {:.1} s; the cluster is promoted and starts as a primary",
                started.elapsed().as_secs_f64()
            ));
            Ok(())
        }
        Err(InitError::Interrupted(signal)) => Err(InitError::Interrupted(signal)),
        Err(error) => {
            // The staging directory goes, so PGDATA is as it was before this start.
            let staging = datadir::staging_dir(&job.config.pgdata);
            if staging.exists() {
                if let Err(e) = datadir::clear_interrupted(&job.config.pgdata, None) {
                    log::warning(&format!(
                        "cannot remove {} after the failed restore ({e}); the next start removes it",
                        staging.display()
                    ));
                }
            }
            Err(match error {
                InitError::Step { step, outcome } => {
                    InitError::Restore(format!("{step} {outcome} (its message is above)"))
                }
                InitError::Io { action, source } => {
                    InitError::Restore(format!("cannot {action}: {source}"))
                }
                InitError::Spawn(e) => InitError::Restore(e.to_string()),
                other => other,
            })
        }
    }
}

fn restore_into_staging(session: &mut Session<'_>, job: &RestoreJob<'_>) -> Result<(), InitError> {
    let stanza = &job.backups.stanza;
    let work = WorkDir::create()?;
    let info_text = pgbackrest_info(session, stanza, &work)?;
    let stanza_info = info::parse(&info_text, stanza).map_err(InitError::Restore)?;
    let chosen = info::choose(&stanza_info, stanza, job.request).map_err(InitError::Restore)?;
    let target = match job.request.target_time {
        Some(time) => format!("recovering to {time}"),
        None => "recovering to the end of the archive".to_string(),
    };
    log::info(&format!(
        "[RESTORE] restoring stanza {stanza} into {}: backup {} ({}, ended {}), then {target}",
        job.config.pgdata.display(),
        chosen.label,
        chosen.kind,
        chosen.stop
    ));

    let staging = datadir::staging_dir(&job.config.pgdata);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(io_error(format!("create {}", staging.display())))?;
    let mut command = quiet_command("pgbackrest");
    command
        .arg(format!("--stanza={stanza}"))
        .arg(format!("--pg1-path={}", staging.display()))
        .arg("--log-level-console=info")
        .arg(format!("--set={}", chosen.label));
    if let Some(time) = job.request.target_time {
        command
            .arg("--type=time")
            .arg(format!("--target={time}"))
            .arg("--target-action=promote");
    }
    command.arg("restore");
    session.run("pgbackrest restore", &mut command)?;

    // The backed-up server's tuning was for its container; this one gets its own.
    super::settings_file::install(&staging, job.plan).map_err(io_error(
        "write the tuned settings into the restored cluster",
    ))?;

    let mut server = TempServer::new(staging.clone(), work.path.clone(), job.port);
    server.start_wait_seconds = RECOVERY_WAIT_SECONDS;
    let mut server_args = job.plan.server_args().to_vec();
    // hot_standby=off: no connection until promoted, and no hot-standby parameter checks against
    // the old server's. An empty archive_command holds the new timeline's segments in pg_wal until
    // the real server archives them: nothing reaches the repository before the commit.
    server_args.extend(
        ["-c", "hot_standby=off", "-c", "archive_command="]
            .iter()
            .map(|s| s.to_string()),
    );
    log::info(&format!(
        "[RESTORE] recovering in a temporary server ({target}; it accepts connections once promoted)"
    ));
    let stopped = || {
        let why = match job.request.target_time {
            Some(time) => format!(
                "\"recovery ended before configured recovery target was reached\" means the \
                 archive holds no transaction after {time} (choose an earlier time, or check that \
                 the WAL after it reached the repository: pg_stat_archiver on the old server)"
            ),
            None => "a restore_command failure means the repository became unreachable".to_string(),
        };
        InitError::Restore(format!(
            "the recovery did not finish ({target}): the temporary server stopped; PostgreSQL's \
             lines above say why: {why}"
        ))
    };
    let recovered = session.with_temp_server(&mut server, &server_args, |session, server| {
        wait_for_promotion(session, server, &stopped)?;
        if let Some(slot) = job.slot {
            recreate_slot(session, server, &job.config.user, slot);
        }
        Ok(())
    });
    recovered.map_err(|error| match error {
        InitError::Step { step, outcome } if step == "starting the temporary server" => {
            InitError::Restore(format!(
                "the temporary server did not start on the restored files (pg_ctl {outcome}; \
                 PostgreSQL's lines above say why)"
            ))
        }
        other => other,
    })?;

    let auto_conf = staging.join("postgresql.auto.conf");
    let text = fs::read_to_string(&auto_conf).map_err(io_error("read postgresql.auto.conf"))?;
    fs::write(&auto_conf, recovery::forget_recovery_target(&text, stanza)).map_err(io_error(
        "remove the recovery target from postgresql.auto.conf",
    ))?;
    if job.request.target_time.is_none() {
        check_recovered_to_the_end(session, &staging, stanza_info.archive_max.as_deref(), &work)?;
    }
    Ok(())
}

/// A restore to the end of the archive must have replayed the archive's last segment: PostgreSQL ends
/// recovery on any `restore_command` failure as if the archive ended there, so a repository that
/// failed midway would otherwise make a cluster that silently lacks the rest.
fn check_recovered_to_the_end(
    session: &mut Session<'_>,
    staging: &std::path::Path,
    archive_max: Option<&str>,
    work: &WorkDir,
) -> Result<(), InitError> {
    let Some(last) = archive_max else {
        return Ok(());
    };
    let answer_path = work.path.join("controldata");
    let answer = fs::File::create(&answer_path).map_err(io_error("create a temporary file"))?;
    let mut command = quiet_command("pg_controldata");
    command.arg(staging).stdin(Stdio::null()).stdout(answer);
    session.run("reading the restored cluster's control file", &mut command)?;
    let text =
        fs::read_to_string(&answer_path).map_err(io_error("read pg_controldata's output"))?;
    let Some((reached, segment_bytes)) = recovery::checkpoint_segment(&text) else {
        log::warning("pg_controldata's output has no checkpoint location; cannot check that recovery reached the archive's end");
        return Ok(());
    };
    match recovery::segment_number(last, segment_bytes) {
        Some(archived) if reached < archived => Err(InitError::Restore(format!(
            "recovery ended in WAL segment {reached:X} but the archive holds segments up to {last}: \
             the repository failed during recovery (restore_command's errors are above); nothing \
             was committed, start again when the repository is reachable"
        ))),
        _ => Ok(()),
    }
}

/// `pgbackrest info --output=json` for the stanza, as text.
fn pgbackrest_info(
    session: &mut Session<'_>,
    stanza: &str,
    work: &WorkDir,
) -> Result<String, InitError> {
    let mut command = quiet_command("pgbackrest");
    command
        .arg(format!("--stanza={stanza}"))
        .args(["--output=json", "info"]);
    let (outcome, text) = session.run_capturing(&mut command, &work.path.join("info.json"))?;
    if !outcome.success() {
        return Err(InitError::Restore(format!(
            "pgbackrest info {outcome} (its message is above): the repository cannot be read; check \
             the PGBACKREST_REPO1_* variables and that the repository's volume or host is reachable"
        )));
    }
    Ok(text)
}

/// Polls the postmaster's status until it has promoted (`ready`); a postmaster that is gone instead
/// is the failed recovery, `stopped()`. No login: the restored cluster's roles are its own.
fn wait_for_promotion(
    session: &mut Session<'_>,
    server: &TempServer,
    stopped: &dyn Fn() -> InitError,
) -> Result<(), InitError> {
    let started = Instant::now();
    let mut said = Instant::now();
    let pid_file = server.data.join("postmaster.pid");
    loop {
        let text = fs::read_to_string(&pid_file).unwrap_or_default();
        let alive = recovery::postmaster_pid(&text)
            .is_some_and(|pid| kill(Pid::from_raw(pid), None).is_ok());
        if !alive {
            return Err(stopped());
        }
        if recovery::postmaster_status(&text) == Some("ready") {
            log::info(&format!(
                "[RESTORE] recovery finished and the server promoted after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if said.elapsed() >= PROGRESS_INTERVAL {
            said = Instant::now();
            log::info(&format!(
                "[RESTORE] still recovering after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
        let mut sleep = Command::new("sleep");
        sleep.arg(format!("{:.3}", POLL_INTERVAL.as_secs_f64()));
        // Supervised, so a stop signal during the wait stops the restore at once.
        session.run_status(&mut sleep)?;
    }
}

/// pgBackRest does not back up replication slots: the replica's slot is created again, as the first
/// start of a primary would. Best effort: a cluster without `user` gets a warning saying what to run.
fn recreate_slot(session: &mut Session<'_>, server: &TempServer, user: &str, slot: &str) {
    let mut command = quiet_command("psql");
    command
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-w", "-h"])
        .arg(&server.socket_dir)
        .arg("-p")
        .arg(server.port.to_string())
        .arg("-U")
        .arg(user)
        .args(["-d", "postgres", "-c"])
        .arg(format!(
            "SELECT pg_create_physical_replication_slot('{slot}') WHERE NOT EXISTS \
             (SELECT FROM pg_replication_slots WHERE slot_name = '{slot}')"
        ))
        .stdin(Stdio::null());
    let created = session.run_status(&mut command);
    if !created.as_ref().is_ok_and(|outcome| outcome.success()) {
        log::warning(&format!(
            "the restored cluster has no replication slot {slot} (pgBackRest does not back slots up) \
             and creating it as {user} failed; before starting replicas run SELECT \
             pg_create_physical_replication_slot('{slot}')"
        ));
    }
}
