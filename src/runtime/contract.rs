//! The official image's environment contract for first-start initialisation, plus the entrypoint's own
//! process settings, parsed and validated before anything is written.
//!
//! `*_FILE` variants read a secret from a file (Docker and Kubernetes secrets); setting both a variable
//! and its `_FILE` twin is an error, as is a file that is missing, unreadable, empty or implausibly large.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::signals::{self, ShutdownMode};
use crate::config::{DEFAULT_PGDATA, DEFAULT_USER};

pub const DEFAULT_INITDB_DIR: &str = "/docker-entrypoint-initdb.d";
/// Secrets and initdb arguments are small; a bigger file is almost certainly the wrong file.
const MAX_FILE_VALUE_BYTES: u64 = 64 * 1024;

/// Environment variables holding secrets: removed from the environment of every child that does not
/// need them (the server, initdb, psql), so no backend can read them from `/proc/self/environ`.
pub const SECRET_VARIABLES: &[&str] = &[
    "POSTGRES_PASSWORD",
    "PG_REPLICATION_PASSWORD",
    "PGBOUNCER_AUTH_PASS",
];

/// A value that must never be printed. `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub const fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the server process relates to the entrypoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessMode {
    /// Supervise when PID 1, exec otherwise.
    Auto,
    Supervise,
    Exec,
}

/// Everything the runtime needs beyond the tuning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub pgdata: PathBuf,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
    pub initdb_args: Vec<String>,
    pub waldir: Option<PathBuf>,
    pub host_auth_method: String,
    pub data_checksums: bool,
    pub initdb_dir: PathBuf,
    pub process_mode: ProcessMode,
    /// What SIGTERM (`docker stop`) means: `AZA_SIGTERM`.
    pub sigterm: ShutdownMode,
    /// How long each shutdown step may take before the next, harder one: `AZA_STOP_TIMEOUT`.
    pub stop_timeout: Duration,
}

/// One unusable variable; the message follows the variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractError {
    pub variable: String,
    pub problem: String,
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Problems that quote the value read as `VAR='value' ...`; the others as `VAR is ...`.
        let separator = if self.problem.starts_with('=') {
            ""
        } else {
            " "
        };
        write!(f, "{}{separator}{}", self.variable, self.problem)
    }
}

impl std::error::Error for ContractError {}

/// Characters PostgreSQL does not accept in an extension owner's name (the superuser owns plpgsql).
const FORBIDDEN_IN_SUPERUSER: &str = "\"$'\\";

/// Authentication methods PostgreSQL accepts in a `host` line of `pg_hba.conf`.
const HOST_AUTH_METHODS: &[&str] = &[
    "scram-sha-256",
    "md5",
    "password",
    "trust",
    "reject",
    "cert",
    "ldap",
    "radius",
    "pam",
    "gss",
    "sspi",
    "ident",
];

/// Every unusable variable one parse found, each on its own line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractErrors(pub Vec<ContractError>);

impl fmt::Display for ContractErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ContractErrors {}

/// Reads a variable: the process environment, or a test's table.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;
/// Reads a `*_FILE` file: its size, and its content unless implausibly large.
pub type ReadFile<'a> = &'a dyn Fn(&str) -> std::io::Result<(u64, Vec<u8>)>;

/// The one way every part of the contract reads the environment: an empty value counts as unset,
/// `NAME_FILE` stands in for `NAME` wherever a value may be a secret (setting both is an error), a
/// choice is compared without case, and every problem is kept, so one parse reports them all.
pub struct Reader<'a> {
    lookup: Lookup<'a>,
    read_file: ReadFile<'a>,
    problems: Vec<ContractError>,
}

