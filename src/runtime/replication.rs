//! Streaming replication and PgBouncer authentication: the settings, parsed and validated before
//! anything is written, and what a primary's first start adds to the new cluster (pure text: SQL and
//! `pg_hba.conf` rules). The bootstrap of a replica is in [`super::replica`].
//!
//! - `POSTGRES_ROLE`: `primary` (default), `replica`, or `ha` (a Patroni node, see [`crate::ha`]).
//! - A primary with `PG_REPLICATION_PASSWORD` gets the replication role `PG_REPLICATION_USER`
//!   (default `replicator`) and the physical slot `REPLICATION_SLOT_NAME` (default `replica_slot_1`);
//!   with `PGBOUNCER_AUTH_PASS` (or `PGBOUNCER_AUTH=certificate`) it gets the role `pgbouncer_auth` and
//!   the function `pgbouncer_lookup` PgBouncer's `auth_query` calls.
//! - A replica needs `PRIMARY_HOST` and `PG_REPLICATION_PASSWORD`; `PRIMARY_PORT` defaults to 5432 and
//!   `AZA_PRIMARY_WAIT_SECONDS` (default 120) bounds the wait for the primary.
//!
//! Passwords reach the server only inside a 0600 SQL file that psql reads from a private directory,
//! in a session that first turns off statement logging, pgaudit and utility-statement tracking, so
//! they appear in no argv, log or statistics view.

use std::time::Duration;

use super::contract::{ContractError, ContractErrors, Reader, Secret};
use crate::config::parse_listen_addresses;
use crate::ha::HaSetup;

pub const DEFAULT_REPLICATION_USER: &str = "replicator";
pub const DEFAULT_SLOT: &str = "replica_slot_1";
pub const DEFAULT_PRIMARY_PORT: u16 = 5432;
pub const DEFAULT_PRIMARY_WAIT: Duration = Duration::from_secs(120);
/// The role PgBouncer logs in as to run its `auth_query`.
pub const PGBOUNCER_AUTH_USER: &str = "pgbouncer_auth";
/// Where replication and PgBouncer connections may come from: loopback and the private IPv4 ranges
/// container networks use.
pub const TRUSTED_NETWORKS: [&str; 5] = [
    "127.0.0.1/32",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
];
/// Databases that get `pgbouncer_lookup`: PgBouncer 1.18 runs `auth_query` in the database the
/// client asked for, and databases created later are copies of `template1`.
pub const LOOKUP_DATABASES: [&str; 2] = ["template1", "postgres"];

/// The replication role and slot a primary creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationUser {
    pub name: String,
    pub password: Secret,
    pub slot: String,
}

/// How `pgbouncer_auth` logs in to the server (`PGBOUNCER_AUTH`), read once for the server's
/// container and PgBouncer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgbouncerLogin {
    /// `password` (the default): SCRAM with `PGBOUNCER_AUTH_PASS`, which PgBouncer must keep in its
    /// `userlist.txt` to answer the server's challenge.
    Password(Secret),
    /// `certificate`: a TLS client certificate whose common name is `pgbouncer_auth`, signed by the
    /// server's `POSTGRES_TLS_CA_FILE`; the role has no password, and no file holds one.
    Certificate,
}

impl PgbouncerLogin {
    /// `PGBOUNCER_AUTH` and `PGBOUNCER_AUTH_PASS[_FILE]`; `None` when PgBouncer is not set up.
    pub fn read(r: &mut Reader<'_>) -> Option<PgbouncerLogin> {
        let certificate = r.choice(
            "PGBOUNCER_AUTH",
            &[("password", false), ("certificate", true)],
            false,
        );
        let password = r.value_or_file("PGBOUNCER_AUTH_PASS").map(Secret::new);
        match (certificate, password) {
            (false, password) => password.map(PgbouncerLogin::Password),
            (true, None) => Some(PgbouncerLogin::Certificate),
            (true, Some(_)) => {
                r.problem(
                    "PGBOUNCER_AUTH_PASS",
                    "is set, and PGBOUNCER_AUTH=certificate gives pgbouncer_auth no password: \
                     remove it",
                );
                Some(PgbouncerLogin::Certificate)
            }
        }
    }

