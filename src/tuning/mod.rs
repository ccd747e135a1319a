//! The tuning formulas: pure arithmetic from the detected resources to PostgreSQL settings.
//!
//! Nothing here does I/O or allocates, so it can be tested exhaustively and run in well under a
//! microsecond. The formulas, constants and tables reproduce the shell entrypoint this project replaces
//! (bash integer arithmetic: `/` truncates), with one documented change: `san` storage gets
//! `effective_io_concurrency=300` like `ssd`-class devices instead of disabling read-ahead.
//!
//! On top of the formulas sits the memory budget ([`budget`]): the worst case the settings allow
//! (every connection sorting and hashing with its full `work_mem`, autovacuum at
//! `autovacuum_work_mem`, one user maintenance operation at `maintenance_work_mem`, the preloaded
//! libraries' shared memory, ...) must fit in the limit minus a margin; when it does not, settings
//! are reduced in the workload's order. And when `/dev/shm` is too small for parallel query
//! ([`shm`]), fewer parallel workers or `dynamic_shared_memory_type=mmap` are used.
//!
//! Every formula is a non-decreasing function of the memory (a property test checks it after the
//! budget too), and none gives less than PostgreSQL's default unless the budget requires it; the
//! plan's reasons say when a value is below the default and why.

mod budget;
mod kinds;
mod shm;

pub use budget::{
    margin_mb, per_connection_kb, query_work_mem_factor, reduction_order, shared_other_mb, Budget,
    Knob, Reductions, AUTOVACUUM_MAX_WORKERS, BACKEND_OVERHEAD_KB, BUDGET_MAINTENANCE_FLOOR_MB,
    BUDGET_MARGIN_MIN_MB, BUDGET_MARGIN_PERCENT, HASH_MEM_MULTIPLIER, JIT_BACKEND_KB, KNOBS,
    LOGICAL_DECODING_SESSIONS, PAGE_TABLE_DIVISOR, PARALLEL_SLOTS_RESERVED, SERVER_PROCESSES_MB,
    SHARED_OTHER_DIVISOR, SHARED_OTHER_MB,
};
pub use kinds::{ParseKindError, Storage, WalLevel, Workload};
pub use shm::{dsm_needed_mb, ShmDecision, DSM_BASE_MB};

/// Below this much memory the entrypoint refuses to start PostgreSQL.
pub const MIN_MEMORY_MB: u64 = 512;
/// The largest memory figure accepted (1 TiB).
pub const MAX_MEMORY_MB: u64 = 1024 * 1024;
/// CPU counts are clamped into this range before tuning.
pub const MIN_CPUS: u32 = 1;
pub const MAX_CPUS: u32 = 128;
/// `max_worker_processes` (computed or given) is clamped into this range.
pub const MIN_WORKER_PROCESSES: u32 = 8;
pub const MAX_WORKER_PROCESSES: u32 = 64;

pub const SHARED_BUFFERS_MIN_MB: u64 = 64;
pub const SHARED_BUFFERS_CAP_MB: u64 = 32768;
/// PostgreSQL's default `maintenance_work_mem`, the formula's floor (the budget may go lower).
pub const MAINTENANCE_WORK_MEM_MIN_MB: u64 = 64;
/// PostgreSQL's default `work_mem`, the formula's floor (the budget may go lower).
pub const WORK_MEM_MIN_MB: u64 = 4;
/// `autovacuum_work_mem`: PostgreSQL's default is `maintenance_work_mem`'s default (64 MB); since
/// PostgreSQL 17 the dead-tuple store is compact, and more than this buys nothing a DBA could measure.
pub const AUTOVACUUM_WORK_MEM_MIN_MB: u64 = 64;
pub const AUTOVACUUM_WORK_MEM_CAP_MB: u64 = 512;
/// PostgreSQL's defaults of `temp_buffers` and `logical_decoding_work_mem`, the formulas' values.
pub const TEMP_BUFFERS_MB: u64 = 8;
pub const LOGICAL_DECODING_WORK_MEM_MB: u64 = 64;
/// Worker processes left to background jobs (pg_cron, logical replication, TimescaleDB) whatever the
/// parallel query settings take.
pub const BACKGROUND_WORKERS_RESERVED: u32 = 4;
/// PostgreSQL 18's default `io_workers`, the floor of the formula.
pub const IO_WORKERS_MIN: u32 = 3;
pub const MAINTENANCE_WORK_MEM_CAP_MB: u64 = 2048;
pub const WORK_MEM_CAP_MB: u64 = 32;
/// Connections never go below this, however little memory there is: the lowest of the workloads'
/// floors ([`Workload::min_connections`]).
pub const MIN_CONNECTIONS: u32 = 10;
pub const CHECKPOINT_COMPLETION_TARGET: &str = "0.9";

