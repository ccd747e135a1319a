//! The children of one initialisation or replica bootstrap: a `Session` runs each under the
//! supervisor and turns a stop signal into an interruption of the whole initialisation; the temporary
//! server (socket-only, on the staging directory) is started and always stopped again here; the
//! `WorkDir` holds its socket and the password files and is removed on drop.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::contract::SECRET_VARIABLES;
use super::init::{io_error, InitError};
use super::log;
use super::reaper::{ChildOutcome, Supervisor, Waited};
use super::signals::{SignalAction, STOP};

/// A private directory for the temporary server's socket and the password file, removed on drop.
pub(super) struct WorkDir {
    pub(super) path: PathBuf,
}

impl WorkDir {
    pub(super) fn create() -> Result<WorkDir, InitError> {
        let base = std::env::temp_dir();
        // Every container's entrypoint is PID 1, so the pid alone does not make the name unique.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let path = base.join(format!("aza-init-{}-{nanos}-{attempt}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(WorkDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io_error(format!(
                        "create a directory in {}",
                        base.display()
                    ))(e))
                }
            }
        }
        Err(InitError::Io {
            action: format!("create a private directory in {}", base.display()),
            source: std::io::Error::other("too many leftovers from earlier runs"),
        })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The temporary server: listens on a private Unix socket only, so no client can reach a
/// half-initialised database.
pub(super) struct TempServer {
    pub(super) data: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) port: u16,
    pub(super) running: bool,
    /// How long `pg_ctl start` may wait for it to accept connections: a recovery can take hours.
    pub(super) start_wait_seconds: u32,
}

impl TempServer {
    /// A server on `data` with its socket in `socket_dir`, as an initialisation starts it.
    pub(super) fn new(data: PathBuf, socket_dir: PathBuf, port: u16) -> TempServer {
        TempServer {
            data,
            socket_dir,
            port,
            running: false,
            start_wait_seconds: 3600,
        }
    }
}

/// The children of one initialisation, and whether a signal asked us to stop.
pub(super) struct Session<'s> {
    pub(super) supervisor: &'s mut Supervisor,
    pub(super) interrupted: Option<Signal>,
    /// How long a child may take to end after a stop before its process group is killed
    /// (`AZA_STOP_TIMEOUT`).
    pub(super) stop_timeout: Duration,
}

