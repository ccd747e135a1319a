//! The container's life as PID 1 (issue 13): a stop signal is honoured in every phase, the shutdown is
//! bounded, and neither a full nor a closed output stops the start. Each test runs a real entrypoint
//! (and, where it gets that far, a real PostgreSQL 18) in its own temp dir, port and namespace.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::server::{free_port, Instance, PASSWORD};
use support::{describe, text, timeout};

/// Polls `done` every 20 ms until it holds; on time-out panics with `what` and the instance's log.
fn wait_until(pg: &Instance, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout(limit);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            pg.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_log(pg: &Instance, words: &str) {
    wait_until(
        pg,
        &format!("'{words}' in the log"),
        Duration::from_secs(30),
        || pg.log_text().contains(words),
    );
}

/// Asserts that the entrypoint ended with 128 + SIGTERM's number, having said in which phase.
fn assert_stopped_by_sigterm(pg: &Instance, status: ExitStatus, phase: &str) {
    assert_eq!(status.code(), Some(143), "{}", pg.log_tail());
    let wanted = format!("stopped by SIGTERM while {phase}");
    assert!(
        pg.log_text().contains(&wanted),
        "'{wanted}' not logged\n{}",
        pg.log_tail()
    );
}

/// The pid a test's script wrote into `path`, once it has.
fn wait_for_pid_file(path: &Path, what: &str, limit: Duration) -> i32 {
    let deadline = Instant::now() + timeout(limit);
    loop {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal the entrypoint");
}

/// `pid` no longer runs (a zombie still has a stat file, so its state is looked at).
fn assert_gone(pid: i32, what: &str) {
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z"),
        "{what} still runs: {state}"
    );
}

/// Waits for a child that is not in an [`Instance`], killing it on time-out.
fn wait_child(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout(limit);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the entrypoint did not exit within {:?}", timeout(limit));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stop_that_arrived_before_the_first_instruction_ends_the_start_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pgdata = dir.path().join("data");
    let mut command = support::entrypoint_command(&[
        ("POSTGRES_MEMORY", "1g"),
        ("PGDATA", pgdata.to_str().expect("UTF-8 path")),
    ]);
    command.arg("postgres");
    // A blocked, pending signal survives exec: the entrypoint starts with a stop already waiting, as
    // when `docker stop` comes in the first microseconds.
    // SAFETY: only async-signal-safe calls (sigprocmask, raise) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(nix::sys::signal::Signal::SIGTERM);
            set.thread_block()?;
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM)?;
            Ok(())
        });
    }
    let output = command.output().expect("run the entrypoint");
    assert_eq!(output.status.code(), Some(143), "{}", describe(&output));
    assert!(
        text(&output.stdout).contains("stopped by SIGTERM while checking the environment"),
        "{}",
        describe(&output)
    );
    assert!(
        !pgdata.exists(),
        "a stop before any change must change nothing"
    );
}

#[test]
fn a_stop_during_the_ownership_walk_ends_it_promptly() {
    let mut pg = Instance::new();
    // A data directory of root's files, as after restoring a backup as root: the walk hands each
    // one to postgres, which takes seconds on a big one.
    let files = pg.pgdata.join("base/many");
    for batch in 0..120 {
        let sub = files.join(batch.to_string());
        fs::create_dir_all(&sub).expect("fixture dir");
        for n in 0..1000 {
            fs::write(sub.join(n.to_string()), b"").expect("fixture file");
        }
    }
    fs::write(pg.pgdata.join("PG_VERSION"), "18\n").expect("PG_VERSION");
    let root_owned = |path: &Path| fs::symlink_metadata(path).expect("stat").uid() == 0;
    assert!(root_owned(&pg.pgdata));
    pg.start();
    // PGDATA itself is handed over first: from then on the walk is under way.
    wait_until(&pg, "the walk to start", Duration::from_secs(30), || {
        !root_owned(&pg.pgdata)
    });
    pg.signal_pid1("TERM");
    let status = pg.wait_exit(Duration::from_secs(10));
    assert_stopped_by_sigterm(
        &pg,
        status,
        "handing the data directory to the postgres user",
    );
    let left = (0..120)
        .filter(|batch| root_owned(&files.join(format!("{batch}/999"))))
        .count();
    assert!(
        left > 0,
        "the walk finished before the stop; the fixture is too small"
    );
    assert!(
        !pg.pgdata.join("postmaster.pid").exists(),
        "no server was started"
    );
}