    /// The connection type and method of its `pg_hba` rules; `host` is the other rules' type.
    pub fn hba_rule<'a>(&self, host: &'a str) -> (&'a str, &'static str) {
        match self {
            PgbouncerLogin::Password(_) => (host, "scram-sha-256"),
            // PostgreSQL's `cert`: TLS only, the certificate's CN must be the role's name.
            PgbouncerLogin::Certificate => ("hostssl", "cert"),
        }
    }
}

/// What a primary's first start sets up besides the official image's contract.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrimarySetup {
    pub replication: Option<ReplicationUser>,
    pub pgbouncer: Option<PgbouncerLogin>,
}

impl PrimarySetup {
    pub fn is_empty(&self) -> bool {
        self.replication.is_none() && self.pgbouncer.is_none()
    }
}

/// Where a replica copies its cluster from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSource {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub slot: String,
    pub wait: Duration,
    /// `PG_REPLICATION_SSLMODE` (libpq's `sslmode`, default `prefer`).
    pub sslmode: &'static str,
    /// `PG_REPLICATION_SSLROOTCERT`: the CA that `verify-ca` and `verify-full` check the primary's
    /// certificate against.
    pub sslrootcert: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary(PrimarySetup),
    Replica(ReplicaSource),
    /// A node of a Patroni cluster: Patroni decides, and changes, whether it leads or follows.
    Ha(HaSetup),
}

/// What `POSTGRES_ROLE` says this container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Primary,
    Replica,
    Ha,
}

impl Role {
    /// Parses the replication settings; `lookup` and `read_file` as in
    /// [`super::contract::RuntimeConfig::from_lookup`].
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
    ) -> Result<Role, ContractErrors> {
        let mut reader = Reader::new(&lookup, &read_file);
        let pgbouncer = PgbouncerLogin::read(&mut reader);
        let role = Role::read(&mut reader, pgbouncer);
        reader.finish(role)
    }

    /// Reads `POSTGRES_ROLE` and what that role needs; problems are kept in `r`. PgBouncer's login
    /// is read once by the caller, since `aza-pgbouncer` needs it too.
    pub fn read(r: &mut Reader<'_>, pgbouncer: Option<PgbouncerLogin>) -> Role {
        let user = match r.get("PG_REPLICATION_USER") {
            None => DEFAULT_REPLICATION_USER.to_string(),
            Some(name) => check_role_name("PG_REPLICATION_USER", &name).unwrap_or_else(|problem| {
                r.keep(problem);
                DEFAULT_REPLICATION_USER.to_string()
            }),
        };
        let slot = match r.get("REPLICATION_SLOT_NAME") {
            None => DEFAULT_SLOT.to_string(),
            Some(name) => check_slot_name(&name).unwrap_or_else(|problem| {
                r.keep(problem);
                DEFAULT_SLOT.to_string()
            }),
        };
        let password = r.value_or_file("PG_REPLICATION_PASSWORD").map(Secret::new);
        let kind = r.choice(
            "POSTGRES_ROLE",
            &[
                ("primary", RoleKind::Primary),
                ("replica", RoleKind::Replica),
                ("ha", RoleKind::Ha),
            ],
            RoleKind::Primary,
        );
        if kind == RoleKind::Ha {
            return Role::Ha(HaSetup::read(r, user, password, pgbouncer));
        }
        if kind == RoleKind::Primary {
            return Role::Primary(PrimarySetup {
                replication: password.map(|password| ReplicationUser {
                    name: user,
                    password,
                    slot,
                }),
                pgbouncer,
            });
        }
        let host = match r.get("PRIMARY_HOST") {
            None => {
                r.problem(
                    "PRIMARY_HOST",
                    "is not set, and POSTGRES_ROLE=replica needs it: set it to the primary's host name or \
                     address",
                );
                String::new()
            }
            Some(host) => check_host(&host).unwrap_or_else(|problem| {
                r.keep(problem);
                String::new()
            }),
        };
        let port = r.whole_number(
            "PRIMARY_PORT",
            1..=65_535,
            DEFAULT_PRIMARY_PORT.into(),
            "a TCP port",
        ) as u16;
        let password = password.unwrap_or_else(|| {
            r.problem(
                "PG_REPLICATION_PASSWORD",
                format!(
                    "is not set, and POSTGRES_ROLE=replica needs it: set it (or \
                     PG_REPLICATION_PASSWORD_FILE) to the password of {user} on the primary"
                ),
            );
            Secret::new(String::new())
        });
        let wait = Duration::from_secs(r.whole_number(
            "AZA_PRIMARY_WAIT_SECONDS",
            1..=86_400,
            DEFAULT_PRIMARY_WAIT.as_secs(),
            "whole seconds",
        ));
        let sslmode = r.choice(
            "PG_REPLICATION_SSLMODE",
            &crate::pgbouncer::SSLMODES.map(|mode| (mode, mode)),
            "prefer",
        );
        let sslrootcert = r.absolute_path("PG_REPLICATION_SSLROOTCERT");
        if sslmode.starts_with("verify-") && sslrootcert.is_none() {
            r.problem(
                "PG_REPLICATION_SSLROOTCERT",
                format!(
                    "is not set, and PG_REPLICATION_SSLMODE={sslmode} needs it: the CA of the \
                     primary's certificate (a generated one's: PGDATA/tls/ca.crt)"
                ),
            );
        }
        Role::Replica(ReplicaSource {
            host,
            port,
            user,
            password,
            slot,
            wait,
            sslmode,
            sslrootcert,
        })
    }

    pub fn kind(&self) -> RoleKind {
        match self {
            Role::Primary(_) => RoleKind::Primary,
            Role::Replica(_) => RoleKind::Replica,
            Role::Ha(_) => RoleKind::Ha,
        }
    }
}

