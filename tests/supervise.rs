//! The supervisor end to end, with real processes in real PID namespaces: exit codes, signal forwarding
//! to a child that records what it got, orphan reaping as PID 1 and as a subreaper.
//!
//! Signals cannot be tested inside this (multi-threaded) test process, so each test runs the
//! `examples/supervise.rs` binary under `unshare --pid --mount --fork --mount-proc`, either as the
//! namespace's PID 1 or below a `sh` that is. Processes are told apart from the host's view of `/proc`.

mod support;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use support::{require_root, text, timeout};

/// Every wait in this file, before scaling by `AZA_TEST_TIMEOUT_MULTIPLIER`.
/// Namespace, supervisor and child up, or a file written by the child.
const READY: Duration = Duration::from_secs(5);
/// The supervisor's exit after its child was told to stop.
const EXIT: Duration = Duration::from_secs(10);
/// Orphans that sleep `ORPHAN_SLEEP` seconds gone from the process table.
const REAPED: Duration = Duration::from_secs(5);
/// Orphans' lifetime: long enough to be seen alive and reparented, short enough to keep tests quick.
const ORPHAN_SLEEP: &str = "1";
const POLL: Duration = Duration::from_millis(20);

fn supervise_exe() -> PathBuf {
    // current_exe is target/<profile>/deps/supervise-HASH; examples live in target/<profile>/examples.
    let exe = std::env::current_exe().expect("current_exe");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join("supervise"))
        .expect("test binary lives in target/<profile>/deps");
    // Plain `cargo test` builds the example; `cargo test --test supervise` alone does not, and would
    // silently test an old build.
    let how = "plain `cargo test` builds it; with `--test supervise` run `cargo build --example supervise` first";
    let built = fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}; {how}", path.display()));
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in ["src", "examples/supervise.rs", "Cargo.toml"] {
        if let Some(newer) = newer_file(&manifest_dir.join(source), built) {
            panic!(
                "{} is older than {}; {how}",
                path.display(),
                newer.display()
            );
        }
    }
    path
}

/// A file at or below `path` modified after `than`.
fn newer_file(path: &Path, than: std::time::SystemTime) -> Option<PathBuf> {
    let metadata = fs::metadata(path).ok()?;
    if metadata.is_dir() {
        fs::read_dir(path)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|entry| newer_file(&entry.path(), than))
    } else {
        (metadata.modified().ok()? > than).then(|| path.to_path_buf())
    }
}

/// Where the supervisor runs inside its fresh PID namespace.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// As the namespace's PID 1.
    Pid1,
    /// As PID 2, below a `sh` that is PID 1 and does not reap: only the subreaper can catch orphans.
    BelowInit,
}

/// One `supervise` run under `unshare`. Dropping it (also when a test panics) kills the whole process
/// group of `unshare`, which holds the namespace's PID 1; the kernel then kills everything in the
/// namespace, including the supervised child in its own process group.
struct Run {
    role: Role,
    unshare: Child,
    exited: Option<ExitStatus>,
    stderr: PathBuf,
    dir: TempDir,
}

