//! A real Docker engine for the container tests: the aza-pg image, built once per test process on the
//! local base image of `scripts/build-base-image.sh` (nothing is pulled: no registry is reachable), and
//! guards that remove every container, anonymous volume and compose project a test made, even when the
//! test panics. Every container's log is kept in `target/test-logs/` for the password leak check.
//!
//! Passwords reach `docker` and `docker-compose` through their own environment (`-e NAME` without a
//! value, `${NAME}` in a compose file), never through an argument or a file.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::server::{kept_logs_dir, PASSWORD};
use super::{describe, text, timeout};

pub const SKIP_VAR: &str = "AZA_SKIP_CONTAINER_TESTS";

/// Where the image's PostgreSQL listens (Debian's socket directory).
pub const SOCKET_DIR: &str = "/var/run/postgresql";
/// psql inside the container: over the socket, as the superuser, quiet, unaligned, stopping at the
/// first error.
const PSQL: [&str; 13] = [
    "psql",
    "-X",
    "-q",
    "-A",
    "-t",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    SOCKET_DIR,
    "-U",
    "postgres",
    "-d",
    "postgres",
];

fn project_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Written straight to the process's stderr, past the test harness's capture: these lines must be seen
/// even when the test passes.
pub fn loud(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Whether a container test runs. With `AZA_SKIP_CONTAINER_TESTS=1` it prints a loud SKIPPED line and
/// returns `false`; otherwise an engine that `docker info` cannot reach fails the test.
pub fn engine_or_skip(test: &str) -> bool {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        loud(&format!(
            "SKIPPED container test {test}: {SKIP_VAR}=1, so the image is not built or tested under Docker"
        ));
        return false;
    }
    static ENGINE: OnceLock<Result<String, String>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        match Command::new("docker")
            .args([
                "info",
                "--format",
                "{{.ServerVersion}} cgroup v{{.CgroupVersion}}",
            ])
            .output()
        {
            Ok(output) if output.status.success() => Ok(text(&output.stdout).trim().to_string()),
            Ok(output) => Err(text(&output.stderr).trim().to_string()),
            Err(error) => Err(format!("docker: {error}")),
        }
    });
    match engine {
        Ok(_) => true,
        Err(error) => panic!(
            "{test} needs a running Docker engine and `docker info` failed: {error}\n\
             Start the engine, or set {SKIP_VAR}=1 to skip the container tests (loudly)."
        ),
    }
}

/// The engine's cgroup version (1 or 2), which decides the memory and CPU source the entrypoint
/// reports inside a container.
pub fn cgroup_version() -> u32 {
    let output = docker(&["info", "--format", "{{.CgroupVersion}}"]);
    text(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("docker info: no cgroup version\n{}", describe(&output)))
}

/// `docker ARGS` with the test password in its environment, for `-e POSTGRES_PASSWORD`.
pub fn docker_command(args: &[&str]) -> Command {
    let mut command = Command::new("docker");
    command.args(args).env("POSTGRES_PASSWORD", PASSWORD);
    command
}

pub fn docker(args: &[&str]) -> Output {
    docker_command(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

fn checked(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?}\n{}",
        describe(&output)
    );
    text(&output.stdout).trim().to_string()
}

/// Polls `probe` every 100 ms until it answers `Ok`; past `limit` (scaled by the timeout multiplier)
/// the test fails with the last answer and `context()`.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
    context: impl Fn() -> String,
) -> T {
    let limit = timeout(limit);
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: not within {limit:?}; last: {last}\n{}", context())
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A name no other test, test run or worktree on this engine uses.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "aza-e2e-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct Image {
    /// `aza-pg:e2e-<image id>`: a tag per content, so parallel runs of different trees never clash.
    pub reference: String,
    /// Debian's PostgreSQL package version in the image.
    pub pg_version: String,
}

/// The aza-pg image for this test process, as users build it locally: `scripts/build-image.sh` (the
/// Debian-unstable base with Debian's PostgreSQL 18, cached by content hash; the static musl
/// entrypoint; the catalog's packages from Debian's archive), run with its default configuration.
/// Built once; a failure fails every container test.
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Result<Image, String>> = OnceLock::new();
    match IMAGE.get_or_init(build_image) {
        Ok(image) => image,
        Err(error) => panic!("the aza-pg image could not be built: {error}"),
    }
}

