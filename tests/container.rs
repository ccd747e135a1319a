//! The aza-pg image under a real Docker engine, as `scripts/build-image.sh` builds it locally (Debian's
//! PostgreSQL 18 and the catalog from Debian's archive, no registry), run with its default
//! configuration the way users run it: resource limits, `docker stop` / `start`, the image's health
//! check, init scripts, bad input, and the compose stacks.
//!
//! Without an engine these tests fail, unless `AZA_SKIP_CONTAINER_TESTS=1`, when each prints a loud
//! SKIPPED line. Every container, volume, network and compose project is removed by a guard.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::docker::{
    cgroup_version, docker, docker_command, engine_or_skip, http_get, image, monitoring_dir,
    monitoring_images, shared_dir, unique_name, wait_for, write_readable, ComposeStack, Container,
};
use support::server::{free_port, is_listed_for_the_leak_check, postgres_bin, PASSWORD};
use support::{describe, text, timeout};

/// `--dry-run --format json` in a container with the same options the server runs with (and, as
/// [`Container::start`] gives it, the password a first start needs).
fn dry_run(options: &[&str]) -> Value {
    let mut args = vec!["run", "--rm", "-e", "POSTGRES_PASSWORD"];
    args.extend_from_slice(options);
    args.extend([image().reference.as_str(), "--dry-run", "--format", "json"]);
    let output = docker(&args);
    assert!(output.status.success(), "{}", describe(&output));
    support::json(&output)
}

/// The server started with `options` runs with the settings `--dry-run` computes under the same
/// options, and the dry run read the memory and CPUs from `expected_source`.
fn assert_tuning_matches_dry_run(
    tag: &str,
    options: &[&str],
    expected_memory: (u64, &str),
    expected_cpus: (u64, &str),
) {
    let plan = dry_run(options);
    let inputs = &plan["inputs"];
    assert_eq!(
        (
            inputs["memory_mb"].as_u64(),
            inputs["memory_source"].as_str()
        ),
        (Some(expected_memory.0), Some(expected_memory.1)),
        "{inputs}"
    );
    if expected_memory.1 == "cgroup-v1" {
        // The container's own limit, through its cgroup namespace view of the v1 hierarchy.
        let origin = inputs["memory_origin"].as_str().unwrap_or_default();
        assert!(origin.ends_with("/memory.limit_in_bytes"), "{inputs}");
    }
    assert_eq!(
        (inputs["cpus"].as_u64(), inputs["cpu_source"].as_str()),
        (Some(expected_cpus.0), Some(expected_cpus.1)),
        "{inputs}"
    );

    let server = Container::start(tag, &[&["--health-interval=1s"], options].concat(), &[]);
    server.wait_healthy(Duration::from_secs(60));
    for setting in ["shared_buffers", "max_connections", "max_worker_processes"] {
        let shown = server.psql_ok(&format!("SHOW {setting}"));
        let planned = plan["settings"][setting].as_str().unwrap_or_default();
        assert_eq!(shown, planned, "{setting}: server vs --dry-run {inputs}");
    }
}

fn cgroup_source() -> String {
    format!("cgroup-v{}", cgroup_version())
}

#[test]
fn the_image_has_the_programs_its_stacks_run() {
    if !engine_or_skip("the_image_has_the_programs_its_stacks_run") {
        return;
    }
    // PgBouncer, pgBackRest, cron and the backup sidecar for the stacks; Patroni with the etcd3
    // client it imports, for high availability (docs/ha-design.md).
    let script = "pgbouncer --version | head -n 1; pgbackrest version; command -v cron; \
                  aza-backup --help | head -n 1; patroni --version; \
                  python3 -c 'import patroni.dcs.etcd3; print(\"etcd3 client\")'";
    let output = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        &image().reference,
        "-c",
        script,
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let found = text(&output.stdout);
    for expected in [
        "PgBouncer 1.",
        "pgBackRest 2.",
        "/usr/sbin/cron",
        "aza-backup: scheduled pgBackRest backups",
        "patroni 4.",
        "etcd3 client",
    ] {
        assert!(found.contains(expected), "no '{expected}' in: {found}");
    }
}

