//! The memory budget: the worst case a set of settings allows, against the memory limit.
//!
//! Worst case = the shared memory (`shared_buffers`, `wal_buffers`, the rest of PostgreSQL's own and
//! what the preloaded libraries reserve) + the server's own processes + per connection (backend
//! overhead, page tables for the shared memory it maps, `temp_buffers`, and a query using `work_mem`
//! [`query_work_mem_factor`] times: a sort, a hash at `hash_mem_multiplier`, and what the executor
//! allocates around them) + the same for every parallel worker (no temporary tables there) + the
//! autovacuum workers at `autovacuum_work_mem` + one user maintenance operation (`CREATE INDEX`,
//! `VACUUM`) at `maintenance_work_mem` + with `wal_level=logical`, [`LOGICAL_DECODING_SESSIONS`]
//! decoding sessions at `logical_decoding_work_mem`.
//!
//! It must fit in the limit minus a safety margin ([`BUDGET_MARGIN_PERCENT`], at least
//! [`BUDGET_MARGIN_MIN_MB`]) left to the page cache and the kernel. When it does not, [`fit`] reduces
//! [`Knob`]s one after the other, each only as far as needed and never below its floor, in the
//! workload's order ([`reduction_order`]): `web` and `oltp` keep their connections and give up
//! `work_mem` first; `dw` and `mixed` keep their query memory and give up connections first (PgBouncer,
//! in the image and the stacks, multiplexes many clients over few connections). Then the parallel
//! workers, the background memory (autovacuum, logical decoding), `maintenance_work_mem`, JIT (whose
//! LLVM takes [`JIT_BACKEND_KB`] in every backend that compiles), and last `shared_buffers`. The connections are fitted against [`PARALLEL_SLOTS_RESERVED`] parallel workers,
//! whatever the CPU count, so that `max_connections` never depends on it (a standby must not end up
//! below its primary because it has more cores); the workers then get what is left. At 512 MB and above
//! the floors always fit (a property test checks the whole domain); below that `fits` is false and the
//! plan says so. A value the user set ([`Pinned`]) is never reduced: the others make room, and if they
//! cannot, `fits` is false too.
//!
//! The constants are calibrated from the worst-case benchmark (`cargo bench --bench proof`,
//! `docs/BENCHMARKS.md`): see `docs/performance.md` for how.

use super::{wal_buffers_mb, Pinned, PrimaryRequires, Tuning, Workload, SHARED_BUFFERS_MIN_MB};

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
/// `hash_mem_multiplier`, set explicitly (PostgreSQL's default) and counted: a hash table may use
/// this many times `work_mem`.
pub const HASH_MEM_MULTIPLIER: u64 = 2;
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
/// PostgreSQL 18's `autovacuum_max_workers` default; each may use `autovacuum_work_mem`.
pub const AUTOVACUUM_MAX_WORKERS: u64 = 3;
/// With `wal_level=logical`, this many decoding sessions (a change-data-capture consumer and a
/// logical replica, say) are counted at `logical_decoding_work_mem` each.
pub const LOGICAL_DECODING_SESSIONS: u64 = 2;
/// The connections are fitted as if this many parallel workers ran beside them, whatever the CPU
/// count; the workers get the rest (see the module documentation).
pub const PARALLEL_SLOTS_RESERVED: u64 = 2;

/// `work_mem` units one query of the worst case holds: a sort (1), a hash join at
/// [`HASH_MEM_MULTIPLIER`] and the two function scans feeding it (a tuplestore each), measured at
/// 5.2 x `work_mem` per session beyond the overhead above at a multiplier of 2; one more for rounding.
pub const fn query_work_mem_factor() -> u64 {
    1 + HASH_MEM_MULTIPLIER + 2 + 1
}

