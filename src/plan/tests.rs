use super::*;
use crate::detect::{CpuSource, MemorySource};
use crate::image_catalog::{self, CatalogFile};
use crate::test_support::fake_env;

fn no_catalog() -> CatalogFile {
    CatalogFile::missing("/nonexistent/image-catalog.json")
}

fn resources(memory_mb: u64, cpus: u32) -> Resources {
    Resources {
        memory_mb,
        memory_source: MemorySource::CgroupV2,
        memory_origin: "/sys/fs/cgroup/memory.max".into(),
        cpus,
        cpu_source: CpuSource::CgroupV2,
        shm_mb: None,
        wal_free_mb: None,
        primary_requires: Default::default(),
        jit_provider: Some(true),
        warnings: Vec::new(),
    }
}

fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(fake_env(vars)).unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn plan_with(vars: &[(&str, &str)], args: &[&str], auto_conf: &str, pgsodium: Pgsodium) -> Plan {
    plan_in_image(vars, args, auto_conf, pgsodium, &no_catalog())
}

fn plan_in_image(
    vars: &[(&str, &str)],
    args: &[&str],
    auto_conf: &str,
    pgsodium: Pgsodium,
    image: &CatalogFile,
) -> Plan {
    let res = resources(4096, 2);
    let mut cfg = config(vars);
    if let Some(catalog) = &image.catalog {
        cfg = cfg.with_image_default_preload(&catalog.default_preload);
    }
    let args = strings(args);
    let alter = parse_auto_conf(auto_conf);
    build(&PlanInputs {
        resources: &res,
        config: &cfg,
        user_args: &args,
        alter_system: &alter,
        config_file: &[],
        pgsodium: &pgsodium,
        image,
        delivery: Delivery::CommandLine,
    })
}

fn plan(vars: &[(&str, &str)], args: &[&str]) -> Plan {
    plan_with(vars, args, "", Pgsodium::NotRequested)
}

fn value<'a>(plan: &'a Plan, name: &str) -> Option<&'a str> {
    plan.applied()
        .find(|s| s.name == name)
        .map(|s| s.value.as_str())
}

#[test]
fn flags_come_in_the_reference_order_after_the_users_arguments() {
    let p = plan(&[], &["-c", "foo=bar"]);
    let names: Vec<&str> = p
        .args
        .chunks(2)
        .skip(1)
        .map(|pair| pair[1].split('=').next().unwrap())
        .collect();
    assert_eq!(&p.args[..2], ["-c", "foo=bar"]);
    assert_eq!(
        names,
        [
            "shared_buffers",
            "effective_cache_size",
            "maintenance_work_mem",
            "autovacuum_work_mem",
            "work_mem",
            "hash_mem_multiplier",
            "temp_buffers",
            "logical_decoding_work_mem",
            "max_connections",
            "max_worker_processes",
            "wal_level",
            "shared_preload_libraries",
            "pg_stat_monitor.pgsm_max",
            "cron.database_name",
            "cron.host",
            "checkpoint_completion_target",
            "wal_buffers",
            "min_wal_size",
            "max_wal_size",
            "random_page_cost",
            "default_statistics_target",
            "io_workers",
            "maintenance_io_concurrency",
            "max_parallel_workers",
            "max_parallel_workers_per_gather",
            "max_parallel_maintenance_workers",
            "effective_io_concurrency",
            "autovacuum_vacuum_cost_limit",
            "wal_compression",
            "checkpoint_timeout",
            "huge_pages",
            "jit",
            "listen_addresses",
            "log_line_prefix",
            "log_checkpoints",
            "log_lock_waits",
            "log_temp_files",
            "log_autovacuum_min_duration",
        ]
    );
    assert!(p.args.chunks(2).all(|pair| pair[0] == "-c"));
}