impl<'a> Reader<'a> {
    pub fn new(lookup: Lookup<'a>, read_file: ReadFile<'a>) -> Reader<'a> {
        Reader {
            lookup,
            read_file,
            problems: Vec::new(),
        }
    }

    /// `name`'s value, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.is_empty())
    }

    pub fn lookup(&self) -> Lookup<'a> {
        self.lookup
    }

    pub fn read_file(&self) -> ReadFile<'a> {
        self.read_file
    }

    /// `name`'s value, else the content of the file `name_FILE` names (the official image's
    /// `file_env`); a problem (both set, a bad file) is kept and gives `None`.
    pub fn value_or_file(&mut self, name: &str) -> Option<String> {
        match env_or_file(name, self.lookup, self.read_file) {
            Ok(value) => value,
            Err(problem) => {
                self.problems.push(problem);
                None
            }
        }
    }

    /// One of `accepted` (names compared without case, blanks around ignored), `default` when unset.
    pub fn choice<T: Copy>(&mut self, name: &str, accepted: &[(&str, T)], default: T) -> T {
        // The work is in a function that is not generic, so that it is compiled once, not once per
        // kind of choice (the static binary has a size budget).
        let mut names = [""; 16];
        for (slot, (option, _)) in names.iter_mut().zip(accepted) {
            *slot = option;
        }
        match self.choice_index(name, &names[..accepted.len().min(16)]) {
            Some(index) => accepted[index].1,
            None => default,
        }
    }

    /// The index in `names` of `name`'s value; `None` when unset, or (a problem kept) not one of them.
    fn choice_index(&mut self, name: &str, names: &[&str]) -> Option<usize> {
        let raw = self.get(name)?;
        let wanted = raw.trim();
        if let Some(index) = names
            .iter()
            .position(|option| option.eq_ignore_ascii_case(wanted))
        {
            return Some(index);
        }
        self.problem(
            name,
            format!(
                "='{raw}' is not accepted: use {} (any case)",
                names.join(", ")
            ),
        );
        None
    }

    /// A whole number in `range`, `default` when unset; `what` names it for the error ("whole seconds").
    pub fn whole_number(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
        what: &str,
    ) -> u64 {
        let Some(raw) = self.get(name) else {
            return default;
        };
        match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.problem(
                    name,
                    format!(
                        "='{raw}' is not accepted: use {what}, {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    /// `name`'s value as an absolute path; `None` when unset, or (a problem kept) when relative, so
    /// that the caller's default stands in.
    pub fn absolute_path(&mut self, name: &str) -> Option<PathBuf> {
        let path = self.get(name)?;
        if path.starts_with('/') {
            return Some(PathBuf::from(path));
        }
        self.problem(name, format!("='{path}' is not an absolute path"));
        None
    }

    /// "is not set" for each of `names` that is (one set but unusable has its problem already):
    /// for variables that only work together.
    pub fn unset_of(&mut self, names: [&str; 2], together: &str) {
        for name in names {
            if self.get(name).is_none() {
                self.problem(name, format!("is not set: {together}"));
            }
        }
    }

    /// Keeps a problem; `problem` follows the variable's name (start it with `=` to quote the value).
    pub fn problem(&mut self, variable: impl Into<String>, problem: impl Into<String>) {
        self.problems.push(ContractError {
            variable: variable.into(),
            problem: problem.into(),
        });
    }

    /// Keeps a problem found by a check of its own.
    pub fn keep(&mut self, problem: ContractError) {
        self.problems.push(problem);
    }

    /// `value`, or every problem found while reading it.
    pub fn finish<T>(self, value: T) -> Result<T, ContractErrors> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ContractErrors(self.problems))
        }
    }

    pub fn into_problems(self) -> Vec<ContractError> {
        self.problems
    }
}