#[test]
fn under_1g_and_1_cpu_the_server_runs_with_the_dry_run_settings() {
    if !engine_or_skip("under_1g_and_1_cpu_the_server_runs_with_the_dry_run_settings") {
        return;
    }
    let source = cgroup_source();
    assert_tuning_matches_dry_run(
        "web-1g",
        &["--memory=1g", "--cpus=1"],
        (1024, &source),
        (1, &source),
    );
}

#[test]
fn under_2g_and_2_cpus_a_dw_workload_runs_with_the_dry_run_settings() {
    if !engine_or_skip("under_2g_and_2_cpus_a_dw_workload_runs_with_the_dry_run_settings") {
        return;
    }
    let source = cgroup_source();
    assert_tuning_matches_dry_run(
        "dw-2g",
        &["--memory=2g", "--cpus=2", "-e", "POSTGRES_WORKLOAD_TYPE=dw"],
        (2048, &source),
        (2, &source),
    );
}

#[test]
fn postgres_memory_overrides_the_container_limit() {
    if !engine_or_skip("postgres_memory_overrides_the_container_limit") {
        return;
    }
    let source = cgroup_source();
    assert_tuning_matches_dry_run(
        "manual-memory",
        &["--memory=2g", "--cpus=1", "-e", "POSTGRES_MEMORY=1536m"],
        (1536, "manual"),
        (1, &source),
    );
}

#[test]
fn docker_stop_with_an_open_transaction_exits_0_and_start_keeps_the_committed_rows() {
    if !engine_or_skip(
        "docker_stop_with_an_open_transaction_exits_0_and_start_keeps_the_committed_rows",
    ) {
        return;
    }
    let scripts = shared_dir();
    write_readable(
        scripts.path(),
        "10-marker.sql",
        "CREATE TABLE init_runs (at timestamptz NOT NULL DEFAULT now());\n\
         INSERT INTO init_runs DEFAULT VALUES;\n",
    );
    let mount = format!(
        "{}:/docker-entrypoint-initdb.d:ro",
        scripts.path().display()
    );
    let server = Container::start(
        "stop-start",
        &[
            "--memory=1g",
            "--cpus=1",
            "--health-interval=1s",
            "-v",
            &mount,
        ],
        &[],
    );
    server.wait_healthy(Duration::from_secs(60));
    server.psql_ok("CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)");

    let mut client = server.session();
    client.send_until(
        "BEGIN;\nINSERT INTO kept VALUES (2);\nSELECT 'inside the transaction';\n",
        "inside the transaction",
    );
    assert_eq!(
        server.psql_ok("SELECT state FROM pg_stat_activity WHERE query LIKE 'SELECT ''inside%'"),
        "idle in transaction"
    );

    // docker stop sends the image's STOPSIGNAL (SIGTERM, so AZA_SIGTERM applies) and waits up to 60 s
    // before SIGKILL; the entrypoint makes it a fast shutdown.
    let stop_timeout = 60;
    let started = Instant::now();
    let stopped = docker(&["stop", "--time", &stop_timeout.to_string(), &server.name]);
    let took = started.elapsed();
    assert!(stopped.status.success(), "{}", describe(&stopped));
    assert_eq!(
        server.state(),
        ("exited".to_string(), 0),
        "{}",
        server.context()
    );
    assert!(
        took < timeout(Duration::from_secs(10)),
        "docker stop took {took:?} of its {stop_timeout} s"
    );
    assert!(
        server
            .logs()
            .contains("received SIGTERM, sent SIGINT to postgres (fast shutdown"),
        "{}",
        server.context()
    );
    assert!(
        server.logs().contains("received fast shutdown request"),
        "{}",
        server.context()
    );
    client.wait_end(Duration::from_secs(5));

    let restarted_at = server.inspect("{{.State.FinishedAt}}");
    let started = docker(&["start", &server.name]);
    assert!(started.status.success(), "{}", describe(&started));
    server.wait_healthy(Duration::from_secs(60));
    assert_eq!(
        server.psql_ok("SELECT string_agg(v::text, ',') FROM kept"),
        "1"
    );
    assert_eq!(server.psql_ok("SELECT count(*) FROM init_runs"), "1");
    let second_run = docker(&["logs", "--since", &restarted_at, &server.name]);
    let second_run = format!("{}{}", text(&second_run.stdout), text(&second_run.stderr));
    assert!(
        second_run.contains("PGDATA holds a database cluster; skipping initialisation")
            && !second_run.contains("initdb")
            && second_run.contains("ready to accept connections"),
        "the second start initialised again (or never started):\n{second_run}"
    );
}

