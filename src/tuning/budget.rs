//! The memory budget: the worst case a set of settings allows, against the memory limit.
//!
//! Worst case = `shared_buffers` + `wal_buffers` + the rest of the shared memory + the server's own
//! processes + per connection (backend overhead + page tables for the shared memory it maps) +
//! per connection a query using `work_mem` [`QUERY_WORK_MEM_FACTOR`] times (a sort, and a hash at
//! `hash_mem_multiplier` 2, plus what the executor allocates around them) + the same for every
//! parallel worker + autovacuum workers at `maintenance_work_mem` (PostgreSQL 18:
//! `autovacuum_max_workers` 3, `autovacuum_work_mem` -1) + one user maintenance operation
//! (`CREATE INDEX`, `VACUUM`) at `maintenance_work_mem`.
//!
//! It must fit in the limit minus a safety margin ([`BUDGET_MARGIN_PERCENT`], at least
//! [`BUDGET_MARGIN_MIN_MB`]) left to the page cache and the kernel. When it does not, [`fit`]
//! reduces, in this order and each only as far as needed: `work_mem` (floor 1 MB), `max_connections`
//! (floor [`MIN_CONNECTIONS`]), `max_parallel_workers` (floor 0), `maintenance_work_mem` (floor
//! [`BUDGET_MAINTENANCE_FLOOR_MB`]), `shared_buffers` (floor [`SHARED_BUFFERS_MIN_MB`]). At 512 MB and
//! above the floors always fit (a property test checks the whole domain), so the last resort never
//! leaves the budget over the limit; below that `fits` is false and the plan says so. A value the user
//! set ([`Pinned`]) is never reduced: the others make room, and if they cannot, `fits` is false too.
//!
//! The constants are calibrated from the worst-case benchmark (`cargo bench --bench proof`,
//! `docs/BENCHMARKS.md`): see `docs/performance.md` for how.

use super::{
    wal_buffers_mb, Pinned, PrimaryRequires, Tuning, MIN_CONNECTIONS, SHARED_BUFFERS_MIN_MB,
};

/// Safety margin: this share of the limit stays free for the page cache and the kernel...
pub const BUDGET_MARGIN_PERCENT: u64 = 10;
/// ...and at least this much.
pub const BUDGET_MARGIN_MIN_MB: u64 = 32;
/// Private memory of a backend that has run ordinary queries (catalog and plan caches), measured at
/// 1.8 MB per idle connection with `pg_stat_statements` and `auto_explain`; plus about 0.5 MB of
/// executor state in the worst-case query beyond its `work_mem` units, and the ~70 kB of shared
/// memory each `max_connections` slot adds (PGPROC, lock table entries).
pub const BACKEND_OVERHEAD_KB: u64 = 2560;
/// A backend maps the shared memory it touches: 8 bytes of page table per 4 KiB page, so at worst
/// `shared_buffers / 512` per process.
pub const PAGE_TABLE_DIVISOR: u64 = 512;
/// `work_mem` units one query of the worst case holds. The benchmark's query holds five: a sort
/// (1), a hash join (`hash_mem_multiplier` 2) and the two function scans feeding it (a tuplestore
/// each); measured at 5.2 x `work_mem` per session beyond the overhead above. Rounded up to 6.
pub const QUERY_WORK_MEM_FACTOR: u64 = 6;
/// Shared memory beyond `shared_buffers` and `wal_buffers` (buffer descriptors and mapping table,
/// statistics, `pg_stat_statements`...): `shared_memory_size` minus both, less the per-connection
/// part, was 13, 17, 25 and 41 MB at 128, 256, 512 and 1024 MB of `shared_buffers`: this much...
pub const SHARED_OTHER_MB: u64 = 10;
/// ...plus `shared_buffers` divided by this.
pub const SHARED_OTHER_DIVISOR: u64 = 32;
/// The postmaster and its auxiliary processes (checkpointer, background writer, WAL writer,
/// autovacuum launcher, I/O workers, logical replication launcher), private memory: too small to
/// see next to shared memory in the measurements (the idle server's unreclaimable memory was within
/// 1 % of `shared_memory_size`); a fixed allowance.
pub const SERVER_PROCESSES_MB: u64 = 16;
/// PostgreSQL 18's `autovacuum_max_workers` default; each may use `maintenance_work_mem`
/// (`autovacuum_work_mem` = -1).
pub const AUTOVACUUM_MAX_WORKERS: u64 = 3;
/// `maintenance_work_mem` is not reduced below this to fit the budget.
pub const BUDGET_MAINTENANCE_FLOOR_MB: u64 = 16;