fn build_image() -> Result<Image, String> {
    let started = Instant::now();
    let building = format!("aza-pg:e2e-building-{}", std::process::id());
    // The script's progress goes to this process's stderr as it happens: a first build takes minutes
    // and should not look like a hang.
    let output = Command::new("bash")
        .arg(project_dir().join("scripts/build-image.sh"))
        .env("AZA_IMAGE", &building)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("scripts/build-image.sh: {e}"))?;
    if !output.status.success() {
        return Err(format!("scripts/build-image.sh failed ({})", output.status));
    }
    let printed = text(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    if printed != building {
        return Err(format!(
            "scripts/build-image.sh printed '{printed}' as its last line, not {building}"
        ));
    }
    let id = checked(&["image", "inspect", "--format", "{{.Id}}", &building]);
    let short = id
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect::<String>();
    let reference = format!("aza-pg:e2e-{short}");
    checked(&["tag", &id, &reference]);
    checked(&["rmi", &building]);
    let pg_version = checked(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        &reference,
        "-c",
        "echo \"$PG_VERSION\"",
    ]);
    loud(&format!(
        "container tests: image {reference} (Debian's PostgreSQL {pg_version}) ready after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(Image {
        reference,
        pg_version,
    })
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// A container this test owns: removed with its anonymous volumes when dropped, after its log is kept.
pub struct Container {
    pub name: String,
    /// Removed on drop; a compose service's container belongs to its [`ComposeStack`] instead.
    owned: bool,
}

impl Container {
    /// A guard for a name about to be used (so that a failed `docker run` is cleaned up too).
    pub fn named(tag: &str) -> Container {
        Container {
            name: unique_name(tag),
            owned: true,
        }
    }

    /// A container some other guard removes (a compose service): only looked at.
    pub fn attach(name: &str) -> Container {
        Container {
            name: name.to_string(),
            owned: false,
        }
    }

