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
    }
}

/// (RAM, shared_buffers, effective_cache_size, maintenance_work_mem, work_mem, max_connections) for
/// the `web` workload, worked out by hand from the formulas at every tier boundary, BEFORE the
/// memory budget. The budget may only lower work_mem, max_connections and maintenance_work_mem
/// (`FITTED` below); the formula values stay visible in `budget.reduced`.
const WEB_TIERS: &[(u64, u64, u64, u64, u64, u32)] = &[
    (511, 127, 254, 32, 1, 100),
    (512, 128, 256, 32, 1, 100),
    (2047, 511, 1022, 127, 1, 100),
    (2048, 512, 1024, 128, 1, 140),
    (4095, 1023, 2046, 255, 2, 140),
    (4096, 1024, 2048, 256, 1, 170),
    (8191, 2047, 4094, 511, 5, 170),
    (8192, 2048, 4096, 512, 4, 200),
    (8193, 1638, 3441, 512, 5, 200),
    (32768, 6553, 13763, 2048, 29, 200),
    (32769, 4915, 14910, 2048, 31, 200),
    (1_048_576, 32768, 564_265, 2048, 32, 200),
];

/// (RAM, maintenance_work_mem, work_mem, max_connections, max_parallel_workers) after the budget, 2
/// CPUs. Each reduction is what the worst case (`budget.rs`) needs to fit in 90 % of the RAM: e.g. at
/// 4096 MB, 145 x (2.5 MB + 2 MB page tables + 6 x 1 MB) + 2 parallel workers alike + 1024 + 16 + 42 +
/// 16 MB shared/server + 4 x 256 MB maintenance + 3 x 4.5 MB = 3679 MB <= 3687 MB, and 146 would not
/// fit; at 512 MB only the floor of 20 connections, no parallel workers and 29 MB of
/// maintenance_work_mem fit (4 x 32 MB would not).
const FITTED: &[(u64, u64, u64, u32, u32)] = &[
    (511, 29, 1, 20, 0),
    (512, 29, 1, 20, 0),
    (2047, 127, 1, 77, 2),
    (2048, 128, 1, 77, 2),
    (4095, 255, 1, 140, 2),
    (4096, 256, 1, 145, 2),
    (8191, 511, 1, 170, 2),
    (8192, 512, 1, 200, 2),
    (8193, 512, 2, 200, 2),
    (32768, 2048, 9, 200, 2),
    (32769, 2048, 11, 200, 2),
    (1_048_576, 2048, 32, 200, 2),
];

#[test]
fn web_tiers_match_the_formulas() {
    for (&(ram, sb, ecs, mwm, wm, mc), &(fram, fmwm, fwm, fmc, fpw)) in WEB_TIERS.iter().zip(FITTED)
    {
        assert_eq!(ram, fram);
        let t = compute(&inputs(ram, Workload::Web));
        let r = t.budget.reduced;
        assert_eq!(
            (
                t.shared_buffers_mb,
                t.effective_cache_size_mb,
                r.maintenance_work_mem_from
                    .unwrap_or(t.maintenance_work_mem_mb),
                r.work_mem_from.unwrap_or(t.work_mem_mb),
                r.max_connections_from.unwrap_or(t.max_connections)
            ),
            (sb, ecs, mwm, wm, mc),
            "formulas at RAM {ram} MB"
        );
        assert_eq!(
            (
                t.maintenance_work_mem_mb,
                t.work_mem_mb,
                t.max_connections,
                t.max_parallel_workers
            ),
            (fmwm, fwm, fmc, fpw),
            "after the budget at RAM {ram} MB"
        );
        assert!(t.budget.fits, "RAM {ram} MB: {:?}", t.budget);
        assert_eq!(r.shared_buffers_from, None, "RAM {ram} MB");
    }
}

#[test]
fn one_tebibyte_mixed_matches_the_reference() {
    let t = compute(&inputs(1_048_576, Workload::Mixed));
    assert_eq!(t.shared_buffers_mb, 32768);
    assert_eq!(t.effective_cache_size_mb, 564_265);
    assert_eq!(t.maintenance_work_mem_mb, 2048);
    assert_eq!(t.work_mem_mb, 256);
    assert_eq!(t.max_connections, 120);
    assert!(!t.budget.reduced.any(), "1 TiB has room for everything");
}

#[test]
fn max_connections_scales_per_workload_and_tier() {
    // (RAM, web, oltp, dw, mixed)
    let table: &[(u64, [u32; 4])] = &[
        (512, [100, 150, 50, 60]),
        (2047, [100, 150, 50, 60]),
        (2048, [140, 210, 70, 84]),
        (4095, [140, 210, 70, 84]),
        (4096, [170, 255, 85, 102]),
        (8191, [170, 255, 85, 102]),
        (8192, [200, 300, 100, 120]),
    ];
    let workloads = [Workload::Web, Workload::Oltp, Workload::Dw, Workload::Mixed];
    for &(ram, expected) in table {
        for (workload, want) in workloads.iter().zip(expected) {
            assert_eq!(
                max_connections(ram, *workload),
                want,
                "{workload} at {ram} MB"
            );
        }
    }
}

