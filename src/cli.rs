//! The entrypoint's own command line: what to do with the arguments the container was started with.
//!
//! Like the official image, the arguments are a PostgreSQL command line: none means `postgres`, a
//! first argument starting with `-` is an option for `postgres`, and any other program is run as is.
//! The entrypoint's own flags (`--dry-run`, `--help`, `--version`) are only recognised in first place,
//! so they never shadow a PostgreSQL option. So are its verbs (`healthcheck`, `version-info`,
//! `pgbouncer-config`): a program of such a name is run by giving its path.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::report::Format;
use crate::runtime::health::DEFAULT_TIMEOUT;

/// The longest `--timeout` accepted: far beyond any probe's period, short of a typo's hours.
const MAX_HEALTHCHECK_TIMEOUT_SECONDS: f64 = 3600.0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    /// Preview the tuning for these `postgres` arguments.
    DryRun {
        format: Format,
        postgres_args: Vec<String>,
    },
    /// Check that the running server is healthy, giving up after `timeout`.
    Healthcheck {
        timeout: Duration,
    },
    /// Print (or with `write`, write) the version-info files.
    VersionInfo {
        write: bool,
        dir: Option<std::path::PathBuf>,
        json: bool,
    },
    /// Run PostgreSQL with these arguments (after `postgres`).
    Postgres {
        args: Vec<String>,
    },
    /// `pgbouncer-config ARGS`: PgBouncer's container entrypoint of earlier versions, now its own
    /// program, `aza-pgbouncer ARGS` (beside this one), which this runs in its place.
    PgbouncerConfig {
        args: Vec<OsString>,
    },
    /// Patroni's custom bootstrap on the first leader (`POSTGRES_ROLE=ha`): a first start's whole
    /// initialisation into `datadir`.
    HaBootstrap {
        datadir: PathBuf,
    },
    /// Run another program untouched (`aza-entrypoint bash`).
    PassThrough {
        program: OsString,
        args: Vec<OsString>,
    },
}

/// A command line the entrypoint cannot act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (see aza-entrypoint --help)", self.0)
    }
}

impl std::error::Error for UsageError {}

pub const HELP: &str = "\
aza-entrypoint: starts PostgreSQL 18 tuned to this container's memory and CPU limits

Usage:
  aza-entrypoint [postgres] [POSTGRES OPTIONS...]   run PostgreSQL (the default)
  aza-entrypoint --dry-run [--format FORMAT] [POSTGRES OPTIONS...]
                                                   show the tuning and refuse (exit 1) what a start
                                                   would refuse; start and change nothing
  aza-entrypoint healthcheck [--timeout SECONDS]   exit 0 if the running server is healthy, else 1
  aza-entrypoint PROGRAM [ARGS...]                 run another program unchanged
                                                   (a program named healthcheck: give its path,
                                                   e.g. aza-entrypoint ./healthcheck)
  aza-entrypoint version-info [--write] [--dir DIR] [--format text|json]
                                                   what the image holds and how it is tuned
  aza-entrypoint pgbouncer-config ARGS...          runs aza-pgbouncer ARGS... (PgBouncer's
                                                   configuration; see aza-pgbouncer --help)
  aza-entrypoint ha-bootstrap --scope=NAME --datadir=DIR
                                                   (POSTGRES_ROLE=ha) Patroni's bootstrap of a new
                                                   cluster: a first start's initialisation in DIR
  aza-entrypoint --help | --version

Formats: table (default), json, conf, args, patroni (HA node), hba (the network rules)

healthcheck: within the timeout (default 5 s), the server answers SELECT 1 over the socket (PGHOST,
PGPORT, PGUSER, PGDATABASE; no password), is in recovery exactly when POSTGRES_ROLE=replica, and
pg_aza_status (if it exists) is not in_progress or failed.

