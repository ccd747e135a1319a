//! From tuning to the exact PostgreSQL command line, honouring what the user set themselves.
//!
//! Pure: the caller supplies the resources, the configuration, the user's arguments and the contents
//! of `postgresql.auto.conf`. A setting given on the command line (`-c name=value`, `--name=value`,
//! `-B`, `-N`, `-S`, `-h`, `-i`) or with `ALTER SYSTEM` is never overridden: the plan records what won.
//! The computed settings reach the server through [`tuning_file`], the lowest of PostgreSQL's own
//! sources, or (when the configuration file in use does not include it) as `-c` options, from which
//! the user's are then left out. PostgreSQL ranks the command line above `postgresql.auto.conf`, so
//! when both set a value the command line is reported as the winner.
//!
//! The parts: [`setting`] (a typed setting with its reason and who overrode it), `computed` (the
//! tuning in PostgreSQL's terms, with reasons), [`tuning_file`] (the settings as an included file),
//! [`arguments`] (postgres' own command line) and [`config_file`] (the `postgresql.auto.conf` grammar).

use crate::config::{Config, Origin, DEFAULT_SOCKET_DIR};
use crate::image_catalog::CatalogFile;
use crate::resources::Resources;
use crate::tuning::{self, Inputs, Storage, Tuning, WalLevel, Workload};

pub mod archiving;
pub mod arguments;
mod computed;
pub mod config_file;
pub mod guc;
pub mod logging;
pub mod setting;
pub mod tuning_file;

pub use arguments::{command_line_data_directory, command_line_settings, normalise_name};
use computed::{budget_messages, computed_settings, shm_messages, wal_volume_messages};
pub use config_file::{parse_auto_conf, parse_user_conf};
pub use setting::{Override, OverrideSource, Setting};

/// What the pgsodium key script check found (only done when pgsodium is in the preload list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pgsodium {
    NotRequested,
    Enabled { script: String },
    Disabled { reason: String },
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
    /// The argv that follows `postgres` when the settings go on the command line: the user's
    /// arguments, then the computed `-c` flags.
    pub args: Vec<String>,
    /// The user's own arguments: the whole argv when the settings go in the tuning file.
    pub user_args: Vec<String>,
    /// How the tuned settings reach the server.
    pub delivery: Delivery,
    pub warnings: Vec<String>,
    pub notices: Vec<String>,
    /// What the image has (or that there is no catalog), for the preflight and version-info.
    pub image: CatalogFile,
    /// Where the preload list came from (before any command-line or `ALTER SYSTEM` override).
    pub preload_origin: Origin,
    /// Where the server's first Unix socket is (`unix_socket_directories`, the user's or the
    /// image's); empty when there is none.
    pub socket_dir: String,
}

/// How the tuned settings reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// In `PGDATA/aza-tuning.conf`, which `postgresql.conf` includes first (a start makes it so).
    File,
    /// As `-c` options: the configuration file in use (a `config_file` of the user's own) does not
    /// include the tuning file, so nothing else would apply them.
    CommandLine,
}

/// The inputs of [`build`].
pub struct PlanInputs<'a> {
    pub resources: &'a Resources,
    pub config: &'a Config,
    /// The user's arguments after `postgres`.
    pub user_args: &'a [String],
    /// `name = value` pairs from `postgresql.auto.conf`.
    pub alter_system: &'a [(String, String)],
    /// The user's own lines of the configuration file in use (see [`config_file::parse_user_conf`]).
    pub config_file: &'a [(String, String)],
    pub pgsodium: &'a Pgsodium,
    /// The image catalog, read once by the shell.
    pub image: &'a CatalogFile,
    /// Decided by the shell, which reads the configuration file in use.
    pub delivery: Delivery,
}

