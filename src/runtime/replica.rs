//! First start of a replica (`POSTGRES_ROLE=replica`): wait for the primary, check its slot, copy it
//! with `pg_basebackup` into the staging directory, and commit (see [`super::datadir`]).
//!
//! The copy is a hot standby: `-R` writes `standby.signal` and `primary_conninfo`, `-S` streams from
//! the slot the primary created on its first start. Init scripts never run on a replica: their effects
//! come with the copy. Like initdb, the copy lands in `PGDATA/.aza-initdb` and becomes the cluster only
//! when complete, so a failed or interrupted bootstrap is started again from scratch on the next start.
//!
//! The slot is checked with `READ_REPLICATION_SLOT` over a physical replication connection, so the
//! check needs exactly what `pg_basebackup` needs: the replication role and a `host replication` rule
//! on the primary. The password reaches `psql` and `pg_basebackup` as `PGPASSWORD` in their own
//! environment only, never in an argument or a log line. `PG_REPLICATION_SSLMODE` (and the CA of
//! `PG_REPLICATION_SSLROOTCERT`) reach them as `PGSSLMODE`/`PGSSLROOTCERT`, and `primary_conninfo`
//! through `-R`: read at the bootstrap, kept by the copy.

use std::process::Command;
use std::time::{Duration, Instant};

use super::contract::RuntimeConfig;
use super::datadir;
use super::init::{io_error, InitError};
use super::log;
use super::reaper::Supervisor;
use super::replication::ReplicaSource;
use super::session::{quiet_command, Session, WorkDir};

