//! The HA mode's process side (`POSTGRES_ROLE=ha`): the node's files for Patroni (its YAML, the
//! node's tuning file, the secrets as files), Patroni supervised as PID 1's child, and `ha-bootstrap`,
//! the custom bootstrap Patroni runs on the first leader only.
//!
//! Patroni starts PostgreSQL through a helper that calls `setsid()` and exits, so the postmaster is
//! re-parented to PID 1: the reaper reaps it like any orphan, signals go to Patroni's pid alone (never
//! its group, which would stop PostgreSQL behind Patroni's back), and when Patroni is gone a postmaster
//! it left running is stopped here, step by step, before the container ends.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::contract::{RuntimeConfig, SECRET_VARIABLES};
use super::init::{self, HaInit, InitRequest};
use super::lifecycle::StartError;
use super::reaper::{Supervisor, Waited};
use super::replication::{PrimarySetup, Role};
use super::signals::SignalAction;
use super::{log, settings_file};
use crate::entrypoint::{self, PlanError};
use crate::environment::{Environment, Uses};
use crate::ha::patroni_config::{self, Node, Rendered};
use crate::ha::HaSetup;
use crate::plan::Plan;

/// Where the node's Patroni files live (the image makes it the server user's, mode 0700).
pub const CONFIG_DIR: &str = "/etc/patroni";
pub const CONFIG_FILE: &str = "patroni.yml";
/// The node's tuning file: outside `PGDATA`, so a node cloned from the leader includes its own.
pub const TUNING_FILE: &str = "aza-tuning.conf";
/// Patroni's own stop (PostgreSQL's fast shutdown, the leader key handed over) may take this many
/// `AZA_STOP_TIMEOUT` steps before Patroni is killed and the postmaster stopped here.
const PATRONI_STOP_STEPS: u32 = 5;

/// The rendered configuration of this node; `redact` hides the passwords (the dry run's form).
pub fn render(
    config: &RuntimeConfig,
    port: u16,
    plan: &Plan,
    ha: &HaSetup,
    redact: bool,
) -> Rendered {
    let pgdata = config.pgdata.display().to_string();
    let bootstrap = format!("{} ha-bootstrap", own_path());
    let pgpass = format!("{CONFIG_DIR}/pgpass");
    let no_password = super::contract::Secret::new(String::new());
    patroni_config::render(
        &Node {
            ha,
            plan,
            pgdata: &pgdata,
            port,
            superuser: &config.user,
            superuser_password: config.password.as_ref().unwrap_or(&no_password),
            bootstrap_command: &bootstrap,
            pgpass: &pgpass,
            host_auth_method: &config.host_auth_method,
        },
        redact,
    )
}

/// This binary's path, for Patroni to call back (`ha-bootstrap`).
fn own_path() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.to_str().map(str::to_string))
        .unwrap_or_else(|| "aza-entrypoint".to_string())
}

/// Writes the node's files, then runs Patroni until it ends; the exit code is Patroni's.
pub fn run(
    supervisor: &mut Supervisor,
    config: &RuntimeConfig,
    port: u16,
    plan: &Plan,
    ha: &HaSetup,
) -> Result<ExitCode, StartError> {
    let dir = Path::new(CONFIG_DIR);
    let yaml = write_files(dir, config, port, plan, ha).map_err(StartError::DataDir)?;
    log::info(&format!(
        "[HA] node {} of cluster {}: Patroni with etcd at {}, REST API on port {}, configuration {}",
        ha.node,
        ha.cluster,
        ha.etcd
            .iter()
            .map(|e| format!("{}:{}", e.host, e.port))
            .collect::<Vec<_>>()
            .join(","),
        ha.api_port,
        yaml.display()
    ));
    let mut command = Command::new("patroni");
    command.arg(&yaml);
    let pid = supervisor
        .spawn(&mut command, true)
        .map_err(StartError::Supervise)?;
    let step = config.stop_timeout;
    let patience = step * PATRONI_STOP_STEPS;
    let mut stopping: Option<Instant> = None;
    let outcome = loop {
        let deadline = stopping.map(|since| since + patience);
        let mut on_signal = |received: Signal| match received {
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT => {
                if stopping.is_none() {
                    stopping = Some(Instant::now());
                }
                log::info(&format!(
                    "received {received}, sent SIGTERM to Patroni (it stops PostgreSQL and hands the \
                     leader key over; killed after {} s)",
                    patience.as_secs()
                ));
                SignalAction::Forward(Signal::SIGTERM)
            }
            Signal::SIGHUP => {
                log::info("received SIGHUP, sent it to Patroni (it reloads its configuration)");
                SignalAction::Forward(Signal::SIGHUP)
            }
            _ => SignalAction::Ignore,
        };
        match supervisor
            .wait_for_until(pid, deadline, &mut on_signal)
            .map_err(StartError::Supervise)?
        {
            Waited::Exited(outcome) => break outcome,
            Waited::Signalled => {}
            Waited::TimedOut => {
                log::warning(&format!(
                    "Patroni did not stop within {} s; killing it",
                    patience.as_secs()
                ));
                supervisor
                    .send(pid, Signal::SIGKILL)
                    .map_err(StartError::Supervise)?;
                stopping = Some(Instant::now() + Duration::from_secs(3_600));
            }
        }
    };
    let level = if outcome.success() {
        log::Level::Info
    } else {
        log::Level::Error
    };
    log::event(
        level,
        &format!("patroni {outcome}"),
        &[("exit_code", outcome.exit_code().into())],
    );
    stop_left_postmaster(supervisor, &config.pgdata, step)?;
    Ok(ExitCode::from(outcome.exit_code()))
}