    /// `docker run -d` of the aza-pg image with `options` before the image and `command` after it,
    /// the test password as `POSTGRES_PASSWORD` and otherwise the image's defaults (an option can
    /// override them).
    pub fn start(tag: &str, options: &[&str], command: &[&str]) -> Container {
        let container = Container::named(tag);
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &container.name,
            "-e",
            "POSTGRES_PASSWORD",
        ];
        args.extend_from_slice(options);
        args.push(&image().reference);
        args.extend_from_slice(command);
        let output = docker(&args);
        assert!(
            output.status.success(),
            "docker run {}\n{}",
            container.name,
            describe(&output)
        );
        container
    }

    pub fn inspect(&self, format: &str) -> String {
        checked(&["inspect", "--format", format, &self.name])
    }

    /// `running`, `exited`, ... and the exit code.
    pub fn state(&self) -> (String, i64) {
        let answer = self.inspect("{{.State.Status}} {{.State.ExitCode}}");
        let (status, code) = answer.split_once(' ').expect("status and exit code");
        (status.to_string(), code.parse().expect("exit code"))
    }

    /// How long the container's last run took, from the engine's StartedAt to FinishedAt.
    pub fn ran_for(&self) -> Duration {
        let answer = self.inspect("{{.State.StartedAt}} {{.State.FinishedAt}}");
        let (started, finished) = answer.split_once(' ').expect("two timestamps");
        let seconds = |stamp: &str| -> f64 {
            // 2026-11-27T13:21:18.365529237Z: the time of day is enough for a run of seconds.
            let time = stamp
                .split_once('T')
                .expect("RFC 3339")
                .1
                .trim_end_matches('Z');
            let parts: Vec<f64> = time
                .split(':')
                .map(|p| p.parse().expect("number"))
                .collect();
            parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
        };
        let mut ran = seconds(finished) - seconds(started);
        if ran < -43_200.0 {
            ran += 86_400.0; // across midnight
        }
        // The engine notes StartedAt after the process started; a short run can end "before" it.
        Duration::from_secs_f64(ran.max(0.0))
    }

    pub fn health(&self) -> String {
        self.inspect("{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}")
    }

    pub fn logs(&self) -> String {
        let output = docker(&["logs", &self.name]);
        format!("{}{}", text(&output.stdout), text(&output.stderr))
    }

    /// The last 40 lines of the log and the last health check outputs, for failure messages.
    pub fn context(&self) -> String {
        let tail = last_lines(&self.logs(), 40);
        let health = docker(&["inspect", "--format", "{{json .State.Health}}", &self.name]);
        format!(
            "--- last lines of docker logs {}\n{tail}\n--- health\n{}",
            self.name,
            text(&health.stdout)
        )
    }

    /// Waits until Docker reports the container healthy; exiting first fails the test at once.
    pub fn wait_healthy(&self, limit: Duration) {
        wait_for(
            &format!("{} healthy", self.name),
            limit,
            || match (self.state(), self.health()) {
                ((status, code), _) if status == "exited" => {
                    panic!(
                        "{} exited with {code} before it was healthy\n{}",
                        self.name,
                        self.context()
                    )
                }
                (_, health) if health == "healthy" => Ok(()),
                (_, health) => Err(health),
            },
            || self.context(),
        )
    }

    /// Waits until the container has exited; its exit code.
    pub fn wait_exited(&self, limit: Duration) -> i64 {
        wait_for(
            &format!("{} exited", self.name),
            limit,
            || match self.state() {
                (status, code) if status == "exited" => Ok(code),
                (status, _) => Err(status),
            },
            || self.context(),
        )
    }

    /// `psql -c SQL` inside the container as the superuser over the Unix socket (trusted, as in the
    /// official image): unaligned, tuples only, stopping at the first error.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_steps(&[sql])
    }

    /// Several statements in one psql session, each its own `-c` (so each its own transaction, as
    /// `set_user()` and session settings need); the output of all of them.
    pub fn psql_steps(&self, statements: &[&str]) -> Result<String, String> {
        let mut args = vec!["exec", &self.name];
        args.extend(PSQL);
        for statement in statements {
            args.extend(["-c", statement]);
        }
        let output = docker(&args);
        if output.status.success() {
            Ok(text(&output.stdout).trim().to_string())
        } else {
            Err(format!("{}{}", text(&output.stdout), text(&output.stderr)))
        }
    }

    /// [`Container::psql`] in another database.
    pub fn psql_in(&self, database: &str, sql: &str) -> Result<String, String> {
        let mut args = vec!["exec", &self.name];
        args.extend(&PSQL[..PSQL.len() - 1]);
        args.extend([database, "-c", sql]);
        let output = docker(&args);
        if output.status.success() {
            Ok(text(&output.stdout).trim().to_string())
        } else {
            Err(format!("{}{}", text(&output.stdout), text(&output.stderr)))
        }
    }

    pub fn psql_ok(&self, sql: &str) -> String {
        self.psql(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", self.context()))
    }

    /// A psql session inside the container that stays open: statements go in one at a time.
    pub fn session(&self) -> Session {
        let mut args = vec!["exec", "-i", &self.name];
        args.extend(PSQL);
        let mut child = docker_command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker exec -i psql");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("psql stdout");
        let (lines, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines: receiver,
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        keep_log(&format!("container-{}", self.name), &self.logs());
        let _ = Command::new("docker")
            .args(["rm", "--force", "--volumes", &self.name])
            .output();
    }
}

fn keep_log(name: &str, contents: &str) {
    let kept = kept_logs_dir();
    if fs::create_dir_all(&kept).is_ok() {
        let _ = fs::write(kept.join(format!("{name}.log")), contents);
    }
}

/// An interactive psql inside a container (see [`Container::session`]).
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Session {
    /// Sends `sql` and waits for the line `marker`, which the statements must print (e.g. with
    /// `SELECT 'marker';`): then they have run.
    pub fn send_until(&mut self, sql: &str, marker: &str) {
        let stdin = self.stdin.as_mut().expect("session open");
        stdin.write_all(sql.as_bytes()).expect("write to psql");
        stdin.flush().expect("flush psql");
        let deadline = Instant::now() + timeout(Duration::from_secs(10));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim() == marker => return,
                Ok(_) => continue,
                Err(_) => panic!("psql session: no '{marker}' after {sql}"),
            }
        }
    }

    /// Waits for psql to end (its server went away); kills it past `limit`.
    pub fn wait_end(&mut self, limit: Duration) {
        let deadline = Instant::now() + timeout(limit);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory mounted into containers (init scripts): readable by the image's `postgres` user.
pub fn shared_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

pub fn write_readable(dir: &Path, name: &str, contents: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    fs::write(&path, contents).expect("write file");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod file");
    path
}

/// The override file [`ComposeStack::with_override`] writes.
const OVERRIDE: &str = "compose.override.yml";

/// A copy of one of `stacks/` brought up with docker-compose under a project name of its own, and
/// taken down with its volumes when dropped (after its logs are kept).
pub struct ComposeStack {
    pub dir: tempfile::TempDir,
    pub project: String,
    secrets: Vec<(String, String)>,
}

impl ComposeStack {
    /// `stacks/STACK` with `.env` made from its `.env.example`: `settings` replace or add lines, and
    /// the `secrets` lines are removed, their values reaching compose through its environment.
    pub fn new(stack: &str, settings: &[(&str, String)], secrets: &[(&str, &str)]) -> ComposeStack {
        let source = project_dir().join("stacks").join(stack);
        let dir = tempfile::tempdir().expect("temp dir");
        fs::copy(source.join("compose.yml"), dir.path().join("compose.yml")).expect("copy stack");
        let example = fs::read_to_string(source.join(".env.example")).expect(".env.example");
        let replaced = |line: &str| {
            settings
                .iter()
                .map(|(name, _)| *name)
                .chain(secrets.iter().map(|(name, _)| *name))
                .any(|name| line.starts_with(&format!("{name}=")))
        };
        let mut lines: Vec<String> = example
            .lines()
            .filter(|line| !replaced(line))
            .map(str::to_string)
            .collect();
        lines.extend(
            settings
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        );
        fs::write(dir.path().join(".env"), lines.join("\n") + "\n").expect("write .env");
        ComposeStack {
            dir,
            project: unique_name(stack),
            secrets: secrets
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        }
    }

    /// Adds a compose override file (what a user's `compose.override.yml` would say), merged over
    /// the stack's own by every later command.
    pub fn with_override(self, yaml: &str) -> ComposeStack {
        fs::write(self.dir.path().join(OVERRIDE), yaml).expect("write the override");
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker-compose");
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .args(["--project-name", &self.project, "--file", "compose.yml"]);
        if self.dir.path().join(OVERRIDE).exists() {
            command.args(["--file", OVERRIDE]);
        }
        command.args(args);
        if let Some(host) = std::env::var_os("DOCKER_HOST") {
            command.env("DOCKER_HOST", host);
        }
        for (name, value) in &self.secrets {
            command.env(name, value);
        }
        command
    }

    /// `up -d`: the default services only (no `exporters` profile).
    pub fn up(&self) {
        let output = self
            .command(&["up", "-d"])
            .output()
            .expect("docker-compose (apt-get install docker-compose; scripts/test.sh does)");
        assert!(
            output.status.success(),
            "docker-compose up {}\n{}\n{}",
            self.project,
            describe(&output),
            self.logs()
        );
    }

    pub fn logs(&self) -> String {
        let output = self.command(&["logs", "--no-color"]).output();
        output
            .map(|o| format!("{}{}", text(&o.stdout), text(&o.stderr)))
            .unwrap_or_default()
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        keep_log(&format!("compose-{}", self.project), &self.logs());
        let _ = self
            .command(&["down", "--volumes", "--remove-orphans", "--timeout", "5"])
            .output();
    }
}

/// A user-defined network of this test's own (containers on it reach each other by name), removed
/// when dropped; its containers' guards must drop first.
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn create(tag: &str) -> Network {
        let network = Network {
            name: unique_name(tag),
        };
        checked(&["network", "create", &network.name]);
        network
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// A named volume of this test's own, removed when dropped; its containers' guards must drop first.
pub struct Volume {
    pub name: String,
}

impl Volume {
    pub fn create(tag: &str) -> Volume {
        let volume = Volume {
            name: unique_name(tag),
        };
        checked(&["volume", "create", &volume.name]);
        volume
    }

    /// `-v NAME:PATH` as one argument.
    pub fn mount(&self, path: &str) -> String {
        format!("{}:{path}", self.name)
    }

    /// Every path under the volume, relative to it, one per line (through a throwaway container of
    /// the image, which has `find`).
    pub fn listing(&self) -> String {
        let mount = self.mount("/volume");
        checked(&[
            "run",
            "--rm",
            "--entrypoint",
            "find",
            "-v",
            &mount,
            &image().reference,
            "/volume",
            "-mindepth",
            "1",
            "-printf",
            "%P\\n",
        ])
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["volume", "rm", "--force", &self.name])
            .output();
    }
}

/// A helper image from Debian's packages on the project's base (`scripts/build-package-image.sh`),
/// with `entrypoint` as its ENTRYPOINT when given: built once per test process and name; a failure
/// fails the test that needs it.
pub fn package_image(
    name: &'static str,
    packages: &'static [&'static str],
    entrypoint: Option<&'static str>,
) -> String {
    static IMAGES: std::sync::Mutex<Vec<(&'static str, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut images = IMAGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, image)) = images.iter().find(|(built, _)| *built == name) {
        return image.clone();
    }
    let mut command = Command::new("bash");
    command.arg(project_dir().join("scripts/build-package-image.sh"));
    if let Some(program) = entrypoint {
        command.args(["--entrypoint", program]);
    }
    let output = command
        .arg(name)
        .args(packages)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("scripts/build-package-image.sh: {e}"));
    assert!(
        output.status.success(),
        "scripts/build-package-image.sh {name} {packages:?} failed ({})",
        output.status
    );
    let image = text(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    images.push((name, image.clone()));
    image
}

