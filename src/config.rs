//! The environment contract: parsing and validating every variable the entrypoint reads.
//!
//! Parsing is pure (it takes lookup and file-reading functions, not the process environment) and strict: a value that
//! is present but not understood is an error naming the variable, the value and what is accepted. Empty
//! values count as unset, as they do in the official image. All problems are collected, so a user with
//! three typos learns about all three at once.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::tuning::{Storage, WalLevel, Workload, MAX_MEMORY_MB};

/// Libraries preloaded when `POSTGRES_SHARED_PRELOAD_LIBRARIES` is unset: generated from the manifest's
/// `runtime.default_preload` entries, so there is no second list to drift.
pub use crate::generated::defaults::DEFAULT_SHARED_PRELOAD_LIBRARIES;
/// `listen_addresses` when `POSTGRES_BIND_IP` is unset: every address inside the container, as in the
/// official image. What reaches it is decided outside (`-p`, the container's networks) and by
/// `pg_hba.conf`, which asks every TCP connection for a password.
pub const DEFAULT_LISTEN_ADDRESSES: &str = "*";
/// `unix_socket_directories` in the image (Debian's build default), where local clients connect.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
pub const DEFAULT_PGDATA: &str = "/var/lib/postgresql/18/docker";
pub const DEFAULT_USER: &str = "postgres";

/// Where a choice came from, for the dry-run table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled in (for the preload list: the manifest's defaults, when there is no image catalog).
    Default,
    Environment,
    /// The image catalog's default (only the preload list has one).
    Image,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::Environment => "environment",
            Origin::Image => "image catalog",
        }
    }
}

/// Everything the entrypoint takes from the environment for tuning, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `POSTGRES_MEMORY` in MB; `None` means "detect".
    pub memory_mb: Option<u64>,
    /// `POSTGRES_CPUS`; `None` means "detect".
    pub cpus: Option<u32>,
    pub workload: (Workload, Origin),
    pub storage: (Storage, Origin),
    pub wal_level: (WalLevel, Origin),
    pub max_worker_processes: Option<i64>,
    pub listen_addresses: (String, Origin),
    pub shared_preload_libraries: (Vec<String>, Origin),
    /// The database `pg_cron` runs in: `POSTGRES_DB`, else `POSTGRES_USER`, else `postgres` - the
    /// database the first start creates; [`crate::environment::Environment`] replaces it with the
    /// contract's reading, which knows their `*_FILE` forms.
    pub cron_database: String,
    /// The pgBackRest stanza WAL is archived to (`PGBACKREST_STANZA`, read with the rest of the
    /// environment by [`crate::environment::Environment`]); `None`: no archiving.
    pub archive_stanza: Option<String>,
    /// TLS (`POSTGRES_TLS` and its files, read with the rest of the environment by
    /// [`crate::environment::Environment`]); off here.
    pub tls: crate::tls::TlsSettings,
    /// `POSTGRES_PGAUDIT_LOG` (see [`crate::audit`]), read with the rest of the environment.
    pub audit_log: Option<String>,
    pub pgdata: String,
}

/// One variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVariable {
    pub variable: &'static str,
    pub value: String,
    /// What is wrong and what would be accepted, phrased to follow "VAR='value' ".
    pub problem: String,
}

impl fmt::Display for InvalidVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}='{}' {}",
            self.variable,
            self.value.escape_debug(),
            self.problem
        )
    }
}

/// Every invalid variable found in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<InvalidVariable>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

const MEMORY_FORMS: &str = "expected megabytes as a whole number (2048) or a size with a unit \
    (512m, 512Mi, 512MB, 2g, 2Gi, 2GB, 1T, 1Ti; k and b also work), between 1MB and 1TiB";

