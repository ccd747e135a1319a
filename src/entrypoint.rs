//! The imperative shell around the tuning core: read the environment and the system, build the plan.
//!
//! This is the only place where planning touches the outside world, and all of it is read-only:
//! detection files, the image catalog, `postgresql.auto.conf`, and (only when pgsodium is
//! requested) its key script.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use nix::fcntl::OFlag;

use crate::config::Config;
use crate::detect;
use crate::image_catalog::{self, CatalogError};
use crate::plan::{self, tuning_file, Delivery, Pgsodium, Plan, PlanInputs};
use crate::resources::{self, TooLittleMemory};
use crate::runtime::reaper::{Limited, Supervisor};
use crate::tuning;

/// Why the entrypoint could not even work out how to start PostgreSQL.
#[derive(Debug)]
pub enum PlanError {
    Memory(TooLittleMemory),
    ImageCatalog(CatalogError),
    /// A stop signal arrived while the pgsodium key script ran.
    Stopped(nix::sys::signal::Signal),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Memory(e) => e.fmt(f),
            PlanError::ImageCatalog(e) => e.fmt(f),
            PlanError::Stopped(signal) => {
                write!(f, "stopped by {signal} while the pgsodium key script ran")
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Builds the plan for `postgres_args` from the tuning inputs and the real system (`/`). With less
/// memory than the minimum, the plan is made for the minimum and returned with that problem, so the
/// other checks can run on it; it must not be shown or used.
// Called from two places (the checks, and again once a replica has been copied): never inlined, so
// the static binary holds it once.
#[inline(never)]
pub fn prepare(
    supervisor: &mut Supervisor,
    config: &Config,
    postgres_args: &[String],
    initdb_waldir: Option<&Path>,
) -> Result<(Plan, Option<TooLittleMemory>), PlanError> {
    let config = config.clone();
    // Read once here: the plan carries it to the preflight, the log and version-info.
    let image = image_catalog::load_from_env().map_err(PlanError::ImageCatalog)?;
    let config = match &image.catalog {
        Some(catalog) => config.with_image_default_preload(&catalog.default_preload),
        None => config,
    };
    let root = Path::new("/");
    let detect_cpus = || detect::detect_cpus(root, detect::affinity_cpu_count());
    let (mut resources, too_little) =
        match resources::resolve(&config, || detect::detect_memory(root), detect_cpus) {
            Ok(resources) => (resources, None),
            // Planned for the minimum instead, so that every other check still runs and is
            // reported with this one; the caller shows no plan.
            Err(too_little) => {
                let minimum = Config {
                    memory_mb: Some(crate::tuning::MIN_MEMORY_MB),
                    ..config.clone()
                };
                let resources =
                    resources::resolve(&minimum, || detect::detect_memory(root), detect_cpus)
                        .map_err(PlanError::Memory)?;
                (resources, Some(too_little))
            }
        };
    resources.shm_mb = detect::detect_shm_mb(root);
    resources.jit_provider = crate::runtime::preflight::library_dir(&image)
        .ok()
        .map(|dir| dir.join("llvmjit.so").exists());

    let data_directory =
        plan::command_line_data_directory(postgres_args).unwrap_or_else(|| config.pgdata.clone());
    resources.wal_free_mb =
        detect::filesystem_free_mb(&wal_volume(Path::new(&data_directory), initdb_waldir));
    let mut warnings = Vec::new();
    let alter_system = read_alter_system(Path::new(&data_directory), &mut warnings);
    resources.primary_requires =
        primary_requires(supervisor, Path::new(&data_directory), &mut warnings)?;
    let pgsodium = if config
        .shared_preload_libraries
        .0
        .iter()
        .any(|lib| lib == "pgsodium")
    {
        check_pgsodium(supervisor, &pgsodium_getkey_path())?
    } else {
        Pgsodium::NotRequested
    };

    let own_config_file = plan::command_line_settings(postgres_args)
        .into_iter()
        .rev()
        .find(|(name, _)| name == "config_file")
        .map(|(_, file)| PathBuf::from(file));
    let config_path = own_config_file
        .clone()
        .unwrap_or_else(|| Path::new(&data_directory).join("postgresql.conf"));
    let config_text = read_optional(&config_path, &mut warnings);
    let delivery = delivery(
        own_config_file.as_deref(),
        config_text.as_deref(),
        &mut warnings,
    );
    let config_file = config_text
        .as_deref()
        .map(plan::parse_user_conf)
        .unwrap_or_default();
    let mut plan = plan::build(&PlanInputs {
        resources: &resources,
        config: &config,
        user_args: postgres_args,
        alter_system: &alter_system,
        config_file: &config_file,
        pgsodium: &pgsodium,
        image: &image,
        delivery,
    });
    plan.warnings.extend(warnings);
    Ok((plan, too_little))
}

/// The tuned settings go in the tuning file, which the start makes `PGDATA/postgresql.conf` include;
/// with a `config_file` of the user's own, only when that file includes it (the entrypoint does not
/// edit a file it does not own), else on the command line, with a warning saying how to switch.
fn delivery(own_file: Option<&Path>, text: Option<&str>, warnings: &mut Vec<String>) -> Delivery {
    let Some(own_file) = own_file else {
        return Delivery::File;
    };
    if text.is_some_and(tuning_file::includes) {
        return Delivery::File;
    }
    let file = own_file.display();
    warnings.push(format!(
        "config_file={file} does not include {}: the tuned settings are passed as -c options, which \
         ALTER SYSTEM cannot change; add `{}` (with PGDATA's path) as its first line",
        tuning_file::FILE_NAME,
        tuning_file::INCLUDE_LINE,
    ));
    Delivery::CommandLine
}

/// Where `pg_wal` is (or will be): the cluster's own `pg_wal` (a link to another volume is
/// followed), else the directory a first start gives initdb (`POSTGRES_INITDB_WALDIR`), else `PGDATA`.
fn wal_volume(data_directory: &Path, initdb_waldir: Option<&Path>) -> PathBuf {
    let own = data_directory.join("pg_wal");
    if own.exists() {
        return own;
    }
    initdb_waldir.map_or_else(|| data_directory.to_path_buf(), Path::to_path_buf)
}

/// A configuration file's text: `None` when there is none yet (a first start); unreadable is a
/// warning, as PostgreSQL will then complain itself.
fn read_optional(path: &Path, warnings: &mut Vec<String>) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(format!(
                "cannot read {} ({e}); its settings are not shown as the user's",
                path.display()
            ));
            None
        }
    }
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