/// What [`fit`] had to reduce, with the formula values it started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reductions {
    pub work_mem_from: Option<u64>,
    pub max_connections_from: Option<u32>,
    pub max_parallel_workers_from: Option<u32>,
    pub maintenance_work_mem_from: Option<u64>,
    pub shared_buffers_from: Option<u64>,
}

impl Reductions {
    pub fn any(&self) -> bool {
        *self != Reductions::default()
    }
}

/// The worst-case memory of a set of settings, each term in MB (rounded up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit_mb: u64,
    pub margin_mb: u64,
    pub shared_buffers_mb: u64,
    pub wal_buffers_mb: u64,
    pub shared_other_mb: u64,
    pub server_processes_mb: u64,
    /// `max_connections` x per-connection overhead.
    pub connections_mb: u64,
    /// `max_connections` x [`QUERY_WORK_MEM_FACTOR`] x `work_mem`.
    pub queries_mb: u64,
    /// `max_parallel_workers` x (overhead + factor x `work_mem`).
    pub parallel_workers_mb: u64,
    /// [`AUTOVACUUM_MAX_WORKERS`] x (overhead + `maintenance_work_mem`).
    pub autovacuum_mb: u64,
    /// One user maintenance operation at `maintenance_work_mem`.
    pub maintenance_mb: u64,
    pub total_mb: u64,
    /// Per-connection overhead used above, in kB.
    pub per_connection_kb: u64,
    /// Whether the total fits in the limit minus the margin.
    pub fits: bool,
    pub reduced: Reductions,
}

impl Budget {
    /// A placeholder before [`fit`] has run.
    pub const EMPTY: Budget = Budget {
        limit_mb: 0,
        margin_mb: 0,
        shared_buffers_mb: 0,
        wal_buffers_mb: 0,
        shared_other_mb: 0,
        server_processes_mb: 0,
        connections_mb: 0,
        queries_mb: 0,
        parallel_workers_mb: 0,
        autovacuum_mb: 0,
        maintenance_mb: 0,
        total_mb: 0,
        per_connection_kb: 0,
        fits: false,
        reduced: Reductions {
            work_mem_from: None,
            max_connections_from: None,
            max_parallel_workers_from: None,
            maintenance_work_mem_from: None,
            shared_buffers_from: None,
        },
    };

    /// What may be used: the limit minus the margin.
    pub fn allowed_mb(&self) -> u64 {
        self.limit_mb.saturating_sub(self.margin_mb)
    }
}

pub fn margin_mb(ram_mb: u64) -> u64 {
    (ram_mb * BUDGET_MARGIN_PERCENT / 100).max(BUDGET_MARGIN_MIN_MB)
}

/// Shared memory other than the buffers and WAL buffers, in MB.
pub fn shared_other_mb(shared_buffers_mb: u64) -> u64 {
    SHARED_OTHER_MB + shared_buffers_mb / SHARED_OTHER_DIVISOR
}

/// Backend overhead plus the page tables for `shared_buffers`, in kB.
pub fn per_connection_kb(shared_buffers_mb: u64) -> u64 {
    BACKEND_OVERHEAD_KB + shared_buffers_mb * 1024 / PAGE_TABLE_DIVISOR
}