/// What the budget may reduce, in the order of [`Knob::ALL`] (the index of [`Reductions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    WorkMem,
    TempBuffers,
    MaxConnections,
    MaxParallelWorkers,
    AutovacuumWorkMem,
    LogicalDecodingWorkMem,
    MaintenanceWorkMem,
    /// JIT compilation (1 on, 0 off): LLVM takes [`JIT_BACKEND_KB`] in every backend that compiles.
    Jit,
    SharedBuffers,
}

impl Knob {
    pub const ALL: [Knob; KNOBS] = [
        Knob::WorkMem,
        Knob::TempBuffers,
        Knob::MaxConnections,
        Knob::MaxParallelWorkers,
        Knob::AutovacuumWorkMem,
        Knob::LogicalDecodingWorkMem,
        Knob::MaintenanceWorkMem,
        Knob::Jit,
        Knob::SharedBuffers,
    ];

    /// The setting's name.
    pub fn name(self) -> &'static str {
        match self {
            Knob::WorkMem => "work_mem",
            Knob::TempBuffers => "temp_buffers",
            Knob::MaxConnections => "max_connections",
            Knob::MaxParallelWorkers => "max_parallel_workers",
            Knob::AutovacuumWorkMem => "autovacuum_work_mem",
            Knob::LogicalDecodingWorkMem => "logical_decoding_work_mem",
            Knob::MaintenanceWorkMem => "maintenance_work_mem",
            Knob::Jit => "jit",
            Knob::SharedBuffers => "shared_buffers",
        }
    }

    /// The unit a value of this knob is shown in (`""` for a count).
    pub fn unit(self) -> &'static str {
        match self {
            Knob::MaxConnections | Knob::MaxParallelWorkers | Knob::Jit => "",
            _ => "MB",
        }
    }

    /// The lowest value the budget reduces it to.
    fn floor(self, floors: &PrimaryRequires, workload: Workload) -> u64 {
        match self {
            Knob::WorkMem | Knob::TempBuffers => 1,
            // A standby never goes below what its primary requires.
            Knob::MaxConnections => u64::from(
                workload
                    .min_connections()
                    .max(floors.max_connections.unwrap_or(0)),
            ),
            Knob::MaxParallelWorkers => 0,
            Knob::AutovacuumWorkMem | Knob::LogicalDecodingWorkMem => 8,
            Knob::MaintenanceWorkMem => BUDGET_MAINTENANCE_FLOOR_MB,
            Knob::Jit => 0,
            Knob::SharedBuffers => SHARED_BUFFERS_MIN_MB,
        }
    }

    fn pinned(self, p: &Pinned) -> bool {
        p.get(self).is_some()
    }
}

impl Pinned {
    /// The user's value of `knob`, in the knob's unit (`jit`: 1 or 0).
    pub fn get(&self, knob: Knob) -> Option<u64> {
        match knob {
            Knob::WorkMem => self.work_mem_mb,
            Knob::TempBuffers => self.temp_buffers_mb,
            Knob::MaxConnections => self.max_connections.map(u64::from),
            Knob::MaxParallelWorkers => self.max_parallel_workers.map(u64::from),
            Knob::AutovacuumWorkMem => self.autovacuum_work_mem_mb,
            Knob::LogicalDecodingWorkMem => self.logical_decoding_work_mem_mb,
            Knob::MaintenanceWorkMem => self.maintenance_work_mem_mb,
            Knob::Jit => self.jit.map(u64::from),
            Knob::SharedBuffers => self.shared_buffers_mb,
        }
    }
}

impl Tuning {
    /// The value of `knob` in these settings, in the knob's unit (`jit`: 1 or 0).
    pub fn knob(&self, knob: Knob) -> u64 {
        match knob {
            Knob::WorkMem => self.work_mem_mb,
            Knob::TempBuffers => self.temp_buffers_mb,
            Knob::MaxConnections => u64::from(self.max_connections),
            Knob::MaxParallelWorkers => u64::from(self.max_parallel_workers),
            Knob::AutovacuumWorkMem => self.autovacuum_work_mem_mb,
            Knob::LogicalDecodingWorkMem => self.logical_decoding_work_mem_mb,
            Knob::MaintenanceWorkMem => self.maintenance_work_mem_mb,
            Knob::Jit => u64::from(self.jit),
            Knob::SharedBuffers => self.shared_buffers_mb,
        }
    }
}