#[test]
fn health_goes_from_starting_to_healthy() {
    if !engine_or_skip("health_goes_from_starting_to_healthy") {
        return;
    }
    let server = Container::start("health", &["--memory=1g", "--health-interval=1s"], &[]);
    let mut seen = vec![server.health()];
    wait_for(
        "healthy",
        Duration::from_secs(60),
        || {
            let health = server.health();
            if seen.last() != Some(&health) {
                seen.push(health.clone());
            }
            if health == "healthy" {
                Ok(())
            } else {
                Err(health)
            }
        },
        || server.context(),
    );
    assert_eq!(seen, ["starting", "healthy"], "{}", server.context());
}

#[test]
fn a_failing_init_script_stops_the_container_and_the_fixed_one_initialises_from_scratch() {
    if !engine_or_skip(
        "a_failing_init_script_stops_the_container_and_the_fixed_one_initialises_from_scratch",
    ) {
        return;
    }
    let scripts = shared_dir();
    // Not idempotent on purpose: run twice against the same cluster, it would fail.
    write_readable(
        scripts.path(),
        "01-first.sql",
        "CREATE TABLE attempts (n int);\nINSERT INTO attempts VALUES (1);\n",
    );
    write_readable(scripts.path(), "02-second.sql", "SELECT 1 / 0;\n");
    let mount = format!(
        "{}:/docker-entrypoint-initdb.d:ro",
        scripts.path().display()
    );
    let server = Container::start(
        "init-fails",
        &["--memory=1g", "--health-interval=1s", "-v", &mount],
        &[],
    );
    let code = server.wait_exited(Duration::from_secs(60));
    assert_ne!(code, 0, "{}", server.context());
    let logs = server.logs();
    assert!(
        logs.contains("02-second.sql") && logs.contains("division by zero"),
        "{}",
        server.context()
    );

    write_readable(
        scripts.path(),
        "02-second.sql",
        "CREATE TABLE fixed (n int);\n",
    );
    let started = docker(&["start", &server.name]);
    assert!(started.status.success(), "{}", describe(&started));
    server.wait_healthy(Duration::from_secs(60));
    assert_eq!(server.psql_ok("SELECT count(*) FROM attempts"), "1");
    assert_eq!(
        server.psql_ok("SELECT to_regclass('fixed') IS NOT NULL"),
        "t"
    );
}

#[test]
fn bad_input_stops_the_container_at_once_with_the_reason_in_its_log() {
    if !engine_or_skip("bad_input_stops_the_container_at_once_with_the_reason_in_its_log") {
        return;
    }
    for (tag, options, expected) in [
        (
            "bad-memory",
            &["-e", "POSTGRES_MEMORY=abc"][..],
            "POSTGRES_MEMORY='abc' is not a memory size",
        ),
        (
            "bad-workload",
            &["-e", "POSTGRES_WORKLOAD_TYPE=nope"],
            "POSTGRES_WORKLOAD_TYPE='nope' is not accepted: use one of web, oltp, dw, mixed",
        ),
        (
            "bad-user",
            &["-e", "POSTGRES_USER=app \"user\""],
            "POSTGRES_USER='app \\\"user\\\"' contains '\"': PostgreSQL refuses a superuser name",
        ),
        (
            "small-memory",
            &["-e", "POSTGRES_MEMORY=256m"],
            "POSTGRES_MEMORY gives 256MB of RAM - minimum 512MB REQUIRED",
        ),
        (
            "small-limit",
            &["--memory=256m"],
            "Detected 256MB RAM (cgroup-v",
        ),
    ] {
        let server = Container::start(tag, options, &[]);
        let code = server.wait_exited(Duration::from_secs(60));
        let logs = server.logs();
        assert_eq!(code, 1, "{tag}\n{}", server.context());
        assert!(
            logs.contains(expected),
            "{tag}: expected '{expected}'\n{logs}"
        );
        assert!(
            !logs.contains("initdb") && !logs.contains("starting PostgreSQL"),
            "{tag}: something was started\n{logs}"
        );
        // "At once" as the engine measured it: creating a container on a loaded machine can take
        // longer than the entrypoint's whole run.
        let ran = server.ran_for();
        assert!(
            ran < timeout(Duration::from_secs(5)),
            "{tag}: ran for {ran:?}"
        );
    }
}

