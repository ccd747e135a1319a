//! The backup variables, read once with the rest of the environment (see
//! [`crate::environment::Environment`]).
//!
//! - `PGBACKREST_STANZA` turns archiving and backups on (and only it): `archive_mode`,
//!   `archive_command`, the stanza created on the first start.
//! - The repositories are pgBackRest's own `PGBACKREST_REPO<n>_*` variables (repositories 1 to
//!   [`REPOSITORIES`] are checked here: the type, what that type needs, absolute paths), so that a
//!   mistake is refused before anything starts rather than found at the first archived segment.
//! - Secrets pgBackRest reads from its environment have `*_FILE` forms here (Docker and Kubernetes
//!   secrets): `PGBACKREST_REPO1_CIPHER_PASS_FILE=/run/secrets/...` becomes
//!   `PGBACKREST_REPO1_CIPHER_PASS` in pgBackRest's environment.
//! - `AZA_RESTORE_SET` (`latest` or a backup label) and `AZA_RESTORE_TARGET_TIME` make a first start
//!   restore from the repository instead of running initdb.

use std::path::PathBuf;

use super::conf::option_name;
use super::time::TargetTime;
use crate::runtime::contract::{Reader, Secret};

/// pgBackRest's default include path, where the entrypoint writes its configuration file.
pub const DEFAULT_INCLUDE_DIR: &str = "/etc/pgbackrest/conf.d";
/// Where the backup sidecar's jobs leave their metrics (`AZA_BACKUP_METRICS_DIR`).
pub const DEFAULT_METRICS_DIR: &str = "/var/lib/aza-pg/metrics";

/// `PGBACKREST_*` variables that are not options for the configuration file: the stanza is given on
/// every command line, and the configuration's own location cannot be configured inside it.
const NOT_OPTIONS: &[&str] = &[
    "PGBACKREST_STANZA",
    "PGBACKREST_CONFIG",
    "PGBACKREST_CONFIG_PATH",
    "PGBACKREST_CONFIG_INCLUDE_PATH",
];

/// Repositories whose settings are checked (pgBackRest allows up to 256; the rest pass unchecked).
pub const REPOSITORIES: u8 = 4;

/// pgBackRest options of a repository that are secrets, so have a `*_FILE` form.
pub const SECRET_OPTIONS: &[&str] = &[
    "CIPHER_PASS",
    "S3_KEY",
    "S3_KEY_SECRET",
    "S3_TOKEN",
    "AZURE_KEY",
    "SFTP_PRIVATE_KEY_PASSPHRASE",
];

/// Where a repository keeps its files: pgBackRest's `repo-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoType {
    Posix,
    Cifs,
    Sftp,
    S3,
    Gcs,
    Azure,
}

const REPO_TYPES: [(&str, RepoType); 6] = [
    ("posix", RepoType::Posix),
    ("cifs", RepoType::Cifs),
    ("sftp", RepoType::Sftp),
    ("s3", RepoType::S3),
    ("gcs", RepoType::Gcs),
    ("azure", RepoType::Azure),
];

impl RepoType {
    pub fn name(self) -> &'static str {
        REPO_TYPES
            .iter()
            .find(|(_, kind)| *kind == self)
            .map_or("posix", |(name, _)| name)
    }

    /// The options (after `PGBACKREST_REPO<n>_`) pgBackRest cannot do without for this type.
    fn required(self) -> &'static [(&'static str, &'static str)] {
        match self {
            RepoType::Posix | RepoType::Cifs => &[],
            RepoType::Sftp => &[
                ("SFTP_HOST", "the repository host's name or address"),
                ("SFTP_HOST_USER", "the user pgBackRest logs in as there"),
                (
                    "SFTP_PRIVATE_KEY_FILE",
                    "the private key's path in this container (a mounted secret)",
                ),
                (
                    "SFTP_HOST_KEY_HASH_TYPE",
                    "md5, sha1 or sha256, the hash pgBackRest checks the host's key with",
                ),
            ],
            RepoType::S3 => &[
                ("S3_BUCKET", "the bucket"),
                ("S3_ENDPOINT", "the endpoint, as s3.eu-west-1.amazonaws.com"),
                ("S3_REGION", "the bucket's region"),
            ],
            RepoType::Gcs => &[("GCS_BUCKET", "the bucket")],
            RepoType::Azure => &[
                ("AZURE_ACCOUNT", "the storage account"),
                ("AZURE_CONTAINER", "the container"),
            ],
        }
    }
}

