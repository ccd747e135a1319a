//! The container's life as PID 1, phase by phase: check everything (read-only, every problem at
//! once), hand the data directory to the service user, lock it, then inspect it and initialise,
//! bootstrap or just start, and supervise the server through a bounded shutdown.
//!
//! The stop signals are blocked from `main`'s first instruction ([`Supervisor::install`]), so a
//! `docker stop` in any phase is seen: the phases that run a child hand it on (initdb, scripts,
//! `pg_basebackup`, the key script), the others ask [`Supervisor::stop_requested`] between steps. A stop
//! before the server runs ends the entrypoint with 128 + the signal's number, leaving the data directory
//! untouched or re-initialisable (see [`super::datadir`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::contract::{ContractError, ProcessMode, RuntimeConfig, SECRET_VARIABLES};
use super::datadir::{self, DataDirLock, DataDirState};
use super::init::{self, InitError, InitRequest};
use super::privileges::{self, PrivilegeError, ServiceUser, Walk};
use super::reaper::{self, SuperviseError, Supervisor, Waited};
use super::replication::{ReplicaSource, Role};
use super::restore::{self, RestoreJob};
use super::settings_file::{self, Included};
use super::signals::{self, SignalAction};
use super::{exec, log, ports, preflight, replica};
use crate::backup::conf::Cluster;
use crate::backup::BackupSettings;
use crate::entrypoint::{self, PlanError};
use crate::environment::{Environment, Uses};
use crate::plan::{self, tuning_file, Delivery, Plan};
use crate::tls::network_rules::{self, NetworkInputs};
use crate::tls::{TlsMode, TlsSettings};
use crate::tuning::WalLevel;
use crate::version_info::role::Configured;

/// Why the container did not (or no longer) run PostgreSQL. Printed once, by [`run`].
#[derive(Debug)]
pub enum StartError {
    /// Everything the read-only checks found wrong, each naming the input and the fix.
    Refused(Vec<String>),
    DataDir(String),
    Privileges(PrivilegeError),
    Init(InitError),
    Supervise(SuperviseError),
    /// A stop signal arrived in `phase`, before the server ran.
    Stopped {
        signal: Signal,
        phase: &'static str,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Refused(problems) if problems.len() == 1 => f.write_str(&problems[0]),
            StartError::Refused(problems) => {
                write!(
                    f,
                    "{} problems (nothing was started or changed):",
                    problems.len()
                )?;
                for problem in problems {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
            StartError::DataDir(message) => f.write_str(message),
            StartError::Privileges(e) => e.fmt(f),
            StartError::Init(e) => e.fmt(f),
            StartError::Supervise(e) => e.fmt(f),
            StartError::Stopped { signal, phase } => write!(
                f,
                "stopped by {signal} while {phase}; the server was not started"
            ),
        }
    }
}

impl std::error::Error for StartError {}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Init(e) => e.exit_code(),
            StartError::Supervise(e) => e.exit_code(),
            StartError::Stopped { signal, .. } => 128u8.saturating_add(*signal as u8),
            _ => 1,
        }
    }
}

/// `aza-entrypoint postgres ARGS`: the whole life of the container, returning its exit code.
pub fn run(mut supervisor: Supervisor, env: &Environment, user_args: &[String]) -> ExitCode {
    match live(&mut supervisor, env, user_args) {
        Ok(code) => code,
        Err(error) => {
            let level = match error {
                StartError::Stopped { .. } => log::Level::Info,
                _ => log::Level::Error,
            };
            log::event(
                level,
                &error.to_string(),
                &[("exit_code", error.exit_code().into())],
            );
            ExitCode::from(error.exit_code())
        }
    }
}

