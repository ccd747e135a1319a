//! The pgBackRest configuration the entrypoint writes at every start with backups on
//! (`/etc/pgbackrest/conf.d/aza-pg.conf`, pgBackRest's default include path, mode 0600): every
//! `PGBACKREST_*` option of the container's environment, the secrets read from `*_FILE`, and where
//! the cluster is and how to reach it. pgBackRest reads it in every process that runs it without
//! further help: the server's `archive_command`, `docker exec ... pgbackrest`, and the backup
//! sidecar's cron jobs, which start with an empty environment (the include path, when moved with
//! `PGBACKREST_CONFIG_INCLUDE_PATH`, reaches them through the crontab). Options of the stanza's
//! PostgreSQL instances (`pg1-*`) go in the stanza's section, where pgBackRest takes them.

use std::fmt::Write as _;
use std::path::Path;

use super::Backups;

/// Full backups kept per repository unless `PGBACKREST_REPO<n>_RETENTION_FULL` says otherwise:
/// pgBackRest has no default and warns at every backup, and a repository that only grows fills its
/// volume.
pub const DEFAULT_RETENTION_FULL: u32 = 2;

/// The file's name in the include directory.
pub const FILE_NAME: &str = "aza-pg.conf";

/// Where and as whom the server runs.
pub struct Cluster<'a> {
    pub pgdata: &'a Path,
    pub port: u16,
    /// The first of `unix_socket_directories`; empty when the server has no socket.
    pub socket_dir: &'a str,
    pub user: &'a str,
}

/// `PGBACKREST_REPO1_SFTP_HOST` → `repo1-sftp-host`.
pub fn option_name(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix("PGBACKREST_")?;
    Some(rest.to_ascii_lowercase().replace('_', "-"))
}

/// The file's text: `[global]` with the environment's options, `[<stanza>]` with the cluster's.
pub fn render(backups: &Backups, cluster: &Cluster<'_>) -> String {
    let mut options: Vec<(&str, &str)> = backups
        .options
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose()))
        .collect();
    options.sort();
    let users = |name: &str| options.iter().any(|(option, _)| *option == name);
    // pgBackRest takes the cluster's options (pg1-path, pg2-host, ...) only in a stanza's section.
    let (cluster_options, global_options): (Vec<_>, Vec<_>) =
        options.iter().partition(|(name, _)| is_stanza_option(name));
    let mut text = String::from(
        "# Written by aza-entrypoint at every start from the container's environment (PGBACKREST_*\n\
         # variables, *_FILE secrets, PGDATA, the port and socket); edits here are overwritten.\n\
         [global]\n",
    );
    if !users("log-level-file") {
        text.push_str(
            "# A container's log is its output: pgBackRest's lines go to stderr, no log files.\n\
             log-level-file=off\n",
        );
    }
    for (name, value) in &global_options {
        let _ = writeln!(text, "{name}={value}");
    }
    for repo in &backups.repositories {
        let retention = format!("repo{}-retention-full", repo.index);
        if !users(&retention) {
            let _ = writeln!(
                text,
                "# aza-pg's default (PGBACKREST_REPO{n}_RETENTION_FULL): the last {DEFAULT_RETENTION_FULL} full \
                 backups, with what depends on them\n{retention}={DEFAULT_RETENTION_FULL}",
                n = repo.index
            );
        }
    }
    let _ = writeln!(text, "\n[{}]", backups.stanza);
    let pgdata = cluster.pgdata.display().to_string();
    let port = cluster.port.to_string();
    let defaults = [
        ("pg1-path", pgdata.as_str()),
        ("pg1-port", port.as_str()),
        ("pg1-socket-path", cluster.socket_dir),
        ("pg1-user", cluster.user),
    ];
    for (name, value) in defaults {
        if !users(name) && !value.is_empty() {
            let _ = writeln!(text, "{name}={value}");
        }
    }
    for (name, value) in &cluster_options {
        let _ = writeln!(text, "{name}={value}");
    }
    text
}

/// `pg1-path`, `pg2-host-user`, ...: options of one of the stanza's PostgreSQL instances.
fn is_stanza_option(name: &str) -> bool {
    name.strip_prefix("pg").is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::config::{RepoType, Repository};
    use crate::runtime::contract::Secret;
    use std::path::PathBuf;

    #[test]
    fn the_environment_and_the_cluster_make_one_file_the_users_options_winning() {
        let backups = Backups {
            stanza: "main".into(),
            repositories: vec![
                Repository {
                    index: 1,
                    kind: RepoType::Posix,
                },
                Repository {
                    index: 2,
                    kind: RepoType::Sftp,
                },
            ],
            options: vec![
                ("repo1-retention-full".into(), Secret::new("7".into())),
                ("pg1-port".into(), Secret::new("6000".into())),
                ("repo1-cipher-pass".into(), Secret::new("c".into())),
            ],
            include_dir: PathBuf::from("/etc/pgbackrest/conf.d"),
            remove_from_environment: vec![],
        };
        let cluster = Cluster {
            pgdata: Path::new("/var/lib/postgresql/18/docker"),
            port: 5433,
            socket_dir: "/var/run/postgresql",
            user: "app",
        };
        let text = render(&backups, &cluster);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "[global]",
                "log-level-file=off",
                "repo1-cipher-pass=c",
                "repo1-retention-full=7",
                "repo2-retention-full=2",
                "",
                "[main]",
                "pg1-path=/var/lib/postgresql/18/docker",
                "pg1-socket-path=/var/run/postgresql",
                "pg1-user=app",
                "pg1-port=6000",
            ]
        );
        // A log level of the user's replaces ours rather than repeating the option.
        let mut with_level = backups.clone();
        with_level
            .options
            .push(("log-level-file".into(), Secret::new("detail".into())));
        let text = render(&with_level, &cluster);
        assert_eq!(text.matches("log-level-file=").count(), 1, "{text}");
        assert!(text.contains("log-level-file=detail"));
    }

    #[test]
    fn variable_names_become_option_names() {
        assert_eq!(
            option_name("PGBACKREST_REPO1_SFTP_HOST").as_deref(),
            Some("repo1-sftp-host")
        );
        assert_eq!(option_name("POSTGRES_USER"), None);
    }
}