impl Config {
    /// Reads the configuration through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        match Config::read_with_defaults(lookup) {
            (config, problems) if problems.is_empty() => Ok(config),
            (_, problems) => Err(ConfigError { problems }),
        }
    }

    /// [`Config::from_lookup`] that always gives a configuration: each unusable variable is
    /// reported and its default used in its place, so the other checks of a start can still run on
    /// it (such a configuration is never used to start).
    pub fn read_with_defaults(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> (Config, Vec<InvalidVariable>) {
        let mut problems = Vec::new();
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut check =
            |variable: &'static str, outcome: Result<(), String>, value: &Option<String>| {
                if let Err(problem) = outcome {
                    let value = value.clone().unwrap_or_default();
                    problems.push(InvalidVariable {
                        variable,
                        value,
                        problem,
                    });
                }
            };

        let raw = get("POSTGRES_MEMORY");
        let memory_mb = parse_optional(&raw, parse_memory_mb);
        check("POSTGRES_MEMORY", memory_mb.clone().map(drop), &raw);

        let raw_cpus = get("POSTGRES_CPUS");
        let cpus = parse_optional(&raw_cpus, parse_cpus);
        check("POSTGRES_CPUS", cpus.clone().map(drop), &raw_cpus);

        let raw_workload = get("POSTGRES_WORKLOAD_TYPE");
        let workload = parse_kind(&raw_workload, Workload::Web);
        check(
            "POSTGRES_WORKLOAD_TYPE",
            workload.clone().map(drop),
            &raw_workload,
        );

        let raw_storage = get("POSTGRES_STORAGE_TYPE");
        let storage = parse_kind(&raw_storage, Storage::Ssd);
        check(
            "POSTGRES_STORAGE_TYPE",
            storage.clone().map(drop),
            &raw_storage,
        );

        let raw_wal = get("POSTGRES_WAL_LEVEL");
        let wal_level = parse_kind(&raw_wal, WalLevel::Logical);
        check("POSTGRES_WAL_LEVEL", wal_level.clone().map(drop), &raw_wal);

        let raw_workers = get("POSTGRES_MAX_WORKER_PROCESSES");
        let workers = parse_optional(&raw_workers, parse_worker_processes);
        check(
            "POSTGRES_MAX_WORKER_PROCESSES",
            workers.clone().map(drop),
            &raw_workers,
        );

        let raw_bind = get("POSTGRES_BIND_IP");
        let listen = match &raw_bind {
            Some(value) => parse_listen_addresses(value).map(|v| (v, Origin::Environment)),
            None => Ok((DEFAULT_LISTEN_ADDRESSES.to_string(), Origin::Default)),
        };
        check("POSTGRES_BIND_IP", listen.clone().map(drop), &raw_bind);

        let raw_preload = get("POSTGRES_SHARED_PRELOAD_LIBRARIES");
        let preload = match &raw_preload {
            Some(value) => parse_library_list(value).map(|v| (v, Origin::Environment)),
            None => Ok((default_preload_libraries(), Origin::Default)),
        };
        check(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            preload.clone().map(drop),
            &raw_preload,
        );

        // The database the first start creates, so pg_cron is pointed at the same one. The `*_FILE`
        // forms are the contract's to read (`Environment` sets this from it); read once, there.
        let user = get("POSTGRES_USER").unwrap_or_else(|| DEFAULT_USER.to_string());
        let cron_database = get("POSTGRES_DB").unwrap_or(user);
        let pgdata = get("PGDATA").unwrap_or_else(|| DEFAULT_PGDATA.to_string());

        let config = Config {
            memory_mb: memory_mb.unwrap_or(None),
            cpus: cpus.unwrap_or(None),
            workload: workload.unwrap_or((Workload::Web, Origin::Default)),
            storage: storage.unwrap_or((Storage::Ssd, Origin::Default)),
            wal_level: wal_level.unwrap_or((WalLevel::Logical, Origin::Default)),
            max_worker_processes: workers.unwrap_or(None),
            listen_addresses: listen
                .unwrap_or_else(|_| (DEFAULT_LISTEN_ADDRESSES.to_string(), Origin::Default)),
            shared_preload_libraries: preload
                .unwrap_or_else(|_| (default_preload_libraries(), Origin::Default)),
            cron_database,
            archive_stanza: None,
            tls: crate::tls::TlsSettings::default(),
            audit_log: None,
            pgdata,
        };
        (config, problems)
    }

    /// The image catalog's default preload list in place of the compiled-in one; a list the user
    /// gave is kept.
    pub fn with_image_default_preload(mut self, libraries: &[String]) -> Config {
        if self.shared_preload_libraries.1 == Origin::Default {
            self.shared_preload_libraries = (libraries.to_vec(), Origin::Image);
        }
        self
    }
}

