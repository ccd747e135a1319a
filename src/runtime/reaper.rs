//! Running PostgreSQL as a child while the entrypoint is PID 1: one waiter reaps every child (orphans
//! included), signals are taken synchronously with `sigwait` and passed on by a policy, and the child's
//! end is turned into an exit code the way `sh` would.
//!
//! The lifecycle, like tini's: [`Supervisor::install`] blocks the handled signals (and registers as child
//! subreaper when not PID 1) → [`Supervisor::spawn`] starts the child with signals restored →
//! [`Supervisor::wait_for`] loops { reap every exited child; wait for a signal; forward it } until the
//! child has exited.
//!
//! Why blocking (and not handlers) works for PID 1: the kernel drops a signal sent to a PID namespace's
//! init when that signal's disposition is SIG_DFL, even when it comes from the parent namespace
//! (`docker stop`). A *blocked* signal is never treated as ignored, though: it stays pending until
//! `sigwait` takes it. So the supervisor needs no handlers at all, and nothing runs in signal context.
//!
//! Exit codes, written once (`sh` conventions):
//!
//! | the child…                          | exit code |
//! |-------------------------------------|-----------|
//! | exited with status N                | N         |
//! | was killed by signal N              | 128 + N   |
//! | could not be found (ENOENT/ENOTDIR) | 127       |
//! | was found but could not be run      | 126       |
//! | (the supervisor itself failed)      | 1         |

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::prctl;
use nix::sys::signal::{self, kill, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{getpid, setpgid, Pid};

pub use super::signals::{postgres_signal_policy, ShutdownMode, SignalAction};
use super::signals::{HANDLED, STOP};

/// Whether this process is the init of its PID namespace (the container's PID 1).
pub fn is_pid1() -> bool {
    getpid() == Pid::from_raw(1)
}

/// The single waiter for this process's children. Create it first thing, while the process is still
/// single-threaded: the signal mask it sets is per thread, and a thread that leaves SIGCHLD unblocked
/// would take the notifications away from `sigwait`.
#[derive(Debug)]
pub struct Supervisor {
    handled: SigSet,
    /// The mask before `install`, put back by `release`.
    previous_mask: SigSet,
    /// Children started by `spawn` and not yet reaped.
    running: HashSet<Pid>,
    /// Children started by `spawn`, reaped while waiting for another one, and not yet handed back.
    finished: HashMap<Pid, ChildOutcome>,
    /// The first stop signal taken by [`Supervisor::stop_requested`] or [`Supervisor::note_stop`]:
    /// once asked to stop, every later phase sees it.
    stop: Option<Signal>,
}

/// Why [`Supervisor::wait_for_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    Exited(ChildOutcome),
    /// The deadline passed; the child still runs.
    TimedOut,
    /// A signal was handled (forwarded or ignored); the child still runs.
    Signalled,
}

/// How [`Supervisor::run_limited`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Exited(ChildOutcome),
    /// The time limit passed; the child's process group was killed.
    TimedOut,
    /// A stop signal arrived; the child's process group was killed.
    Stopped(Signal),
}

impl Supervisor {
    /// Blocks the handled signals (SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2) in the
    /// calling thread; call it first thing in a single-threaded process. If `subreaper` is true and this
    /// is not PID 1, also registers as child subreaper, so that orphaned descendants are reparented to us
    /// (and reaped by us) instead of to an init that may not reap them.
    pub fn install(subreaper: bool) -> Result<Supervisor, SuperviseError> {
        let handled: SigSet = HANDLED.iter().copied().collect();
        let previous_mask = handled
            .thread_swap_mask(SigmaskHow::SIG_BLOCK)
            .map_err(SuperviseError::BlockSignals)?;
        let supervisor = Supervisor {
            handled,
            previous_mask,
            running: HashSet::new(),
            finished: HashMap::new(),
            stop: None,
        };
        // A SIGCHLD disposition of SIG_IGN, inherited from whoever started us, would make the kernel
        // reap our children itself and throw their exit status away.
        // SAFETY: SIG_DFL installs no handler, so no code of ours can run in signal context.
        if let Err(error) = unsafe { signal::sigaction(Signal::SIGCHLD, &default_action()) } {
            supervisor.release();
            return Err(SuperviseError::BlockSignals(error));
        }
        if subreaper {
            if let Err(error) = supervisor.adopt_orphans() {
                supervisor.release();
                return Err(error);
            }
        }
        Ok(supervisor)
    }