#[test]
fn a_stop_while_the_pgsodium_key_script_runs_kills_it_and_ends_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("server");
    support::fake_server_tree(&tree, &["pgsodium.so".to_string()]);
    let marker = dir.path().join("key-script-pid");
    let script = tree.join("share/extension/pgsodium_getkey");
    fs::write(
        &script,
        format!("#!/bin/sh\necho $$ > {}\nexec sleep 60\n", marker.display()),
    )
    .expect("key script");
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod key script");
    let pgdata = dir.path().join("data");
    let mut child = support::entrypoint_command(&[
        ("PATH", &support::path_with(&tree.join("bin"))),
        ("POSTGRES_MEMORY", "1g"),
        ("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pgsodium"),
        ("PGDATA", pgdata.to_str().expect("UTF-8 path")),
    ])
    .arg("postgres")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run the entrypoint");
    let script_pid =
        wait_for_pid_file(&marker, "the key script never ran", Duration::from_secs(10));
    let started = Instant::now();
    sigterm(&child);
    let status = wait_child(&mut child, Duration::from_secs(5));
    let output = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(143), "{}", describe(&output));
    assert!(started.elapsed() < timeout(Duration::from_secs(5)));
    assert!(
        text(&output.stdout).contains("stopped by SIGTERM while running the pgsodium key script"),
        "{}",
        describe(&output)
    );
    // Killed with its process group, not left sleeping.
    assert_gone(script_pid, "the key script");
    assert!(!pgdata.exists(), "nothing was written");
}

#[test]
fn the_pgsodium_key_script_decides_whether_pgsodium_is_preloaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("server");
    support::fake_server_tree(&tree, &["pgsodium.so".to_string()]);
    let script = tree.join("share/extension/pgsodium_getkey");
    let key = "4670bdf714d653c15779e67e0bb6012f1e229c86edbdf75285f3c592670cece2";
    let dry_run = |body: &str, mode: u32| {
        fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("key script");
        fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod key script");
        let output = support::entrypoint_command(&[
            ("PATH", &support::path_with(&tree.join("bin"))),
            ("POSTGRES_MEMORY", "1g"),
            ("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pgsodium"),
        ])
        .args(["--dry-run", "--format", "json"])
        .output()
        .expect("run the entrypoint");
        assert!(output.status.success(), "{}", describe(&output));
        let plan = support::json(&output);
        (
            plan["settings"]["shared_preload_libraries"].to_string(),
            plan["warnings"].to_string(),
        )
    };
    let (args, warnings) = dry_run(&format!("echo {key}"), 0o755);
    assert!(args.contains("pgsodium"), "{args}");
    assert!(!warnings.contains("pgsodium"), "{warnings}");
    for (body, mode, reason) in [
        (
            "echo abc",
            0o755,
            "getkey script output invalid: expected 64 hex chars",
        ),
        (&*format!("echo {key}"), 0o644, "no executable script at"),
        ("exit 3", 0o755, "getkey script output invalid"),
    ] {
        let (args, warnings) = dry_run(body, mode);
        assert!(!args.contains("pgsodium"), "{body}: {args}");
        assert!(
            warnings.contains("pgsodium DISABLED") && warnings.contains(reason),
            "{body}: {warnings}"
        );
    }
}

#[test]
fn a_stop_during_initdb_leaves_a_directory_the_next_start_initialises() {
    let mut pg = Instance::new();
    pg.start();
    wait_for_log(&pg, "[INIT] initialising a new cluster");
    pg.signal_pid1("TERM");
    let status = pg.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(143), "{}", pg.log_tail());
    assert!(
        !pg.is_initialised(),
        "PG_VERSION after an interrupted initdb"
    );
    pg.start();
    pg.wait_ready();
    assert_eq!(pg.psql("SELECT 1").unwrap(), "1");
    pg.stop();
}