impl Run {
    /// Starts `supervise ARGS...`; `{dir}` in an argument stands for this run's temp dir.
    fn start(role: Role, args: &[&str]) -> Run {
        require_root("the supervisor tests");
        let dir = tempfile::tempdir().expect("temp dir");
        let dir_text = dir.path().display().to_string();
        let stderr = dir.path().join("stderr");
        let mut command = Command::new("unshare");
        command.args(["--pid", "--mount", "--fork", "--mount-proc"]);
        if role == Role::BelowInit {
            // Two commands, so sh cannot exec the supervisor in its own place.
            command.args(["sh", "-c", "\"$@\"; exit $?", "ns-init"]);
        }
        command
            .arg(supervise_exe())
            .args(args.iter().map(|a| a.replace("{dir}", &dir_text)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("stderr file"));
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let unshare = command
            .spawn()
            .expect("unshare (util-linux) must be installed");
        Run {
            role,
            unshare,
            exited: None,
            stderr,
            dir,
        }
    }

    /// A path in this run's temp dir, for the child to write to.
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn stderr(&self) -> String {
        text(&fs::read(&self.stderr).unwrap_or_default())
    }

    /// The host pid of the namespace's PID 1 (the only child of `unshare`).
    fn init_pid(&self) -> i32 {
        let unshare = self.unshare.id() as i32;
        let init = wait_until(READY, || {
            only(children_of(unshare)).filter(|p| p.state != 'Z')
        });
        init.unwrap_or_else(|| panic!("no PID 1 under unshare {unshare}\n{}", self.stderr()))
            .pid
    }

    /// The host pid of the supervisor.
    fn supervisor_pid(&self) -> i32 {
        let init = self.init_pid();
        if self.role == Role::Pid1 {
            return init;
        }
        let found = wait_until(READY, || only(children_of(init)));
        found
            .unwrap_or_else(|| panic!("no supervisor under PID 1 {init}\n{}", self.stderr()))
            .pid
    }

    /// Sends `signal` to the supervisor from the host, as `docker stop`/`docker kill` would.
    fn signal(&self, signal: Signal) {
        let pid = self.supervisor_pid();
        nix::sys::signal::kill(Pid::from_raw(pid), signal)
            .unwrap_or_else(|e| panic!("kill -{signal} {pid}: {e}"));
    }

    /// Waits for `unshare` (and so the supervisor) to exit; returns its exit code and stderr.
    fn finish(&mut self) -> (i32, String) {
        let deadline = Instant::now() + timeout(EXIT);
        let status = loop {
            if let Some(status) = self.unshare.try_wait().expect("try_wait unshare") {
                break status;
            }
            if Instant::now() > deadline {
                panic!(
                    "supervisor still running after {:?}\n--- stderr\n{}",
                    timeout(EXIT),
                    self.stderr()
                );
            }
            sleep(POLL);
        };
        self.exited = Some(status);
        let stderr = self.stderr();
        let code = status
            .code()
            .unwrap_or_else(|| panic!("unshare died by a signal: {status:?}\n{stderr}"));
        (code, stderr)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.exited.is_none() {
            // The group id is unshare's pid, still ours because we have not reaped it.
            let _ = killpg(Pid::from_raw(self.unshare.id() as i32), Signal::SIGKILL);
            let _ = self.unshare.wait();
        }
    }
}

/// One process as the host's `/proc` shows it.
#[derive(Debug, Clone)]
struct Process {
    pid: i32,
    state: char,
    pgrp: i32,
    cmdline: Vec<String>,
}

fn read_process(pid: i32) -> Option<(i32, Process)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = text(&cmdline)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some((
        ppid,
        Process {
            pid,
            state,
            pgrp,
            cmdline,
        },
    ))
}

fn children_of(parent: i32) -> Vec<Process> {
    let Ok(entries) = fs::read_dir("/proc") else {
        panic!("cannot read /proc");
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_process)
        .filter(|(ppid, _)| *ppid == parent)
        .map(|(_, process)| process)
        .collect()
}

fn only(mut processes: Vec<Process>) -> Option<Process> {
    (processes.len() == 1).then(|| processes.remove(0))
}

/// Polls `check` until it gives a value or `base` (scaled) has passed.
fn wait_until<T>(base: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout(base);
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        sleep(POLL);
    }
}

fn wait_for_file(run: &Run, path: &str) {
    if wait_until(READY, || Path::new(path).exists().then_some(())).is_none() {
        panic!("{path} was not written\n--- stderr\n{}", run.stderr());
    }
}

/// Waits until `path` holds exactly `lines`.
fn wait_for_lines(run: &Run, path: &str, lines: &[&str]) {
    let read = || fs::read_to_string(path).unwrap_or_default();
    let matches = || (read().lines().collect::<Vec<_>>() == lines).then_some(());
    if wait_until(READY, matches).is_none() {
        panic!(
            "{path} holds {:?}, expected {lines:?}\n--- stderr\n{}",
            read(),
            run.stderr()
        );
    }
}

// --- 1. exit status propagation -------------------------------------------------------------------

#[test]
fn exit_status_and_deaths_by_signal_become_sh_exit_codes() {
    let cases = [
        ("exit 7", 7, "child exited with status 7"),
        ("exit 0", 0, "child exited with status 0"),
        ("kill -KILL $$", 137, "child was killed by SIGKILL"),
        // Default SIGTERM action: the supervisor must not pass on its own blocked mask.
        ("kill -TERM $$", 143, "child was killed by SIGTERM"),
        // A real-time signal, which nix's waitpid cannot decode.
        ("kill -40 $$", 168, "child was killed by signal 40"),
    ];
    for (script, expected, message) in cases {
        let mut run = Run::start(Role::Pid1, &["sh", "-c", script]);
        let (code, stderr) = run.finish();
        assert_eq!(code, expected, "sh -c '{script}'\n{stderr}");
        assert!(stderr.contains(message), "sh -c '{script}'\n{stderr}");
    }
}