/// `psql -c SQL` from the host (PostgreSQL 18's own psql) over TCP to 127.0.0.1:PORT with a password.
fn host_psql(port: u16, user: &str, password: &str, sql: &str) -> Result<String, String> {
    let output = std::process::Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "5")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .args(["-U", user, "-d", "postgres", "-c", sql])
        .output()
        .expect("psql");
    if output.status.success() {
        Ok(text(&output.stdout).trim().to_string())
    } else {
        Err(text(&output.stderr))
    }
}

/// The container's PID 1 command line (what `ps` shows anyone on the host) holds none of `secrets`.
fn assert_no_password_in_argv(container: &Container, secrets: &[&str]) {
    let output = docker(&["exec", &container.name, "cat", "/proc/1/cmdline"]);
    assert!(output.status.success(), "{}", describe(&output));
    let argv = String::from_utf8_lossy(&output.stdout).replace('\0', " ");
    assert!(
        !argv.trim().is_empty(),
        "{}: empty command line",
        container.name
    );
    for secret in secrets {
        assert!(
            !argv.contains(secret),
            "{}: a password in its argv",
            container.name
        );
    }
}

/// Awkward on purpose, and listed in tests/secrets.txt (the same as tests/replication.rs and
/// tests/pgbouncer.rs use).
const REPLICATION_PASSWORD: &str = "r3pl:it's\\odd@&";
const PGBOUNCER_PASSWORD: &str = "b0uncer:\"au\\th@&'x";
const APP_PASSWORD: &str = "app:p\\ss@w&rd'";

