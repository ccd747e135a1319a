//! Checks made before anything starts: a server that would crash-loop on a missing preload library
//! fails here once, with the names of what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::plan::Plan;

/// The library directory of the PostgreSQL on `PATH` (`pg_config --pkglibdir`).
pub fn package_library_dir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--pkglibdir")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let dir = text.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The `shared_preload_libraries` value that will be in force: the user's if they set one, else ours.
pub fn effective_preload_libraries(plan: &Plan) -> Vec<String> {
    let Some(setting) = plan
        .settings
        .iter()
        .find(|s| s.name == "shared_preload_libraries")
    else {
        return Vec::new();
    };
    let value = setting
        .overridden_by
        .as_ref()
        .map_or(setting.value.as_str(), |o| o.value.as_str());
    value
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The libraries that PostgreSQL would fail to load, as named in the setting.
pub fn missing_libraries(libraries: &[String], library_dir: &Path) -> Vec<String> {
    libraries
        .iter()
        .filter(|name| {
            let relative = name.strip_prefix("$libdir/").unwrap_or(name);
            let base = if relative.starts_with('/') {
                PathBuf::from(relative)
            } else {
                library_dir.join(relative)
            };
            let with_suffix = PathBuf::from(format!("{}.so", base.display()));
            !base.is_file() && !with_suffix.is_file()
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_libraries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("auto_explain.so"), "").unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let libs: Vec<String> = [
            "auto_explain",
            "$libdir/auto_explain",
            "plain",
            "pg_cron",
            "$libdir/pgaudit",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            missing_libraries(&libs, dir.path()),
            ["pg_cron", "$libdir/pgaudit"]
        );
        let absolute = format!("{}/auto_explain", dir.path().display());
        assert!(missing_libraries(&[absolute], Path::new("/nonexistent")).is_empty());
    }
}
