//! Monitoring from the image's own packages, under a real Docker engine on the local image: the log
//! PostgreSQL writes with the image's logging settings, turned into a pgbadger report by the
//! documented one-line command (pgbadger from the same image); the alert rules of
//! `stacks/monitoring` checked and unit-tested by Debian's promtool. (The exporters and Prometheus
//! scraping the stacks are in `tests/container.rs`, with the stacks.)
//!
//! Without an engine these tests fail, unless `AZA_SKIP_CONTAINER_TESTS=1`, when each prints a loud
//! SKIPPED line. Every container is removed by a guard.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::docker::{
    docker_command, engine_or_skip, image, monitoring_dir, package_image, Container,
};
use support::{describe, text, timeout};

/// Statements the test runs in its own database; the report must count exactly these.
const QUERIES: usize = 37;

/// `docker logs NAME 2>&1 | docker run --rm -i --entrypoint pgbadger IMAGE ARGS`, the README's
/// command with the report on stdout.
fn pgbadger_report(container: &str, args: &[&str]) -> String {
    let logs = docker_command(&["logs", container])
        .output()
        .expect("docker logs");
    assert!(logs.status.success(), "docker logs: {}", describe(&logs));
    let mut log = logs.stdout;
    log.extend_from_slice(&logs.stderr);
    let mut command_args = vec!["run", "--rm", "-i", "--entrypoint", "pgbadger"];
    command_args.push(&image().reference);
    command_args.extend_from_slice(args);
    let mut child = docker_command(&command_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker run pgbadger");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&log));
    let output = child.wait_with_output().expect("pgbadger's output");
    writer
        .join()
        .expect("the log writer")
        .expect("writing the log to pgbadger");
    assert!(
        output.status.success(),
        "pgbadger {args:?}: {}",
        describe(&output)
    );
    text(&output.stdout)
}

#[test]
fn pgbadger_reads_the_containers_log_and_counts_the_queries_it_ran() {
    if !engine_or_skip("pgbadger_reads_the_containers_log_and_counts_the_queries_it_ran") {
        return;
    }
    // Every statement logged with its duration: what pgbadger's query reports are built from.
    let server = Container::start(
        "pgbadger",
        &["--memory=1g", "--cpus=1", "--health-interval=1s"],
        &["postgres", "-c", "log_min_duration_statement=0"],
    );
    server.wait_healthy(timeout(Duration::from_secs(120)));
    server.psql_ok("CREATE DATABASE badger");
    // One session, one statement per line: psql sends each on its own, so each is its own log entry.
    // The last sorts more than work_mem holds, so the log has a temporary file too.
    let mut script = String::new();
    for n in 1..QUERIES {
        script.push_str(&format!("SELECT {n} AS q;\n"));
    }
    script.push_str(
        "SET work_mem = '64kB'; SELECT count(*) FROM (SELECT g FROM generate_series(1, 200000) g \
         ORDER BY g DESC) sorted;\n",
    );
    let mut psql = Command::new("docker")
        .args([
            "exec",
            "-i",
            &server.name,
            "psql",
            "-U",
            "postgres",
            "-d",
            "badger",
        ])
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec psql");
    psql.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("the script");
    let ran = psql.wait_with_output().expect("psql");
    assert!(ran.status.success(), "psql: {}", describe(&ran));
    // The SET counts as a query of its own: QUERIES - 1 selects, the SET and the sort.
    let expected = QUERIES + 1;

    let report = pgbadger_report(
        &server.name,
        &["--dbname", "badger", "-x", "text", "-o", "-", "-"],
    );
    // A figure of the text report's global information, as pgbadger words its label.
    let figure = |label: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(|n| n.trim().replace(',', ""))
            .unwrap_or_else(|| panic!("no '{label}' in pgbadger's report:\n{report}"))
    };
    let count = figure("Number of queries:");
    assert_eq!(count, expected.to_string(), "pgbadger's report:\n{report}");
    let temp_files = figure("Number temporary files:");
    assert_ne!(
        temp_files, "0",
        "log_temp_files=0 logs the sort's file:\n{report}"
    );

    // The documented command as users run it: an HTML report.
    let html = pgbadger_report(&server.name, &["-o", "-", "-x", "html", "-"]);
    assert!(
        html.contains("<html") && html.contains("pgBadger"),
        "not an HTML report: {}",
        &html[..html.len().min(500)]
    );
}

/// `promtool ARGS` from Debian's prometheus package, in `stacks/monitoring` mounted at
/// `/etc/prometheus` (where prometheus.yml expects its rules).
fn promtool(args: &[&str]) -> std::process::Output {
    let image = package_image("prometheus", &["prometheus"], Some("/usr/bin/prometheus"));
    let mount = format!("{}:/etc/prometheus:ro", monitoring_dir().display());
    let mut all = vec![
        "run",
        "--rm",
        "-v",
        &mount,
        "-w",
        "/etc/prometheus",
        "--entrypoint",
        "promtool",
        &image,
    ];
    all.extend_from_slice(args);
    docker_command(&all).output().expect("docker run promtool")
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    if !engine_or_skip("the_alert_rules_pass_promtool_and_their_unit_tests") {
        return;
    }
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.status.success(), "{}", describe(&checked));
    let found = text(&checked.stdout);
    assert!(found.contains("SUCCESS: 13 rules found"), "{found}");
    let config = promtool(&["check", "config", "/etc/prometheus/prometheus.yml"]);
    assert!(config.status.success(), "{}", describe(&config));
    // Every alert of alerts.yml is exercised by at least one case.
    let tests = std::fs::read_to_string(monitoring_dir().join("alerts.test.yml")).expect("tests");
    let rules = std::fs::read_to_string(monitoring_dir().join("alerts.yml")).expect("rules");
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "alerts.test.yml has no case for {alert}"
        );
    }
    let tested = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(tested.status.success(), "{}", describe(&tested));
}
