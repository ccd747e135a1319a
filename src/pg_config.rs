//! The server's directories as `pg_config` on `PATH` reports them: the one place that runs it and
//! checks its answer (one absolute directory per option asked, in order).

use std::path::PathBuf;
use std::process::Command;

/// `pg_config OPTIONS...`, e.g. `["--pkglibdir", "--sharedir"]`; the error says what went wrong and
/// starts with `cannot run pg_config` when there is none to run.
pub fn directories<const N: usize>(options: [&str; N]) -> Result<[PathBuf; N], String> {
    let output = Command::new("pg_config")
        .args(options)
        .output()
        .map_err(|e| format!("cannot run pg_config ({e})"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let answered = || {
        let stderr = String::from_utf8_lossy(&output.stderr);
        format!(
            "pg_config {} answered {} with '{}'{}, not {N} absolute {}",
            options.join(" "),
            output.status,
            text.trim().escape_debug(),
            if stderr.trim().is_empty() {
                String::new()
            } else {
                format!(" (stderr: {})", stderr.trim().escape_debug())
            },
            if N == 1 { "directory" } else { "directories" }
        )
    };
    if !output.status.success() || !lines.iter().all(|line| line.starts_with('/')) {
        return Err(answered());
    }
    let paths: Vec<PathBuf> = lines.into_iter().map(PathBuf::from).collect();
    paths.try_into().map_err(|_| answered())
}
