//! Putting the tuned settings where PostgreSQL reads them: `aza-tuning.conf` next to
//! `postgresql.conf`, written atomically on every start, and `postgresql.conf` made to include it
//! first (see [`crate::plan::tuning_file`] for what changes in it and why).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::plan::{tuning_file, Plan};

/// What [`install`] changed in `postgresql.conf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Included {
    Already,
    /// The include was added now (a new cluster, or one an earlier version tuned with `-c`).
    Now,
}

/// Writes `dir/aza-tuning.conf` for `plan` and makes `dir/postgresql.conf` include it.
pub fn install(dir: &Path, plan: &Plan) -> io::Result<Included> {
    replace(
        &dir.join(tuning_file::FILE_NAME),
        tuning_file::render(plan).as_bytes(),
        0o600,
    )?;
    install_conf_only(dir)
}

/// Writes `path` for `plan` (an HA node's tuning file, outside `PGDATA`).
pub fn write(path: &Path, plan: &Plan) -> io::Result<()> {
    replace(path, tuning_file::render(plan).as_bytes(), 0o600)
}

/// Makes `dir/postgresql.conf` (a new cluster's) include `file` by its absolute path first.
pub fn include_absolute(dir: &Path, file: &Path) -> io::Result<()> {
    let conf = dir.join("postgresql.conf");
    let text = fs::read_to_string(&conf)?;
    let line = format!(
        "include_if_exists = '{}'",
        file.display().to_string().replace('\'', "''")
    );
    if let Some(adopted) = tuning_file::adopt_with(&text, &line) {
        let mode = fs::metadata(&conf)?.permissions().mode() & 0o777;
        replace(&conf, adopted.as_bytes(), mode)?;
    }
    Ok(())
}

/// Makes `dir/postgresql.conf` include the tuning file.
fn install_conf_only(dir: &Path) -> io::Result<Included> {
    let conf = dir.join("postgresql.conf");
    let text = fs::read_to_string(&conf)?;
    match tuning_file::adopt(&text) {
        None => Ok(Included::Already),
        // A link (to a file mounted from a ConfigMap, say) is the user's arrangement: replacing it by
        // a file of ours would quietly cut it off.
        Some(_) if fs::symlink_metadata(&conf)?.file_type().is_symlink() => Err(io::Error::other(
            "postgresql.conf is a symbolic link, which is left as it is; include aza-tuning.conf from \
             the file it points to",
        )),
        Some(adopted) => {
            let mode = fs::metadata(&conf)?.permissions().mode() & 0o777;
            replace(&conf, adopted.as_bytes(), mode)?;
            Ok(Included::Now)
        }
    }
}

/// Replaces `path` by `bytes` (created with `mode`) through a temporary file and a rename, so a crash
/// leaves the old file or the new one, never half of one.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temporary = path.with_extension("aza-new");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linked_postgresql_conf_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("mounted.conf");
        fs::write(
            &target,
            "max_connections = 100\t\t\t# (change requires restart)\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("postgresql.conf")).unwrap();
        let conf = fs::read_to_string(&target).unwrap();
        assert!(
            tuning_file::adopt(&conf).is_some(),
            "the file would need the include"
        );
        let plan_dir = dir.path();
        let error = install_conf_only(plan_dir).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(fs::symlink_metadata(plan_dir.join("postgresql.conf"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_to_string(&target).unwrap(),
            conf,
            "the target is untouched"
        );
    }
}
