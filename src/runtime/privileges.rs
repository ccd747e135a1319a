//! Never running PostgreSQL as root: preparing directories for the `postgres` user and becoming it.
//!
//! Started as root (the default in a container), the entrypoint creates `PGDATA` (and the WAL
//! directory), hands them to `postgres` with mode 0700 and drops every privilege before running
//! initdb or the server. Started as any other user (an arbitrary UID, as OpenShift does) it stays that
//! user.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid, User};

pub const SERVICE_USER: &str = "postgres";

/// The account PostgreSQL runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
}

#[derive(Debug)]
pub enum PrivilegeError {
    NoServiceUser,
    LookupFailed(nix::Error),
    Directory {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    Drop {
        step: &'static str,
        source: nix::Error,
    },
}

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeError::NoServiceUser => write!(
                f,
                "running as root, but there is no '{SERVICE_USER}' user to run PostgreSQL as (PostgreSQL \
                 refuses to run as root); add the user to the image, or start the container as a non-root \
                 user (docker run --user)"
            ),
            PrivilegeError::LookupFailed(e) => write!(f, "cannot look up the '{SERVICE_USER}' user: {e}"),
            PrivilegeError::Directory { path, action, source } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
            PrivilegeError::Drop { step, source } => write!(f, "cannot drop root privileges ({step}): {source}"),
        }
    }
}

impl std::error::Error for PrivilegeError {}

/// The user to switch to: `Some(postgres)` when running as root, `None` to stay who we are.
pub fn service_user_if_root() -> Result<Option<ServiceUser>, PrivilegeError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let user = User::from_name(SERVICE_USER)
        .map_err(PrivilegeError::LookupFailed)?
        .ok_or(PrivilegeError::NoServiceUser)?;
    Ok(Some(ServiceUser {
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        home: user.dir,
    }))
}

/// Whether a walk over a directory tree finished or was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    Done,
    Stopped,
}

/// Creates `dir` if needed, gives it (and anything in it not yet theirs) to `user`, mode 0700.
/// Without a user (not root) it only creates the directory and tightens its mode. On a large data
/// directory the ownership walk takes seconds, so `stop_requested` is asked between entries; a stop
/// leaves some entries handed over and the rest as they were, which the next start finishes.
pub fn ensure_private_dir(
    dir: &Path,
    user: Option<&ServiceUser>,
    stop_requested: &mut dyn FnMut() -> bool,
) -> Result<Walk, PrivilegeError> {
    let fail = |action: &'static str| {
        move |source: io::Error| PrivilegeError::Directory {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(fail("create"))?;
    if let Some(user) = user {
        let mut visited = 0u32;
        if chown_tree(dir, user, &mut visited, stop_requested)
            .map_err(fail("change the owner of"))?
            == Walk::Stopped
        {
            return Ok(Walk::Stopped);
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(fail("set mode 0700 on"))?;
    Ok(Walk::Done)
}

/// Hands every entry not owned by `user` to them, without following symlinks; asks `stop_requested`
/// every 256 entries (a system call each time, so not on every one).
fn chown_tree(
    path: &Path,
    user: &ServiceUser,
    visited: &mut u32,
    stop_requested: &mut dyn FnMut() -> bool,
) -> io::Result<Walk> {
    *visited = visited.wrapping_add(1);
    if *visited % 256 == 0 && stop_requested() {
        return Ok(Walk::Stopped);
    }
    let metadata = fs::symlink_metadata(path)?;
    if metadata.uid() != user.uid.as_raw() || metadata.gid() != user.gid.as_raw() {
        lchown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
    }
    if metadata.is_dir() {
        for entry in fs::read_dir(path)? {
            if chown_tree(&entry?.path(), user, visited, stop_requested)? == Walk::Stopped {
                return Ok(Walk::Stopped);
            }
        }
    }
    Ok(Walk::Done)
}

/// Becomes `user` for good: supplementary groups, then group, then user (the order matters: after
/// setuid we could no longer change groups).
pub fn drop_to(user: &ServiceUser) -> Result<(), PrivilegeError> {
    setgroups(&[user.gid]).map_err(|source| PrivilegeError::Drop {
        step: "setgroups",
        source,
    })?;
    setgid(user.gid).map_err(|source| PrivilegeError::Drop {
        step: "setgid",
        source,
    })?;
    setuid(user.uid).map_err(|source| PrivilegeError::Drop {
        step: "setuid",
        source,
    })?;
    if Uid::effective().is_root() || setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::Drop {
            step: "verify",
            source: nix::Error::EPERM,
        });
    }
    Ok(())
}
