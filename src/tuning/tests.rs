//! Formula tables at every tier boundary, every workload × storage, and property tests over the whole
//! input domain.

use super::*;
use proptest::prelude::*;

fn inputs(memory_mb: u64, workload: Workload) -> Inputs {
    Inputs {
        memory_mb,
        cpus: 2,
        workload,
        storage: Storage::Ssd,
        max_worker_processes: None,
        shm_mb: None,
        wal_free_mb: None,
        pinned: Default::default(),
        primary_requires: Default::default(),
        preload_shared_mb: 0,
        wal_level: WalLevel::Replica,
        jit_provider: true,
    }
}

/// The formula's value of a knob: what the budget started from.
fn formula(t: &Tuning, knob: Knob, value: u64) -> u64 {
    t.budget.reduced.from(knob).unwrap_or(value)
}

/// (RAM, shared_buffers, effective_cache_size, maintenance_work_mem, autovacuum_work_mem, work_mem)
/// of the `web` formulas, worked out by hand at every tier boundary, BEFORE the memory budget (the
/// budget's starting values, `budget.reduced`).
const WEB_TIERS: &[(u64, u64, u64, u64, u64, u64)] = &[
    (512, 128, 384, 64, 64, 4),
    (2047, 511, 1535, 64, 64, 7),
    (2048, 512, 1536, 64, 64, 8),
    (8191, 2047, 6143, 64, 127, 31),
    (8192, 2048, 6144, 64, 128, 32),
    // Past 8 GB a fifth of the rest: 8193 MB gets no less than 8192 MB (the old tiers gave 1638).
    (8193, 2048, 6144, 64, 128, 32),
    (16384, 2048 + 1638, 12288, 128, 256, 32),
    (32768, 2048 + 4915, 24576, 256, 512, 32),
    (32769, 2048 + 4915, 24576, 256, 512, 32),
    (1_048_576, 32768, 786_432, 2048, 512, 32),
];

#[test]
fn web_tiers_match_the_formulas() {
    for &(ram, sb, ecs, mwm, avwm, wm) in WEB_TIERS {
        let t = compute(&inputs(ram, Workload::Web));
        assert_eq!(
            (
                formula(&t, Knob::SharedBuffers, t.shared_buffers_mb),
                t.effective_cache_size_mb,
                formula(&t, Knob::MaintenanceWorkMem, t.maintenance_work_mem_mb),
                formula(&t, Knob::AutovacuumWorkMem, t.autovacuum_work_mem_mb),
                formula(&t, Knob::WorkMem, t.work_mem_mb),
            ),
            (sb, ecs, mwm, avwm, wm),
            "{ram} MB"
        );
        assert_eq!(
            formula(&t, Knob::MaxConnections, u64::from(t.max_connections)),
            200
        );
    }
}

/// Worked by hand from `budget.rs` at 8192 MB, `web`, 2 CPUs, no preloaded memory: shared memory
/// 2048 + 16 + (10 + 2048/32) + 16 server = 2154 MB; autovacuum 3 x (6.5 MB backend and page
/// tables + 128 MB) = 403.5 MB; maintenance 64 MB: 2621.5 MB fixed of the 7373 MB allowed. 200
/// connections at 6.5 + 8 MB (temp_buffers) and 2 workers at 6.5 MB take 2913 MB, leaving 1838.5 MB
/// for 202 x 6 work_mem units: 1 MB (2 would need 2424 MB). Nothing else is reduced.
#[test]
fn the_budget_at_eight_gigabytes_by_hand() {
    let t = compute(&inputs(8192, Workload::Web));
    assert_eq!(t.work_mem_mb, 1);
    assert_eq!(t.budget.reduced.from(Knob::WorkMem), Some(32));
    assert_eq!(t.max_connections, 200);
    assert_eq!(t.temp_buffers_mb, 8);
    assert_eq!(t.max_parallel_workers, 2);
    // 2621.5 + 2913 + 1212, rounded up.
    assert_eq!(t.budget.total_mb, 6747);
    assert!(t.budget.fits);
    // dw at the same size keeps its query memory and gives up connections first (to its floor of
    // 10), then work_mem. With jit on, each of the 12 slots also counts 10 MB of LLVM: 10 x (6.5 + 8
    // + 10 + 6 w) + 2 x (6.5 + 10 + 6 w) within 7373 - (2154 + 403.5 + 128 maintenance) = 4687.5 MB:
    // 278 + 72 w, so w = 61, and temp_buffers keeps its 8 MB.
    let dw = compute(&inputs(8192, Workload::Dw));
    assert!(dw.jit);
    assert_eq!(dw.max_connections, Workload::Dw.min_connections());
    assert_eq!(dw.max_connections, 10);
    assert_eq!(dw.budget.reduced.from(Knob::MaxConnections), Some(100));
    assert_eq!(dw.temp_buffers_mb, 8);
    assert_eq!(dw.maintenance_work_mem_mb, 128);
    assert_eq!(dw.work_mem_mb, 61);
    assert_eq!(dw.budget.jit_mb, 12 * 10);
}