/// One repository pgBackRest will write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub index: u8,
    pub kind: RepoType,
}

/// Backups are on: what the entrypoint needs to know of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backups {
    pub stanza: String,
    /// The repositories configured among the first [`REPOSITORIES`] (repository 1 always: pgBackRest's
    /// default is a posix repository in /var/lib/pgbackrest).
    pub repositories: Vec<Repository>,
    /// Every pgBackRest option of the environment (`PGBACKREST_REPO1_PATH` as `repo1-path`), the
    /// secrets read from `*_FILE` among them. Every value is kept as a [`Secret`]: some are.
    pub options: Vec<(String, Secret)>,
    /// Where the configuration file goes: `PGBACKREST_CONFIG_INCLUDE_PATH`, else pgBackRest's default.
    pub include_dir: PathBuf,
    /// The `*_FILE` variables (pgBackRest would warn about them as unknown options) and the secrets
    /// given inline: both are in the configuration file, and the server's environment loses them.
    pub remove_from_environment: Vec<String>,
}

/// A first start that restores instead of initialising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// The backup to restore; `None`: pgBackRest chooses (the latest, or the latest that ended before
    /// the target time).
    pub set: Option<String>,
    /// Recover to this time, then promote; `None`: to the end of the archive.
    pub target_time: Option<TargetTime>,
}

/// What the backup variables ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSettings {
    pub backups: Option<Backups>,
    pub restore: Option<RestoreRequest>,
    /// Where its jobs write their metrics (`AZA_BACKUP_METRICS_DIR`).
    pub metrics_dir: PathBuf,
}

impl BackupSettings {
    /// Reads the backup variables; `names` are the names of every variable set (pgBackRest's options
    /// pass through whatever they are). Problems are kept in `r`.
    pub fn read(r: &mut Reader<'_>, names: &[String]) -> BackupSettings {
        let stanza = r.get("PGBACKREST_STANZA").and_then(|stanza| {
            check_stanza(&stanza)
                .map_err(|problem| r.problem("PGBACKREST_STANZA", problem))
                .ok()
        });
        let repositories = read_repositories(r);
        let (options, remove_from_environment) = read_options(r, names);
        for variable in ["PGBACKREST_CONFIG", "PGBACKREST_CONFIG_PATH"] {
            if r.get(variable).is_some() {
                r.problem(
                    variable,
                    "is set: pgBackRest would then not read the configuration the entrypoint writes \
                     into its include path; move your settings into PGBACKREST_* variables, or put \
                     a file of your own beside it with PGBACKREST_CONFIG_INCLUDE_PATH",
                );
            }
        }
        let include_dir = r
            .absolute_path("PGBACKREST_CONFIG_INCLUDE_PATH")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_INCLUDE_DIR));
        let restore = read_restore(r);
        let metrics_dir = r
            .absolute_path("AZA_BACKUP_METRICS_DIR")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_METRICS_DIR));
        let stanza_set = r.get("PGBACKREST_STANZA").is_some();
        if !stanza_set {
            let configured = (1..=REPOSITORIES)
                .flat_map(|n| ["TYPE", "PATH"].map(|option| format!("PGBACKREST_REPO{n}_{option}")))
                .chain(["AZA_RESTORE_SET", "AZA_RESTORE_TARGET_TIME"].map(String::from))
                .filter(|name| r.get(name).is_some())
                .collect::<Vec<_>>();
            for name in configured {
                r.problem(
                    name,
                    "is set, but PGBACKREST_STANZA is not, so backups are off: set PGBACKREST_STANZA \
                     (the stanza's name, as main) to turn them on, or remove this variable",
                );
            }
        }
        BackupSettings {
            backups: stanza.map(|stanza| Backups {
                stanza,
                repositories,
                options,
                include_dir,
                remove_from_environment,
            }),
            restore: restore.filter(|_| stanza_set),
            metrics_dir,
        }
    }
}

