//! From tuning to the exact PostgreSQL command line, honouring what the user set themselves.
//!
//! Pure: the caller supplies the resources, the configuration, the user's arguments and the contents
//! of `postgresql.auto.conf`. A setting given on the command line (`-c name=value`, `--name=value`,
//! `-B`, `-N`, `-S`, `-h`, `-i`) or with `ALTER SYSTEM` is never overridden: the computed flag is
//! dropped and the plan records what won. PostgreSQL itself ranks the command line above
//! `postgresql.auto.conf`, so when both set a value the command line is reported as the winner.

use crate::config::{Config, Origin, DEFAULT_SOCKET_DIR};
use crate::image_catalog::CatalogFile;
use crate::resources::Resources;
use crate::tuning::{self, Inputs, Storage, Tuning, WalLevel, Workload};

/// What the pgsodium key script check found (only done when pgsodium is in the preload list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pgsodium {
    NotRequested,
    Enabled { script: String },
    Disabled { reason: String },
}

/// Who set a value that the entrypoint would otherwise have computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideSource {
    CommandLine,
    AlterSystem,
}

impl OverrideSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideSource::CommandLine => "command line",
            OverrideSource::AlterSystem => "ALTER SYSTEM",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub source: OverrideSource,
    pub value: String,
}

/// One computed setting: the value the entrypoint chose, why, and who overrode it, if anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
    pub overridden_by: Option<Override>,
}

/// Everything needed to start PostgreSQL and to explain the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub resources: Resources,
    pub workload: (Workload, Origin),
    pub storage: (Storage, Origin),
    pub tuning: Tuning,
    pub wal_level: WalLevel,
    pub settings: Vec<Setting>,
    /// The argv that follows `postgres`: the user's arguments, then the computed `-c` flags.
    pub args: Vec<String>,
    pub warnings: Vec<String>,
    pub notices: Vec<String>,
    /// What the image has (or that there is no catalog), for the preflight and version-info.
    pub image: CatalogFile,
    /// Where the preload list came from (before any command-line or `ALTER SYSTEM` override).
    pub preload_origin: Origin,
}

/// The inputs of [`build`].
pub struct PlanInputs<'a> {
    pub resources: &'a Resources,
    pub config: &'a Config,
    /// The user's arguments after `postgres`.
    pub user_args: &'a [String],
    /// `name = value` pairs from `postgresql.auto.conf`.
    pub alter_system: &'a [(String, String)],
    pub pgsodium: &'a Pgsodium,
    /// The image catalog, read once by the shell.
    pub image: &'a CatalogFile,
}

/// Builds the plan. Total: never fails, every input has already been validated.
pub fn build(inputs: &PlanInputs<'_>) -> Plan {
    let PlanInputs {
        resources,
        config,
        user_args,
        alter_system,
        pgsodium,
        image,
    } = *inputs;
    let (workload, storage, wal_level) = (config.workload.0, config.storage.0, config.wal_level.0);
    let tuning = tuning::compute(&Inputs {
        memory_mb: resources.memory_mb,
        cpus: resources.cpus,
        workload,
        storage,
        max_worker_processes: config.max_worker_processes,
        shm_mb: resources.shm_mb,
    });
    let mut warnings = resources.warnings.clone();
    let mut notices = Vec::new();

    if let Some(wanted) = config.max_worker_processes {
        if wanted != i64::from(tuning.max_worker_processes) {
            warnings.push(format!(
                "POSTGRES_MAX_WORKER_PROCESSES={wanted} is outside {}..{} - clamping to {}",
                tuning::MIN_WORKER_PROCESSES,
                tuning::MAX_WORKER_PROCESSES,
                tuning.max_worker_processes
            ));
        }
    }

    budget_messages(&tuning, &mut warnings, &mut notices);
    shm_messages(&tuning, &mut warnings);

    let mut libraries = config.shared_preload_libraries.0.clone();
    let wants_pgsodium = libraries.iter().any(|lib| lib == "pgsodium");
    match pgsodium {
        Pgsodium::Disabled { reason } if wants_pgsodium => {
            libraries.retain(|lib| lib != "pgsodium");
            warnings.push(format!(
                "pgsodium DISABLED ({reason}); removed from shared_preload_libraries"
            ));
        }
        Pgsodium::Enabled { script } if wants_pgsodium => {
            notices.push(format!(
                "pgsodium enabled (getkey script at {script} validated)"
            ));
        }
        _ => {}
    }

    let from_command_line = command_line_settings(user_args);
    let socket_dir = socket_directory(&from_command_line, alter_system);
    if libraries.iter().any(|lib| lib == "pg_cron") && socket_dir.0.is_empty() {
        warnings.push(
            "unix_socket_directories is empty, so pg_cron's jobs connect to localhost over TCP, where \
             pg_hba.conf asks for a password; set cron.host to a socket directory or give the jobs a \
             password (~/.pgpass)"
                .to_string(),
        );
    }
    let mut settings = computed_settings(inputs, &tuning, &libraries, &socket_dir, wants_pgsodium);
    for setting in &mut settings {
        setting.overridden_by = set_by_user(setting.name, &from_command_line, alter_system);
    }

    let mut args: Vec<String> = user_args.to_vec();
    for setting in settings.iter().filter(|s| s.overridden_by.is_none()) {
        args.push("-c".to_string());
        args.push(format!("{}={}", setting.name, setting.value));
    }

    Plan {
        resources: resources.clone(),
        workload: config.workload,
        storage: config.storage,
        tuning,
        wal_level,
        settings,
        args,
        warnings,
        notices,
        image: image.clone(),
        preload_origin: config.shared_preload_libraries.1,
    }
}