#[test]
fn each_workload_gives_up_its_own_things_first() {
    use Knob::*;
    assert_eq!(
        reduction_order(Workload::Web)[..3],
        [WorkMem, TempBuffers, MaxConnections]
    );
    assert_eq!(
        reduction_order(Workload::Oltp)[..3],
        [WorkMem, TempBuffers, MaxConnections]
    );
    assert_eq!(
        reduction_order(Workload::Dw)[..3],
        [MaxConnections, WorkMem, TempBuffers]
    );
    assert_eq!(
        reduction_order(Workload::Mixed)[..3],
        [MaxConnections, WorkMem, TempBuffers]
    );
    for &w in Workload::ALL {
        assert_eq!(
            reduction_order(w)[KNOBS - 1],
            SharedBuffers,
            "shared_buffers goes last"
        );
        assert_eq!(reduction_order(w)[KNOBS - 2], Jit, "JIT just before it");
    }
    // At 4 GB web keeps more connections than dw, dw more work_mem than web.
    let web = compute(&inputs(4096, Workload::Web));
    let dw = compute(&inputs(4096, Workload::Dw));
    assert!(web.max_connections > dw.max_connections);
    assert!(dw.work_mem_mb > web.work_mem_mb);
}

#[test]
fn max_connections_does_not_depend_on_the_cpus() {
    for &workload in Workload::ALL {
        for memory_mb in [512, 1024, 2048, 4096, 16384] {
            let at = |cpus| {
                compute(&Inputs {
                    cpus,
                    ..inputs(memory_mb, workload)
                })
                .max_connections
            };
            let one = at(1);
            for cpus in [2, 4, 16, 64, 128] {
                assert_eq!(at(cpus), one, "{workload} at {memory_mb} MB, {cpus} CPUs");
            }
        }
    }
}

#[test]
fn preloaded_libraries_and_logical_decoding_are_counted() {
    let plain = compute(&inputs(4096, Workload::Web));
    let loaded = compute(&Inputs {
        preload_shared_mb: 84,
        wal_level: WalLevel::Logical,
        ..inputs(4096, Workload::Web)
    });
    assert_eq!(loaded.budget.preload_shared_mb, 84);
    assert_eq!(plain.budget.logical_decoding_mb, 0);
    assert_eq!(
        loaded.budget.logical_decoding_mb,
        LOGICAL_DECODING_SESSIONS * LOGICAL_DECODING_WORK_MEM_MB
    );
    assert!(loaded.max_connections < plain.max_connections);
    assert!(loaded.budget.fits);
}

#[test]
fn a_user_value_is_an_input_and_never_reduced() {
    let pinned = Pinned {
        work_mem_mb: Some(16),
        ..Default::default()
    };
    let t = compute(&Inputs {
        pinned,
        ..inputs(8192, Workload::Web)
    });
    assert_eq!(t.work_mem_mb, 16);
    assert!(t.max_connections < 200, "the connections make room");
    assert!(t.budget.fits);
    // Too much to fit: the formulas are kept and the budget says it does not fit.
    let t = compute(&Inputs {
        pinned: Pinned {
            work_mem_mb: Some(256),
            max_connections: Some(500),
            ..Default::default()
        },
        ..inputs(1024, Workload::Web)
    });
    assert!(!t.budget.fits);
    assert_eq!((t.work_mem_mb, t.max_connections), (256, 500));
}

