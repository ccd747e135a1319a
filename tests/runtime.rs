//! The entrypoint as the container's PID 1 with a real PostgreSQL 18: first start, init scripts,
//! atomic initialisation, signals, reaping, privileges and preflight. Each test has its own namespace,
//! temp dir and port.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::server::{Instance, PASSWORD};
use support::{text, timeout};

/// Waits until `path` exists (a marker an init script writes).
fn wait_for_file(instance: &Instance, path: &std::path::Path) {
    let deadline = Instant::now() + timeout(Duration::from_secs(60));
    while !path.exists() {
        if Instant::now() > deadline {
            panic!("{} never appeared\n{}", path.display(), instance.log_tail());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Adds a first init script that appends a line to a file per initialisation; returns that file.
fn count_initialisations(pg: &Instance) -> std::path::PathBuf {
    let runs = pg.scratch.join("runs");
    pg.script(
        "01-count.sh",
        format!("echo run >> {}\n", runs.display()).as_bytes(),
        0o644,
    );
    runs
}

fn count_lines(path: &std::path::Path) -> usize {
    fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn first_start_creates_user_database_and_password_and_applies_the_dry_run() {
    let mut pg = Instance::new();
    pg.set_env("POSTGRES_USER", "app")
        .set_env("POSTGRES_DB", "appdb")
        .set_env("POSTGRES_WORKLOAD_TYPE", "oltp");
    pg.start();
    pg.wait_ready();

    assert_eq!(
        pg.psql("SELECT current_user || '@' || current_database()")
            .unwrap(),
        "app@appdb"
    );
    let refused = pg
        .psql_as("app", "wrong-password", "appdb", "SELECT 1")
        .unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    let superuser = pg
        .psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'app'")
        .unwrap();
    assert_eq!(superuser, "t");

    let preview = pg.dry_run();
    let settings = preview["settings"].as_object().unwrap();
    assert!(settings.len() >= 20, "{preview}");
    for (name, expected) in settings {
        let shown = pg
            .psql(&format!(
                "SELECT setting || coalesce(unit, '') FROM pg_settings WHERE name = '{name}'"
            ))
            .unwrap();
        let expected = expected.as_str().unwrap();
        let raw = pg.psql(&format!("SHOW {name}")).unwrap();
        // SHOW prints memory in the largest exact unit (1024MB → 1GB), and psql's output is trimmed
        // (log_line_prefix ends in a space); compare through PostgreSQL itself.
        let same = raw == expected
            || pg
                .psql(&format!(
                    "SELECT current_setting('{name}') = '{}'",
                    expected.replace('\'', "''")
                ))
                .map(|r| r == "t")
                .unwrap_or(false)
            || pg
                .psql(&format!(
                    "SELECT pg_size_bytes('{raw}') = pg_size_bytes('{}')",
                    expected.replace("MB", " MB")
                ))
                .map(|r| r == "t")
                .unwrap_or(false);
        assert!(
            same,
            "{name}: server shows {raw} ({shown}), dry run said {expected}"
        );
    }
    // oltp's 300, reduced by the memory budget (worst case within 922 MB) once work_mem and
    // temp_buffers are at their floors.
    assert_eq!(pg.psql("SHOW max_connections").unwrap(), "21");
    assert!(pg.log_text().contains(
        "[POSTGRES] [AUTO-CONFIG] RAM: 1024MB (manual), CPU: 2 cores (manual), Workload: oltp"
    ));
    assert!(
        !pg.log_text().contains(PASSWORD),
        "the password appeared in the log"
    );
    pg.stop();
}

#[test]
fn init_scripts_of_every_kind_run_in_order() {
    let mut pg = Instance::new();
    pg.script(
        "00-table.sql",
        b"CREATE TABLE ran (name text, at serial);\n",
        0o644,
    );
    pg.script("10-exec.sh", b"#!/bin/sh\nset -e\npsql -v ON_ERROR_STOP=1 -c \"INSERT INTO ran(name) VALUES ('exec.sh:' || '$PGDATABASE')\"\n", 0o755);
    pg.script(
        "20-plain.sh",
        b"psql -c \"INSERT INTO ran(name) VALUES ('plain.sh')\"\n",
        0o644,
    );
    pg.script(
        "30-plain.sql",
        b"INSERT INTO ran(name) VALUES ('sql');\n",
        0o644,
    );
    for (name, tool) in [
        ("40-gz.sql.gz", "gzip"),
        ("50-xz.sql.xz", "xz"),
        ("60-zst.sql.zst", "zstd"),
    ] {
        let mut child = Command::new(tool)
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let label = name.rsplit('.').next().unwrap();
        write!(
            child.stdin.take().unwrap(),
            "INSERT INTO ran(name) VALUES ('{label}');"
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        pg.script(name, &out.stdout, 0o644);
    }
    pg.script("70-notes.txt", b"not a script\n", 0o644);
    pg.start();
    pg.wait_ready();
    assert_eq!(
        pg.psql("SELECT string_agg(name, ',' ORDER BY at) FROM ran")
            .unwrap(),
        "exec.sh:postgres,plain.sh,sql,gz,xz,zst"
    );
    assert!(pg.log_text().contains("ignoring 70-notes.txt"));
    pg.stop();
}

#[test]
fn a_failing_script_leaves_nothing_and_the_next_start_initialises_again() {
    let mut pg = Instance::new();
    let runs = count_initialisations(&pg);
    pg.script("02-fail.sql", b"SELECT 1/0;\n", 0o644);
    pg.start();
    let status = pg.wait_exit(Duration::from_secs(60));
    assert!(
        !status.success(),
        "a failing script must fail the start\n{}",
        pg.log_tail()
    );
    assert!(!pg.is_initialised());
    assert!(
        pg.log_text()
            .contains("init script 02-fail.sql exited with status 3"),
        "{}",
        pg.log_tail()
    );

    pg.script("02-fail.sql", b"CREATE TABLE fixed();\n", 0o644);
    pg.start();
    pg.wait_ready();
    assert_eq!(
        count_lines(&runs),
        2,
        "the whole initialisation, first script included, must run again"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'fixed'")
            .unwrap(),
        "1"
    );
    pg.stop();
}

/// Kills or stops the entrypoint while an init script runs; the next start must initialise from scratch.
fn interrupted_initialisation_is_redone(signal: &str) {
    let mut pg = Instance::new();
    let runs = count_initialisations(&pg);
    let marker = pg.scratch.join("in-script");
    pg.script("02-table.sql", b"CREATE TABLE first_attempt();\n", 0o644);
    pg.script(
        "03-slow.sh",
        format!("touch {}\nsleep 60\n", marker.display()).as_bytes(),
        0o644,
    );
    pg.start();
    wait_for_file(&pg, &marker);
    pg.signal_pid1(signal);
    let status = pg.wait_exit(Duration::from_secs(30));
    assert!(
        !status.success(),
        "interrupted initialisation must exit non-zero\n{}",
        pg.log_tail()
    );
    assert!(
        !pg.is_initialised(),
        "PG_VERSION after an interrupted initialisation"
    );

    fs::remove_file(&marker).unwrap();
    pg.script("03-slow.sh", b"true\n", 0o644);
    pg.start();
    pg.wait_ready();
    assert_eq!(count_lines(&runs), 2);
    assert_eq!(
        pg.psql("SELECT count(*) FROM pg_class WHERE relname = 'first_attempt'")
            .unwrap(),
        "1"
    );
    pg.stop();
}

#[test]
fn sigterm_during_init_scripts_is_redone_on_the_next_start() {
    interrupted_initialisation_is_redone("TERM");
}

#[test]
fn sigkill_during_init_scripts_is_redone_on_the_next_start() {
    interrupted_initialisation_is_redone("KILL");
}

#[test]
fn sigterm_with_clients_and_an_open_transaction_is_a_clean_fast_shutdown() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    pg.psql("CREATE TABLE t(v int); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    let mut open = pg
        .psql_command("postgres", PASSWORD, "postgres")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = open.stdin.take().unwrap();
    writeln!(
        stdin,
        "BEGIN; INSERT INTO t VALUES (99); SELECT pg_sleep(120);"
    )
    .unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + timeout(Duration::from_secs(10));
    while pg.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()").unwrap() != "1" {
        assert!(Instant::now() < deadline, "the open transaction never started");
        std::thread::sleep(Duration::from_millis(50));
    }

    let started = Instant::now();
    pg.signal_pid1("TERM");
    let status = pg.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", pg.log_tail());
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = open.wait();

    pg.start();
    pg.wait_ready();
    assert_eq!(
        pg.psql("SELECT string_agg(v::text, ',' ORDER BY v) FROM t")
            .unwrap(),
        "1,2"
    );
    pg.stop();
}

#[test]
fn orphans_in_the_namespace_are_reaped() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    let pid1 = pg.pid1();
    for _ in 0..3 {
        let status = Command::new("nsenter")
            .args([
                "--target",
                &pid1.to_string(),
                "--pid",
                "--mount",
                "sh",
                "-c",
                "(sleep 0.2 &) ; exit 0",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let zombies = || {
        let output = Command::new("ps")
            .args(["-o", "stat=,pid=,comm=", "--ppid", &pid1.to_string()])
            .output()
            .unwrap();
        text(&output.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with('Z'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    std::thread::sleep(Duration::from_millis(600));
    let deadline = Instant::now() + timeout(Duration::from_secs(5));
    while !zombies().is_empty() {
        assert!(
            Instant::now() < deadline,
            "zombies remain under PID 1: {:?}",
            zombies()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        pg.psql("SELECT 1").unwrap(),
        "1",
        "the server must survive reaping"
    );
    pg.stop();
}

#[test]
fn a_killed_postmaster_makes_the_entrypoint_exit_non_zero() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    // The postmaster is PID 1's only child once the server runs.
    let pid1 = pg.pid1();
    let children = fs::read_to_string(format!("/proc/{pid1}/task/{pid1}/children")).unwrap();
    let host_pid = children
        .split_whitespace()
        .next()
        .expect("postmaster is PID 1's child");
    let comm = fs::read_to_string(format!("/proc/{host_pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "postgres");
    Command::new("kill")
        .args(["-KILL", host_pid])
        .status()
        .unwrap();
    let status = pg.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(137), "{}", pg.log_tail());
}

#[test]
fn a_restart_with_more_memory_applies_new_settings_without_reinitialising() {
    let mut pg = Instance::new();
    let runs = count_initialisations(&pg);
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SHOW shared_buffers").unwrap(), "256MB");
    pg.stop();

    pg.set_env("POSTGRES_MEMORY", "2g");
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SHOW shared_buffers").unwrap(), "512MB");
    assert_eq!(count_lines(&runs), 1, "initialisation ran again");
    assert!(pg.log_text().contains("skipping initialisation"));
    pg.stop();
}

#[test]
fn alter_system_settings_are_not_overridden() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    pg.psql("ALTER SYSTEM SET work_mem = '7MB'").unwrap();
    pg.stop();
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SHOW work_mem").unwrap(), "7MB");
    assert!(
        pg.log_text()
            .contains("work_mem set by ALTER SYSTEM to 7MB"),
        "{}",
        pg.log_tail()
    );
    pg.stop();
}

#[test]
fn started_as_root_the_server_and_its_files_belong_to_postgres() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("a postgres user on this machine");
    let meta = fs::metadata(&pg.pgdata).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o777),
        (postgres.uid.as_raw(), 0o700)
    );
    for entry in fs::read_dir(&pg.pgdata).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().uid(),
            postgres.uid.as_raw(),
            "{:?}",
            entry.path()
        );
    }
    let pid1 = pg.pid1();
    let children = fs::read_to_string(format!("/proc/{pid1}/task/{pid1}/children")).unwrap();
    let postmaster = children.split_whitespace().next().unwrap();
    let status = fs::read_to_string(format!("/proc/{postmaster}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<u32> = uid_line
        .split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect();
    assert!(
        uids.iter().all(|&u| u == postgres.uid.as_raw()),
        "postmaster uids {uids:?}"
    );
    let environ = fs::read(format!("/proc/{postmaster}/environ")).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains("POSTGRES_PASSWORD"),
        "the server's environment holds the password"
    );
    pg.stop();
}

#[test]
fn bad_start_conditions_fail_before_anything_is_written() {
    // Missing preload library.
    let mut pg = Instance::new();
    pg.set_env(
        "POSTGRES_SHARED_PRELOAD_LIBRARIES",
        "auto_explain,pg_cron,not_a_library",
    );
    let output = pg.entrypoint_command(&["postgres"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES names pg_cron, not_a_library, which this image does not have"
        ) && stderr.contains("To start without them: -e POSTGRES_SHARED_PRELOAD_LIBRARIES=auto_explain"),
        "{stderr}"
    );
    assert!(!pg.pgdata.exists(), "PGDATA created despite the error");

    // No password on first start.
    let mut pg = Instance::new();
    pg.remove_env("POSTGRES_PASSWORD");
    let output = pg.entrypoint_command(&["postgres"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("POSTGRES_PASSWORD is not set"),
        "{}",
        text(&output.stderr)
    );
    assert!(!pg.pgdata.exists());

    // A directory that is not a cluster.
    let pg = Instance::new();
    fs::create_dir(&pg.pgdata).unwrap();
    fs::write(pg.pgdata.join("important.txt"), "keep me").unwrap();
    let output = pg.entrypoint_command(&["postgres"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("important.txt"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        fs::read_to_string(pg.pgdata.join("important.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn other_commands_are_executed_untouched() {
    let mut command = Command::new(support::entrypoint());
    let output = command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(["sh", "-c", "echo \"$0 $1\"", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "a b\n");
}

#[test]
fn exec_mode_replaces_the_entrypoint_with_postgres() {
    let mut pg = Instance::new();
    pg.set_env("AZA_PROCESS_MODE", "exec");
    pg.start();
    pg.wait_ready();
    let comm = fs::read_to_string(format!("/proc/{}/comm", pg.pid1())).unwrap();
    assert_eq!(
        comm.trim(),
        "postgres",
        "in exec mode PID 1 is the postmaster itself"
    );
    pg.stop();
}

#[test]
fn an_invalid_port_is_an_error_before_anything_is_written() {
    let mut pg = Instance::new();
    pg.set_env("PGPORT", "54x");
    // Without the harness's `-p PORT`, so that PGPORT is the port in force.
    let mut command = Command::new(support::entrypoint());
    command
        .env_clear()
        .env("PATH", support::server::path_with_postgres());
    for (k, v) in &pg.env {
        command.env(k, v);
    }
    let output = command.arg("postgres").output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("PGPORT='54x' is not accepted: use a port number, 1 to 65535"),
        "{}",
        text(&output.stderr)
    );
    assert!(!pg.pgdata.exists());
}

#[test]
fn json_logs_carry_inputs_steps_signals_and_the_exit_status() {
    let mut pg = Instance::new();
    pg.set_env("AZA_LOG_FORMAT", "json");
    pg.start();
    pg.wait_ready();
    pg.stop();
    let events: Vec<serde_json::Value> = pg
        .log_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |predicate: &dyn Fn(&serde_json::Value) -> bool| {
        events
            .iter()
            .find(|e| predicate(e))
            .cloned()
            .unwrap_or_else(|| panic!("event missing in\n{}", pg.log_tail()))
    };
    let summary = find(&|e| e["memory_mb"] == 1024);
    assert_eq!(summary["memory_source"], "manual");
    assert_eq!(summary["settings"]["shared_buffers"], "256MB");
    assert!(summary["ts"].as_str().unwrap().ends_with('Z'));
    let initdb = find(&|e| e["step"] == "initdb");
    assert!(initdb["duration_ms"].as_u64().is_some());
    let signal = find(&|e| e["signal"] == "SIGTERM");
    assert_eq!(signal["forwarded"], "SIGINT");
    let exit = find(&|e| e.get("exit_code").is_some());
    assert_eq!(exit["exit_code"], 0);
    assert!(events
        .iter()
        .all(|e| e["level"].is_string() && e["msg"].is_string()));
    // PostgreSQL's own lines pass through untouched.
    assert!(pg
        .log_text()
        .lines()
        .any(|l| l.contains("LOG:  database system is ready to accept connections")));
}

#[test]
fn a_bad_log_format_is_an_error() {
    let output = support::entrypoint_command(&[("AZA_LOG_FORMAT", "xml")])
        .arg("--dry-run")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("AZA_LOG_FORMAT='xml' is not accepted"));
}

#[test]
fn an_arbitrary_user_id_without_a_passwd_entry_can_initialise_and_run() {
    let mut pg = Instance::new();
    let id = 54321;
    let existing = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id)).unwrap();
    assert!(
        existing.is_none(),
        "uid {id} must not exist on this machine for this test"
    );
    fs::create_dir(&pg.pgdata).unwrap();
    std::os::unix::fs::chown(&pg.pgdata, Some(id), Some(id)).unwrap();
    pg.run_as = Some(id);
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SELECT current_user").unwrap(), "postgres");
    assert!(
        pg.log_text()
            .contains("has no passwd entry; initdb runs with a temporary one"),
        "{}",
        pg.log_tail()
    );
    let pid1 = pg.pid1();
    let status = fs::read_to_string(format!("/proc/{pid1}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains(&id.to_string())),
        "{status}"
    );
    assert_eq!(
        fs::metadata(pg.pgdata.join("PG_VERSION")).unwrap().uid(),
        id
    );
    pg.stop();
}

#[test]
fn version_info_files_describe_the_server_the_catalog_and_the_tuning() {
    let mut pg = Instance::new();
    // The extension counts come from the image catalog's summary, which a host run has only when
    // the test writes one.
    let catalog = pg.dir.path().join("image-catalog.json");
    support::write_host_image_catalog(&catalog, &["auto_explain", "pg_stat_statements"]);
    pg.set_env("AZA_IMAGE_CATALOG", catalog.to_str().unwrap());
    pg.start();
    pg.wait_ready();
    let dir = pg.dir.path().join("etc");
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("version-info.json")).unwrap()).unwrap();
    let server = pg.psql("SHOW server_version").unwrap();
    assert_eq!(doc["postgres_version"], server.as_str());
    let manifest = aza_pg::manifest::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(aza_pg::manifest::MANIFEST_PATH),
    )
    .unwrap();
    assert_eq!(doc["extensions"]["total"], manifest.counts().total);
    assert_eq!(doc["extensions"]["disabled"], manifest.counts().disabled);
    assert_eq!(doc["image_catalog"]["package_source"], "none");
    assert_eq!(doc["tuning"]["memory_mb"], 1024);
    assert_eq!(doc["tuning"]["settings"]["shared_buffers"], "256MB");
    let text = fs::read_to_string(dir.join("version-info.txt")).unwrap();
    assert!(
        text.contains("shared_buffers = 256MB") && text.contains("Total catalog:"),
        "{text}"
    );
    for file in ["version-info.json", "version-info.txt"] {
        assert!(
            !fs::read_to_string(dir.join(file))
                .unwrap()
                .contains(PASSWORD),
            "{file} holds the password"
        );
    }
    pg.stop();

    // An unwritable directory (a read-only root filesystem) is a warning, not a failure.
    pg.set_env("AZA_VERSION_INFO_DIR", "/proc/sys");
    pg.start();
    pg.wait_ready();
    assert!(
        pg.log_text()
            .contains("version-info: cannot update the files in /proc/sys"),
        "{}",
        pg.log_tail()
    );
    pg.stop();
}

#[test]
fn version_info_command_writes_both_files() {
    let pg = Instance::new();
    let dir = pg.dir.path().join("build-time");
    fs::create_dir(&dir).unwrap();
    let catalog = pg.dir.path().join("image-catalog.json");
    support::write_host_image_catalog(&catalog, &[]);
    let version_info = |catalog: &std::path::Path| {
        Command::new(support::entrypoint())
            .env_clear()
            .env("PATH", support::server::path_with_postgres())
            .env("AZA_IMAGE_CATALOG", catalog)
            .args(["version-info", "--write", "--dir"])
            .arg(&dir)
            .env("AZA_IMAGE_VERSION", "18.6-test")
            .output()
            .unwrap()
    };
    let output = version_info(&catalog);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("version-info.json")).unwrap()).unwrap();
    assert_eq!(doc["build"]["image_version"], "18.6-test");
    assert!(doc.get("tuning").is_none(), "no tuning at build time");
    assert!(doc["postgres_version"].as_str().unwrap().starts_with("18."));
    assert!(doc["extensions"]["total"].as_u64().unwrap() > 0, "{doc}");
    assert!(doc.get("extensions_unknown").is_none(), "{doc}");

    // Without a catalog (a host run) the files are written all the same, and they and a warning
    // say why the extensions are unknown.
    let output = version_info(&pg.dir.path().join("no-image-catalog.json"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("version-info: no extension summary: no image catalog"),
        "{}",
        text(&output.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("version-info.json")).unwrap()).unwrap();
    assert_eq!(doc["extensions"], serde_json::Value::Null);
    assert!(
        doc["extensions_unknown"]
            .as_str()
            .unwrap()
            .starts_with("no image catalog ("),
        "{doc}"
    );
    assert!(
        fs::read_to_string(dir.join("version-info.txt"))
            .unwrap()
            .contains("\nEXTENSIONS\n  unknown: no image catalog ("),
        "the text file says so too"
    );
}

#[test]
fn test_passwords_are_listed_for_the_leak_check() {
    assert!(
        support::server::is_listed_for_the_leak_check(PASSWORD),
        "PASSWORD is not in tests/secrets.txt"
    );
}

/// While initialisation runs (temporary server up, a script running), no process on the machine has
/// the password in its arguments, and no PostgreSQL process has it in its environment.
#[test]
fn the_password_is_in_no_argv_and_no_server_environment_during_initialisation() {
    let mut pg = Instance::new();
    let marker = pg.scratch.join("in-script");
    pg.script(
        "01-wait.sh",
        format!("touch {}\nsleep 30\n", marker.display()).as_bytes(),
        0o644,
    );
    pg.start();
    wait_for_file(&pg, &marker);
    let mut postgres_processes = 0;
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            !cmdline.contains(PASSWORD),
            "process {pid} has the password in its arguments: {cmdline}"
        );
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" || comm.trim() == "pg_ctl" {
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if String::from_utf8_lossy(&environ).contains("AZA_INITDB_DIR") {
                postgres_processes += 1;
                assert!(
                    !String::from_utf8_lossy(&environ).contains(PASSWORD),
                    "{comm} {pid} has the password in its environment"
                );
            }
        }
    }
    assert!(
        postgres_processes > 0,
        "the temporary server was not found\n{}",
        pg.log_tail()
    );
    pg.signal_pid1("TERM");
    pg.wait_exit(Duration::from_secs(30));
}

/// Regression: psql stopping early (ON_ERROR_STOP) on a compressed script bigger than a pipe's
/// buffer left the decompressor blocked on the pipe and PID 1 waiting for it forever.
#[test]
fn a_large_compressed_script_failing_early_fails_the_start_promptly() {
    let mut pg = Instance::new();
    let mut sql = String::from("SELECT 1/0;\n");
    for i in 0..200_000 {
        sql.push_str(&format!("SELECT {i};\n"));
    }
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = gzip.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(sql.as_bytes()));
    let compressed = gzip.wait_with_output().unwrap().stdout;
    writer.join().unwrap().unwrap();
    pg.script("01-big.sql.gz", &compressed, 0o644);
    pg.start();
    let status = pg.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{}", pg.log_tail());
    assert!(
        pg.log_text().contains("init script 01-big.sql.gz"),
        "{}",
        pg.log_tail()
    );
    assert!(!pg.is_initialised());
}

/// Found in review: a second entrypoint on the same data directory, restarted while the first was
/// still initialising, took the staging directory for an abandoned one and cleared it.
#[test]
fn a_second_entrypoint_touches_neither_an_initialisation_in_progress_nor_a_running_server() {
    let mut pg = Instance::new();
    let marker = pg.scratch.join("in-script");
    pg.script(
        "01-wait.sh",
        format!("touch {}\nsleep 3\n", marker.display()).as_bytes(),
        0o644,
    );
    pg.start();
    wait_for_file(&pg, &marker);
    refused_as_second_entrypoint(&pg);
    pg.wait_ready();
    assert_eq!(pg.psql("SELECT 1").unwrap(), "1");
    // The lock is held for the server's life too: two servers on one data directory would corrupt it.
    refused_as_second_entrypoint(&pg);
    assert!(
        pg.pgdata.join(".aza-entrypoint.lock").exists(),
        "the lock file stays (unlinking a held lock would let a third entrypoint lock a new file)"
    );
    pg.stop();
}

/// Runs a second entrypoint on `pg`'s data directory (another port) and asserts it refuses promptly.
fn refused_as_second_entrypoint(pg: &Instance) {
    let mut second = Command::new(support::entrypoint());
    second
        .env_clear()
        .env("PATH", support::server::path_with_postgres());
    for (name, value) in &pg.env {
        second.env(name, value);
    }
    second.args(["postgres", "-p", &support::server::free_port().to_string()]);
    let mut child = second
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: an entrypoint that did not refuse would go on to run a server of its own.
    let deadline = Instant::now() + timeout(Duration::from_secs(20));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second entrypoint did not refuse the locked data directory");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another aza-entrypoint is using"),
        "{stderr}"
    );
}

