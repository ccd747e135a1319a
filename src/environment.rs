//! The environment contract, read once: `main` parses it before running a command, and the start,
//! `--dry-run`, `healthcheck`, the replica bootstrap and `aza-pgbouncer` all take their values from
//! the one [`Environment`], so a variable means the same to each of them (the same `*_FILE` forms, the
//! same case rules, the same defaults).

use crate::backup::BackupSettings;
use crate::config::Config;
use crate::pgbouncer;
use crate::runtime::contract::{self, Lookup, ReadFile, Reader, RuntimeConfig};
use crate::runtime::health::{self, HealthConfig};
use crate::runtime::log::LogSettings;
use crate::runtime::replication::{PgbouncerLogin, Role};
use crate::tls::TlsSettings;

/// Every variable the entrypoint's commands read, typed.
#[derive(Debug)]
pub struct Environment {
    pub log: LogSettings,
    /// The tuning inputs, with defaults in place of unusable ones (then `tuning_usable` is false and
    /// the problems are in `problems`): a start refuses, but its other checks still run on these.
    pub tuning: Config,
    pub tuning_usable: bool,
    /// The initialisation contract and the process settings.
    pub runtime: RuntimeConfig,
    /// Primary or replica, with what each needs.
    pub role: Role,
    /// `PGPORT`, when set.
    pub pgport: Option<u16>,
    pub health: HealthConfig,
    /// How `pgbouncer_auth` logs in (`PGBOUNCER_AUTH`, `PGBOUNCER_AUTH_PASS`), when PgBouncer is set
    /// up: the primary creates the role for it, every server's network rules admit it.
    pub pgbouncer_login: Option<PgbouncerLogin>,
    /// PgBouncer's configuration, or why there is none (no `PGBOUNCER_AUTH_PASS`), which only
    /// `aza-pgbouncer` minds.
    pub pgbouncer: Result<pgbouncer::Settings, pgbouncer::SettingError>,
    /// Backups and restore: `PGBACKREST_STANZA` and the repositories, `AZA_RESTORE_*`.
    pub backup: BackupSettings,
    /// Every unusable variable, each naming it, its value and what is accepted.
    pub problems: Vec<Problem>,
}

/// One unusable variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable, as the message names it (`X`, `X_FILE`, or `X and X_FILE`).
    pub variable: String,
    /// The whole message.
    pub text: String,
}

impl Problem {
    /// The variable without a `_FILE` suffix: what the problem is about.
    fn subject(&self) -> &str {
        let first = self.variable.split_whitespace().next().unwrap_or("");
        first.strip_suffix("_FILE").unwrap_or(first)
    }
}

/// What a command reads, so that it refuses only its own problems: PgBouncer's container, say, may
/// share an env file naming a secret only the server's container has mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    /// A start and its dry run: every variable.
    Everything,
    /// `healthcheck`: where and as whom to connect, and the role.
    Healthcheck,
    /// `aza-pgbouncer`: PgBouncer's variables and the server's address.
    Pgbouncer,
    /// The backup sidecar (`aza-backup`): pgBackRest's variables and where the cluster is (its
    /// schedule, `AZA_BACKUP_*_SCHEDULE`, is its own).
    Backup,
}

impl Uses {
    fn reads(self, subject: &str) -> bool {
        let own: &[&str] = match self {
            Uses::Everything => return true,
            Uses::Healthcheck => &[
                "PGHOST",
                "PGPORT",
                "PGUSER",
                "PGDATABASE",
                "POSTGRES_USER",
                "POSTGRES_DB",
                "POSTGRES_ROLE",
            ],
            Uses::Pgbouncer => &["POSTGRES_HOST", "POSTGRES_PORT"],
            Uses::Backup => &["PGDATA", "PGPORT", "POSTGRES_USER"],
        };
        let prefixes: &[&str] = match self {
            Uses::Pgbouncer => &["PGBOUNCER_"],
            Uses::Backup => &["PGBACKREST_", "AZA_BACKUP_"],
            _ => &[],
        };
        subject.starts_with("AZA_LOG_")
            || own.contains(&subject)
            || prefixes.iter().any(|prefix| subject.starts_with(prefix))
    }
}