/// The value a user gave `name`, and where: the command line outranks `ALTER SYSTEM`, as in
/// PostgreSQL, and the last occurrence in each wins.
fn set_by_user(
    name: &str,
    from_command_line: &[(String, String)],
    alter_system: &[(String, String)],
) -> Option<Override> {
    let by_command_line = from_command_line.iter().rev().find(|(n, _)| n == name);
    let by_alter_system = || {
        alter_system
            .iter()
            .rev()
            .find(|(n, _)| normalise_name(n) == name)
    };
    match by_command_line {
        Some((_, value)) => Some(Override {
            source: OverrideSource::CommandLine,
            value: value.clone(),
        }),
        None => by_alter_system().map(|(_, value)| Override {
            source: OverrideSource::AlterSystem,
            value: value.clone(),
        }),
    }
}

/// The first of `unix_socket_directories` - where local clients such as pg_cron's jobs connect - and
/// who chose it: the command line (`-k`, `-c`), `ALTER SYSTEM`, or the image's default.
fn socket_directory(
    from_command_line: &[(String, String)],
    alter_system: &[(String, String)],
) -> (String, &'static str) {
    match set_by_user("unix_socket_directories", from_command_line, alter_system) {
        Some(chosen) => (
            chosen
                .value
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_string(),
            match chosen.source {
                OverrideSource::CommandLine => "the command line's",
                OverrideSource::AlterSystem => "ALTER SYSTEM's",
            },
        ),
        None => (DEFAULT_SOCKET_DIR.to_string(), "the image's"),
    }
}

/// Where the preload list came from, for the plan's reason, the preflight and version-info.
pub fn preload_source(origin: Origin, image: &CatalogFile) -> String {
    match origin {
        Origin::Environment => "from POSTGRES_SHARED_PRELOAD_LIBRARIES".to_string(),
        Origin::Image => format!("default of the {}", image.describe()),
        Origin::Default => format!("default compiled from the manifest; {}", image.describe()),
    }
}

impl Plan {
    /// Who set `shared_preload_libraries` instead of the entrypoint, if anyone.
    pub fn preload_override(&self) -> Option<&Override> {
        self.settings
            .iter()
            .find(|s| s.name == "shared_preload_libraries")
            .and_then(|s| s.overridden_by.as_ref())
    }