fn check_role_name(variable: &str, name: &str) -> Result<String, ContractError> {
    let valid = name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(ContractError {
            variable: variable.into(),
            problem: format!(
                "='{name}' is not accepted: use letters, digits and underscores, starting with a letter \
                 or underscore, at most 63 characters"
            ),
        })
    }
}

/// PostgreSQL accepts only lower-case letters, digits and underscores in slot names, at most 63.
fn check_slot_name(name: &str) -> Result<String, ContractError> {
    let valid = name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(ContractError {
            variable: "REPLICATION_SLOT_NAME".into(),
            problem: format!(
                "='{name}' is not accepted: PostgreSQL slot names are lower-case letters, digits and \
                 underscores (^[a-z0-9_]+$), at most 63 characters"
            ),
        })
    }
}

fn check_host(host: &str) -> Result<String, ContractError> {
    match parse_listen_addresses(host) {
        Ok(parsed) if !parsed.contains(',') && parsed != "*" => Ok(parsed),
        _ => Err(ContractError {
            variable: "PRIMARY_HOST".into(),
            problem: format!("='{host}' is not accepted: use one host name or IP address"),
        }),
    }
}

/// `"name"` with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled; the session sets `standard_conforming_strings`, so backslashes
/// are plain characters.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Session settings that keep the statements that follow out of the server log, pgaudit and the
/// statement statistics. Each is set on its own and a failure ignored: an extension that is not
/// loaded leaves a harmless placeholder, one that forbids changing its setting keeps it.
const QUIET_SESSION: &str = "\
SET standard_conforming_strings = on;
DO $quiet$
DECLARE
    setting text[];
BEGIN
    FOREACH setting SLICE 1 IN ARRAY ARRAY[
        ['log_statement', 'none'],
        ['log_min_error_statement', 'panic'],
        ['log_min_duration_statement', '-1'],
        ['log_min_duration_sample', '-1'],
        ['log_transaction_sample_rate', '0'],
        ['pgaudit.log', 'none'],
        ['pg_stat_statements.track_utility', 'off'],
        ['pg_stat_monitor.pgsm_track_utility', 'off']
    ] LOOP
        BEGIN
            PERFORM pg_catalog.set_config(setting[1], setting[2], false);
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;
END
$quiet$;
";

