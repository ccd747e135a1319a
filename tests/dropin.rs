//! The image as a drop-in for the official `postgres` image: reachable through `-p` and from other
//! containers, awkward user and database names, `--entrypoint psql` as a client, JIT, pass-through
//! commands, no empty passwords, UTC, and the ways users run it (as root stepping down onto a
//! root-owned bind mount, `--user 999:999`, an arbitrary UID, a read-only root filesystem).
//!
//! Each test runs the image built by `scripts/build-image.sh` with its default configuration; guards
//! remove every container, volume and network even when a test panics.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use support::docker::{docker, docker_command, engine_or_skip, image, unique_name, Container};
use support::server::{free_port, postgres_bin, PASSWORD};
use support::{describe, text};

/// A Docker object this test made (`network` or `volume`), removed when dropped; declare a volume
/// before the containers that use it, so that it is dropped after them.
struct Owned {
    kind: &'static str,
    name: String,
}

impl Owned {
    fn create(kind: &'static str, tag: &str) -> Owned {
        let name = unique_name(tag);
        let output = docker(&[kind, "create", &name]);
        assert!(output.status.success(), "{}", describe(&output));
        Owned { kind, name }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = docker(&[self.kind, "rm", &self.name]);
    }
}

/// `docker run --rm ARGS` to completion: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    let output = docker_command(&all).output().expect("docker run");
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout).trim().to_string(),
        text(&output.stderr),
    )
}

const HEALTHY_WITHIN: Duration = Duration::from_secs(120);