impl Environment {
    /// Reads everything through `lookup` and `read_file`, keeping every problem; `names` are the
    /// names of every variable set (pgBackRest's options are passed on whatever they are).
    pub fn read(lookup: Lookup<'_>, read_file: ReadFile<'_>, names: &[String]) -> Environment {
        let mut r = Reader::new(lookup, read_file);
        let log = LogSettings::read(&mut r);
        let runtime = RuntimeConfig::read(&mut r);
        // Read once: the primary's first start creates pgbouncer_auth with it, and aza-pgbouncer
        // writes its password (if it has one) into PgBouncer's userlist.
        let pgbouncer_login = PgbouncerLogin::read(&mut r);
        let mut role = Role::read(&mut r, pgbouncer_login.clone());
        let pgport = health::read_pgport(&mut r);
        let health = HealthConfig::read(&r, &runtime, role.kind(), pgport);
        let pgbouncer = pgbouncer::Settings::read(&mut r, pgbouncer_login.clone());
        let backup = BackupSettings::read(&mut r, names);
        let tls = TlsSettings::read(&mut r);
        if let Role::Ha(ha) = &mut role {
            ha.tls = tls.mode;
            if let Some(crate::tls::Certificates::Mounted { ca, .. }) = &tls.certificates {
                ha.tls_ca.clone_from(ca);
            }
        }
        let audit_log = crate::audit::read_log(&mut r);
        check_restore_fits(&mut r, &backup, &role, &runtime);
        check_ha_fits(&mut r, &backup, &role, &runtime, &tls);
        check_pgbouncer_certificate(&mut r, pgbouncer_login.as_ref(), &tls);
        let (tuning, tuning_problems) = Config::read_with_defaults(lookup);
        let tuning_usable = tuning_problems.is_empty();
        let tuning_problems = tuning_problems.iter().map(|p| Problem {
            variable: p.variable.to_string(),
            text: p.to_string(),
        });
        let contract_problems = r.into_problems().into_iter().map(|p| Problem {
            text: p.to_string(),
            variable: p.variable,
        });
        let problems: Vec<Problem> = tuning_problems.chain(contract_problems).collect();
        // pg_cron's database is the one the first start creates, exactly as the contract read it.
        let tuning = Config {
            cron_database: runtime.database.clone(),
            archive_stanza: backup.backups.as_ref().map(|b| b.stanza.clone()),
            tls,
            audit_log,
            ..tuning
        };
        Environment {
            log,
            tuning,
            tuning_usable,
            runtime,
            role,
            pgport,
            health,
            pgbouncer_login,
            pgbouncer,
            backup,
            problems,
        }
    }

    /// Reads this process's environment and the files its `*_FILE` variables name.
    pub fn from_process() -> Environment {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        Environment::read(&contract::process_env, &contract::read_value_file, &names)
    }

    /// The problems a command that `uses` these variables must refuse, each as one line.
    pub fn problems_for(&self, uses: Uses) -> Vec<String> {
        self.problems
            .iter()
            .filter(|p| uses.reads(p.subject()))
            .map(|p| p.text.clone())
            .collect()
    }

    /// Those problems as one message, or `None` when there is none.
    pub fn refusal(&self, uses: Uses) -> Option<String> {
        match self.problems_for(uses).as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(format!(
                "{} problems with the environment:\n  - {}",
                many.len(),
                many.join("\n  - ")
            )),
        }
    }
}

/// `PGBOUNCER_AUTH=certificate` needs TLS and the CA that verifies PgBouncer's client certificate.
/// Named after the server's variable, so that PgBouncer's container (which shares the setting but
/// not the server's files) is not refused for it.
fn check_pgbouncer_certificate(
    r: &mut Reader<'_>,
    login: Option<&PgbouncerLogin>,
    tls: &TlsSettings,
) {
    let client_ca = matches!(
        tls.certificates,
        Some(crate::tls::Certificates::Mounted { ca: Some(_), .. })
    );
    if login == Some(&PgbouncerLogin::Certificate) && !client_ca {
        r.problem(
            "POSTGRES_TLS_CA_FILE",
            "with POSTGRES_TLS=on or required and mounted certificates is what \
             PGBOUNCER_AUTH=certificate needs: the CA that signed PgBouncer's client certificate \
             (CN pgbouncer_auth)",
        );
    }
}