#[test]
fn dw_gets_bigger_maintenance_and_sort_memory() {
    let web = compute(&inputs(16384, Workload::Web));
    let dw = compute(&inputs(16384, Workload::Dw));
    assert!(
        formula(&dw, Knob::MaintenanceWorkMem, dw.maintenance_work_mem_mb)
            > formula(&web, Knob::MaintenanceWorkMem, web.maintenance_work_mem_mb)
    );
    assert!(dw.work_mem_mb > web.work_mem_mb);
    assert_eq!(work_mem_cap_mb(16384, Workload::Dw), 128);
    assert_eq!(work_mem_cap_mb(16384, Workload::Web), WORK_MEM_CAP_MB);
    assert_eq!(dw.default_statistics_target, 500);
    assert!(dw.jit && !web.jit, "JIT for long queries only");
    // Without a JIT provider there is nothing to turn on, nor to count (at 8 GB, where work_mem is
    // fitted rather than capped).
    let no_llvm = compute(&Inputs {
        jit_provider: false,
        ..inputs(8192, Workload::Dw)
    });
    assert!(!no_llvm.jit);
    assert_eq!(no_llvm.budget.jit_mb, 0);
    assert!(no_llvm.work_mem_mb > compute(&inputs(8192, Workload::Dw)).work_mem_mb);
    // At 512 MB the floors do not leave room for LLVM in mixed's 20 backends: JIT gives way before
    // shared_buffers would. dw's 10 leave room for it.
    assert!(compute(&inputs(512, Workload::Dw)).jit);
    let small = compute(&inputs(512, Workload::Mixed));
    assert!(!small.jit);
    assert_eq!(small.budget.reduced.from(Knob::Jit), Some(1));
    assert!(small.budget.fits);
}

#[test]
fn wal_sizes_follow_the_workload() {
    let expected = [
        (Workload::Web, 1024, 4096),
        (Workload::Oltp, 2048, 8192),
        (Workload::Dw, 4096, 16384),
        (Workload::Mixed, 1024, 4096),
    ];
    for (workload, min, max) in expected {
        let t = compute(&inputs(4096, workload));
        assert_eq!(
            (t.min_wal_size_mb, t.max_wal_size_mb),
            (min, max),
            "{workload}"
        );
    }
}

#[test]
fn every_workload_and_storage_combination() {
    for &workload in Workload::ALL {
        for &storage in Storage::ALL {
            let t = compute(&Inputs {
                memory_mb: 4096,
                cpus: 4,
                workload,
                storage,
                max_worker_processes: None,
                shm_mb: None,
                wal_free_mb: None,
                pinned: Default::default(),
                primary_requires: Default::default(),
                preload_shared_mb: 0,
                wal_level: WalLevel::Logical,
                jit_provider: true,
            });
            let (rpc, eio, mio) = match storage {
                Storage::Ssd => ("1.1", 200, 20),
                Storage::San => ("1.1", 300, 20),
                Storage::Hdd => ("4.0", 2, 10),
            };
            assert_eq!(
                (
                    t.random_page_cost,
                    t.effective_io_concurrency,
                    t.maintenance_io_concurrency
                ),
                (rpc, eio, mio)
            );
            assert_eq!(
                formula(&t, Knob::MaxConnections, u64::from(t.max_connections)),
                u64::from(max_connections(workload))
            );
            let cost_limit = if storage == Storage::Hdd { 400 } else { 2000 };
            assert_eq!(t.autovacuum_vacuum_cost_limit, cost_limit);
            assert_eq!(
                t.shared_buffers_mb, 1024,
                "shared_buffers does not depend on the workload"
            );
        }
    }
}