/// pgsodium is usable only when its key script runs and prints a 256-bit key (64 hex digits). The
/// script runs under the supervisor, so a script that hangs is killed after 10 s and a stop signal ends
/// it at once.
pub fn check_pgsodium(supervisor: &mut Supervisor, script: &Path) -> Result<Pgsodium, PlanError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = script.display().to_string();
    let disabled = |reason: String| Ok(Pgsodium::Disabled { reason });
    let executable =
        std::fs::metadata(script).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !matches!(executable, Ok(true)) {
        return disabled(format!("no executable script at {shown}"));
    }
    let mut command = Process::new(script);
    let output = match capture(supervisor, &mut command, KEY_SCRIPT_LIMIT)? {
        Ok(output) => output,
        Err(problem) => return disabled(format!("{shown}: {problem}")),
    };
    let key: String = String::from_utf8_lossy(&output)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(Pgsodium::Enabled { script: shown })
    } else {
        disabled("getkey script output invalid: expected 64 hex chars".to_string())
    }
}

/// Runs `command` under the supervisor for at most `limit` and returns what it printed on stdout,
/// or why there is nothing; a stop signal ends it and is returned as such.
fn capture(
    supervisor: &mut Supervisor,
    command: &mut Process,
    limit: Duration,
) -> Result<Result<Vec<u8>, String>, PlanError> {
    let Ok((read_end, write_end)) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) else {
        return Ok(Err("cannot make a pipe to read its output".to_string()));
    };
    // The child's end blocks as usual; ours does not, so reading never waits for a background
    // process the child left holding the pipe.
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&write_end),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()),
    );
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::null());
    let ended = supervisor.run_limited(command, limit);
    // The command holds our copy of the write end; replace it so only the child's stays.
    command.stdout(Stdio::null());
    match ended {
        Ok(Limited::Exited(_)) => {}
        Ok(Limited::Stopped(signal)) => return Err(PlanError::Stopped(signal)),
        Ok(Limited::TimedOut) => {
            return Ok(Err(format!("did not finish within {} s", limit.as_secs())))
        }
        Err(error) => return Ok(Err(format!("cannot be run: {error}"))),
    }
    let mut output = Vec::new();
    let _ = std::fs::File::from(read_end).read_to_end(&mut output);
    Ok(Ok(output))
}

/// On a standby (`standby.signal`), what its primary requires, from `pg_controldata`: the values the
/// primary ran with, which a hot standby must not go below.
fn primary_requires(
    supervisor: &mut Supervisor,
    data_directory: &Path,
    warnings: &mut Vec<String>,
) -> Result<tuning::PrimaryRequires, PlanError> {
    if !data_directory.join("standby.signal").exists() {
        return Ok(tuning::PrimaryRequires::default());
    }
    let mut command = Process::new("pg_controldata");
    command.arg("-D").arg(data_directory);
    match capture(supervisor, &mut command, Duration::from_secs(10))? {
        Ok(output) => Ok(parse_controldata(&String::from_utf8_lossy(&output))),
        Err(problem) => {
            warnings.push(format!(
                "pg_controldata {problem}: the primary's max_connections and max_worker_processes \
                 are unknown; this standby's may be too low"
            ));
            Ok(tuning::PrimaryRequires::default())
        }
    }
}

/// `max_connections setting: 100` and `max_worker_processes setting: 8` from `pg_controldata`.
pub fn parse_controldata(text: &str) -> tuning::PrimaryRequires {
    let value = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .trim_start()
                    .strip_prefix("setting:")
            })
            .and_then(|v| v.trim().parse().ok())
    };
    tuning::PrimaryRequires {
        max_connections: value("max_connections"),
        max_worker_processes: value("max_worker_processes"),
    }
}

/// A key script that hangs must not hang the container's start.
const KEY_SCRIPT_LIMIT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standbys_floors_come_from_pg_controldata() {
        let text = "Database cluster state:               in archive recovery\n\
                    max_connections setting:              150\n\
                    max_worker_processes setting:         12\n\
                    max_wal_senders setting:              10\n";
        assert_eq!(
            parse_controldata(text),
            tuning::PrimaryRequires {
                max_connections: Some(150),
                max_worker_processes: Some(12)
            }
        );
        assert_eq!(parse_controldata(""), tuning::PrimaryRequires::default());
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