impl Session<'_> {
    /// Runs one child to completion. SIGTERM, SIGINT and SIGQUIT stop it (SIGTERM) and mark the whole
    /// initialisation as interrupted; other signals are ignored while initialising.
    pub(super) fn run(&mut self, step: &str, command: &mut Command) -> Result<(), InitError> {
        let started = Instant::now();
        let outcome = self.run_status(command)?;
        if !outcome.success() {
            return Err(InitError::Step {
                step: step.to_string(),
                outcome,
            });
        }
        let elapsed = started.elapsed();
        log::event(
            log::Level::Info,
            &format!("[INIT] {step} done in {:.1} s", elapsed.as_secs_f64()),
            &[
                ("step", step.into()),
                ("duration_ms", (elapsed.as_millis() as u64).into()),
            ],
        );
        Ok(())
    }

    /// Runs one child to completion and returns how it ended; only an interruption is an error.
    pub(super) fn run_status(&mut self, command: &mut Command) -> Result<ChildOutcome, InitError> {
        let pid = self.spawn(command)?;
        let outcome = self.wait_child(pid)?;
        if let Some(signal) = self.interrupted {
            return Err(InitError::Interrupted(signal));
        }
        Ok(outcome)
    }

    /// [`Session::run_status`] with the child's standard output in `answer` (a file of the private
    /// work directory: the supervisor reaps the child, so nothing would read a pipe), read back.
    pub(super) fn run_capturing(
        &mut self,
        command: &mut Command,
        answer: &Path,
    ) -> Result<(ChildOutcome, String), InitError> {
        let file = fs::File::create(answer).map_err(io_error("create a temporary file"))?;
        command.stdin(std::process::Stdio::null()).stdout(file);
        let outcome = self.run_status(command)?;
        let text =
            fs::read_to_string(answer).map_err(io_error(format!("read {}", answer.display())))?;
        Ok((outcome, text))
    }

    /// Starts a child in a process group of its own, so that a stop reaches what it started too.
    pub(super) fn spawn(&mut self, command: &mut Command) -> Result<Pid, InitError> {
        self.supervisor
            .spawn(command, true)
            .map_err(InitError::Spawn)
    }

    /// Waits for a child of this session. A stop signal (SIGTERM, SIGINT, SIGQUIT) marks the whole
    /// initialisation as interrupted and sends SIGTERM to the child's process group; a group still
    /// there `stop_timeout` later is killed. Other signals are ignored while initialising.
    pub(super) fn wait_child(&mut self, pid: Pid) -> Result<ChildOutcome, InitError> {
        let mut deadline = None;
        loop {
            let interrupted = &mut self.interrupted;
            let waited = self
                .supervisor
                .wait_for_until(pid, deadline, &mut |signal| {
                    if STOP.contains(&signal) {
                        interrupted.get_or_insert(signal);
                        SignalAction::ForwardToGroup(Signal::SIGTERM)
                    } else {
                        SignalAction::Ignore
                    }
                })
                .map_err(InitError::Spawn)?;
            match waited {
                Waited::Exited(outcome) => {
                    if self.interrupted.is_some() {
                        // What the child started goes with it.
                        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
                    }
                    return Ok(outcome);
                }
                Waited::Signalled => {
                    if self.interrupted.is_some() && deadline.is_none() {
                        deadline = Some(Instant::now() + self.stop_timeout);
                    }
                }
                Waited::TimedOut => {
                    log::warning(&format!(
                        "a child of the initialisation did not end within {} s of the stop \
                         (AZA_STOP_TIMEOUT); killing its process group",
                        self.stop_timeout.as_secs()
                    ));
                    let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
                    deadline = None;
                }
            }
        }
    }

    /// Starts the temporary server with the real start's `server_args` (made socket-only), runs
    /// `body`, and stops the server again whatever happened.
    pub(super) fn with_temp_server(
        &mut self,
        server: &mut TempServer,
        server_args: &[String],
        body: impl FnOnce(&mut Self, &TempServer) -> Result<(), InitError>,
    ) -> Result<(), InitError> {
        let options: Vec<String> = temp_server_args(server_args, &server.socket_dir, server.port);
        let mut start = quiet_command("pg_ctl");
        start
            .arg("-D")
            .arg(&server.data)
            .arg("-w")
            .arg("-t")
            .arg(server.start_wait_seconds.to_string())
            .arg("-o")
            .arg(shell_words(&options))
            .arg("start");
        let started = self.run("starting the temporary server", &mut start);
        server.running = started.is_ok() || self.interrupted.is_some();
        let result = started.and_then(|()| body(self, server));

        if server.running {
            // Stop it even after an interruption: a second signal must not leave it running. After
            // one, immediately: the staging directory is thrown away anyway.
            let interrupted = self.interrupted.take();
            let mode = if interrupted.is_some() {
                "immediate"
            } else {
                "fast"
            };
            let mut stop = quiet_command("pg_ctl");
            stop.arg("-D")
                .arg(&server.data)
                .args(["-w", "-t", "3600", "-m", mode, "stop"]);
            let stopped = self.run("stopping the temporary server", &mut stop);
            self.interrupted = self.interrupted.or(interrupted);
            server.running = stopped.is_err();
            if let (Ok(()), Err(e)) = (&result, stopped) {
                return Err(e);
            }
        }
        match (result, self.interrupted) {
            (_, Some(signal)) => Err(InitError::Interrupted(signal)),
            (result, None) => result,
        }
    }
}

/// A command whose environment lacks the secrets: initdb, pg_ctl, psql and the server never need them.
pub(super) fn quiet_command(program: &str) -> Command {
    let mut command = Command::new(program);
    for secret in SECRET_VARIABLES {
        command.env_remove(secret);
    }
    command
}

/// The real start's arguments minus `-D` (the temporary server runs on the staging directory), made
/// unreachable over TCP and pointed at a private socket directory.
pub fn temp_server_args(server_args: &[String], socket_dir: &Path, port: u16) -> Vec<String> {
    let mut args = Vec::new();
    let mut rest = server_args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-D" => {
                rest.next();
            }
            a if a.starts_with("-D") => {}
            _ => args.push(arg.clone()),
        }
    }
    args.extend([
        "-p".to_string(),
        port.to_string(),
        "-c".to_string(),
        "listen_addresses=".to_string(),
        "-c".to_string(),
        format!("unix_socket_directories={}", socket_dir.display()),
        // Socket-only, so TLS has nothing to protect; and a generated certificate is made after
        // the first start's initialisation, when the cluster exists.
        "-c".to_string(),
        "ssl=off".to_string(),
    ]);
    args
}

/// Quotes each word for the shell `pg_ctl -o` hands its options to.
pub fn shell_words(words: &[String]) -> OsString {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    OsString::from(quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_server_is_socket_only_and_drops_the_data_directory() {
        let args: Vec<String> = [
            "-D",
            "/data",
            "-c",
            "shared_buffers=128MB",
            "-D/x",
            "-c",
            "listen_addresses=*",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = temp_server_args(&args, Path::new("/tmp/s"), 5433);
        assert_eq!(
            out,
            [
                "-c",
                "shared_buffers=128MB",
                "-c",
                "listen_addresses=*",
                "-p",
                "5433",
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_directories=/tmp/s",
                "-c",
                "ssl=off"
            ]
        );
    }

    #[test]
    fn shell_words_survive_quotes() {
        let words = vec![
            "a b".to_string(),
            "it's".to_string(),
            "listen_addresses=".to_string(),
        ];
        assert_eq!(
            shell_words(&words),
            OsString::from(r#"'a b' 'it'\''s' 'listen_addresses='"#)
        );
    }
}