    /// The `shared_preload_libraries` that will be in force: whoever set it last (the command line,
    /// `ALTER SYSTEM`), else the computed list; blanks, quotes and empty items dropped.
    pub fn preload_libraries_in_force(&self) -> Vec<String> {
        let computed = self
            .settings
            .iter()
            .find(|s| s.name == "shared_preload_libraries")
            .map(|s| s.value.as_str());
        let value = match self.preload_override() {
            Some(by) => by.value.as_str(),
            None => computed.unwrap_or_default(),
        };
        value
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_string())
            .filter(|item| !item.is_empty())
            .collect()
    }

    /// Who set the preload list in force, in words: an override, or the list's own source.
    pub fn preload_libraries_source(&self) -> String {
        match self.preload_override() {
            Some(by) => format!("set by {}", by.source.as_str()),
            None => preload_source(self.preload_origin, &self.image),
        }
    }

    /// The computed settings that will be passed to PostgreSQL (not overridden), as `(name, value)`.
    pub fn applied(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter().filter(|s| s.overridden_by.is_none())
    }

    /// The settings someone else set, for the log.
    pub fn overridden(&self) -> impl Iterator<Item = &Setting> {
        self.settings.iter().filter(|s| s.overridden_by.is_some())
    }

    /// The one-line summary the shell entrypoint printed; log scrapers depend on its exact shape.
    pub fn summary_line(&self) -> String {
        let r = &self.resources;
        let t = &self.tuning;
        format!(
            "[POSTGRES] [AUTO-CONFIG] RAM: {}MB ({}), CPU: {} cores ({}), Workload: {}, Storage: {} \u{2192} \
             shared_buffers={}MB, effective_cache_size={}MB, maintenance_work_mem={}MB, work_mem={}MB, \
             max_connections={}, wal_buffers={}MB, checkpoint_completion_target={}, min_wal_size={}MB, \
             max_wal_size={}MB, random_page_cost={}, default_statistics_target={}, io_workers={}, wal_level={}",
            r.memory_mb,
            r.memory_source,
            r.cpus,
            r.cpu_source,
            self.workload.0,
            self.storage.0,
            t.shared_buffers_mb,
            t.effective_cache_size_mb,
            t.maintenance_work_mem_mb,
            t.work_mem_mb,
            t.max_connections,
            t.wal_buffers_mb,
            tuning::CHECKPOINT_COMPLETION_TARGET,
            t.min_wal_size_mb,
            t.max_wal_size_mb,
            t.random_page_cost,
            t.default_statistics_target,
            t.io_workers,
            self.wal_level,
        )
    }
}

