//! The signal policy, written once: which signals the supervisor handles and what each one means for
//! PostgreSQL.
//!
//! PostgreSQL reads its shutdown mode from the signal it gets (see "Shutting Down the Server" in the
//! PostgreSQL manual): SIGTERM is a *smart* shutdown that waits for every client to disconnect, SIGINT a
//! *fast* one that rolls back open transactions and stops, SIGQUIT an *immediate* one that ends without a
//! shutdown checkpoint. Container runtimes stop a container with SIGTERM and follow up with SIGKILL after
//! a grace period (10 s by default), so passing SIGTERM on as is would usually end in SIGKILL while
//! clients are still connected; the default therefore turns it into a fast shutdown.

use nix::sys::signal::Signal;

/// Every signal the supervisor blocks and takes with `sigwait`: the child-exit notification plus the
/// policy's signals. Anything else keeps its default action.
pub const HANDLED: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals that ask the container to stop: `docker stop`, Ctrl-C, and the immediate stop.
pub const STOP: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

/// What the supervisor does with a signal it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// Send this signal to the supervised child.
    Forward(Signal),
    /// Send this signal to the child's process group (a child spawned in a group of its own).
    ForwardToGroup(Signal),
    /// Drop it.
    Ignore,
}

/// How PostgreSQL should stop when the container is stopped (SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownMode {
    /// SIGTERM becomes SIGINT: roll back open transactions and stop now.
    #[default]
    Fast,
    /// SIGTERM stays SIGTERM: wait for every client to disconnect.
    Smart,
}

/// The policy table: received signal → signal sent to the postmaster, in fast and in smart mode.
const POSTGRES_POLICY: [(Signal, Signal, Signal); 6] = [
    // received          fast mode           smart mode
    // container stop: see the module comment for why fast is the default.
    (Signal::SIGTERM, Signal::SIGINT, Signal::SIGTERM),
    // Ctrl-C or `docker kill -s INT`: the user already asked for a fast shutdown.
    (Signal::SIGINT, Signal::SIGINT, Signal::SIGINT),
    // immediate shutdown, for when the others are too slow.
    (Signal::SIGQUIT, Signal::SIGQUIT, Signal::SIGQUIT),
    // reload the configuration files.
    (Signal::SIGHUP, Signal::SIGHUP, Signal::SIGHUP),
    // PostgreSQL's own inter-process notifications: whoever sends one from outside knows why.
    (Signal::SIGUSR1, Signal::SIGUSR1, Signal::SIGUSR1),
    (Signal::SIGUSR2, Signal::SIGUSR2, Signal::SIGUSR2),
];

/// What the policy says for `received` in `mode`; signals outside the table are ignored.
pub fn postgres_action(mode: ShutdownMode, received: Signal) -> SignalAction {
    POSTGRES_POLICY
        .iter()
        .find(|(signal, _, _)| *signal == received)
        .map_or(SignalAction::Ignore, |&(_, fast, smart)| {
            SignalAction::Forward(match mode {
                ShutdownMode::Fast => fast,
                ShutdownMode::Smart => smart,
            })
        })
}

/// A shutdown step that did not end the server within its time is followed by the next, harder one:
/// smart (SIGTERM) → fast (SIGINT) → immediate (SIGQUIT) → SIGKILL. `None` after SIGKILL, and for a
/// signal that is not a shutdown step.
pub fn next_shutdown_step(sent: Signal) -> Option<Signal> {
    match sent {
        Signal::SIGTERM => Some(Signal::SIGINT),
        Signal::SIGINT => Some(Signal::SIGQUIT),
        Signal::SIGQUIT => Some(Signal::SIGKILL),
        _ => None,
    }
}

/// How hard a shutdown step is (0 is not a step), so a later, gentler request never replaces a harder
/// one already under way.
pub fn shutdown_strength(sent: Signal) -> u8 {
    match sent {
        Signal::SIGTERM => 1,
        Signal::SIGINT => 2,
        Signal::SIGQUIT => 3,
        Signal::SIGKILL => 4,
        _ => 0,
    }
}