#[test]
fn a_stop_while_a_replica_waits_for_its_primary_ends_the_wait_at_once() {
    let mut pg = Instance::new();
    let nobody = free_port().to_string();
    pg.set_env("POSTGRES_ROLE", "replica")
        .set_env("PRIMARY_HOST", "127.0.0.1")
        .set_env("PRIMARY_PORT", &nobody)
        .set_env("PG_REPLICATION_PASSWORD", PASSWORD)
        .set_env("AZA_PRIMARY_WAIT_SECONDS", "300");
    pg.start();
    wait_for_log(&pg, "waiting for the primary");
    let started = Instant::now();
    pg.signal_pid1("TERM");
    let status = pg.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(143), "{}", pg.log_tail());
    assert!(
        started.elapsed() < timeout(Duration::from_secs(5)),
        "{:?}",
        started.elapsed()
    );
    assert!(!pg.is_initialised());
}

#[test]
fn a_smart_shutdown_held_up_by_a_client_escalates_to_fast_after_the_stop_timeout() {
    let mut pg = Instance::new();
    pg.set_env("AZA_SIGTERM", "smart")
        .set_env("AZA_STOP_TIMEOUT", "1");
    pg.start();
    pg.wait_ready();
    // An idle session: a smart shutdown waits for it for ever.
    let mut client = pg
        .psql_command("postgres", PASSWORD, "postgres")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql");
    wait_until(&pg, "the client session", Duration::from_secs(10), || {
        pg.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
            .is_ok_and(|n| n == "1")
    });
    let started = Instant::now();
    pg.signal_pid1("TERM");
    let status = pg.wait_exit(Duration::from_secs(10));
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(status.code(), Some(0), "{}", pg.log_tail());
    let log = pg.log_text();
    assert!(
        log.contains("did not finish the smart shutdown within 1 s (AZA_STOP_TIMEOUT); sending SIGINT (fast)"),
        "{}",
        pg.log_tail()
    );
    assert!(log.contains("after a fast shutdown"), "{}", pg.log_tail());
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn a_full_stdout_neither_blocks_the_start_nor_the_supervision() {
    let mut pg = Instance::new();
    // initdb writes to the same stdout and would wait for the pipe: start an initialised cluster.
    pg.start();
    pg.wait_ready();
    pg.stop();
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    // Fill it: nobody reads until the server runs, like a log shipper that stalled.
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&writer),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .expect("non-blocking");
    let chunk = [b'.'; 4096];
    while nix::unistd::write(&writer, &chunk).is_ok() {}
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&writer),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .expect("blocking again");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&pg.log)
        .expect("log file");
    // stdout (the entrypoint's info lines) is the full pipe; stderr (PostgreSQL's log) the file.
    pg.start_with_output(Stdio::from(writer), Stdio::from(log));
    pg.wait_ready();
    let mut drained = Vec::new();
    let mut reader = fs::File::from(reader);
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&reader),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .expect("non-blocking reader");
    let _ = std::io::Read::read_to_end(&mut reader, &mut drained);
    pg.stop();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
    let rest = text(&rest);
    assert!(
        rest.contains("log lines were dropped: the output was full"),
        "the first line that fits says what was lost: {rest}"
    );
    assert!(rest.contains("postgres exited with status 0"), "{rest}");
}

#[test]
fn closed_stdout_and_stderr_do_not_stop_the_start() {
    let mut pg = Instance::new();
    // Closed, not /dev/null: the entrypoint must not hand those numbers to the files it opens.
    pg.start_with_closed_output();
    pg.wait_ready();
    assert_eq!(pg.psql("SELECT 1").unwrap(), "1");
    pg.stop();
    for name in ["PG_VERSION", "postgresql.auto.conf", ".aza-entrypoint.lock"] {
        let content = fs::read_to_string(pg.pgdata.join(name)).expect("cluster file");
        assert!(
            !content.contains("[POSTGRES]"),
            "a log line went into {name}"
        );
    }
}