/// An HA node needs the superuser's password (`pg_rewind` connects to the leader with it), and its
/// backups are not built yet: refused rather than half done.
fn check_ha_fits(
    r: &mut Reader<'_>,
    backup: &BackupSettings,
    role: &Role,
    runtime: &RuntimeConfig,
    tls: &TlsSettings,
) {
    if !matches!(role, Role::Ha(_)) {
        return;
    }
    if let Some(crate::tls::Certificates::Generated { .. }) = tls.certificates {
        r.problem(
            "POSTGRES_TLS_GENERATE",
            "=true with POSTGRES_ROLE=ha cannot be (Patroni copies one node's PGDATA to the \
             others): mount one CA's certificates on every node",
        );
    }
    if tls.refuse_network_superuser {
        r.problem(
            "POSTGRES_NETWORK_SUPERUSER",
            "=refuse with POSTGRES_ROLE=ha cannot be: Patroni's pg_rewind connects to the leader as \
             the superuser over the network",
        );
    }
    if runtime.password.is_none() {
        r.problem(
            "POSTGRES_PASSWORD",
            "is not set, and POSTGRES_ROLE=ha needs it: Patroni connects as the superuser to rewind a former leader; set it (or POSTGRES_PASSWORD_FILE), the same on every node",
        );
    }
    // Patroni 4.1 quotes the passwords it sets through psycopg, which fails on any non-ASCII
    // character (UnicodeDecodeError in post_bootstrap, and the bootstrap is thrown away).
    let passwords = [
        ("POSTGRES_PASSWORD", runtime.password.as_ref()),
        (
            "PG_REPLICATION_PASSWORD",
            match role {
                Role::Ha(ha) => Some(&ha.replication_password),
                _ => None,
            },
        ),
    ];
    for (variable, password) in passwords {
        if password.is_some_and(|p| !p.expose().is_ascii()) {
            r.problem(
                variable,
                "has a non-ASCII character, which Patroni 4.1 cannot set as a password \
                 (POSTGRES_ROLE=ha): use ASCII letters, digits and punctuation",
            );
        }
    }
    if backup.backups.is_some() {
        r.problem(
            "PGBACKREST_STANZA",
            "is set, and POSTGRES_ROLE=ha does not archive with pgBackRest yet: unset it for the HA \
             mode (back up the leader from a sidecar with its own stanza)",
        );
    }
}