fn computed_settings(
    inputs: &PlanInputs<'_>,
    t: &Tuning,
    libraries: &[String],
    socket_dir: &(String, &'static str),
    wants_pgsodium: bool,
) -> Vec<Setting> {
    let PlanInputs {
        resources,
        config,
        pgsodium,
        image,
        ..
    } = *inputs;
    let ram = resources.memory_mb;
    let cpus = resources.cpus;
    let (workload, storage, wal_level) = (config.workload.0, config.storage.0, config.wal_level.0);
    let mut out = Vec::with_capacity(24);
    let mut add = |name: &'static str, value: String, reason: String| {
        out.push(Setting {
            name,
            value,
            reason,
            overridden_by: None,
        });
    };
    let mb = |v: u64| format!("{v}MB");
    let from_env = |origin: Origin, variable: &str| match origin {
        Origin::Environment => format!("from {variable}"),
        Origin::Default | Origin::Image => "default".to_string(),
    };

    let reduced = t.budget.reduced;
    let budget_note = |reason: String, from: Option<String>| match from {
        Some(from) => format!("{reason}; reduced from {from} to fit the memory budget"),
        None => reason,
    };
    add(
        "shared_buffers",
        mb(t.shared_buffers_mb),
        match reduced.shared_buffers_from {
            Some(from) => budget_note(shared_buffers_reason(ram, from), Some(mb(from))),
            None => shared_buffers_reason(ram, t.shared_buffers_mb),
        },
    );
    add(
        "effective_cache_size",
        mb(t.effective_cache_size_mb),
        if t.effective_cache_size_mb == 2 * t.shared_buffers_mb {
            "twice shared_buffers (the floor)".to_string()
        } else {
            "70% of RAM left after shared_buffers and other processes".to_string()
        },
    );
    let share = if workload == Workload::Dw { 8 } else { 16 };
    let maintenance_formula = reduced
        .maintenance_work_mem_from
        .unwrap_or(t.maintenance_work_mem_mb);
    add(
        "maintenance_work_mem",
        mb(t.maintenance_work_mem_mb),
        budget_note(
            clamp_reason(
                ram / share,
                maintenance_formula,
                &format!("1/{share} of {ram} MB"),
            ),
            reduced.maintenance_work_mem_from.map(mb),
        ),
    );
    let cap = tuning::work_mem_cap_mb(ram, workload);
    let work_mem_formula = reduced.work_mem_from.unwrap_or(t.work_mem_mb);
    add(
        "work_mem",
        mb(t.work_mem_mb),
        budget_note(
            if work_mem_formula == cap {
                format!("capped at {cap} MB for {workload} at this RAM")
            } else {
                "RAM left after buffers, connections and OS, shared by 4 operations per connection"
                    .to_string()
            },
            reduced.work_mem_from.map(mb),
        ),
    );
    let connections_formula = reduced.max_connections_from.unwrap_or(t.max_connections);
    add(
        "max_connections",
        t.max_connections.to_string(),
        budget_note(
            connections_reason(ram, workload, connections_formula),
            reduced.max_connections_from.map(|c| c.to_string()),
        ),
    );
    add(
        "max_worker_processes",
        t.max_worker_processes.to_string(),
        match config.max_worker_processes {
            Some(v) => clamp_reason(
                v.max(0) as u64,
                u64::from(t.max_worker_processes),
                "from POSTGRES_MAX_WORKER_PROCESSES",
            ),
            None => {
                let computed = if cpus <= 4 { cpus + 1 } else { cpus + cpus / 2 };
                let rule = if cpus <= 4 {
                    format!("{cpus} cores + 1")
                } else {
                    format!("1.5 x {cpus} cores")
                };
                clamp_reason(
                    u64::from(computed),
                    u64::from(t.max_worker_processes),
                    &rule,
                )
            }
        },
    );
    add(
        "wal_level",
        wal_level.to_string(),
        from_env(config.wal_level.1, "POSTGRES_WAL_LEVEL"),
    );
    add(
        "shared_preload_libraries",
        libraries.join(","),
        preload_source(config.shared_preload_libraries.1, image),
    );
    if libraries.iter().any(|lib| lib == "pg_cron") {
        add(
            "cron.database_name",
            config.cron_database.clone(),
            "POSTGRES_DB(_FILE), else POSTGRES_USER(_FILE): the database the first start creates"
                .to_string(),
        );
        let (dir, who) = socket_dir;
        if !dir.is_empty() {
            add(
                "cron.host",
                dir.clone(),
                format!(
                    "{who} socket directory: pg_cron's default, localhost over TCP, needs a password \
                     under pg_hba.conf, so every job would fail"
                ),
            );
        }
    }
    if let Some(catalog) = &image.catalog {
        if !catalog.logical_output_plugins.is_empty() {
            let mut plugins = vec!["pgoutput".to_string(), "test_decoding".to_string()];
            plugins.extend(catalog.logical_output_plugins.iter().cloned());
            add(
                "output_plugin_libraries",
                plugins.join(","),
                format!(
                    "PostgreSQL's own plugins and the image's {} ({}): a logical slot may only use these",
                    catalog.logical_output_plugins.join(", "),
                    image.describe()
                ),
            );
        }
    }
    add(
        "checkpoint_completion_target",
        tuning::CHECKPOINT_COMPLETION_TARGET.to_string(),
        "spread checkpoint writes".to_string(),
    );
    add(
        "wal_buffers",
        mb(t.wal_buffers_mb),
        "3% of shared_buffers, 1..16 MB".to_string(),
    );
    add(
        "min_wal_size",
        mb(t.min_wal_size_mb),
        format!("{workload} workload"),
    );
    add(
        "max_wal_size",
        mb(t.max_wal_size_mb),
        format!("{workload} workload"),
    );
    add(
        "random_page_cost",
        t.random_page_cost.to_string(),
        format!("{storage} storage"),
    );
    add(
        "default_statistics_target",
        t.default_statistics_target.to_string(),
        format!("{workload} workload"),
    );
    add(
        "io_workers",
        t.io_workers.to_string(),
        format!("{cpus} cores / 4, 1..64"),
    );
    add(
        "maintenance_io_concurrency",
        t.maintenance_io_concurrency.to_string(),
        format!("{storage} storage"),
    );
    add(
        "max_parallel_workers",
        t.max_parallel_workers.to_string(),
        match (reduced.max_parallel_workers_from, t.shm) {
            (_, tuning::ShmDecision::FewerWorkers { shm_mb, .. }) => {
                format!("one per core ({cpus}), lowered to fit /dev/shm ({shm_mb} MB)")
            }
            (Some(from), _) => {
                budget_note(format!("one per core ({cpus})"), Some(from.to_string()))
            }
            (None, _) => format!("one per core ({cpus})"),
        },
    );
    add(
        "max_parallel_workers_per_gather",
        t.max_parallel_workers_per_gather.to_string(),
        if cpus >= 4 {
            "half the cores".to_string()
        } else {
            "1 below 4 cores".to_string()
        },
    );
    add(
        "max_parallel_maintenance_workers",
        t.max_parallel_maintenance_workers.to_string(),
        if cpus >= 4 {
            "half the cores, at most 4".to_string()
        } else {
            "1 below 4 cores".to_string()
        },
    );
    add(
        "effective_io_concurrency",
        t.effective_io_concurrency.to_string(),
        format!("{storage} storage"),
    );
    if let tuning::ShmDecision::Mmap { shm_mb, needed_mb } = t.shm {
        add(
            "dynamic_shared_memory_type",
            "mmap".to_string(),
            format!("/dev/shm ({shm_mb} MB) is smaller than parallel query needs ({needed_mb} MB)"),
        );
    }
    if wal_level == WalLevel::Minimal {
        add(
            "max_wal_senders",
            "0".to_string(),
            "required by wal_level=minimal".to_string(),
        );
    }
    add(
        "listen_addresses",
        config.listen_addresses.0.clone(),
        match config.listen_addresses.1 {
            Origin::Environment => "from POSTGRES_BIND_IP".to_string(),
            Origin::Default | Origin::Image => "default: every address inside the container; -p, \
                networks and pg_hba.conf decide what reaches it (narrow with POSTGRES_BIND_IP)"
                .to_string(),
        },
    );
    if let (Pgsodium::Enabled { script }, true) = (pgsodium, wants_pgsodium) {
        add(
            "pgsodium.getkey_script",
            script.clone(),
            "getkey script validated".to_string(),
        );
    }
    out
}

