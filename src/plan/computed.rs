//! The computed settings in PostgreSQL's terms, each with the reason a DBA can check, and what the
//! memory budget and `/dev/shm` made the plan say.

use super::{preload_source, Pgsodium, PlanInputs, Setting};
use crate::config::Origin;
use crate::tuning::{self, Knob, Storage, Tuning, WalLevel, Workload};

/// Every computed setting, in the order the log and the dry run show them.
pub(super) fn computed_settings(
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
    // A reason, and what the budget made of the formula's value.
    let budgeted = |knob: Knob, reason: String| match reduced.from(knob) {
        Some(from) => format!(
            "{reason}; reduced from {from}{} to fit the memory budget",
            knob.unit()
        ),
        None => reason,
    };
    let formula = |knob: Knob, value: u64| reduced.from(knob).unwrap_or(value);
    add(
        "shared_buffers",
        mb(t.shared_buffers_mb),
        budgeted(
            Knob::SharedBuffers,
            shared_buffers_reason(ram, formula(Knob::SharedBuffers, t.shared_buffers_mb)),
        ),
    );
    add(
        "effective_cache_size",
        mb(t.effective_cache_size_mb),
        "3/4 of RAM: shared_buffers and the page cache beside it (a planner estimate; PostgreSQL's \
         4GB default would describe a cache this container may not have)"
            .to_string(),
    );
    let share = tuning::maintenance_work_mem_divisor(workload);
    add(
        "maintenance_work_mem",
        mb(t.maintenance_work_mem_mb),
        budgeted(
            Knob::MaintenanceWorkMem,
            clamp_reason(
                ram / share,
                formula(Knob::MaintenanceWorkMem, t.maintenance_work_mem_mb),
                &format!(
                    "1/{share} of {ram} MB (index builds sort faster in 64 MB runs than in one large \
                     quicksort; more only where tables are large)"
                ),
            ),
        ),
    );
    add(
        "autovacuum_work_mem",
        mb(t.autovacuum_work_mem_mb),
        budgeted(
            Knob::AutovacuumWorkMem,
            clamp_reason(
                ram / 64,
                formula(Knob::AutovacuumWorkMem, t.autovacuum_work_mem_mb),
                &format!(
                    "1/64 of {ram} MB for each of {} autovacuum workers, counted apart from \
                     maintenance_work_mem",
                    tuning::AUTOVACUUM_MAX_WORKERS
                ),
            ),
        ),
    );
    let cap = tuning::work_mem_cap_mb(ram, workload);
    let divisor = match workload {
        Workload::Web | Workload::Oltp => 256,
        Workload::Mixed => 128,
        Workload::Dw => 64,
    };
    add(
        "work_mem",
        mb(t.work_mem_mb),
        budgeted(
            Knob::WorkMem,
            clamp_reason(
                ram / divisor,
                formula(Knob::WorkMem, t.work_mem_mb),
                &format!(
                    "1/{divisor} of {ram} MB per sort or hash for {workload} (at most {cap} MB)"
                ),
            ),
        ),
    );
    add(
        "hash_mem_multiplier",
        "2.0".to_string(),
        "PostgreSQL's default, set so that the memory budget's count of a hash table holds"
            .to_string(),
    );
    add(
        "temp_buffers",
        mb(t.temp_buffers_mb),
        budgeted(
            Knob::TempBuffers,
            "PostgreSQL's default, counted for every connection".to_string(),
        ),
    );
    if wal_level == WalLevel::Logical {
        add(
            "logical_decoding_work_mem",
            mb(t.logical_decoding_work_mem_mb),
            budgeted(
                Knob::LogicalDecodingWorkMem,
                format!(
                    "PostgreSQL's default, counted for {} decoding sessions",
                    tuning::LOGICAL_DECODING_SESSIONS
                ),
            ),
        );
    }
    let floors = inputs.resources.primary_requires;
    let standby_note = |value: u32, floor: Option<u32>, reason: String| match floor {
        Some(floor) if floor == value => {
            format!("{reason}; the primary's {floor}, which a hot standby may not go below")
        }
        _ => reason,
    };
    add(
        "max_connections",
        t.max_connections.to_string(),
        standby_note(
            t.max_connections,
            floors.max_connections,
            budgeted(
                Knob::MaxConnections,
                format!(
                    "{workload} workload, whatever the CPUs and the memory (the budget decides what \
                     fits; {}, at least {})",
                    match workload {
                        Workload::Web | Workload::Oltp => "it keeps connections and gives up work_mem first",
                        Workload::Dw | Workload::Mixed => {
                            "put PgBouncer in front: it gives up connections before query memory"
                        }
                    },
                    workload.min_connections()
                ),
            ),
        ),
    );
    add(
        "max_worker_processes",
        t.max_worker_processes.to_string(),
        standby_note(
            t.max_worker_processes,
            floors.max_worker_processes,
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
        ),
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
    if libraries.iter().any(|lib| lib == "pg_stat_monitor") {
        add(
            "pg_stat_monitor.pgsm_max",
            format!("{}", super::pg_stat_monitor_max_mb(ram)),
            "1/64 of RAM (MB) within 10..256: its default of 256 MB would take a quarter of a 1 GB \
             container; the memory budget counts it beside its query text buffer"
                .to_string(),
        );
    }
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
    let (min_wal_reason, max_wal_reason) = match t.wal_capped {
        None => (format!("{workload} workload"), format!("{workload} workload")),
        Some((free, _)) => (
            "a quarter of max_wal_size, which the WAL volume lowered".to_string(),
            format!(
                "{workload} workload, lowered to a quarter of the WAL volume's free space ({free} MB, \
                 at least {} MB)",
                tuning::MAX_WAL_SIZE_FLOOR_MB
            ),
        ),
    };
    add("min_wal_size", mb(t.min_wal_size_mb), min_wal_reason);
    add("max_wal_size", mb(t.max_wal_size_mb), max_wal_reason);
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
        format!(
            "{cpus} cores / 2, at least PostgreSQL's {}, at most 32",
            tuning::IO_WORKERS_MIN
        ),
    );
    add(
        "maintenance_io_concurrency",
        t.maintenance_io_concurrency.to_string(),
        storage_reason(storage),
    );
    let parallel = format!(
        "one per core ({cpus}), leaving {} of max_worker_processes to background jobs{}",
        tuning::BACKGROUND_WORKERS_RESERVED,
        if t.max_parallel_workers < 8 {
            " (PostgreSQL's default of 8 assumes 8 cores)"
        } else {
            ""
        }
    );
    add(
        "max_parallel_workers",
        t.max_parallel_workers.to_string(),
        match t.shm {
            tuning::ShmDecision::FewerWorkers { shm_mb, .. } => {
                format!("{parallel}, lowered to fit /dev/shm ({shm_mb} MB)")
            }
            _ => budgeted(Knob::MaxParallelWorkers, parallel),
        },
    );
    let per_operation = if cpus < 4 {
        "half the cores, 1..4 (PostgreSQL's default of 2 would run more processes than cores below 4)"
    } else {
        "half the cores, 1..4"
    };
    add(
        "max_parallel_workers_per_gather",
        t.max_parallel_workers_per_gather.to_string(),
        per_operation.to_string(),
    );
    add(
        "max_parallel_maintenance_workers",
        t.max_parallel_maintenance_workers.to_string(),
        per_operation.to_string(),
    );
    add(
        "effective_io_concurrency",
        t.effective_io_concurrency.to_string(),
        storage_reason(storage),
    );
    add(
        "autovacuum_vacuum_cost_limit",
        t.autovacuum_vacuum_cost_limit.to_string(),
        format!(
            "{storage} storage: PostgreSQL's 200 was sized for spinning disks and lets vacuum fall \
             behind on busy tables"
        ),
    );
    add(
        "wal_compression",
        t.wal_compression.to_string(),
        if t.wal_compression == "off" {
            format!(
                "PostgreSQL's default below {} CPUs: compressing full-page images takes CPU a bulk \
                 load or an index build needs",
                tuning::WAL_COMPRESSION_MIN_CPUS
            )
        } else {
            format!(
                "full-page images compressed with lz4 ({} CPUs or more): less WAL to write, archive \
                 and replicate",
                tuning::WAL_COMPRESSION_MIN_CPUS
            )
        },
    );
    add(
        "checkpoint_timeout",
        format!("{}min", t.checkpoint_timeout_min),
        format!(
            "{workload} workload: fewer checkpoints, fewer full-page images, a longer crash recovery"
        ),
    );
    add(
        "huge_pages",
        "try".to_string(),
        "huge pages when the host reserves them (vm.nr_hugepages), else normal pages".to_string(),
    );
    add(
        "jit",
        if t.jit { "on" } else { "off" }.to_string(),
        match (t.jit, t.budget.reduced.from(Knob::Jit)) {
            (false, Some(_)) => format!(
                "{workload} workload, but off to fit the memory budget: LLVM takes about {} MB in \
                 every backend that compiles, more than this container has beside the floors",
                tuning::JIT_BACKEND_KB / 1024
            ),
            (true, _) => format!(
                "{workload} workload: long queries repay the compile time (the budget counts LLVM's \
                 {} MB per backend)",
                tuning::JIT_BACKEND_KB / 1024
            ),
            (false, None) if workload.uses_jit() => "no JIT provider (llvmjit.so) in the server's \
                library directory, so nothing to turn on or to count"
                .to_string(),
            (false, None) => {
                format!("{workload} workload: short queries never repay JIT's compile time")
            }
        },
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
    for (name, value, reason) in config.tls.server_settings() {
        add(name, value, reason);
    }
    if let Some(classes) = &config.audit_log {
        add(
            "pgaudit.log",
            classes.clone(),
            "from POSTGRES_PGAUDIT_LOG".to_string(),
        );
    }
    if let (Pgsodium::Enabled { script }, true) = (pgsodium, wants_pgsodium) {
        add(
            "pgsodium.getkey_script",
            script.clone(),
            "getkey script validated".to_string(),
        );
    }
    out
}

/// The budget's knobs the user set, as `name=value` for the warning (sizes and counts; a `jit`
/// setting is not memory of its own).
fn user_values(t: &Tuning) -> Vec<String> {
    use Knob::*;
    [
        MaxConnections,
        MaxParallelWorkers,
        SharedBuffers,
        WorkMem,
        MaintenanceWorkMem,
        TempBuffers,
        AutovacuumWorkMem,
        LogicalDecodingWorkMem,
    ]
    .into_iter()
    .filter_map(|knob| {
        let value = t.pinned.get(knob)?;
        Some(format!("{}={value}{}", knob.name(), knob.unit()))
    })
    .collect()
}

/// Notices for every reduction the memory budget made; a warning when even the floors do not fit.
pub(super) fn budget_messages(t: &Tuning, warnings: &mut Vec<String>, notices: &mut Vec<String>) {
    let b = &t.budget;
    let changes: Vec<String> = tuning::reduction_order(Workload::Web)
        .into_iter()
        .filter_map(|knob| {
            let from = b.reduced.from(knob)?;
            if knob == Knob::Jit {
                return Some("jit on -> off".to_string());
            }
            let unit = knob.unit();
            Some(format!(
                "{} {from}{unit} -> {}{unit}",
                knob.name(),
                t.knob(knob)
            ))
        })
        .collect();
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
        let chosen = user_values(t);
        if chosen.is_empty() {
            warnings.push(format!(
                "Memory budget: even at the floors the worst case ({}MB) exceeds {}MB of {}MB; \
                 PostgreSQL may be OOM-killed under full load - give the container more memory",
                b.total_mb,
                b.allowed_mb(),
                b.limit_mb
            ));
        } else {
            warnings.push(format!(
                "Memory budget: with your {} the worst case is {}MB, {}MB over the {}MB allowed; kept \
                 as set, but PostgreSQL may be OOM-killed under full load",
                chosen.join(", "),
                b.total_mb,
                b.total_mb.saturating_sub(b.allowed_mb()),
                b.allowed_mb(),
            ));
        }
    }
}