#[test]
fn a_start_and_its_dry_run_report_every_problem_at_once_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pgdata = dir.path().join("data");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = holder.local_addr().expect("address").port().to_string();
    let vars = [
        // Below the minimum, a library the image does not have, no password for a first start, a
        // bad shutdown mode, and a port somebody else listens on.
        ("POSTGRES_MEMORY", "64m"),
        (
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "pg_stat_statements,not_in_this_image",
        ),
        ("POSTGRES_PASSWORD", ""),
        ("AZA_SIGTERM", "gentle"),
        // An unusable tuning variable: its default stands in, so the checks after it still run.
        ("POSTGRES_WORKLOAD_TYPE", "huge"),
        ("POSTGRES_BIND_IP", "127.0.0.1"),
        ("PGDATA", pgdata.to_str().expect("UTF-8 path")),
    ];
    let expected = [
        "POSTGRES_MEMORY gives 64MB of RAM - minimum",
        "POSTGRES_SHARED_PRELOAD_LIBRARIES names not_in_this_image",
        "POSTGRES_PASSWORD is not set, and the database is not initialised yet",
        "AZA_SIGTERM='gentle' is not accepted: use fast, smart (any case)",
        "POSTGRES_WORKLOAD_TYPE='huge' is not accepted",
    ];
    let start = support::entrypoint_command(&vars)
        .args(["postgres", "-p", &port])
        .output()
        .expect("run the entrypoint");
    assert_eq!(start.status.code(), Some(1), "{}", describe(&start));
    let stderr = text(&start.stderr);
    assert!(
        stderr.contains("6 problems (nothing was started or changed)"),
        "{stderr}"
    );
    for words in expected
        .iter()
        .chain(&[&*format!("port {port} is already in use on 127.0.0.1")])
    {
        assert!(stderr.contains(words), "'{words}' not reported:\n{stderr}");
    }
    assert!(!pgdata.exists(), "a refused start wrote PGDATA");

    // The dry run refuses the same (the port only warns: it may run beside the server it previews).
    let dry_run = support::entrypoint_command(&vars)
        .args(["--dry-run", "-p", &port])
        .output()
        .expect("run the dry run");
    assert_eq!(dry_run.status.code(), Some(1), "{}", describe(&dry_run));
    let stderr = text(&dry_run.stderr);
    for words in expected {
        assert!(stderr.contains(words), "'{words}' not reported:\n{stderr}");
    }
    assert!(!pgdata.exists());
    drop(holder);
}

#[test]
fn a_stop_during_an_init_script_ends_what_the_script_started_even_when_it_ignores_sigterm() {
    let pg = Instance::new();
    let marker = pg.scratch.join("sleep-pid");
    // A script that ignores SIGTERM and leaves a background child that ignores it too.
    pg.script(
        "01-stubborn.sh",
        format!(
            "trap '' TERM\nsleep 300 &\necho $! > {}\nwait\n",
            marker.display()
        )
        .as_bytes(),
        0o644,
    );
    // Not PID 1 this time: when PID 1 exits the kernel kills its namespace anyway, which would
    // hide a child left behind.
    let mut child = pg
        .entrypoint_command(&["postgres"])
        .env("AZA_STOP_TIMEOUT", "1")
        .env("AZA_PROCESS_MODE", "supervise")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the entrypoint");
    let sleep_pid = wait_for_pid_file(
        &marker,
        "the init script never ran",
        Duration::from_secs(30),
    );
    let started = Instant::now();
    sigterm(&child);
    let status = wait_child(&mut child, Duration::from_secs(15));
    let output = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(143), "{}", describe(&output));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "escalated before AZA_STOP_TIMEOUT"
    );
    assert!(
        text(&output.stderr).contains("did not end within 1 s of the stop (AZA_STOP_TIMEOUT)"),
        "{}",
        describe(&output)
    );
    assert_gone(sleep_pid, "the script's background child");
    assert!(!pg.is_initialised());
}
