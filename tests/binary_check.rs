//! The release binaries the image ships must be static and at most 1 MiB, for both architectures.
//! Size is deterministic, so this is a test rather than a benchmark; the work is in
//! `scripts/check-binary.sh` (which builds the release binary first, so the musl targets must be
//! installed: `rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl`).
//!
//! The aarch64 binary is cross-built with rust-lld (`.cargo/config.toml`) and run under qemu-user:
//! its `--dry-run` must say exactly what the x86_64 binary says for the same environment.

use std::path::PathBuf;
use std::process::{Command, Output};

const X86_64: &str = "x86_64-unknown-linux-musl";
const AARCH64: &str = "aarch64-unknown-linux-musl";

fn check_binary(target: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check-binary.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(["--target", target])
        .output()
        .expect("run scripts/check-binary.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "scripts/check-binary.sh --target {target} failed ({}):\n{stdout}{stderr}",
        output.status
    );
}

#[test]
fn release_musl_binary_is_static_and_at_most_1_mib() {
    check_binary(X86_64);
}

#[test]
fn release_aarch64_musl_binary_is_static_and_at_most_1_mib() {
    check_binary(AARCH64);
}

/// Builds (or finds up to date) the release entrypoint for `target` and returns its path.
fn release_binary(target: &str) -> PathBuf {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--locked",
            "--target",
            target,
        ])
        .args(["--bin", "aza-entrypoint", "--manifest-path"])
        .arg(format!("{root}/Cargo.toml"))
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build --release --target {target} failed (rustup target add {target})"
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(root).join("target"));
    target_dir.join(target).join("release/aza-entrypoint")
}

/// qemu-user's aarch64 emulator, from Debian's `qemu-user` (or `qemu-user-static`).
fn qemu_aarch64() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["qemu-aarch64", "qemu-aarch64-static"] {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "\n\n*** qemu-aarch64 NOT FOUND: the aarch64 entrypoint was NOT run. ***\n\
         Install Debian's qemu-user (scripts/test.sh does: apt-get install qemu-user) and run again.\n"
    );
}

fn free_port() -> u16 {
    static PORT: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *PORT.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
        listener.local_addr().expect("its address").port()
    })
}

fn dry_run(runner: &mut Command, env: &[(&str, &str)]) -> Output {
    runner
        .args(["--dry-run", "--format", "json"])
        .env_clear()
        // A first start needs a password, and the dry run checks what a start would (the test password
        // of tests/support, listed in tests/secrets.txt).
        .env("POSTGRES_PASSWORD", "dry-run-only-p4ss")
        // A port nobody listens on, so that both runs see the same (5432 may be taken here).
        .env("PGPORT", free_port().to_string())
        .envs(env.iter().copied())
        .output()
        .expect("run the entrypoint")
}

#[test]
fn aarch64_dry_run_under_qemu_equals_x86_64() {
    let qemu = qemu_aarch64();
    let arm = release_binary(AARCH64);
    let x86 = release_binary(X86_64);
    // The dry run runs the start's preflight: give both the same image catalog, whose library
    // directory has its default preloads, so the comparison does not depend on this host's pg_config.
    let image = tempfile::tempdir().expect("temp dir");
    let libraries = ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"];
    for library in libraries {
        std::fs::write(image.path().join(format!("{library}.so")), "").expect("library");
    }
    let catalog = image.path().join("image-catalog.json");
    std::fs::write(
        &catalog,
        serde_json::json!({
            "format": 1,
            "package_source": "distribution",
            "entries": [],
            "default_preload": libraries,
            "preloadable": libraries,
            "library_dir": image.path(),
            "logical_output_plugins": [],
        })
        .to_string(),
    )
    .expect("catalog");
    let catalog = catalog.to_str().expect("UTF-8 path");
    for env in [
        &[("POSTGRES_MEMORY", "4g"), ("POSTGRES_CPUS", "2")][..],
        &[
            ("POSTGRES_MEMORY", "1g"),
            ("POSTGRES_CPUS", "1"),
            ("POSTGRES_WORKLOAD_TYPE", "dw"),
            ("POSTGRES_STORAGE_TYPE", "hdd"),
        ][..],
        // An error must be the same error, with the same exit code.
        &[("POSTGRES_MEMORY", "lots"), ("POSTGRES_CPUS", "2")][..],
    ] {
        let env = [env, &[("AZA_IMAGE_CATALOG", catalog)]].concat();
        let env = env.as_slice();
        let on_arm = dry_run(Command::new(&qemu).arg(&arm), env);
        let on_x86 = dry_run(&mut Command::new(&x86), env);
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        assert_eq!(
            on_arm.status.code(),
            on_x86.status.code(),
            "{env:?}: exit codes differ\naarch64 stderr: {}\nx86_64 stderr: {}",
            text(&on_arm.stderr),
            text(&on_x86.stderr)
        );
        assert_eq!(
            text(&on_arm.stdout),
            text(&on_x86.stdout),
            "{env:?}: stdout"
        );
        assert_eq!(
            text(&on_arm.stderr),
            text(&on_x86.stderr),
            "{env:?}: stderr"
        );
        if on_x86.status.success() {
            let json: serde_json::Value =
                serde_json::from_slice(&on_arm.stdout).expect("--format json is JSON");
            let expected_mb = if env[0].1 == "4g" { 4096 } else { 1024 };
            assert_eq!(json["inputs"]["memory_mb"], expected_mb, "{json}");
            assert_eq!(json["inputs"]["memory_source"], "manual", "{json}");
        } else {
            assert!(
                text(&on_arm.stderr).contains("POSTGRES_MEMORY"),
                "{env:?}: {}",
                text(&on_arm.stderr)
            );
        }
    }
    println!(
        "aarch64 entrypoint under {} gave the same --dry-run as x86_64",
        qemu.display()
    );
}