/// How to give the container a bigger /dev/shm, for the warnings.
const SHM_HOWTO: &str =
    "raise it with docker run --shm-size=1g, compose shm_size: 1g, or in Kubernetes \
     an emptyDir volume with medium: Memory mounted at /dev/shm";

/// A WAL volume too small for the workload's WAL sizes is worth a warning: checkpoints come sooner.
pub(super) fn wal_volume_messages(t: &Tuning, warnings: &mut Vec<String>) {
    if let Some((free, wanted)) = t.wal_capped {
        warnings.push(format!(
            "the WAL volume has {free} MB free: max_wal_size is {} MB instead of the workload's {wanted} MB, \
             so checkpoints come sooner; give pg_wal more room",
            t.max_wal_size_mb
        ));
    }
}

pub(super) fn shm_messages(t: &Tuning, warnings: &mut Vec<String>) {
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
    let rule = match ram {
        r if r <= 8192 => format!("25% of {ram} MB"),
        r if r <= 32768 => format!("25% of the first 8 GB and 20% of the rest of {ram} MB"),
        _ => {
            format!("25% of the first 8 GB, 20% of the next 24 GB and 15% of the rest of {ram} MB")
        }
    };
    let first = ram.min(8192);
    let second = ram.clamp(8192, 32768) - 8192;
    let wanted = first / 4 + second / 5 + ram.saturating_sub(32768) * 15 / 100;
    clamp_reason(wanted, value, &rule)
}

/// The reason of a storage-dependent I/O setting; on `hdd` it is below PostgreSQL 18's default of 16.
fn storage_reason(storage: Storage) -> String {
    match storage {
        Storage::Hdd => {
            "hdd storage: a spinning disk serves few requests at once, below PostgreSQL's \
                         default of 16"
                .to_string()
        }
        _ => format!("{storage} storage"),
    }
}

fn clamp_reason(wanted: u64, value: u64, rule: &str) -> String {
    use std::cmp::Ordering::*;
    match wanted.cmp(&value) {
        Equal => rule.to_string(),
        Less => format!("{rule}, raised to the minimum {value}"),
        Greater => format!("{rule}, capped at {value}"),
    }
}
