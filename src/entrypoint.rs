//! The imperative shell around the tuning core: read the environment and the system, build the plan.
//!
//! This is the only place where planning touches the outside world, and all of it is read-only:
//! detection files, the image catalog, `postgresql.auto.conf`, and (only when pgsodium is
//! requested) its key script.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use crate::cli::UsageError;
use crate::config::{Config, ConfigError};
use crate::detect;
use crate::image_catalog::{self, CatalogError};
use crate::plan::{self, Pgsodium, Plan, PlanInputs};
use crate::resources::{self, TooLittleMemory};

/// Why the entrypoint could not even work out how to start PostgreSQL.
#[derive(Debug)]
pub enum PlanError {
    Usage(UsageError),
    Config(ConfigError),
    Memory(TooLittleMemory),
    ImageCatalog(CatalogError),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Usage(e) => e.fmt(f),
            PlanError::Config(e) => e.fmt(f),
            PlanError::Memory(e) => e.fmt(f),
            PlanError::ImageCatalog(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PlanError {}

impl From<UsageError> for PlanError {
    fn from(e: UsageError) -> Self {
        PlanError::Usage(e)
    }
}

/// Builds the plan for `postgres_args` from the process environment and the real system (`/`).
pub fn prepare(postgres_args: &[String]) -> Result<Plan, PlanError> {
    let config = Config::from_process_env().map_err(PlanError::Config)?;
    // Read once here: the plan carries it to the preflight, the log and version-info.
    let image = image_catalog::load_from_env().map_err(PlanError::ImageCatalog)?;
    let config = match &image.catalog {
        Some(catalog) => config.with_image_default_preload(&catalog.default_preload),
        None => config,
    };
    let root = Path::new("/");
    let mut resources = resources::resolve(
        &config,
        || detect::detect_memory(root),
        || detect::detect_cpus(root, detect::affinity_cpu_count()),
    )
    .map_err(PlanError::Memory)?;
    resources.shm_mb = detect::detect_shm_mb(root);

    let data_directory =
        plan::command_line_data_directory(postgres_args).unwrap_or_else(|| config.pgdata.clone());
    let mut warnings = Vec::new();
    let alter_system = read_alter_system(Path::new(&data_directory), &mut warnings);
    let pgsodium = if config
        .shared_preload_libraries
        .0
        .iter()
        .any(|lib| lib == "pgsodium")
    {
        check_pgsodium(&pgsodium_getkey_path())
    } else {
        Pgsodium::NotRequested
    };

    let mut plan = plan::build(&PlanInputs {
        resources: &resources,
        config: &config,
        user_args: postgres_args,
        alter_system: &alter_system,
        pgsodium: &pgsodium,
        image: &image,
    });
    plan.warnings.extend(warnings);
    Ok(plan)
}

/// Settings made with `ALTER SYSTEM`. A missing file is normal (first start); an unreadable one is
/// a warning, because PostgreSQL will then complain itself.
fn read_alter_system(data_directory: &Path, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let path = data_directory.join("postgresql.auto.conf");
    match std::fs::read(&path) {
        Ok(bytes) => plan::parse_auto_conf(&String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            warnings.push(format!(
                "cannot read {} ({e}); ALTER SYSTEM settings may be overridden",
                path.display()
            ));
            Vec::new()
        }
    }
}

/// `<sharedir>/extension/pgsodium_getkey`, where `sharedir` comes from `pg_config` when it is on
/// `PATH` and otherwise is the Debian layout of the official image.
fn pgsodium_getkey_path() -> PathBuf {
    let sharedir = crate::pg_config::directories(["--sharedir"])
        .map(|[dir]| dir)
        .unwrap_or_else(|_| PathBuf::from("/usr/share/postgresql/18"));
    sharedir.join("extension/pgsodium_getkey")
}

/// pgsodium is usable only when its key script runs and prints a 256-bit key (64 hex digits).
pub fn check_pgsodium(script: &Path) -> Pgsodium {
    use std::os::unix::fs::PermissionsExt;
    let shown = script.display().to_string();
    let executable =
        std::fs::metadata(script).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !matches!(executable, Ok(true)) {
        return Pgsodium::Disabled {
            reason: format!("no executable script at {shown}"),
        };
    }
    let Ok(mut child) = Process::new(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Pgsodium::Disabled {
            reason: format!("cannot run {shown}"),
        };
    };
    // A key script that hangs must not hang the container's start.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Pgsodium::Disabled {
                    reason: format!("{shown} did not finish within 10 s"),
                };
            }
        }
    }
    let output = child
        .wait_with_output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let key: String = String::from_utf8_lossy(&output)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        Pgsodium::Enabled { script: shown }
    } else {
        Pgsodium::Disabled {
            reason: "getkey script output invalid: expected 64 hex chars".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str, mode: u32) -> PathBuf {
        let path = dir.join("pgsodium_getkey");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn pgsodium_needs_an_executable_script_printing_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = "4670bdf714d653c15779e67e0bb6012f1e229c86edbdf75285f3c592670cece2";
        let good = script(dir.path(), &format!("echo {key}"), 0o755);
        assert!(matches!(check_pgsodium(&good), Pgsodium::Enabled { .. }));
        let short = script(dir.path(), "echo abc", 0o755);
        assert_eq!(
            check_pgsodium(&short),
            Pgsodium::Disabled {
                reason: "getkey script output invalid: expected 64 hex chars".into()
            }
        );
        let not_executable = script(dir.path(), &format!("echo {key}"), 0o644);
        assert!(
            matches!(check_pgsodium(&not_executable), Pgsodium::Disabled { reason } if reason.starts_with("no executable script"))
        );
        assert!(matches!(
            check_pgsodium(&dir.path().join("missing")),
            Pgsodium::Disabled { .. }
        ));
    }

    #[test]
    fn unreadable_auto_conf_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut warnings = Vec::new();
        assert!(read_alter_system(dir.path(), &mut warnings).is_empty());
        assert!(warnings.is_empty());
        std::fs::create_dir(dir.path().join("postgresql.auto.conf")).unwrap();
        assert!(read_alter_system(dir.path(), &mut warnings).is_empty());
        assert_eq!(warnings.len(), 1);
        std::fs::remove_dir(dir.path().join("postgresql.auto.conf")).unwrap();
        std::fs::write(
            dir.path().join("postgresql.auto.conf"),
            "work_mem = '8MB'\n",
        )
        .unwrap();
        assert_eq!(
            read_alter_system(dir.path(), &mut warnings),
            [("work_mem".to_string(), "8MB".to_string())]
        );
    }
}