Environment (empty counts as unset):
  POSTGRES_MEMORY                    memory to tune for: 2048 (MB), 512m, 2Gi, 1.5g, 1T ... (default: detected)
  POSTGRES_CPUS                      CPUs to tune for (default: detected)
  POSTGRES_WORKLOAD_TYPE             web (default), oltp, dw, mixed
  POSTGRES_STORAGE_TYPE              ssd (default), hdd, san
  POSTGRES_WAL_LEVEL                 logical (default), replica, minimal
  POSTGRES_MAX_WORKER_PROCESSES      replaces the computed value (1 or more, clamped to 8..64)
  POSTGRES_BIND_IP                   listen_addresses (default *: every address inside the
                                     container; -p, networks and pg_hba decide what reaches it)
  POSTGRES_SHARED_PRELOAD_LIBRARIES  comma-separated list (default: the image catalog's
                                     default_preload, the manifest's defaults the image has; without
                                     a catalog, the manifest's defaults; --dry-run shows which)
  AZA_IMAGE_CATALOG                  the image catalog (default /usr/share/aza-pg/image-catalog.json)
  POSTGRES_ROLE                      primary (default), replica, or ha (a Patroni node:
                                     AZA_HA_ETCD_HOSTS, AZA_HA_CLUSTER, AZA_HA_NODE, ...;
                                     --dry-run shows Patroni's configuration); read by healthcheck
  POSTGRES_TLS                       off (default), on, required; POSTGRES_TLS_CERT_FILE/_KEY_FILE
                                     or POSTGRES_TLS_GENERATE=true (see the README's Security section)

Settings given as postgres options (-c name=value, --name=value, -B, -N, -S, -h) or with
ALTER SYSTEM are never overridden.
";

/// Decides what to do with the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    let Some(first) = args.first() else {
        return Ok(Command::Postgres { args: Vec::new() });
    };
    let first_text = first.to_str().unwrap_or("");
    match first_text {
        "--help" => return Ok(Command::Help),
        "--version" => return Ok(Command::Version),
        "--dry-run" => return parse_dry_run(&args[1..]),
        "healthcheck" => return parse_healthcheck(&args[1..]),
        "version-info" => return parse_version_info(&args[1..]),
        "pgbouncer-config" => {
            return Ok(Command::PgbouncerConfig {
                args: args[1..].to_vec(),
            })
        }
        "ha-bootstrap" => return parse_ha_bootstrap(&args[1..]),
        "postgres" => {
            return Ok(Command::Postgres {
                args: utf8_args(&args[1..])?,
            })
        }
        _ => {}
    }
    if first_text.starts_with('-') {
        return Ok(Command::Postgres {
            args: utf8_args(&args)?,
        });
    }
    Ok(Command::PassThrough {
        program: first.clone(),
        args: args[1..].to_vec(),
    })
}

/// `ha-bootstrap --scope=S --datadir=D`, as Patroni calls a custom bootstrap.
fn parse_ha_bootstrap(rest: &[OsString]) -> Result<Command, UsageError> {
    let mut datadir = None;
    for arg in utf8_args(rest)? {
        if let Some(dir) = arg.strip_prefix("--datadir=") {
            datadir = Some(PathBuf::from(dir));
        } else if !arg.starts_with("--scope=") {
            return Err(UsageError(format!(
                "ha-bootstrap does not take '{arg}' (Patroni passes --scope=NAME --datadir=DIR)"
            )));
        }
    }
    match datadir {
        Some(datadir) => Ok(Command::HaBootstrap { datadir }),
        None => Err(UsageError(
            "ha-bootstrap needs --datadir=DIR (Patroni passes it)".into(),
        )),
    }
}

fn parse_dry_run(rest: &[OsString]) -> Result<Command, UsageError> {
    let mut rest = utf8_args(rest)?.into_iter().peekable();
    let mut format = Format::Table;
    while let Some(arg) = rest.peek() {
        let value = if arg == "--format" {
            rest.next();
            rest.next().ok_or_else(|| {
                UsageError(format!("--format needs a value: {}", Format::ACCEPTED))
            })?
        } else if let Some(value) = arg.strip_prefix("--format=") {
            let value = value.to_string();
            rest.next();
            value
        } else {
            break;
        };
        format = Format::parse(&value).ok_or_else(|| {
            UsageError(format!(
                "--format '{value}' is not one of {}",
                Format::ACCEPTED
            ))
        })?;
    }
    if rest.peek().map(String::as_str) == Some("--") {
        rest.next();
    }
    if rest.peek().map(String::as_str) == Some("postgres") {
        rest.next();
    }
    Ok(Command::DryRun {
        format,
        postgres_args: rest.collect(),
    })
}

fn parse_healthcheck(rest: &[OsString]) -> Result<Command, UsageError> {
    let rest = utf8_args(rest)?;
    let mut rest = rest.iter();
    let mut timeout = DEFAULT_TIMEOUT;
    while let Some(arg) = rest.next() {
        let value = if arg == "--timeout" {
            rest.next().ok_or_else(|| {
                UsageError("--timeout needs a number of seconds, e.g. --timeout 5".to_string())
            })?
        } else if let Some(value) = arg.strip_prefix("--timeout=") {
            value
        } else {
            return Err(UsageError(format!(
                "healthcheck does not take '{arg}'; its only option is --timeout SECONDS"
            )));
        };
        timeout = match value.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s <= MAX_HEALTHCHECK_TIMEOUT_SECONDS => Duration::from_secs_f64(s),
            _ => {
                return Err(UsageError(format!(
                    "--timeout '{value}' is not a number of seconds above 0 and at most \
                     {MAX_HEALTHCHECK_TIMEOUT_SECONDS} (e.g. 5 or 2.5)"
                )))
            }
        };
    }
    Ok(Command::Healthcheck { timeout })
}