/// The single stack runs with TLS required and a generated CA (the primary and replica stacks run
/// without TLS): the healthcheck, the exporter and password logins all work, plaintext does not.
#[test]
fn the_single_stack_serves_password_logins_with_minimal_wal() {
    if !engine_or_skip("the_single_stack_serves_password_logins_with_minimal_wal") {
        return;
    }
    let port = free_port();
    let exporter_port = free_port();
    let project = unique_name("single");
    let stack = ComposeStack::new(
        "single",
        &[
            ("POSTGRES_IMAGE", image().reference.clone()),
            ("POSTGRES_PORT", port.to_string()),
            ("COMPOSE_PROJECT_NAME", project.clone()),
            ("POSTGRES_NETWORK_NAME", format!("{project}-net")),
            ("POSTGRES_DATA_VOLUME", format!("{project}-data")),
            ("POSTGRES_EXPORTER_PORT", exporter_port.to_string()),
            ("POSTGRES_TLS", "required".to_string()),
            ("POSTGRES_TLS_GENERATE", "true".to_string()),
            ("POSTGRES_EXPORTER_SSLMODE", "require".to_string()),
        ]
        .into_iter()
        .chain(monitoring_images())
        .collect::<Vec<_>>(),
        &[("POSTGRES_PASSWORD", PASSWORD)],
    );
    stack.up_with_profile("exporters");
    let server = Container::attach(&format!("{project}-postgres-single"));
    server.wait_healthy(Duration::from_secs(120));
    // The exporters profile comes up on the image's own packages, the password in no argv.
    let metrics = wait_for(
        "pg_up 1 from the single stack's exporter",
        Duration::from_secs(60),
        || match http_get(&format!("http://127.0.0.1:{exporter_port}/metrics")) {
            Ok(body) if body.lines().any(|l| l == "pg_up 1") => Ok(body),
            Ok(_) => Err("pg_up is not 1".to_string()),
            Err(e) => Err(e),
        },
        || stack.logs(),
    );
    assert!(metrics.contains("pg_database_wraparound_age_datfrozenxid_seconds"));
    assert_no_password_in_argv(&stack.service("postgres-exporter"), &[PASSWORD]);
    // The stack's 512m / 0.5 CPU limits are what the entrypoint tuned for.
    assert_eq!(
        server.psql_ok("SELECT current_setting('wal_level') || ' ' || current_setting('max_wal_senders') || ' ' || current_setting('shared_buffers')"),
        "minimal 0 128MB"
    );
    // libpq's default (prefer) gets TLS; plaintext is refused (so the exporter's pg_up 1 above was
    // over TLS too).
    assert_eq!(
        host_psql(
            port,
            "postgres",
            PASSWORD,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        .as_deref(),
        Ok("t"),
        "{}",
        server.context()
    );
    let plain = std::process::Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", PASSWORD)
        .arg(format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable connect_timeout=5"))
        .args(["-X", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(
        !plain.status.success() && text(&plain.stderr).contains("no encryption"),
        "{}",
        describe(&plain)
    );
}

#[test]
fn a_replica_stack_streams_from_the_primary_stack_and_pgbouncer_logs_in_with_scram() {
    if !engine_or_skip(
        "a_replica_stack_streams_from_the_primary_stack_and_pgbouncer_logs_in_with_scram",
    ) {
        return;
    }
    for secret in [REPLICATION_PASSWORD, PGBOUNCER_PASSWORD, APP_PASSWORD] {
        assert!(is_listed_for_the_leak_check(secret));
    }
    // Smaller than the stacks' 2 GB / 2 CPUs for a 2-core CI machine, and equal on both sides: a
    // standby needs at least the primary's max_connections and max_worker_processes.
    let limits = [
        ("POSTGRES_MEMORY_LIMIT", "1024m".to_string()),
        ("POSTGRES_MEMORY_RESERVATION", "512m".to_string()),
        ("POSTGRES_CPU_LIMIT", "1".to_string()),
    ];
    let name = unique_name("primary");
    let network = format!("{name}-net");
    let prometheus_port = free_port();
    let images = monitoring_images();
    let bouncer_port = free_port();
    let primary_stack = ComposeStack::new(
        "primary",
        &[
            &limits[..],
            &[
                ("POSTGRES_IMAGE", image().reference.clone()),
                ("PGBOUNCER_IMAGE", image().reference.clone()),
                ("POSTGRES_PORT", free_port().to_string()),
                ("PGBOUNCER_PORT", bouncer_port.to_string()),
                ("POSTGRES_CONTAINER_NAME", name.clone()),
                ("PGBOUNCER_CONTAINER_NAME", format!("{name}-pgbouncer")),
                ("POSTGRES_NETWORK_NAME", network.clone()),
                ("POSTGRES_DATA_VOLUME", format!("{name}-data")),
                ("BACKUP_CONTAINER_NAME", format!("{name}-backup")),
                ("POSTGRES_EXPORTER_PORT", free_port().to_string()),
                ("PGBOUNCER_EXPORTER_PORT", free_port().to_string()),
                ("PROMETHEUS_PORT", prometheus_port.to_string()),
                ("PROMETHEUS_DATA_VOLUME", format!("{name}-prometheus")),
                ("MONITORING_DIR", monitoring_dir().display().to_string()),
                ("POSTGRES_SOCKET_VOLUME", format!("{name}-socket")),
                ("BACKUP_REPO_VOLUME", format!("{name}-pgbackrest")),
                ("BACKUP_METRICS_VOLUME", format!("{name}-backup-metrics")),
            ],
            &images[..],
        ]
        .concat(),
        &[
            ("POSTGRES_PASSWORD", PASSWORD),
            ("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD),
            ("PGBOUNCER_AUTH_PASS", PGBOUNCER_PASSWORD),
        ],
    );
    // pgbouncer waits for the primary to be healthy, so `up` returns once both run.
    primary_stack.up_with_profile("exporters");
    let primary = Container::attach(&name);
    primary.wait_healthy(Duration::from_secs(120));
    let bouncer = Container::attach(&format!("{name}-pgbouncer"));
    bouncer.wait_healthy(Duration::from_secs(120));
    // The stack archives WAL and its backup service takes the first full backup by itself.
    let backup = Container::attach(&format!("{name}-backup"));
    wait_for(
        "the backup service's first full backup",
        Duration::from_secs(120),
        || {
            let log = backup.logs();
            if log.contains("[BACKUP] full backup of stanza main succeeded") {
                Ok(())
            } else {
                Err(log.lines().last().unwrap_or("").to_string())
            }
        },
        || backup.context(),
    );
    assert_eq!(
        primary.psql_ok(
            "SELECT current_setting('archive_mode') || ' ' || (archived_count > 0)::text FROM pg_stat_archiver"
        ),
        "on true"
    );

    // An application role whose password never appears in an argument: psql reads it from its
    // environment (\getenv) inside the container.
    let output = docker_command(&[
        "exec",
        "-i",
        "-e",
        "APP_PASSWORD",
        &primary.name,
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "postgres",
        "-d",
        "postgres",
    ])
    .env("APP_PASSWORD", APP_PASSWORD)
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .and_then(|mut child| {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(
            b"\\getenv app_password APP_PASSWORD\n\
              CREATE ROLE app LOGIN PASSWORD :'app_password';\n\
              CREATE TABLE replicated (v text);\n\
              GRANT SELECT ON replicated TO app;\n\
              INSERT INTO replicated VALUES ('before the replica');\n",
        )?;
        child.wait_with_output()
    })
    .expect("docker exec psql");
    assert!(output.status.success(), "{}", describe(&output));

    // Through PgBouncer: SCRAM against the verifier auth_query reads from the primary.
    assert_eq!(
        host_psql(
            bouncer_port,
            "app",
            APP_PASSWORD,
            "SELECT current_user || ' ' || count(*) FROM replicated"
        )
        .as_deref(),
        Ok("app 1"),
        "{}",
        bouncer.context()
    );
    assert!(
        host_psql(bouncer_port, "app", "wrong", "SELECT 1").is_err(),
        "a wrong password must be refused"
    );

    let replica_name = unique_name("replica");
    let replica_port = free_port();
    let replica_stack = ComposeStack::new(
        "replica",
        &[
            &limits[..],
            &[
                ("POSTGRES_IMAGE", image().reference.clone()),
                ("POSTGRES_PORT", replica_port.to_string()),
                ("POSTGRES_CONTAINER_NAME", replica_name.clone()),
                ("PRIMARY_NETWORK_NAME", network.clone()),
                ("POSTGRES_DATA_VOLUME", format!("{replica_name}-data")),
                ("POSTGRES_EXPORTER_PORT", free_port().to_string()),
            ],
            &images[..],
        ]
        .concat(),
        &[
            ("POSTGRES_PASSWORD", PASSWORD),
            ("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD),
        ],
    );
    replica_stack.up_with_profile("exporters");
    let replica = Container::attach(&replica_name);
    replica.wait_healthy(Duration::from_secs(120));
    assert_eq!(
        replica
            .psql_ok("SELECT pg_is_in_recovery()::text || ' ' || status FROM pg_stat_wal_receiver"),
        "true streaming"
    );

    // Written after the copy: it arrives by streaming.
    primary.psql_ok("INSERT INTO replicated VALUES ('streamed')");
    let read = "SELECT string_agg(v, ',' ORDER BY v) FROM replicated";
    wait_for(
        "the row written on the primary, on the replica",
        Duration::from_secs(30),
        || match replica.psql(read) {
            Ok(rows) if rows == "before the replica,streamed" => Ok(()),
            other => Err(format!("{other:?}")),
        },
        || replica.context(),
    );

    // One Prometheus scrapes it all: both servers (the replica's exporter found by name), PgBouncer's
    // pools and the backups, with the alert rules loaded and none of them firing.
    let prometheus = |query: &str| -> Result<Vec<Value>, String> {
        let url = format!(
            "http://127.0.0.1:{prometheus_port}/api/v1/query?query={}",
            query
                .replace(' ', "%20")
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
        );
        let body: Value = serde_json::from_str(&http_get(&url)?).map_err(|e| e.to_string())?;
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    };
    let value_of = |sample: &Value| sample["value"][1].as_str().unwrap_or("").to_string();
    for (query, expected) in [
        ("up", 5),
        ("pg_up", 2),
        ("pg_replication_is_replica{role=\"replica\"}", 1),
        (
            "pg_replication_slot_slot_is_active{slot_name=\"replica_slot_1\"}",
            1,
        ),
        ("aza_backup_last_run_success{type=\"full\"}", 1),
    ] {
        wait_for(
            &format!("Prometheus: {query} = 1 on {expected} series"),
            Duration::from_secs(120),
            || {
                let samples = prometheus(query)?;
                let ones = samples.iter().filter(|s| value_of(s) == "1").count();
                if ones == expected && samples.len() == expected {
                    Ok(())
                } else {
                    Err(format!("{samples:?}"))
                }
            },
            || primary_stack.logs(),
        );
    }
    let lag = prometheus("pg_replication_lag_seconds{role=\"replica\"}").expect("lag");
    assert_eq!(lag.len(), 1, "the replica's lag: {lag:?}");
    // And the primary's view: the bytes its slot's client is behind (NaN while nobody streams).
    let behind =
        prometheus("pg_replication_slots_pg_wal_lsn_diff{role=\"primary\"}").expect("diff");
    assert_eq!(behind.len(), 1, "the primary's slot lag: {behind:?}");
    assert!(
        value_of(&behind[0])
            .parse::<f64>()
            .is_ok_and(f64::is_finite),
        "the primary's slot lag is not a number: {behind:?}"
    );
    let pools = prometheus("pgbouncer_pools_client_active_connections").expect("pools");
    assert!(!pools.is_empty(), "no PgBouncer pool metrics");
    let rules =
        http_get(&format!("http://127.0.0.1:{prometheus_port}/api/v1/rules")).expect("rules");
    for group in [
        "aza-pg-availability",
        "aza-pg-replication",
        "aza-pg-backups",
    ] {
        assert!(
            rules.contains(group),
            "rule group {group} not loaded: {rules}"
        );
    }
    let firing = prometheus("ALERTS{alertstate=\"firing\"}").expect("alerts");
    assert!(
        firing.is_empty(),
        "alerts firing on a healthy stack: {firing:?}"
    );
    let secrets = [PASSWORD, REPLICATION_PASSWORD, PGBOUNCER_PASSWORD];
    for service in [
        "postgres-exporter",
        "pgbouncer-exporter",
        "backup-exporter",
        "prometheus",
    ] {
        assert_no_password_in_argv(&primary_stack.service(service), &secrets);
    }
    assert_no_password_in_argv(
        &replica_stack.service("postgres-replica-exporter"),
        &secrets,
    );

    let killed = docker(&["kill", &primary.name]);
    assert!(killed.status.success(), "{}", describe(&killed));
    let (status, _) = primary.state();
    assert_ne!(status, "running", "the primary must be down for this check");
    assert_eq!(replica.psql_ok(read), "before the replica,streamed");
    assert_eq!(
        host_psql(
            replica_port,
            "postgres",
            PASSWORD,
            "SELECT pg_is_in_recovery()"
        )
        .as_deref(),
        Ok("t"),
        "the replica serves reads over TCP with the primary down\n{}",
        replica.context()
    );
    assert_eq!(primary.state().0, status, "the primary stayed down");
}
