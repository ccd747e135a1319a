//! `supervise [--smart] PROGRAM ARGS...`: runs PROGRAM under the library's supervisor with the PostgreSQL
//! signal policy, as the entrypoint will run PostgreSQL. The integration tests drive it as PID 1 of a
//! fresh PID namespace; signal tests cannot run inside the multi-threaded test process itself.
//!
//! Prints one line per forwarded signal to stderr and exits with the child's exit code (sh conventions).

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use aza_pg::runtime::reaper::{
    postgres_signal_policy, ShutdownMode, SignalAction, SuperviseError, Supervisor,
};

fn main() -> ExitCode {
    // First thing, before anything could start a thread.
    let mut supervisor = match Supervisor::install(true) {
        Ok(supervisor) => supervisor,
        Err(error) => return fail(&error),
    };
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mode = if args.first().is_some_and(|a| a == "--smart") {
        args.remove(0);
        ShutdownMode::Smart
    } else {
        ShutdownMode::Fast
    };
    let Some(program) = args.first().cloned() else {
        eprintln!("usage: supervise [--smart] PROGRAM ARGS...");
        return ExitCode::from(2);
    };
    let mut command = Command::new(program);
    command.args(&args[1..]);
    let pid = match supervisor.spawn(&mut command, true) {
        Ok(pid) => pid,
        Err(error) => return fail(&error),
    };
    let mut policy = postgres_signal_policy(mode);
    let mut on_signal = |received| {
        let action = policy(received);
        match action {
            SignalAction::Forward(sent) | SignalAction::ForwardToGroup(sent) => {
                eprintln!("forwarded {sent} (received {received})")
            }
            SignalAction::Ignore => eprintln!("ignored {received}"),
        }
        action
    };
    match supervisor.wait_for(pid, &mut on_signal) {
        Ok(outcome) => {
            eprintln!("child {outcome}");
            ExitCode::from(outcome.exit_code())
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &SuperviseError) -> ExitCode {
    eprintln!("supervise: {error}");
    ExitCode::from(error.exit_code())
}