#[test]
fn values_are_passed_as_postgres_reads_them() {
    let p = plan(&[], &[]);
    assert_eq!(value(&p, "shared_buffers"), Some("1024MB"));
    assert_eq!(value(&p, "effective_cache_size"), Some("3072MB"));
    // The web formula's 200 is reduced by the memory budget, which counts pg_stat_monitor's 64 + 20 MB.
    assert_eq!(value(&p, "max_connections"), Some("181"));
    assert_eq!(value(&p, "pg_stat_monitor.pgsm_max"), Some("64"));
    assert_eq!(p.tuning.budget.preload_shared_mb, 84);
    assert_eq!(value(&p, "jit"), Some("off"));
    // Two CPUs: below WAL_COMPRESSION_MIN_CPUS the CPU is worth more than the WAL volume.
    assert_eq!(value(&p, "wal_compression"), Some("off"));
    assert_eq!(value(&p, "wal_level"), Some("logical"));
    assert_eq!(value(&p, "listen_addresses"), Some("*"));
    assert_eq!(
        value(&p, "shared_preload_libraries"),
        Some("auto_explain,pg_cron,pg_stat_monitor,pg_stat_statements,pgaudit")
    );
    assert_eq!(value(&p, "cron.database_name"), Some("postgres"));
    assert_eq!(value(&p, "random_page_cost"), Some("1.1"));
    assert_eq!(value(&p, "effective_io_concurrency"), Some("200"));
}

#[test]
fn minimal_wal_level_turns_off_wal_senders_before_listen_addresses() {
    let p = plan(&[("POSTGRES_WAL_LEVEL", "minimal")], &[]);
    let at = |arg: &str| p.args.iter().position(|a| a == arg);
    let senders = at("max_wal_senders=0").expect("max_wal_senders=0 is passed");
    assert_eq!(at("listen_addresses=*"), Some(senders + 2));
}

#[test]
fn cron_database_is_only_set_when_pg_cron_is_loaded() {
    let p = plan(
        &[(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "auto_explain,pg_stat_statements",
        )],
        &[],
    );
    assert_eq!(value(&p, "cron.database_name"), None);
    assert_eq!(value(&p, "cron.host"), None);
    let p = plan(&[("POSTGRES_DB", "mydb")], &[]);
    assert_eq!(value(&p, "cron.database_name"), Some("mydb"));
}

#[test]
fn pg_cron_connects_through_the_socket_directory() {
    let p = plan(&[], &[]);
    assert_eq!(value(&p, "cron.host"), Some("/var/run/postgresql"));
    let reason = &p
        .settings
        .iter()
        .find(|s| s.name == "cron.host")
        .unwrap()
        .reason;
    assert!(
        reason.contains("needs a password under pg_hba.conf"),
        "{reason}"
    );
    // The socket directory the server really uses: -k, -c, ALTER SYSTEM, first of a list.
    let p = plan(&[], &["-k", "/tmp/sockets"]);
    assert_eq!(value(&p, "cron.host"), Some("/tmp/sockets"));
    let p = plan(&[], &["-c", "unix_socket_directories=/run/a, /run/b"]);
    assert_eq!(value(&p, "cron.host"), Some("/run/a"));
    let p = plan_with(
        &[],
        &[],
        "unix_socket_directories = '/srv/sock'\n",
        Pgsodium::NotRequested,
    );
    assert_eq!(value(&p, "cron.host"), Some("/srv/sock"));
    // No socket at all: nothing to point pg_cron at, and a warning says what that means.
    let p = plan(&[], &["-c", "unix_socket_directories="]);
    assert_eq!(value(&p, "cron.host"), None);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("pg_cron's jobs connect to localhost over TCP")),
        "{:?}",
        p.warnings
    );
    // The user's own cron.host wins, as every setting does.
    let p = plan(&[], &["-c", "cron.host=db"]);
    assert_eq!(value(&p, "cron.host"), None);
    assert!(p.args.contains(&"cron.host=db".to_string()));
}

fn catalog(logical_output_plugins: &[&str]) -> CatalogFile {
    let text = serde_json::json!({
        "format": 1,
        "package_source": "distribution",
        "entries": [],
        "default_preload": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"],
        "preloadable": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit", "timescaledb"],
        "logical_output_plugins": logical_output_plugins,
    })
    .to_string();
    CatalogFile {
        path: "/usr/share/aza-pg/image-catalog.json".into(),
        catalog: Some(image_catalog::parse(&text, "test").unwrap()),
    }
}

