//! WAL archiving to pgBackRest, when `PGBACKREST_STANZA` turns backups on (and only then): every
//! completed WAL segment goes to the stanza's repositories, and a quiet server still closes a segment
//! every few minutes, so a point-in-time restore can reach that close to the present. In the tuning
//! file like the rest, so `-c archive_mode=off` (say, for a restore test beside the running primary)
//! overrides it.

use super::Setting;

/// The longest a committed transaction waits for its WAL segment to be archived on a quiet server:
/// the recovery point objective when writes are rare (CloudNativePG's default too).
pub const ARCHIVE_TIMEOUT: &str = "5min";

/// `archive_command` for `stanza` (checked to be a bare word, so it needs no quoting).
pub fn archive_command(stanza: &str) -> String {
    format!("pgbackrest --stanza={stanza} archive-push %p")
}

/// The archiving settings for `stanza`, with their reasons.
pub(super) fn archiving_settings(stanza: &str) -> Vec<Setting> {
    let setting = |name: &'static str, value: String, reason: String| Setting {
        name,
        value,
        reason,
        overridden_by: None,
    };
    vec![
        setting(
            "archive_mode",
            "on".to_string(),
            format!("PGBACKREST_STANZA={stanza}: WAL is archived for backups and point-in-time restores"),
        ),
        setting(
            "archive_command",
            archive_command(stanza),
            "pgBackRest pushes each completed segment to the stanza's repositories; a failure \
             keeps the segment in pg_wal and is retried (pg_stat_archiver counts it)"
                .to_string(),
        ),
        setting(
            "archive_timeout",
            ARCHIVE_TIMEOUT.to_string(),
            "a quiet server still archives its last writes within 5 minutes (PostgreSQL's default \
             0 waits for a full 16 MB segment)"
                .to_string(),
        ),
    ]
}