fn parse_optional<T>(
    raw: &Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    raw.as_deref().map(parse).transpose()
}

fn parse_kind<T>(raw: &Option<String>, default: T) -> Result<(T, Origin), String>
where
    T: std::str::FromStr<Err = crate::tuning::ParseKindError>,
{
    match raw {
        None => Ok((default, Origin::Default)),
        Some(value) => value
            .parse()
            .map(|kind| (kind, Origin::Environment))
            .map_err(|e: crate::tuning::ParseKindError| {
                format!(
                    "is not accepted: use one of {} (any case)",
                    e.accepted.replace(' ', ", ")
                )
            }),
    }
}

pub fn default_preload_libraries() -> Vec<String> {
    DEFAULT_SHARED_PRELOAD_LIBRARIES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Parses `POSTGRES_MEMORY`: a bare whole number is megabytes (the historical form); otherwise a
/// number (fractions allowed) with a binary unit, the way Docker and PostgreSQL count (`m` = MiB).
pub fn parse_memory_mb(value: &str) -> Result<u64, String> {
    let text = value.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(format!("is not a memory size: {MEMORY_FORMS}"));
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" => 20,
        "b" => 0,
        "k" | "ki" | "kb" | "kib" => 10,
        "m" | "mi" | "mb" | "mib" => 20,
        "g" | "gi" | "gb" | "gib" => 30,
        "t" | "ti" | "tb" | "tib" => 40,
        _ => return Err(format!("has an unknown unit '{unit}': {MEMORY_FORMS}")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let malformed = whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && (fraction.is_empty() || unit.is_empty()));
    if malformed {
        return Err(format!("is not a memory size: {MEMORY_FORMS}"));
    }
    let too_large = || format!("is more than the maximum of 1TiB ({MAX_MEMORY_MB} MB)");
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    // Seven fractional digits are more precision than a megabyte needs at any unit.
    let digits = &fraction[..fraction.len().min(7)];
    let scale = 10u128.pow(digits.len() as u32);
    let fraction_value: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| too_large())?
    };
    let bytes = whole
        .checked_mul(scale)
        .and_then(|v| v.checked_add(fraction_value))
        .and_then(|v| v.checked_mul(1u128 << shift))
        .map(|v| v / scale)
        .ok_or_else(too_large)?;
    let mb = bytes >> 20;
    if mb == 0 {
        return Err(format!("is less than 1MB: {MEMORY_FORMS}"));
    }
    if mb > u128::from(MAX_MEMORY_MB) {
        return Err(too_large());
    }
    Ok(mb as u64)
}

fn parse_cpus(value: &str) -> Result<u32, String> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err("is not a positive whole number of CPUs (1, 2, 16, ...)".to_string()),
        Ok(n) => Ok(n.min(u64::from(u32::MAX)) as u32),
        Err(_) if is_all_digits(value.trim()) => Ok(u32::MAX),
        Err(_) => Err("is not a positive whole number of CPUs (1, 2, 16, ...)".to_string()),
    }
}