#[test]
fn worker_processes_are_clamped() {
    assert_eq!(max_worker_processes(1, None), 8);
    assert_eq!(max_worker_processes(4, None), 8);
    assert_eq!(max_worker_processes(6, None), 9);
    assert_eq!(max_worker_processes(16, None), 24);
    assert_eq!(max_worker_processes(128, None), 64);
    assert_eq!(max_worker_processes(2, Some(4)), 8);
    assert_eq!(max_worker_processes(2, Some(16)), 16);
    assert_eq!(max_worker_processes(2, Some(100)), 64);
    assert_eq!(max_worker_processes(2, Some(-3)), 8);
    assert_eq!(max_worker_processes(2, Some(i64::MAX)), 64);
}

#[test]
fn parallel_workers_and_io_workers() {
    // One per core, leaving 4 worker processes to background jobs; half the cores per operation, 1..4.
    assert_eq!(parallel_workers(1, 8), (1, 1, 1));
    assert_eq!(parallel_workers(3, 8), (3, 1, 1));
    assert_eq!(parallel_workers(4, 8), (4, 2, 2));
    assert_eq!(parallel_workers(6, 9), (5, 3, 3));
    assert_eq!(parallel_workers(16, 24), (16, 4, 4));
    assert_eq!(parallel_workers(128, 64), (60, 4, 4));
    assert_eq!(
        parallel_workers(8, 8),
        (4, 4, 4),
        "a user's small max_worker_processes"
    );
    // PostgreSQL 18's default of 3 at least, then one per two cores.
    assert_eq!(io_workers(1), 3);
    assert_eq!(io_workers(7), 3);
    assert_eq!(io_workers(8), 4);
    assert_eq!(io_workers(128), 32);
}

#[test]
fn wal_buffers_round_fifteen_up_to_a_segment() {
    let table = [
        (64, 1),
        (128, 3),
        (466, 13),
        (467, 14),
        (500, 15 + 1),
        (533, 15 + 1),
        (534, 16),
        (32768, 16),
    ];
    for (sb, wb) in table {
        assert_eq!(wal_buffers_mb(sb), wb, "shared_buffers {sb}");
    }
    assert_eq!(wal_buffers_mb(0), 1);
}

#[test]
fn kinds_parse_case_insensitively_and_reject_unknown_values() {
    assert_eq!("OLTP".parse::<Workload>(), Ok(Workload::Oltp));
    assert_eq!(" Dw ".parse::<Workload>(), Ok(Workload::Dw));
    assert_eq!("SAN".parse::<Storage>(), Ok(Storage::San));
    assert_eq!("Logical".parse::<WalLevel>(), Ok(WalLevel::Logical));
    let err = "archive".parse::<WalLevel>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "'archive' is not one of minimal replica logical"
    );
    assert!("".parse::<Workload>().is_err());
    assert!("web2".parse::<Workload>().is_err());
}

#[test]
fn dev_shm_decisions() {
    // 128 GB web on 16 CPUs: a worker and a leader each need a hash table of twice work_mem.
    let at = |shm_mb| {
        compute(&Inputs {
            memory_mb: 131_072,
            cpus: 16,
            workload: Workload::Web,
            storage: Storage::Ssd,
            max_worker_processes: None,
            shm_mb,
            wal_free_mb: None,
            pinned: Default::default(),
            primary_requires: Default::default(),
            preload_shared_mb: 0,
            wal_level: WalLevel::Replica,
            jit_provider: true,
        })
    };
    let (work_mem, workers) = (at(None).work_mem_mb, at(None).max_parallel_workers);
    assert!(workers > 2, "{workers}");
    let needed = dsm_needed_mb(workers, work_mem);
    assert_eq!(needed, 8 + 2 * u64::from(workers) * work_mem * 2);
    assert_eq!(at(None).shm, ShmDecision::Unknown);
    assert_eq!(
        at(Some(needed)).shm,
        ShmDecision::Fits {
            shm_mb: needed,
            needed_mb: needed
        }
    );
    let t = at(Some(needed - 1));
    assert_eq!(t.max_parallel_workers, workers - 1);
    assert_eq!(
        t.shm,
        ShmDecision::FewerWorkers {
            shm_mb: needed - 1,
            needed_mb: needed,
            from: workers
        }
    );
    let t = at(Some(8 + 4 * work_mem));
    assert_eq!(
        (
            t.max_parallel_workers,
            t.max_parallel_workers_per_gather,
            t.max_parallel_maintenance_workers
        ),
        (1, 1, 1)
    );
    let t = at(Some(64));
    assert!(t.shm.uses_mmap());
    assert_eq!(t.max_parallel_workers, workers, "mmap keeps the workers");
    // No parallel workers, nothing needed.
    assert_eq!(dsm_needed_mb(0, 1000), 0);
}