#[test]
fn the_image_catalog_chooses_the_default_preload_list_and_says_so() {
    let image = catalog(&[]);
    let p = plan_in_image(&[], &[], "", Pgsodium::NotRequested, &image);
    assert_eq!(
        value(&p, "shared_preload_libraries"),
        Some("auto_explain,pg_cron,pg_stat_statements,pgaudit")
    );
    assert_eq!(p.preload_origin, Origin::Image);
    assert_eq!(
        p.preload_libraries_source(),
        "default of the image catalog /usr/share/aza-pg/image-catalog.json"
    );
    let reason = &p
        .settings
        .iter()
        .find(|s| s.name == "shared_preload_libraries")
        .unwrap()
        .reason;
    assert_eq!(
        reason,
        "default of the image catalog /usr/share/aza-pg/image-catalog.json"
    );
    // The user's list still wins over the image's default.
    let p = plan_in_image(
        &[("POSTGRES_SHARED_PRELOAD_LIBRARIES", "timescaledb")],
        &[],
        "",
        Pgsodium::NotRequested,
        &image,
    );
    assert_eq!(value(&p, "shared_preload_libraries"), Some("timescaledb"));
    assert_eq!(
        p.preload_libraries_source(),
        "from POSTGRES_SHARED_PRELOAD_LIBRARIES"
    );
    let p = plan_in_image(
        &[],
        &["-c", "shared_preload_libraries=pg_cron"],
        "",
        Pgsodium::NotRequested,
        &image,
    );
    assert_eq!(p.preload_libraries_in_force(), ["pg_cron"]);
    assert_eq!(p.preload_libraries_source(), "set by command line");
    // No catalog: the compiled default, and the reason says why.
    let p = plan(&[], &[]);
    assert_eq!(
        p.preload_libraries_source(),
        "default compiled from the manifest; no image catalog (/nonexistent/image-catalog.json does not \
         exist: not running in a built image)"
    );
}

#[test]
fn the_images_output_plugins_are_allowed_in_one_value() {
    let p = plan_in_image(
        &[],
        &[],
        "",
        Pgsodium::NotRequested,
        &catalog(&["wal2json"]),
    );
    assert_eq!(
        value(&p, "output_plugin_libraries"),
        Some("pgoutput,test_decoding,wal2json")
    );
    let position = p
        .args
        .iter()
        .position(|a| a == "output_plugin_libraries=pgoutput,test_decoding,wal2json")
        .expect("one -c value");
    assert_eq!(p.args[position - 1], "-c");
    // None to allow, or no catalog: PostgreSQL's own default stays.
    let p = plan_in_image(&[], &[], "", Pgsodium::NotRequested, &catalog(&[]));
    assert_eq!(value(&p, "output_plugin_libraries"), None);
    assert_eq!(value(&plan(&[], &[]), "output_plugin_libraries"), None);
}

#[test]
fn command_line_settings_win_in_every_spelling() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-c", "shared_buffers=2GB"], "shared_buffers", "2GB"),
        (&["-cshared_buffers=3GB"], "shared_buffers", "3GB"),
        (&["--shared-buffers=4GB"], "shared_buffers", "4GB"),
        (&["--Work_Mem=8MB"], "work_mem", "8MB"),
        (&["-B", "1000"], "shared_buffers", "1000"),
        (&["-N", "42"], "max_connections", "42"),
        (&["-S", "2048"], "work_mem", "2048"),
        (&["-h", "0.0.0.0"], "listen_addresses", "0.0.0.0"),
        (&["-i"], "listen_addresses", "*"),
        (
            &["-c", "MAX_CONNECTIONS=10", "-c", "max_connections=11"],
            "max_connections",
            "11",
        ),
    ];
    for &(args, name, wanted) in cases {
        let p = plan(&[], args);
        let setting = p.settings.iter().find(|s| s.name == name).unwrap();
        assert_eq!(
            setting.overridden_by,
            Some(Override {
                source: OverrideSource::CommandLine,
                value: wanted.to_string()
            }),
            "{args:?}"
        );
        assert!(
            !p.args[args.len()..]
                .iter()
                .any(|a| a.starts_with(&format!("{name}="))),
            "{args:?} still passes the computed {name}"
        );
    }
}

