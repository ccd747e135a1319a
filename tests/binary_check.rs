//! The release binary the image ships must be static and at most 1 MiB. Size is deterministic, so this
//! is a test rather than a benchmark; the work is in `scripts/check-binary.sh` (which builds the
//! `x86_64-unknown-linux-musl` release binary first, so the musl target must be installed).

use std::process::Command;

#[test]
fn release_musl_binary_is_static_and_at_most_1_mib() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check-binary.sh");
    let output = Command::new("bash")
        .arg(script)
        .output()
        .expect("run scripts/check-binary.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "scripts/check-binary.sh failed ({}):\n{stdout}{stderr}",
        output.status
    );
}
