//! The aza-pg image under a real Docker engine: built from docker/Dockerfile on a local base image
//! (`scripts/build-base-image.sh`, no registry), with `ENTRYPOINT_SOURCE=prebuilt` and
//! `SKIP_EXTENSIONS=true`, then run the way users run it: resource limits, `docker stop` / `start`,
//! the image's health check, init scripts, bad input, and the compose stacks.
//!
//! Without an engine these tests fail, unless `AZA_SKIP_CONTAINER_TESTS=1`, when each prints a loud
//! SKIPPED line. Every container, volume, network and compose project is removed by a guard.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::docker::{
    cgroup_version, docker, engine_or_skip, image, shared_dir, wait_for, write_readable, Container,
    PRELOAD,
};
use support::{describe, text, timeout};

/// `--dry-run --format json` in a container with the same options the server runs with.
fn dry_run(options: &[&str]) -> Value {
    let preload = format!("POSTGRES_SHARED_PRELOAD_LIBRARIES={PRELOAD}");
    let mut args = vec!["run", "--rm", "-e", &preload];
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

    // docker stop sends the image's STOPSIGNAL (SIGINT) and waits up to 60 s before SIGKILL.
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
