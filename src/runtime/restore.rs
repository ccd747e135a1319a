//! First start from a backup (`AZA_RESTORE_SET`, `AZA_RESTORE_TARGET_TIME`; see
//! [`crate::backup::config`]): instead of initdb, `pgbackrest restore` fills the staging directory,
//! a temporary server recovers it to the target and promotes, and the cluster is committed like an
//! initialisation (see [`super::datadir`]).
//!
//! What the repository holds is asked first (`pgbackrest info`), so a restore with no backup, an
//! unknown backup or a target before the chosen backup's end exits 1 with the reason before anything
//! is written. A target after the end of the archive is found by the recovery itself (PostgreSQL
//! stops with "recovery ended before configured recovery target was reached"); the staging directory
//! is then removed, so `PGDATA` is left as it was. A kill mid-restore leaves the staging directory,
//! and the next start restores again from scratch.
//!
//! The temporary server runs with `hot_standby=off`: it accepts connections only once recovery has
//! finished and it has promoted, and a smaller container than the backed-up server's is not held to
//! the old server's `max_connections` during recovery. `pg_ctl -w` returns as soon as recovery is
//! consistent, so the end is awaited here: the server answers `pg_is_in_recovery() = f`, or it has
//! stopped, which is the failed recovery.

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
use crate::backup::{info, Backups, RestoreRequest};
use crate::plan::Plan;

/// How long the temporary server may take to reach a consistent state: an archive of days replays for
/// hours.
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
        Ok(()) => datadir::commit(&job.config.pgdata).map_err(io_error(format!(
            "move the restored cluster into {}",
            job.config.pgdata.display()
        ))),
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
    // archive_command (the promoted server archives its new timeline) must find the staged files.
    server.env.push((
        "PGBACKREST_PG1_PATH".to_string(),
        staging.display().to_string(),
    ));
    let mut server_args = job.plan.server_args().to_vec();
    server_args.extend(["-c".to_string(), "hot_standby=off".to_string()]);
    log::info(&format!(
        "[RESTORE] recovering in a temporary server ({target}; it accepts connections once promoted)"
    ));
    let failed = || {
        InitError::Restore(format!(
            "the recovery did not finish ({target}): the temporary server stopped; PostgreSQL's \
             lines above say why: \"recovery ended before configured recovery target was reached\" \
             means the archive holds no transaction after AZA_RESTORE_TARGET_TIME (choose an earlier \
             time, or check that the WAL after it reached the repository: pg_stat_archiver on the \
             old server)"
        ))
    };
    let recovered = session.with_temp_server(&mut server, &server_args, |session, server| {
        wait_for_promotion(session, server, &job.config.user, &work, &failed)?;
        forget_the_recovery_target(session, server, job, &work)
    });
    recovered.map_err(|error| match error {
        InitError::Step { step, .. } if step == "starting the temporary server" => failed(),
        other => other,
    })
}

/// `pgbackrest info --output=json` for the stanza, as text.
fn pgbackrest_info(
    session: &mut Session<'_>,
    stanza: &str,
    work: &WorkDir,
) -> Result<String, InitError> {
    let answer_path = work.path.join("info.json");
    let answer = fs::File::create(&answer_path).map_err(io_error("create a temporary file"))?;
    let mut command = quiet_command("pgbackrest");
    command
        .arg(format!("--stanza={stanza}"))
        .args(["--output=json", "info"])
        .stdin(Stdio::null())
        .stdout(answer);
    let outcome = session.run_status(&mut command)?;
    if !outcome.success() {
        return Err(InitError::Restore(format!(
            "pgbackrest info {outcome} (its message is above): the repository cannot be read; check \
             the PGBACKREST_REPO1_* variables and that the repository's volume or host is reachable"
        )));
    }
    fs::read_to_string(&answer_path).map_err(io_error("read pgbackrest info's answer"))
}

/// The recovery settings pgBackRest wrote into `postgresql.auto.conf` were for this recovery only: a
/// replica copied from the restored primary would copy them too, and stop (and promote) at the old
/// target. `restore_command` stays, without the staging directory's path (the configuration file
/// has the cluster's).
fn forget_the_recovery_target(
    session: &mut Session<'_>,
    server: &TempServer,
    job: &RestoreJob<'_>,
    work: &WorkDir,
) -> Result<(), InitError> {
    let sql_file = work.path.join("after-restore.sql");
    fs::write(&sql_file, after_restore_sql(&job.backups.stanza))
        .map_err(io_error("write the after-restore script"))?;
    let mut command = quiet_command("psql");
    command
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-w", "-h"])
        .arg(&server.socket_dir)
        .arg("-p")
        .arg(server.port.to_string())
        .arg("-U")
        .arg(&job.config.user)
        .args(["-d", "postgres", "-f"])
        .arg(&sql_file)
        .stdin(Stdio::null());
    session.run(
        "removing the recovery target from postgresql.auto.conf",
        &mut command,
    )
}

/// ALTER SYSTEM statements that leave `restore_command` and nothing else of the recovery.
fn after_restore_sql(stanza: &str) -> String {
    let mut sql = String::new();
    for setting in [
        "recovery_target",
        "recovery_target_lsn",
        "recovery_target_name",
        "recovery_target_time",
        "recovery_target_xid",
        "recovery_target_inclusive",
        "recovery_target_action",
        "recovery_target_timeline",
    ] {
        sql.push_str(&format!("ALTER SYSTEM RESET {setting};\n"));
    }
    sql.push_str(&format!(
        "ALTER SYSTEM SET restore_command = 'pgbackrest --stanza={stanza} archive-get %f \"%p\"';\n"
    ));
    sql
}

/// Polls until the temporary server has promoted (`pg_is_in_recovery()` answers `f`); a server that
/// stopped instead is the failed recovery, `failed()`.
fn wait_for_promotion(
    session: &mut Session<'_>,
    server: &TempServer,
    user: &str,
    work: &WorkDir,
    failed: &dyn Fn() -> InitError,
) -> Result<(), InitError> {
    let started = Instant::now();
    let mut said = Instant::now();
    let answer_path = work.path.join("in-recovery");
    loop {
        let answer = fs::File::create(&answer_path).map_err(io_error("create a temporary file"))?;
        let mut query = quiet_command("psql");
        query
            .args(["-X", "-A", "-t", "-w", "-h"])
            .arg(&server.socket_dir)
            .arg("-p")
            .arg(server.port.to_string())
            .arg("-U")
            .arg(user)
            .args(["-d", "postgres", "-c", "SELECT pg_is_in_recovery()"])
            .stdin(Stdio::null())
            .stdout(answer)
            // Refused connections while recovery runs are expected: not a line each second.
            .stderr(Stdio::null());
        let answered = session.run_status(&mut query)?.success();
        let text = fs::read_to_string(&answer_path).unwrap_or_default();
        if answered && text.trim() == "f" {
            log::info(&format!(
                "[RESTORE] recovery finished and the server promoted after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        let mut status = quiet_command("pg_ctl");
        status
            .arg("-D")
            .arg(&server.data)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !session.run_status(&mut status)?.success() {
            return Err(failed());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_restore_only_a_portable_restore_command_is_left() {
        let sql = after_restore_sql("main");
        assert!(sql.contains("ALTER SYSTEM RESET recovery_target_time;\n"));
        assert!(sql.contains("ALTER SYSTEM RESET recovery_target_action;\n"));
        assert!(sql.ends_with(
            "ALTER SYSTEM SET restore_command = 'pgbackrest --stanza=main archive-get %f \"%p\"';\n"
        ));
        assert!(!sql.contains("pg1-path"));
    }
}