impl Container {
    /// `docker run -d` of another image (a helper), with `options` and `command`.
    pub fn start_image(tag: &str, image: &str, options: &[&str], command: &[&str]) -> Container {
        let container = Container::named(tag);
        let mut args = vec!["run", "-d", "--name", &container.name];
        args.extend_from_slice(options);
        args.push(image);
        args.extend_from_slice(command);
        let output = docker(&args);
        assert!(
            output.status.success(),
            "docker run {}\n{}",
            container.name,
            describe(&output)
        );
        container
    }

    /// `docker exec -u USER NAME ARGS...`: its output, or the failure with the container's log tail.
    pub fn exec_as(&self, user: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["exec", "-u", user, &self.name];
        all.extend_from_slice(args);
        let output = docker(&all);
        if output.status.success() {
            Ok(text(&output.stdout))
        } else {
            Err(describe(&output))
        }
    }
}

/// The stacks' exporter and Prometheus images, built from Debian's packages (the published ones are
/// on quay.io, which is not reachable): the compose variables that select them.
pub fn monitoring_images() -> Vec<(&'static str, String)> {
    vec![
        (
            "POSTGRES_EXPORTER_IMAGE",
            package_image(
                "postgres-exporter",
                &["prometheus-postgres-exporter"],
                Some("/usr/bin/prometheus-postgres-exporter"),
            ),
        ),
        (
            "PGBOUNCER_EXPORTER_IMAGE",
            package_image(
                "pgbouncer-exporter",
                &["prometheus-pgbouncer-exporter"],
                Some("/usr/bin/prometheus-pgbouncer-exporter"),
            ),
        ),
        (
            "NODE_EXPORTER_IMAGE",
            package_image(
                "node-exporter",
                &["prometheus-node-exporter"],
                Some("/usr/bin/prometheus-node-exporter"),
            ),
        ),
        (
            "PROMETHEUS_IMAGE",
            package_image("prometheus", &["prometheus"], Some("/usr/bin/prometheus")),
        ),
    ]
}

