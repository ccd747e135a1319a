//! Process control: the container's life as PID 1 (`lifecycle`), the reaper and signal policy
//! (`reaper`, `signals`), the children of an initialisation (`session`, `init`, `replica`), the
//! environment contract's primitives (`contract`), logging that cannot stop PID 1 (`log`, `stdio`),
//! health, the version-info command and the role it asks the running server for (`live_role`), and backups: pgBackRest's configuration
//! (`pgbackrest`), restore as a first start (`restore`) and the backup sidecar (`backup_sidecar`);
//! and the HA mode's Patroni supervision and bootstrap (`patroni`).

pub mod backup_sidecar;
pub mod contract;
pub mod datadir;
pub mod exec;
pub mod health;
pub mod init;
pub mod lifecycle;
pub mod live_role;
pub mod log;
pub mod patroni;
pub mod pgbackrest;
pub mod ports;
pub mod preflight;
pub mod privileges;
pub mod reaper;
pub mod replica;
pub mod replication;
pub mod restore;
pub mod session;
pub mod settings_file;
pub mod signals;
pub mod stdio;
pub mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::environment::Environment;
use reaper::Supervisor;

use crate::image_catalog;
use crate::plan::Plan;
use crate::version_info::{self, BuildInfo, VersionInfo};

/// The first steps of a program that may be a container's PID 1 (the entrypoint, the backup
/// sidecar), in this order: the stop signals blocked from the first instruction (as PID 1, a signal
/// with no handler would be dropped by the kernel); closed standard descriptors filled (else the next
/// file opened would take their number and our log lines would land in it); the one parse of the
/// environment; the log configured from it. `Err` is the exit code, the reason already logged.
pub fn begin() -> Result<(Supervisor, Environment), ExitCode> {
    let supervisor = Supervisor::install(false).map_err(|error| {
        log::error(&error.to_string());
        ExitCode::from(1)
    })?;
    stdio::fill_closed_standard_descriptors();
    stdio::prepare();
    let env = Environment::from_process();
    log::configure(env.log);
    Ok((supervisor, env))
}

/// `aza-entrypoint version-info`: prints the text (or JSON) form, or writes both files. At image
/// build time there is no container to tune for, so the files carry no tuning until the first start
/// refreshes them. The extension summary is the image catalog's (written just before by
/// `aza-image-catalog --write`); without it the files say why, and so does a warning here.
pub fn version_info(env: &Environment, write: bool, dir: Option<PathBuf>, json: bool) -> ExitCode {
    let image = match image_catalog::load_from_env() {
        Ok(image) => image,
        Err(e) => {
            log::error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    // Written (at image build time) it describes the image; printed in a running container it
    // also says what the node is now and the tuning its last start wrote.
    let (role, last_start) = if write {
        (None, None)
    } else {
        let files = dir.clone().unwrap_or_else(version_info::dir_from_env);
        (
            Some(live_role::ask(env)),
            version_info::read_last_start(&files),
        )
    };
    let info = VersionInfo {
        postgres_version: version_info::postgres_version(),
        build: BuildInfo::from_env(),
        image: Some(&image),
        plan: None,
        role,
        last_start,
    };
    if let Err(why) = info.summary() {
        log::warning(&format!("version-info: no extension summary: {why}"));
    }
    if !write {
        if json {
            stdio::print(&format!("{:#}\n", version_info::to_json(&info)));
        } else {
            stdio::print(&version_info::to_text(&info));
        }
        return ExitCode::SUCCESS;
    }
    let dir = dir.unwrap_or_else(version_info::dir_from_env);
    match version_info::write(&dir, &info) {
        Ok(paths) => {
            for path in paths {
                stdio::print(&format!("wrote {}\n", path.display()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error(&format!(
                "cannot write version-info files in {}: {e}",
                dir.display()
            ));
            ExitCode::from(1)
        }
    }
}

/// Refreshes the version-info files with the tuning in force, from the image catalog the start
/// already read. Best effort: a read-only filesystem is a warning, never a reason not to start.
pub fn refresh_version_info(plan: &Plan, role: version_info::role::Configured) {
    let info = VersionInfo {
        postgres_version: version_info::postgres_version(),
        build: BuildInfo::from_env(),
        image: Some(&plan.image),
        plan: Some(plan),
        role: Some(version_info::RoleInfo {
            configured: role,
            now: version_info::role::Now::NotAsked,
        }),
        last_start: None,
    };
    let dir = version_info::dir_from_env();
    if let Err(e) = version_info::write(&dir, &info) {
        log::warning(&format!(
            "version-info: cannot update the files in {} ({e}); they describe the image as built",
            dir.display()
        ));
    }
}