/// pgBackRest's stanza names: letters, digits, `-`, `_` and `.`; it also goes into `archive_command`
/// unquoted.
fn check_stanza(stanza: &str) -> Result<String, String> {
    let usable = !stanza.starts_with('-')
        && stanza
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if usable {
        Ok(stanza.to_string())
    } else {
        Err(format!(
            "='{}' is not a stanza name: use letters, digits, '-', '_' and '.' (as main or app-db)",
            stanza.escape_debug()
        ))
    }
}

fn read_repositories(r: &mut Reader<'_>) -> Vec<Repository> {
    let mut repositories = Vec::new();
    for index in 1..=REPOSITORIES {
        let option = |name: &str| format!("PGBACKREST_REPO{index}_{name}");
        let type_variable = option("TYPE");
        let configured = index == 1
            || [
                "TYPE",
                "PATH",
                "SFTP_HOST",
                "S3_BUCKET",
                "GCS_BUCKET",
                "AZURE_CONTAINER",
            ]
            .iter()
            .any(|name| r.get(&option(name)).is_some());
        if !configured {
            continue;
        }
        let kind = r.choice(&type_variable, &REPO_TYPES, RepoType::Posix);
        // pgBackRest itself takes the type in lower case only, and reads the variable as it is.
        if let Some(raw) = r
            .get(&type_variable)
            .filter(|raw| raw.trim() != kind.name())
        {
            if raw.trim().eq_ignore_ascii_case(kind.name()) {
                r.problem(
                    type_variable.as_str(),
                    format!(
                        "='{raw}' must be written {}: pgBackRest reads it as it is",
                        kind.name()
                    ),
                );
            }
        }
        for (name, what) in kind.required() {
            let variable = option(name);
            if r.get(&variable).is_none() {
                r.problem(
                    variable,
                    format!(
                        "is not set, and {type_variable}={} needs it: {what}",
                        kind.name()
                    ),
                );
            }
        }
        for name in ["PATH", "SFTP_PRIVATE_KEY_FILE"] {
            // Checked only: pgBackRest reads the value itself.
            r.absolute_path(&option(name));
        }
        repositories.push(Repository { index, kind });
    }
    repositories
}

/// The secret a `*_FILE` variable stands for (`PGBACKREST_REPO<n>_CIPHER_PASS_FILE` →
/// `PGBACKREST_REPO<n>_CIPHER_PASS`); `None` for pgBackRest's own options that end in `_FILE`
/// (`PGBACKREST_REPO1_SFTP_PRIVATE_KEY_FILE` is a path).
fn secret_of_file_variable(name: &str) -> Option<&str> {
    let base = name.strip_suffix("_FILE")?;
    let rest = base.strip_prefix("PGBACKREST_REPO")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let option = rest[digits..].strip_prefix('_')?;
    (digits > 0 && SECRET_OPTIONS.contains(&option)).then_some(base)
}