/// The settings the budget depends on.
#[derive(Clone, Copy)]
struct Knobs {
    shared_buffers_mb: u64,
    work_mem_mb: u64,
    maintenance_mb: u64,
    connections: u64,
    parallel_workers: u64,
}

impl Knobs {
    fn of(t: &Tuning) -> Knobs {
        Knobs {
            shared_buffers_mb: t.shared_buffers_mb,
            work_mem_mb: t.work_mem_mb,
            maintenance_mb: t.maintenance_work_mem_mb,
            connections: u64::from(t.max_connections),
            parallel_workers: u64::from(t.max_parallel_workers),
        }
    }

    fn per_slot_kb(&self) -> u64 {
        per_connection_kb(self.shared_buffers_mb) + QUERY_WORK_MEM_FACTOR * self.work_mem_mb * 1024
    }

    /// Everything except the connection and parallel-worker slots, in kB.
    fn fixed_kb(&self) -> u64 {
        let shared = self.shared_buffers_mb
            + wal_buffers_mb(self.shared_buffers_mb)
            + shared_other_mb(self.shared_buffers_mb)
            + SERVER_PROCESSES_MB;
        shared * 1024
            + (AUTOVACUUM_MAX_WORKERS + 1) * self.maintenance_mb * 1024
            + AUTOVACUUM_MAX_WORKERS * per_connection_kb(self.shared_buffers_mb)
    }

    fn total_kb(&self) -> u64 {
        self.fixed_kb() + (self.connections + self.parallel_workers) * self.per_slot_kb()
    }
}

