//! A real PostgreSQL 18 started by the built entrypoint as PID 1 of its own PID and mount namespace,
//! in its own temp dir and on its own port. Dropping an [`Instance`] kills the namespace (and with it
//! every process in it), even when the test panics.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::{entrypoint, require_root, text, timeout};

pub const PASSWORD: &str = "t3st-pässword:with\\odd@chars&";

/// PostgreSQL 18's bin directory, installed by scripts/install-postgres.sh.
pub fn postgres_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/postgresql/postgresql-18.6.0/bin");
    if !bin.join("postgres").exists() {
        panic!("PostgreSQL 18 is not installed at {}; run scripts/install-postgres.sh (scripts/test.sh does)", bin.display());
    }
    bin
}

pub fn path_with_postgres() -> String {
    format!(
        "{}:{}",
        postgres_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A free TCP port on loopback (the kernel's choice; released just before use).
/// The port is released before the server binds it, so the kernel could offer it again to another
/// test in the same run: ports handed out once are never handed out again by this process.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

pub struct Instance {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub pgdata: PathBuf,
    pub initdb_dir: PathBuf,
    pub socket_dir: PathBuf,
    /// A world-writable directory for files init scripts (running as `postgres`) write.
    pub scratch: PathBuf,
    pub log: PathBuf,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Run the entrypoint as this user and group ID instead of root (through `setpriv`).
    pub run_as: Option<u32>,
    /// A cgroup v1 `cgroup.procs` file: the entrypoint (and so PostgreSQL) starts inside that cgroup.
    pub cgroup_procs: Option<PathBuf>,
    /// What runs as PID 1 instead of the built entrypoint (the proof benchmark's shim that runs the
    /// local image with the same arguments).
    pub program: Option<PathBuf>,
    unshare: Option<Child>,
}

impl Instance {
    /// A fresh instance with the test password, contrib-only preload libraries, a small memory size,
    /// loopback only and no image catalog.
    pub fn new() -> Instance {
        require_root("starting PostgreSQL as PID 1 of a namespace");
        let dir = tempfile::tempdir().expect("temp dir");
        // The server runs as `postgres`: it must reach everything below the temp dir.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        let socket_dir = dir.path().join("sockets");
        fs::create_dir(&socket_dir).expect("socket dir");
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o1777))
            .expect("chmod socket dir");
        let scratch = dir.path().join("scratch");
        fs::create_dir(&scratch).expect("scratch dir");
        fs::set_permissions(&scratch, fs::Permissions::from_mode(0o1777))
            .expect("chmod scratch dir");
        let initdb_dir = dir.path().join("initdb.d");
        fs::create_dir(&initdb_dir).expect("initdb dir");
        let pgdata = dir.path().join("pgdata");
        // Never the host's /etc/postgresql: each instance writes its version-info files here.
        let version_info_dir = dir.path().join("etc");
        fs::create_dir(&version_info_dir).expect("version-info dir");
        // No image catalog: a host run, whatever this machine's /usr/share/aza-pg holds.
        let no_catalog = dir.path().join("no-image-catalog.json");
        let log = dir.path().join("entrypoint.log");
        let env = [
            ("POSTGRES_PASSWORD", PASSWORD),
            ("POSTGRES_MEMORY", "1g"),
            ("POSTGRES_CPUS", "2"),
            // The image listens on every address; a test server on the host only on loopback.
            ("POSTGRES_BIND_IP", "127.0.0.1"),
            (
                "AZA_IMAGE_CATALOG",
                no_catalog.to_str().expect("utf-8 path"),
            ),
            (
                "POSTGRES_SHARED_PRELOAD_LIBRARIES",
                "auto_explain,pg_stat_statements",
            ),
            ("AZA_INITDB_DIR", initdb_dir.to_str().expect("utf-8 path")),
            ("PGDATA", pgdata.to_str().expect("utf-8 path")),
            (
                "AZA_VERSION_INFO_DIR",
                version_info_dir.to_str().expect("utf-8 path"),
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Instance {
            dir,
            port: free_port(),
            pgdata,
            initdb_dir,
            socket_dir,
            scratch,
            log,
            env,
            args: Vec::new(),
            run_as: None,
            cgroup_procs: None,
            program: None,
            unshare: None,
        }
    }

    pub fn set_env(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn remove_env(&mut self, name: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != name);
        self
    }

    /// Adds an init script with the given mode.
    pub fn script(&self, name: &str, body: &[u8], mode: u32) {
        let path = self.initdb_dir.join(name);
        fs::write(&path, body).expect("write init script");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod init script");
    }

    /// The entrypoint command (without namespaces), with this instance's environment and arguments.
    pub fn entrypoint_command(&self, leading: &[&str]) -> Command {
        let mut command = Command::new(entrypoint());
        command.env_clear().env("PATH", path_with_postgres());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command.args(leading).args(self.server_args());
        command
    }

    fn server_args(&self) -> Vec<String> {
        let mut args = vec![
            "-p".to_string(),
            self.port.to_string(),
            "-k".to_string(),
            self.socket_dir.display().to_string(),
        ];
        args.extend(self.args.iter().cloned());
        args
    }

    /// Starts the entrypoint as PID 1 of new PID and mount namespaces; output goes to the log file.
    pub fn start(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        self.start_with_output(log.try_clone().expect("log fd").into(), log.into());
    }

    /// [`Instance::start`] with the entrypoint's stdout and stderr where the test wants them.
    pub fn start_with_output(&mut self, stdout: Stdio, stderr: Stdio) {
        let mut command = self.start_command();
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        self.spawn(command);
    }

    /// [`Instance::start`] with descriptors 1 and 2 closed (not even `/dev/null`).
    pub fn start_with_closed_output(&mut self) {
        let mut command = self.start_command();
        command.stdin(Stdio::null());
        // SAFETY: close(2) is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                nix::unistd::close(1)?;
                nix::unistd::close(2)?;
                Ok(())
            });
        }
        self.spawn(command);
    }

    fn spawn(&mut self, mut command: Command) {
        self.unshare = Some(
            command
                .spawn()
                .expect("unshare (util-linux) must be installed"),
        );
    }

    fn start_command(&self) -> Command {
        assert!(self.unshare.is_none(), "instance already started");
        let mut command = match &self.cgroup_procs {
            // The shell moves itself into the cgroup, then becomes `unshare` (same pid).
            Some(procs) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", r#"echo $$ > "$0" && exec "$@""#])
                    .arg(procs)
                    .arg("unshare");
                sh
            }
            None => Command::new("unshare"),
        };
        command.args(["--pid", "--mount", "--fork", "--mount-proc"]);
        if let Some(id) = self.run_as {
            command
                .arg("setpriv")
                .arg(format!("--reuid={id}"))
                .arg(format!("--regid={id}"))
                .arg("--clear-groups");
        }
        command
            .arg(self.program.clone().unwrap_or_else(entrypoint))
            .arg("postgres")
            .args(self.server_args());
        command.env_clear().env("PATH", path_with_postgres());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// The host's pid of the namespace's PID 1 (the entrypoint).
    pub fn pid1(&self) -> i32 {
        let unshare = self.unshare.as_ref().expect("started").id();
        let deadline = Instant::now() + timeout(Duration::from_secs(5));
        loop {
            let children = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
                .unwrap_or_default();
            if let Some(pid) = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
            {
                return pid;
            }
            if Instant::now() > deadline {
                panic!(
                    "unshare {unshare} has no child process\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal_pid1(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid1().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The entrypoint's exit status if it has already exited (then the instance can be started again).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.unshare.as_mut()?.try_wait().ok().flatten()?;
        self.unshare = None;
        Some(status)
    }

    /// Waits for the entrypoint (and so the namespace) to end; panics with the log if it does not.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout(limit);
        let child = self.unshare.as_mut().expect("started");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.unshare = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "the entrypoint did not exit within {:?}\n{}",
                    timeout(limit),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls a TCP login until it works; on time-out reports the last error and the log's tail.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + timeout(Duration::from_secs(60));
        loop {
            let attempt = self.psql("SELECT 1");
            if attempt.is_ok() {
                return;
            }
            if let Some(status) = self
                .unshare
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the entrypoint exited ({status}) before accepting connections\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "no successful login within the time limit; last error: {:?}\n{}",
                    attempt.err(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn psql_as(
        &self,
        user: &str,
        password: &str,
        database: &str,
        sql: &str,
    ) -> Result<String, String> {
        let output = self
            .psql_command(user, password, database)
            .arg("-c")
            .arg(sql)
            .output()
            .expect("psql");
        if output.status.success() {
            Ok(text(&output.stdout).trim_end().to_string())
        } else {
            Err(text(&output.stderr))
        }
    }

    pub fn psql_command(&self, user: &str, password: &str, database: &str) -> Command {
        let mut command = Command::new(postgres_bin().join("psql"));
        command
            .env_clear()
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .args([
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-U", user, "-d", database]);
        command
    }

    /// `psql -c` as the superuser over TCP with the password.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let user = self.get_env("POSTGRES_USER").unwrap_or("postgres");
        let database = self.get_env("POSTGRES_DB").unwrap_or(user);
        self.psql_as(user, PASSWORD, database, sql)
    }

    pub fn get_env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The dry-run preview for the same environment and arguments.
    pub fn dry_run(&self) -> serde_json::Value {
        let output: Output = self
            .entrypoint_command(&["--dry-run", "--format", "json"])
            .output()
            .expect("dry run");
        assert!(
            output.status.success(),
            "dry run failed: {}",
            text(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("dry run JSON")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!("--- last lines of {}\n{tail}", self.log.display())
    }

    pub fn is_initialised(&self) -> bool {
        self.pgdata.join("PG_VERSION").exists()
    }

    /// Stops the instance with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        self.signal_pid1("TERM");
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(
            status.success(),
            "entrypoint exit {status} after SIGTERM\n{}",
            self.log_tail()
        );
    }
}

/// Where every instance's log is kept after its temp dir is gone, so that `scripts/check-secrets.sh`
/// can search all output of a test run for the test passwords.
pub fn kept_logs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-logs")
}

impl Drop for Instance {
    fn drop(&mut self) {
        let kept = kept_logs_dir();
        if fs::create_dir_all(&kept).is_ok() {
            let name = self
                .dir
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = fs::copy(&self.log, kept.join(format!("{name}.log")));
        }
        if let Some(mut child) = self.unshare.take() {
            // Killing the namespace's PID 1 makes the kernel kill everything else in it.
            let unshare = child.id();
            if let Ok(children) =
                fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            {
                for pid in children.split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether tests/secrets.txt (searched by scripts/check-secrets.sh in all test output) lists `secret`.
pub fn is_listed_for_the_leak_check(secret: &str) -> bool {
    let listed =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/secrets.txt"))
            .unwrap_or_default();
    listed.lines().any(|line| line == secret)
}