/// After the budget: at 512 MB every workload is down to the floor of 20; dw keeps fewer connections
/// than the others because its maintenance_work_mem is twice as large.
#[test]
fn max_connections_after_the_budget() {
    // (RAM, web, oltp, dw, mixed)
    let table: &[(u64, [u32; 4])] = &[
        (512, [20, 20, 20, 20]),
        (2047, [77, 77, 23, 60]),
        (2048, [77, 77, 23, 77]),
        (4095, [140, 146, 48, 84]),
        (4096, [145, 145, 48, 102]),
        (8191, [170, 250, 85, 102]),
        (8192, [200, 250, 86, 120]),
    ];
    for &(ram, expected) in table {
        for (workload, want) in Workload::ALL.iter().zip(expected) {
            let t = compute(&inputs(ram, *workload));
            assert_eq!(t.max_connections, want, "{workload} at {ram} MB");
            assert!(t.budget.fits);
        }
    }
}

#[test]
fn max_connections_never_drops_below_twenty() {
    // No workload's base is small enough today; the floor guards future tables.
    for &workload in Workload::ALL {
        assert!(max_connections(0, workload) >= MIN_CONNECTIONS);
    }
}

#[test]
fn work_mem_cap_grows_only_for_analytical_workloads() {
    let table: &[(u64, u64)] = &[
        (2047, 32),
        (2048, 64),
        (8191, 64),
        (8192, 128),
        (32767, 128),
        (32768, 256),
    ];
    for &(ram, cap) in table {
        assert_eq!(work_mem_cap_mb(ram, Workload::Dw), cap, "dw at {ram}");
        assert_eq!(work_mem_cap_mb(ram, Workload::Mixed), cap, "mixed at {ram}");
        assert_eq!(work_mem_cap_mb(ram, Workload::Web), 32, "web at {ram}");
        assert_eq!(work_mem_cap_mb(ram, Workload::Oltp), 32, "oltp at {ram}");
    }
}