/// Writes the tuning file, the secrets (as files, for `ha-bootstrap`, which Patroni runs without
/// them in its environment) and Patroni's YAML; returns the YAML's path.
fn write_files(
    dir: &Path,
    config: &RuntimeConfig,
    port: u16,
    plan: &Plan,
    ha: &HaSetup,
) -> Result<PathBuf, String> {
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        format!(
            "cannot write {what} {} ({e}); {CONFIG_DIR} must be writable by the server's user \
             (mount an emptyDir there on a read-only root filesystem)",
            path.display()
        )
    };
    let secrets = dir.join("secrets");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&secrets)
        .map_err(|e| failed("the directory", &secrets, e))?;
    let tuning = dir.join(TUNING_FILE);
    settings_file::write(&tuning, plan).map_err(|e| failed("the tuning file", &tuning, e))?;
    for name in SECRET_VARIABLES {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        let path = secrets.join(name);
        settings_file::replace(&path, value.as_encoded_bytes(), 0o600)
            .map_err(|e| failed("the secret file", &path, e))?;
        std::env::remove_var(name);
        std::env::set_var(format!("{name}_FILE"), &path);
    }
    let rendered = render(config, port, plan, ha, false);
    for warning in &rendered.warnings {
        log::warning(warning);
    }
    let yaml = dir.join(CONFIG_FILE);
    settings_file::replace(&yaml, rendered.yaml.as_bytes(), 0o600)
        .map_err(|e| failed("Patroni's configuration", &yaml, e))?;
    Ok(yaml)
}

/// A postmaster Patroni left running (Patroni crashed or was killed) is stopped: fast, then
/// immediate, then SIGKILL, a step each `step`; the container must not end with the server still
/// writing (the kernel's SIGKILL for the namespace would be its end).
fn stop_left_postmaster(
    supervisor: &mut Supervisor,
    pgdata: &Path,
    step: Duration,
) -> Result<(), StartError> {
    let Some(pid) = postmaster_pid(pgdata) else {
        return Ok(());
    };
    if kill(pid, None).is_err() || !supervisor.watch(pid) {
        return Ok(());
    }
    for signal in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGKILL] {
        log::warning(&format!(
            "PostgreSQL (pid {pid}) outlived Patroni; sending {signal}"
        ));
        supervisor
            .send(pid, signal)
            .map_err(StartError::Supervise)?;
        let deadline = Instant::now() + step;
        loop {
            match supervisor
                .wait_for_until(pid, Some(deadline), &mut |_| SignalAction::Ignore)
                .map_err(StartError::Supervise)?
            {
                Waited::Exited(outcome) => {
                    log::info(&format!("postgres {outcome}"));
                    return Ok(());
                }
                Waited::Signalled => {}
                Waited::TimedOut => break,
            }
        }
    }
    Ok(())
}

/// The postmaster's pid from `postmaster.pid`, if there is one.
fn postmaster_pid(pgdata: &Path) -> Option<Pid> {
    let text = fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    (pid > 1).then(|| Pid::from_raw(pid))
}

/// `aza-entrypoint ha-bootstrap --datadir=D`: Patroni's custom bootstrap on the first leader. A
/// first start's whole initialisation (initdb, the database, PgBouncer's role, the init scripts)
/// into `D`; Patroni then starts the server, sets the superuser's password and creates the
/// replication role.
pub fn bootstrap(supervisor: &mut Supervisor, env: &Environment, datadir: &Path) -> ExitCode {
    let Role::Ha(ha) = &env.role else {
        log::error("ha-bootstrap runs only as Patroni's bootstrap of a node with POSTGRES_ROLE=ha");
        return ExitCode::from(1);
    };
    if let Some(refusal) = env.refusal(Uses::Everything) {
        log::error(&refusal);
        return ExitCode::from(1);
    }
    let waldir = env.runtime.waldir.as_deref();
    let plan = match entrypoint::prepare(supervisor, &env.tuning, &[], waldir) {
        Ok((plan, None)) => plan,
        Ok((_, Some(too_little))) => {
            log::error(&too_little.to_string());
            return ExitCode::from(1);
        }
        Err(PlanError::Stopped(signal)) => {
            return ExitCode::from(128u8.saturating_add(signal as u8))
        }
        Err(error) => {
            log::error(&error.to_string());
            return ExitCode::from(1);
        }
    };
    let config = RuntimeConfig {
        pgdata: datadir.to_path_buf(),
        ..env.runtime.clone()
    };
    let primary = PrimarySetup {
        replication: None,
        pgbouncer: ha.pgbouncer.clone(),
    };
    let tuning = Path::new(CONFIG_DIR).join(TUNING_FILE);
    let request = InitRequest {
        config: &config,
        // The tuned settings on the temporary server's command line: the init scripts see the
        // tuned server, preload libraries included.
        server_args: &plan.args,
        settings_file: None,
        port: env.pgport.unwrap_or(5432),
        locale: (!config.initdb_args_choose_locale()).then(super::lifecycle::initdb_locale),
        primary: &primary,
        backups: None,
        ha: Some(HaInit {
            replication_user: &ha.replication_user,
            tuning_file: &tuning,
        }),
    };
    match init::initialise(supervisor, &request) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error(&error.to_string());
            ExitCode::from(error.exit_code())
        }
    }
}