// --- 2. SIGTERM becomes a fast shutdown, or stays a smart one ----------------------------------------

/// Records the first of SIGINT/SIGTERM it gets in `$1`, then exits 0. Short sleeps, because sh runs a
/// trap only after the foreground command ends.
const SHUTDOWN_CHILD: &str = r#"
trap 'echo INT > "$1"; exit 0' INT
trap 'echo TERM > "$1"; exit 0' TERM
echo ready > "$1.ready"
while :; do sleep 0.05; done
"#;

fn stop_with_sigterm(smart: bool) -> (String, String) {
    let mut args = vec![];
    if smart {
        args.push("--smart");
    }
    args.extend(["sh", "-c", SHUTDOWN_CHILD, "sh", "{dir}/got"]);
    let mut run = Run::start(Role::Pid1, &args);
    let got = run.path("got");
    wait_for_file(&run, &format!("{got}.ready"));

    // The child runs in a process group of its own, away from the supervisor's.
    let init = run.init_pid();
    let child = only(children_of(init)).expect("one child of PID 1");
    assert_eq!(child.pgrp, child.pid, "child leads its own process group");
    let (_, supervisor) = read_process(init).expect("PID 1 in /proc");
    assert_ne!(supervisor.pgrp, child.pgrp);

    run.signal(Signal::SIGTERM);
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    (fs::read_to_string(&got).unwrap_or_default(), stderr)
}

#[test]
fn sigterm_to_pid_1_reaches_the_child_as_sigint() {
    let (got, stderr) = stop_with_sigterm(false);
    assert_eq!(got, "INT\n", "{stderr}");
    assert!(
        stderr.contains("forwarded SIGINT (received SIGTERM)"),
        "{stderr}"
    );
}

#[test]
fn sigterm_to_pid_1_stays_sigterm_in_smart_mode() {
    let (got, stderr) = stop_with_sigterm(true);
    assert_eq!(got, "TERM\n", "{stderr}");
    assert!(
        stderr.contains("forwarded SIGTERM (received SIGTERM)"),
        "{stderr}"
    );
}

// --- 3. the other signals pass through ----------------------------------------------------------

const RECORDING_CHILD: &str = r#"
trap 'echo HUP >> "$1"' HUP
trap 'echo USR1 >> "$1"' USR1
trap 'echo USR2 >> "$1"' USR2
trap 'echo QUIT >> "$1"; exit 0' QUIT
echo ready > "$1.ready"
while :; do sleep 0.05; done
"#;

#[test]
fn hup_usr1_usr2_and_quit_are_forwarded_as_themselves() {
    let mut run = Run::start(
        Role::Pid1,
        &["sh", "-c", RECORDING_CHILD, "sh", "{dir}/got"],
    );
    let got = run.path("got");
    wait_for_file(&run, &format!("{got}.ready"));
    let sequence = [
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGUSR1, "USR1"),
        (Signal::SIGUSR2, "USR2"),
        (Signal::SIGQUIT, "QUIT"),
    ];
    let mut expected = vec![];
    // One at a time: two different pending signals could reach the traps in either order.
    for (signal, name) in sequence {
        run.signal(signal);
        expected.push(name);
        wait_for_lines(&run, &got, &expected);
    }
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    for (signal, _) in sequence {
        let line = format!("forwarded {signal} (received {signal})");
        assert!(stderr.contains(&line), "missing {line:?}\n{stderr}");
    }
}

// --- 4. orphans are reaped by PID 1 ------------------------------------------------------------

/// Leaves three orphans behind, then runs until `$1.done` appears.
const ORPHANING_CHILD: &str = r#"
(sleep "$2" &); (sleep "$2" &); (sleep "$2" &)
echo ready > "$1"
while [ ! -e "$1.done" ]; do sleep 0.05; done
"#;

fn is_orphan_sleep(process: &Process) -> bool {
    process.cmdline == ["sleep", ORPHAN_SLEEP]
}

