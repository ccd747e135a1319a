//! The logging settings every start applies: a log that pgbadger reads as it is (its standard
//! stderr prefix) and that holds what a DBA looks for afterwards — checkpoints, lock waits,
//! temporary files and slow autovacuum runs. Like the tuning, they go into the tuning file, so
//! `postgresql.conf`, `ALTER SYSTEM` and `-c` override them.

use super::Setting;

/// Time with milliseconds, process id, then who: the prefix pgbadger recognises without options
/// (documented there for `log_destination = 'stderr'`), and readable in `docker logs`.
pub const LOG_LINE_PREFIX: &str = "%m [%p]: user=%u,db=%d,app=%a,client=%h ";

/// Every logging setting, with its reason.
pub(super) fn logging_settings() -> Vec<Setting> {
    let setting = |name: &'static str, value: &str, reason: &str| Setting {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
        overridden_by: None,
    };
    vec![
        setting(
            "log_line_prefix",
            LOG_LINE_PREFIX,
            "time, process, user, database, application and client on every line: the stderr \
             prefix pgbadger parses without options",
        ),
        setting(
            "log_checkpoints",
            "on",
            "checkpoint timing and sizes, for pgbadger's checkpoint report (PostgreSQL's default \
             since 15, set so that a copied postgresql.conf cannot silently lose it)",
        ),
        setting(
            "log_lock_waits",
            "on",
            "a line for every lock wait longer than deadlock_timeout (1 s): the waits a slow \
             application hides",
        ),
        setting(
            "log_temp_files",
            "0",
            "every temporary file with its size: the sorts and hashes that outgrew work_mem, \
             which the memory budget can make smaller",
        ),
        setting(
            "log_autovacuum_min_duration",
            "1s",
            "autovacuum and autoanalyze runs over 1 s (PostgreSQL's default is 10 min): the \
             tables vacuum struggles with, without a line per small table",
        ),
    ]
}