fn parse_worker_processes(value: &str) -> Result<i64, String> {
    const NOT_POSITIVE: &str =
        "is not a positive whole number (1 or more; values outside 8..64 are clamped to it)";
    let text = value.trim();
    match text.parse::<i64>() {
        // Zero or fewer background workers is no setting at all: a typo, never something to clamp.
        Ok(n) if n <= 0 => Err(NOT_POSITIVE.to_string()),
        Ok(n) => Ok(n),
        Err(_) if text.starts_with('-') && is_all_digits(&text[1..]) => {
            Err(NOT_POSITIVE.to_string())
        }
        // Out-of-range integers are still integers: clamp them like any other value above 64.
        Err(_) if is_all_digits(text) => Ok(i64::MAX),
        Err(_) => Err("is not a whole number (it is clamped to 8..64)".to_string()),
    }
}

fn is_all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Validates `POSTGRES_BIND_IP`: a comma-separated list of IPv4 or IPv6 addresses, host names or `*`.
/// Returns the normalised list (blanks trimmed) as PostgreSQL's `listen_addresses`.
pub fn parse_listen_addresses(value: &str) -> Result<String, String> {
    const ACCEPTED: &str =
        "expected a comma-separated list of IPv4 or IPv6 addresses, host names, \
        '*' or '0.0.0.0'";
    let mut items = Vec::new();
    for item in value.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("has an empty entry: {ACCEPTED}"));
        }
        let valid = item == "*"
            || if item.contains(':') {
                item.parse::<Ipv6Addr>().is_ok()
            } else if item.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                item.parse::<Ipv4Addr>().is_ok()
            } else {
                is_host_name(item)
            };
        if !valid {
            return Err(format!(
                "has '{item}', which is not an address or host name: {ACCEPTED}"
            ));
        }
        items.push(item);
    }
    Ok(items.join(","))
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Parses `POSTGRES_SHARED_PRELOAD_LIBRARIES`: blanks trimmed, empty items and repeats dropped.
pub fn parse_library_list(value: &str) -> Result<Vec<String>, String> {
    let mut libraries: Vec<String> = Vec::new();
    for item in value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let valid = item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./$".contains(&b));
        if !valid {
            return Err(format!(
                "has '{item}', which is not a library name: expected a comma-separated list of names \
                 made of letters, digits and _ - . / $ (e.g. pg_stat_statements,auto_explain)"
            ));
        }
        if !libraries.iter().any(|known| known == item) {
            libraries.push(item.to_string());
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fake_env;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(fake_env(vars))
    }

    fn single_problem(vars: &[(&str, &str)]) -> InvalidVariable {
        let mut problems = config(vars).unwrap_err().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.remove(0)
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = config(&[]).unwrap();
        assert_eq!(c.memory_mb, None);
        assert_eq!(c.cpus, None);
        assert_eq!(c.workload, (Workload::Web, Origin::Default));
        assert_eq!(c.storage, (Storage::Ssd, Origin::Default));
        assert_eq!(c.wal_level, (WalLevel::Logical, Origin::Default));
        assert_eq!(c.listen_addresses, ("*".to_string(), Origin::Default));
        assert_eq!(
            c.shared_preload_libraries.0.join(","),
            "auto_explain,pg_cron,pg_stat_monitor,pg_stat_statements,pgaudit"
        );
        assert_eq!(c.cron_database, "postgres");
        assert_eq!(c.pgdata, DEFAULT_PGDATA);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[
            ("POSTGRES_MEMORY", ""),
            ("POSTGRES_WORKLOAD_TYPE", "  "),
            ("POSTGRES_SHARED_PRELOAD_LIBRARIES", ""),
        ])
        .unwrap();
        assert_eq!(c.memory_mb, None);
        assert_eq!(c.workload.1, Origin::Default);
        assert_eq!(c.shared_preload_libraries.1, Origin::Default);
    }

    #[test]
    fn memory_sizes_in_every_accepted_form() {
        let table: &[(&str, u64)] = &[
            ("2048", 2048),
            ("01024", 1024),
            ("0800", 800),
            ("512m", 512),
            ("512M", 512),
            ("512Mi", 512),
            ("512MB", 512),
            ("2g", 2048),
            ("2G", 2048),
            ("2Gi", 2048),
            ("2GB", 2048),
            ("1.5g", 1536),
            ("1T", 1_048_576),
            ("1Ti", 1_048_576),
            ("524288k", 512),
            ("536870912b", 512),
            (" 4g\n", 4096),
            ("1", 1),
            ("1048576", 1_048_576),
        ];
        for &(text, mb) in table {
            assert_eq!(parse_memory_mb(text), Ok(mb), "{text}");
        }
    }

    #[test]
    fn memory_sizes_that_are_rejected() {
        for text in [
            "abc",
            "-5",
            "1.5",
            "0",
            "0m",
            "512x",
            "2 g",
            "1..5g",
            ".5g",
            "5.g",
            "1048577",
            "2T",
            "99999999999999999999",
            "99999999999999999999999999999999999999999g",
            "1e3",
            "0x10",
        ] {
            assert!(parse_memory_mb(text).is_err(), "{text} should be rejected");
        }
        let problem = single_problem(&[("POSTGRES_MEMORY", "lots")]);
        assert_eq!(problem.variable, "POSTGRES_MEMORY");
        let message = problem.to_string();
        assert!(
            message.starts_with("POSTGRES_MEMORY='lots' is not a memory size"),
            "{message}"
        );
        assert!(
            message.contains("512Mi") && message.contains("2048"),
            "{message}"
        );
    }

    #[test]
    fn cpus_must_be_positive_whole_numbers() {
        assert_eq!(config(&[("POSTGRES_CPUS", "4")]).unwrap().cpus, Some(4));
        assert_eq!(
            config(&[("POSTGRES_CPUS", "99999999999999999999")])
                .unwrap()
                .cpus,
            Some(u32::MAX)
        );
        for bad in ["0", "-1", "1.5", "two"] {
            assert_eq!(
                single_problem(&[("POSTGRES_CPUS", bad)]).variable,
                "POSTGRES_CPUS",
                "{bad}"
            );
        }
    }

    #[test]
    fn kinds_are_case_insensitive_and_typos_are_errors() {
        let c = config(&[
            ("POSTGRES_WORKLOAD_TYPE", "OLTP"),
            ("POSTGRES_STORAGE_TYPE", "Hdd"),
            ("POSTGRES_WAL_LEVEL", "REPLICA"),
        ])
        .unwrap();
        assert_eq!(c.workload, (Workload::Oltp, Origin::Environment));
        assert_eq!(c.storage, (Storage::Hdd, Origin::Environment));
        assert_eq!(c.wal_level, (WalLevel::Replica, Origin::Environment));
        let p = single_problem(&[("POSTGRES_WORKLOAD_TYPE", "olap")]);
        assert_eq!(p.to_string(), "POSTGRES_WORKLOAD_TYPE='olap' is not accepted: use one of web, oltp, dw, mixed (any case)");
        assert_eq!(
            single_problem(&[("POSTGRES_STORAGE_TYPE", "nvme")]).variable,
            "POSTGRES_STORAGE_TYPE"
        );
        assert_eq!(
            single_problem(&[("POSTGRES_WAL_LEVEL", "archive")]).variable,
            "POSTGRES_WAL_LEVEL"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = config(&[
            ("POSTGRES_MEMORY", "abc"),
            ("POSTGRES_WORKLOAD_TYPE", "nope"),
            ("POSTGRES_BIND_IP", "999.999.999.999"),
        ])
        .unwrap_err()
        .problems;
        let names: Vec<_> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            names,
            [
                "POSTGRES_MEMORY",
                "POSTGRES_WORKLOAD_TYPE",
                "POSTGRES_BIND_IP"
            ]
        );
    }

    #[test]
    fn worker_processes_must_be_integers() {
        assert_eq!(
            config(&[("POSTGRES_MAX_WORKER_PROCESSES", "12")])
                .unwrap()
                .max_worker_processes,
            Some(12)
        );
        assert_eq!(
            config(&[("POSTGRES_MAX_WORKER_PROCESSES", "3")])
                .unwrap()
                .max_worker_processes,
            Some(3),
            "below 8 is clamped later, with a warning"
        );
        for not_positive in ["0", "-4", "-99999999999999999999"] {
            let problem = single_problem(&[("POSTGRES_MAX_WORKER_PROCESSES", not_positive)]);
            assert!(
                problem
                    .problem
                    .starts_with("is not a positive whole number"),
                "{not_positive}: {problem}"
            );
        }
        assert_eq!(
            config(&[("POSTGRES_MAX_WORKER_PROCESSES", "99999999999999999999")])
                .unwrap()
                .max_worker_processes,
            Some(i64::MAX)
        );
        for bad in ["abc", "8.5", "1e2", "--3"] {
            assert_eq!(
                single_problem(&[("POSTGRES_MAX_WORKER_PROCESSES", bad)]).variable,
                "POSTGRES_MAX_WORKER_PROCESSES",
                "{bad}"
            );
        }
    }

    #[test]
    fn listen_addresses_are_validated() {
        let good = [
            ("*", "*"),
            ("0.0.0.0", "0.0.0.0"),
            ("::", "::"),
            ("127.0.0.1, ::1", "127.0.0.1,::1"),
            ("db.internal,10.0.0.5", "db.internal,10.0.0.5"),
            ("localhost", "localhost"),
        ];
        for (input, output) in good {
            assert_eq!(
                parse_listen_addresses(input).as_deref(),
                Ok(output),
                "{input}"
            );
        }
        for bad in [
            "999.999.999.999",
            "1.2.3",
            "127.0.0.1,",
            "::g",
            "bad_host",
            "-lead.example",
            "a b",
            "'*'",
        ] {
            assert!(
                parse_listen_addresses(bad).is_err(),
                "{bad} should be rejected"
            );
        }
        let p = single_problem(&[("POSTGRES_BIND_IP", "999.999.999.999")]);
        assert!(
            p.to_string()
                .contains("'999.999.999.999', which is not an address"),
            "{p}"
        );
    }

    #[test]
    fn preload_lists_are_trimmed_and_deduplicated() {
        assert_eq!(
            parse_library_list(" pg_cron , ,auto_explain,pg_cron,").unwrap(),
            ["pg_cron", "auto_explain"]
        );
        assert_eq!(
            parse_library_list("$libdir/pgsodium").unwrap(),
            ["$libdir/pgsodium"]
        );
        assert!(parse_library_list("pg_cron;drop").is_err());
        assert!(parse_library_list("pg cron").is_err());
        assert_eq!(
            single_problem(&[("POSTGRES_SHARED_PRELOAD_LIBRARIES", "a'b")]).variable,
            "POSTGRES_SHARED_PRELOAD_LIBRARIES"
        );
    }

    #[test]
    fn the_image_default_replaces_only_the_compiled_in_preload_list() {
        let image = vec!["auto_explain".to_string(), "pg_cron".to_string()];
        let c = config(&[]).unwrap().with_image_default_preload(&image);
        assert_eq!(c.shared_preload_libraries, (image.clone(), Origin::Image));
        let c = config(&[("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pgaudit")])
            .unwrap()
            .with_image_default_preload(&image);
        assert_eq!(
            c.shared_preload_libraries,
            (vec!["pgaudit".to_string()], Origin::Environment)
        );
    }

    #[test]
    fn cron_database_follows_the_official_image() {
        assert_eq!(
            config(&[("POSTGRES_USER", "app")]).unwrap().cron_database,
            "app"
        );
        assert_eq!(
            config(&[("POSTGRES_USER", "app"), ("POSTGRES_DB", "mydb")])
                .unwrap()
                .cron_database,
            "mydb"
        );
    }
}