#[test]
fn option_values_are_not_mistaken_for_settings() {
    // `-D` takes a value that happens to look like an option; `-p` is not a tuned setting.
    let p = plan(&[], &["-D", "-c", "-p", "5433"]);
    assert!(p.overridden().next().is_none());
    assert_eq!(
        command_line_data_directory(&strings(&["-p", "-D", "-D", "/data"])),
        Some("/data".into())
    );
    assert_eq!(
        command_line_data_directory(&strings(&["-D/pg"])),
        Some("/pg".into())
    );
}

#[test]
fn alter_system_wins_and_the_command_line_beats_it() {
    let auto = "# Do not edit this file manually!\nwork_mem = '64MB'\nMax_Connections = 50 # trailing\nlisten_addresses = 'a''b'\n";
    let p = plan_with(
        &[],
        &["-c", "max_connections=60"],
        auto,
        Pgsodium::NotRequested,
    );
    let by = |name: &str| {
        p.settings
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .overridden_by
            .clone()
            .unwrap()
    };
    assert_eq!(
        by("work_mem"),
        Override {
            source: OverrideSource::AlterSystem,
            value: "64MB".into()
        }
    );
    assert_eq!(
        by("max_connections"),
        Override {
            source: OverrideSource::CommandLine,
            value: "60".into()
        }
    );
    assert_eq!(by("listen_addresses").value, "a'b");
    assert_eq!(value(&p, "work_mem"), None);
    assert_eq!(value(&p, "shared_buffers"), Some("1024MB"));
}

#[test]
fn auto_conf_parsing_is_forgiving() {
    let parsed = parse_auto_conf("a=1\nb = 'x y'\n\n  # comment\nc 'z'\nd = 'esc\\'aped'\n=bad\n");
    assert_eq!(
        parsed,
        [
            ("a".into(), "1".into()),
            ("b".into(), "x y".into()),
            ("c".into(), "z".into()),
            ("d".into(), "esc'aped".into())
        ]
    );
}

#[test]
fn pgsodium_is_removed_as_a_whole_item_only() {
    let vars = [(
        "POSTGRES_SHARED_PRELOAD_LIBRARIES",
        "pg_cron,pgsodium_ext,pgsodium,timescaledb",
    )];
    let p = plan_with(
        &vars,
        &[],
        "",
        Pgsodium::Disabled {
            reason: "no executable script at /x".into(),
        },
    );
    assert_eq!(
        value(&p, "shared_preload_libraries"),
        Some("pg_cron,pgsodium_ext,timescaledb")
    );
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("pgsodium DISABLED (no executable script at /x)")));
    assert_eq!(value(&p, "pgsodium.getkey_script"), None);

    let only = [("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pgsodium")];
    let p = plan_with(
        &only,
        &[],
        "",
        Pgsodium::Disabled {
            reason: "bad".into(),
        },
    );
    assert_eq!(value(&p, "shared_preload_libraries"), Some(""));

    let p = plan_with(
        &only,
        &[],
        "",
        Pgsodium::Enabled {
            script: "/share/extension/pgsodium_getkey".into(),
        },
    );
    assert_eq!(value(&p, "shared_preload_libraries"), Some("pgsodium"));
    assert_eq!(
        value(&p, "pgsodium.getkey_script"),
        Some("/share/extension/pgsodium_getkey")
    );
    let at = |arg: &str| p.args.iter().position(|a| a == arg);
    let listen = at("listen_addresses=*").expect("listen_addresses is passed");
    assert_eq!(
        at("pgsodium.getkey_script=/share/extension/pgsodium_getkey"),
        Some(listen + 2)
    );
}

#[test]
fn worker_process_clamp_is_warned_about() {
    let p = plan(&[("POSTGRES_MAX_WORKER_PROCESSES", "100")], &[]);
    assert_eq!(value(&p, "max_worker_processes"), Some("64"));
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("POSTGRES_MAX_WORKER_PROCESSES=100 is outside 8..64")));
    let p = plan(&[("POSTGRES_MAX_WORKER_PROCESSES", "16")], &[]);
    assert_eq!(value(&p, "max_worker_processes"), Some("16"));
    assert!(p.warnings.is_empty());
}