/// Notices for every reduction the memory budget made; a warning when even the floors do not fit.
fn budget_messages(t: &Tuning, warnings: &mut Vec<String>, notices: &mut Vec<String>) {
    let b = &t.budget;
    let r = b.reduced;
    let mut changes = Vec::new();
    if let Some(from) = r.work_mem_from {
        changes.push(format!("work_mem {from}MB -> {}MB", t.work_mem_mb));
    }
    if let Some(from) = r.max_connections_from {
        changes.push(format!("max_connections {from} -> {}", t.max_connections));
    }
    if let Some(from) = r.max_parallel_workers_from {
        changes.push(format!(
            "max_parallel_workers {from} -> {}",
            t.max_parallel_workers
        ));
    }
    if let Some(from) = r.maintenance_work_mem_from {
        changes.push(format!(
            "maintenance_work_mem {from}MB -> {}MB",
            t.maintenance_work_mem_mb
        ));
    }
    if let Some(from) = r.shared_buffers_from {
        changes.push(format!(
            "shared_buffers {from}MB -> {}MB",
            t.shared_buffers_mb
        ));
    }
    if !changes.is_empty() {
        notices.push(format!(
            "Memory budget: the worst case of the formulas' settings exceeds {}MB ({}MB minus a {}MB margin); reduced {} (worst case now {}MB)",
            b.allowed_mb(),
            b.limit_mb,
            b.margin_mb,
            changes.join(", "),
            b.total_mb
        ));
    }
    if !b.fits {
        warnings.push(format!(
            "Memory budget: even at the floors the worst case ({}MB) exceeds {}MB of {}MB;              PostgreSQL may be OOM-killed under full load - give the container more memory",
            b.total_mb,
            b.allowed_mb(),
            b.limit_mb
        ));
    }
}

/// How to give the container a bigger /dev/shm, for the warnings.
const SHM_HOWTO: &str =
    "raise it with docker run --shm-size=1g, compose shm_size: 1g, or in Kubernetes \
     an emptyDir volume with medium: Memory mounted at /dev/shm";

fn shm_messages(t: &Tuning, warnings: &mut Vec<String>) {
    match t.shm {
        tuning::ShmDecision::FewerWorkers {
            shm_mb,
            needed_mb,
            from,
        } => warnings.push(format!(
            "/dev/shm is {shm_mb}MB, parallel query may need {needed_mb}MB: max_parallel_workers lowered \
             from {from} to {}; {SHM_HOWTO}",
            t.max_parallel_workers
        )),
        tuning::ShmDecision::Mmap { shm_mb, needed_mb } => warnings.push(format!(
            "/dev/shm is {shm_mb}MB, parallel query may need {needed_mb}MB: using \
             dynamic_shared_memory_type=mmap (files in PGDATA/pg_dynshmem); {SHM_HOWTO}"
        )),
        _ => {}
    }
}