/// The order in which `workload` gives things up (see the module documentation): its own first
/// three, then the rest in [`Knob::ALL`]'s order.
pub fn reduction_order(workload: Workload) -> [Knob; KNOBS] {
    use Knob::*;
    let first = match workload {
        Workload::Web | Workload::Oltp => [WorkMem, TempBuffers, MaxConnections],
        Workload::Dw | Workload::Mixed => [MaxConnections, WorkMem, TempBuffers],
    };
    let mut order = Knob::ALL;
    order[..3].copy_from_slice(&first);
    order
}

/// How many knobs [`Knob::ALL`] has.
pub const KNOBS: usize = 9;

/// LLVM's memory in a backend that JIT-compiles its query (module, optimiser, emitted code): measured
/// as the difference between the jit-on and jit-off cells of the worst-case grid (about 10 MB per
/// session at 512 MB and 1 GB, `docs/benchmarks/notes.md`).
pub const JIT_BACKEND_KB: u64 = 10 * 1024;

/// `maintenance_work_mem` is not reduced below this to fit the budget.
pub const BUDGET_MAINTENANCE_FLOOR_MB: u64 = 16;

/// What [`fit`] had to reduce: per [`Knob`] (in [`Knob::ALL`]'s order), the formula's value it
/// started from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reductions([Option<u64>; KNOBS]);