#[test]
fn dw_gets_bigger_maintenance_and_sort_memory() {
    let t = compute(&inputs(32768, Workload::Dw));
    assert_eq!(t.maintenance_work_mem_mb, 2048); // 4096 capped
    assert_eq!(t.budget.reduced.work_mem_from, Some(61)); // (32768-6553-1000-512)/400
    assert_eq!(t.work_mem_mb, 21); // what 102 slots x 6 units leave after 4 x 2 GB maintenance
    assert_eq!(t.default_statistics_target, 500);
    let t = compute(&inputs(8192, Workload::Dw));
    assert_eq!(t.maintenance_work_mem_mb, 1024);
    let t = compute(&inputs(8192, Workload::Mixed));
    assert_eq!(t.budget.reduced.work_mem_from, Some(9)); // (8192-2048-1200-512)/480
    assert_eq!(t.work_mem_mb, 3);
    assert_eq!(t.default_statistics_target, 100);
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
                t.budget
                    .reduced
                    .max_connections_from
                    .unwrap_or(t.max_connections),
                max_connections(4096, workload)
            );
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
    assert_eq!(parallel_workers(1), (1, 1, 1));
    assert_eq!(parallel_workers(3), (3, 1, 1));
    assert_eq!(parallel_workers(4), (4, 2, 2));
    assert_eq!(parallel_workers(16), (16, 8, 4));
    assert_eq!(parallel_workers(128), (128, 64, 4));
    assert_eq!(io_workers(1), 1);
    assert_eq!(io_workers(7), 1);
    assert_eq!(io_workers(8), 2);
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
    // 64 GB dw on 16 CPUs: work_mem 54 MB after the budget (16 parallel workers count in it); a
    // worker and a leader each need a 108 MB hash table.
    let at = |shm_mb| {
        compute(&Inputs {
            memory_mb: 65536,
            cpus: 16,
            workload: Workload::Dw,
            storage: Storage::Ssd,
            max_worker_processes: None,
            shm_mb,
            wal_free_mb: None,
            pinned: Default::default(),
            primary_requires: Default::default(),
        })
    };
    assert_eq!(at(None).work_mem_mb, 54);
    let needed = dsm_needed_mb(16, 54);
    assert_eq!(needed, 8 + 2 * 16 * 54 * 2);
    assert_eq!(at(None).shm, ShmDecision::Unknown);
    assert_eq!(
        at(Some(needed)).shm,
        ShmDecision::Fits {
            shm_mb: needed,
            needed_mb: needed
        }
    );
    let t = at(Some(needed - 1));
    assert_eq!(t.max_parallel_workers, 15);
    assert_eq!(
        t.shm,
        ShmDecision::FewerWorkers {
            shm_mb: needed - 1,
            needed_mb: needed,
            from: 16
        }
    );
    let t = at(Some(8 + 216));
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
    assert_eq!(t.max_parallel_workers, 16, "mmap keeps the workers");
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
        let t = compute(&Inputs { memory_mb, cpus, workload, storage, max_worker_processes: user_workers, shm_mb: None, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default() });
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
        let sum = b.shared_buffers_mb + b.wal_buffers_mb + b.shared_other_mb + b.server_processes_mb
            + b.connections_mb + b.queries_mb + b.parallel_workers_mb + b.autovacuum_mb
            + b.maintenance_mb;
        prop_assert!(b.total_mb <= sum && sum < b.total_mb + 9, "{b:?}");
        let r = b.reduced;
        prop_assert!(r.work_mem_from.is_none_or(|from| from > t.work_mem_mb));
        prop_assert!(r.max_connections_from.is_none_or(|from| from > t.max_connections));
        prop_assert!(r.maintenance_work_mem_from.is_none_or(|from| from > t.maintenance_work_mem_mb));
        prop_assert_eq!(r.shared_buffers_from, None, "the floors fit from 512 MB up");
        // Reductions happen in order: connections only once work_mem is at its floor, and so on.
        if r.max_connections_from.is_some() { prop_assert_eq!(t.work_mem_mb, 1); }
        if r.max_parallel_workers_from.is_some() { prop_assert_eq!(t.max_connections, MIN_CONNECTIONS); }
        if r.maintenance_work_mem_from.is_some() {
            prop_assert_eq!(t.max_connections, MIN_CONNECTIONS);
            prop_assert_eq!(t.max_parallel_workers, 0);
        }
        prop_assert!(t.effective_cache_size_mb >= 2 * t.shared_buffers_mb);
        prop_assert!(t.effective_cache_size_mb < memory_mb);
        prop_assert!(t.max_connections >= MIN_CONNECTIONS);
        prop_assert!((MIN_WORKER_PROCESSES..=MAX_WORKER_PROCESSES).contains(&t.max_worker_processes));
        prop_assert!((1..=16).contains(&t.wal_buffers_mb) && t.wal_buffers_mb != 15);
        prop_assert!((1..=64).contains(&t.io_workers));
        prop_assert!(t.max_parallel_workers_per_gather <= t.max_parallel_workers);
        prop_assert!(t.max_parallel_maintenance_workers <= t.max_parallel_workers);
        prop_assert!(t.max_parallel_maintenance_workers <= 4);
        prop_assert!(t.min_wal_size_mb < t.max_wal_size_mb);
    }

    #[test]
    fn more_memory_never_shrinks_the_buffer_pool_below_smaller_machines_tier(
        memory_mb in MIN_MEMORY_MB..MAX_MEMORY_MB,
        workload in any_workload(),
    ) {
        // Within a tier the settings grow with memory; across tiers only the ratio changes.
        let small = compute(&inputs(memory_mb, workload));
        let big = compute(&inputs(memory_mb + 1, workload));
        if shared_buffers_ratio(memory_mb) == shared_buffers_ratio(memory_mb + 1) {
            prop_assert!(big.shared_buffers_mb >= small.shared_buffers_mb);
        }
        // The formulas are monotonic; the budget's reductions follow shared_buffers' tier steps, so
        // the property holds for the formula values (kept in `budget.reduced`).
        let connections = |t: &Tuning| t.budget.reduced.max_connections_from.unwrap_or(t.max_connections);
        let maintenance = |t: &Tuning| t.budget.reduced.maintenance_work_mem_from.unwrap_or(t.maintenance_work_mem_mb);
        prop_assert!(connections(&big) >= connections(&small));
        prop_assert!(maintenance(&big) >= maintenance(&small));
    }

    #[test]
    fn dev_shm_never_raises_parallelism_and_what_is_left_fits(
        memory_mb in MIN_MEMORY_MB..=MAX_MEMORY_MB,
        cpus in MIN_CPUS..=MAX_CPUS,
        workload in any_workload(),
        shm_mb in 0u64..100_000,
    ) {
        let base = Inputs { memory_mb, cpus, workload, storage: Storage::Ssd, max_worker_processes: None, shm_mb: None, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default() };
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
        let t = compute(&Inputs { memory_mb, cpus, workload, storage, max_worker_processes: user_workers, shm_mb, wal_free_mb: None, pinned: Default::default(), primary_requires: Default::default() });
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
