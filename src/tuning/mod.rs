//! The tuning formulas: pure arithmetic from the detected resources to PostgreSQL settings.
//!
//! Nothing here does I/O or allocates, so it can be tested exhaustively and run in well under a
//! microsecond. The formulas, constants and tables reproduce the shell entrypoint this project replaces
//! (bash integer arithmetic: `/` truncates), with one documented change: `san` storage gets
//! `effective_io_concurrency=300` like `ssd`-class devices instead of disabling read-ahead.
//!
//! On top of the formulas sits the memory budget ([`budget`]): the worst case the settings allow
//! (every connection sorting and hashing with its full `work_mem`, autovacuum and one user
//! maintenance operation at `maintenance_work_mem`, ...) must fit in the limit minus a margin; when it
//! does not, `work_mem`, then `max_connections`, then the parallel workers, then
//! `maintenance_work_mem`, then `shared_buffers` are reduced. And when `/dev/shm` is too small for
//! parallel query ([`shm`]), fewer parallel workers or `dynamic_shared_memory_type=mmap` are used.

mod budget;
mod kinds;
mod shm;

pub use budget::{
    margin_mb, per_connection_kb, shared_other_mb, Budget, Reductions, AUTOVACUUM_MAX_WORKERS,
    BACKEND_OVERHEAD_KB, BUDGET_MAINTENANCE_FLOOR_MB, BUDGET_MARGIN_MIN_MB, BUDGET_MARGIN_PERCENT,
    PAGE_TABLE_DIVISOR, QUERY_WORK_MEM_FACTOR, SERVER_PROCESSES_MB, SHARED_OTHER_DIVISOR,
    SHARED_OTHER_MB,
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
pub const MAINTENANCE_WORK_MEM_MIN_MB: u64 = 32;
pub const MAINTENANCE_WORK_MEM_CAP_MB: u64 = 2048;
pub const WORK_MEM_CAP_MB: u64 = 32;
/// Memory kept for the operating system and non-PostgreSQL processes.
pub const OS_RESERVE_MB: u64 = 512;
/// Estimated private memory of one backend, beyond `work_mem`.
pub const CONNECTION_OVERHEAD_MB: u64 = 10;
/// Connections never go below this, however little memory there is.
pub const MIN_CONNECTIONS: u32 = 20;
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
}

/// The computed settings, as numbers. [`crate::plan`] turns them into GUC strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub shared_buffers_mb: u64,
    pub effective_cache_size_mb: u64,
    pub maintenance_work_mem_mb: u64,
    pub work_mem_mb: u64,
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

    let pinned = inputs.pinned;
    let floors = inputs.primary_requires;
    let max_connections = pinned
        .max_connections
        .unwrap_or_else(|| max_connections(ram, workload))
        .max(floors.max_connections.unwrap_or(0));
    let shared_buffers_mb = pinned
        .shared_buffers_mb
        .unwrap_or_else(|| shared_buffers_mb(ram));
    let (max_parallel_workers, max_parallel_workers_per_gather, max_parallel_maintenance_workers) =
        match (parallel_workers(cpus), pinned.max_parallel_workers) {
            (formulas, None) => formulas,
            ((_, per_gather, maintenance), Some(user)) => {
                (user, per_gather.min(user), maintenance.min(user))
            }
        };
    let (wal, wal_capped) = wal_sizes_mb(workload, inputs.wal_free_mb);

    let formulas = Tuning {
        shared_buffers_mb,
        effective_cache_size_mb: effective_cache_size_mb(ram, shared_buffers_mb),
        maintenance_work_mem_mb: pinned
            .maintenance_work_mem_mb
            .unwrap_or_else(|| maintenance_work_mem_mb(ram, workload)),
        work_mem_mb: pinned
            .work_mem_mb
            .unwrap_or_else(|| work_mem_mb(ram, shared_buffers_mb, max_connections, workload)),
        max_connections,
        max_worker_processes: max_worker_processes(cpus, inputs.max_worker_processes)
            .max(floors.max_worker_processes.unwrap_or(0)),
        max_parallel_workers,
        max_parallel_workers_per_gather,
        max_parallel_maintenance_workers,
        wal_buffers_mb: wal_buffers_mb(shared_buffers_mb),
        io_workers: io_workers(cpus),
        min_wal_size_mb: wal.0,
        max_wal_size_mb: wal.1,
        random_page_cost: inputs.storage.random_page_cost(),
        effective_io_concurrency: inputs.storage.effective_io_concurrency(),
        maintenance_io_concurrency: inputs.storage.maintenance_io_concurrency(),
        default_statistics_target: workload.default_statistics_target(),
        budget: Budget::EMPTY,
        shm: ShmDecision::Unknown,
        wal_capped,
        pinned,
    };
    let fitted = budget::fit(ram, formulas, &pinned, &floors);
    let mut adapted = shm::adapt(inputs.shm_mb, fitted);
    if adapted.max_parallel_workers != fitted.max_parallel_workers {
        adapted.budget = budget::account(ram, &adapted, fitted.budget.reduced);
    }
    adapted
}