/// Everything the formulas depend on. Memory and CPUs are already validated and clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    /// Memory available to the container, in MiB (PostgreSQL's "MB").
    pub memory_mb: u64,
    /// CPUs available, already clamped to `MIN_CPUS..=MAX_CPUS`.
    pub cpus: u32,
    pub workload: Workload,
    pub storage: Storage,
    /// `POSTGRES_MAX_WORKER_PROCESSES`, replacing the computed value before the 8..64 clamp.
    pub max_worker_processes: Option<i64>,
    /// Size of `/dev/shm` in MiB, when it could be read (`statvfs`); `None` leaves parallelism alone.
    pub shm_mb: Option<u64>,
    /// Free space in MiB on the volume that holds `pg_wal`, when it could be read (`statvfs`);
    /// `None` leaves the WAL sizes alone.
    pub wal_free_mb: Option<u64>,
    /// Values the user set themselves: inputs of the formulas and the budget, never reduced.
    pub pinned: Pinned,
    /// On a standby, what its primary requires (from `pg_control`): a hot standby refuses to run
    /// with less.
    pub primary_requires: PrimaryRequires,
    /// Shared memory the preloaded libraries reserve at their defaults (from the manifest), in MiB.
    pub preload_shared_mb: u64,
    /// `wal_level`: with `logical`, decoding sessions are counted.
    pub wal_level: WalLevel,
    /// Whether the server has a JIT provider: without one, `jit` is off and nothing is counted for it.
    pub jit_provider: bool,
}

/// A hot standby's floors: PostgreSQL stops replaying (and the standby serves nothing) when one of
/// these is below the primary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrimaryRequires {
    pub max_connections: Option<u32>,
    pub max_worker_processes: Option<u32>,
}

/// Settings the user chose (command line, `ALTER SYSTEM`, `postgresql.conf`), in the formulas' units.
/// Each replaces its formula, the settings derived from it follow it (`effective_cache_size` and
/// `wal_buffers` from `shared_buffers`, `work_mem` from `max_connections`), and the budget reduces
/// only the others; if they cannot make room, the budget says by how much the user's values exceed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pinned {
    pub shared_buffers_mb: Option<u64>,
    pub work_mem_mb: Option<u64>,
    pub maintenance_work_mem_mb: Option<u64>,
    pub max_connections: Option<u32>,
    pub max_parallel_workers: Option<u32>,
    pub temp_buffers_mb: Option<u64>,
    pub autovacuum_work_mem_mb: Option<u64>,
    pub logical_decoding_work_mem_mb: Option<u64>,
    /// The user's `jit`.
    pub jit: Option<bool>,
}

/// The computed settings, as numbers. [`crate::plan`] turns them into GUC strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub shared_buffers_mb: u64,
    pub effective_cache_size_mb: u64,
    pub maintenance_work_mem_mb: u64,
    pub autovacuum_work_mem_mb: u64,
    pub work_mem_mb: u64,
    pub temp_buffers_mb: u64,
    /// Counted only with `wal_level=logical` (and only then set).
    pub logical_decoding_work_mem_mb: u64,
    pub max_connections: u32,
    pub max_worker_processes: u32,
    pub max_parallel_workers: u32,
    pub max_parallel_workers_per_gather: u32,
    pub max_parallel_maintenance_workers: u32,
    pub wal_buffers_mb: u64,
    pub io_workers: u32,
    pub min_wal_size_mb: u64,
    pub max_wal_size_mb: u64,
    pub random_page_cost: &'static str,
    pub effective_io_concurrency: u32,
    pub maintenance_io_concurrency: u32,
    pub default_statistics_target: u32,
    /// Whether JIT compilation pays: for the long queries of `dw` and `mixed`, not for short ones.
    pub jit: bool,
    /// `wal_compression`: `lz4` from [`WAL_COMPRESSION_MIN_CPUS`] up, else `off`.
    pub wal_compression: &'static str,
    pub checkpoint_timeout_min: u32,
    pub autovacuum_vacuum_cost_limit: u32,
    /// The worst-case memory of these settings against the limit, and what was reduced to fit.
    pub budget: Budget,
    /// What the size of `/dev/shm` made of parallel query.
    pub shm: ShmDecision,
    /// `Some((free MB, workload's max_wal_size))` when the WAL volume's free space lowered the WAL sizes.
    pub wal_capped: Option<(u64, u64)>,
    /// The user's values these settings were computed with.
    pub pinned: Pinned,
}

