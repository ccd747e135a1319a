//! `/dev/shm` and parallel query.
//!
//! With `dynamic_shared_memory_type=posix` (PostgreSQL's default on Linux) every parallel query puts
//! its shared state in `/dev/shm`: tuple queues, and above all the shared hash table of a parallel
//! hash join, which may grow to `work_mem` x `hash_mem_multiplier` (2) per participant. Docker gives
//! containers a 64 MB `/dev/shm` by default; past it, queries fail with "could not resize shared
//! memory segment ... No space left on device". When the need exceeds the size, [`adapt`] lowers
//! `max_parallel_workers` to what fits, and when not even one worker fits it keeps the workers and
//! switches to `dynamic_shared_memory_type=mmap` (files under `PGDATA/pg_dynshmem`).

use super::{Tuning, HASH_MEM_MULTIPLIER};

/// Fixed part of the need: tuple queues, DSA control, the statistics and session segments.
pub const DSM_BASE_MB: u64 = 8;

/// What the size of `/dev/shm` made of parallel query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmDecision {
    /// `/dev/shm` could not be measured: nothing changed.
    Unknown,
    /// Large enough for `needed_mb`.
    Fits { shm_mb: u64, needed_mb: u64 },
    /// `max_parallel_workers` lowered from `from` so that the need fits.
    FewerWorkers {
        shm_mb: u64,
        needed_mb: u64,
        from: u32,
    },
    /// Not even one worker fits: `dynamic_shared_memory_type=mmap`.
    Mmap { shm_mb: u64, needed_mb: u64 },
}

/// The `/dev/shm` the parallel queries of `workers` workers may need at `work_mem_mb`: each worker and
/// at most as many leaders, each with a shared hash table at `hash_mem`.
pub fn dsm_needed_mb(workers: u32, work_mem_mb: u64) -> u64 {
    if workers == 0 {
        return 0;
    }
    DSM_BASE_MB + 2 * u64::from(workers) * work_mem_mb * HASH_MEM_MULTIPLIER
}

/// Adapts the parallel settings of `t` to a `/dev/shm` of `shm_mb`. Pure.
pub fn adapt(shm_mb: Option<u64>, mut t: Tuning) -> Tuning {
    let Some(shm_mb) = shm_mb else {
        t.shm = ShmDecision::Unknown;
        return t;
    };
    let needed_mb = dsm_needed_mb(t.max_parallel_workers, t.work_mem_mb);
    if needed_mb <= shm_mb {
        t.shm = ShmDecision::Fits { shm_mb, needed_mb };
        return t;
    }
    let per_worker = 2 * t.work_mem_mb.max(1) * HASH_MEM_MULTIPLIER;
    let workers = (shm_mb.saturating_sub(DSM_BASE_MB) / per_worker)
        .min(u64::from(t.max_parallel_workers)) as u32;
    if workers >= 1 {
        let from = t.max_parallel_workers;
        t.max_parallel_workers = workers;
        t.max_parallel_workers_per_gather = t.max_parallel_workers_per_gather.min(workers);
        t.max_parallel_maintenance_workers = t.max_parallel_maintenance_workers.min(workers);
        t.shm = ShmDecision::FewerWorkers {
            shm_mb,
            needed_mb,
            from,
        };
    } else {
        t.shm = ShmDecision::Mmap { shm_mb, needed_mb };
    }
    t
}

impl ShmDecision {
    /// Whether the plan must pass `dynamic_shared_memory_type=mmap`.
    pub fn uses_mmap(self) -> bool {
        matches!(self, ShmDecision::Mmap { .. })
    }
}