/// Builds the plan. Total: never fails, every input has already been validated.
pub fn build(inputs: &PlanInputs<'_>) -> Plan {
    let PlanInputs {
        resources,
        config,
        user_args,
        alter_system,
        config_file,
        pgsodium,
        image,
        ref delivery,
    } = *inputs;
    let (workload, storage, wal_level) = (config.workload.0, config.storage.0, config.wal_level.0);
    let from_command_line = command_line_settings(user_args);
    let user = UserSettings {
        command_line: &from_command_line,
        alter_system,
        config_file,
    };
    // What the server will preload: the user's list when they set one, else ours.
    let preloaded = match user.set("shared_preload_libraries") {
        Some(own) => preload_list(own.value.trim_matches('\'')),
        None => config.shared_preload_libraries.0.clone(),
    };
    let tuning = tuning::compute(&Inputs {
        memory_mb: resources.memory_mb,
        cpus: resources.cpus,
        workload,
        storage,
        max_worker_processes: config.max_worker_processes,
        shm_mb: resources.shm_mb,
        wal_free_mb: resources.wal_free_mb,
        pinned: user.pinned(),
        primary_requires: resources.primary_requires,
        preload_shared_mb: preload_shared_mb(&preloaded)
            + pg_stat_monitor_shared_mb(&preloaded, &user, resources.memory_mb),
        wal_level,
        // Unknown counts as present: the budget then errs on the safe side.
        jit_provider: resources.jit_provider.unwrap_or(true),
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
    wal_volume_messages(&tuning, &mut warnings);

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

    let socket_dir = socket_directory(&user);
    if libraries.iter().any(|lib| lib == "pg_cron") && socket_dir.0.is_empty() {
        warnings.push(
            "unix_socket_directories is empty, so pg_cron's jobs connect to localhost over TCP, where \
             pg_hba.conf asks for a password; set cron.host to a socket directory or give the jobs a \
             password (~/.pgpass)"
                .to_string(),
        );
    }
    let mut settings = computed_settings(inputs, &tuning, &libraries, &socket_dir, wants_pgsodium);
    settings.extend(logging::logging_settings());
    if let Some(stanza) = &config.archive_stanza {
        settings.extend(archiving::archiving_settings(stanza));
    }
    for setting in &mut settings {
        setting.overridden_by = user.set(setting.name);
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
        user_args: user_args.to_vec(),
        delivery: delivery.clone(),
        warnings,
        notices,
        image: image.clone(),
        preload_origin: config.shared_preload_libraries.1,
        socket_dir: socket_dir.0,
    }
}

/// The libraries of a `shared_preload_libraries` value, in order, without quotes or blanks.
fn preload_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The fixed shared memory the manifest says these libraries reserve (pg_stat_monitor's
/// `pgsm_max`, which the plan sizes, comes on top: [`pg_stat_monitor_shared_mb`]).
pub fn preload_shared_mb(libraries: &[String]) -> u64 {
    crate::generated::defaults::PRELOAD_SHARED_MEMORY_MB
        .iter()
        .filter(|(name, _)| libraries.iter().any(|lib| lib == name))
        .map(|(_, mb)| mb)
        .sum()
}

/// `pg_stat_monitor.pgsm_max`: 1/64 of the memory within its minimum of 10 MB and its default of
/// 256 MB, which alone would take a quarter of a 1 GB container.
pub fn pg_stat_monitor_max_mb(ram_mb: u64) -> u64 {
    (ram_mb / 64).clamp(10, 256)
}

/// pg_stat_monitor's `pgsm_max` when it is preloaded: the user's, or ours.
fn pg_stat_monitor_shared_mb(libraries: &[String], user: &UserSettings<'_>, ram_mb: u64) -> u64 {
    if !libraries.iter().any(|lib| lib == "pg_stat_monitor") {
        return 0;
    }
    user.set("pg_stat_monitor.pgsm_max")
        .and_then(|own| guc::memory_mb(&own.value, 1024))
        .unwrap_or_else(|| pg_stat_monitor_max_mb(ram_mb))
}

/// What the user set themselves, by source.
struct UserSettings<'a> {
    command_line: &'a [(String, String)],
    alter_system: &'a [(String, String)],
    config_file: &'a [(String, String)],
}

impl UserSettings<'_> {
    /// The budget's knobs the user set, in the formulas' units (a value PostgreSQL would refuse is
    /// left to PostgreSQL to report, and does not pin anything).
    fn pinned(&self) -> tuning::Pinned {
        let value = |name: &str| self.set(name).map(|o| o.value);
        tuning::Pinned {
            shared_buffers_mb: value("shared_buffers").and_then(|v| guc::memory_mb(&v, 8)),
            work_mem_mb: value("work_mem").and_then(|v| guc::memory_mb(&v, 1)),
            maintenance_work_mem_mb: value("maintenance_work_mem")
                .and_then(|v| guc::memory_mb(&v, 1)),
            max_connections: value("max_connections").and_then(|v| v.trim().parse().ok()),
            max_parallel_workers: value("max_parallel_workers").and_then(|v| v.trim().parse().ok()),
            temp_buffers_mb: value("temp_buffers").and_then(|v| guc::memory_mb(&v, 8)),
            autovacuum_work_mem_mb: value("autovacuum_work_mem")
                .and_then(|v| guc::memory_mb(&v, 1)),
            logical_decoding_work_mem_mb: value("logical_decoding_work_mem")
                .and_then(|v| guc::memory_mb(&v, 1)),
            jit: value("jit").and_then(|v| guc::boolean(&v)),
        }
    }

    /// The value a user gave `name`, and where, in PostgreSQL's order of precedence: the command
    /// line, then `ALTER SYSTEM`, then the configuration file; the last occurrence in each wins.
    fn set(&self, name: &str) -> Option<Override> {
        let last = |pairs: &[(String, String)]| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| normalise_name(n) == name)
                .map(|(_, value)| value.clone())
        };
        [
            (OverrideSource::CommandLine, self.command_line),
            (OverrideSource::AlterSystem, self.alter_system),
            (OverrideSource::ConfigFile, self.config_file),
        ]
        .into_iter()
        .find_map(|(source, pairs)| last(pairs).map(|value| Override { source, value }))
    }
}

/// The first of `unix_socket_directories` - where local clients such as pg_cron's jobs connect - and
/// who chose it: the command line (`-k`, `-c`), `ALTER SYSTEM`, or the image's default.
fn socket_directory(user: &UserSettings<'_>) -> (String, &'static str) {
    match user.set("unix_socket_directories") {
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
                OverrideSource::ConfigFile => "postgresql.conf's",
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
    /// The argv that follows `postgres` as a start passes it.
    pub fn server_args(&self) -> &[String] {
        match self.delivery {
            Delivery::File => &self.user_args,
            Delivery::CommandLine => &self.args,
        }
    }

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
        preload_list(value)
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

#[cfg(test)]
mod tests;
