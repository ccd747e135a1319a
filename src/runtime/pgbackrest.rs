//! The start's pgBackRest chores with backups on: its configuration file written (atomically, 0600)
//! from the environment and the cluster (see [`crate::backup::conf`]), and the `*_FILE` variables
//! taken out of the environment the server and its `archive_command` inherit.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::privileges::ServiceUser;
use crate::backup::conf::{self, Cluster};
use crate::backup::Backups;

/// Writes the configuration file, given to `owner` when one is named (the backup sidecar writes it as
/// root for jobs that run as the server's user); returns its path. The error names the file and what
/// to do.
pub fn prepare(
    backups: &Backups,
    cluster: &Cluster<'_>,
    owner: Option<&ServiceUser>,
) -> Result<PathBuf, String> {
    for name in &backups.remove_from_environment {
        // The entrypoint has one thread, and nothing of it reads these again.
        std::env::remove_var(name);
    }
    let dir = &backups.include_dir;
    let path = dir.join(conf::FILE_NAME);
    let text = conf::render(backups, cluster);
    let fail = |action: &str, e: std::io::Error| {
        format!(
            "cannot {action} {} ({e}): with PGBACKREST_STANZA set, pgBackRest's configuration is \
             written there at every start; make the directory writable for the server's user (the \
             image's is), mount a writable volume there, or point PGBACKREST_CONFIG_INCLUDE_PATH \
             at one",
            path.display()
        )
    };
    fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
    let partial = dir.join(format!(".{}.partial", conf::FILE_NAME));
    let _ = fs::remove_file(&partial);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            if let Some(user) = owner {
                nix::unistd::fchown(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    Some(user.uid),
                    Some(user.gid),
                )?;
            }
            file.sync_all()
        });
    if let Err(e) = written.and_then(|()| fs::rename(&partial, &path)) {
        let _ = fs::remove_file(&partial);
        return Err(fail("write", e));
    }
    Ok(path)
}