/// A restore makes a primary from a backup into the data directory alone.
fn check_restore_fits(
    r: &mut Reader<'_>,
    backup: &BackupSettings,
    role: &Role,
    runtime: &RuntimeConfig,
) {
    if backup.restore.is_none() {
        return;
    }
    let variable = match r.get("AZA_RESTORE_TARGET_TIME") {
        Some(_) => "AZA_RESTORE_TARGET_TIME",
        None => "AZA_RESTORE_SET",
    };
    if matches!(role, Role::Replica(_)) {
        r.problem(
            variable,
            "is set, and POSTGRES_ROLE=replica: a replica copies its primary; restore a primary \
             (POSTGRES_ROLE=primary), then start replicas of it",
        );
    }
    if runtime.waldir.is_some() {
        r.problem(
            variable,
            "is set, and POSTGRES_INITDB_WALDIR too: a restore puts pg_wal in the data directory; \
             unset POSTGRES_INITDB_WALDIR for the restore (moving pg_wal later is a manual step)",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::replication::RoleKind;
    use crate::test_support::{fake_env, fake_files};

    fn read(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Environment {
        let names: Vec<String> = vars.iter().map(|(name, _)| name.to_string()).collect();
        Environment::read(&fake_env(vars), &fake_files(files), &names)
    }

    #[test]
    fn every_problem_of_every_part_is_reported_at_once() {
        let env = read(
            &[
                ("POSTGRES_MEMORY", "lots"),
                ("AZA_SIGTERM", "gentle"),
                ("POSTGRES_ROLE", "standby"),
                ("AZA_LOG_FORMAT", "xml"),
                ("PGBOUNCER_PORT", "0"),
                ("PGPORT", "99999"),
            ],
            &[],
        );
        for variable in [
            "POSTGRES_MEMORY",
            "AZA_SIGTERM",
            "POSTGRES_ROLE",
            "AZA_LOG_FORMAT",
            "PGBOUNCER_PORT",
            "PGPORT",
        ] {
            assert!(
                env.problems.iter().any(|p| p.text.starts_with(variable)),
                "{variable} missing from {:?}",
                env.problems
            );
        }
        assert!(env
            .refusal(Uses::Everything)
            .unwrap()
            .starts_with("6 problems"));
        // Each tool refuses what it reads (and the log settings), not the rest.
        let health = env.problems_for(Uses::Healthcheck);
        assert_eq!(health.len(), 3, "{health:?}");
        assert!(health.iter().any(|p| p.starts_with("POSTGRES_ROLE")));
        assert!(health.iter().any(|p| p.starts_with("PGPORT")));
        let bouncer = env.problems_for(Uses::Pgbouncer);
        assert_eq!(bouncer.len(), 2, "{bouncer:?}");
        assert!(bouncer.iter().any(|p| p.starts_with("PGBOUNCER_PORT")));
    }

    #[test]
    fn a_secret_only_the_server_has_mounted_does_not_stop_pgbouncer_config() {
        let env = read(
            &[
                ("POSTGRES_PASSWORD_FILE", "/run/secrets/not-here"),
                ("PGBOUNCER_AUTH_PASS", "b"),
            ],
            &[],
        );
        assert_eq!(env.problems.len(), 1, "{:?}", env.problems);
        assert!(env.refusal(Uses::Pgbouncer).is_none());
        assert!(env.refusal(Uses::Healthcheck).is_none());
        assert!(env.refusal(Uses::Everything).is_some());
    }

    #[test]
    fn every_part_reads_the_role_in_any_case_and_the_files_the_same_way() {
        let env = read(
            &[
                ("POSTGRES_ROLE", "Replica"),
                ("PRIMARY_HOST", "db"),
                ("PG_REPLICATION_PASSWORD_FILE", "/s/repl"),
                ("POSTGRES_DB_FILE", "/s/db"),
                ("PGBOUNCER_AUTH_PASS_FILE", "/s/bouncer"),
            ],
            &[
                ("/s/repl", "r\n"),
                ("/s/db", "app\n"),
                ("/s/bouncer", "b\n"),
            ],
        );
        assert!(env.problems.is_empty(), "{:?}", env.problems);
        assert_eq!(env.role.kind(), RoleKind::Replica);
        assert_eq!(env.health.role, health::Role::Replica);
        assert_eq!(env.health.target.database, "app");
        assert_eq!(env.tuning.cron_database, "app");
        let pgbouncer::ServerLogin::Password(password) = env.pgbouncer.unwrap().login else {
            panic!("not by password")
        };
        assert_eq!(password.expose(), "b");
    }

    #[test]
    fn pgbouncer_settings_without_a_password_are_no_problem_for_the_other_commands() {
        let env = read(&[], &[]);
        assert!(env.problems.is_empty(), "{:?}", env.problems);
        assert!(env
            .pgbouncer
            .unwrap_err()
            .0
            .contains("PGBOUNCER_AUTH_PASS_FILE"));
    }
}

#[cfg(test)]
mod ha_tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    #[test]
    fn an_ha_node_needs_ascii_passwords_and_no_stanza() {
        let vars = [
            ("POSTGRES_ROLE", "ha"),
            ("HOSTNAME", "pg1"),
            ("AZA_HA_ETCD_HOSTS", "etcd1:2379"),
            ("POSTGRES_PASSWORD", "pässword"),
            ("PG_REPLICATION_PASSWORD", "r"),
            ("PGBACKREST_STANZA", "main"),
        ];
        let names: Vec<String> = vars.iter().map(|(n, _)| n.to_string()).collect();
        let env = Environment::read(&fake_env(&vars), &fake_files(&[]), &names);
        let all: Vec<&str> = env.problems.iter().map(|p| p.text.as_str()).collect();
        assert!(
            all.iter()
                .any(|p| p.starts_with("POSTGRES_PASSWORD has a non-ASCII character")),
            "{all:?}"
        );
        assert!(all
            .iter()
            .any(|p| p.starts_with("PGBACKREST_STANZA is set, and POSTGRES_ROLE=ha")));
        let vars = [
            ("POSTGRES_ROLE", "ha"),
            ("HOSTNAME", "pg1"),
            ("AZA_HA_ETCD_HOSTS", "etcd1:2379"),
            ("PG_REPLICATION_PASSWORD", "r"),
        ];
        let env = Environment::read(&fake_env(&vars), &fake_files(&[]), &[]);
        assert!(
            env.problems.iter().any(|p| p
                .text
                .starts_with("POSTGRES_PASSWORD is not set, and POSTGRES_ROLE=ha")),
            "{:?}",
            env.problems
        );
    }
}