    /// Unless this is PID 1 (which adopts orphans anyway), registers as child subreaper, so that
    /// orphaned descendants are reparented to us (and reaped by us) instead of to an init that may not
    /// reap them.
    pub fn adopt_orphans(&self) -> Result<(), SuperviseError> {
        if is_pid1() {
            return Ok(());
        }
        prctl::set_child_subreaper(true).map_err(SuperviseError::Subreaper)
    }

    /// Spawns `command` (stdio inherited unless the caller set otherwise) with an empty signal mask and
    /// default dispositions for the handled signals and SIGPIPE, restored in the child before exec;
    /// with `own_process_group`, in a process group of its own, so that a terminal's Ctrl-C reaches only
    /// the supervisor, which forwards it by its policy. That group is not made the terminal's foreground
    /// group, so a child that reads from a terminal would be stopped by SIGTTIN; PostgreSQL does not.
    ///
    /// The child is reaped by [`Supervisor::wait_for`], never by `std::process::Child::wait`, so the
    /// `Child` handle is dropped here: handles set up with `Stdio::piped()` are closed with it. Pass
    /// files or pipes you own instead. Each call adds a `pre_exec` hook, so use a fresh `Command` per
    /// spawn.
    pub fn spawn(
        &mut self,
        command: &mut Command,
        own_process_group: bool,
    ) -> Result<Pid, SuperviseError> {
        // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe calls are
        // allowed. `restore_signals` makes only sigaction (SIG_DFL), sigprocmask and setpgid calls
        // through thin nix wrappers over stack values: no allocation, no locks.
        unsafe {
            command.pre_exec(move || restore_signals(own_process_group));
        }
        let child = command.spawn().map_err(|error| SuperviseError::Spawn {
            program: command.get_program().to_owned(),
            error,
        })?;
        // Linux pids are below 2^22 (PID_MAX_LIMIT), so they always fit; the error path is for form.
        let pid = i32::try_from(child.id())
            .map(Pid::from_raw)
            .map_err(|_| SuperviseError::Reap(Errno::EOVERFLOW))?;
        self.running.insert(pid);
        Ok(pid)
    }

    /// Waits until `pid` (a child from [`Supervisor::spawn`]) exits, reaping every other child on the way
    /// (orphans adopted by PID 1 or by the subreaper included). Each signal other than SIGCHLD is passed
    /// to `on_signal`, whose answer says what to send to `pid`. Returns how the child ended.
    pub fn wait_for(
        &mut self,
        pid: Pid,
        on_signal: &mut dyn FnMut(Signal) -> SignalAction,
    ) -> Result<ChildOutcome, SuperviseError> {
        loop {
            if let Waited::Exited(outcome) = self.wait_for_until(pid, None, on_signal)? {
                return Ok(outcome);
            }
        }
    }