/// The psql script a primary's first start runs in database `postgres` (its `\connect`s reach the
/// other databases that get `pgbouncer_lookup`). `databases` are those, beyond
/// [`LOOKUP_DATABASES`], that exist at that point (`POSTGRES_DB`).
pub fn primary_setup_sql(setup: &PrimarySetup, extra_database: &str) -> String {
    let mut sql = String::from(QUIET_SESSION);
    if let Some(replication) = &setup.replication {
        sql.push_str(&format!(
            "CREATE ROLE {} WITH REPLICATION LOGIN NOINHERIT CONNECTION LIMIT 5 PASSWORD {};\n\
             SELECT pg_catalog.pg_create_physical_replication_slot({});\n",
            quote_ident(&replication.name),
            quote_literal(replication.password.expose()),
            quote_literal(&replication.slot),
        ));
    }
    if let Some(login) = &setup.pgbouncer {
        let password = match login {
            PgbouncerLogin::Password(password) => {
                format!(" PASSWORD {}", quote_literal(password.expose()))
            }
            PgbouncerLogin::Certificate => String::new(),
        };
        sql.push_str(&format!(
            "CREATE ROLE {PGBOUNCER_AUTH_USER} WITH LOGIN NOINHERIT CONNECTION LIMIT 10{password};\n"
        ));
        let mut databases: Vec<&str> = LOOKUP_DATABASES.to_vec();
        if !databases.contains(&extra_database) {
            databases.push(extra_database);
        }
        for database in databases {
            // psql's \connect takes a single-quoted word; quotes and backslashes are escaped.
            let word = database.replace('\\', "\\\\").replace('\'', "\\'");
            sql.push_str(&format!("\\connect '{word}'\n{LOOKUP_FUNCTION}"));
        }
    }
    sql
}

/// PgBouncer's `auth_query` target: returns the name and SCRAM verifier of one role, or no row for
/// an unknown one (a set-returning function: a plain one would return a row of NULLs, which PgBouncer
/// reports as a configuration error). It runs with its
/// owner's (the superuser's) rights but a fixed `search_path`, and only `pgbouncer_auth` may call it.
/// Superusers get no row: their verifiers stay out of reach of whoever holds PgBouncer's password
/// (an offline guess needs only the verifier), and a superuser has no business in a pool. Nor does
/// `pgbouncer_auth` itself: logged in by certificate it has no password, and a client must not log
/// in to PgBouncer as the role that may read every verifier.
const LOOKUP_FUNCTION: &str = "\
CREATE OR REPLACE FUNCTION public.pgbouncer_lookup(user_name text)
    RETURNS TABLE (usename name, passwd text)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog
AS $lookup$
    SELECT usename, passwd FROM pg_catalog.pg_shadow
    WHERE usename = user_name AND NOT usesuper AND usename <> 'pgbouncer_auth'
$lookup$;
REVOKE ALL ON FUNCTION public.pgbouncer_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.pgbouncer_lookup(text) TO pgbouncer_auth;
";

/// The `pg_hba.conf` lines for the roles of `setup`, from loopback and the private ranges.
pub fn primary_hba_rules(setup: &PrimarySetup) -> String {
    let mut rules = String::new();
    if let Some(replication) = &setup.replication {
        rules.push_str(&replication_hba_rules(&replication.name));
    }
    if let Some(login) = &setup.pgbouncer {
        let (host, method) = login.hba_rule("host");
        rules.push_str("# PgBouncer's auth_query (PGBOUNCER_AUTH)\n");
        for network in TRUSTED_NETWORKS {
            rules.push_str(&format!(
                "{host} all {PGBOUNCER_AUTH_USER} {network} {method}\n"
            ));
        }
    }
    rules
}