impl Reductions {
    pub fn any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }

    /// The value `knob` had before the budget reduced it, if it did.
    pub fn from(&self, knob: Knob) -> Option<u64> {
        self.0[knob as usize]
    }

    fn record(&mut self, knob: Knob, from: u64) {
        self.0[knob as usize] = Some(from);
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
    /// What the preloaded libraries reserve in shared memory (from the manifest).
    pub preload_shared_mb: u64,
    pub server_processes_mb: u64,
    /// `max_connections` x per-connection overhead.
    pub connections_mb: u64,
    /// `max_connections` x `temp_buffers`.
    pub temp_buffers_mb: u64,
    /// `max_connections` x [`query_work_mem_factor`] x `work_mem`.
    pub queries_mb: u64,
    /// `max_parallel_workers` x (overhead + factor x `work_mem`).
    pub parallel_workers_mb: u64,
    /// With `jit=on`, (`max_connections` + `max_parallel_workers`) x [`JIT_BACKEND_KB`].
    pub jit_mb: u64,
    /// [`AUTOVACUUM_MAX_WORKERS`] x (overhead + `autovacuum_work_mem`).
    pub autovacuum_mb: u64,
    /// [`LOGICAL_DECODING_SESSIONS`] x `logical_decoding_work_mem` (0 below `wal_level=logical`).
    pub logical_decoding_mb: u64,
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
        preload_shared_mb: 0,
        server_processes_mb: 0,
        connections_mb: 0,
        temp_buffers_mb: 0,
        queries_mb: 0,
        parallel_workers_mb: 0,
        jit_mb: 0,
        autovacuum_mb: 0,
        logical_decoding_mb: 0,
        maintenance_mb: 0,
        total_mb: 0,
        per_connection_kb: 0,
        fits: false,
        reduced: Reductions([None; KNOBS]),
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

/// The settings the budget depends on, by [`Knob`] (in [`Knob::ALL`]'s order), and what does not
/// change.
#[derive(Clone, Copy)]
struct Knobs {
    values: [u64; KNOBS],
    preload_shared_mb: u64,
    logical: bool,
}

impl Knobs {
    fn of(t: &Tuning, preload_shared_mb: u64, logical: bool) -> Knobs {
        Knobs {
            values: Knob::ALL.map(|knob| t.knob(knob)),
            preload_shared_mb,
            logical,
        }
    }

    fn get(&self, knob: Knob) -> u64 {
        self.values[knob as usize]
    }

    fn with(mut self, knob: Knob, value: u64) -> Knobs {
        self.values[knob as usize] = value;
        self
    }

    fn logical_sessions(&self) -> u64 {
        if self.logical {
            LOGICAL_DECODING_SESSIONS
        } else {
            0
        }
    }

    /// The worst case, in kB.
    fn total_kb(&self) -> u64 {
        let sb = self.get(Knob::SharedBuffers);
        let per_connection = per_connection_kb(sb);
        // Every backend that runs a query may compile it: connections and parallel workers alike.
        let query = query_work_mem_factor() * self.get(Knob::WorkMem) * 1024
            + self.get(Knob::Jit) * JIT_BACKEND_KB;
        let shared = sb + wal_buffers_mb(sb) + shared_other_mb(sb) + self.preload_shared_mb;
        (shared + SERVER_PROCESSES_MB) * 1024
            + self.get(Knob::MaxConnections)
                * (per_connection + self.get(Knob::TempBuffers) * 1024 + query)
            + self.get(Knob::MaxParallelWorkers) * (per_connection + query)
            + AUTOVACUUM_MAX_WORKERS * (per_connection + self.get(Knob::AutovacuumWorkMem) * 1024)
            + self.logical_sessions() * self.get(Knob::LogicalDecodingWorkMem) * 1024
            + self.get(Knob::MaintenanceWorkMem) * 1024
    }
}

fn mb_up(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

/// The budget of `t` as it stands, for a limit of `ram_mb`.
pub fn account(
    ram_mb: u64,
    t: &Tuning,
    preload_shared_mb: u64,
    logical: bool,
    reduced: Reductions,
) -> Budget {
    let k = Knobs::of(t, preload_shared_mb, logical);
    let sb = t.shared_buffers_mb;
    let per_connection = per_connection_kb(sb);
    let connections = u64::from(t.max_connections);
    let query_mb = query_work_mem_factor() * t.work_mem_mb;
    let total_kb = k.total_kb();
    let margin = margin_mb(ram_mb);
    Budget {
        limit_mb: ram_mb,
        margin_mb: margin,
        shared_buffers_mb: sb,
        wal_buffers_mb: wal_buffers_mb(sb),
        shared_other_mb: shared_other_mb(sb),
        preload_shared_mb,
        server_processes_mb: SERVER_PROCESSES_MB,
        connections_mb: mb_up(connections * per_connection),
        temp_buffers_mb: connections * t.temp_buffers_mb,
        queries_mb: connections * query_mb,
        parallel_workers_mb: mb_up(
            u64::from(t.max_parallel_workers) * (per_connection + query_mb * 1024),
        ),
        jit_mb: mb_up(
            u64::from(t.jit) * (connections + u64::from(t.max_parallel_workers)) * JIT_BACKEND_KB,
        ),
        autovacuum_mb: mb_up(
            AUTOVACUUM_MAX_WORKERS * (t.autovacuum_work_mem_mb * 1024 + per_connection),
        ),
        logical_decoding_mb: k.logical_sessions() * t.logical_decoding_work_mem_mb,
        maintenance_mb: t.maintenance_work_mem_mb,
        total_mb: mb_up(total_kb),
        per_connection_kb: per_connection,
        fits: total_kb <= ram_mb.saturating_sub(margin) * 1024,
        reduced,
    }
}

/// What [`fit`] needs beside the settings.
pub struct FitInputs<'a> {
    pub ram_mb: u64,
    pub workload: Workload,
    pub preload_shared_mb: u64,
    pub logical: bool,
    pub pinned: &'a Pinned,
    pub floors: &'a PrimaryRequires,
}

/// Reduces the formulas' settings until the worst case fits (see the module documentation for the
/// order and the floors) and records the budget in the result. Pure, no loops over memory sizes:
/// each step solves the worst case, linear in the knob it reduces, for the largest value that fits.
pub fn fit(mut t: Tuning, inputs: &FitInputs<'_>) -> Tuning {
    let FitInputs {
        ram_mb,
        workload,
        preload_shared_mb,
        logical,
        pinned,
        floors,
    } = *inputs;
    let formulas = t;
    let allowed_kb = ram_mb.saturating_sub(margin_mb(ram_mb)) * 1024;
    let mut k = Knobs::of(&t, preload_shared_mb, logical);
    let mut reduced = Reductions::default();

    for (step, knob) in reduction_order(workload).into_iter().enumerate() {
        // The connections and their query memory (the workload's first three knobs) are fitted
        // beside a fixed number of parallel workers, so that they do not depend on the CPU count
        // and never shrink with more memory (a user's own max_parallel_workers stays what it is);
        // more workers get what is left. Whether they fit is asked of the same probe: with the
        // real worker count, one CPU would fit earlier than two.
        let beside_reserved_workers = step < 3;
        let probe = if !beside_reserved_workers || Knob::MaxParallelWorkers.pinned(pinned) {
            k
        } else {
            k.with(Knob::MaxParallelWorkers, PARALLEL_SLOTS_RESERVED)
        };
        if probe.total_kb() <= allowed_kb {
            if beside_reserved_workers {
                continue;
            }
            break;
        }
        if knob.pinned(pinned) {
            continue;
        }
        let current = k.get(knob);
        let floor = knob.floor(floors, workload).min(current);
        let value = if knob == Knob::SharedBuffers {
            // Less shared memory also means smaller page tables and WAL buffers, so removing the
            // excess from shared_buffers alone is enough.
            current.saturating_sub(mb_up(k.total_kb() - allowed_kb))
        } else {
            let base = probe.with(knob, 0).total_kb();
            let per_unit = probe.with(knob, 1).total_kb() - base;
            match per_unit {
                0 => current,
                per_unit => allowed_kb.saturating_sub(base) / per_unit,
            }
        };
        let value = value.clamp(floor, current);
        if value < current {
            reduced.record(knob, current);
            k = k.with(knob, value);
        }
    }

    t.work_mem_mb = k.get(Knob::WorkMem);
    t.temp_buffers_mb = k.get(Knob::TempBuffers);
    t.max_connections = k.get(Knob::MaxConnections) as u32;
    t.autovacuum_work_mem_mb = k.get(Knob::AutovacuumWorkMem);
    t.logical_decoding_work_mem_mb = k.get(Knob::LogicalDecodingWorkMem);
    t.maintenance_work_mem_mb = k.get(Knob::MaintenanceWorkMem);
    t.jit = k.get(Knob::Jit) == 1;
    if k.get(Knob::SharedBuffers) != t.shared_buffers_mb {
        t.shared_buffers_mb = k.get(Knob::SharedBuffers);
        t.wal_buffers_mb = wal_buffers_mb(t.shared_buffers_mb);
    }
    let workers = k.get(Knob::MaxParallelWorkers) as u32;
    t.max_parallel_workers = workers;
    t.max_parallel_workers_per_gather = t.max_parallel_workers_per_gather.min(workers);
    t.max_parallel_maintenance_workers = t.max_parallel_maintenance_workers.min(workers);
    t.budget = account(ram_mb, &t, preload_shared_mb, logical, reduced);
    if !t.budget.fits && *pinned != Pinned::default() {
        // The user's own values cannot fit whatever the rest gives up: shrinking the rest would cost
        // performance and still leave the worst case over the limit. Keep the formulas' values and
        // let the plan say by how much the user's exceed it.
        let mut kept = formulas;
        kept.budget = account(
            ram_mb,
            &kept,
            preload_shared_mb,
            logical,
            Reductions::default(),
        );
        return kept;
    }
    t
}
