//! The computed settings in PostgreSQL's terms, each with the reason a DBA can check, and what the
//! memory budget and `/dev/shm` made the plan say.

use super::{preload_source, Pgsodium, PlanInputs, Setting};
use crate::config::Origin;
use crate::tuning::{self, Tuning, WalLevel, Workload};

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
            budget_note(
                connections_reason(ram, workload, connections_formula),
                reduced.max_connections_from.map(|c| c.to_string()),
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
/// The budget's knobs the user set, as `name=value` for the warning.
fn user_values(t: &Tuning) -> Vec<String> {
    let p = t.pinned;
    let mut chosen = Vec::new();
    if let Some(v) = p.shared_buffers_mb {
        chosen.push(format!("shared_buffers={v}MB"));
    }
    if let Some(v) = p.work_mem_mb {
        chosen.push(format!("work_mem={v}MB"));
    }
    if let Some(v) = p.maintenance_work_mem_mb {
        chosen.push(format!("maintenance_work_mem={v}MB"));
    }
    if let Some(v) = p.max_connections {
        chosen.push(format!("max_connections={v}"));
    }
    if let Some(v) = p.max_parallel_workers {
        chosen.push(format!("max_parallel_workers={v}"));
    }
    chosen
}

pub(super) fn budget_messages(t: &Tuning, warnings: &mut Vec<String>, notices: &mut Vec<String>) {
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
