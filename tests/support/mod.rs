//! Helpers shared by the integration tests: running the built binary with a controlled environment,
//! and refusing loudly when a test needs something this machine does not give it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
