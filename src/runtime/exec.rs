//! Replacing the entrypoint with another program, with the shell's exit-code conventions when that fails:
//! 127 when the program is not found, 126 when it cannot be run.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::unistd::execvp;

use super::log;

/// Runs `program` in place of the entrypoint; returns only if that failed.
pub fn pass_through(program: &OsStr, args: &[OsString]) -> ExitCode {
    let argv: Vec<&OsStr> = std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .collect();
    exec(&argv)
}

/// The path of `name` beside this program (the image installs its programs together), or the bare
/// name for `PATH` when this program's own path cannot be read.
pub fn companion(name: &str) -> std::path::PathBuf {
    std::env::current_exe()
        .map(|exe| exe.with_file_name(name))
        .unwrap_or_else(|_| name.into())
}

/// Replaces the entrypoint with `postgres ARGS...`; returns only if that failed.
pub fn exec_postgres(args: &[String]) -> ExitCode {
    let argv: Vec<&OsStr> = std::iter::once(OsStr::new("postgres"))
        .chain(args.iter().map(OsStr::new))
        .collect();
    exec(&argv)
}

fn exec(argv: &[&OsStr]) -> ExitCode {
    let shown = argv[0].to_string_lossy().into_owned();
    let c_args: Result<Vec<CString>, _> = argv.iter().map(|a| CString::new(a.as_bytes())).collect();
    let Ok(c_args) = c_args else {
        log::error(&format!(
            "cannot run {shown}: an argument contains a NUL byte"
        ));
        return ExitCode::from(126);
    };
    let error = match execvp(&c_args[0], &c_args) {
        Err(error) => error,
        Ok(never) => match never {},
    };
    log::error(&format!("cannot run {shown}: {}", error.desc()));
    ExitCode::from(exit_code_for_exec_error(error))
}

/// What `sh` reports for a command it could not run.
pub fn exit_code_for_exec_error(error: Errno) -> u8 {
    match error {
        Errno::ENOENT | Errno::ENOTDIR => 127,
        _ => 126,
    }
}
