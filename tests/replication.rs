//! Streaming replication for real: a primary and a replica, each started by the entrypoint as PID 1 of
//! its own namespace on its own loopback port; the replica bootstraps itself from the primary.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::server::{postgres_bin, Instance, PASSWORD};
use support::{text, timeout};

/// Awkward on purpose: `:` and `\` matter to `.pgpass`, `'` to SQL, `@` and `&` to URIs.
const REPLICATION_PASSWORD: &str = "r3pl:it's\\odd@&";

fn primary() -> Instance {
    let mut primary = Instance::new();
    primary
        .set_env("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD)
        .set_env("POSTGRES_BIND_IP", "127.0.0.1");
    primary
}

fn replica_of(primary: &Instance) -> Instance {
    let mut replica = Instance::new();
    replica
        .set_env("POSTGRES_ROLE", "replica")
        .set_env("PRIMARY_HOST", "127.0.0.1")
        .set_env("PRIMARY_PORT", &primary.port.to_string())
        .set_env("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD)
        .set_env("POSTGRES_BIND_IP", "127.0.0.1")
        .set_env("AZA_PRIMARY_WAIT_SECONDS", "30");
    // The wheel's libpqwalreceiver.so has no RUNPATH, so without this the walreceiver would load the
    // system's older libpq, which rejects the `sslnegotiation` option pg_basebackup 18 writes into
    // primary_conninfo. The image's PostgreSQL has one libpq and needs nothing like it.
    let lib = postgres_bin().join("../lib");
    replica.set_env("LD_LIBRARY_PATH", lib.to_str().expect("utf-8 path"));
    replica
}

/// Polls `sql` on `instance` until it returns `expected`.
fn wait_for_answer(instance: &Instance, sql: &str, expected: &str) {
    let deadline = Instant::now() + timeout(Duration::from_secs(15));
    loop {
        let answer = instance.psql(sql);
        if answer.as_deref() == Ok(expected) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{sql} answered {answer:?}, expected {expected:?}\n{}",
                instance.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_replica_streams_from_the_primary_and_refuses_writes() {
    let mut primary = primary();
    primary.start();
    primary.wait_ready();
    assert_eq!(
        primary
            .psql(
                "SELECT rolreplication::text || rolcanlogin::text || rolconnlimit FROM pg_roles \
                 WHERE rolname = 'replicator'"
            )
            .unwrap(),
        "truetrue5"
    );
    assert_eq!(
        primary
            .psql("SELECT slot_type FROM pg_replication_slots WHERE slot_name = 'replica_slot_1'")
            .unwrap(),
        "physical"
    );
    let hba = primary
        .psql("SELECT count(*) FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) AND 'replication' = ANY(database) AND auth_method = 'scram-sha-256'")
        .unwrap();
    assert_eq!(hba, "5");
    primary
        .psql("CREATE TABLE events(id int PRIMARY KEY, note text); INSERT INTO events VALUES (1, 'before')")
        .unwrap();

    let mut replica = replica_of(&primary);
    replica.start();
    replica.wait_ready();
    assert_eq!(replica.psql("SELECT pg_is_in_recovery()").unwrap(), "t");
    wait_for_answer(&replica, "SELECT note FROM events WHERE id = 1", "before");
    primary
        .psql("INSERT INTO events VALUES (2, 'after')")
        .unwrap();
    wait_for_answer(&replica, "SELECT note FROM events WHERE id = 2", "after");
    assert_eq!(
        primary
            .psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'replica_slot_1'")
            .unwrap(),
        "t"
    );
    let refused = replica
        .psql("INSERT INTO events VALUES (3, 'on the replica')")
        .unwrap_err();
    assert!(
        refused.contains("cannot execute INSERT in a read-only transaction"),
        "{refused}"
    );
    let log = replica.log_text();
    assert!(log.contains("replica bootstrap complete"), "{log}");
    assert!(
        !log.contains("running ") && !log.contains("initdb"),
        "init scripts or initdb ran on a replica\n{log}"
    );

    // The copy keeps the connection settings: after a restart the replica streams again.
    replica.stop();
    replica.start();
    replica.wait_ready();
    primary
        .psql("INSERT INTO events VALUES (4, 'after restart')")
        .unwrap();
    wait_for_answer(
        &replica,
        "SELECT note FROM events WHERE id = 4",
        "after restart",
    );
    assert!(replica.log_text().contains("skipping initialisation"));

    // The password is in no log and in no statement statistics.
    primary
        .psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .unwrap();
    let leaked = primary
        .psql("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%r3pl%'")
        .unwrap();
    assert_eq!(leaked, "0");
    for instance in [&primary, &replica] {
        let log = instance.log_text();
        assert!(
            !log.contains("r3pl") && !log.contains(PASSWORD),
            "a password appeared in the log\n{log}"
        );
    }
    replica.stop();
    primary.stop();
}

#[test]
fn a_replica_streams_over_tls_from_a_primary_that_requires_it_and_verifies_it() {
    let mut primary = primary();
    primary
        .set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_GENERATE", "true");
    primary.start();
    primary.wait_ready();
    primary
        .psql("CREATE TABLE events(id int PRIMARY KEY); INSERT INTO events VALUES (1)")
        .unwrap();

    // Plaintext replication is refused by the primary's rules, and the bootstrap says what to check.
    let mut plain = replica_of(&primary);
    plain.set_env("PG_REPLICATION_SSLMODE", "disable");
    plain.start();
    let status = plain.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", plain.log_tail());
    assert!(
        plain.log_text().contains("PG_REPLICATION_SSLMODE=disable"),
        "{}",
        plain.log_tail()
    );

    // With the primary's CA the replica verifies it (by address: 127.0.0.1 is in the certificate).
    let mut replica = replica_of(&primary);
    let ca = replica.dir.path().join("primary-ca.crt");
    fs::copy(primary.pgdata.join("tls/ca.crt"), &ca).unwrap();
    replica
        .set_env("PG_REPLICATION_SSLMODE", "verify-full")
        .set_env("PG_REPLICATION_SSLROOTCERT", ca.to_str().unwrap());
    replica.start();
    replica.wait_ready();
    wait_for_answer(&replica, "SELECT count(*) FROM events", "1");
    assert_eq!(
        primary
            .psql(
                "SELECT s.ssl || ' ' || s.version FROM pg_stat_replication r \
                 JOIN pg_stat_ssl s USING (pid)"
            )
            .unwrap(),
        "true TLSv1.3"
    );
    let conninfo = replica
        .psql("SELECT setting FROM pg_settings WHERE name = 'primary_conninfo'")
        .unwrap();
    assert!(
        conninfo.contains("sslmode='verify-full'") && conninfo.contains("sslrootcert="),
        "{conninfo}"
    );
    replica.stop();
    primary.stop();
}

#[test]
fn a_replica_copied_from_a_primary_without_the_rules_include_is_refused_when_tls_is_required() {
    // A primary from before the entrypoint wrote its rules: its pg_hba.conf has no include.
    let mut primary = primary();
    primary.start();
    primary.wait_ready();
    primary.stop();
    let hba = primary.pgdata.join("pg_hba.conf");
    let mut old: String = fs::read_to_string(&hba)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("include"))
        .map(|l| format!("{l}\n"))
        .collect();
    old.push_str("host replication replicator 127.0.0.1/32 scram-sha-256\n");
    fs::write(&hba, old).unwrap();
    primary.start();
    primary.wait_ready();
    // The copy brings that file; the replica's rules would never apply, so the start stops.
    let mut replica = replica_of(&primary);
    replica
        .set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_GENERATE", "true");
    replica.start();
    let status = replica.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{}", replica.log_tail());
    assert!(
        replica.log_text().contains("does not include"),
        "{}",
        replica.log_tail()
    );
    assert!(replica.log_text().contains("replica bootstrap complete"));
    primary.stop();
}

#[test]
fn bad_replica_settings_fail_before_anything_is_written() {
    let replica_vars: &[(&str, &str)] = &[
        ("POSTGRES_ROLE", "replica"),
        ("PRIMARY_HOST", "127.0.0.1"),
        ("PG_REPLICATION_PASSWORD", "x"),
    ];
    let runs: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("POSTGRES_ROLE", "standby")],
            "POSTGRES_ROLE='standby' is not accepted: use primary, replica, ha (any case)",
        ),
        (
            without(replica_vars, "PRIMARY_HOST"),
            "PRIMARY_HOST is not set",
        ),
        (
            without(replica_vars, "PG_REPLICATION_PASSWORD"),
            "PG_REPLICATION_PASSWORD is not set",
        ),
        (
            with(replica_vars, ("REPLICATION_SLOT_NAME", "bad-slot")),
            "REPLICATION_SLOT_NAME='bad-slot' is not accepted",
        ),
        (
            with(replica_vars, ("PRIMARY_PORT", "99999")),
            "PRIMARY_PORT='99999' is not accepted",
        ),
        (
            with(replica_vars, ("POSTGRES_WAL_LEVEL", "minimal")),
            "POSTGRES_WAL_LEVEL='minimal' cannot stream",
        ),
        (
            vec![
                ("PG_REPLICATION_PASSWORD", "x"),
                ("POSTGRES_WAL_LEVEL", "minimal"),
            ],
            "POSTGRES_WAL_LEVEL='minimal' cannot feed a replica",
        ),
    ];
    for (vars, expected) in runs {
        let mut instance = Instance::new();
        for (name, value) in &vars {
            instance.set_env(name, value);
        }
        let output = instance.entrypoint_command(&["postgres"]).output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{vars:?}: {stderr}");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(!stderr.contains("x\n"), "{stderr}");
        assert!(!instance.pgdata.exists(), "{vars:?}: PGDATA was created");
    }
}