fn live(
    supervisor: &mut Supervisor,
    env: &Environment,
    user_args: &[String],
) -> Result<ExitCode, StartError> {
    let (plan, checked) = check_everything(supervisor, env, user_args)?.passed()?;
    stop_point(supervisor, "checking the environment")?;
    // From here on the entrypoint changes things.
    log::plan(&plan);
    supervisor.adopt_orphans().map_err(StartError::Supervise)?;
    create_directories(&checked)?;
    // Before the walk touches anything in PGDATA: a second container on the same volume stops here.
    // An HA node takes none: Patroni needs PGDATA empty to clone into, and replaces it on a reinit.
    let _lock = match checked.role {
        Role::Ha(_) => None,
        _ => Some(lock_data_directory(&checked)?),
    };
    hand_over_directories(supervisor, &checked)?;
    if matches!(checked.role, Role::Ha(_)) {
        hand_over_parent(&checked)?;
    }
    super::refresh_version_info(
        &plan,
        match checked.role {
            Role::Primary(_) => Configured::Primary,
            Role::Replica(_) => Configured::Replica,
            Role::Ha(_) => Configured::Ha,
        },
    );
    drop_privileges(&checked)?;
    if let Role::Ha(ha) = &checked.role {
        // Patroni owns the data directory from here: it bootstraps, clones, rewinds and starts it.
        return super::patroni::run(supervisor, &checked.config, checked.port, &plan, ha);
    }
    prepare_pgbackrest(&checked, &plan)?;
    let state = inspect_locked(&checked)?;
    ensure_cluster(supervisor, &checked, &plan, &state)?;
    stop_point(supervisor, "initialising")?;
    if state != DataDirState::Initialised {
        // A copy (a replica's base backup, a restore) brought its source's pg_hba.conf.
        if let Err((true, problem)) = rules_inclusion(&checked.config, &checked.tls, user_args) {
            return Err(StartError::Refused(vec![problem]));
        }
    }
    // Every start: a change of POSTGRES_TLS or of the superuser rule applies now, and a generated
    // certificate is renewed before it expires.
    let pgdata = &checked.config.pgdata;
    super::tls::write_network_rules(pgdata, &checked.network_rules).map_err(StartError::DataDir)?;
    super::tls::ensure_generated(&checked.tls, pgdata).map_err(StartError::DataDir)?;
    let plan = replan_after_copying_a_primary(supervisor, env, user_args, &checked, &state, plan)?;
    let server_args = deliver_settings(&plan, &checked.config.pgdata);
    run_server(supervisor, &checked.config, &server_args)
}

/// A replica that was just copied from its primary is planned again: now `pg_control` says what the
/// primary requires (`max_connections`, `max_worker_processes`), which a hot standby may not go below.
fn replan_after_copying_a_primary(
    supervisor: &mut Supervisor,
    env: &Environment,
    user_args: &[String],
    checked: &Checked,
    state: &DataDirState,
    plan: Plan,
) -> Result<Plan, StartError> {
    if !matches!(checked.role, Role::Replica(_)) || *state == DataDirState::Initialised {
        return Ok(plan);
    }
    let waldir = checked.config.waldir.as_deref();
    match entrypoint::prepare(supervisor, &env.tuning, user_args, waldir) {
        Ok((replanned, None)) => {
            for (name, before, after) in [
                (
                    "max_connections",
                    plan.tuning.max_connections,
                    replanned.tuning.max_connections,
                ),
                (
                    "max_worker_processes",
                    plan.tuning.max_worker_processes,
                    replanned.tuning.max_worker_processes,
                ),
            ] {
                if before != after {
                    log::info(&format!(
                        "[AUTO-CONFIG] {name} {before} -> {after}: the primary's, which a hot standby \
                         may not go below"
                    ));
                }
            }
            Ok(replanned)
        }
        Err(PlanError::Stopped(signal)) => Err(StartError::Stopped {
            signal,
            phase: "planning the copied replica",
        }),
        // The first plan passed every check; keep it rather than fail on a second look.
        _ => Ok(plan),
    }
}

/// Ends the life here when a stop signal has arrived.
fn stop_point(supervisor: &mut Supervisor, phase: &'static str) -> Result<(), StartError> {
    match supervisor.stop_requested() {
        Some(signal) => Err(StartError::Stopped { signal, phase }),
        None => Ok(()),
    }
}

/// What the read-only checks established.
pub struct Checked {
    config: RuntimeConfig,
    port: u16,
    role: Role,
    service_user: Option<ServiceUser>,
    backup: BackupSettings,
    tls: TlsSettings,
    /// `aza-hba.conf`, written at every start (empty in HA mode).
    network_rules: String,
}

/// What the read-only checks found: the plan (when the tuning variables allowed one) and every
/// problem.
pub struct Checks {
    pub plan: Option<Plan>,
    checked: Option<Checked>,
    pub problems: Vec<String>,
    /// The network rules a start writes (`aza-hba.conf`), for the dry run; `None` in HA mode, where
    /// Patroni's configuration holds them.
    pub network_rules: Option<String>,
    /// The server's port is taken right now: a start refuses that, while `--dry-run` (which may well
    /// run beside the very server it previews) only warns.
    pub port_in_use: Vec<String>,
}