/// The workload's base connection count, scaled down on small machines where each backend's
/// overhead would crowd out the buffer cache.
pub fn max_connections(ram_mb: u64, workload: Workload) -> u32 {
    let base = workload.base_connections();
    let scaled = match ram_mb {
        r if r < 2048 => base * 50 / 100,
        r if r < 4096 => base * 70 / 100,
        r if r < 8192 => base * 85 / 100,
        _ => base,
    };
    scaled.max(MIN_CONNECTIONS)
}

/// Percentage of RAM given to `shared_buffers`: a quarter on small and medium machines, less on large
/// ones where the OS page cache does the job better than a huge buffer pool.
pub fn shared_buffers_ratio(ram_mb: u64) -> u64 {
    match ram_mb {
        r if r <= 8192 => 25,
        r if r <= 32768 => 20,
        _ => 15,
    }
}

pub fn shared_buffers_mb(ram_mb: u64) -> u64 {
    (ram_mb * shared_buffers_ratio(ram_mb) / 100)
        .clamp(SHARED_BUFFERS_MIN_MB, SHARED_BUFFERS_CAP_MB)
}

/// 70% of what is left once shared buffers and other processes (20% of RAM, at least 512 MB) are
/// accounted for, but never below twice the buffer pool.
pub fn effective_cache_size_mb(ram_mb: u64, shared_buffers_mb: u64) -> u64 {
    let other = (ram_mb * 20 / 100).max(512) as i64;
    let rest = (ram_mb as i64 - shared_buffers_mb as i64 - other) * 70 / 100;
    rest.max(2 * shared_buffers_mb as i64).max(0) as u64
}

pub fn maintenance_work_mem_mb(ram_mb: u64, workload: Workload) -> u64 {
    let share = if workload == Workload::Dw {
        ram_mb / 8
    } else {
        ram_mb / 16
    };
    share.clamp(MAINTENANCE_WORK_MEM_MIN_MB, MAINTENANCE_WORK_MEM_CAP_MB)
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

/// What remains after shared buffers, per-connection overhead and the OS reserve, spread over
/// four sort/hash operations per connection.
pub fn work_mem_mb(
    ram_mb: u64,
    shared_buffers_mb: u64,
    max_connections: u32,
    workload: Workload,
) -> u64 {
    let connections = u64::from(max_connections);
    let reserved = shared_buffers_mb + connections * CONNECTION_OVERHEAD_MB + OS_RESERVE_MB;
    let pool = ram_mb.saturating_sub(reserved).max(256);
    let per_operation = (pool / (connections * 4)).max(1);
    per_operation.min(work_mem_cap_mb(ram_mb, workload))
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

/// `(max_parallel_workers, max_parallel_workers_per_gather, max_parallel_maintenance_workers)`.
pub fn parallel_workers(cpus: u32) -> (u32, u32, u32) {
    if cpus >= 4 {
        (cpus, (cpus / 2).max(1), (cpus / 2).min(4))
    } else {
        (cpus, 1, 1)
    }
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

/// PostgreSQL 18 asynchronous I/O workers: one per four cores, 1..64.
pub fn io_workers(cpus: u32) -> u32 {
    (cpus / 4).clamp(1, 64)
}

#[cfg(test)]
mod tests;