fn any_workload() -> impl Strategy<Value = Workload> {
    prop::sample::select(Workload::ALL)
}

fn any_storage() -> impl Strategy<Value = Storage> {
    prop::sample::select(Storage::ALL)
}

proptest! {
    #[test]
    fn invariants_hold_over_the_accepted_domain(
        memory_mb in MIN_MEMORY_MB..=MAX_MEMORY_MB,
        cpus in MIN_CPUS..=MAX_CPUS,
        workload in any_workload(),
        storage in any_storage(),
        user_workers in prop::option::of(any::<i64>()),
    ) {
        let t = compute(&Inputs { memory_mb, cpus, workload, storage, max_worker_processes: user_workers, shm_mb: None, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default(), preload_shared_mb: 0, wal_level: WalLevel::Logical, jit_provider: true });
        prop_assert!(t.shared_buffers_mb <= memory_mb / 4);
        prop_assert!((SHARED_BUFFERS_MIN_MB..=SHARED_BUFFERS_CAP_MB).contains(&t.shared_buffers_mb));
        prop_assert!(t.work_mem_mb >= 1);
        prop_assert!(t.work_mem_mb <= 256);
        prop_assert!((BUDGET_MAINTENANCE_FLOOR_MB..=MAINTENANCE_WORK_MEM_CAP_MB).contains(&t.maintenance_work_mem_mb));
        // The budget: always fits from 512 MB up, every term accounted, nothing raised.
        let b = t.budget;
        prop_assert!(b.fits, "{b:?}");
        prop_assert!(b.total_mb <= memory_mb - margin_mb(memory_mb));
        // Each term and the total are rounded up to whole MB separately.
        let sum = b.shared_buffers_mb + b.wal_buffers_mb + b.shared_other_mb + b.preload_shared_mb
            + b.server_processes_mb + b.connections_mb + b.temp_buffers_mb + b.queries_mb
            + b.parallel_workers_mb + b.jit_mb + b.autovacuum_mb + b.logical_decoding_mb
            + b.maintenance_mb;
        prop_assert!(b.total_mb <= sum && sum < b.total_mb + 13, "{b:?}");
        prop_assert_eq!(b.reduced.from(Knob::SharedBuffers), None, "the floors fit from 512 MB up");
        // No formula below PostgreSQL's default unless the budget reduced it (and the plan says so).
        let at_least = |knob: Knob, value: u64, default: u64| {
            value >= default || b.reduced.from(knob).is_some_and(|from| from >= default && from > value)
        };
        prop_assert!(at_least(Knob::WorkMem, t.work_mem_mb, 4));
        prop_assert!(at_least(Knob::MaintenanceWorkMem, t.maintenance_work_mem_mb, 64));
        prop_assert!(at_least(Knob::AutovacuumWorkMem, t.autovacuum_work_mem_mb, 64));
        prop_assert!(at_least(Knob::TempBuffers, t.temp_buffers_mb, 8));
        prop_assert!(at_least(Knob::LogicalDecodingWorkMem, t.logical_decoding_work_mem_mb, 64));
        prop_assert!(at_least(Knob::SharedBuffers, t.shared_buffers_mb, 128));
        prop_assert!(t.io_workers >= 3);
        // Reductions happen in the workload's order: a later knob only once the earlier are at their floors.
        let order = reduction_order(workload);
        let at_floor = |knob: Knob| match knob {
            Knob::WorkMem => t.work_mem_mb == 1,
            Knob::TempBuffers => t.temp_buffers_mb == 1,
            Knob::MaxConnections => t.max_connections == workload.min_connections(),
            _ => true,
        };
        for (n, &knob) in order.iter().enumerate().skip(1) {
            if b.reduced.from(knob).is_some() && knob != Knob::MaxParallelWorkers {
                for &before in &order[..n] {
                    prop_assert!(at_floor(before), "{knob:?} reduced before {before:?} was at its floor: {t:?}");
                }
            }
        }
        prop_assert!(t.effective_cache_size_mb >= t.shared_buffers_mb);
        prop_assert!(t.effective_cache_size_mb < memory_mb);
        prop_assert!(t.max_connections >= workload.min_connections());
        prop_assert!(workload.min_connections() >= MIN_CONNECTIONS);
        prop_assert!((MIN_WORKER_PROCESSES..=MAX_WORKER_PROCESSES).contains(&t.max_worker_processes));
        prop_assert!((1..=16).contains(&t.wal_buffers_mb) && t.wal_buffers_mb != 15);
        prop_assert!((3..=32).contains(&t.io_workers));
        prop_assert!(t.max_parallel_workers_per_gather <= t.max_parallel_workers);
        prop_assert!(t.max_parallel_maintenance_workers <= t.max_parallel_workers);
        prop_assert!(t.max_parallel_workers_per_gather <= 4 && t.max_parallel_maintenance_workers <= 4);
        prop_assert!(t.max_parallel_workers + BACKGROUND_WORKERS_RESERVED <= t.max_worker_processes);
        prop_assert!(t.min_wal_size_mb < t.max_wal_size_mb);
    }

    #[test]
    fn more_memory_never_lowers_a_memory_setting(
        memory_mb in MIN_MEMORY_MB..MAX_MEMORY_MB,
        more in prop::sample::select(vec![1u64, 2, 7, 64, 511, 1024, 4096]),
        cpus in MIN_CPUS..=MAX_CPUS,
        workload in any_workload(),
        logical in any::<bool>(),
        preload_shared_mb in prop::sample::select(vec![0u64, 30, 84, 276]),
    ) {
        // After the budget, not only the formulas: more memory never gets less of any of them.
        let at = |memory_mb| compute(&Inputs {
            cpus,
            preload_shared_mb,
            wal_level: if logical { WalLevel::Logical } else { WalLevel::Replica },
            ..inputs(memory_mb, workload)
        });
        let small = at(memory_mb);
        let big = at((memory_mb + more).min(MAX_MEMORY_MB));
        let memory = |t: &Tuning| [
            t.shared_buffers_mb, t.effective_cache_size_mb, t.maintenance_work_mem_mb,
            t.autovacuum_work_mem_mb, t.work_mem_mb, t.temp_buffers_mb,
            t.logical_decoding_work_mem_mb, t.wal_buffers_mb,
        ];
        let (s, b) = (memory(&small), memory(&big));
        for n in 0..s.len() {
            prop_assert!(b[n] >= s[n], "setting {n}: {} MB at {} MB, {} MB at {} MB", s[n], memory_mb, b[n], memory_mb + more);
        }
        // web and oltp keep their connections, so more memory never gets fewer; dw and mixed give
        // connections to query memory, which grows with the memory.
        // (Give or take one: the page tables of a megabyte more shared_buffers are rounded per
        // connection.)
        if matches!(workload, Workload::Web | Workload::Oltp) {
            prop_assert!(big.max_connections + 1 >= small.max_connections);
        }
    }

    #[test]
    fn dev_shm_never_raises_parallelism_and_what_is_left_fits(
        memory_mb in MIN_MEMORY_MB..=MAX_MEMORY_MB,
        cpus in MIN_CPUS..=MAX_CPUS,
        workload in any_workload(),
        shm_mb in 0u64..100_000,
    ) {
        let base = Inputs { memory_mb, cpus, workload, storage: Storage::Ssd, max_worker_processes: None, shm_mb: None, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default(), preload_shared_mb: 0, wal_level: WalLevel::Logical, jit_provider: true };
        let free = compute(&base);
        let t = compute(&Inputs { shm_mb: Some(shm_mb), ..base });
        prop_assert!(t.max_parallel_workers <= free.max_parallel_workers);
        prop_assert!(t.budget.fits);
        match t.shm {
            ShmDecision::Mmap { .. } => prop_assert!(shm_mb < dsm_needed_mb(1, t.work_mem_mb)),
            _ => prop_assert!(dsm_needed_mb(t.max_parallel_workers, t.work_mem_mb) <= shm_mb),
        }
    }

    #[test]
    fn compute_is_total_over_any_input(
        memory_mb in any::<u64>(),
        cpus in any::<u32>(),
        workload in any_workload(),
        storage in any_storage(),
        user_workers in prop::option::of(any::<i64>()),
        shm_mb in prop::option::of(any::<u64>()),
    ) {
        // Callers validate first, but the core must not panic or overflow on anything.
        let t = compute(&Inputs { memory_mb, cpus, workload, storage, max_worker_processes: user_workers, shm_mb, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default(), preload_shared_mb: 0, wal_level: WalLevel::Logical, jit_provider: true });
        prop_assert!(t.shared_buffers_mb <= SHARED_BUFFERS_CAP_MB);
    }
}

