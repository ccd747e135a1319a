//! The built `aza-entrypoint --dry-run` end to end: output formats, bad input, and detection of real
//! limits as PID 1 of a PID namespace (cgroup v2 fixture bind-mounted over /sys/fs/cgroup, and a real
//! cgroup v1 memory limit on this machine).

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

#[test]
fn json_preview_reports_inputs_settings_and_argv() {
    let output = entrypoint_command(&[
        ("POSTGRES_MEMORY", "4g"),
        ("POSTGRES_CPUS", "4"),
        ("POSTGRES_WORKLOAD_TYPE", "DW"),
    ])
    .args(["--dry-run", "--format", "json", "-c", "work_mem=8MB"])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let doc = json(&output);
    assert_eq!(doc["inputs"]["memory_mb"], 4096);
    assert_eq!(doc["inputs"]["memory_source"], "manual");
    assert_eq!(doc["inputs"]["cpus"], 4);
    assert_eq!(doc["inputs"]["cpu_source"], "manual");
    assert_eq!(doc["inputs"]["workload"], "dw");
    assert_eq!(doc["settings"]["shared_buffers"], "1024MB");
    // The user's work_mem=8MB is an input of the budget, never reduced: dw gives up connections
    // first, from its 100 to what fits around it.
    assert_eq!(doc["settings"]["max_connections"], "33");
    assert_eq!(doc["budget"]["reduced"]["max_connections"], 100);
    assert_eq!(
        doc["budget"]["reduced"]["work_mem"],
        serde_json::Value::Null
    );
    assert_eq!(doc["budget"]["fits"], true);
    assert_eq!(doc["settings"]["default_statistics_target"], "500");
    assert!(
        doc["settings"].get("work_mem").is_none(),
        "work_mem was set by the user"
    );
    assert_eq!(doc["overridden"][0]["name"], "work_mem");
    let args: Vec<&str> = doc["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The tuned settings go in aza-tuning.conf, which postgresql.conf includes first: the server's
    // argv is the user's own.
    assert_eq!(args, ["-c", "work_mem=8MB"]);
    assert_eq!(doc["settings_in"], "aza-tuning.conf");
}

#[test]
fn every_format_renders_the_same_plan() {
    let run = |format: &str| {
        let output = entrypoint_command(&[("POSTGRES_MEMORY", "2048"), ("POSTGRES_CPUS", "2")])
            .args(["--dry-run", "--format", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        text(&output.stdout)
    };
    let args = run("args");
    assert_eq!(
        args, "",
        "no argv of the user's, and the settings are in the file"
    );
    let conf = run("conf");
    assert!(
        conf.lines()
            .any(|l| l.starts_with("shared_buffers = '512MB'")),
        "{conf}"
    );
    let table = run("table");
    assert!(
        table.contains("shared_buffers") && table.contains("25% of 2048 MB"),
        "{table}"
    );
    let doc: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let json_args: Vec<String> = doc["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        json_args,
        args.lines().map(str::to_string).collect::<Vec<_>>()
    );
}

#[test]
fn help_and_version() {
    let output = entrypoint_command(&[]).arg("--help").output().unwrap();
    assert!(output.status.success());
    assert!(text(&output.stdout).contains("--dry-run"));
    let output = entrypoint_command(&[]).arg("--version").output().unwrap();
    assert_eq!(
        text(&output.stdout).trim(),
        format!("aza-entrypoint {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Every variable with a bad value: exit 1, the variable and the value named, nothing on stdout.
#[test]
fn bad_environment_values_are_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("POSTGRES_MEMORY", "abc"),
        ("POSTGRES_MEMORY", "1.5"),
        ("POSTGRES_MEMORY", "-5"),
        ("POSTGRES_MEMORY", "0"),
        ("POSTGRES_MEMORY", "2P"),
        ("POSTGRES_MEMORY", "1048577"),
        ("POSTGRES_MEMORY", "99999999999999999999"),
        ("POSTGRES_CPUS", "0"),
        ("POSTGRES_CPUS", "many"),
        ("POSTGRES_WORKLOAD_TYPE", "olap"),
        ("POSTGRES_STORAGE_TYPE", "nvme"),
        ("POSTGRES_WAL_LEVEL", "archive"),
        ("POSTGRES_MAX_WORKER_PROCESSES", "abc"),
        ("POSTGRES_BIND_IP", "999.999.999.999"),
        ("POSTGRES_BIND_IP", "127.0.0.1,,::1"),
        ("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pg_cron;evil"),
    ];
    for &(name, value) in cases {
        for mode in [&["--dry-run"][..], &["postgres"][..]] {
            let pgdata = tempfile::tempdir().unwrap();
            let target = pgdata.path().join("data");
            let output = entrypoint_command(&[(name, value), ("PGDATA", target.to_str().unwrap())])
                .args(mode)
                .output()
                .unwrap();
            assert_eq!(
                output.status.code(),
                Some(1),
                "{name}={value} {mode:?}: {}",
                describe(&output)
            );
            let stderr = text(&output.stderr);
            assert!(
                stderr.contains(&format!("{name}='{value}'")),
                "{name}={value}: {stderr}"
            );
            assert!(
                output.stdout.is_empty(),
                "{name}={value} printed: {}",
                text(&output.stdout)
            );
            assert!(!target.exists(), "{name}={value} created PGDATA");
        }
    }
}

#[test]
fn backups_turn_on_archiving_only_with_a_stanza() {
    let settings = |vars: &[(&str, &str)]| {
        let output = entrypoint_command(vars)
            .args(["--dry-run", "--format", "json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        json(&output)["settings"].clone()
    };
    let off = settings(&[("POSTGRES_MEMORY", "2g")]);
    assert!(off.get("archive_mode").is_none(), "{off}");
    let on = settings(&[("POSTGRES_MEMORY", "2g"), ("PGBACKREST_STANZA", "app-db")]);
    assert_eq!(on["archive_mode"], "on");
    assert_eq!(
        on["archive_command"],
        "pgbackrest --stanza=app-db archive-push %p"
    );
    assert_eq!(on["archive_timeout"], "5min");
}

#[test]
fn bad_backup_variables_are_reported_together_and_nothing_starts() {
    for mode in [&["--dry-run"][..], &["postgres"][..]] {
        let pgdata = tempfile::tempdir().unwrap();
        let target = pgdata.path().join("data");
        let output = entrypoint_command(&[
            ("PGDATA", target.to_str().unwrap()),
            ("PGBACKREST_STANZA", "main"),
            ("PGBACKREST_REPO1_TYPE", "sftp"),
            ("PGBACKREST_REPO1_SFTP_HOST", "repo"),
            ("PGBACKREST_REPO2_TYPE", "tape"),
            ("AZA_RESTORE_TARGET_TIME", "yesterday"),
            ("POSTGRES_WAL_LEVEL", "minimal"),
        ])
        .args(mode)
        .output()
        .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{mode:?}: {}",
            describe(&output)
        );
        let stderr = text(&output.stderr);
        for expected in [
            "PGBACKREST_REPO1_SFTP_HOST_USER is not set, and PGBACKREST_REPO1_TYPE=sftp needs it",
            "PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE is not set",
            "PGBACKREST_REPO1_SFTP_HOST_KEY_HASH_TYPE is not set",
            "PGBACKREST_REPO2_TYPE='tape' is not accepted: use posix, cifs, sftp, s3, gcs, azure",
            "AZA_RESTORE_TARGET_TIME='yesterday' is not a date and time with its zone",
            "POSTGRES_WAL_LEVEL='minimal' cannot be archived, and PGBACKREST_STANZA is set",
        ] {
            assert!(
                stderr.contains(expected),
                "{mode:?}: no '{expected}' in {stderr}"
            );
        }
        assert!(!target.exists(), "{mode:?} created PGDATA");
    }
}

#[test]
fn too_little_memory_is_fatal_and_says_how_to_fix_it() {
    let output = entrypoint_command(&[("POSTGRES_MEMORY", "511")])
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("511MB") && stderr.contains("minimum 512MB"),
        "{stderr}"
    );
    let output = entrypoint_command(&[("POSTGRES_MEMORY", "512")])
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn other_programs_run_untouched() {
    // Even with a value that would be fatal for PostgreSQL, as in the official image.
    let output = entrypoint_command(&[("POSTGRES_MEMORY", "100")])
        .args(["sh", "-c", "echo hi; exit 3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(text(&output.stdout), "hi\n");
    let output = entrypoint_command(&[])
        .arg("/nonexistent/program")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    assert!(text(&output.stderr).contains("cannot run /nonexistent/program"));
}

/// Runs the dry run as PID 1 of new PID and mount namespaces, with `fixture` bind-mounted over
/// /sys/fs/cgroup, the way a container with a cgroup v2 namespace sees its limits.
fn dry_run_in_namespace_with_cgroup_fixture(fixture: &Path) -> serde_json::Value {
    require_root("the cgroup v2 namespace test");
    let script = r#"mount --bind "$1" /sys/fs/cgroup && exec "$2" --dry-run --format json"#;
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(fixture)
        .arg(entrypoint())
        .env_clear()
        .env("PATH", fake_image_path())
        .env("AZA_IMAGE_CATALOG", NO_IMAGE_CATALOG)
        .env("POSTGRES_PASSWORD", support::DRY_RUN_PASSWORD)
        .env("PGPORT", support::server::free_port().to_string())
        .output()
        .expect("unshare (util-linux) must be installed");
    assert!(output.status.success(), "{}", describe(&output));
    json(&output)
}

#[test]
fn detects_a_cgroup_v2_limit_as_pid_1_in_a_namespace() {
    let fixture = tempfile::tempdir().unwrap();
    write_file(
        fixture.path(),
        "cgroup.controllers",
        "cpuset cpu io memory pids\n",
    );
    write_file(fixture.path(), "memory.max", "3221225472\n");
    write_file(fixture.path(), "memory.high", "max\n");
    write_file(fixture.path(), "cpu.max", "100000 100000\n");
    let doc = dry_run_in_namespace_with_cgroup_fixture(fixture.path());
    assert_eq!(doc["inputs"]["memory_mb"], 3072, "{doc}");
    assert_eq!(doc["inputs"]["memory_source"], "cgroup-v2");
    assert_eq!(doc["inputs"]["memory_origin"], "/sys/fs/cgroup/memory.max");
    assert_eq!(doc["inputs"]["cpus"], 1);
    assert_eq!(doc["inputs"]["cpu_source"], "cgroup-v2");
    assert_eq!(doc["settings"]["shared_buffers"], "768MB");
    // web's 200, reduced to what the memory budget allows at 3 GB.
    assert_eq!(doc["settings"]["max_connections"], "131");
    assert_eq!(doc["budget"]["limit_mb"], 3072);
}

#[test]
fn memory_high_below_memory_max_wins_in_a_namespace() {
    let fixture = tempfile::tempdir().unwrap();
    write_file(fixture.path(), "cgroup.controllers", "memory\n");
    write_file(fixture.path(), "memory.max", "4294967296\n");
    write_file(fixture.path(), "memory.high", "1073741824\n");
    let doc = dry_run_in_namespace_with_cgroup_fixture(fixture.path());
    assert_eq!(doc["inputs"]["memory_mb"], 1024, "{doc}");
    assert_eq!(doc["inputs"]["memory_origin"], "/sys/fs/cgroup/memory.high");
}

/// A child of this process's real cgroup v1 memory (or cpu) hierarchy, removed on drop.
struct V1Cgroup {
    path: std::path::PathBuf,
}

impl V1Cgroup {
    fn create(controller: &str, name: &str) -> V1Cgroup {
        require_root("the cgroup v1 test");
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let relative = own
            .lines()
            .filter_map(|line| {
                // "id:controllers:path"; the path may itself hold ':'.
                let mut fields = line.splitn(3, ':').skip(1);
                fields.next().zip(fields.next())
            })
            .find(|(controllers, _)| controllers.split(',').any(|c| c == controller))
            .map(|(_, path)| path.to_string())
            .unwrap_or_else(|| {
                panic!("this machine has no cgroup v1 {controller} controller; the test needs one")
            });
        let path = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(relative.trim_start_matches('/'))
            .join(name);
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        V1Cgroup { path }
    }

    fn set(&self, file: &str, value: &str) {
        std::fs::write(self.path.join(file), value).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    fn procs(&self) -> String {
        self.path.join("cgroup.procs").display().to_string()
    }
}

impl Drop for V1Cgroup {
    fn drop(&mut self) {
        // The processes in it have exited by now; a cgroup with no processes can be removed.
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn detects_a_real_cgroup_v1_memory_and_cpu_limit() {
    let name = format!("aza-dry-run-{}", std::process::id());
    let memory = V1Cgroup::create("memory", &name);
    memory.set("memory.limit_in_bytes", &(768u64 * 1024 * 1024).to_string());
    let cpu = V1Cgroup::create("cpu", &name);
    cpu.set("cpu.cfs_period_us", "100000");
    cpu.set("cpu.cfs_quota_us", "50000");
    // The shell moves itself into both cgroups, then becomes the entrypoint.
    let script = r#"echo $$ > "$1" && echo $$ > "$2" && exec "$3" --dry-run --format json"#;
    let output = Command::new("sh")
        .args(["-c", script, "sh", &memory.procs(), &cpu.procs()])
        .arg(entrypoint())
        .env_clear()
        .env("PATH", fake_image_path())
        .env("AZA_IMAGE_CATALOG", NO_IMAGE_CATALOG)
        .env("POSTGRES_PASSWORD", support::DRY_RUN_PASSWORD)
        .env("PGPORT", support::server::free_port().to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let doc = json(&output);
    assert_eq!(doc["inputs"]["memory_mb"], 768, "{doc}");
    assert_eq!(doc["inputs"]["memory_source"], "cgroup-v1");
    assert_eq!(doc["inputs"]["cpus"], 1);
    assert_eq!(doc["inputs"]["cpu_source"], "cgroup-v1");
    assert_eq!(doc["settings"]["shared_buffers"], "192MB");
    assert_eq!(
        support::warnings_apart_from_the_disk(&doc).len(),
        0,
        "{doc}"
    );
}

/// The dry run reads no secret, so none can show: every format, with every password variable set,
/// and the error path too.
#[test]
fn no_password_appears_in_any_dry_run_output() {
    let secrets = [
        ("POSTGRES_PASSWORD", "dry-run-secret-1"),
        ("PG_REPLICATION_PASSWORD", "dry-run-secret-2"),
        ("PGBOUNCER_AUTH_PASS", "dry-run-secret-3"),
    ];
    let mut runs = Vec::new();
    for format in ["table", "json", "conf", "args"] {
        runs.push(
            entrypoint_command(&secrets)
                .args(["--dry-run", "--format", format])
                .output()
                .unwrap(),
        );
    }
    let mut failing = secrets.to_vec();
    failing.push(("POSTGRES_MEMORY", "nope"));
    runs.push(
        entrypoint_command(&failing)
            .arg("--dry-run")
            .output()
            .unwrap(),
    );
    for output in &runs {
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        for (_, secret) in secrets {
            assert!(
                !all.contains(secret),
                "{secret} leaked: {}",
                describe(output)
            );
        }
    }
    assert!(!runs.last().unwrap().status.success());
}

/// `--dry-run` with a tmpfs of `size` mounted over /dev/shm in a private mount namespace, as a
/// container with `--shm-size` sees it.
fn dry_run_with_dev_shm(size: &str, vars: &[(&str, &str)]) -> serde_json::Value {
    require_root("the /dev/shm test (mount namespace, tmpfs)");
    let script =
        r#"mount -t tmpfs -o "size=$1" tmpfs /dev/shm && exec "$2" --dry-run --format json"#;
    let output = Command::new("unshare")
        .args(["--mount", "sh", "-c", script, "sh", size])
        .arg(entrypoint())
        .env_clear()
        .env("PATH", fake_image_path())
        .env("AZA_IMAGE_CATALOG", NO_IMAGE_CATALOG)
        .env("POSTGRES_PASSWORD", support::DRY_RUN_PASSWORD)
        .env("PGPORT", support::server::free_port().to_string())
        .envs(vars.iter().copied())
        .output()
        .expect("unshare (util-linux) must be installed");
    assert!(output.status.success(), "{}", describe(&output));
    json(&output)
}

#[test]
fn a_small_wal_volume_lowers_the_wal_sizes_and_says_so() {
    require_root("the WAL volume test (mount namespace, tmpfs)");
    let dir = tempfile::tempdir().expect("temp dir");
    let volume = dir.path().to_str().expect("UTF-8 path").to_string();
    // A 2 GB volume for PGDATA (tmpfs takes no memory until written): a quarter of it is 512 MB,
    // below the web workload's 4096 MB.
    let dry_run = |format: &str| {
        let script = r#"mount -t tmpfs -o size=2g tmpfs "$1" && exec "$2" --dry-run --format "$3""#;
        Command::new("unshare")
            .args(["--mount", "sh", "-c", script, "sh", &volume])
            .arg(entrypoint())
            .arg(format)
            .env_clear()
            .env("PATH", fake_image_path())
            .env("AZA_IMAGE_CATALOG", NO_IMAGE_CATALOG)
            .env("POSTGRES_PASSWORD", support::DRY_RUN_PASSWORD)
            .env("PGPORT", support::server::free_port().to_string())
            .env("POSTGRES_MEMORY", "2g")
            .env("PGDATA", format!("{volume}/pgdata"))
            .output()
            .expect("unshare (util-linux) must be installed")
    };
    let output = dry_run("json");
    assert!(output.status.success(), "{}", describe(&output));
    let doc = json(&output);
    assert_eq!(doc["inputs"]["wal_free_mb"], 2048, "{doc}");
    assert_eq!(doc["settings"]["max_wal_size"], "512MB", "{doc}");
    assert_eq!(doc["settings"]["min_wal_size"], "128MB", "{doc}");
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("the WAL volume has 2048 MB free: max_wal_size is 512 MB instead of the workload's 4096 MB"),
        "{warnings}"
    );
    let table = dry_run("table");
    assert!(
        text(&table.stdout)
            .contains("lowered to a quarter of the WAL volume's free space (2048 MB"),
        "the reason is in the table: {}",
        describe(&table)
    );
}

#[test]
fn a_small_dev_shm_is_detected_and_parallel_query_adapts() {
    // 128 GB web on 16 CPUs: 16 parallel workers at 32 MB of work_mem.
    let dw = [("POSTGRES_MEMORY", "128g"), ("POSTGRES_CPUS", "16")];
    // 32 MB: not even one parallel worker's hash table fits -> mmap, with a warning saying how to fix it.
    let doc = dry_run_with_dev_shm("32m", &dw);
    assert_eq!(doc["inputs"]["shm_mb"], 32, "{doc}");
    assert_eq!(doc["settings"]["dynamic_shared_memory_type"], "mmap");
    assert_eq!(doc["settings"]["max_parallel_workers"], "16");
    let warnings = doc["warnings"].to_string();
    assert!(
        warnings.contains("/dev/shm is 32MB") && warnings.contains("--shm-size"),
        "{warnings}"
    );
    // 1 GB: (1024 - 8) / (2 x 2 x 32 MB) = 7 workers fit, so fewer workers and no mmap.
    let doc = dry_run_with_dev_shm("1g", &dw);
    assert_eq!(doc["inputs"]["shm_mb"], 1024, "{doc}");
    assert!(doc["settings"].get("dynamic_shared_memory_type").is_none());
    assert_eq!(doc["settings"]["max_parallel_workers"], "7");
    // A small server's parallel queries fit in 32 MB: nothing changes, no warning.
    let doc = dry_run_with_dev_shm("32m", &[("POSTGRES_MEMORY", "4g"), ("POSTGRES_CPUS", "2")]);
    assert!(doc["settings"].get("dynamic_shared_memory_type").is_none());
    assert_eq!(doc["settings"]["max_parallel_workers"], "2");
    assert_eq!(
        support::warnings_apart_from_the_disk(&doc).len(),
        0,
        "{doc}"
    );
}

#[test]
fn the_memory_budget_is_shown_in_every_format_that_explains() {
    let run = |format: &str| {
        let output = entrypoint_command(&[("POSTGRES_MEMORY", "512m"), ("POSTGRES_CPUS", "2")])
            .args(["--dry-run", "--format", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        text(&output.stdout)
    };
    let table = run("table");
    assert!(table.contains("Memory budget (worst case)"), "{table}");
    assert!(
        table.contains("of 461 MB allowed (512 MB limit - 51 MB margin): fits"),
        "{table}"
    );
    assert!(
        table.contains("reduced from 200 to fit the memory budget"),
        "{table}"
    );
    let doc: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let budget = &doc["budget"];
    assert_eq!(budget["limit_mb"], 512);
    assert_eq!(budget["allowed_mb"], 461);
    assert_eq!(budget["fits"], true);
    assert_eq!(budget["reduced"]["max_connections"], 200);
    let terms = budget["terms"].as_object().unwrap();
    let sum: u64 = terms.values().map(|v| v.as_u64().unwrap()).sum();
    let total = budget["total_mb"].as_u64().unwrap();
    assert!(total <= 461 && sum >= total && sum < total + 12, "{budget}");
    assert_eq!(terms["shared_buffers_mb"], 128);
}

/// A catalog in a temp dir, as `aza-image-catalog --write` leaves it in a built image.
fn catalog_file(dir: &Path, logical_output_plugins: &[&str]) -> String {
    let catalog = serde_json::json!({
        "format": 1,
        "package_source": "distribution",
        "entries": [
            {"name": "auto_explain", "status": "installed"},
            {"name": "pg_cron", "status": "installed", "package": "postgresql-18-cron", "version": "1.6.8-1"},
            {"name": "pg_stat_monitor", "status": "absent", "reason": "Percona's package percona-pg-stat-monitor18; Debian's archive has none"},
            {"name": "pg_stat_statements", "status": "installed"},
            {"name": "pgaudit", "status": "installed", "package": "postgresql-18-pgaudit", "version": "18.0-3"},
            {"name": "wal2json", "status": "installed", "package": "postgresql-18-wal2json", "version": "2.6-3"}
        ],
        "default_preload": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"],
        "preloadable": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"],
        "logical_output_plugins": logical_output_plugins,
    });
    let path = dir.join("image-catalog.json");
    std::fs::write(&path, serde_json::to_string_pretty(&catalog).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

/// A server tree with the image's libraries only (no pg_stat_monitor), and `PATH` for it.
fn image_without_pg_stat_monitor(dir: &Path) -> String {
    let libraries: Vec<String> = [
        "auto_explain",
        "pg_cron",
        "pg_stat_statements",
        "pgaudit",
        "wal2json",
    ]
    .iter()
    .map(|l| format!("{l}.so"))
    .collect();
    fake_server_tree(&dir.join("server"), &libraries);
    path_with(&dir.join("server/bin"))
}

#[test]
fn the_image_catalog_chooses_the_default_preload_list_and_the_dry_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file(dir.path(), &["wal2json"]);
    let path = image_without_pg_stat_monitor(dir.path());
    let vars = [
        ("AZA_IMAGE_CATALOG", catalog.as_str()),
        ("PATH", path.as_str()),
        ("POSTGRES_MEMORY", "2g"),
        ("POSTGRES_CPUS", "2"),
    ];
    let output = entrypoint_command(&vars)
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let doc = json(&output);
    assert_eq!(
        doc["settings"]["shared_preload_libraries"],
        "auto_explain,pg_cron,pg_stat_statements,pgaudit"
    );
    assert_eq!(
        doc["inputs"]["shared_preload_libraries_source"],
        format!("default of the image catalog {catalog}")
    );
    assert_eq!(doc["inputs"]["image_catalog"]["path"], catalog.as_str());
    assert_eq!(doc["inputs"]["image_catalog"]["present"], true);
    assert_eq!(doc["settings"]["listen_addresses"], "*");
    assert_eq!(doc["settings"]["cron.host"], "/var/run/postgresql");
    assert_eq!(
        doc["settings"]["output_plugin_libraries"],
        "pgoutput,test_decoding,wal2json"
    );
    let conf = entrypoint_command(&vars)
        .args(["--dry-run", "--format", "conf"])
        .output()
        .unwrap();
    assert!(
        text(&conf.stdout)
            .lines()
            .any(|l| l.starts_with("output_plugin_libraries = 'pgoutput,test_decoding,wal2json'")),
        "one line, one quoted list: {}",
        describe(&conf)
    );
    assert_eq!(
        support::warnings_apart_from_the_disk(&doc).len(),
        0,
        "{doc}"
    );

    let output = entrypoint_command(&vars).arg("--dry-run").output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let table = text(&output.stdout);
    assert!(
        table.contains(&format!("  image      catalog    {catalog}\n")),
        "{table}"
    );
    assert!(
        table.contains(&format!("default of the image catalog {catalog}")),
        "{table}"
    );

    // Without a catalog, the manifest's defaults compiled in, and the dry run says why.
    let output = entrypoint_command(&[])
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let doc = json(&output);
    assert_eq!(doc["inputs"]["image_catalog"]["present"], false);
    let source = doc["inputs"]["shared_preload_libraries_source"]
        .as_str()
        .unwrap();
    assert!(
        source.starts_with("default compiled from the manifest; no image catalog")
            && source.contains("not running in a built image"),
        "{source}"
    );
    assert!(doc["settings"].get("output_plugin_libraries").is_none());
}

#[test]
fn the_dry_run_refuses_what_a_start_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog_file(dir.path(), &[]);
    let path = image_without_pg_stat_monitor(dir.path());
    let pgdata = dir.path().join("pgdata");
    let vars = [
        ("AZA_IMAGE_CATALOG", catalog.as_str()),
        ("PATH", path.as_str()),
        (
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "auto_explain,pg_cron,pg_stat_monitor,pg_stat_statements,pgaudit",
        ),
        ("POSTGRES_PASSWORD", "x"),
        ("PGDATA", pgdata.to_str().unwrap()),
    ];
    let expected = "POSTGRES_SHARED_PRELOAD_LIBRARIES names pg_stat_monitor, which this image does not have \
        (not in this image: Percona's package percona-pg-stat-monitor18; Debian's archive has none). This \
        image can preload: auto_explain, pg_cron, pg_stat_statements, pgaudit. To start without it: \
        -e POSTGRES_SHARED_PRELOAD_LIBRARIES=auto_explain,pg_cron,pg_stat_statements,pgaudit";

    let dry_run = entrypoint_command(&vars).arg("--dry-run").output().unwrap();
    assert_eq!(dry_run.status.code(), Some(1), "{}", describe(&dry_run));
    assert!(
        text(&dry_run.stdout).contains("shared_preload_libraries"),
        "the plan is still shown: {}",
        describe(&dry_run)
    );
    let stderr = text(&dry_run.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("[POSTGRES] ERROR: a start would refuse this: {expected}")
    );

    let start = entrypoint_command(&vars).arg("postgres").output().unwrap();
    assert_eq!(start.status.code(), Some(1), "{}", describe(&start));
    assert!(
        text(&start.stderr).contains(&format!("[POSTGRES] ERROR: {expected}")),
        "the start refuses with the same words: {}",
        describe(&start)
    );
    assert!(!pgdata.exists(), "nothing was written");
}

#[test]
fn without_pg_config_the_dry_run_says_the_preflight_was_not_run() {
    let empty = tempfile::tempdir().unwrap();
    let output = entrypoint_command(&[("PATH", empty.path().to_str().unwrap())])
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let warnings = json(&output)["warnings"].to_string();
    assert!(
        warnings.contains("preflight not run: cannot run pg_config")
            && warnings.contains("was not checked against the server's library directory"),
        "{warnings}"
    );
}

#[test]
fn a_malformed_image_catalog_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("image-catalog.json");
    std::fs::write(&catalog, "{\"format\": 1, \"entries\": []}").unwrap();
    for mode in [&["--dry-run"][..], &["postgres"]] {
        let output = entrypoint_command(&[("AZA_IMAGE_CATALOG", catalog.to_str().unwrap())])
            .args(mode)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "image catalog {}: is not a valid catalog",
                catalog.display()
            )) && stderr.contains("missing field `package_source`"),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "{}", describe(&output));
    }
}

/// A pipe whose reader has gone: every write to it fails with EPIPE (Rust programs ignore SIGPIPE).
fn broken_pipe() -> std::os::fd::OwnedFd {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    writer
}

#[test]
fn a_start_whose_output_pipe_is_broken_still_ends_with_its_own_exit_code_not_a_panic() {
    let pgdata = tempfile::tempdir().expect("temp dir");
    let pgdata = pgdata.path().join("data");
    // Valid tuning input, then a refusal (no password for a first start): info lines on stdout, the
    // error on stderr, both into pipes nobody reads. Before, println! panicked (exit 101).
    let output = support::entrypoint_command(&[
        ("POSTGRES_MEMORY", "1g"),
        ("POSTGRES_PASSWORD", ""),
        ("PGDATA", pgdata.to_str().expect("UTF-8 path")),
    ])
    .arg("postgres")
    .stdout(std::process::Stdio::from(broken_pipe()))
    .stderr(std::process::Stdio::from(broken_pipe()))
    .status()
    .expect("run the entrypoint");
    assert_eq!(output.code(), Some(1), "{output:?}");
    assert!(!pgdata.exists(), "a refused start must not create PGDATA");
}

#[test]
fn pgaudit_logging_comes_from_the_environment_and_needs_the_library() {
    let output = entrypoint_command(&[("POSTGRES_PGAUDIT_LOG", "DDL, role")])
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(json(&output)["settings"]["pgaudit.log"], "ddl,role");
    let refused = entrypoint_command(&[
        ("POSTGRES_PGAUDIT_LOG", "ddl"),
        ("POSTGRES_SHARED_PRELOAD_LIBRARIES", "auto_explain"),
    ])
    .arg("--dry-run")
    .output()
    .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        text(&refused.stderr)
            .contains("POSTGRES_PGAUDIT_LOG=ddl needs pgaudit in shared_preload_libraries"),
        "{}",
        describe(&refused)
    );
}