#[test]
fn summary_line_keeps_the_upstream_shape() {
    let p = plan(&[], &[]);
    assert_eq!(
        p.summary_line(),
        "[POSTGRES] [AUTO-CONFIG] RAM: 4096MB (cgroup-v2), CPU: 2 cores (cgroup-v2), Workload: web, Storage: ssd \u{2192} \
         shared_buffers=1024MB, effective_cache_size=3072MB, maintenance_work_mem=64MB, work_mem=1MB, max_connections=181, \
         wal_buffers=16MB, checkpoint_completion_target=0.9, min_wal_size=1024MB, max_wal_size=4096MB, random_page_cost=1.1, \
         default_statistics_target=100, io_workers=3, wal_level=logical"
    );
    assert!(!p.summary_line().contains("max_parallel_workers="));
}

#[test]
fn every_setting_has_a_reason() {
    for vars in [
        &[][..],
        &[
            ("POSTGRES_WORKLOAD_TYPE", "dw"),
            ("POSTGRES_WAL_LEVEL", "minimal"),
        ][..],
    ] {
        let p = plan(vars, &[]);
        for s in &p.settings {
            assert!(!s.reason.is_empty(), "{} has no reason", s.name);
        }
    }
}

#[test]
fn budget_reductions_are_explained() {
    let p = plan(&[], &[]);
    let reason = |name: &str| {
        p.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.reason.clone())
            .unwrap()
    };
    // web gives up work_mem (to the floor), then temp_buffers, then connections.
    assert!(
        reason("max_connections").ends_with("reduced from 200 to fit the memory budget"),
        "{}",
        reason("max_connections")
    );
    assert!(
        reason("work_mem").ends_with("reduced from 16MB to fit the memory budget"),
        "{}",
        reason("work_mem")
    );
    assert!(
        p.notices.iter().any(|n| n.starts_with("Memory budget:")
            && n.contains(
                "work_mem 16MB -> 1MB, temp_buffers 8MB -> 1MB, max_connections 200 -> 181"
            )
            && n.contains("3687MB (4096MB minus a 409MB margin)")),
        "{:?}",
        p.notices
    );
    // dw gives up connections first and keeps more query memory.
    let dw = plan(&[("POSTGRES_WORKLOAD_TYPE", "dw")], &[]);
    assert_eq!(dw.tuning.max_connections, Workload::Dw.min_connections());
    assert!(dw.tuning.work_mem_mb > p.tuning.work_mem_mb);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

fn plan_with_shm(memory_mb: u64, cpus: u32, shm_mb: Option<u64>, vars: &[(&str, &str)]) -> Plan {
    let mut r = resources(memory_mb, cpus);
    r.shm_mb = shm_mb;
    let config = config(vars);
    build(&PlanInputs {
        resources: &r,
        config: &config,
        user_args: &[],
        alter_system: &[],
        config_file: &[],
        pgsodium: &Pgsodium::NotRequested,
        image: &no_catalog(),
        delivery: Delivery::CommandLine,
    })
}