fn without<'a>(vars: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    vars.iter().copied().filter(|(k, _)| *k != name).collect()
}

fn with<'a>(vars: &[(&'a str, &'a str)], extra: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut out = vars.to_vec();
    out.push(extra);
    out
}

#[test]
fn a_failed_or_interrupted_bootstrap_is_redone_on_the_next_start() {
    let mut primary = primary();
    let mut replica = replica_of(&primary);
    replica.set_env("AZA_PRIMARY_WAIT_SECONDS", "2");

    // The primary is not running yet: the bounded wait ends with a clear error.
    let started = Instant::now();
    replica.start();
    let status = replica.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "{}", replica.log_tail());
    assert!(started.elapsed() < Duration::from_secs(20));
    let log = replica.log_text();
    assert!(
        log.contains(&format!(
            "the primary 127.0.0.1:{} did not accept connections within 2 s",
            primary.port
        )) && log.contains("waiting for the primary"),
        "{log}"
    );
    assert!(!replica.is_initialised());

    primary.start();
    primary.wait_ready();

    // A slot the primary does not have, then a wrong password: clear errors, nothing committed.
    replica.set_env("REPLICATION_SLOT_NAME", "no_such_slot");
    replica.start();
    assert!(!replica.wait_exit(Duration::from_secs(30)).success());
    assert!(
        replica
            .log_text()
            .contains("has no physical replication slot 'no_such_slot'"),
        "{}",
        replica.log_tail()
    );
    replica.remove_env("REPLICATION_SLOT_NAME");
    replica.set_env("PG_REPLICATION_PASSWORD", "wrong");
    replica.start();
    assert!(!replica.wait_exit(Duration::from_secs(30)).success());
    assert!(
        replica
            .log_text()
            .contains("cannot log in to the primary 127.0.0.1"),
        "{}",
        replica.log_tail()
    );
    assert!(!replica.is_initialised());

    // As if a copy had been killed half-way: the staging directory holds part of a cluster.
    let staging = replica.pgdata.join(".aza-initdb/base/1");
    fs::create_dir_all(&staging).unwrap();
    fs::write(staging.join("half-copied"), "x").unwrap();
    std::process::Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&replica.pgdata)
        .status()
        .unwrap();

    replica.set_env("PG_REPLICATION_PASSWORD", REPLICATION_PASSWORD);
    replica.start();
    replica.wait_ready();
    assert!(
        replica
            .log_text()
            .contains("did not finish; starting it again"),
        "{}",
        replica.log_tail()
    );
    assert!(!replica.pgdata.join("base/1/half-copied").exists());
    assert_eq!(replica.psql("SELECT pg_is_in_recovery()").unwrap(), "t");
    replica.stop();
    primary.stop();
}