#[test]
fn the_wal_volume_bounds_the_wal_sizes_in_powers_of_two() {
    use super::wal_sizes_mb;
    // Plenty of room, or unknown: the workload's sizes.
    assert_eq!(wal_sizes_mb(Workload::Dw, None), ((4096, 16384), None));
    assert_eq!(
        wal_sizes_mb(Workload::Dw, Some(65536)),
        ((4096, 16384), None)
    );
    // 10 GB free: a quarter is 2560 MB, so 2048 MB, and min_wal_size a quarter of that.
    assert_eq!(
        wal_sizes_mb(Workload::Dw, Some(10_240)),
        ((512, 2048), Some((10_240, 16384)))
    );
    assert_eq!(
        wal_sizes_mb(Workload::Web, Some(10_240)),
        ((512, 2048), Some((10_240, 4096)))
    );
    // A few MB more or less free does not move it.
    assert_eq!(wal_sizes_mb(Workload::Web, Some(10_300)).0, (512, 2048));
    assert_eq!(wal_sizes_mb(Workload::Web, Some(9_000)).0, (512, 2048));
    // A nearly full volume: the floors.
    assert_eq!(wal_sizes_mb(Workload::Oltp, Some(100)).0, (32, 128));
    assert_eq!(wal_sizes_mb(Workload::Oltp, Some(0)).0, (32, 128));
}