    /// [`Supervisor::wait_for`] with a deadline, returning early after each signal it handled, so a
    /// caller whose deadline depends on the signals can work it out again.
    pub fn wait_for_until(
        &mut self,
        pid: Pid,
        deadline: Option<Instant>,
        on_signal: &mut dyn FnMut(Signal) -> SignalAction,
    ) -> Result<Waited, SuperviseError> {
        if !self.running.contains(&pid) && !self.finished.contains_key(&pid) {
            return Err(SuperviseError::NotOurChild(pid));
        }
        loop {
            // Reap before every wait: a SIGCHLD that arrives while reaping stays pending and wakes the
            // next wait, and several merged SIGCHLDs are covered because the loop reaps all.
            let none_left = self.reap_children()?;
            if let Some(outcome) = self.finished.remove(&pid) {
                return Ok(Waited::Exited(outcome));
            }
            if none_left {
                // Without this check we would wait forever for a SIGCHLD that cannot come.
                self.running.remove(&pid);
                return Err(SuperviseError::ReapedElsewhere(pid));
            }
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(Waited::TimedOut),
                },
            };
            let Some(received) = wait_signal(&self.handled, left)? else {
                continue;
            };
            if received == Signal::SIGCHLD {
                continue;
            }
            // `pid` has not been reaped yet (that would have returned above), so it is still ours
            // (alive or a zombie) and cannot have been reused by another process.
            match on_signal(received) {
                SignalAction::Forward(forwarded) => self.send(pid, forwarded)?,
                SignalAction::ForwardToGroup(forwarded) => {
                    self.send(Pid::from_raw(-pid.as_raw()), forwarded)?
                }
                SignalAction::Ignore => {}
            }
            return Ok(Waited::Signalled);
        }
    }

    /// Runs `command` in a process group of its own for at most `limit`. A stop signal, or the limit,
    /// kills the whole group (a script's own children included) and is reported as such.
    pub fn run_limited(
        &mut self,
        command: &mut Command,
        limit: Duration,
    ) -> Result<Limited, SuperviseError> {
        let pid = self.spawn(command, true)?;
        let group = Pid::from_raw(-pid.as_raw());
        let deadline = Instant::now() + limit;
        let mut stopped = None;
        let mut on_signal = |signal| {
            if STOP.contains(&signal) {
                stopped.get_or_insert(signal);
                SignalAction::ForwardToGroup(Signal::SIGKILL)
            } else {
                SignalAction::Ignore
            }
        };
        let mut ended = None;
        let mut killed = false;
        let result = loop {
            match self.wait_for_until(pid, (!killed).then_some(deadline), &mut on_signal) {
                Ok(Waited::Exited(outcome)) => {
                    ended = Some(outcome);
                    break Ok(());
                }
                Ok(Waited::Signalled) => {}
                // Out of time: kill it, then reap it (a stop meanwhile is still recorded).
                Ok(Waited::TimedOut) => {
                    let _ = kill(group, Signal::SIGKILL);
                    killed = true;
                }
                Err(error) => break Err(error),
            }
        };
        // The group in every case: whatever the script started must not outlive it.
        let _ = kill(group, Signal::SIGKILL);
        result?;
        if let Some(signal) = stopped {
            self.note_stop(signal);
            return Ok(Limited::Stopped(signal));
        }
        Ok(match (ended, killed) {
            (Some(outcome), false) => Limited::Exited(outcome),
            _ => Limited::TimedOut,
        })
    }

    /// A stop signal (SIGTERM, SIGINT, SIGQUIT) that has arrived: taken without waiting when one is
    /// pending (the other handled signals stay pending) and remembered, so that every phase between
    /// the first instruction and the server's start can end promptly when asked.
    pub fn stop_requested(&mut self) -> Option<Signal> {
        if self.stop.is_none() {
            let stop: SigSet = STOP.iter().copied().collect();
            // An error here (EINVAL is impossible with a valid set) only means no stop is seen now.
            self.stop = wait_signal(&stop, Some(Duration::ZERO)).ok().flatten();
        }
        self.stop
    }

    /// Records a stop signal that a phase took while waiting for a child.
    pub fn note_stop(&mut self, signal: Signal) {
        self.stop.get_or_insert(signal);
    }

    /// Counts `pid`, an orphan re-parented to us (the postmaster Patroni started), as a child to wait
    /// for; false when it is counted already. Only we reap, so a `pid` still alive (or a zombie) when
    /// the caller checked cannot be reaped before this.
    pub fn watch(&mut self, pid: Pid) -> bool {
        self.running.insert(pid)
    }

    /// Sends `signal` to `pid`. A child that has already exited (ESRCH) is not an error.
    pub fn send(&self, pid: Pid, signal: Signal) -> Result<(), SuperviseError> {
        match kill(pid, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(error) => Err(SuperviseError::Send { pid, signal, error }),
        }
    }

    /// Puts the signal mask back as it was before `install`: used before running a command that is
    /// not the container's life (a tool, or a program passed through), since a program inherits the
    /// mask across exec. SIGCHLD stays at its default disposition, which is what any program expects.
    pub fn release(self) {
        // SIG_SETMASK with a mask the kernel gave us cannot fail (EINVAL is only for a bad `how`).
        let _ = self.previous_mask.thread_set_mask();
    }

    /// Reaps every child that has exited, recording the outcome of those we spawned; orphans are only
    /// reaped. Returns true when no children are left at all (ECHILD).
    fn reap_children(&mut self) -> Result<bool, SuperviseError> {
        loop {
            match reap_one() {
                Ok(None) => return Ok(false),
                Ok(Some((pid, outcome))) => {
                    if self.running.remove(&pid) {
                        if let Some(outcome) = outcome {
                            self.finished.insert(pid, outcome);
                        }
                    }
                }
                Err(Errno::ECHILD) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(error) => return Err(SuperviseError::Reap(error)),
            }
        }
    }
}

