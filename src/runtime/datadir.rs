//! The data directory's life cycle, and what makes first-start initialisation atomic.
//!
//! initdb and the init scripts work in a staging directory inside `PGDATA` (`PGDATA/.aza-initdb`, so it
//! is on the same filesystem even when `PGDATA` is itself a volume). Only when every step succeeded are
//! its entries renamed into `PGDATA`, `PG_VERSION` last: `PG_VERSION` in `PGDATA` is the commit point.
//! A start that finds the staging directory but no `PG_VERSION` knows the previous initialisation died
//! (failure, SIGTERM or SIGKILL) and starts it again from an empty directory. A directory with
//! `PG_VERSION` is never deleted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub const STAGING_NAME: &str = ".aza-initdb";
const COMMIT_MARKER: &str = "PG_VERSION";
pub const LOCK_NAME: &str = ".aza-entrypoint.lock";
/// Entries that do not make a directory "someone else's": what a fresh filesystem brings along, and
/// the entrypoint's lock.
const TOLERATED_ENTRIES: &[&str] = &["lost+found", LOCK_NAME];

/// Held from before the data directory is inspected until the entrypoint ends (or execs PostgreSQL,
/// which closes it), so that a second entrypoint on the same volume fails at once instead of clearing
/// the first one's staging directory or starting a second server on the same files. The file stays:
/// unlinking a locked file would let the next entrypoint lock a new file of the same name while this
/// one still holds the old.
pub struct DataDirLock {
    _lock: nix::fcntl::Flock<fs::File>,
}

