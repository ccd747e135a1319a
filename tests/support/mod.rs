//! Helpers shared by the integration tests: running the built binary with a controlled environment,
//! and refusing loudly when a test needs something this machine does not give it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub fn entrypoint() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aza-entrypoint"))
}

/// A command for the entrypoint with an empty environment except `PATH` and `vars`, so the
/// developer's own `POSTGRES_*` variables cannot leak into a test.
pub fn entrypoint_command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(entrypoint());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    )
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(output)))
}

/// These tests exercise real namespaces and cgroups, which need root (the project's CI runs as root).
/// Not being root is a failure with a reason, never a silent pass.
pub fn require_root(what: &str) {
    if !nix::unistd::Uid::effective().is_root() {
        panic!("{what} needs root (real PID/mount namespaces and cgroups); run the suite as root, as CI does");
    }
}

/// Writes `contents` to `root/relative`, creating parent directories.
pub fn write_file(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("fixture paths have a parent"))
        .expect("create fixture dir");
    std::fs::write(&path, contents).expect("write fixture file");
}

/// `base` scaled by `AZA_TEST_TIMEOUT_MULTIPLIER` (a positive float, default 1), so slow or loaded
/// machines can stretch every wait at once. A value that does not parse is a failure, not a silent 1.
pub fn timeout(base: Duration) -> Duration {
    const VAR: &str = "AZA_TEST_TIMEOUT_MULTIPLIER";
    let multiplier = match std::env::var(VAR) {
        Err(std::env::VarError::NotPresent) => 1.0,
        Err(error) => panic!("{VAR}: {error}"),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 => value,
            _ => panic!("{VAR}={text:?} is not a positive number (e.g. 2 or 1.5)"),
        },
    };
    base.mul_f64(multiplier)
}
pub mod docker;
pub mod server;