/// pgBackRest's options from the environment, with the secrets given as `*_FILE` read (pgBackRest
/// has no such form), and the `*_FILE` variables to remove.
fn read_options(r: &mut Reader<'_>, names: &[String]) -> (Vec<(String, Secret)>, Vec<String>) {
    let mut options = Vec::new();
    let mut file_variables = Vec::new();
    let mut names: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("PGBACKREST_"))
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        if NOT_OPTIONS.contains(&name.as_str()) {
            continue;
        }
        if let Some(secret) = secret_of_file_variable(name) {
            file_variables.push(name.clone());
            if let (Some(value), Some(option)) = (r.value_or_file(secret), option_name(secret)) {
                if value.contains(['\n', '\r']) {
                    r.problem(
                        name.as_str(),
                        "names a file with a line break inside its value, which pgBackRest's \
                         configuration file cannot hold",
                    );
                    continue;
                }
                options.push((option, Secret::new(value)));
            }
            continue;
        }
        // Given both ways: value_or_file above reported it.
        if r.get(&format!("{name}_FILE")).is_some()
            && secret_of_file_variable(&format!("{name}_FILE")).is_some()
        {
            continue;
        }
        let (Some(value), Some(option)) = (r.get(name), option_name(name)) else {
            continue;
        };
        if value.contains(['\n', '\r']) {
            r.problem(
                name.as_str(),
                "contains a line break, which pgBackRest's configuration file cannot hold",
            );
            continue;
        }
        // An inline secret is in the configuration file from now on: the server need not carry it.
        if secret_of_file_variable(&format!("{name}_FILE")).is_some() {
            file_variables.push(name.clone());
        }
        options.push((option, Secret::new(value)));
    }
    (options, file_variables)
}

fn read_restore(r: &mut Reader<'_>) -> Option<RestoreRequest> {
    let set = r.get("AZA_RESTORE_SET").map(|set| set.trim().to_string());
    let time = r.get("AZA_RESTORE_TARGET_TIME");
    if set.is_none() && time.is_none() {
        return None;
    }
    let set = match set {
        Some(set) if set.eq_ignore_ascii_case("latest") => None,
        Some(set) if is_backup_label(&set) => Some(set),
        Some(set) => {
            r.problem(
                "AZA_RESTORE_SET",
                format!(
                    "='{}' is not accepted: use latest or a backup's label as pgbackrest info shows \
                     it (20261202-101500F, or 20261202-101500F_20261203-101500D for a differential)",
                    set.escape_debug()
                ),
            );
            None
        }
        None => None,
    };
    let target_time = time.and_then(|time| {
        TargetTime::parse(&time)
            .map_err(|problem| {
                r.problem(
                    "AZA_RESTORE_TARGET_TIME",
                    format!("='{}' {problem}", time.escape_debug()),
                )
            })
            .ok()
    });
    Some(RestoreRequest { set, target_time })
}