/// Computes every tuned setting. Total over its whole input domain: no panics, no overflow
/// (memory is at most [`MAX_MEMORY_MB`], far from any integer limit).
pub fn compute(inputs: &Inputs) -> Tuning {
    let ram = inputs.memory_mb.min(MAX_MEMORY_MB);
    let cpus = inputs.cpus.clamp(MIN_CPUS, MAX_CPUS);
    let workload = inputs.workload;
    let storage = inputs.storage;

    let pinned = inputs.pinned;
    let floors = inputs.primary_requires;
    let max_connections = pinned
        .max_connections
        .unwrap_or_else(|| max_connections(workload))
        .max(floors.max_connections.unwrap_or(0));
    let shared_buffers_mb = pinned
        .shared_buffers_mb
        .unwrap_or_else(|| shared_buffers_mb(ram));
    let max_worker_processes = max_worker_processes(cpus, inputs.max_worker_processes)
        .max(floors.max_worker_processes.unwrap_or(0));
    let (max_parallel_workers, max_parallel_workers_per_gather, max_parallel_maintenance_workers) =
        match (
            parallel_workers(cpus, max_worker_processes),
            pinned.max_parallel_workers,
        ) {
            (formulas, None) => formulas,
            ((_, per_gather, maintenance), Some(user)) => {
                (user, per_gather.min(user), maintenance.min(user))
            }
        };
    let (wal, wal_capped) = wal_sizes_mb(workload, inputs.wal_free_mb);
    let maintenance_work_mem_mb = pinned
        .maintenance_work_mem_mb
        .unwrap_or_else(|| maintenance_work_mem_mb(ram, workload));

    let formulas = Tuning {
        shared_buffers_mb,
        effective_cache_size_mb: effective_cache_size_mb(ram, shared_buffers_mb),
        maintenance_work_mem_mb,
        autovacuum_work_mem_mb: pinned
            .autovacuum_work_mem_mb
            .unwrap_or_else(|| autovacuum_work_mem_mb(ram)),
        work_mem_mb: pinned
            .work_mem_mb
            .unwrap_or_else(|| work_mem_mb(ram, workload)),
        temp_buffers_mb: pinned.temp_buffers_mb.unwrap_or(TEMP_BUFFERS_MB),
        logical_decoding_work_mem_mb: pinned
            .logical_decoding_work_mem_mb
            .unwrap_or(LOGICAL_DECODING_WORK_MEM_MB),
        max_connections,
        max_worker_processes,
        max_parallel_workers,
        max_parallel_workers_per_gather,
        max_parallel_maintenance_workers,
        wal_buffers_mb: wal_buffers_mb(shared_buffers_mb),
        io_workers: io_workers(cpus),
        min_wal_size_mb: wal.0,
        max_wal_size_mb: wal.1,
        random_page_cost: storage.random_page_cost(),
        effective_io_concurrency: storage.effective_io_concurrency(),
        maintenance_io_concurrency: storage.maintenance_io_concurrency(),
        default_statistics_target: workload.default_statistics_target(),
        jit: pinned
            .jit
            .unwrap_or_else(|| workload.uses_jit() && inputs.jit_provider),
        wal_compression: wal_compression(cpus),
        checkpoint_timeout_min: workload.checkpoint_timeout_min(),
        autovacuum_vacuum_cost_limit: storage.autovacuum_vacuum_cost_limit(),
        budget: Budget::EMPTY,
        shm: ShmDecision::Unknown,
        wal_capped,
        pinned,
    };
    let fit = budget::FitInputs {
        ram_mb: ram,
        workload,
        preload_shared_mb: inputs.preload_shared_mb,
        logical: inputs.wal_level == WalLevel::Logical,
        pinned: &pinned,
        floors: &floors,
    };
    let fitted = budget::fit(formulas, &fit);
    let mut adapted = shm::adapt(inputs.shm_mb, fitted);
    if adapted.max_parallel_workers != fitted.max_parallel_workers {
        adapted.budget = budget::account(
            ram,
            &adapted,
            fit.preload_shared_mb,
            fit.logical,
            fitted.budget.reduced,
        );
    }
    adapted
}

