//! The security properties of the image, checked against the image itself (built from this
//! working tree by `scripts/build-image.sh`, as for every container test), run under a real Docker
//! engine. Each check looks at what the running server does (its catalog views, its log, its
//! processes, its files, a second container on the network), never at the code that is meant to do
//! it, and each comes with a control that proves the probe can see a failure. docs/security-suite.md
//! says what each test proves and how to run it.
//!
//! Without an engine these tests fail, unless `AZA_SKIP_CONTAINER_TESTS=1`, when each prints a loud
//! SKIPPED line. Every container and network is removed by a guard, even when a test panics.
//! Passwords reach `docker` through its environment (`-e NAME` without a value), never an argument.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::docker::{
    docker, docker_command, engine_or_skip, image, loud, shared_dir, unique_name, wait_for,
    Container, Network,
};
use support::server::{is_listed_for_the_leak_check, PASSWORD};
use support::{describe, text};

/// Awkward on purpose and listed in tests/secrets.txt, like every test password (the same values
/// tests/container.rs and tests/pgbouncer.rs use).
const APP_PASSWORD: &str = "app:p\\ss@w&rd'";
const PGBOUNCER_PASSWORD: &str = "b0uncer:\"au\\th@&'x";
const REPLICATION_PASSWORD: &str = "r3pl:it's\\odd@&";

/// The image under test: the one every container test uses, built from this working tree by
/// `scripts/build-image.sh` (once per test run; cached layers make a rebuild quick).
fn local_image() -> &'static str {
    image().reference.as_str()
}

/// `docker run -d` of the image under test with 1 GB (the host's RAM would give a huge
/// `shared_buffers`), a 1 s health interval, `secrets` passed by name from this process's
/// environment, and `options`. The guard removes it (and its anonymous volume) when dropped.
fn start_server(tag: &str, secrets: &[(&str, &str)], options: &[&str]) -> Container {
    let container = Container::named(tag);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &container.name,
        "--memory=1g",
        "--health-interval=1s",
    ];
    for (name, _) in secrets {
        args.extend(["-e", name]);
    }
    args.extend_from_slice(options);
    args.push(local_image());
    let mut command = Command::new("docker");
    command.args(&args);
    for (name, value) in secrets {
        command.env(name, value);
    }
    let output = command.output().expect("docker run");
    assert!(
        output.status.success(),
        "docker run {}\n{}",
        container.name,
        describe(&output)
    );
    container
}

fn result(output: Output) -> Result<String, String> {
    if output.status.success() {
        Ok(text(&output.stdout).trim().to_string())
    } else {
        Err(format!("{}{}", text(&output.stdout), text(&output.stderr)))
    }
}

/// psql inside the container as the superuser over the Unix socket, in `database`.
fn psql_in(server: &Container, database: &str, sql: &str) -> String {
    server
        .psql_in(database, sql)
        .unwrap_or_else(|e| panic!("{database}: {sql}: {e}\n{}", server.context()))
}

/// psql inside the container over TCP to 127.0.0.1 as `user` with `password` (none: no password is
/// sent, `-w` never prompts) and extra libpq `options`.
fn psql_tcp(
    server: &Container,
    user: &str,
    password: Option<&str>,
    database: &str,
    options: &str,
    sql: &str,
) -> Result<String, String> {
    let conninfo =
        format!("host=127.0.0.1 user={user} dbname={database} connect_timeout=10 {options}");
    let mut args = vec!["exec"];
    if password.is_some() {
        args.extend(["-e", "PGPASSWORD"]);
    }
    args.extend([
        server.name.as_str(),
        "psql",
        "-X",
        "-A",
        "-t",
        "-w",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        &conninfo,
        "-c",
        sql,
    ]);
    let mut command = Command::new("docker");
    command.args(&args).env_remove("PGPASSWORD");
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    result(command.output().expect("docker exec psql"))
}

/// `CREATE ROLE role LOGIN PASSWORD ...`, the password read by psql from its environment
/// (`\getenv`), so that it is in no argument and no statement text the test prints.
fn create_login_role(server: &Container, role: &str, password: &str) {
    let mut child = docker_command(&[
        "exec",
        "-i",
        "-e",
        "ROLE_PASSWORD",
        &server.name,
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "/var/run/postgresql",
        "-U",
        "postgres",
        "-d",
        "postgres",
    ])
    .env("ROLE_PASSWORD", password)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("docker exec psql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("psql stdin");
        write!(
            stdin,
            "\\getenv role_password ROLE_PASSWORD\nCREATE ROLE {role} LOGIN PASSWORD :'role_password';\n"
        )
        .expect("write to psql");
    }
    let output = child.wait_with_output().expect("psql");
    assert!(
        output.status.success(),
        "CREATE ROLE {role}: {}\n{}",
        describe(&output),
        server.context()
    );
}