fn shared_buffers_reason(ram: u64, value: u64) -> String {
    let ratio = tuning::shared_buffers_ratio(ram);
    clamp_reason(ram * ratio / 100, value, &format!("{ratio}% of {ram} MB"))
}

fn clamp_reason(wanted: u64, value: u64, rule: &str) -> String {
    use std::cmp::Ordering::*;
    match wanted.cmp(&value) {
        Equal => rule.to_string(),
        Less => format!("{rule}, raised to the minimum {value}"),
        Greater => format!("{rule}, capped at {value}"),
    }
}

fn connections_reason(ram: u64, workload: Workload, value: u32) -> String {
    let base = workload.base_connections();
    let scale = match ram {
        r if r < 2048 => Some("50% below 2 GB RAM"),
        r if r < 4096 => Some("70% below 4 GB RAM"),
        r if r < 8192 => Some("85% below 8 GB RAM"),
        _ => None,
    };
    let rule = match scale {
        Some(scale) => format!("{workload} base {base}, {scale}"),
        None => format!("{workload} base {base}"),
    };
    if value == tuning::MIN_CONNECTIONS && base * 50 / 100 < value {
        format!("{rule}, raised to the minimum {value}")
    } else {
        rule
    }
}

/// PostgreSQL treats GUC names case-insensitively and reads `-` as `_` in `--name=value`.
pub fn normalise_name(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// postgres' short options that take a value (from its getopt string); their values must be skipped.
const OPTIONS_WITH_VALUE: &[u8] = b"BCcDdfhkNprStW";

/// The settings the user's arguments set, in order, as `(normalised name, value)`.
pub fn command_line_settings(args: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(long) = arg.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                found.push((normalise_name(name), value.to_string()));
            }
            continue;
        }
        let Some(short) = arg.strip_prefix('-') else {
            continue;
        };
        let Some(&flag) = short.as_bytes().first() else {
            continue;
        };
        if flag == b'i' {
            found.push(("listen_addresses".to_string(), "*".to_string()));
            continue;
        }
        if !OPTIONS_WITH_VALUE.contains(&flag) {
            continue;
        }
        let value = if short.len() > 1 {
            Some(short[1..].to_string())
        } else {
            rest.next().cloned()
        };
        let Some(value) = value else { continue };
        let setting = match flag {
            b'c' => value
                .split_once('=')
                .map(|(n, v)| (normalise_name(n), v.to_string())),
            b'B' => Some(("shared_buffers".to_string(), value)),
            b'N' => Some(("max_connections".to_string(), value)),
            b'S' => Some(("work_mem".to_string(), value)),
            b'h' => Some(("listen_addresses".to_string(), value)),
            b'k' => Some(("unix_socket_directories".to_string(), value)),
            b'p' => Some(("port".to_string(), value)),
            _ => None,
        };
        found.extend(setting);
    }
    found
}

/// The data directory the user's arguments name with `-D`, if any.
pub fn command_line_data_directory(args: &[String]) -> Option<String> {
    let mut rest = args.iter();
    let mut found = None;
    while let Some(arg) = rest.next() {
        if arg == "-D" {
            found = rest.next().cloned();
        } else if let Some(dir) = arg.strip_prefix("-D") {
            found = Some(dir.to_string());
        } else if arg.len() == 2
            && arg.starts_with('-')
            && OPTIONS_WITH_VALUE.contains(&arg.as_bytes()[1])
        {
            rest.next();
        }
    }
    found
}

/// Parses `postgresql.auto.conf` (as written by `ALTER SYSTEM`) into `(normalised name, value)` pairs.
/// Unparseable lines are skipped: PostgreSQL itself will report them.
pub fn parse_auto_conf(text: &str) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        value.push('\'');
                    }
                    '\'' => break,
                    '\\' => value.extend(chars.next()),
                    other => value.push(other),
                }
            }
            value
        } else {
            rest.split(|c: char| c == '#' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string()
        };
        if !name.is_empty() {
            settings.push((normalise_name(name), value));
        }
    }
    settings
}

#[cfg(test)]
mod tests;