/// `stacks/monitoring`, for the stacks' `MONITORING_DIR` (a stack under test runs from a copy of its
/// compose file elsewhere).
pub fn monitoring_dir() -> PathBuf {
    project_dir().join("stacks/monitoring")
}

/// The body of an HTTP GET from the host (curl), or why there is none.
pub fn http_get(url: &str) -> Result<String, String> {
    let output = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", url])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if output.status.success() {
        Ok(text(&output.stdout))
    } else {
        Err(text(&output.stderr).trim().to_string())
    }
}

impl ComposeStack {
    /// `--profile PROFILE up -d`: the default services and that profile's.
    pub fn up_with_profile(&self, profile: &str) {
        let output = self
            .command(&["--profile", profile, "up", "-d"])
            .output()
            .expect("docker-compose");
        assert!(
            output.status.success(),
            "docker-compose --profile {profile} up {}\n{}\n{}",
            self.project,
            describe(&output),
            self.logs()
        );
    }

    /// The running container of `service`, looked at (the stack's guard removes it).
    pub fn service(&self, service: &str) -> Container {
        let output = self
            .command(&["--profile", "exporters", "ps", "-q", service])
            .output()
            .expect("docker-compose ps");
        let id = text(&output.stdout).trim().to_string();
        assert!(
            !id.is_empty(),
            "no container for {service}: {}",
            describe(&output)
        );
        Container::attach(&id)
    }
}
