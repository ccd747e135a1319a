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
        &tuning_file::render(plan),
        0o600,
    )?;
    let conf = dir.join("postgresql.conf");
    let text = fs::read_to_string(&conf)?;
    match tuning_file::adopt(&text) {
        None => Ok(Included::Already),
        Some(adopted) => {
            let mode = fs::metadata(&conf)?.permissions().mode() & 0o777;
            replace(&conf, &adopted, mode)?;
            Ok(Included::Now)
        }
    }
}

/// Replaces `path` by `text` through a temporary file and a rename, so a crash leaves the old file or
/// the new one, never half of one.
fn replace(path: &Path, text: &str, mode: u32) -> io::Result<()> {
    let temporary = path.with_extension("aza-new");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}