/// The workload's connection count, whatever the memory and the CPUs: the budget lowers it where
/// memory is short (first for `dw` and `mixed`, last for `web` and `oltp`).
pub fn max_connections(workload: Workload) -> u32 {
    workload.base_connections()
}

/// A quarter of the first 8 GiB, a fifth of the next 24 GiB and 15 % of the rest: less on large
/// machines, where the OS page cache does the job better than a huge buffer pool, and continuous, so
/// that more memory never gets a smaller buffer pool. Within 64 MB..32 GB.
pub fn shared_buffers_mb(ram_mb: u64) -> u64 {
    let first = ram_mb.min(8192);
    let second = ram_mb.clamp(8192, 32768) - 8192;
    let rest = ram_mb.saturating_sub(32768);
    (first / 4 + second / 5 + rest * 15 / 100).clamp(SHARED_BUFFERS_MIN_MB, SHARED_BUFFERS_CAP_MB)
}

/// Three quarters of the memory: `shared_buffers` plus the page cache the rest can keep (a planner
/// estimate, not an allocation), and never less than `shared_buffers`.
pub fn effective_cache_size_mb(ram_mb: u64, shared_buffers_mb: u64) -> u64 {
    (ram_mb * 3 / 4).max(shared_buffers_mb)
}

/// The share of the memory one maintenance operation gets: 1/64 for `dw`, 1/128 for the others. Small
/// on purpose: an index build's sort was measured slower with every step above PostgreSQL's 64 MB at
/// 2 and 4 GB (a larger quicksort misses the CPU caches; 64 MB runs merge cheaply), so the share only
/// grows past the default on machines whose tables are large enough to need it (8 GB and up for `dw`).
pub fn maintenance_work_mem_divisor(workload: Workload) -> u64 {
    if workload == Workload::Dw {
        64
    } else {
        128
    }
}

pub fn maintenance_work_mem_mb(ram_mb: u64, workload: Workload) -> u64 {
    (ram_mb / maintenance_work_mem_divisor(workload))
        .clamp(MAINTENANCE_WORK_MEM_MIN_MB, MAINTENANCE_WORK_MEM_CAP_MB)
}

/// Compress full-page images with lz4 from this many CPUs up. Below it the CPU is what a bulk load or
/// an index build is short of (measured on 2 cores: compression cost about 1 s of a 15 s load), and
/// PostgreSQL's default (off) stays.
pub const WAL_COMPRESSION_MIN_CPUS: u32 = 4;

pub fn wal_compression(cpus: u32) -> &'static str {
    if cpus >= WAL_COMPRESSION_MIN_CPUS {
        "lz4"
    } else {
        "off"
    }
}

/// 1/64 of the memory within 64..512 MB.
pub fn autovacuum_work_mem_mb(ram_mb: u64) -> u64 {
    (ram_mb / 64).clamp(AUTOVACUUM_WORK_MEM_MIN_MB, AUTOVACUUM_WORK_MEM_CAP_MB)
}

/// The cap on `work_mem`: analytical workloads (dw, mixed) may sort bigger on bigger machines;
/// web and OLTP keep many small queries and stay at 32 MB.
pub fn work_mem_cap_mb(ram_mb: u64, workload: Workload) -> u64 {
    match workload {
        Workload::Web | Workload::Oltp => WORK_MEM_CAP_MB,
        Workload::Dw | Workload::Mixed => match ram_mb {
            r if r >= 32768 => 256,
            r if r >= 8192 => 128,
            r if r >= 2048 => 64,
            _ => WORK_MEM_CAP_MB,
        },
    }
}