/// Waits for one of `set` (which must be blocked): for ever with `None`, else at most `limit`
/// (`Ok(None)` when it passed). `sigtimedwait` comes from libc, as nix has no wrapper for it.
fn wait_signal(set: &SigSet, limit: Option<Duration>) -> Result<Option<Signal>, SuperviseError> {
    let timeout = limit.map(|limit| libc::timespec {
        // Capped so it fits a 32-bit time_t too; no wait here is anywhere near 68 years.
        tv_sec: limit.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: limit.subsec_nanos() as libc::c_long,
    });
    loop {
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `set` is a valid sigset_t, the info pointer may be null, and `timeout_ptr` is null or
        // points to a timespec that lives for the whole call.
        let number = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), timeout_ptr) };
        match Errno::result(number) {
            Ok(number) => match Signal::try_from(number) {
                Ok(signal) => return Ok(Some(signal)),
                // Only signals of `set` are taken, and those all have names.
                Err(error) => return Err(SuperviseError::WaitSignal(error)),
            },
            Err(Errno::EAGAIN) => return Ok(None),
            // A handler of another signal ran (none of ours do); the limit restarts, which only
            // lengthens a wait that a real deadline bounds anyway.
            Err(Errno::EINTR) => continue,
            Err(error) => return Err(SuperviseError::WaitSignal(error)),
        }
    }
}

/// One `waitpid(-1, WNOHANG)`: `None` when children exist but none has exited.
///
/// This calls libc directly because nix's `waitpid` decodes the status into a `Signal` enum that has no
/// real-time signals: for a child killed by SIGRTMIN+n it returns EINVAL *after* the child was reaped,
/// losing both the pid and the status. A lost status for PostgreSQL would leave us waiting forever.
fn reap_one() -> Result<Option<(Pid, Option<ChildOutcome>)>, Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid, writable c_int for the whole call; waitpid writes nothing else.
    let pid = Errno::result(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) })?;
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some((
        Pid::from_raw(pid),
        ChildOutcome::from_wait_status(status),
    )))
}