const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Copies the primary into `PGDATA`; on success `PGDATA` holds a committed standby cluster.
pub fn bootstrap(
    supervisor: &mut Supervisor,
    config: &RuntimeConfig,
    source: &ReplicaSource,
) -> Result<(), InitError> {
    let started = Instant::now();
    let mut session = Session {
        supervisor,
        interrupted: None,
        stop_timeout: config.stop_timeout,
    };
    log::info(&format!(
        "[INIT] bootstrapping a replica of {}:{} into {} (slot {}, user {})",
        source.host,
        source.port,
        config.pgdata.display(),
        source.slot,
        source.user
    ));
    wait_for_primary(&mut session, source)?;
    check_slot(&mut session, source)?;

    let staging = datadir::staging_dir(&config.pgdata);
    let mut copy = connecting_command("pg_basebackup", source);
    copy.arg("-D")
        .arg(&staging)
        .args(["-Fp", "-Xs", "-R", "-c", "fast", "-S"])
        .arg(&source.slot);
    if let Some(waldir) = &config.waldir {
        copy.arg(format!("--waldir={}", waldir.display()));
    }
    session.run("pg_basebackup", &mut copy)?;

    datadir::commit(&config.pgdata).map_err(io_error(format!(
        "move the copied cluster into {}",
        config.pgdata.display()
    )))?;
    log::info(&format!(
        "[INIT] replica bootstrap complete in {:.1} s; starting as a hot standby",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `program -h HOST -p PORT -U USER -w` with the replication password in its environment only.
fn connecting_command(program: &str, source: &ReplicaSource) -> Command {
    let mut command = quiet_command(program);
    command
        .arg("-h")
        .arg(&source.host)
        .arg("-p")
        .arg(source.port.to_string())
        .arg("-U")
        .arg(&source.user)
        .arg("-w")
        .env("PGPASSWORD", source.password.expose())
        .env("PGCONNECT_TIMEOUT", "10");
    with_tls(&mut command, source);
    command
}

/// libpq's TLS choice for the connections to the primary; `pg_basebackup -R` writes both into
/// `primary_conninfo`, so streaming uses them too.
fn with_tls(command: &mut Command, source: &ReplicaSource) {
    command.env("PGSSLMODE", source.sslmode);
    match &source.sslrootcert {
        Some(ca) => command.env("PGSSLROOTCERT", ca),
        None => command.env_remove("PGSSLROOTCERT"),
    };
}

/// Polls `pg_isready` every two seconds until the primary accepts connections or the bound is hit.
fn wait_for_primary(session: &mut Session<'_>, source: &ReplicaSource) -> Result<(), InitError> {
    let started = Instant::now();
    let deadline = started + source.wait;
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let mut probe = quiet_command("pg_isready");
        probe
            .arg("-q")
            .arg("-h")
            .arg(&source.host)
            .arg("-p")
            .arg(source.port.to_string())
            .args(["-t", "3"]);
        with_tls(&mut probe, source);
        let outcome = session.run_status(&mut probe)?;
        if outcome.success() {
            log::info(&format!(
                "[INIT] the primary {}:{} accepts connections (after {:.0} s)",
                source.host,
                source.port,
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(InitError::Bootstrap(format!(
                "the primary {}:{} did not accept connections within {} s (pg_isready {outcome}); check \
                 PRIMARY_HOST and PRIMARY_PORT, that the primary is running and listens on an address this \
                 replica reaches (its POSTGRES_BIND_IP), or wait longer with AZA_PRIMARY_WAIT_SECONDS",
                source.host,
                source.port,
                source.wait.as_secs()
            )));
        }
        let left = deadline - now;
        log::info(&format!(
            "[INIT] waiting for the primary {}:{} (attempt {attempt}, {} s left)",
            source.host,
            source.port,
            left.as_secs()
        ));
        let pause = POLL_INTERVAL.min(left);
        let mut sleep = Command::new("sleep");
        sleep.arg(format!("{:.3}", pause.as_secs_f64()));
        // A supervised `sleep`, so SIGTERM during the wait stops the bootstrap at once.
        session.run_status(&mut sleep)?;
    }
}

/// Asks the primary, as the replication user, whether the slot exists.
fn check_slot(session: &mut Session<'_>, source: &ReplicaSource) -> Result<(), InitError> {
    let work = WorkDir::create()?;
    let mut query = quiet_command("psql");
    query
        .arg("-d")
        .arg(format!(
            "host={} port={} user={} dbname=postgres replication=true connect_timeout=10",
            source.host, source.port, source.user
        ))
        .args(["-X", "-A", "-t", "-w", "-c"])
        .arg(format!("READ_REPLICATION_SLOT {}", source.slot))
        .env("PGPASSWORD", source.password.expose());
    with_tls(&mut query, source);
    let (outcome, text) = session.run_capturing(&mut query, &work.path.join("slot"))?;
    if !outcome.success() {
        return Err(InitError::Bootstrap(format!(
            "cannot log in to the primary {}:{} for replication as {} (psql {outcome}, its message is above); \
             check PG_REPLICATION_USER and PG_REPLICATION_PASSWORD against the primary's, that the \
             primary's pg_hba.conf has a 'host replication' rule for this replica's address, and \
             PG_REPLICATION_SSLMODE={} against the primary's POSTGRES_TLS",
            source.host, source.port, source.user, source.sslmode
        )));
    }
    if slot_exists(&text) {
        log::info(&format!(
            "[INIT] the primary has the physical slot {}",
            source.slot
        ));
        Ok(())
    } else {
        Err(InitError::Bootstrap(format!(
            "the primary {}:{} has no physical replication slot '{}'; set REPLICATION_SLOT_NAME to the \
             slot the primary created (its REPLICATION_SLOT_NAME, default replica_slot_1), or create it \
             there with SELECT pg_create_physical_replication_slot('{}')",
            source.host, source.port, source.slot, source.slot
        )))
    }
}

/// `READ_REPLICATION_SLOT` answers `physical|<lsn>|<timeline>` for an existing physical slot and a row
/// of NULLs (`||`) for a missing one.
fn slot_exists(answer: &str) -> bool {
    answer
        .lines()
        .next()
        .and_then(|line| line.split('|').next())
        .map(|kind| kind == "physical")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_answers() {
        assert!(slot_exists("physical|0/3000000|1\n"));
        assert!(slot_exists("physical||\n"));
        assert!(!slot_exists("||\n"));
        assert!(!slot_exists(""));
    }
}