/// A shell script run in the container as `user`; its stdout.
fn exec_sh(server: &Container, user: &str, script: &str) -> String {
    server
        .exec_as(user, &["sh", "-c", script])
        .unwrap_or_else(|e| panic!("{script}: {e}\n{}", server.context()))
}

/// One row of `pg_hba_file_rules` that PostgreSQL accepted and applies to TCP connections.
#[derive(Debug)]
struct NetworkRule {
    /// `FILE:LINE`.
    file: String,
    kind: String,
    databases: String,
    users: String,
    address: String,
    method: String,
}

/// The TCP rules the server has loaded, in the order it applies them; a rule PostgreSQL could not
/// parse fails the test (it would be skipped silently at the next reload).
fn network_rules(server: &Container) -> Vec<NetworkRule> {
    let broken = psql_in(
        server,
        "postgres",
        "SELECT string_agg(file_name || ':' || line_number || ' ' || error, E'\\n') \
         FROM pg_hba_file_rules WHERE error IS NOT NULL",
    );
    assert!(broken.is_empty(), "pg_hba rules with errors:\n{broken}");
    psql_in(
        server,
        "postgres",
        "SELECT file_name || ':' || line_number, type, array_to_string(database, ','), \
         array_to_string(user_name, ','), coalesce(address, 'all'), auth_method \
         FROM pg_hba_file_rules WHERE error IS NULL AND type <> 'local' ORDER BY rule_number",
    )
    .lines()
    .map(|row| {
        let fields: Vec<&str> = row.split('|').collect();
        assert_eq!(fields.len(), 6, "unexpected pg_hba_file_rules row: {row}");
        NetworkRule {
            file: fields[0].to_string(),
            kind: fields[1].to_string(),
            databases: fields[2].to_string(),
            users: fields[3].to_string(),
            address: fields[4].to_string(),
            method: fields[5].to_string(),
        }
    })
    .collect()
}

/// The rules that admit a TCP connection without SCRAM (trust, md5, password, ...).
fn rules_without_scram(rules: &[NetworkRule]) -> Vec<&NetworkRule> {
    rules
        .iter()
        .filter(|r| r.method != "scram-sha-256" && r.method != "reject")
        .collect()
}

/// `PGDATA/aza-hba.conf` as the entrypoint wrote it.
fn entrypoint_rules(server: &Container) -> String {
    exec_sh(server, "postgres", "cat \"$PGDATA/aza-hba.conf\"")
}

/// Every process's command line in the container (PID, tab, arguments), read from /proc.
fn command_lines(server: &Container) -> String {
    exec_sh(
        server,
        "root",
        "for d in /proc/[0-9]*; do [ -r \"$d/cmdline\" ] || continue; \
         printf '%s\\t' \"${d#/proc/}\"; tr '\\000' ' ' < \"$d/cmdline\"; echo; done",
    )
}