#[test]
fn a_small_dev_shm_lowers_parallel_workers_or_switches_to_mmap() {
    // 128 GB, 16 CPUs, web: 16 workers need 8 + 2 x 16 x work_mem x 2 MB of /dev/shm.
    let big = plan_with_shm(131072, 16, Some(64 * 1024), &[]);
    assert_eq!(value(&big, "max_parallel_workers"), Some("16"));
    assert_eq!(value(&big, "dynamic_shared_memory_type"), None);
    assert!(big.warnings.is_empty(), "{:?}", big.warnings);

    // Docker's default 64 MB: not even one worker's hash tables (2 x work_mem x 2) fit -> mmap.
    let docker = plan_with_shm(131072, 16, Some(64), &[]);
    assert_eq!(value(&docker, "dynamic_shared_memory_type"), Some("mmap"));
    assert_eq!(value(&docker, "max_parallel_workers"), Some("16"));
    let warning = docker.warnings.join("\n");
    assert!(
        warning.contains("/dev/shm is 64MB")
            && warning.contains("docker run --shm-size=")
            && warning.contains("shm_size:")
            && warning.contains("medium: Memory"),
        "{warning}"
    );

    // 1 GB of /dev/shm: room for (1024 - 8) / (2 x 2 x work_mem) workers, so fewer and no mmap.
    let some = plan_with_shm(131072, 16, Some(1024), &[]);
    let fitting = (1024 - 8) / (4 * some.tuning.work_mem_mb);
    assert!((1..16).contains(&fitting), "{fitting}");
    assert_eq!(
        value(&some, "max_parallel_workers"),
        Some(&*fitting.to_string())
    );
    assert_eq!(value(&some, "dynamic_shared_memory_type"), None);
    assert!(
        some.warnings
            .iter()
            .any(|w| w.contains(&format!("lowered from 16 to {fitting}"))),
        "{:?}",
        some.warnings
    );

    // Unknown size: nothing changes.
    let unknown = plan_with_shm(131072, 16, None, &[]);
    assert_eq!(value(&unknown, "max_parallel_workers"), Some("16"));
    assert!(unknown.warnings.is_empty());
}

/// A plan at `memory_mb` with these user arguments and these lines of postgresql.conf.
fn plan_with_user(memory_mb: u64, args: &[&str], conf: &str) -> Plan {
    let res = resources(memory_mb, 2);
    let cfg = config(&[]);
    let args = strings(args);
    let conf = parse_user_conf(conf);
    build(&PlanInputs {
        resources: &res,
        config: &cfg,
        user_args: &args,
        alter_system: &[],
        config_file: &conf,
        pgsodium: &Pgsodium::NotRequested,
        image: &no_catalog(),
        delivery: Delivery::File,
    })
}

fn setting<'a>(plan: &'a Plan, name: &str) -> &'a str {
    plan.settings
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value.as_str())
        .unwrap_or("")
}

#[test]
fn user_values_that_break_the_budget_are_kept_and_the_plan_says_by_how_much() {
    let p = plan_with_user(
        1024,
        &["-c", "work_mem=256MB", "-c", "max_connections=500"],
        "",
    );
    assert!(!p.tuning.budget.fits);
    let warning = p
        .warnings
        .iter()
        .find(|w| w.starts_with("Memory budget: with your"))
        .expect("a budget warning");
    assert!(
        warning.contains("max_connections=500, work_mem=256MB")
            && warning.contains(&format!("worst case is {}MB", p.tuning.budget.total_mb)),
        "{warning}"
    );
    // The rest is not shrunk for nothing.
    assert_eq!(setting(&p, "shared_buffers"), "256MB");
    assert!(!p.tuning.budget.reduced.any());
}

#[test]
fn user_values_are_inputs_the_rest_follows_and_the_budget_makes_room_around() {
    // A user's shared_buffers (in postgresql.conf) moves what is derived from it.
    let p = plan_with_user(4096, &[], "shared_buffers = 512MB\n");
    assert_eq!(p.tuning.shared_buffers_mb, 512);
    assert_eq!(
        p.tuning.effective_cache_size_mb,
        crate::tuning::effective_cache_size_mb(4096, 512)
    );
    assert_eq!(p.tuning.wal_buffers_mb, crate::tuning::wal_buffers_mb(512));
    // A user's max_connections is kept; work_mem is what gives way.
    let p = plan_with_user(4096, &["-c", "max_connections=300"], "");
    assert_eq!(p.tuning.max_connections, 300);
    assert!(p.tuning.budget.fits, "{:?}", p.tuning.budget);
    assert!(p
        .tuning
        .budget
        .reduced
        .from(crate::tuning::Knob::MaxConnections)
        .is_none());
    let unpinned = plan_with_user(4096, &[], "");
    assert!(p.tuning.work_mem_mb <= unpinned.tuning.work_mem_mb);
    // shared_buffers in 8 kB pages, as -B gives it.
    let p = plan_with_user(4096, &["-B", "16384"], "");
    assert_eq!(p.tuning.shared_buffers_mb, 128);
}