/// Runs in the child between fork and exec (see the SAFETY note in `spawn`). Order matters: dispositions
/// go back to default before the mask is emptied, so a signal that arrived in between is delivered with
/// its default action, as it would be to the new program.
fn restore_signals(own_process_group: bool) -> io::Result<()> {
    if own_process_group {
        setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    }
    // SIGPIPE too: Rust's runtime ignores it in the supervisor, and an ignored disposition survives exec.
    for &signal in HANDLED.iter().chain(&[Signal::SIGPIPE]) {
        // SAFETY: SIG_DFL installs no handler.
        unsafe { signal::sigaction(signal, &default_action()) }?;
    }
    signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

fn default_action() -> SigAction {
    SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty())
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildOutcome {
    /// It exited with this status (0..=255).
    Exited(i32),
    /// It was killed by this signal number. A raw number, not a `Signal`, because real-time signals have
    /// no `Signal` value; see [`ChildOutcome::signal`].
    Signaled(i32),
}

impl ChildOutcome {
    /// Decodes a `waitpid` status; `None` for stop/continue reports, which `waitpid` without
    /// WUNTRACED/WCONTINUED only gives for traced children.
    fn from_wait_status(status: libc::c_int) -> Option<ChildOutcome> {
        if libc::WIFEXITED(status) {
            Some(ChildOutcome::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ChildOutcome::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The exit code a shell would report: the status, or 128 + N when killed by signal N (see the table
    /// at the top of this module).
    pub fn exit_code(&self) -> u8 {
        match *self {
            // WEXITSTATUS is already 0..=255; the mask only makes the cast visibly lossless.
            ChildOutcome::Exited(status) => (status & 0xff) as u8,
            // WTERMSIG is at most 127 (7 bits), so 128 + N fits in a byte.
            ChildOutcome::Signaled(number) => (128 + (number & 0x7f)) as u8,
        }
    }

    pub fn success(&self) -> bool {
        *self == ChildOutcome::Exited(0)
    }

    /// The killing signal, when it has a name in `Signal`.
    pub fn signal(&self) -> Option<Signal> {
        match *self {
            ChildOutcome::Signaled(number) => Signal::try_from(number).ok(),
            ChildOutcome::Exited(_) => None,
        }
    }
}

impl fmt::Display for ChildOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (*self, self.signal()) {
            (ChildOutcome::Exited(status), _) => write!(f, "exited with status {status}"),
            (ChildOutcome::Signaled(_), Some(signal)) => write!(f, "was killed by {signal}"),
            (ChildOutcome::Signaled(number), None) => write!(f, "was killed by signal {number}"),
        }
    }
}

/// Why supervising a child failed.
#[derive(Debug)]
pub enum SuperviseError {
    /// Blocking the handled signals or resetting SIGCHLD failed.
    BlockSignals(Errno),
    /// Registering as child subreaper failed.
    Subreaper(Errno),
    /// The program could not be started.
    Spawn { program: OsString, error: io::Error },
    /// `waitpid` failed for a reason other than "no children left".
    Reap(Errno),
    /// Waiting for a signal failed.
    WaitSignal(Errno),
    /// A signal could not be sent to the child.
    Send {
        pid: Pid,
        signal: Signal,
        error: Errno,
    },
    /// `wait_for` was given a pid that `spawn` did not return, or one already waited for.
    NotOurChild(Pid),
    /// The child was reaped by someone else (e.g. `Child::wait`), so its status is lost.
    ReapedElsewhere(Pid),
}

impl SuperviseError {
    /// The exit code for this failure (see the table at the top of this module).
    pub fn exit_code(&self) -> u8 {
        match self {
            SuperviseError::Spawn { error, .. } => match error.raw_os_error() {
                Some(raw) => super::exec::exit_code_for_exec_error(Errno::from_raw(raw)),
                // e.g. a NUL byte in an argument: found, maybe, but not runnable as given.
                None => 126,
            },
            _ => 1,
        }
    }
}

impl fmt::Display for SuperviseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuperviseError::BlockSignals(error) => write!(
                f,
                "cannot set up signal handling for the child process: {}",
                error.desc()
            ),
            SuperviseError::Subreaper(error) => write!(
                f,
                "cannot register as child subreaper (orphaned processes would not be reaped): {}; \
                 run the entrypoint as the container's PID 1 or on Linux 3.4 or later",
                error.desc()
            ),
            SuperviseError::Spawn { program, error } => {
                let shown = program.to_string_lossy();
                write!(f, "cannot run {shown}: {}", spawn_advice(&shown, error))
            }
            SuperviseError::Reap(error) => {
                write!(f, "cannot wait for child processes: {}", error.desc())
            }
            SuperviseError::WaitSignal(error) => {
                write!(f, "cannot wait for signals: {}", error.desc())
            }
            SuperviseError::Send { pid, signal, error } => write!(
                f,
                "cannot send {signal} to child process {pid}: {}",
                error.desc()
            ),
            SuperviseError::NotOurChild(pid) => write!(
                f,
                "process {pid} was not started by this supervisor, or was already waited for"
            ),
            SuperviseError::ReapedElsewhere(pid) => write!(
                f,
                "child process {pid} was reaped outside the supervisor, so its exit status is lost; \
                 do not call Child::wait on supervised children"
            ),
        }
    }
}