impl RuntimeConfig {
    /// Parses the contract through `lookup` and `read_file` (both injectable for tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
    ) -> Result<RuntimeConfig, ContractErrors> {
        let mut reader = Reader::new(&lookup, &read_file);
        let config = RuntimeConfig::read(&mut reader);
        reader.finish(config)
    }

    /// Reads the initialisation contract and the process settings; problems are kept in `r`, and the
    /// value returned then holds defaults in their place.
    pub fn read(r: &mut Reader<'_>) -> RuntimeConfig {
        let mut user = r
            .value_or_file("POSTGRES_USER")
            .unwrap_or_else(|| DEFAULT_USER.to_string());
        // The superuser owns the extensions initdb creates, and PostgreSQL refuses an extension owner
        // whose name has any of these (initdb then fails creating plpgsql); initdb's own ALTER USER
        // does not escape a double quote either. Spaces are fine.
        if let Some(bad) = user.chars().find(|c| FORBIDDEN_IN_SUPERUSER.contains(*c)) {
            r.problem(
                "POSTGRES_USER",
                format!(
                    "='{}' contains {bad:?}: PostgreSQL refuses a superuser name with any of \
                     {FORBIDDEN_IN_SUPERUSER} as the owner of the cluster's first extensions; choose \
                     a name without them (spaces are fine; the database name may have quotes)",
                    user.escape_debug()
                ),
            );
            user = DEFAULT_USER.to_string();
        }
        let password = r.value_or_file("POSTGRES_PASSWORD").map(Secret::new);
        let database = r
            .value_or_file("POSTGRES_DB")
            .unwrap_or_else(|| user.clone());
        let initdb_args = r
            .value_or_file("POSTGRES_INITDB_ARGS")
            .map(|args| args.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        // pg_hba.conf itself takes the method in lower case only.
        let methods: Vec<(&str, &str)> = HOST_AUTH_METHODS.iter().map(|m| (*m, *m)).collect();
        let host_auth_method = r
            .choice("POSTGRES_HOST_AUTH_METHOD", &methods, "scram-sha-256")
            .to_string();
        let data_checksums = !r.choice(
            "DISABLE_DATA_CHECKSUMS",
            &[("true", true), ("false", false)],
            false,
        );
        let process_mode = r.choice(
            "AZA_PROCESS_MODE",
            &[
                ("auto", ProcessMode::Auto),
                ("supervise", ProcessMode::Supervise),
                ("exec", ProcessMode::Exec),
            ],
            ProcessMode::Auto,
        );
        let sigterm = r.choice(
            "AZA_SIGTERM",
            &[("fast", ShutdownMode::Fast), ("smart", ShutdownMode::Smart)],
            ShutdownMode::Fast,
        );
        let stop_timeout = r.whole_number(
            "AZA_STOP_TIMEOUT",
            1..=3600,
            u64::from(signals::default_stop_timeout_seconds(sigterm)),
            "whole seconds per shutdown step (smart, fast, immediate)",
        );
        let pgdata = r
            .absolute_path("PGDATA")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PGDATA));
        let waldir = r.absolute_path("POSTGRES_INITDB_WALDIR");
        let initdb_dir = r
            .absolute_path("AZA_INITDB_DIR")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_INITDB_DIR));

        RuntimeConfig {
            pgdata,
            user,
            password,
            database,
            initdb_args,
            waldir,
            host_auth_method,
            data_checksums,
            initdb_dir,
            process_mode,
            sigterm,
            stop_timeout: Duration::from_secs(stop_timeout),
        }
    }

    /// First start needs a password unless every host connection is trusted. Checked before anything
    /// is written.
    pub fn check_can_initialise(&self) -> Result<(), ContractError> {
        if self.password.is_none() && self.host_auth_method != "trust" {
            return Err(ContractError {
                variable: "POSTGRES_PASSWORD".into(),
                problem: "is not set, and the database is not initialised yet: set POSTGRES_PASSWORD (or \
                          POSTGRES_PASSWORD_FILE) for the superuser; to allow every connection without a \
                          password (not recommended) set POSTGRES_HOST_AUTH_METHOD=trust"
                    .into(),
            });
        }
        Ok(())
    }

    /// Whether the user chose the locale in `POSTGRES_INITDB_ARGS`.
    pub fn initdb_args_choose_locale(&self) -> bool {
        self.initdb_args.iter().any(|a| {
            a.starts_with("--locale") || a.starts_with("--lc-") || a.starts_with("--icu-locale")
        })
    }

    /// Whether the user chose authentication in `POSTGRES_INITDB_ARGS`.
    pub fn initdb_args_choose_auth(&self) -> bool {
        self.initdb_args
            .iter()
            .any(|a| a.starts_with("--auth") || a == "-A")
    }
}

/// `name`'s value, else the content of the file `name_FILE` names (the official image's `file_env`);
/// `None` when neither is set. Empty values count as unset; setting both is an error.
pub fn env_or_file(
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
) -> Result<Option<String>, ContractError> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    match (get(name), get(&file_var)) {
        (Some(_), Some(_)) => Err(ContractError {
            variable: format!("{name} and {file_var}"),
            problem: "are both set; set only one of them".to_string(),
        }),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => read_secret_file(&file_var, &path, &read_file).map(Some),
        (None, None) => Ok(None),
    }
}

/// A variable of this process's environment (lossily decoded), for the `lookup` parameters.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// The size and (unless implausibly large) the content of a `*_FILE` file, for the `read_file` parameters.
pub fn read_value_file(path: &str) -> std::io::Result<(u64, Vec<u8>)> {
    let metadata = std::fs::metadata(path)?;
    if metadata.len() > MAX_FILE_VALUE_BYTES {
        return Ok((metadata.len(), Vec::new()));
    }
    Ok((metadata.len(), std::fs::read(path)?))
}

/// The value of a `*_FILE` variable: the file's text without one final newline.
pub(crate) fn read_secret_file(
    variable: &str,
    path: &str,
    read_file: &impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
) -> Result<String, ContractError> {
    file_value(path, read_file).map_err(|problem| ContractError {
        variable: variable.to_string(),
        problem: format!("='{path}' {problem}"),
    })
}