fn parse_version_info(rest: &[OsString]) -> Result<Command, UsageError> {
    let mut rest = utf8_args(rest)?.into_iter();
    let (mut write, mut dir, mut json) = (false, None, false);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--write" => write = true,
            "--format" => match rest.next().as_deref() {
                Some("json") => json = true,
                Some("text") => json = false,
                other => {
                    return Err(UsageError(format!(
                        "version-info --format '{}' is not one of text, json",
                        other.unwrap_or("")
                    )))
                }
            },
            "--dir" => {
                let value = rest.next().ok_or_else(|| UsageError("version-info --dir needs a directory".into()))?;
                dir = Some(std::path::PathBuf::from(value));
            }
            other => {
                return Err(UsageError(format!(
                    "version-info does not take '{other}' (accepted: --write, --dir DIR, --format text|json)"
                )))
            }
        }
    }
    Ok(Command::VersionInfo { write, dir, json })
}

fn utf8_args(args: &[OsString]) -> Result<Vec<String>, UsageError> {
    args.iter()
        .map(|arg| {
            arg.to_str()
                .map(str::to_string)
                .ok_or_else(|| UsageError(format!("the argument {arg:?} is not valid UTF-8")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from).collect())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_follow_the_official_image() {
        assert_eq!(parse_strs(&[]), Ok(Command::Postgres { args: vec![] }));
        assert_eq!(
            parse_strs(&["postgres", "-c", "a=b"]),
            Ok(Command::Postgres {
                args: strings(&["-c", "a=b"])
            })
        );
        assert_eq!(
            parse_strs(&["-c", "a=b"]),
            Ok(Command::Postgres {
                args: strings(&["-c", "a=b"])
            })
        );
        assert_eq!(
            parse_strs(&["-h", "0.0.0.0"]),
            Ok(Command::Postgres {
                args: strings(&["-h", "0.0.0.0"])
            })
        );
        assert_eq!(
            parse_strs(&["bash", "-c", "echo hi"]),
            Ok(Command::PassThrough {
                program: "bash".into(),
                args: vec!["-c".into(), "echo hi".into()]
            })
        );
        assert_eq!(parse_strs(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_strs(&["--version"]), Ok(Command::Version));
    }

    #[test]
    fn version_info_takes_write_dir_and_format() {
        assert_eq!(
            parse_strs(&["version-info"]),
            Ok(Command::VersionInfo {
                write: false,
                dir: None,
                json: false
            })
        );
        assert_eq!(
            parse_strs(&["version-info", "--write", "--dir", "/x", "--format", "json"]),
            Ok(Command::VersionInfo {
                write: true,
                dir: Some("/x".into()),
                json: true
            })
        );
        assert!(parse_strs(&["version-info", "--dir"]).is_err());
        assert!(parse_strs(&["version-info", "--format", "yaml"]).is_err());
        assert!(parse_strs(&["version-info", "--force"]).is_err());
    }

    #[test]
    fn dry_run_takes_a_format_and_postgres_arguments() {
        assert_eq!(
            parse_strs(&["--dry-run"]),
            Ok(Command::DryRun {
                format: Format::Table,
                postgres_args: vec![]
            })
        );
        assert_eq!(
            parse_strs(&["--dry-run", "--format", "json", "-c", "work_mem=8MB"]),
            Ok(Command::DryRun {
                format: Format::Json,
                postgres_args: strings(&["-c", "work_mem=8MB"])
            })
        );
        assert_eq!(
            parse_strs(&["--dry-run", "--format=args", "--", "postgres", "-N", "5"]),
            Ok(Command::DryRun {
                format: Format::Args,
                postgres_args: strings(&["-N", "5"])
            })
        );
        let err = parse_strs(&["--dry-run", "--format", "yaml"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--format 'yaml' is not one of table, json, conf, args, patroni, hba (see aza-entrypoint --help)"
        );
        assert!(parse_strs(&["--dry-run", "--format"]).is_err());
    }

    #[test]
    fn healthcheck_is_a_verb_in_first_place_only() {
        assert_eq!(
            parse_strs(&["healthcheck"]),
            Ok(Command::Healthcheck {
                timeout: DEFAULT_TIMEOUT
            })
        );
        for args in [
            &["healthcheck", "--timeout", "2.5"][..],
            &["healthcheck", "--timeout=2.5"],
        ] {
            assert_eq!(
                parse_strs(args),
                Ok(Command::Healthcheck {
                    timeout: Duration::from_millis(2500)
                })
            );
        }
        // A program named healthcheck runs by its path; after another argument it is just an argument.
        assert_eq!(
            parse_strs(&["./healthcheck", "--timeout", "1"]),
            Ok(Command::PassThrough {
                program: "./healthcheck".into(),
                args: vec!["--timeout".into(), "1".into()]
            })
        );
        assert_eq!(
            parse_strs(&["postgres", "healthcheck"]),
            Ok(Command::Postgres {
                args: strings(&["healthcheck"])
            })
        );
        for (args, message) in [
            (
                &["healthcheck", "--timeout"][..],
                "--timeout needs a number of seconds",
            ),
            (
                &["healthcheck", "--timeout", "0"],
                "--timeout '0' is not a number of seconds",
            ),
            (&["healthcheck", "--timeout=-1"], "--timeout '-1' is not"),
            (
                &["healthcheck", "--timeout", "NaN"],
                "--timeout 'NaN' is not",
            ),
            (
                &["healthcheck", "--timeout", "1e9"],
                "--timeout '1e9' is not",
            ),
            (
                &["healthcheck", "--host", "x"],
                "healthcheck does not take '--host'",
            ),
        ] {
            let err = parse_strs(args).unwrap_err().to_string();
            assert!(err.starts_with(message), "{args:?}: {err}");
        }
    }

    #[test]
    fn pgbouncer_config_is_handed_to_aza_pgbouncer() {
        assert_eq!(
            parse_strs(&["pgbouncer-config", "--output-dir", "/tmp/p"]),
            Ok(Command::PgbouncerConfig {
                args: vec!["--output-dir".into(), "/tmp/p".into()]
            })
        );
    }
}