impl std::error::Error for SuperviseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SuperviseError::Spawn { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The reason a program did not start, with what to check.
fn spawn_advice(program: &str, error: &io::Error) -> String {
    let searched = !program.contains('/');
    match error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT) if searched => {
            "not found in PATH; check the program name and PATH".to_string()
        }
        Some(Errno::ENOENT) => {
            "no such file (or its #! interpreter is missing); check the path".to_string()
        }
        Some(Errno::ENOTDIR) => "a component of the path is not a directory".to_string(),
        Some(Errno::EACCES) => "permission denied; make it executable (chmod +x) and check that \
                                its filesystem is not mounted noexec"
            .to_string(),
        Some(Errno::ENOEXEC) => "not an executable format; a script needs a #! line".to_string(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_sh() {
        let cases = [
            (ChildOutcome::Exited(0), 0, true),
            (ChildOutcome::Exited(7), 7, false),
            (ChildOutcome::Exited(255), 255, false),
            (ChildOutcome::Signaled(libc::SIGKILL), 137, false),
            (ChildOutcome::Signaled(libc::SIGTERM), 143, false),
            (ChildOutcome::Signaled(libc::SIGINT), 130, false),
            (ChildOutcome::Signaled(40), 168, false),
        ];
        for (outcome, code, success) in cases {
            assert_eq!(outcome.exit_code(), code, "{outcome:?}");
            assert_eq!(outcome.success(), success, "{outcome:?}");
        }
    }

    #[test]
    fn wait_statuses_decode() {
        // Linux encodings: exit status in bits 8..16, terminating signal in bits 0..7, 0x80 = core dump,
        // 0x7f in the low byte = stopped, 0xffff = continued.
        assert_eq!(
            ChildOutcome::from_wait_status(7 << 8),
            Some(ChildOutcome::Exited(7))
        );
        assert_eq!(
            ChildOutcome::from_wait_status(libc::SIGSEGV | 0x80),
            Some(ChildOutcome::Signaled(libc::SIGSEGV))
        );
        assert_eq!(
            ChildOutcome::from_wait_status(40),
            Some(ChildOutcome::Signaled(40))
        );
        assert_eq!(ChildOutcome::from_wait_status((19 << 8) | 0x7f), None);
        assert_eq!(ChildOutcome::from_wait_status(0xffff), None);
    }

    #[test]
    fn outcomes_describe_themselves() {
        assert_eq!(ChildOutcome::Exited(3).to_string(), "exited with status 3");
        assert_eq!(
            ChildOutcome::Signaled(libc::SIGTERM).to_string(),
            "was killed by SIGTERM"
        );
        assert_eq!(
            ChildOutcome::Signaled(40).to_string(),
            "was killed by signal 40"
        );
    }

    #[test]
    fn spawn_errors_name_the_program_and_the_fix() {
        let spawn_error = |program: &str, errno: Errno| SuperviseError::Spawn {
            program: program.into(),
            error: io::Error::from_raw_os_error(errno as i32),
        };
        let cases = [
            (
                "nope",
                Errno::ENOENT,
                127,
                "cannot run nope: not found in PATH",
            ),
            (
                "/bin/nope",
                Errno::ENOENT,
                127,
                "cannot run /bin/nope: no such file",
            ),
            ("/etc/x/y", Errno::ENOTDIR, 127, "not a directory"),
            ("/tmp/script", Errno::EACCES, 126, "chmod +x"),
            ("/tmp/blob", Errno::ENOEXEC, 126, "#! line"),
            ("/tmp/big", Errno::E2BIG, 126, "cannot run /tmp/big: "),
        ];
        for (program, errno, code, message) in cases {
            let error = spawn_error(program, errno);
            assert_eq!(error.exit_code(), code, "{error}");
            assert!(error.to_string().contains(message), "{error}");
        }
        assert_eq!(SuperviseError::Reap(Errno::EINVAL).exit_code(), 1);
    }
}