impl Checks {
    /// The plan and the checked contract when nothing was wrong, else every problem.
    fn passed(mut self) -> Result<(Plan, Checked), StartError> {
        self.problems.append(&mut self.port_in_use);
        match (self.plan, self.checked) {
            (Some(plan), Some(checked)) if self.problems.is_empty() => Ok((plan, checked)),
            _ => Err(StartError::Refused(self.problems)),
        }
    }
}

/// Every check that needs no side effect, run by a start and by `--dry-run` alike: the tuning
/// variables and the plan, the contract, the port, the role, the WAL level, the preload libraries,
/// the data directory's state with the password it needs, and the service user. Every problem is
/// collected, so one run names them all; only a stop signal ends it early.
pub fn check_everything(
    supervisor: &mut Supervisor,
    env: &Environment,
    user_args: &[String],
) -> Result<Checks, StartError> {
    let mut problems = env.problems_for(Uses::Everything);
    // With an unusable tuning variable (defaults stand in) or too little memory (planned for the
    // minimum), the plan still serves the checks below but is not what the user asked for.
    let mut stand_in_plan = !env.tuning_usable;
    let waldir = env.runtime.waldir.as_deref();
    let mut plan = match entrypoint::prepare(supervisor, &env.tuning, user_args, waldir) {
        Ok((plan, None)) => Some(plan),
        Ok((plan, Some(too_little))) => {
            problems.push(too_little.to_string());
            stand_in_plan = true;
            Some(plan)
        }
        Err(PlanError::Stopped(signal)) => {
            return Err(StartError::Stopped {
                signal,
                phase: "running the pgsodium key script",
            })
        }
        Err(error) => {
            problems.extend(error.to_string().lines().map(str::to_string));
            None
        }
    };
    let mut config = env.runtime.clone();
    if let Some(dir) = plan::command_line_data_directory(user_args) {
        config.pgdata = PathBuf::from(dir);
    }
    let role = &env.role;
    let port = noted(&mut problems, server_port(user_args, env.pgport));
    if let Some(plan) = &plan {
        if let Err(error) = check_wal_level(role, &env.backup, plan) {
            problems.push(error.to_string());
        }
        let audited = plan
            .preload_libraries_in_force()
            .iter()
            .any(|l| l == "pgaudit");
        if let (Some(classes), false) = (&env.tuning.audit_log, audited) {
            problems.push(format!(
                "POSTGRES_PGAUDIT_LOG={classes} needs pgaudit in shared_preload_libraries, which \
                 does not name it: add it (POSTGRES_SHARED_PRELOAD_LIBRARIES) or unset the variable"
            ));
        }
    }
    if let Some(plan) = &mut plan {
        match preflight::check(plan) {
            Ok(preflight::Preflight::Passed) => {}
            // Shown by the dry run's report and logged by the start with the plan's other warnings.
            Ok(preflight::Preflight::NotRun { warning }) => plan.warnings.push(warning),
            Err(refusal) => problems.push(refusal.to_string()),
        }
    }
    let port_in_use = match (&plan, port) {
        (Some(plan), Some(port)) => ports::in_use(port, &plan.args),
        _ => Vec::new(),
    };
    match inspect_state(&config) {
        Err(message) => problems.push(message),
        Ok(state) => {
            if let Err(message) = check_state(&config, role, &env.backup, &state) {
                problems.push(message);
            }
            if state == DataDirState::Initialised && !matches!(role, Role::Ha(_)) {
                check_rules_included(&config, env, user_args, &mut problems, plan.as_mut());
            }
        }
    }
    let service_user = match privileges::service_user_if_root() {
        Ok(user) => user,
        Err(error) => {
            problems.push(error.to_string());
            None
        }
    };
    let owner = service_user.as_ref().map(|user| (user.uid, user.gid));
    problems.extend(super::tls::check_mounted(&env.tuning.tls, owner));
    if let Role::Replica(ReplicaSource {
        sslrootcert: Some(ca),
        ..
    }) = role
    {
        problems.extend(super::tls::check_ca(
            "PG_REPLICATION_SSLROOTCERT",
            ca.as_path(),
            owner,
        ));
    }
    let network_rules = (!matches!(role, Role::Ha(_))).then(|| network_rules(env, &config));
    if let (Some(plan), "trust") = (&mut plan, config.host_auth_method.as_str()) {
        // At every start, not only the first: the rules are rewritten from it every time.
        plan.warnings.push(
            "POSTGRES_HOST_AUTH_METHOD=trust: anyone who reaches the port logs in as any role \
             without a password"
                .to_string(),
        );
    }
    let checked = match port {
        Some(port) if problems.is_empty() => Some(Checked {
            config,
            port,
            role: role.clone(),
            service_user,
            backup: env.backup.clone(),
            tls: env.tuning.tls.clone(),
            network_rules: network_rules.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Checks {
        // A plan made for the minimum memory served the checks; it is not what the user asked for.
        plan: plan.filter(|_| !stand_in_plan),
        checked,
        problems,
        network_rules,
        port_in_use,
    })
}

/// The network rules of this environment (see [`crate::tls::network_rules`]).
fn network_rules(env: &Environment, config: &RuntimeConfig) -> String {
    let tls = &env.tuning.tls;
    // PgBouncer's role by the environment's one reading, whatever the role: a replica keeps its
    // primary's roles, and the same rules serve it once promoted.
    let (replication_user, pgbouncer) = match &env.role {
        Role::Primary(setup) => (
            setup.replication.as_ref().map(|user| user.name.as_str()),
            env.pgbouncer_login.as_ref(),
        ),
        Role::Replica(source) => (Some(source.user.as_str()), env.pgbouncer_login.as_ref()),
        Role::Ha(_) => (None, None),
    };
    network_rules::render(&NetworkInputs {
        tls: tls.mode,
        method: &config.host_auth_method,
        refused_superuser: tls.refuse_network_superuser.then_some(config.user.as_str()),
        replication_user,
        pgbouncer,
    })
}

/// An existing cluster's `pg_hba.conf` (or the user's `hba_file`) must include the rules file for
/// the TLS and superuser rules to apply, with nothing above the include that admits what they
/// refuse: a problem when `required` or `refuse` is asked for, else a warning when TLS is on (a
/// cluster initialised before the entrypoint wrote the rules keeps its own).
fn check_rules_included(
    config: &RuntimeConfig,
    env: &Environment,
    user_args: &[String],
    problems: &mut Vec<String>,
    plan: Option<&mut Plan>,
) {
    match rules_inclusion(config, &env.tuning.tls, user_args) {
        Ok(()) => {}
        Err((true, problem)) => problems.push(problem),
        Err((false, warning)) => {
            if let Some(plan) = plan {
                plan.warnings.push(warning);
            }
        }
    }
}

/// [`network_rules::check_inclusion`] of this cluster's hba file, as `Err((refused, message))`.
fn rules_inclusion(
    config: &RuntimeConfig,
    tls: &TlsSettings,
    user_args: &[String],
) -> Result<(), (bool, String)> {
    let hba = plan::command_line_settings(user_args)
        .into_iter()
        .rev()
        .find(|(name, _)| name == "hba_file")
        .map_or_else(
            || config.pgdata.join("pg_hba.conf"),
            |(_, v)| PathBuf::from(v),
        );
    let rules = config.pgdata.join(network_rules::FILE);
    let required = tls.mode == TlsMode::Required;
    let superuser = tls.refuse_network_superuser.then_some(config.user.as_str());
    let strict = required || superuser.is_some();
    if !strict && tls.mode == TlsMode::Off {
        return Ok(());
    }
    let asked = match (required, superuser.is_some()) {
        (false, true) => "POSTGRES_NETWORK_SUPERUSER=refuse",
        (false, false) => "POSTGRES_TLS=on",
        // With refuse too: the first thing to fix.
        (true, _) => "POSTGRES_TLS=required",
    };
    let text = std::fs::read_to_string(&hba).map_err(|e| {
        (
            strict,
            format!(
                "cannot read {} ({e}), so {asked} cannot be checked",
                hba.display()
            ),
        )
    })?;
    let dir = hba.parent().unwrap_or(Path::new("/"));
    network_rules::check_inclusion(&text, dir, &rules, required, superuser).map_err(|found| {
        let why = match found {
            network_rules::Inclusion::Missing => format!(
                "does not include {0} (an older cluster's, or your own): add the line 'include \
                 {0}' above its TCP rules",
                rules.display()
            ),
            network_rules::Inclusion::AdmittedBefore(rule) => format!(
                "has '{rule}' above the include of {}, letting in what {asked} refuses: move it \
                 below the include",
                rules.display()
            ),
        };
        (
            strict,
            format!(
                "{} {why}; {asked} is not enforced until then",
                hba.display()
            ),
        )
    })
}

/// The value, or `None` with the problem added to `problems`.
fn noted<T>(problems: &mut Vec<String>, result: Result<T, ContractError>) -> Option<T> {
    result
        .map_err(|error| problems.push(error.to_string()))
        .ok()
}

fn inspect_state(config: &RuntimeConfig) -> Result<DataDirState, String> {
    datadir::inspect(&config.pgdata)
        .map_err(|e| format!("cannot read PGDATA {}: {e}", config.pgdata.display()))
}

/// What a data directory in `state` allows: someone else's files are never touched, and a primary
/// that will be initialised needs a password (or trust); a restored one brings its own.
fn check_state(
    config: &RuntimeConfig,
    role: &Role,
    backup: &BackupSettings,
    state: &DataDirState,
) -> Result<(), String> {
    match state {
        DataDirState::Foreign { example } => Err(format!(
            "PGDATA {} is not empty (it holds '{example}') and has no PG_VERSION, so it is not a database \
             cluster; empty it or point PGDATA elsewhere",
            config.pgdata.display()
        )),
        DataDirState::Empty | DataDirState::Interrupted
            if matches!(role, Role::Primary(_)) && backup.restore.is_none() =>
        {
            config.check_can_initialise().map_err(|e| e.to_string())
        }
        _ => Ok(()),
    }
}

/// Creates `PGDATA` and the WAL directory when they do not exist yet (nothing else: the lock comes
/// first).
fn create_directories(checked: &Checked) -> Result<(), StartError> {
    let config = &checked.config;
    let create = |dir: &PathBuf| {
        std::fs::create_dir_all(dir).map_err(|source| {
            StartError::Privileges(PrivilegeError::Directory {
                path: dir.clone(),
                action: "create",
                source,
            })
        })
    };
    for dir in std::iter::once(&config.pgdata).chain(&config.waldir) {
        create(dir)?;
    }
    // Once PGDATA exists: whether its parent is on the same file system decides.
    if let Some(dir) = super::tls::ca_key_dir_to_make(&checked.tls, &config.pgdata) {
        create(&dir)?;
    }
    Ok(())
}

/// `PGDATA`, the WAL directory and the generated CA's key directory (beside `PGDATA`, made here
/// because `PGDATA`'s parent may be root's): the directories the server's user owns, 0700.
fn owned_directories(checked: &Checked) -> Vec<PathBuf> {
    let config = &checked.config;
    let mut dirs = vec![config.pgdata.clone()];
    dirs.extend(config.waldir.clone());
    let ca_dir = crate::tls::ca_key_dir(&config.pgdata);
    if matches!(
        checked.tls.certificates,
        Some(crate::tls::Certificates::Generated { .. })
    ) && ca_dir.is_dir()
    {
        dirs.push(ca_dir);
    }
    dirs
}

/// Gives `PGDATA` (and the WAL directory) to the service user with mode 0700: what is not yet theirs
/// is handed over.
fn hand_over_directories(supervisor: &mut Supervisor, checked: &Checked) -> Result<(), StartError> {
    let user = checked.service_user.as_ref();
    let mut stop_requested = || supervisor.stop_requested().is_some();
    for dir in owned_directories(checked).iter() {
        let walk = privileges::ensure_private_dir(dir, user, &mut stop_requested)
            .map_err(StartError::Privileges)?;
        if walk == Walk::Stopped {
            break;
        }
    }
    stop_point(
        supervisor,
        "handing the data directory to the postgres user",
    )
}

/// Patroni moves a data directory it cannot use aside (`PGDATA.failed`) and clones a new one next
/// to it, so on an HA node the directory that holds `PGDATA` is the service user's too.
fn hand_over_parent(checked: &Checked) -> Result<(), StartError> {
    let (Some(user), Some(parent)) = (&checked.service_user, checked.config.pgdata.parent()) else {
        return Ok(());
    };
    // `/` or a top-level directory is never given away; Patroni then cannot reinitialise in place.
    if parent.components().count() < 3 {
        log::warning(&format!(
            "PGDATA's parent {} is not handed to {}: Patroni cannot move a broken data directory \
             aside there; use a PGDATA two levels below a volume (the image's default is)",
            parent.display(),
            user.name
        ));
        return Ok(());
    }
    nix::unistd::chown(parent, Some(user.uid), Some(user.gid)).map_err(|errno| {
        StartError::Privileges(PrivilegeError::Directory {
            path: parent.to_path_buf(),
            action: "hand over (chown)",
            source: std::io::Error::from(errno),
        })
    })
}

/// When started as root, becomes the service user for good.
fn drop_privileges(checked: &Checked) -> Result<(), StartError> {
    let config = &checked.config;
    if let Some(user) = &checked.service_user {
        privileges::drop_to(user).map_err(StartError::Privileges)?;
        // Tools the children run (psql's history, initdb's messages) expect the user's own HOME.
        std::env::set_var("HOME", &user.home);
        std::env::set_var("USER", &user.name);
    }
    std::env::set_var("PGDATA", &config.pgdata);
    Ok(())
}

/// With backups on, pgBackRest's configuration file is written for every process that runs it.
fn prepare_pgbackrest(checked: &Checked, plan: &Plan) -> Result<(), StartError> {
    let Some(backups) = &checked.backup.backups else {
        return Ok(());
    };
    let cluster = Cluster {
        pgdata: &checked.config.pgdata,
        port: checked.port,
        socket_dir: &plan.socket_dir,
        user: &checked.config.user,
    };
    let path = super::pgbackrest::prepare(backups, &cluster, None).map_err(StartError::DataDir)?;
    log::info(&format!(
        "[BACKUP] WAL is archived to stanza {} (pgBackRest's configuration: {})",
        backups.stanza,
        path.display()
    ));
    Ok(())
}

/// Takes `PGDATA`'s lock for the rest of the entrypoint's life, before anything looks at what is there.
fn lock_data_directory(checked: &Checked) -> Result<DataDirLock, StartError> {
    let config = &checked.config;
    let owner = checked
        .service_user
        .as_ref()
        .map(|user| (user.uid, user.gid));
    match DataDirLock::try_acquire(&config.pgdata, owner) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(StartError::DataDir(format!(
            "another aza-entrypoint is using {} right now (it holds {}): it is initialising a cluster there \
             or running its server; run one container per data directory",
            config.pgdata.display(),
            datadir::LOCK_NAME
        ))),
        Err(e) => Err(StartError::DataDir(format!(
            "cannot lock {} ({}): {e}",
            config.pgdata.display(),
            datadir::LOCK_NAME
        ))),
    }
}

/// The data directory's state under the lock, which is what counts: another entrypoint may have
/// initialised or filled it since the read-only checks looked.
fn inspect_locked(checked: &Checked) -> Result<DataDirState, StartError> {
    let state = inspect_state(&checked.config).map_err(StartError::DataDir)?;
    check_state(&checked.config, &checked.role, &checked.backup, &state)
        .map_err(StartError::DataDir)?;
    Ok(state)
}

/// Leaves `PGDATA` holding a complete cluster: initialises a primary, bootstraps a replica, or finds
/// one there already. An unfinished earlier attempt is cleared first.
fn ensure_cluster(
    supervisor: &mut Supervisor,
    checked: &Checked,
    plan: &Plan,
    state: &DataDirState,
) -> Result<(), StartError> {
    let config = &checked.config;
    match state {
        DataDirState::Initialised => {
            log::info("[INIT] PGDATA holds a database cluster; skipping initialisation");
            if checked.backup.restore.is_some() {
                log::warning(
                    "AZA_RESTORE_SET / AZA_RESTORE_TARGET_TIME are set, but a restore happens only \
                     into an empty data directory: starting the cluster that is there",
                );
            }
            return Ok(());
        }
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
    if let (Some(request), Some(backups)) = (&checked.backup.restore, &checked.backup.backups) {
        let slot = match &checked.role {
            Role::Primary(setup) => setup.replication.as_ref().map(|user| user.slot.as_str()),
            Role::Replica(_) | Role::Ha(_) => None,
        };
        let job = RestoreJob {
            config,
            backups,
            request,
            plan,
            port: checked.port,
            slot,
        };
        return restore::restore(supervisor, &job).map_err(StartError::Init);
    }
    match &checked.role {
        Role::Primary(setup) => {
            let request = InitRequest {
                config,
                server_args: plan.server_args(),
                settings_file: (plan.delivery == Delivery::File).then_some(plan),
                port: checked.port,
                // Asked only now: it runs `locale -a`, which a start that initialises nothing (and
                // the dry run) need not pay for.
                locale: (!config.initdb_args_choose_locale()).then(initdb_locale),
                primary: setup,
                backups: checked.backup.backups.as_ref(),
                ha: None,
            };
            init::initialise(supervisor, &request).map_err(StartError::Init)
        }
        Role::Replica(source) => {
            replica::bootstrap(supervisor, config, source).map_err(StartError::Init)
        }
        // Patroni bootstraps the first leader (`ha-bootstrap`) and clones the others.
        Role::Ha(_) => Ok(()),
    }
}

/// The server's argv: the user's arguments, with the tuned settings written into `aza-tuning.conf`
/// (which `postgresql.conf` is made to include first); on the command line when the plan says so or
/// the files cannot be written.
fn deliver_settings(plan: &Plan, pgdata: &Path) -> Vec<String> {
    if plan.delivery == Delivery::CommandLine {
        return plan.args.clone();
    }
    match settings_file::install(pgdata, plan) {
        Ok(Included::Already) => plan.user_args.clone(),
        Ok(Included::Now) => {
            log::info(&format!(
                "[AUTO-CONFIG] postgresql.conf now includes {} first (lowest precedence); initdb's \
                 lines for tuned settings commented out",
                tuning_file::FILE_NAME
            ));
            plan.user_args.clone()
        }
        Err(e) => {
            log::warning(&format!(
                "cannot write the tuned settings into {} ({e}); passing them as -c options, which \
                 ALTER SYSTEM cannot change",
                pgdata.display()
            ));
            plan.args.clone()
        }
    }
}

/// Runs the server: supervised as PID 1 (or `AZA_PROCESS_MODE=supervise`), else exec'd in place.
fn run_server(
    supervisor: &mut Supervisor,
    config: &RuntimeConfig,
    server_args: &[String],
) -> Result<ExitCode, StartError> {
    for secret in SECRET_VARIABLES {
        std::env::remove_var(secret);
    }
    let supervise = match config.process_mode {
        ProcessMode::Auto => reaper::is_pid1(),
        ProcessMode::Supervise => true,
        ProcessMode::Exec => false,
    };
    if !supervise {
        // The mask stays blocked across the exec: the postmaster sets its own as soon as its handlers
        // are in place, so a stop (or a SIGHUP) that arrives in between waits for it instead of
        // killing us or, as PID 1, being dropped.
        return Ok(exec::exec_postgres(server_args));
    }
    let mut command = Command::new("postgres");
    command.args(server_args);
    let pid = supervisor
        .spawn(&mut command, true)
        .map_err(StartError::Supervise)?;
    let mut shutdown = Shutdown::new(config);
    let outcome = loop {
        let deadline = shutdown.deadline();
        let mut on_signal = |received| shutdown.on_signal(received);
        match supervisor
            .wait_for_until(pid, deadline, &mut on_signal)
            .map_err(StartError::Supervise)?
        {
            Waited::Exited(outcome) => break outcome,
            // A shutdown step may have begun: its deadline is worked out again.
            Waited::Signalled => {}
            Waited::TimedOut => {
                if let Some(next) = shutdown.escalate() {
                    supervisor.send(pid, next).map_err(StartError::Supervise)?;
                }
            }
        }
    };
    let level = if outcome.success() {
        log::Level::Info
    } else {
        log::Level::Error
    };
    let step = shutdown
        .step
        .map_or("none", |(sent, _)| signals::shutdown_name(sent));
    let ended_by = match shutdown.step {
        Some((sent, _)) => format!(" after a {} shutdown", signals::shutdown_name(sent)),
        None => String::new(),
    };
    log::event(
        level,
        &format!("postgres {outcome}{ended_by}"),
        &[
            ("exit_code", outcome.exit_code().into()),
            ("shutdown", step.into()),
        ],
    );
    Ok(ExitCode::from(outcome.exit_code()))
}

/// The shutdown under way: the hardest step sent so far and when it runs out of time. Each step has
/// `AZA_STOP_TIMEOUT`; then the next, harder one is sent (smart → fast → immediate → SIGKILL).
struct Shutdown {
    mode: signals::ShutdownMode,
    step_timeout: Duration,
    step: Option<(Signal, Instant)>,
}

impl Shutdown {
    fn new(config: &RuntimeConfig) -> Shutdown {
        Shutdown {
            mode: config.sigterm,
            step_timeout: config.stop_timeout,
            step: None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.step {
            // After SIGKILL there is nothing harder: wait for the kernel to end it.
            Some((Signal::SIGKILL, _)) | None => None,
            Some((_, started)) => Some(started + self.step_timeout),
        }
    }

    /// The policy's answer for a received signal, logged; a shutdown step starts its clock.
    fn on_signal(&mut self, received: Signal) -> SignalAction {
        let action = signals::postgres_action(self.mode, received);
        let (message, forwarded) = match action {
            SignalAction::Forward(sent) | SignalAction::ForwardToGroup(sent) => {
                let strength = signals::shutdown_strength(sent);
                let current = self.step.map_or(0, |(s, _)| signals::shutdown_strength(s));
                if strength > current {
                    self.step = Some((sent, Instant::now()));
                }
                let what = match strength {
                    0 => String::new(),
                    _ => format!(
                        " ({} shutdown, {} s before the next step)",
                        signals::shutdown_name(sent),
                        self.step_timeout.as_secs()
                    ),
                };
                (
                    format!("received {received}, sent {sent} to postgres{what}"),
                    sent.as_str(),
                )
            }
            SignalAction::Ignore => (format!("received {received}, ignored"), ""),
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
    }

    /// The current step ran out of time: the next one, logged, or `None` when there is none.
    fn escalate(&mut self) -> Option<Signal> {
        let (sent, _) = self.step?;
        let next = signals::next_shutdown_step(sent)?;
        log::event(
            log::Level::Warn,
            &format!(
                "postgres did not finish the {} shutdown within {} s (AZA_STOP_TIMEOUT); sending {next} ({})",
                signals::shutdown_name(sent),
                self.step_timeout.as_secs(),
                signals::shutdown_name(next)
            ),
            &[("signal", next.as_str().into())],
        );
        self.step = Some((next, Instant::now()));
        Some(next)
    }
}

/// Replication and archiving need WAL for them: a replica, a primary that creates a slot, or one
/// that archives cannot run with `wal_level=minimal`.
fn check_wal_level(role: &Role, backup: &BackupSettings, plan: &Plan) -> Result<(), ContractError> {
    if plan.wal_level != WalLevel::Minimal {
        return Ok(());
    }
    let problem = match role {
        _ if backup.backups.is_some() => {
            "='minimal' cannot be archived, and PGBACKREST_STANZA is set"
        }
        Role::Replica(_) => {
            "='minimal' cannot stream to or from a replica, and POSTGRES_ROLE=replica"
        }
        Role::Ha(_) => "='minimal' cannot stream to replicas, and POSTGRES_ROLE=ha",
        Role::Primary(setup) if setup.replication.is_some() => {
            "='minimal' cannot feed a replica, and PG_REPLICATION_PASSWORD is set"
        }
        Role::Primary(_) => return Ok(()),
    };
    Err(ContractError {
        variable: "POSTGRES_WAL_LEVEL".into(),
        problem: format!("{problem}: use replica or logical (the default)"),
    })
}

/// `en_US.utf8` when the system has it (the reference image's locale), else `C.UTF-8`, which every
/// glibc has built in.
pub(super) fn initdb_locale() -> String {
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
fn server_port(user_args: &[String], pgport: Option<u16>) -> Result<u16, ContractError> {
    let from_args = plan::command_line_settings(user_args)
        .into_iter()
        .rev()
        .find(|(name, _)| name == "port");
    match from_args {
        // PGPORT was checked with the rest of the environment.
        None => Ok(pgport.unwrap_or(5432)),
        Some((_, value)) => value
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| ContractError {
                variable: "the port argument".to_string(),
                problem: format!("='{value}' is not a port number (1-65535)"),
            }),
    }
}