proptest::proptest! {
    #[test]
    fn more_free_wal_space_never_lowers_the_wal_sizes(
        free in 0u64..200_000,
        more in 0u64..200_000,
        workload in proptest::sample::select(vec![Workload::Web, Workload::Oltp, Workload::Dw, Workload::Mixed]),
    ) {
        let (small, _) = super::wal_sizes_mb(workload, Some(free));
        let (large, _) = super::wal_sizes_mb(workload, Some(free + more));
        proptest::prop_assert!(large.0 >= small.0 && large.1 >= small.1);
        proptest::prop_assert!(small.0 < small.1);
        proptest::prop_assert!(small.0 >= super::MIN_WAL_SIZE_FLOOR_MB);
    }
}

#[test]
fn wal_compression_only_where_cpu_is_spare() {
    let at = |cpus| {
        compute(&Inputs {
            cpus,
            ..inputs(4096, Workload::Dw)
        })
        .wal_compression
    };
    assert_eq!((at(1), at(2), at(3)), ("off", "off", "off"));
    assert_eq!((at(4), at(64)), ("lz4", "lz4"));
}

#[test]
fn maintenance_work_mem_stays_at_the_default_until_tables_need_more() {
    for &workload in Workload::ALL {
        for ram in [512, 2048, 4096] {
            assert_eq!(
                maintenance_work_mem_mb(ram, workload),
                64,
                "{workload} at {ram} MB"
            );
        }
    }
    assert_eq!(maintenance_work_mem_mb(8192, Workload::Dw), 128);
    assert_eq!(maintenance_work_mem_mb(8192, Workload::Web), 64);
    assert_eq!(maintenance_work_mem_mb(65536, Workload::Dw), 1024);
}