/// PostgreSQL's name for the shutdown a signal asks for, for the log.
pub fn shutdown_name(sent: Signal) -> &'static str {
    match sent {
        Signal::SIGTERM => "smart",
        Signal::SIGINT => "fast",
        Signal::SIGQUIT => "immediate",
        Signal::SIGKILL => "SIGKILL",
        _ => "none",
    }
}

/// Seconds each shutdown step may take when `AZA_STOP_TIMEOUT` is unset: chosen so the whole
/// escalation fits Docker's default 10 s grace period (fast 4 + immediate 4; smart 3 + fast 3 +
/// immediate 3), before Docker's own SIGKILL.
pub fn default_stop_timeout_seconds(mode: ShutdownMode) -> u32 {
    match mode {
        ShutdownMode::Fast => 4,
        ShutdownMode::Smart => 3,
    }
}

/// The policy as the callback [`Supervisor::wait_for`](super::reaper::Supervisor::wait_for) takes.
pub fn postgres_signal_policy(mode: ShutdownMode) -> impl FnMut(Signal) -> SignalAction {
    move |received| postgres_action(mode, received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::*;

    #[test]
    fn postgres_policy_table() {
        let cases = [
            // received, fast,   smart
            (SIGTERM, SIGINT, SIGTERM),
            (SIGINT, SIGINT, SIGINT),
            (SIGQUIT, SIGQUIT, SIGQUIT),
            (SIGHUP, SIGHUP, SIGHUP),
            (SIGUSR1, SIGUSR1, SIGUSR1),
            (SIGUSR2, SIGUSR2, SIGUSR2),
        ];
        for (received, fast, smart) in cases {
            assert_eq!(
                postgres_action(ShutdownMode::Fast, received),
                SignalAction::Forward(fast),
                "{received} in fast mode"
            );
            assert_eq!(
                postgres_action(ShutdownMode::Smart, received),
                SignalAction::Forward(smart),
                "{received} in smart mode"
            );
        }
    }

    #[test]
    fn child_exit_and_unlisted_signals_are_not_forwarded() {
        for received in [SIGCHLD, SIGWINCH, SIGPIPE] {
            assert_eq!(
                postgres_action(ShutdownMode::Fast, received),
                SignalAction::Ignore
            );
        }
    }

    #[test]
    fn every_policy_signal_is_handled() {
        for (received, _, _) in POSTGRES_POLICY {
            assert!(HANDLED.contains(&received), "{received} is not blocked");
        }
    }

    #[test]
    fn shutdown_escalates_smart_fast_immediate_kill_and_stops_there() {
        let mut step = SIGTERM;
        let mut seen = vec![shutdown_name(step)];
        while let Some(next) = next_shutdown_step(step) {
            assert!(shutdown_strength(next) > shutdown_strength(step));
            step = next;
            seen.push(shutdown_name(step));
        }
        assert_eq!(seen, ["smart", "fast", "immediate", "SIGKILL"]);
        assert_eq!(next_shutdown_step(SIGHUP), None);
        assert_eq!(shutdown_strength(SIGHUP), 0);
    }

    #[test]
    fn default_escalation_fits_dockers_ten_second_grace() {
        for (mode, steps) in [(ShutdownMode::Fast, 2), (ShutdownMode::Smart, 3)] {
            assert!(default_stop_timeout_seconds(mode) * steps < 10, "{mode:?}");
        }
    }

    #[test]
    fn the_callback_follows_the_table() {
        let mut smart = postgres_signal_policy(ShutdownMode::Smart);
        assert_eq!(smart(SIGTERM), SignalAction::Forward(SIGTERM));
        let mut fast = postgres_signal_policy(ShutdownMode::default());
        assert_eq!(fast(SIGTERM), SignalAction::Forward(SIGINT));
    }
}