/// The rules that let `user` stream from loopback and the private ranges.
pub fn replication_hba_rules(user: &str) -> String {
    let mut rules = String::from("# Streaming replication (PG_REPLICATION_PASSWORD)\n");
    for network in TRUSTED_NETWORKS {
        rules.push_str(&format!(
            "host replication {} {network} scram-sha-256\n",
            quote_ident(user)
        ));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn parse(vars: &[(&str, &str)]) -> Result<Role, ContractError> {
        Role::from_lookup(
            fake_env(vars),
            fake_files(&[("/run/secrets/repl", "s3cret\n")]),
        )
        .map_err(|mut e| e.0.remove(0))
    }

    #[test]
    fn a_primary_sets_up_only_what_has_a_password() {
        assert_eq!(parse(&[]).unwrap(), Role::Primary(PrimarySetup::default()));
        let Role::Primary(setup) = parse(&[
            ("POSTGRES_ROLE", "Primary"),
            ("PG_REPLICATION_PASSWORD_FILE", "/run/secrets/repl"),
            ("PGBOUNCER_AUTH_PASS", "b"),
        ])
        .unwrap() else {
            panic!("not a primary")
        };
        let replication = setup.replication.unwrap();
        assert_eq!(
            (
                replication.name.as_str(),
                replication.password.expose(),
                replication.slot.as_str()
            ),
            ("replicator", "s3cret", "replica_slot_1")
        );
        let Some(PgbouncerLogin::Password(password)) = setup.pgbouncer else {
            panic!("no PgBouncer password")
        };
        assert_eq!(password.expose(), "b");
    }

    #[test]
    fn a_replica_needs_host_and_password() {
        let e = parse(&[("POSTGRES_ROLE", "replica")]).unwrap_err();
        assert!(e.to_string().starts_with("PRIMARY_HOST is not set"), "{e}");
        let e = parse(&[("POSTGRES_ROLE", "replica"), ("PRIMARY_HOST", "db")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("PG_REPLICATION_PASSWORD is not set"),
            "{e}"
        );
        let replica = parse(&[
            ("POSTGRES_ROLE", "replica"),
            ("PRIMARY_HOST", "primary.internal"),
            ("PRIMARY_PORT", "5433"),
            ("PG_REPLICATION_PASSWORD", "x"),
            ("REPLICATION_SLOT_NAME", "r2"),
            ("AZA_PRIMARY_WAIT_SECONDS", "5"),
        ])
        .unwrap();
        assert_eq!(
            replica,
            Role::Replica(ReplicaSource {
                host: "primary.internal".into(),
                port: 5433,
                user: "replicator".into(),
                password: Secret::new("x".into()),
                slot: "r2".into(),
                wait: Duration::from_secs(5),
                sslmode: "prefer",
                sslrootcert: None,
            })
        );
    }

    #[test]
    fn a_replica_verifies_its_primary_only_with_a_ca() {
        let base = [
            ("POSTGRES_ROLE", "replica"),
            ("PRIMARY_HOST", "db"),
            ("PG_REPLICATION_PASSWORD", "x"),
            ("PG_REPLICATION_SSLMODE", "verify-full"),
        ];
        let problem = parse(&base).unwrap_err().to_string();
        assert!(
            problem.starts_with("PG_REPLICATION_SSLROOTCERT is not set"),
            "{problem}"
        );
        let mut with_ca = base.to_vec();
        with_ca.push(("PG_REPLICATION_SSLROOTCERT", "/certs/ca.crt"));
        let Role::Replica(source) = parse(&with_ca).unwrap() else {
            panic!("not a replica");
        };
        assert_eq!(source.sslmode, "verify-full");
        assert_eq!(
            source.sslrootcert.as_deref(),
            Some(std::path::Path::new("/certs/ca.crt"))
        );
    }

    #[test]
    fn bad_values_name_the_variable_the_value_and_what_is_accepted() {
        let base = [
            ("POSTGRES_ROLE", "replica"),
            ("PRIMARY_HOST", "db"),
            ("PG_REPLICATION_PASSWORD", "x"),
        ];
        for (name, value, accepted) in [
            (
                "POSTGRES_ROLE",
                "standby",
                "use primary, replica, ha (any case)",
            ),
            ("PRIMARY_HOST", "a,b", "one host name"),
            ("PRIMARY_HOST", "*", "one host name"),
            ("PRIMARY_PORT", "0", "1 to 65535"),
            ("PRIMARY_PORT", "http", "1 to 65535"),
            ("REPLICATION_SLOT_NAME", "slot-1", "^[a-z0-9_]+$"),
            ("REPLICATION_SLOT_NAME", "Slot", "^[a-z0-9_]+$"),
            ("PG_REPLICATION_USER", "repl user", "letters, digits"),
            ("AZA_PRIMARY_WAIT_SECONDS", "1m", "whole seconds"),
        ] {
            let mut vars = base.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            let e = parse(&vars).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{name}='{value}' is not accepted")) && e.contains(accepted),
                "{e}"
            );
        }
    }

    #[test]
    fn primary_sql_quotes_passwords_and_keeps_them_out_of_logs() {
        let setup = PrimarySetup {
            replication: Some(ReplicationUser {
                name: "replicator".into(),
                password: Secret::new("it's\\:@&".into()),
                slot: "replica_slot_1".into(),
            }),
            pgbouncer: Some(PgbouncerLogin::Password(Secret::new("p'b".into()))),
        };
        let sql = primary_setup_sql(&setup, "app'db");
        let quiet = sql.find("['log_statement', 'none']").unwrap();
        let role = sql.find("CREATE ROLE \"replicator\"").unwrap();
        assert!(quiet < role);
        assert!(sql.contains("PASSWORD 'it''s\\:@&';"), "{sql}");
        assert!(sql.contains("pg_create_physical_replication_slot('replica_slot_1')"));
        assert!(sql.contains("CONNECTION LIMIT 10 PASSWORD 'p''b';"));
        assert_eq!(sql.matches("\\connect ").count(), 3);
        assert!(sql.contains("\\connect 'app\\'db'\n"), "{sql}");
        assert!(sql.contains("SET search_path = pg_catalog"));
        assert!(sql.contains("REVOKE ALL ON FUNCTION public.pgbouncer_lookup(text) FROM PUBLIC;"));
        assert_eq!(
            primary_setup_sql(&PrimarySetup::default(), "postgres"),
            QUIET_SESSION
        );
        // By certificate the role has no password at all.
        let by_certificate = PrimarySetup {
            replication: None,
            pgbouncer: Some(PgbouncerLogin::Certificate),
        };
        let sql = primary_setup_sql(&by_certificate, "postgres");
        assert!(sql.contains("CONNECTION LIMIT 10;\n"), "{sql}");
        assert!(!sql.contains("PASSWORD"), "{sql}");
    }

    #[test]
    fn pgbouncer_logs_in_by_password_or_by_certificate_not_both() {
        let login = |vars: &[(&str, &str)]| match Role::from_lookup(fake_env(vars), fake_files(&[]))
        {
            Ok(Role::Primary(setup)) => Ok(setup.pgbouncer),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(login(&[]), Ok(None));
        assert_eq!(
            login(&[("PGBOUNCER_AUTH", "Certificate")]),
            Ok(Some(PgbouncerLogin::Certificate))
        );
        let both = login(&[
            ("PGBOUNCER_AUTH", "certificate"),
            ("PGBOUNCER_AUTH_PASS", "b"),
        ]);
        assert!(
            both.as_ref()
                .unwrap_err()
                .contains("PGBOUNCER_AUTH_PASS is set")
                && !both.as_ref().unwrap_err().contains("'b'"),
            "{both:?}"
        );
        let typo = login(&[("PGBOUNCER_AUTH", "cert")]).unwrap_err();
        assert!(
            typo.contains("PGBOUNCER_AUTH='cert'") && typo.contains("password, certificate"),
            "{typo}"
        );
        assert_eq!(
            PgbouncerLogin::Certificate.hba_rule("host"),
            ("hostssl", "cert")
        );
    }

    #[test]
    fn hba_rules_cover_loopback_and_private_ranges() {
        let setup = PrimarySetup {
            replication: Some(ReplicationUser {
                name: "replicator".into(),
                password: Secret::new("x".into()),
                slot: "s".into(),
            }),
            pgbouncer: Some(PgbouncerLogin::Password(Secret::new("y".into()))),
        };
        let rules = primary_hba_rules(&setup);
        assert!(rules.contains("host replication \"replicator\" 172.16.0.0/12 scram-sha-256\n"));
        assert!(rules.contains("host all pgbouncer_auth ::1/128 scram-sha-256\n"));
        assert_eq!(rules.lines().filter(|l| l.starts_with("host ")).count(), 10);
        assert_eq!(primary_hba_rules(&PrimarySetup::default()), "");
    }
}