/// The host pid of a `name` process whose parent is `parent`, if one runs.
fn child_named(parent: i32, name: &str) -> Option<i32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let status = fs::read_to_string(entry.path().join("status")).ok()?;
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
        };
        (field("Name:") == Some(name) && field("PPid:") == Some(&*parent.to_string()))
            .then_some(pid)
    })
}

#[test]
fn a_stop_during_the_base_backup_ends_it_and_the_next_start_copies_again() {
    let mut primary = primary();
    primary.start();
    primary.wait_ready();
    // Enough to copy that the copy (and the fast checkpoint before it) takes a while.
    primary
        .psql("CREATE TABLE big AS SELECT g, repeat(md5(g::text), 30) AS filler FROM generate_series(1, 200000) AS g")
        .unwrap();
    let mut replica = replica_of(&primary);
    replica.start();
    let pid1 = replica.pid1();
    let deadline = Instant::now() + timeout(Duration::from_secs(30));
    while child_named(pid1, "pg_basebackup").is_none() {
        assert!(
            Instant::now() < deadline,
            "pg_basebackup never ran\n{}",
            replica.log_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    replica.signal_pid1("TERM");
    let status = replica.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(143), "{}", replica.log_tail());
    assert!(
        replica
            .log_text()
            .contains("initialisation interrupted by SIGTERM"),
        "{}",
        replica.log_tail()
    );
    assert!(!replica.is_initialised(), "a half copy was committed");

    replica.start();
    replica.wait_ready();
    assert_eq!(replica.psql("SELECT count(*) FROM big").unwrap(), "200000");
    replica.stop();
    primary.stop();
}

#[test]
fn a_replica_never_goes_below_what_its_primary_requires() {
    let mut primary = primary();
    // More connections than the replica's own memory would give it.
    primary
        .args
        .extend(["-c".to_string(), "max_connections=150".to_string()]);
    primary.start();
    primary.wait_ready();
    let mut replica = replica_of(&primary);
    replica.start();
    replica.wait_ready();
    assert_eq!(replica.psql("SELECT pg_is_in_recovery()").unwrap(), "t");
    assert_eq!(
        replica.psql("SHOW max_connections").unwrap(),
        "150",
        "{}",
        replica.log_tail()
    );
    assert!(
        replica
            .log_text()
            .contains("-> 150: the primary's, which a hot standby may not go below"),
        "{}",
        replica.log_tail()
    );
    // On later starts pg_control says so before anything runs, and the dry run explains it.
    let reason = replica.dry_run();
    let shown = format!("{reason}");
    assert!(shown.contains("\"max_connections\":\"150\""), "{shown}");
    replica.stop();
    replica.start();
    replica.wait_ready();
    assert_eq!(replica.psql("SHOW max_connections").unwrap(), "150");
    primary
        .psql("CREATE TABLE after_restart AS SELECT 1 AS one")
        .unwrap();
    wait_for_answer(&replica, "SELECT count(*) FROM after_restart", "1");
    replica.stop();
    primary.stop();
}

#[test]
fn test_passwords_are_listed_for_the_leak_check() {
    assert!(
        support::server::is_listed_for_the_leak_check(REPLICATION_PASSWORD),
        "REPLICATION_PASSWORD is not in tests/secrets.txt"
    );
    assert!(
        support::server::is_listed_for_the_leak_check(support::server::PASSWORD),
        "support::server::PASSWORD is not in tests/secrets.txt"
    );
}
