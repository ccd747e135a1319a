//! Starting PostgreSQL for real: validate, prepare directories, drop privileges, initialise on first
//! start, then supervise the server (as PID 1) or become it (otherwise).
//!
//! Everything that can be checked without side effects is checked first, so bad input starts nothing
//! and changes nothing on disk.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use super::contract::{ContractError, ProcessMode, RuntimeConfig, SECRET_VARIABLES};
use super::datadir::{self, DataDirState};
use super::init::{self, InitError, InitRequest};
use super::privileges::{self, PrivilegeError, ServiceUser};
use super::replication::Role;
use super::signals;
use super::supervise::{self, SuperviseError, Supervisor};
use super::{exec, log, preflight, replica};
use crate::plan::{self, Plan};
use crate::tuning::WalLevel;

#[derive(Debug)]
pub enum StartError {
    Contract(ContractError),
    Preflight(preflight::PreloadRefusal),
    DataDir(String),
    Privileges(PrivilegeError),
    Init(InitError),
    Supervise(SuperviseError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Contract(e) => e.fmt(f),
            StartError::Preflight(e) => e.fmt(f),
            StartError::DataDir(message) => f.write_str(message),
            StartError::Privileges(e) => e.fmt(f),
            StartError::Init(e) => e.fmt(f),
            StartError::Supervise(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Init(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// Runs PostgreSQL according to `plan`, returning the exit code the container should have.
pub fn start(plan: &Plan, user_args: &[String]) -> Result<ExitCode, StartError> {
    let checked = check_before_changing_anything(plan, user_args)?;
    // From here on the entrypoint changes things.
    log::plan(plan);
    super::refresh_version_info(plan);
    prepare_directories_and_drop_privileges(&checked)?;
    let mut supervisor = Supervisor::install(true).map_err(StartError::Supervise)?;
    ensure_cluster(&mut supervisor, &checked, plan)?;
    run_server(supervisor, &checked.config, plan)
}

/// What the read-only checks established.
struct Checked {
    config: RuntimeConfig,
    port: u16,
    role: Role,
    state: DataDirState,
    /// `--locale=...` for initdb, when a primary is initialised and the user did not choose one.
    locale: Option<String>,
    service_user: Option<ServiceUser>,
}

/// Every check that needs no side effect: the environment contract, the port, the role, the WAL
/// level, the preload libraries, the data directory's state and the service user.
fn check_before_changing_anything(
    plan: &Plan,
    user_args: &[String],
) -> Result<Checked, StartError> {
    let mut config = RuntimeConfig::from_process_env().map_err(StartError::Contract)?;
    if let Some(dir) = plan::command_line_data_directory(user_args) {
        config.pgdata = PathBuf::from(dir);
    }
    let port = server_port(user_args).map_err(StartError::Contract)?;
    let role = Role::from_process_env().map_err(StartError::Contract)?;
    check_wal_level(&role, plan)?;
    check_preload_libraries(plan)?;
    let state = datadir::inspect(&config.pgdata).map_err(|e| {
        StartError::DataDir(format!(
            "cannot read PGDATA {}: {e}",
            config.pgdata.display()
        ))
    })?;
    let is_primary = matches!(role, Role::Primary(_));
    match &state {
        DataDirState::Foreign { example } => {
            return Err(StartError::DataDir(format!(
                "PGDATA {} is not empty (it holds '{example}') and has no PG_VERSION, so it is not a database \
                 cluster; empty it or point PGDATA elsewhere",
                config.pgdata.display()
            )))
        }
        DataDirState::Empty | DataDirState::Interrupted if is_primary => {
            config.check_can_initialise().map_err(StartError::Contract)?
        }
        _ => {}
    }
    let initialising_primary = is_primary && state != DataDirState::Initialised;
    let locale = (initialising_primary && !config.initdb_args_choose_locale()).then(initdb_locale);
    let service_user = privileges::service_user_if_root().map_err(StartError::Privileges)?;
    Ok(Checked {
        config,
        port,
        role,
        state,
        locale,
        service_user,
    })
}

/// Creates `PGDATA` (and the WAL directory) for the service user and, when started as root, becomes it.
fn prepare_directories_and_drop_privileges(checked: &Checked) -> Result<(), StartError> {
    let config = &checked.config;
    let user = checked.service_user.as_ref();
    privileges::ensure_private_dir(&config.pgdata, user).map_err(StartError::Privileges)?;
    if let Some(waldir) = &config.waldir {
        privileges::ensure_private_dir(waldir, user).map_err(StartError::Privileges)?;
    }
    if let Some(user) = user {
        privileges::drop_to(user).map_err(StartError::Privileges)?;
        // Tools the children run (psql's history, initdb's messages) expect the user's own HOME.
        std::env::set_var("HOME", &user.home);
        std::env::set_var("USER", &user.name);
    }
    std::env::set_var("PGDATA", &config.pgdata);
    Ok(())
}

/// Leaves `PGDATA` holding a complete cluster: initialises a primary, bootstraps a replica, or finds
/// one there already. An unfinished earlier attempt is cleared first.
fn ensure_cluster(
    supervisor: &mut Supervisor,
    checked: &Checked,
    plan: &Plan,
) -> Result<(), StartError> {
    let config = &checked.config;
    if checked.state == DataDirState::Initialised {
        log::info("[INIT] PGDATA holds a database cluster; skipping initialisation");
        return Ok(());
    }
    let _lock = match datadir::InitLock::try_acquire(&config.pgdata) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(StartError::DataDir(format!(
                "another aza-entrypoint is initialising {} right now (it holds {}); run one container per \
                 data directory",
                config.pgdata.display(),
                datadir::LOCK_NAME
            )))
        }
        Err(e) => {
            return Err(StartError::DataDir(format!(
                "cannot lock {} for initialisation: {e}",
                config.pgdata.display()
            )))
        }
    };
    match checked.state {
        DataDirState::Initialised => {}
        DataDirState::Interrupted => {
            log::warning(&format!(
                "{} holds an initialisation that did not finish; starting it again from scratch",
                config.pgdata.display()
            ));
            datadir::clear_interrupted(&config.pgdata, config.waldir.as_deref()).map_err(|e| {
                StartError::DataDir(format!("cannot clear the unfinished initialisation: {e}"))
            })?;
        }
        DataDirState::Empty | DataDirState::Foreign { .. } => {}
    }
    match &checked.role {
        Role::Primary(setup) => {
            let request = InitRequest {
                config,
                server_args: &plan.args,
                port: checked.port,
                locale: checked.locale.clone(),
                primary: setup,
            };
            init::initialise(supervisor, &request).map_err(StartError::Init)
        }
        Role::Replica(source) => {
            replica::bootstrap(supervisor, config, source).map_err(StartError::Init)
        }
    }
}

/// Runs the server: supervised as PID 1 (or `AZA_PROCESS_MODE=supervise`), else exec'd in place.
fn run_server(
    mut supervisor: Supervisor,
    config: &RuntimeConfig,
    plan: &Plan,
) -> Result<ExitCode, StartError> {
    for secret in SECRET_VARIABLES {
        std::env::remove_var(secret);
    }
    let supervise = match config.process_mode {
        ProcessMode::Auto => supervise::is_pid1(),
        ProcessMode::Supervise => true,
        ProcessMode::Exec => false,
    };
    if !supervise {
        supervisor.release();
        return Ok(exec::exec_postgres(&plan.args));
    }
    let mut command = Command::new("postgres");
    command.args(&plan.args);
    let pid = supervisor
        .spawn(&mut command, true)
        .map_err(StartError::Supervise)?;
    let mut policy = signals::postgres_signal_policy(config.sigterm);
    let mut logged_policy = |received| {
        let action = policy(received);
        let (message, forwarded) = match action {
            signals::SignalAction::Forward(sent) => (
                format!("received {received}, sent {sent} to postgres"),
                sent.as_str(),
            ),
            signals::SignalAction::Ignore => (format!("received {received}, ignored"), ""),
        };
        log::event(
            log::Level::Info,
            &message,
            &[
                ("signal", received.as_str().into()),
                ("forwarded", forwarded.into()),
            ],
        );
        action
    };
    let outcome = supervisor
        .wait_for(pid, &mut logged_policy)
        .map_err(StartError::Supervise)?;
    let level = if outcome.success() {
        log::Level::Info
    } else {
        log::Level::Error
    };
    log::event(
        level,
        &format!("postgres {outcome}"),
        &[("exit_code", outcome.exit_code().into())],
    );
    Ok(ExitCode::from(outcome.exit_code()))
}

/// Replication needs WAL for it: a replica, or a primary that creates a slot, cannot run with
/// `wal_level=minimal`.
fn check_wal_level(role: &Role, plan: &Plan) -> Result<(), StartError> {
    if plan.wal_level != WalLevel::Minimal {
        return Ok(());
    }
    let problem = match role {
        Role::Replica(_) => {
            "='minimal' cannot stream to or from a replica, and POSTGRES_ROLE=replica"
        }
        Role::Primary(setup) if setup.replication.is_some() => {
            "='minimal' cannot feed a replica, and PG_REPLICATION_PASSWORD is set"
        }
        Role::Primary(_) => return Ok(()),
    };
    Err(StartError::Contract(ContractError {
        variable: "POSTGRES_WAL_LEVEL".into(),
        problem: format!("{problem}: use replica or logical (the default)"),
    }))
}

/// The same preflight `--dry-run` runs: a library the server lacks stops the start here.
fn check_preload_libraries(plan: &Plan) -> Result<(), StartError> {
    match preflight::check(plan).map_err(StartError::Preflight)? {
        preflight::Preflight::Passed => {}
        preflight::Preflight::NotRun { warning } => log::warning(&warning),
    }
    Ok(())
}

/// `en_US.utf8` when the system has it (the reference image's locale), else `C.UTF-8`, which every
/// glibc has built in.
fn initdb_locale() -> String {
    let available = Command::new("locale")
        .arg("-a")
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let has_en_us = available
        .lines()
        .any(|l| l.eq_ignore_ascii_case("en_US.utf8") || l.eq_ignore_ascii_case("en_US.UTF-8"));
    if has_en_us {
        "--locale=en_US.utf8".to_string()
    } else {
        log::warning("locale en_US.utf8 is not installed; initialising with C.UTF-8");
        "--locale=C.UTF-8".to_string()
    }
}

/// The port the server will listen on: `-p`/`-c port=` in the arguments, else `PGPORT`, else 5432.
/// The temporary server must use the same one, so a value PostgreSQL would reject is an error here.
fn server_port(user_args: &[String]) -> Result<u16, ContractError> {
    let from_args = plan::command_line_settings(user_args)
        .into_iter()
        .rev()
        .find(|(name, _)| name == "port")
        .map(|(_, v)| ("port", v));
    let from_env = std::env::var("PGPORT")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| ("PGPORT", v));
    match from_args.or(from_env) {
        None => Ok(5432),
        Some((source, value)) => value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| ContractError {
                variable: if source == "port" {
                    "the port argument".to_string()
                } else {
                    source.to_string()
                },
                problem: format!("='{value}' is not a port number (1-65535)"),
            }),
    }
}