/// The environment of the postmaster and of each of its children, read as the server's user (the
/// only one besides a ptrace-capable root that may read it): blocks headed `== PID`, one
/// `NAME=value` a line.
/// The values are never printed: a failure shows only the probe's stderr.
fn server_environments(server: &Container) -> String {
    let output = docker(&[
        "exec",
        "-u",
        "postgres",
        &server.name,
        "sh",
        "-c",
        "postmaster=$(head -n 1 \"$PGDATA/postmaster.pid\"); \
         for pid in $postmaster $(ps -o pid= --ppid \"$postmaster\"); do \
         echo \"== $pid\"; tr '\\000' '\\n' < \"/proc/$pid/environ\"; echo; done",
    ]);
    assert!(
        output.status.success(),
        "reading the server's environments: {:?}\n{}",
        output.status,
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// `psql` from a throwaway container of the image on `network` (as a client elsewhere on the
/// network would connect), with `PGPASSWORD` from this process and the directory `ca` at `/ca`.
fn client_psql(
    network: &Network,
    ca: &Path,
    password: &str,
    conninfo: &str,
    sql: &str,
) -> Result<String, String> {
    let name = unique_name("sec-client");
    let mount = format!("{}:/ca:ro", ca.display());
    let conninfo = format!("{conninfo} connect_timeout=10");
    let output = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--name",
            &name,
            "--network",
            &network.name,
            "-e",
            "PGPASSWORD",
            "-v",
            &mount,
            "--entrypoint",
            "psql",
            local_image(),
            "-X",
            "-A",
            "-t",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &conninfo,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("docker run psql");
    result(output)
}

/// `openssl s_client -starttls postgres -connect TARGET ARGS` from a throwaway container of the
/// image on `network`: whether the handshake succeeded, and all it printed.
fn client_s_client(network: &Network, ca: &Path, target: &str, args: &[&str]) -> (bool, String) {
    let name = unique_name("sec-openssl");
    let mount = format!("{}:/ca:ro", ca.display());
    let output = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--name",
            &name,
            "--network",
            &network.name,
            "-v",
            &mount,
            "--entrypoint",
            "openssl",
            local_image(),
            "s_client",
            "-starttls",
            "postgres",
            "-connect",
            target,
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker run openssl");
    (
        output.status.success(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

/// Polls the container's log until a line satisfies `wanted`; that line.
fn wait_for_log_line(server: &Container, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    wait_for(
        what,
        Duration::from_secs(20),
        || {
            server
                .logs()
                .lines()
                .find(|line| wanted(line))
                .map(str::to_string)
                .ok_or_else(|| "not in the log yet".to_string())
        },
        || server.context(),
    )
}

fn finished(test: &str, started: Instant) {
    loud(&format!(
        "security: {test} took {:.1} s",
        started.elapsed().as_secs_f64()
    ));
}

/// Checks 1 and 8: with the defaults, every network rule asks for SCRAM, every stored password is a
/// SCRAM verifier, and none of the three passwords the server was given is in any process's
/// arguments, in the server's environment or in the log.
#[test]
fn by_default_only_scram_is_accepted_and_no_password_is_visible_in_processes_or_the_log() {
    const TEST: &str =
        "by_default_only_scram_is_accepted_and_no_password_is_visible_in_processes_or_the_log";
    if !engine_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    let secrets = [PASSWORD, PGBOUNCER_PASSWORD, REPLICATION_PASSWORD];
    for secret in secrets {
        assert!(
            is_listed_for_the_leak_check(secret),
            "every test password must be in tests/secrets.txt"
        );
    }
    let server = start_server(
        "sec-default",
        &[
            ("POSTGRES_PASSWORD", PASSWORD),
            ("PGBOUNCER_AUTH_PASS", PGBOUNCER_PASSWORD),
            ("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD),
        ],
        &[],
    );
    server.wait_healthy(Duration::from_secs(90));

    // 1. SCRAM only.
    assert_eq!(
        psql_in(&server, "postgres", "SHOW password_encryption"),
        "scram-sha-256"
    );
    let rules = network_rules(&server);
    // Control: the query sees the entrypoint's rules and initdb's, so an empty answer below means
    // something.
    assert!(
        rules.iter().any(|r| r.file.contains("/aza-hba.conf:")
            && r.kind == "host"
            && r.databases == "all"
            && r.users == "all"
            && r.address == "all"
            && r.method == "scram-sha-256"),
        "no catch-all SCRAM rule from aza-hba.conf among {rules:#?}"
    );
    assert!(
        rules.iter().any(|r| r.file.contains("/pg_hba.conf:")),
        "no initdb TCP rule seen: {rules:#?}"
    );
    let weak = rules_without_scram(&rules);
    assert!(
        weak.is_empty(),
        "TCP rules that admit a connection without SCRAM by default: {weak:#?}"
    );
    let verifiers = psql_in(
        &server,
        "postgres",
        "SELECT rolname || ' ' || rolsuper || ' ' || left(rolpassword, 14) FROM pg_authid \
         WHERE rolpassword IS NOT NULL ORDER BY rolname",
    );
    assert!(
        verifiers
            .lines()
            .any(|l| l == "postgres true SCRAM-SHA-256$"),
        "the superuser's stored password is not a SCRAM verifier: {verifiers}"
    );
    for role in ["pgbouncer_auth", "replicator"] {
        assert!(
            verifiers
                .lines()
                .any(|l| l.starts_with(&format!("{role} "))),
            "{role} has no stored password: {verifiers}"
        );
    }
    assert!(
        verifiers.lines().all(|l| l.ends_with(" SCRAM-SHA-256$")),
        "a stored password that is not a SCRAM verifier: {verifiers}"
    );
    // Control for the rules: over TCP, no password is no login; the right one is.
    let refused = psql_tcp(&server, "postgres", None, "postgres", "", "SELECT 1").unwrap_err();
    assert!(
        refused.contains("no password supplied")
            || refused.contains("password authentication failed"),
        "{refused}"
    );
    assert_eq!(
        psql_tcp(
            &server,
            "postgres",
            Some(PASSWORD),
            "postgres",
            "",
            "SELECT 'in'"
        )
        .as_deref(),
        Ok("in")
    );

    // 8. No password in any command line, in the server's environment, or in the log.
    let lines = command_lines(&server);
    assert!(
        lines.contains("aza-entrypoint") && lines.contains("postgres: checkpointer"),
        "the probe does not see the server's processes:\n{lines}"
    );
    let shown = exec_sh(&server, "root", "ps -eww -o pid,user,args");
    assert!(
        shown.contains("checkpointer"),
        "ps shows no server: {shown}"
    );
    for secret in secrets {
        assert!(
            !lines.contains(secret) && !shown.contains(secret),
            "a password is in a process's arguments (ps shows it to anyone who can see the processes)"
        );
    }
    let environments = server_environments(&server);
    let names: Vec<&str> = environments
        .lines()
        .map(|l| l.split('=').next().unwrap_or_default())
        .collect();
    let processes = environments
        .lines()
        .filter(|l| l.starts_with("== "))
        .count();
    assert!(
        processes >= 5 && environments.contains("PGDATA="),
        "the probe did not read the server's environments ({processes} processes): {names:?}"
    );
    for variable in [
        "POSTGRES_PASSWORD",
        "PGBOUNCER_AUTH_PASS",
        "PG_REPLICATION_PASSWORD",
        "PGPASSWORD",
    ] {
        assert!(
            !names.contains(&variable),
            "{variable} is in the environment of a server process: {names:?}"
        );
    }
    for secret in secrets {
        assert!(
            !environments.contains(secret),
            "a password is in the environment of a server process (variables: {names:?})"
        );
    }
    let log = server.logs();
    assert!(
        log.contains("database system is ready to accept connections"),
        "{}",
        server.context()
    );
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "a password is in the container's log"
        );
    }
    finished(TEST, started);
}

/// Check 2: `POSTGRES_HOST_AUTH_METHOD=trust` without a password is the one way to a server that
/// lets anyone in; it is written as such, seen by the query of check 1, and announced in the log.
#[test]
fn trust_is_written_as_trust_and_announced_with_a_warning() {
    const TEST: &str = "trust_is_written_as_trust_and_announced_with_a_warning";
    if !engine_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    let server = start_server("sec-trust", &[], &["-e", "POSTGRES_HOST_AUTH_METHOD=trust"]);
    server.wait_healthy(Duration::from_secs(90));

    let written = entrypoint_rules(&server);
    let active: Vec<&str> = written
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(active, ["host all all all trust"], "{written}");
    // What --dry-run shows for the same environment is that file.
    let planned = result(docker(&[
        "run",
        "--rm",
        "-e",
        "POSTGRES_HOST_AUTH_METHOD=trust",
        local_image(),
        "--dry-run",
        "--format",
        "hba",
    ]))
    .unwrap_or_else(|e| panic!("--dry-run --format hba: {e}"));
    assert!(
        planned.lines().any(|l| l == "host all all all trust"),
        "{planned}"
    );
    // The query of the default test sees it: so its empty answer there is a real "none".
    let rules = network_rules(&server);
    let weak = rules_without_scram(&rules);
    assert!(
        weak.iter()
            .any(|r| r.file.contains("/aza-hba.conf:") && r.method == "trust"),
        "the trust rule is not among the loaded rules: {rules:#?}"
    );
    // And it does what it says: a TCP login without any password.
    assert_eq!(
        psql_tcp(&server, "postgres", None, "postgres", "", "SELECT 'let in'").as_deref(),
        Ok("let in"),
        "{}",
        server.context()
    );

    // Loud at start: a WARNING line naming trust, before the server is ready.
    let log = server.logs();
    let lines: Vec<&str> = log.lines().collect();
    let warning = lines
        .iter()
        .position(|l| l.contains("WARNING") && l.to_ascii_lowercase().contains("trust"));
    let ready = lines
        .iter()
        .rposition(|l| l.contains("database system is ready to accept connections"));
    assert!(
        matches!((warning, ready), (Some(w), Some(r)) if w < r),
        "POSTGRES_HOST_AUTH_METHOD=trust: the log has no WARNING line about trust before the server \
         is ready (the only warning is a comment in PGDATA/aza-hba.conf, which nobody reads at start); \
         the WARNING lines of the log:\n{}",
        lines
            .iter()
            .filter(|l| l.contains("WARNING"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
    finished(TEST, started);
}

/// Checks 4, 5, 6 and 7: the PgBouncer lookup function's rights in every database that has it, the
/// server user's (lack of) write access to code, the `public` schema closed to ordinary roles, and
/// pgAudit logging DDL.
#[test]
fn privileges_files_and_audit_are_locked_down() {
    const TEST: &str = "privileges_files_and_audit_are_locked_down";
    if !engine_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    for secret in [PASSWORD, PGBOUNCER_PASSWORD, APP_PASSWORD] {
        assert!(is_listed_for_the_leak_check(secret));
    }
    let server = start_server(
        "sec-privileges",
        &[
            ("POSTGRES_PASSWORD", PASSWORD),
            ("PGBOUNCER_AUTH_PASS", PGBOUNCER_PASSWORD),
        ],
        &["-e", "POSTGRES_DB=appdb", "-e", "POSTGRES_PGAUDIT_LOG=ddl"],
    );
    server.wait_healthy(Duration::from_secs(90));
    create_login_role(&server, "app", APP_PASSWORD);

    // 4. The lookup function: in every database that has it, a security definer with a fixed
    // search_path that only pgbouncer_auth may run.
    let databases = psql_in(
        &server,
        "postgres",
        "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname",
    );
    let mut with_lookup = Vec::new();
    for database in databases.lines() {
        let found = psql_in(
            &server,
            database,
            "SELECT prosecdef || ' ' || coalesce(array_to_string(proconfig, ','), '-') || ' ' || \
             has_function_privilege('public', p.oid, 'EXECUTE') || ' ' || \
             has_function_privilege('pgbouncer_auth', p.oid, 'EXECUTE') || ' ' || \
             has_function_privilege('app', p.oid, 'EXECUTE') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'public' AND p.proname = 'pgbouncer_lookup'",
        );
        if found.is_empty() {
            continue;
        }
        with_lookup.push(database.to_string());
        assert_eq!(
            found, "true search_path=pg_catalog false true false",
            "{database}: prosecdef, proconfig, EXECUTE for PUBLIC, pgbouncer_auth, app"
        );
        let denied = psql_tcp(
            &server,
            "app",
            Some(APP_PASSWORD),
            database,
            "",
            "SELECT * FROM public.pgbouncer_lookup('postgres')",
        )
        .unwrap_err();
        assert!(
            denied.contains("permission denied for function pgbouncer_lookup"),
            "{database}: {denied}"
        );
        // Control: the role it is for gets an answer (the app role's verifier, not printed).
        assert_eq!(
            psql_tcp(
                &server,
                "pgbouncer_auth",
                Some(PGBOUNCER_PASSWORD),
                database,
                "",
                "SELECT usename || ' ' || left(passwd, 14) FROM public.pgbouncer_lookup('app')"
            )
            .as_deref(),
            Ok("app SCRAM-SHA-256$"),
            "{database}"
        );
        // ... but no superuser's: a stolen PgBouncer password must not yield it for an offline guess.
        assert_eq!(
            psql_tcp(
                &server,
                "pgbouncer_auth",
                Some(PGBOUNCER_PASSWORD),
                database,
                "",
                "SELECT count(*) FROM public.pgbouncer_lookup('postgres')"
            )
            .as_deref(),
            Ok("0"),
            "{database}: the superuser's verifier is served"
        );
    }
    for expected in ["template1", "postgres", "appdb"] {
        assert!(
            with_lookup.iter().any(|d| d == expected),
            "no public.pgbouncer_lookup(text) in {expected} (found in {with_lookup:?})"
        );
    }
    assert_eq!(
        psql_in(
            &server,
            "postgres",
            "SELECT rolsuper || ' ' || rolcreaterole || ' ' || rolcreatedb || ' ' || rolbypassrls \
             FROM pg_roles WHERE rolname = 'pgbouncer_auth'"
        ),
        "false false false false",
        "pgbouncer_auth must hold no privilege of its own"
    );

    // 5. The server's user cannot change the code it runs: the libraries and extension scripts,
    // the entrypoint and the image catalog.
    let code = [
        "/usr/lib/postgresql",
        "/usr/share/postgresql",
        "/usr/local/bin",
        "/usr/share/aza-pg",
    ];
    let counted = exec_sh(
        &server,
        "postgres",
        "find /usr/lib/postgresql -name '*.so' | wc -l; \
         find /usr/share/postgresql -name '*.control' | wc -l",
    );
    assert!(
        counted
            .split_whitespace()
            .all(|n| n.parse::<u32>().unwrap_or(0) > 10),
        "the probe sees no libraries or extensions: {counted}"
    );
    let writable_probe: Vec<&str> = ["find"]
        .into_iter()
        .chain(code)
        .chain(["-writable"])
        .collect();
    let writable = server
        .exec_as("postgres", &writable_probe)
        .unwrap_or_else(|e| panic!("{writable_probe:?}: {e}"));
    assert!(
        writable.trim().is_empty(),
        "the server's user can write to these (a library or an extension script it would load):\n{writable}"
    );
    // Control: the same probe finds what it may write.
    let control = exec_sh(
        &server,
        "postgres",
        "find \"$PGDATA\" -maxdepth 1 -writable | head -n 3",
    );
    assert!(
        !control.trim().is_empty(),
        "find -writable finds nothing even in PGDATA: the probe does not work"
    );

    // 6. An ordinary role cannot create objects in public, in postgres or in POSTGRES_DB.
    for database in ["postgres", "appdb"] {
        let refused = psql_tcp(
            &server,
            "app",
            Some(APP_PASSWORD),
            database,
            "",
            "CREATE TABLE public.t(i int)",
        )
        .unwrap_err();
        assert!(
            refused.contains("permission denied for schema public"),
            "{database}: {refused}"
        );
        assert_eq!(
            psql_in(
                &server,
                database,
                "SELECT has_schema_privilege('app', 'public', 'CREATE') || ' ' || \
                 has_schema_privilege('public', 'public', 'CREATE')"
            ),
            "false false",
            "{database}"
        );
    }
    // Control: the statement itself is fine, for the superuser.
    psql_in(
        &server,
        "appdb",
        "CREATE TABLE public.t(i int); DROP TABLE public.t",
    );

    // 7. pgAudit logs DDL as asked, and only DDL.
    assert_eq!(psql_in(&server, "postgres", "SHOW pgaudit.log"), "ddl");
    psql_in(&server, "postgres", "CREATE TABLE audited(i int)");
    let audited = wait_for_log_line(&server, "the pgAudit line of CREATE TABLE audited", |l| {
        l.contains("AUDIT: SESSION,")
            && l.contains(",DDL,CREATE TABLE,")
            && l.contains("CREATE TABLE audited(i int)")
    });
    assert!(audited.contains("user=postgres"), "{audited}");
    psql_in(&server, "postgres", "SELECT count(*) FROM audited");
    psql_in(&server, "postgres", "CREATE TABLE audit_marker(i int)");
    wait_for_log_line(&server, "the pgAudit line of the marker", |l| {
        l.contains("AUDIT: SESSION,") && l.contains("CREATE TABLE audit_marker")
    });
    let log = server.logs();
    assert!(
        !log.lines()
            .any(|l| l.contains("AUDIT: SESSION,") && l.contains("SELECT count(*) FROM audited")),
        "pgaudit.log=ddl logged a SELECT"
    );
    for secret in [PASSWORD, PGBOUNCER_PASSWORD, APP_PASSWORD] {
        assert!(
            !log.contains(secret),
            "a password is in the container's log"
        );
    }
    finished(TEST, started);
}

/// Checks 3 and 9: with TLS required and a generated CA, a client elsewhere on the network gets in
/// only over TLS 1.2 or later with a certificate it can verify for the server's name; the superuser
/// is refused over the network even then, while an ordinary role logs in.
#[test]
fn tls_is_required_and_the_superuser_is_refused_over_the_network() {
    const TEST: &str = "tls_is_required_and_the_superuser_is_refused_over_the_network";
    if !engine_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    for secret in [PASSWORD, APP_PASSWORD] {
        assert!(is_listed_for_the_leak_check(secret));
    }
    // Declared first, so dropped last: after the containers on it.
    let network = Network::create("sec-tls-net");
    let host = "db-tls";
    let network_option = format!("--network={}", network.name);
    let server = start_server(
        "sec-tls",
        &[("POSTGRES_PASSWORD", PASSWORD)],
        &[
            &network_option,
            "--hostname",
            host,
            "--network-alias",
            host,
            "-e",
            "POSTGRES_TLS=required",
            "-e",
            "POSTGRES_TLS_GENERATE=true",
            "-e",
            "POSTGRES_NETWORK_SUPERUSER=refuse",
        ],
    );
    server.wait_healthy(Duration::from_secs(90));
    let health = server
        .exec_as("root", &["aza-entrypoint", "healthcheck"])
        .unwrap_or_else(|e| panic!("the healthcheck fails with TLS required: {e}"));
    assert!(health.contains("healthy"), "{health}");
    create_login_role(&server, "app", APP_PASSWORD);

    // The generated CA, as a client would be given it.
    let ca = shared_dir();
    let pgdata = exec_sh(&server, "root", "printf %s \"$PGDATA\"");
    let copied = docker(&[
        "cp",
        &format!("{}:{pgdata}/tls/ca.crt", server.name),
        &ca.path().join("ca.crt").display().to_string(),
    ]);
    assert!(copied.status.success(), "{}", describe(&copied));
    // The CA's key is not in PGDATA (backups and replicas copy PGDATA), but beside it, private.
    assert_eq!(
        exec_sh(
            &server,
            "root",
            "test ! -e \"$PGDATA/tls/ca.key\" && stat -c '%U %a' \"$PGDATA.ca/ca.key\""
        )
        .trim(),
        "postgres 600"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            ca.path().join("ca.crt"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod ca.crt");
    }
    let verify = format!("host={host} dbname=postgres sslmode=verify-full sslrootcert=/ca/ca.crt");
    let own_tls = "SELECT current_user || ' ' || ssl || ' ' || version \
                   FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    // 3. Plaintext is refused for a role that may log in...
    let plain = client_psql(
        &network,
        ca.path(),
        APP_PASSWORD,
        &format!("host={host} user=app dbname=postgres sslmode=disable"),
        "SELECT 1",
    )
    .unwrap_err();
    assert!(
        plain.contains("rejects connection") && plain.contains("no encryption"),
        "{plain}"
    );
    // ...which gets in over TLS, verified against the CA for the server's name.
    let over_tls = client_psql(
        &network,
        ca.path(),
        APP_PASSWORD,
        &format!("{verify} user=app"),
        own_tls,
    )
    .unwrap_or_else(|e| {
        panic!(
            "verify-full with the generated CA: {e}\n{}",
            server.context()
        )
    });
    assert!(
        over_tls == "app true TLSv1.3" || over_tls == "app true TLSv1.2",
        "{over_tls}"
    );
    // Control: verify-full does verify (the container's name is not in the certificate).
    let mismatch = client_psql(
        &network,
        ca.path(),
        APP_PASSWORD,
        &format!(
            "host={} user=app dbname=postgres sslmode=verify-full sslrootcert=/ca/ca.crt",
            server.name
        ),
        "SELECT 1",
    )
    .unwrap_err();
    assert!(mismatch.contains("does not match host name"), "{mismatch}");

    // TLS 1.1 (even with every cipher allowed on the client) is refused; TLS 1.2 is served with
    // a certificate that verifies.
    let target = format!("{host}:5432");
    let (old, out) = client_s_client(
        &network,
        ca.path(),
        &target,
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    );
    assert!(
        !old && out.contains("Cipher is (NONE)"),
        "TLS 1.1 was accepted:\n{out}"
    );
    let (current, out) = client_s_client(
        &network,
        ca.path(),
        &target,
        &[
            "-tls1_2",
            "-CAfile",
            "/ca/ca.crt",
            "-verify_return_error",
            "-verify_hostname",
            host,
        ],
    );
    assert!(
        current && out.contains("Protocol: TLSv1.2") && out.contains("Verify return code: 0 (ok)"),
        "TLS 1.2 with the generated CA failed:\n{out}"
    );
    wait_for_log_line(&server, "the server's note of the refused TLS 1.1", |l| {
        l.contains("could not accept SSL connection: unsupported protocol")
    });

    // 9. The superuser, with the right password and over verified TLS, is refused from the
    // network...
    let superuser = client_psql(
        &network,
        ca.path(),
        PASSWORD,
        &format!("{verify} user=postgres"),
        "SELECT 1",
    )
    .unwrap_err();
    assert!(
        superuser.contains("rejects connection")
            && superuser.contains("user \"postgres\"")
            && superuser.contains("SSL encryption"),
        "{superuser}"
    );
    // ...but not from inside the container (so the refusal above is the rule, not the password).
    assert_eq!(
        psql_tcp(
            &server,
            "postgres",
            Some(PASSWORD),
            "postgres",
            "sslmode=require",
            own_tls
        )
        .as_deref(),
        Ok("postgres true TLSv1.3"),
        "{}",
        server.context()
    );
    finished(TEST, started);
}

/// A password as it appears in a file: as is, as `.pgpass` escapes it (`\\` then `:`), and as
/// PgBouncer's `userlist.txt` quotes it (`"` doubled).
fn written_forms(secret: &str) -> [String; 3] {
    [
        secret.to_string(),
        secret.replace('\\', "\\\\").replace(':', "\\:"),
        secret.replace('"', "\"\""),
    ]
}

/// Every file under `dir` (copied out of a container) that holds one of `secrets` in any of its
/// [`written_forms`], by name.
fn files_holding(dir: &Path, secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read copied directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            found.extend(files_holding(&path, secrets));
            continue;
        }
        let contents =
            String::from_utf8_lossy(&std::fs::read(&path).expect("read copied file")).into_owned();
        if secrets
            .iter()
            .flat_map(|s| written_forms(s))
            .any(|form| contents.contains(&form))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Check 8 ("no plaintext password in any file PgBouncer reads"): PgBouncer's container, from the
/// image, logs in to the server as `pgbouncer_auth` with a TLS client certificate
/// (`PGBOUNCER_AUTH=certificate`), so that neither its configuration directory nor its
/// environment holds a password, and an application still logs in through it with SCRAM. Control:
/// the same probe finds the password in the files `aza-pgbouncer` writes by password.
#[test]
fn pgbouncer_by_certificate_reads_no_password_from_any_file() {
    const TEST: &str = "pgbouncer_by_certificate_reads_no_password_from_any_file";
    if !engine_or_skip(TEST) {
        return;
    }
    let started = Instant::now();
    for secret in [PASSWORD, APP_PASSWORD, PGBOUNCER_PASSWORD] {
        assert!(is_listed_for_the_leak_check(secret));
    }
    let network = Network::create("sec-pgb-net");
    let host = "db-pgb";
    // One CA; the server's certificate for its name, PgBouncer's for the role it logs in as. The
    // files are the image's postgres user's (999), which both containers run as.
    let certs = shared_dir();
    let pki = support::pki::Pki::create(certs.path(), (999, 999));
    pki.ca("ca");
    pki.give("ca.crt", 0o644);
    pki.server("server", Some("ca"), &format!("DNS:{host}"), "30");
    pki.server("pgbouncer_auth", Some("ca"), "DNS:pgbouncer", "30");
    let mount = format!("{}:/certs:ro", certs.path().display());
    let network_option = format!("--network={}", network.name);
    let server = start_server(
        "sec-pgb",
        &[("POSTGRES_PASSWORD", PASSWORD)],
        &[
            &network_option,
            "--hostname",
            host,
            "--network-alias",
            host,
            "-v",
            &mount,
            "-e",
            "POSTGRES_TLS=required",
            "-e",
            "POSTGRES_TLS_CERT_FILE=/certs/server.crt",
            "-e",
            "POSTGRES_TLS_KEY_FILE=/certs/server.key",
            "-e",
            "POSTGRES_TLS_CA_FILE=/certs/ca.crt",
            "-e",
            "PGBOUNCER_AUTH=certificate",
        ],
    );
    server.wait_healthy(Duration::from_secs(90));
    create_login_role(&server, "app", APP_PASSWORD);
    assert_eq!(
        psql_in(
            &server,
            "postgres",
            "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'pgbouncer_auth'"
        ),
        "t",
        "pgbouncer_auth must have no password to find"
    );

    let bouncer = Container::named("sec-pgb-bouncer");
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &bouncer.name,
        &network_option,
        "--network-alias",
        "pgbouncer",
        "--user",
        "postgres",
        "-v",
        &mount,
        "-e",
        "PGBOUNCER_AUTH=certificate",
        "-e",
        "PGBOUNCER_SERVER_SSLMODE=verify-full",
        "-e",
        "PGBOUNCER_SERVER_CA_FILE=/certs/ca.crt",
        "-e",
        "PGBOUNCER_SERVER_CERT_FILE=/certs/pgbouncer_auth.crt",
        "-e",
        "PGBOUNCER_SERVER_KEY_FILE=/certs/pgbouncer_auth.key",
        "-e",
        "PGBOUNCER_LISTEN_ADDR=0.0.0.0",
        "-e",
        &format!("POSTGRES_HOST={host}"),
        "--entrypoint",
        "/usr/local/bin/aza-pgbouncer",
        local_image(),
        "--output-dir",
        "/tmp/pgbouncer",
        "--",
        "pgbouncer",
        "/tmp/pgbouncer/pgbouncer.ini",
    ]);
    assert!(run.status.success(), "{}", describe(&run));

    // An application logs in through PgBouncer: its verifier came through auth_query, which
    // PgBouncer ran as pgbouncer_auth, logged in by certificate.
    let through = wait_for(
        "a login through PgBouncer",
        Duration::from_secs(30),
        || {
            client_psql(
                &network,
                certs.path(),
                APP_PASSWORD,
                "host=pgbouncer port=6432 user=app dbname=postgres sslmode=disable",
                "SELECT current_user",
            )
        },
        || format!("{}\n{}", bouncer.context(), server.context()),
    );
    assert_eq!(through, "app");
    assert_eq!(
        psql_in(
            &server,
            "postgres",
            "SELECT DISTINCT s.client_dn FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.usename = 'pgbouncer_auth'"
        ),
        "/CN=pgbouncer_auth"
    );

    // Nothing PgBouncer reads holds a password: its directory, copied out, and its environment.
    let copied = tempfile::tempdir().expect("temp dir");
    let cp = docker(&[
        "cp",
        &format!("{}:/tmp/pgbouncer", bouncer.name),
        &copied.path().display().to_string(),
    ]);
    assert!(cp.status.success(), "{}", describe(&cp));
    let secrets = [PASSWORD, APP_PASSWORD, PGBOUNCER_PASSWORD];
    assert_eq!(files_holding(copied.path(), &secrets), Vec::<String>::new());
    let ini = std::fs::read_to_string(copied.path().join("pgbouncer/pgbouncer.ini"))
        .expect("pgbouncer.ini copied");
    assert!(
        ini.contains("server_tls_cert_file = /certs/pgbouncer_auth.crt"),
        "{ini}"
    );
    let environ = bouncer
        .exec_as("postgres", &["cat", "/proc/1/environ"])
        .expect("PgBouncer's environment");
    assert!(
        !secrets.iter().any(|s| environ.contains(s)) && environ.contains("PGBOUNCER_AUTH"),
        "a password in PgBouncer's environment"
    );

    // Control: by password, the same probe finds it (in userlist.txt and .pgpass).
    let mut control = Command::new("docker");
    control
        .args([
            "exec",
            "-e",
            "PGBOUNCER_AUTH_PASS",
            "-u",
            "postgres",
            &bouncer.name,
            "env",
            "-u",
            "PGBOUNCER_SERVER_CERT_FILE",
            "-u",
            "PGBOUNCER_SERVER_KEY_FILE",
            "PGBOUNCER_AUTH=password",
            "aza-pgbouncer",
            "--output-dir",
            "/tmp/control",
        ])
        .env("PGBOUNCER_AUTH_PASS", PGBOUNCER_PASSWORD);
    let rendered = control.output().expect("docker exec aza-pgbouncer");
    assert!(rendered.status.success(), "{}", describe(&rendered));
    let control_dir = tempfile::tempdir().expect("temp dir");
    let cp = docker(&[
        "cp",
        &format!("{}:/tmp/control", bouncer.name),
        &control_dir.path().display().to_string(),
    ]);
    assert!(cp.status.success(), "{}", describe(&cp));
    let mut holding = files_holding(control_dir.path(), &[PGBOUNCER_PASSWORD]);
    holding.sort();
    assert!(
        holding.len() == 2
            && holding[0].ends_with(".pgpass")
            && holding[1].ends_with("userlist.txt"),
        "{holding:?}"
    );
    drop(bouncer);
    finished(TEST, started);
}