/// `YYYYMMDD-HHMMSSF`, optionally followed by `_YYYYMMDD-HHMMSS` and `D` or `I`.
fn is_backup_label(label: &str) -> bool {
    let stamp = |part: &str| {
        part.len() == 15
            && part.as_bytes()[8] == b'-'
            && part
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 8 || b.is_ascii_digit())
    };
    match label.split_once('_') {
        None => label.strip_suffix('F').is_some_and(stamp),
        Some((full, later)) => {
            full.strip_suffix('F').is_some_and(stamp)
                && (later.strip_suffix('D').or_else(|| later.strip_suffix('I'))).is_some_and(stamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn read(vars: &[(&str, &str)], files: &[(&str, &str)]) -> (BackupSettings, Vec<String>) {
        let lookup = fake_env(vars);
        let read_file = fake_files(files);
        let mut r = Reader::new(&lookup, &read_file);
        let names: Vec<String> = vars.iter().map(|(name, _)| name.to_string()).collect();
        let settings = BackupSettings::read(&mut r, &names);
        let problems = r.into_problems().iter().map(ToString::to_string).collect();
        (settings, problems)
    }

    #[test]
    fn nothing_set_means_no_backups_and_no_problem() {
        let (settings, problems) = read(&[], &[]);
        assert!(settings.backups.is_none() && settings.restore.is_none());
        assert_eq!(settings.metrics_dir, PathBuf::from(DEFAULT_METRICS_DIR));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_stanza_turns_backups_on_with_the_default_posix_repository() {
        let (settings, problems) = read(&[("PGBACKREST_STANZA", "main")], &[]);
        assert!(problems.is_empty(), "{problems:?}");
        let backups = settings.backups.expect("backups on");
        assert_eq!(backups.stanza, "main");
        assert_eq!(
            backups.repositories,
            [Repository {
                index: 1,
                kind: RepoType::Posix
            }]
        );
        assert!(settings.restore.is_none());
    }

    #[test]
    fn every_repository_problem_is_reported_at_once() {
        let (settings, problems) = read(
            &[
                ("PGBACKREST_STANZA", "main"),
                ("PGBACKREST_REPO1_PATH", "relative/path"),
                ("PGBACKREST_REPO2_TYPE", "sftp"),
                ("PGBACKREST_REPO2_SFTP_HOST", "repo-host"),
                ("PGBACKREST_REPO3_TYPE", "tape"),
                ("PGBACKREST_REPO4_S3_BUCKET", "b"),
                ("PGBACKREST_REPO4_TYPE", "s3"),
            ],
            &[],
        );
        let expected = [
            "PGBACKREST_REPO1_PATH='relative/path' is not an absolute path",
            "PGBACKREST_REPO2_SFTP_HOST_USER is not set, and PGBACKREST_REPO2_TYPE=sftp needs it",
            "PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE is not set",
            "PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE is not set",
            "PGBACKREST_REPO3_TYPE='tape' is not accepted: use posix, cifs, sftp, s3, gcs, azure",
            "PGBACKREST_REPO4_S3_ENDPOINT is not set",
            "PGBACKREST_REPO4_S3_REGION is not set",
        ];
        for line in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(line)),
                "{line} missing from {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        let (_, problems) = read(
            &[
                ("PGBACKREST_STANZA", "main"),
                ("PGBACKREST_REPO1_TYPE", "S3"),
                ("PGBACKREST_CONFIG", "/etc/mine.conf"),
                ("PGBACKREST_REPO1_CIPHER_PASS_FILE", "/s/two-lines"),
            ],
            &[("/s/two-lines", "a\nrepo1-path=/elsewhere\n")],
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("PGBACKREST_REPO1_TYPE='S3' must be written s3")),
            "{problems:?}"
        );
        assert!(problems
            .iter()
            .any(|p| p.starts_with("PGBACKREST_CONFIG is set: pgBackRest would then not read")));
        assert!(problems
            .iter()
            .any(|p| p
                .starts_with("PGBACKREST_REPO1_CIPHER_PASS_FILE names a file with a line break")));
        let kinds: Vec<_> = settings
            .backups
            .expect("the stanza is fine")
            .repositories
            .iter()
            .map(|repo| (repo.index, repo.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, RepoType::Posix),
                (2, RepoType::Sftp),
                (3, RepoType::Posix),
                (4, RepoType::S3)
            ]
        );
    }

    #[test]
    fn secrets_come_from_their_files_and_both_forms_are_refused() {
        let (settings, problems) = read(
            &[
                ("PGBACKREST_STANZA", "main"),
                ("PGBACKREST_REPO1_CIPHER_PASS_FILE", "/s/cipher"),
                ("PGBACKREST_REPO2_S3_KEY_SECRET", "inline"),
                ("PGBACKREST_REPO2_S3_KEY_SECRET_FILE", "/s/key"),
            ],
            &[("/s/cipher", "c1pher\n"), ("/s/key", "k\n")],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("PGBACKREST_REPO2_S3_KEY_SECRET"));
        let backups = settings.backups.expect("backups on");
        let options: Vec<(&str, &str)> = backups
            .options
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose()))
            .collect();
        assert_eq!(options, [("repo1-cipher-pass", "c1pher")]);
        assert_eq!(
            backups.remove_from_environment,
            [
                "PGBACKREST_REPO1_CIPHER_PASS_FILE",
                "PGBACKREST_REPO2_S3_KEY_SECRET_FILE"
            ]
        );
    }

    #[test]
    fn every_pgbackrest_option_passes_through_but_the_stanza_and_paths_ending_in_file_stay_options()
    {
        let (settings, problems) = read(
            &[
                ("PGBACKREST_STANZA", "main"),
                ("PGBACKREST_REPO1_RETENTION_FULL", "2"),
                ("PGBACKREST_COMPRESS_TYPE", "zst"),
                ("PGBACKREST_REPO2_TYPE", "sftp"),
                ("PGBACKREST_REPO2_SFTP_HOST", "repo"),
                ("PGBACKREST_REPO2_SFTP_HOST_USER", "pgbackrest"),
                ("PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE", "/run/secrets/key"),
                ("PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE", "sha256"),
                ("PGBACKREST_ARCHIVE_PUSH_QUEUE_MAX", "1GiB\nrepo1-path=/x"),
                ("PGBACKREST_CONFIG_INCLUDE_PATH", "/etc/aza/pgbackrest"),
            ],
            &[],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("PGBACKREST_ARCHIVE_PUSH_QUEUE_MAX contains a line break"));
        let backups = settings.backups.expect("backups on");
        let names: Vec<&str> = backups.options.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "compress-type",
                "repo1-retention-full",
                "repo2-sftp-host",
                "repo2-sftp-host-key-hash-type",
                "repo2-sftp-host-user",
                "repo2-sftp-private-key-file",
                "repo2-type"
            ]
        );
        assert!(backups.remove_from_environment.is_empty());
        assert_eq!(backups.include_dir, PathBuf::from("/etc/aza/pgbackrest"));
    }

    #[test]
    fn repository_or_restore_variables_without_a_stanza_are_refused() {
        let (settings, problems) = read(
            &[
                ("PGBACKREST_REPO1_PATH", "/repo"),
                ("AZA_RESTORE_SET", "latest"),
            ],
            &[],
        );
        assert!(settings.backups.is_none() && settings.restore.is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .all(|p| p.contains("PGBACKREST_STANZA is not, so backups are off")));
    }

    #[test]
    fn a_bad_stanza_name_is_refused() {
        let (settings, problems) = read(&[("PGBACKREST_STANZA", "my stanza")], &[]);
        assert!(settings.backups.is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("PGBACKREST_STANZA='my stanza' is not a stanza name"));
    }

    #[test]
    fn restore_requests() {
        let restore = |vars: &[(&str, &str)]| {
            let mut all = vec![("PGBACKREST_STANZA", "main")];
            all.extend_from_slice(vars);
            read(&all, &[])
        };
        let (settings, problems) = restore(&[("AZA_RESTORE_SET", "Latest")]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            settings.restore,
            Some(RestoreRequest {
                set: None,
                target_time: None
            })
        );
        let (settings, problems) = restore(&[
            ("AZA_RESTORE_SET", "20261202-101500F_20261203-020000D"),
            ("AZA_RESTORE_TARGET_TIME", "2026-12-03 09:00:00+01"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let request = settings.restore.expect("a restore");
        assert_eq!(
            request.set.as_deref(),
            Some("20261202-101500F_20261203-020000D")
        );
        assert_eq!(
            request.target_time.map(|t| t.to_string()).as_deref(),
            Some("2026-12-03 08:00:00+00")
        );
        let (_, problems) = restore(&[
            ("AZA_RESTORE_SET", "yesterday"),
            ("AZA_RESTORE_TARGET_TIME", "2026-12-03 09:00"),
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("AZA_RESTORE_SET='yesterday' is not accepted"));
        assert!(problems[1].starts_with("AZA_RESTORE_TARGET_TIME='2026-12-03 09:00' is not"));
    }

    #[test]
    fn backup_labels() {
        for good in [
            "20261202-101500F",
            "20261202-101500F_20261203-101500D",
            "20261202-101500F_20261203-101500I",
        ] {
            assert!(is_backup_label(good), "{good}");
        }
        for bad in [
            "20261202-101500",
            "20261202101500F",
            "20261202-101500D",
            "20261202-101500F_20261203-101500F",
            "x",
        ] {
            assert!(!is_backup_label(bad), "{bad}");
        }
    }
}