fn mb_up(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

/// The budget of `t` as it stands, for a limit of `ram_mb`.
pub fn account(ram_mb: u64, t: &Tuning, reduced: Reductions) -> Budget {
    let k = Knobs::of(t);
    let per_connection = per_connection_kb(k.shared_buffers_mb);
    let total_kb = k.total_kb();
    let margin = margin_mb(ram_mb);
    Budget {
        limit_mb: ram_mb,
        margin_mb: margin,
        shared_buffers_mb: k.shared_buffers_mb,
        wal_buffers_mb: t.wal_buffers_mb,
        shared_other_mb: shared_other_mb(k.shared_buffers_mb),
        server_processes_mb: SERVER_PROCESSES_MB,
        connections_mb: mb_up(k.connections * per_connection),
        queries_mb: k.connections * QUERY_WORK_MEM_FACTOR * k.work_mem_mb,
        parallel_workers_mb: mb_up(k.parallel_workers * k.per_slot_kb()),
        autovacuum_mb: mb_up(AUTOVACUUM_MAX_WORKERS * (k.maintenance_mb * 1024 + per_connection)),
        maintenance_mb: k.maintenance_mb,
        total_mb: mb_up(total_kb),
        per_connection_kb: per_connection,
        fits: total_kb <= ram_mb.saturating_sub(margin) * 1024,
        reduced,
    }
}

/// Reduces the formulas' settings until the worst case fits (see the module documentation for the
/// order and the floors) and records the budget in the result. Pure, no loops over memory sizes:
/// each step solves for the largest value that fits.
pub fn fit(ram_mb: u64, mut t: Tuning, pinned: &Pinned, floors: &PrimaryRequires) -> Tuning {
    let formulas = t;
    let allowed_kb = ram_mb.saturating_sub(margin_mb(ram_mb)) * 1024;
    let mut k = Knobs::of(&t);
    let mut reduced = Reductions::default();

    // 1. work_mem, down to 1 MB.
    if k.total_kb() > allowed_kb && pinned.work_mem_mb.is_none() {
        let slots = k.connections + k.parallel_workers;
        let room_per_slot = allowed_kb.saturating_sub(k.fixed_kb()) / slots.max(1);
        let wanted = room_per_slot.saturating_sub(per_connection_kb(k.shared_buffers_mb))
            / (QUERY_WORK_MEM_FACTOR * 1024);
        let work_mem = wanted.clamp(1, k.work_mem_mb.max(1));
        if work_mem < k.work_mem_mb {
            reduced.work_mem_from = Some(k.work_mem_mb);
            k.work_mem_mb = work_mem;
        }
    }
    // 2. max_connections, down to MIN_CONNECTIONS.
    if k.total_kb() > allowed_kb && pinned.max_connections.is_none() {
        let slots = allowed_kb.saturating_sub(k.fixed_kb()) / k.per_slot_kb().max(1);
        // Never below what a standby's primary requires.
        let floor = MIN_CONNECTIONS.max(floors.max_connections.unwrap_or(0));
        let connections = slots
            .saturating_sub(k.parallel_workers)
            .clamp(u64::from(floor), k.connections.max(u64::from(floor)));
        if connections < k.connections {
            reduced.max_connections_from = Some(t.max_connections);
            k.connections = connections;
        }
    }
    // 3. max_parallel_workers, down to 0.
    if k.total_kb() > allowed_kb && pinned.max_parallel_workers.is_none() {
        let slots = allowed_kb.saturating_sub(k.fixed_kb()) / k.per_slot_kb().max(1);
        let workers = slots.saturating_sub(k.connections).min(k.parallel_workers);
        if workers < k.parallel_workers {
            reduced.max_parallel_workers_from = Some(t.max_parallel_workers);
            k.parallel_workers = workers;
        }
    }
    // 4. maintenance_work_mem, down to the floor.
    if k.total_kb() > allowed_kb && pinned.maintenance_work_mem_mb.is_none() {
        let without = Knobs {
            maintenance_mb: 0,
            ..k
        };
        let room = allowed_kb.saturating_sub(without.total_kb());
        let maintenance = (room / ((AUTOVACUUM_MAX_WORKERS + 1) * 1024))
            .clamp(BUDGET_MAINTENANCE_FLOOR_MB, k.maintenance_mb.max(1));
        if maintenance < k.maintenance_mb {
            reduced.maintenance_work_mem_from = Some(k.maintenance_mb);
            k.maintenance_mb = maintenance;
        }
    }
    // 5. shared_buffers, down to the floor. Less shared memory also means smaller page tables and WAL
    // buffers, so removing the excess from shared_buffers alone is enough.
    if k.total_kb() > allowed_kb && pinned.shared_buffers_mb.is_none() {
        let excess_mb = mb_up(k.total_kb() - allowed_kb);
        let shared_buffers = k
            .shared_buffers_mb
            .saturating_sub(excess_mb)
            .clamp(SHARED_BUFFERS_MIN_MB, k.shared_buffers_mb.max(1));
        if shared_buffers < k.shared_buffers_mb {
            reduced.shared_buffers_from = Some(k.shared_buffers_mb);
            k.shared_buffers_mb = shared_buffers;
        }
    }

    t.work_mem_mb = k.work_mem_mb;
    t.max_connections = k.connections as u32;
    t.maintenance_work_mem_mb = k.maintenance_mb;
    if k.shared_buffers_mb != t.shared_buffers_mb {
        t.shared_buffers_mb = k.shared_buffers_mb;
        t.wal_buffers_mb = wal_buffers_mb(k.shared_buffers_mb);
    }
    let workers = k.parallel_workers as u32;
    t.max_parallel_workers = workers;
    t.max_parallel_workers_per_gather = t.max_parallel_workers_per_gather.min(workers);
    t.max_parallel_maintenance_workers = t.max_parallel_maintenance_workers.min(workers);
    t.budget = account(ram_mb, &t, reduced);
    if !t.budget.fits && *pinned != Pinned::default() {
        // The user's own values cannot fit whatever the rest gives up: shrinking the rest would cost
        // performance and still leave the worst case over the limit. Keep the formulas' values and
        // let the plan say by how much the user's exceed it.
        let mut kept = formulas;
        kept.budget = account(ram_mb, &kept, Reductions::default());
        return kept;
    }
    t
}
