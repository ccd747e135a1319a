//! The environment contract, read once: `main` parses it before running a command, and the start,
//! `--dry-run`, `healthcheck`, the replica bootstrap and `pgbouncer-config` all take their values from
//! the one [`Environment`], so a variable means the same to each of them (the same `*_FILE` forms, the
//! same case rules, the same defaults).

use crate::config::Config;
use crate::pgbouncer;
use crate::runtime::contract::{self, Lookup, ReadFile, Reader, RuntimeConfig, Secret};
use crate::runtime::health::{self, HealthConfig};
use crate::runtime::log::LogSettings;
use crate::runtime::replication::Role;

/// Every variable the entrypoint's commands read, typed.
#[derive(Debug)]
pub struct Environment {
    pub log: LogSettings,
    /// The tuning inputs; `None` when one of them is unusable (the problem is in `problems`).
    pub tuning: Option<Config>,
    /// The initialisation contract and the process settings.
    pub runtime: RuntimeConfig,
    /// Primary or replica, with what each needs.
    pub role: Role,
    /// `PGPORT`, when set.
    pub pgport: Option<u16>,
    pub health: HealthConfig,
    /// PgBouncer's configuration, or why there is none (no `PGBOUNCER_AUTH_PASS`), which only
    /// `pgbouncer-config` minds.
    pub pgbouncer: Result<pgbouncer::Settings, pgbouncer::SettingError>,
    /// Every unusable variable, each a line naming it, its value and what is accepted.
    pub problems: Vec<String>,
}

impl Environment {
    /// Reads everything through `lookup` and `read_file`, keeping every problem.
    pub fn read(lookup: Lookup<'_>, read_file: ReadFile<'_>) -> Environment {
        let mut r = Reader::new(lookup, read_file);
        let log = LogSettings::read(&mut r);
        let runtime = RuntimeConfig::read(&mut r);
        // Read once: the primary's first start creates pgbouncer_auth with it, and pgbouncer-config
        // writes it into PgBouncer's userlist.
        let pgbouncer_password = r.value_or_file("PGBOUNCER_AUTH_PASS").map(Secret::new);
        let role = Role::read(&mut r, pgbouncer_password.clone());
        let pgport = health::read_pgport(&mut r);
        let health = HealthConfig::read(&r, &runtime, role.kind(), pgport);
        let pgbouncer = pgbouncer::Settings::read(&mut r, pgbouncer_password);
        let (tuning, tuning_problems) = match Config::from_sources(lookup, read_file) {
            Ok(config) => (Some(config), Vec::new()),
            Err(error) => (None, error.problems),
        };
        let mut problems: Vec<String> = tuning_problems.iter().map(ToString::to_string).collect();
        problems.extend(r.into_problems().iter().map(ToString::to_string));
        Environment {
            log,
            tuning,
            runtime,
            role,
            pgport,
            health,
            pgbouncer,
            problems,
        }
    }

    /// Reads this process's environment and the files its `*_FILE` variables name.
    pub fn from_process() -> Environment {
        Environment::read(&contract::process_env, &contract::read_value_file)
    }

    /// Every problem as one message, or `None` when there is none.
    pub fn refusal(&self) -> Option<String> {
        match self.problems.as_slice() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::replication::RoleKind;
    use crate::test_support::{fake_env, fake_files};

    fn read(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Environment {
        Environment::read(&fake_env(vars), &fake_files(files))
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
                env.problems.iter().any(|p| p.starts_with(variable)),
                "{variable} missing from {:?}",
                env.problems
            );
        }
        assert!(env.refusal().unwrap().starts_with("6 problems"));
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
        assert_eq!(env.tuning.unwrap().cron_database, "app");
        assert_eq!(env.pgbouncer.unwrap().auth_password.expose(), "b");
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