/// Polls `SHOW name` until it is `expected`.
fn wait_for_setting(pg: &Instance, name: &str, expected: &str) {
    let deadline = Instant::now() + timeout(Duration::from_secs(10));
    loop {
        let shown = pg.psql(&format!("SHOW {name}")).unwrap();
        if shown == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {shown}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tuned_settings_are_the_lowest_precedence_so_alter_system_and_a_reload_change_them_live() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    let tuned = pg.dry_run()["settings"]["work_mem"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pg.psql("SELECT source FROM pg_settings WHERE name = 'work_mem'")
            .unwrap(),
        "configuration file",
        "from aza-tuning.conf, not the command line"
    );
    let conf = fs::read_to_string(pg.pgdata.join("aza-tuning.conf")).unwrap();
    assert!(conf.contains(&format!("work_mem = '{tuned}'")), "{conf}");
    // ALTER SYSTEM and a reload act at once, without a restart.
    pg.psql("ALTER SYSTEM SET work_mem = '77MB'").unwrap();
    pg.psql("SELECT pg_reload_conf()").unwrap();
    wait_for_setting(&pg, "work_mem", "77MB");
    // So does a line of postgresql.conf, which comes after the include.
    pg.psql("ALTER SYSTEM RESET work_mem").unwrap();
    let mut conf = fs::OpenOptions::new()
        .append(true)
        .open(pg.pgdata.join("postgresql.conf"))
        .unwrap();
    writeln!(conf, "work_mem = 5MB").unwrap();
    pg.psql("SELECT pg_reload_conf()").unwrap();
    wait_for_setting(&pg, "work_mem", "5MB");
    // The dry run (and so the next start's log and file) says who set it.
    let preview = pg.dry_run();
    let by_file = preview["overridden"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "work_mem")
        .cloned()
        .unwrap_or_default();
    assert_eq!(by_file["by"], "postgresql.conf", "{preview}");
    assert_eq!(by_file["value"], "5MB", "{preview}");
    pg.stop();
    pg.start();
    pg.wait_ready();
    let file = fs::read_to_string(pg.pgdata.join("aza-tuning.conf")).unwrap();
    assert!(
        file.contains("# work_mem = ") && file.contains("set by postgresql.conf: 5MB"),
        "{file}"
    );
    assert_eq!(pg.psql("SHOW work_mem").unwrap(), "5MB");
    pg.stop();
}

#[test]
fn a_cluster_tuned_with_command_line_options_by_an_earlier_version_is_moved_to_the_file() {
    let mut pg = Instance::new();
    // A cluster as initdb leaves it, without the include: what an earlier version made.
    fs::create_dir_all(&pg.pgdata).unwrap();
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("postgres user");
    nix::unistd::chown(&pg.pgdata, Some(postgres.uid), Some(postgres.gid)).unwrap();
    let initdb = Command::new("setpriv")
        .args(["--reuid=postgres", "--regid=postgres", "--clear-groups"])
        .arg(support::server::postgres_bin().join("initdb"))
        .arg("-D")
        .arg(&pg.pgdata)
        .arg("--auth=trust")
        .output()
        .unwrap();
    assert!(initdb.status.success(), "{}", support::describe(&initdb));
    pg.set_env("POSTGRES_HOST_AUTH_METHOD", "trust");
    let before = fs::read_to_string(pg.pgdata.join("postgresql.conf")).unwrap();
    assert!(
        before.contains("\nmax_connections = 100"),
        "initdb's line is active"
    );
    pg.start();
    let deadline = Instant::now() + timeout(Duration::from_secs(30));
    while pg.psql_as("postgres", "", "postgres", "SELECT 1").is_err() {
        assert!(Instant::now() < deadline, "not ready\n{}", pg.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = fs::read_to_string(pg.pgdata.join("postgresql.conf")).unwrap();
    assert!(after.starts_with("# aza-pg:"), "the include comes first");
    assert!(
        after.contains("\n#max_connections = 100"),
        "initdb's line is commented out"
    );
    let planned = pg.dry_run()["settings"]["max_connections"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pg.psql_as("postgres", "", "postgres", "SHOW max_connections")
            .unwrap(),
        planned
    );
    assert!(
        pg.log_text()
            .contains("postgresql.conf now includes aza-tuning.conf first"),
        "{}",
        pg.log_tail()
    );
    pg.stop();
}