/// The text of the file a `*_FILE` variable names, without one final newline; the error says what
/// is wrong with it, phrased to follow "VAR='path' ".
pub(crate) fn file_value(
    path: &str,
    read_file: &impl Fn(&str) -> std::io::Result<(u64, Vec<u8>)>,
) -> Result<String, String> {
    let (size, bytes) = read_file(path).map_err(|e| format!("cannot be read: {e}"))?;
    if size > MAX_FILE_VALUE_BYTES {
        return Err(format!(
            "is {size} bytes; at most {MAX_FILE_VALUE_BYTES} are expected"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    // Editors and `echo` add a final newline that is not part of the secret.
    let value = text
        .strip_suffix('\n')
        .map(|v| v.strip_suffix('\r').unwrap_or(v))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err("is empty".to_string());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn parse(
        vars: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<RuntimeConfig, ContractError> {
        RuntimeConfig::from_lookup(fake_env(vars), fake_files(files)).map_err(|mut e| {
            assert_eq!(e.0.len(), 1, "one problem expected: {e}");
            e.0.remove(0)
        })
    }

    #[test]
    fn defaults_follow_the_official_image() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.user, "postgres");
        assert_eq!(c.database, "postgres");
        assert_eq!(c.password, None);
        assert_eq!(c.pgdata, PathBuf::from(DEFAULT_PGDATA));
        assert_eq!(c.host_auth_method, "scram-sha-256");
        assert!(c.data_checksums);
        assert_eq!(c.initdb_dir, PathBuf::from(DEFAULT_INITDB_DIR));
        assert_eq!(
            (c.process_mode, c.sigterm),
            (ProcessMode::Auto, ShutdownMode::Fast)
        );
        assert!(c.check_can_initialise().is_err());
    }

    #[test]
    fn database_defaults_to_the_user() {
        let c = parse(
            &[("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "pw")],
            &[],
        )
        .unwrap();
        assert_eq!((c.user.as_str(), c.database.as_str()), ("app", "app"));
        assert!(c.check_can_initialise().is_ok());
    }

    #[test]
    fn file_variants_are_read_and_trimmed_of_one_newline() {
        let c = parse(
            &[("POSTGRES_PASSWORD_FILE", "/run/secrets/pw")],
            &[("/run/secrets/pw", "s3cret:\\x\n")],
        )
        .unwrap();
        assert_eq!(c.password.unwrap().expose(), "s3cret:\\x");
        let c = parse(
            &[("POSTGRES_INITDB_ARGS_FILE", "/a")],
            &[("/a", "--data-checksums  --locale=C\n")],
        )
        .unwrap();
        assert_eq!(c.initdb_args, ["--data-checksums", "--locale=C"]);
        assert!(c.initdb_args_choose_locale());
    }

    #[test]
    fn bad_file_variants_are_clear_errors() {
        let e = parse(
            &[("POSTGRES_PASSWORD", "a"), ("POSTGRES_PASSWORD_FILE", "/x")],
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are both set; set only one of them"
        );
        let e = parse(&[("POSTGRES_PASSWORD_FILE", "/missing")], &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("POSTGRES_PASSWORD_FILE='/missing' cannot be read"),
            "{e}"
        );
        let e = parse(&[("POSTGRES_PASSWORD_FILE", "/empty")], &[("/empty", "\n")]).unwrap_err();
        assert_eq!(e.to_string(), "POSTGRES_PASSWORD_FILE='/empty' is empty");
        let big = "x".repeat(70 * 1024);
        let e = parse(&[("POSTGRES_USER_FILE", "/big")], &[("/big", &big)]).unwrap_err();
        assert!(e.to_string().contains("71680 bytes"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = parse(&[("POSTGRES_PASSWORD", "hunter2")], &[]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_superuser_name_postgresql_refuses_is_an_error_and_spaces_are_kept() {
        let c = parse(&[("POSTGRES_USER", "app user")], &[]).unwrap();
        assert_eq!(
            (c.user.as_str(), c.database.as_str()),
            ("app user", "app user")
        );
        for bad in ["app \"user\"", "o'neil", "a$b", "back\\slash"] {
            let e = parse(&[("POSTGRES_USER", bad)], &[]).unwrap_err();
            assert_eq!(e.variable, "POSTGRES_USER");
            assert!(
                e.to_string()
                    .contains("PostgreSQL refuses a superuser name"),
                "{e}"
            );
        }
        // The database name is quoted by the entrypoint itself: a double quote is fine there.
        let c = parse(&[("POSTGRES_DB", "my 'db\" name")], &[]).unwrap();
        assert_eq!(c.database, "my 'db\" name");
    }

    #[test]
    fn bad_process_settings_are_errors() {
        for (name, value) in [
            ("AZA_PROCESS_MODE", "daemon"),
            ("AZA_SIGTERM", "immediate"),
            ("POSTGRES_HOST_AUTH_METHOD", "scram"),
            ("DISABLE_DATA_CHECKSUMS", "yes"),
            ("PGDATA", "relative/dir"),
            ("POSTGRES_INITDB_WALDIR", "wal"),
        ] {
            let e = parse(&[(name, value)], &[]).unwrap_err();
            assert!(
                e.to_string().starts_with(name) && e.to_string().contains(value),
                "{e}"
            );
        }
        let c = parse(
            &[
                ("AZA_PROCESS_MODE", "exec"),
                ("AZA_SIGTERM", "smart"),
                ("POSTGRES_HOST_AUTH_METHOD", "trust"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            (c.process_mode, c.sigterm),
            (ProcessMode::Exec, ShutdownMode::Smart)
        );
        assert!(c.check_can_initialise().is_ok());
    }
}