/// A share of the memory per sort or hash: 1/256 for the many short queries of `web` and `oltp`,
/// 1/128 for `mixed`, 1/64 for `dw`; at least PostgreSQL's 4 MB and at most the workload's cap. The
/// budget then fits it to the connections.
pub fn work_mem_mb(ram_mb: u64, workload: Workload) -> u64 {
    let divisor = match workload {
        Workload::Web | Workload::Oltp => 256,
        Workload::Mixed => 128,
        Workload::Dw => 64,
    };
    (ram_mb / divisor).clamp(WORK_MEM_MIN_MB, work_mem_cap_mb(ram_mb, workload))
}

/// Background workers: one per core plus one on small machines, 1.5 per core on larger ones;
/// the user's `POSTGRES_MAX_WORKER_PROCESSES` replaces the computed value. Both are clamped to 8..64.
pub fn max_worker_processes(cpus: u32, user_value: Option<i64>) -> u32 {
    let computed = if cpus <= 4 { cpus + 1 } else { cpus + cpus / 2 };
    let wanted = user_value.unwrap_or(i64::from(computed));
    wanted.clamp(
        i64::from(MIN_WORKER_PROCESSES),
        i64::from(MAX_WORKER_PROCESSES),
    ) as u32
}

/// `(max_parallel_workers, max_parallel_workers_per_gather, max_parallel_maintenance_workers)`: one
/// worker per core, leaving [`BACKGROUND_WORKERS_RESERVED`] of `max_worker_processes` to background
/// jobs; a query or an index build gets half the cores, between 1 and 4.
pub fn parallel_workers(cpus: u32, max_worker_processes: u32) -> (u32, u32, u32) {
    let workers = cpus.min(max_worker_processes.saturating_sub(BACKGROUND_WORKERS_RESERVED));
    let per_operation = (cpus / 2).clamp(1, 4).min(workers);
    (workers, per_operation, per_operation)
}

/// At most this share of the WAL volume's free space goes to `max_wal_size`: WAL can outgrow
/// `max_wal_size` (a burst, a slow archive, a replication slot), and a full WAL volume stops the server.
pub const WAL_SHARE_OF_FREE_SPACE_DIVISOR: u64 = 4;
/// `max_wal_size` never goes below this (eight 16 MB segments), however full the volume.
pub const MAX_WAL_SIZE_FLOOR_MB: u64 = 128;
/// PostgreSQL requires `min_wal_size` of at least two segments.
pub const MIN_WAL_SIZE_FLOOR_MB: u64 = 32;

/// `((min_wal_size, max_wal_size), capped)`: the workload's sizes, lowered to a quarter of the WAL
/// volume's free space when that is smaller (`min_wal_size` then a quarter of `max_wal_size`). The
/// lowered size is a power of two, like the workload's, so that it does not change with every
/// megabyte written between two starts.
pub fn wal_sizes_mb(
    workload: Workload,
    wal_free_mb: Option<u64>,
) -> ((u64, u64), Option<(u64, u64)>) {
    let (min_wal, max_wal) = workload.wal_size_mb();
    let Some(free) = wal_free_mb else {
        return ((min_wal, max_wal), None);
    };
    let quarter = free / WAL_SHARE_OF_FREE_SPACE_DIVISOR;
    if quarter >= max_wal {
        return ((min_wal, max_wal), None);
    }
    // The largest power of two within the quarter (never below the floor).
    let room = match quarter {
        0 => MAX_WAL_SIZE_FLOOR_MB,
        q => (1u64 << (63 - q.leading_zeros())).max(MAX_WAL_SIZE_FLOOR_MB),
    };
    let min_capped = min_wal.min(room / 4).max(MIN_WAL_SIZE_FLOOR_MB);
    ((min_capped, room), Some((free, max_wal)))
}

/// 3% of shared buffers within 1..16 MB; 15 MB is rounded up to the 16 MB WAL segment size.
pub fn wal_buffers_mb(shared_buffers_mb: u64) -> u64 {
    match (shared_buffers_mb * 3 / 100).clamp(1, 16) {
        15 => 16,
        v => v,
    }
}

/// PostgreSQL 18 asynchronous I/O workers: one per two cores, at least PostgreSQL's 3, at most 32.
pub fn io_workers(cpus: u32) -> u32 {
    (cpus / 2).clamp(IO_WORKERS_MIN, 32)
}

#[cfg(test)]
mod tests;