impl DataDirLock {
    /// Takes the lock without waiting; `Ok(None)` when another process holds it. The descriptor is
    /// close-on-exec, so no child (initdb, the server, a script) inherits the lock. Taken as root,
    /// the file is given to `owner`, so a later start as that user can open it too.
    pub fn try_acquire(
        pgdata: &Path,
        owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    ) -> io::Result<Option<DataDirLock>> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let path = pgdata.join(LOCK_NAME);
        // PGDATA belongs to postgres, and this may run as root: a symbolic link (or a hard link)
        // planted there must not make root open, and then hand over, some other file.
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)?;
        let metadata = file.metadata()?;
        if !metadata.is_file() || metadata.nlink() != 1 {
            return Err(io::Error::other(format!(
                "{} is not a plain file of its own (a link?); remove it",
                path.display()
            )));
        }
        if let Some((uid, gid)) = owner {
            nix::unistd::fchown(std::os::fd::AsRawFd::as_raw_fd(&file), Some(uid), Some(gid))?;
        }
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(DataDirLock { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(io::Error::from(errno)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDirState {
    /// No directory yet, or an empty one: initialise.
    Empty,
    /// A completed cluster.
    Initialised,
    /// A previous initialisation of ours did not finish; its leftovers must go before a new one.
    Interrupted,
    /// Files that are neither a cluster nor ours: refuse to touch them.
    Foreign { example: String },
}

pub fn staging_dir(pgdata: &Path) -> PathBuf {
    pgdata.join(STAGING_NAME)
}

/// Reads, and only reads, what is in `pgdata`.
pub fn inspect(pgdata: &Path) -> io::Result<DataDirState> {
    let entries = match fs::read_dir(pgdata) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DataDirState::Empty),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    if names.iter().any(|n| n == COMMIT_MARKER) {
        return Ok(DataDirState::Initialised);
    }
    if names.iter().any(|n| n == STAGING_NAME) {
        return Ok(DataDirState::Interrupted);
    }
    match names
        .into_iter()
        .find(|n| !TOLERATED_ENTRIES.contains(&n.as_str()))
    {
        None => Ok(DataDirState::Empty),
        Some(example) => Ok(DataDirState::Foreign { example }),
    }
}

/// Removes the leftovers of an interrupted initialisation: everything in `pgdata` (it has no
/// `PG_VERSION`, checked again here) and the contents of the WAL directory initdb was given.
pub fn clear_interrupted(pgdata: &Path, waldir: Option<&Path>) -> io::Result<()> {
    if inspect(pgdata)? != DataDirState::Interrupted {
        return Err(io::Error::other(format!(
            "{} is not an interrupted initialisation; not clearing it",
            pgdata.display()
        )));
    }
    // The WAL directory is emptied only when the unfinished cluster's `pg_wal` links to it, i.e.
    // when our initdb wrote there; otherwise its contents may be anyone's (initdb then refuses it).
    let ours = waldir.filter(|dir| wal_link_points_to(pgdata, dir));
    // Order matters when this is itself interrupted (SIGKILL): the WAL directory first, while the
    // `pg_wal` link that proves it ours still exists; the staging directory last, since it is what
    // marks the rest as an unfinished initialisation rather than someone else's files.
    if let Some(waldir) = ours {
        remove_contents(waldir, &[])?;
    }
    remove_contents(pgdata, &[STAGING_NAME])?;
    let staging = staging_dir(pgdata);
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    Ok(())
}

/// Whether `pg_wal` of the staged (or half-moved) cluster is a symbolic link to `waldir`.
fn wal_link_points_to(pgdata: &Path, waldir: &Path) -> bool {
    [staging_dir(pgdata).join("pg_wal"), pgdata.join("pg_wal")]
        .iter()
        .any(|link| {
            fs::read_link(link).is_ok_and(|target| {
                let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
                canonical(&target) == canonical(waldir)
            })
        })
}

/// Removes everything in `dir` but the tolerated entries and `keep`.
fn remove_contents(dir: &Path, keep: &[&str]) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if TOLERATED_ENTRIES.contains(&name.as_ref()) || keep.contains(&name.as_ref()) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Moves the staged cluster into `pgdata`, `PG_VERSION` last, syncing so the commit point is durable.
pub fn commit(pgdata: &Path) -> io::Result<()> {
    let staging = staging_dir(pgdata);
    // pg_basebackup copies the primary's lock file too; moved into place it would replace the file
    // this entrypoint holds locked, and a second entrypoint could then lock the new one.
    match fs::remove_file(staging.join(LOCK_NAME)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut names: Vec<_> = fs::read_dir(&staging)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    // Everything else first, so a crash in between leaves no PG_VERSION and is redone.
    names.sort_by_key(|name| name == COMMIT_MARKER);
    if names.last().map(|n| n != COMMIT_MARKER).unwrap_or(true) {
        return Err(io::Error::other(format!(
            "{} has no {COMMIT_MARKER}; initdb did not complete",
            staging.display()
        )));
    }
    for name in &names {
        if name == COMMIT_MARKER {
            sync_dir(pgdata)?;
        }
        fs::rename(staging.join(name), pgdata.join(name))?;
    }
    sync_dir(pgdata)?;
    fs::remove_dir(&staging)?;
    sync_dir(pgdata)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "x").unwrap();
    }

    #[test]
    fn states_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let pgdata = dir.path().join("data");
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Empty);
        fs::create_dir_all(pgdata.join("lost+found")).unwrap();
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Empty);
        touch(&pgdata.join("notes.txt"));
        assert_eq!(
            inspect(&pgdata).unwrap(),
            DataDirState::Foreign {
                example: "notes.txt".into()
            }
        );
        touch(&staging_dir(&pgdata).join("base/1"));
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Interrupted);
        touch(&pgdata.join("PG_VERSION"));
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Initialised);
    }

    #[test]
    fn commit_moves_everything_and_pg_version_marks_completion() {
        let dir = tempfile::tempdir().unwrap();
        let pgdata = dir.path();
        for name in [
            "PG_VERSION",
            "base/1/123",
            "global/pg_control",
            "postgresql.conf",
        ] {
            touch(&staging_dir(pgdata).join(name));
        }
        assert_eq!(inspect(pgdata).unwrap(), DataDirState::Interrupted);
        commit(pgdata).unwrap();
        assert_eq!(inspect(pgdata).unwrap(), DataDirState::Initialised);
        assert!(pgdata.join("base/1/123").exists() && pgdata.join("global/pg_control").exists());
        assert!(!staging_dir(pgdata).exists());
    }

    #[test]
    fn a_wal_directory_our_initdb_did_not_link_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pgdata = dir.path().join("data");
        let waldir = dir.path().join("someone-elses-wal");
        touch(&staging_dir(&pgdata).join("global/pg_control"));
        touch(&waldir.join("000000010000000000000042"));
        clear_interrupted(&pgdata, Some(&waldir)).unwrap();
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Empty);
        assert!(
            waldir.join("000000010000000000000042").exists(),
            "foreign WAL was deleted"
        );
    }

    #[test]
    fn a_lock_file_that_is_a_link_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        fs::write(&target, "x").unwrap();
        let pgdata = dir.path().join("pgdata");
        fs::create_dir(&pgdata).unwrap();
        std::os::unix::fs::symlink(&target, pgdata.join(LOCK_NAME)).unwrap();
        assert!(DataDirLock::try_acquire(&pgdata, None).is_err());
        fs::remove_file(pgdata.join(LOCK_NAME)).unwrap();
        fs::hard_link(&target, pgdata.join(LOCK_NAME)).unwrap();
        let error = DataDirLock::try_acquire(&pgdata, None)
            .err()
            .expect("refused");
        assert!(error.to_string().contains("not a plain file"), "{error}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "x");
    }

    #[test]
    fn a_copied_lock_file_is_not_moved_over_the_held_one() {
        let dir = tempfile::tempdir().unwrap();
        let staging = staging_dir(dir.path());
        fs::create_dir(&staging).unwrap();
        let held = DataDirLock::try_acquire(dir.path(), None).unwrap().unwrap();
        touch(&staging.join(LOCK_NAME));
        touch(&staging.join("PG_VERSION"));
        commit(dir.path()).unwrap();
        // Still the held file: a second lock attempt conflicts.
        assert!(DataDirLock::try_acquire(dir.path(), None)
            .unwrap()
            .is_none());
        drop(held);
    }

    #[test]
    fn only_one_entrypoint_holds_the_lock_and_the_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::try_acquire(dir.path(), None)
            .unwrap()
            .expect("a free lock");
        // flock conflicts between open file descriptions, even in one process.
        assert!(DataDirLock::try_acquire(dir.path(), None)
            .unwrap()
            .is_none());
        assert_eq!(
            inspect(dir.path()).unwrap(),
            DataDirState::Empty,
            "the lock file is not foreign"
        );
        drop(first);
        assert!(dir.path().join(LOCK_NAME).exists());
        assert!(DataDirLock::try_acquire(dir.path(), None)
            .unwrap()
            .is_some());
    }

    #[test]
    fn commit_refuses_a_staging_dir_without_pg_version() {
        let dir = tempfile::tempdir().unwrap();
        touch(&staging_dir(dir.path()).join("base/1"));
        assert!(commit(dir.path()).is_err());
        assert_eq!(inspect(dir.path()).unwrap(), DataDirState::Interrupted);
    }

    #[test]
    fn a_half_committed_directory_is_redone_and_a_complete_one_never_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let pgdata = dir.path().join("data");
        let waldir = dir.path().join("wal");
        // As if killed after moving `base` but before PG_VERSION, with initdb's WAL link in place.
        touch(&pgdata.join("base/1"));
        touch(&staging_dir(&pgdata).join("PG_VERSION"));
        touch(&waldir.join("000000010000000000000001"));
        std::os::unix::fs::symlink(&waldir, staging_dir(&pgdata).join("pg_wal")).unwrap();
        clear_interrupted(&pgdata, Some(&waldir)).unwrap();
        assert_eq!(inspect(&pgdata).unwrap(), DataDirState::Empty);
        assert_eq!(fs::read_dir(&waldir).unwrap().count(), 0);

        touch(&pgdata.join("PG_VERSION"));
        touch(&pgdata.join("base/1"));
        assert!(clear_interrupted(&pgdata, None).is_err());
        assert!(pgdata.join("base/1").exists());
    }
}
