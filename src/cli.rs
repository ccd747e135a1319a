//! The entrypoint's own command line: what to do with the arguments the container was started with.
//!
//! Like the official image, the arguments are a PostgreSQL command line: none means `postgres`, a
//! first argument starting with `-` is an option for `postgres`, and any other program is run as is.
//! The entrypoint's own flags (`--dry-run`, `--help`, `--version`) are only recognised in first place,
//! so they never shadow a PostgreSQL option.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use crate::report::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    /// Preview the tuning for these `postgres` arguments.
    DryRun {
        format: Format,
        postgres_args: Vec<String>,
    },
    /// Run PostgreSQL with these arguments (after `postgres`).
    Postgres {
        args: Vec<String>,
    },
    /// Write PgBouncer's configuration into `output_dir`, then run `then` (if any) in our place.
    PgbouncerConfig {
        output_dir: PathBuf,
        then: Vec<OsString>,
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
                                                   show the tuning; start and change nothing
  aza-entrypoint PROGRAM [ARGS...]                 run another program unchanged
  aza-entrypoint pgbouncer-config --output-dir DIR [-- PROGRAM [ARGS...]]
                                                   write pgbouncer.ini, userlist.txt and .pgpass
                                                   (PGBOUNCER_*, POSTGRES_HOST, POSTGRES_PORT), then
                                                   run PROGRAM, e.g. pgbouncer DIR/pgbouncer.ini
  aza-entrypoint --help | --version

Formats: table (default), json, conf, args

Environment (empty counts as unset):
  POSTGRES_MEMORY                    memory to tune for: 2048 (MB), 512m, 2Gi, 1.5g, 1T ... (default: detected)
  POSTGRES_CPUS                      CPUs to tune for (default: detected)
  POSTGRES_WORKLOAD_TYPE             web (default), oltp, dw, mixed
  POSTGRES_STORAGE_TYPE              ssd (default), hdd, san
  POSTGRES_WAL_LEVEL                 logical (default), replica, minimal
  POSTGRES_MAX_WORKER_PROCESSES      replaces the computed value (clamped to 8..64)
  POSTGRES_BIND_IP                   listen_addresses (default 127.0.0.1)
  POSTGRES_SHARED_PRELOAD_LIBRARIES  comma-separated list
                                     (default auto_explain,pg_cron,pg_stat_monitor,pg_stat_statements,pgaudit)

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
        "pgbouncer-config" => return parse_pgbouncer_config(&args[1..]),
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

fn parse_pgbouncer_config(rest: &[OsString]) -> Result<Command, UsageError> {
    const NEEDS_DIR: &str = "pgbouncer-config needs --output-dir DIR";
    let (dir, then) = match rest.first().and_then(|a| a.to_str()) {
        Some("--output-dir") => (rest.get(1).cloned(), rest.get(2..).unwrap_or(&[])),
        Some(flag) if flag.starts_with("--output-dir=") => (
            Some(OsString::from(&flag["--output-dir=".len()..])),
            &rest[1..],
        ),
        _ => return Err(UsageError(NEEDS_DIR.to_string())),
    };
    let output_dir = dir
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| UsageError(NEEDS_DIR.to_string()))?;
    let then = match then.split_first() {
        None => Vec::new(),
        Some((dashes, program)) if dashes == "--" && !program.is_empty() => program.to_vec(),
        Some((other, _)) => {
            return Err(UsageError(format!(
                "pgbouncer-config: unexpected {other:?}; put the program to run after --"
            )))
        }
    };
    Ok(Command::PgbouncerConfig { output_dir, then })
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
            "--format 'yaml' is not one of table, json, conf, args (see aza-entrypoint --help)"
        );
        assert!(parse_strs(&["--dry-run", "--format"]).is_err());
    }

    #[test]
    fn pgbouncer_config_takes_a_directory_and_a_program() {
        assert_eq!(
            parse_strs(&["pgbouncer-config", "--output-dir", "/tmp/p"]),
            Ok(Command::PgbouncerConfig {
                output_dir: "/tmp/p".into(),
                then: vec![]
            })
        );
        assert_eq!(
            parse_strs(&[
                "pgbouncer-config",
                "--output-dir=/tmp/p",
                "--",
                "pgbouncer",
                "/tmp/p/pgbouncer.ini"
            ]),
            Ok(Command::PgbouncerConfig {
                output_dir: "/tmp/p".into(),
                then: vec!["pgbouncer".into(), "/tmp/p/pgbouncer.ini".into()]
            })
        );
        for bad in [
            &["pgbouncer-config"][..],
            &["pgbouncer-config", "--output-dir"],
            &["pgbouncer-config", "--output-dir", "/d", "pgbouncer"],
            &["pgbouncer-config", "--output-dir", "/d", "--"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?}");
        }
    }
}
