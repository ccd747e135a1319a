//! `aza-entrypoint healthcheck` against a real PostgreSQL 18 that the entrypoint runs as PID 1 of its own
//! namespace: healthy, down, wrong role (both ways, with a real standby), the initialisation status
//! table, and a server that accepts but never answers.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::server::{path_with_postgres, Instance};
use support::{describe, entrypoint, text, timeout};

/// Runs the healthcheck with the instance's container environment, pointed at its socket and port, as
/// root (the test runner) unless `prefix` runs it through another program (e.g. `setpriv`).
fn healthcheck_with(
    pg: &Instance,
    prefix: &[&str],
    vars: &[(&str, &str)],
    args: &[&str],
) -> (Output, Duration) {
    let mut command = match prefix.split_first() {
        Some((program, rest)) => {
            let mut c = Command::new(program);
            c.args(rest).arg(entrypoint());
            c
        }
        None => Command::new(entrypoint()),
    };
    command.env_clear().env("PATH", path_with_postgres());
    for (k, v) in &pg.env {
        command.env(k, v);
    }
    command
        .env("PGHOST", &pg.socket_dir)
        .env("PGPORT", pg.port.to_string());
    for (k, v) in vars {
        command.env(k, v);
    }
    command.arg("healthcheck").args(args);
    let started = Instant::now();
    let output = command.output().expect("run the healthcheck");
    (output, started.elapsed())
}

fn healthcheck(pg: &Instance, vars: &[(&str, &str)]) -> Output {
    healthcheck_with(pg, &[], vars, &[]).0
}

#[track_caller]
fn assert_healthy(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("healthy: ") && stdout.lines().count() == 1,
        "{}",
        describe(output)
    );
    stdout
}

/// Exit 1, nothing on stdout, and one `unhealthy:` line on stderr holding `expected`.
#[track_caller]
fn assert_unhealthy(output: &Output, expected: &str) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    let stderr = text(&output.stderr);
    assert!(
        output.stdout.is_empty()
            && stderr.starts_with("unhealthy: ")
            && stderr.lines().count() == 1
            && stderr.contains(expected),
        "expected one line with {expected:?}\n{}",
        describe(output)
    );
    stderr
}

#[test]
fn healthy_only_while_the_server_accepts_connections() {
    let mut pg = Instance::new();
    let limit = timeout(Duration::from_secs(5 + 3));

    let (before, took) = healthcheck_with(&pg, &[], &[], &[]);
    assert_unhealthy(&before, "PostgreSQL is not accepting connections");
    assert!(took < limit, "took {took:?}");
    let socket = format!("socket {}/.s.PGSQL.{}", pg.socket_dir.display(), pg.port);
    assert!(
        text(&before.stderr).contains(&socket),
        "{}",
        describe(&before)
    );

    pg.start();
    pg.wait_ready();
    let stdout = assert_healthy(&healthcheck(&pg, &[]));
    assert_eq!(
        stdout,
        format!(
            "healthy: primary answering queries on {socket} (user postgres, database postgres)\n"
        )
    );
    assert!(healthcheck(&pg, &[]).stderr.is_empty());

    // Docker runs HEALTHCHECK as the image's USER: the same check as the postgres OS user.
    let (as_postgres, _) = healthcheck_with(
        &pg,
        &[
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ],
        &[],
        &[],
    );
    assert_healthy(&as_postgres);

    pg.stop();
    let (after, took) = healthcheck_with(&pg, &[], &[], &["--timeout", "2"]);
    assert_unhealthy(&after, "PostgreSQL is not accepting connections");
    assert!(took < timeout(Duration::from_secs(2 + 3)), "took {took:?}");
}

#[test]
fn the_user_and_database_are_the_ones_first_start_created() {
    let mut pg = Instance::new();
    pg.set_env("POSTGRES_USER", "app")
        .set_env("POSTGRES_DB", "appdb");
    pg.start();
    pg.wait_ready();
    let stdout = assert_healthy(&healthcheck(&pg, &[]));
    assert!(stdout.contains("(user app, database appdb)"), "{stdout}");
    // The role postgres does not exist here: an explicit PGUSER wins, and the refusal says why.
    let refused = healthcheck(&pg, &[("PGUSER", "postgres")]);
    assert_unhealthy(&refused, "role \"postgres\" does not exist");
    assert!(
        !text(&refused.stderr).contains(support::server::PASSWORD),
        "the password appeared in the output"
    );
    pg.stop();
}