/// Waits until none of `orphans` is a child of `parent` any more (alive or zombie), while `parent`
/// keeps supervising a running child, so that it must be `parent` that reaped them.
fn assert_orphans_reaped(run: &Run, parent: i32, orphans: &[i32]) {
    let left = || -> Vec<Process> {
        children_of(parent)
            .into_iter()
            .filter(|p| orphans.contains(&p.pid))
            .collect()
    };
    if wait_until(REAPED, || left().is_empty().then_some(())).is_none() {
        panic!(
            "orphans not reaped by {parent} after {:?}: {:?}\n--- stderr\n{}",
            timeout(REAPED),
            left(),
            run.stderr()
        );
    }
    let (_, supervisor) = read_process(parent).expect("supervisor still in /proc");
    assert_ne!(supervisor.state, 'Z', "the supervisor itself has exited");
}

#[test]
fn pid_1_reaps_orphans_left_by_the_child_and_injected_from_outside() {
    let mut run = Run::start(
        Role::Pid1,
        &[
            "sh",
            "-c",
            ORPHANING_CHILD,
            "sh",
            "{dir}/ready",
            ORPHAN_SLEEP,
        ],
    );
    wait_for_file(&run, &run.path("ready"));
    let init = run.init_pid();

    // One more orphan from a process that enters the namespace from outside, as `docker exec` does.
    let injected = format!("(sleep {ORPHAN_SLEEP} &); exit 0");
    let status = Command::new("nsenter")
        .args(["--target", &init.to_string(), "--pid", "--mount"])
        .args(["sh", "-c", &injected])
        .status()
        .expect("nsenter (util-linux) must be installed");
    assert!(status.success(), "nsenter: {status:?}");

    // All four must first be seen alive as PID 1's children: else the test would prove nothing.
    let orphans = wait_until(READY, || {
        let found: Vec<i32> = children_of(init)
            .iter()
            .filter(|p| is_orphan_sleep(p))
            .map(|p| p.pid)
            .collect();
        (found.len() == 4).then_some(found)
    })
    .unwrap_or_else(|| panic!("expected 4 orphans under PID 1: {:?}", children_of(init)));

    assert_orphans_reaped(&run, init, &orphans);
    fs::write(run.path("ready.done"), "").expect("write done file");
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
}

// --- 5. a program that cannot be started ------------------------------------------------------------

#[test]
fn a_program_that_cannot_start_is_a_clear_error() {
    let cases = [
        (
            "aza-no-such-program",
            127,
            "cannot run aza-no-such-program: not found in PATH",
        ),
        (
            "{dir}/missing",
            127,
            "/missing: no such file (or its #! interpreter is missing)",
        ),
        ("{dir}/stderr", 126, "/stderr: permission denied"),
    ];
    for (program, expected, message) in cases {
        let mut run = Run::start(Role::Pid1, &[program]);
        let (code, stderr) = run.finish();
        assert_eq!(code, expected, "{program}\n{stderr}");
        assert!(stderr.contains(message), "{program}: {message:?}\n{stderr}");
    }
}

// --- 6. a supervisor below PID 1 adopts orphans as subreaper ------------------------------------------

#[test]
fn a_subreaper_below_pid_1_adopts_and_reaps_orphans() {
    let mut run = Run::start(
        Role::BelowInit,
        &[
            "sh",
            "-c",
            ORPHANING_CHILD,
            "sh",
            "{dir}/ready",
            ORPHAN_SLEEP,
        ],
    );
    wait_for_file(&run, &run.path("ready"));
    let init = run.init_pid();
    let supervisor = run.supervisor_pid();
    assert_ne!(init, supervisor, "the supervisor must not be PID 1 here");

    // Without the subreaper the orphans would go to PID 1, a sh that never reaps them.
    let orphans = wait_until(READY, || {
        let found: Vec<i32> = children_of(supervisor)
            .iter()
            .filter(|p| is_orphan_sleep(p))
            .map(|p| p.pid)
            .collect();
        (found.len() == 3).then_some(found)
    })
    .unwrap_or_else(|| {
        panic!(
            "expected 3 orphans under the supervisor {supervisor}: {:?}; under PID 1: {:?}",
            children_of(supervisor),
            children_of(init)
        )
    });

    assert_orphans_reaped(&run, supervisor, &orphans);
    fs::write(run.path("ready.done"), "").expect("write done file");
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
}