#[test]
fn reachable_through_a_published_port_and_from_another_container_with_psql_as_its_entrypoint() {
    if !engine_or_skip(
        "reachable_through_a_published_port_and_from_another_container_with_psql_as_its_entrypoint",
    ) {
        return;
    }
    let network = Owned::create("network", "dropin-net");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:5432");
    let server = Container::start(
        "dropin-server",
        &[
            "--health-interval=1s",
            "--network",
            &network.name,
            "-p",
            &publish,
        ],
        &[],
    );
    server.wait_healthy(HEALTHY_WITHIN);
    assert_eq!(server.psql_ok("SHOW listen_addresses"), "*");

    // From the host, through -p (PostgreSQL 18's own psql, password over TCP).
    let output = Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", PASSWORD)
        .env("PGCONNECT_TIMEOUT", "5")
        .args(["-X", "-A", "-t", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-c", "SELECT 'via -p'"])
        .output()
        .expect("psql");
    assert_eq!(
        text(&output.stdout).trim(),
        "via -p",
        "{}",
        describe(&output)
    );

    // From another container of the same image, psql as its entrypoint, by the server's name.
    let output = docker_command(&[
        "run",
        "--rm",
        "--network",
        &network.name,
        "-e",
        "PGPASSWORD",
        "--entrypoint",
        "psql",
        &image().reference,
        "-X",
        "-A",
        "-t",
        "-h",
        &server.name,
        "-U",
        "postgres",
        "-c",
        "SELECT 'from another container'",
    ])
    .env("PGPASSWORD", PASSWORD)
    .output()
    .expect("docker run psql");
    assert_eq!(
        text(&output.stdout).trim(),
        "from another container",
        "{}\n{}",
        describe(&output),
        server.context()
    );

    // POSTGRES_BIND_IP narrows it: then only the container's loopback listens.
    let narrowed = Container::start(
        "dropin-narrow",
        &["--health-interval=1s", "-e", "POSTGRES_BIND_IP=127.0.0.1"],
        &[],
    );
    narrowed.wait_healthy(HEALTHY_WITHIN);
    assert_eq!(narrowed.psql_ok("SHOW listen_addresses"), "127.0.0.1");
}

#[test]
fn awkward_names_jit_utc_pass_through_and_no_empty_password() {
    if !engine_or_skip("awkward_names_jit_utc_pass_through_and_no_empty_password") {
        return;
    }
    // Spaces in the user name (PostgreSQL refuses quotes, `$` and `\` in the name of the superuser,
    // which owns the extensions: the entrypoint says so before initdb); quotes in the database name.
    let user = "app user";
    let database = "my 'db\" name";
    let user_env = format!("POSTGRES_USER={user}");
    let db_env = format!("POSTGRES_DB={database}");
    let server = Container::start(
        "dropin-names",
        &["--health-interval=1s", "-e", &user_env, "-e", &db_env],
        &[],
    );
    server.wait_healthy(HEALTHY_WITHIN);
    // As that user, in that database, over the container's socket.
    let as_user = |sql: &str| {
        let output = docker(&[
            "exec",
            &server.name,
            "psql",
            "-X",
            "-A",
            "-t",
            "-U",
            user,
            "-d",
            database,
            "-c",
            sql,
        ]);
        assert!(
            output.status.success(),
            "{sql}: {}\n{}",
            describe(&output),
            server.context()
        );
        text(&output.stdout).trim().to_string()
    };
    assert_eq!(
        as_user(
            // The web workload turns jit off (short queries never repay it), and pg_jit_available()
            // is false while it is off: turn it on first, then ask whether the provider loads.
            "SELECT current_user || '|' || current_database() || '|' \
             || (SELECT pg_jit_available() FROM (SELECT set_config('jit', 'on', false)) AS jit_on) \
             || '|' || current_setting('timezone') || '|' || rolsuper FROM pg_roles \
             WHERE rolname = current_user"
        ),
        format!("{user}|{database}|true|Etc/UTC|true")
    );
    // pg_cron runs in POSTGRES_DB.
    if as_user("SHOW shared_preload_libraries").contains("pg_cron") {
        assert_eq!(as_user("SHOW cron.database_name"), database);
    }
    // Every login role has a password; no system account has an empty one.
    assert_eq!(
        as_user("SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolpassword IS NULL"),
        "0"
    );
    let (code, empty, stderr) = run(&[
        "--entrypoint",
        "sh",
        &image().reference,
        "-c",
        "awk -F: '$2 == \"\" { print $1 }' /etc/shadow; date +%Z",
    ]);
    assert_eq!(
        (code, empty.as_str()),
        (0, "UTC"),
        "accounts with an empty password, or not UTC: {empty}{stderr}"
    );

    // Any other program runs untouched.
    let (code, stdout, stderr) = run(&[&image().reference, "echo", "hi"]);
    assert_eq!((code, stdout.as_str()), (0, "hi"), "{stderr}");
}

#[test]
fn a_root_owned_bind_mount_an_image_user_an_arbitrary_uid_and_a_read_only_root_all_start() {
    if !engine_or_skip(
        "a_root_owned_bind_mount_an_image_user_an_arbitrary_uid_and_a_read_only_root_all_start",
    ) {
        return;
    }
    // As root (the image's default), onto a host directory owned by root: the entrypoint takes it.
    let host_dir = tempfile::tempdir().expect("temp dir");
    let bind = format!("{}:/var/lib/postgresql", host_dir.path().display());
    {
        let server = Container::start("dropin-bind", &["--health-interval=1s", "-v", &bind], &[]);
        server.wait_healthy(HEALTHY_WITHIN);
        assert_eq!(server.psql_ok("SELECT 'bind mount'"), "bind mount");
        let pgdata = host_dir.path().join("18/docker");
        let meta =
            std::fs::metadata(&pgdata).unwrap_or_else(|e| panic!("{}: {e}", pgdata.display()));
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (999, 0o700),
            "{}",
            pgdata.display()
        );
        assert_eq!(
            server.psql_ok("SELECT pg_catalog.current_setting('data_directory')"),
            "/var/lib/postgresql/18/docker"
        );
    }
    // The entrypoint's files are owned by uid 999 now: remove them as root.
    let _ = std::fs::remove_dir_all(host_dir.path().join("18"));

    for (tag, user) in [("dropin-999", "999:999"), ("dropin-uid", "54321:0")] {
        let volume = Owned::create("volume", tag);
        let mount = format!("{}:/var/lib/postgresql", volume.name);
        let server = Container::start(
            tag,
            &["--health-interval=1s", "--user", user, "-v", &mount],
            &[],
        );
        server.wait_healthy(HEALTHY_WITHIN);
        let who = server.psql_ok("SELECT 'started as ' || current_setting('data_directory')");
        assert_eq!(who, "started as /var/lib/postgresql/18/docker", "{tag}");
        drop(server);
    }

    // Read-only root filesystem, as the Kubernetes manifests run it.
    let volume = Owned::create("volume", "dropin-ro");
    let mount = format!("{}:/var/lib/postgresql", volume.name);
    let server = Container::start(
        "dropin-ro",
        &[
            "--health-interval=1s",
            "--read-only",
            "--user",
            "999:999",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/var/run/postgresql:uid=999,gid=999",
            "-v",
            &mount,
        ],
        &[],
    );
    server.wait_healthy(HEALTHY_WITHIN);
    assert_eq!(server.psql_ok("SELECT 'read-only root'"), "read-only root");
}