#[test]
fn recovery_must_match_postgres_role() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    assert_healthy(&healthcheck(&pg, &[("POSTGRES_ROLE", "primary")]));
    // A replica's environment, as its start parsed it: every spelling the start accepts counts.
    for spelling in ["replica", "Replica"] {
        assert_unhealthy(
            &healthcheck(
                &pg,
                &[
                    ("POSTGRES_ROLE", spelling),
                    ("PRIMARY_HOST", "primary.example"),
                    ("PG_REPLICATION_PASSWORD", "unused"),
                ],
            ),
            "expected a replica in recovery (POSTGRES_ROLE=replica), but PostgreSQL is not in recovery",
        );
    }
    assert_unhealthy(
        &healthcheck(&pg, &[("POSTGRES_ROLE", "standby")]),
        "POSTGRES_ROLE='standby' is not accepted: use primary, replica, ha (any case)",
    );
    pg.stop();

    // A real standby: standby.signal without a primary to follow, so it stays in recovery and
    // answers read-only queries.
    let signal = pg.pgdata.join("standby.signal");
    std::fs::write(&signal, "").unwrap();
    let postgres = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("a postgres user on this machine");
    nix::unistd::chown(&signal, Some(postgres.uid), Some(postgres.gid)).unwrap();
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SELECT pg_is_in_recovery()").unwrap(), "t");
    let stdout = assert_healthy(&healthcheck(
        &pg,
        &[
            ("POSTGRES_ROLE", "replica"),
            ("PRIMARY_HOST", "primary.example"),
            ("PG_REPLICATION_PASSWORD", "unused"),
        ],
    ));
    assert!(
        stdout.starts_with("healthy: replica in recovery"),
        "{stdout}"
    );
    assert_unhealthy(
        &healthcheck(&pg, &[]),
        "expected a primary (POSTGRES_ROLE unset or primary), but PostgreSQL is in recovery",
    );
    pg.stop();
}

#[test]
fn the_latest_initialisation_status_decides() {
    let mut pg = Instance::new();
    pg.set_env("POSTGRES_USER", "app")
        .set_env("POSTGRES_DB", "appdb");
    // The real, generated initdb SQL: the table has the shape the image gives it, and a first row
    // (partial: this server has PostgreSQL's own modules only).
    pg.script(
        "01-extensions.sql",
        include_bytes!("../docker/initdb/01-extensions.sql"),
        0o644,
    );
    pg.start();
    pg.wait_ready();
    assert_eq!(
        pg.psql("SELECT status FROM pg_aza_status").unwrap(),
        "partial"
    );
    assert_healthy(&healthcheck(&pg, &[]));
    // Later than the row the script wrote, whatever today's date.
    let record = |at: &str, status: &str, failed: &str| {
        pg.psql(&format!(
            "INSERT INTO pg_aza_status (script_version, expected_extensions, started_at, status, failed_extensions) \
             VALUES ('test', '{{}}', '{at}', '{status}', '{failed}')"
        ))
        .unwrap();
    };

    record("2100-01-01 10:00+00", "in_progress", "{}");
    assert_unhealthy(
        &healthcheck(&pg, &[]),
        "initialisation is still in progress (pg_aza_status)",
    );

    record("2100-01-01 10:01+00", "completed", "{}");
    let stdout = assert_healthy(&healthcheck(&pg, &[]));
    assert!(stdout.contains("initialisation completed"), "{stdout}");

    // Latest means the newest start, not the last row inserted.
    record("2099-12-31 00:00+00", "failed", "{vector}");
    assert_healthy(&healthcheck(&pg, &[]));

    record("2100-01-02 00:00+00", "partial", "{pgmq,vector}");
    let partial = healthcheck(&pg, &[]);
    assert_healthy(&partial);
    assert_eq!(
        text(&partial.stderr),
        "warning: initialisation was partial according to pg_aza_status, failed extensions: pgmq, vector\n"
    );

    record("2100-01-03 00:00+00", "failed", "{pg_cron}");
    assert_unhealthy(
        &healthcheck(&pg, &[]),
        "initialisation failed according to pg_aza_status (status failed, failed extensions: pg_cron)",
    );
    pg.stop();
}

#[test]
fn a_server_that_never_answers_is_unhealthy_within_the_timeout() {
    // Something listens on the socket but never speaks: libpq would wait for its own connect timeout
    // (2 s at least); the healthcheck stops at its own.
    let pg = Instance::new();
    let socket = pg.socket_dir.join(format!(".s.PGSQL.{}", pg.port));
    let _listener = UnixListener::bind(&socket).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (output, took) = healthcheck_with(&pg, &[], &[], &["--timeout=0.5"]);
    assert_unhealthy(&output, "PostgreSQL did not answer within 0.5 s");
    assert!(
        took >= Duration::from_millis(500) && took < timeout(Duration::from_millis(1500)),
        "took {took:?}"
    );
}

#[test]
fn bad_arguments_and_settings_are_usage_errors() {
    let pg = Instance::new();
    for (args, vars, expected) in [
        (
            &["--timeout", "soon"][..],
            &[][..],
            "--timeout 'soon' is not a number of seconds",
        ),
        (&["--verbose"], &[], "healthcheck does not take '--verbose'"),
        (
            &[],
            &[("PGPORT", "fivefourthreetwo")],
            "PGPORT='fivefourthreetwo' is not accepted: use a port number, 1 to 65535",
        ),
    ] {
        let (output, _) = healthcheck_with(&pg, &[], vars, args);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            describe(&output)
        );
    }
}
