//! `aza-backup`: the backup sidecar's program, in the same image as the server (see
//! `aza_pg::runtime::backup_sidecar`). A binary of its own, so that the entrypoint that is every
//! server's PID 1 carries none of it.

use std::process::ExitCode;

use aza_pg::backup::schedule::{BackupType, Schedule};
use aza_pg::runtime::backup_sidecar;
use aza_pg::runtime::{log, stdio};

const USAGE: &str = "\
aza-backup: scheduled pgBackRest backups, beside an aza-pg server

Usage:
  aza-backup schedule                 write the crontab (AZA_BACKUP_*_SCHEDULE) and pgBackRest's
                                      configuration, take a first full backup if the repository has
                                      none, then run cron in the foreground (the sidecar's command)
  aza-backup run full|diff|incr       one backup now, with a log line and its metrics
                 [--if-none]          only if the repository has no backup yet
  aza-backup --help
";

fn main() -> ExitCode {
    // As PID 1 of the sidecar: the stop signals handled from the first instruction.
    let (supervisor, env) = match aza_pg::runtime::begin() {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["schedule"] => {
            let lookup = aza_pg::runtime::contract::process_env;
            let read_file = aza_pg::runtime::contract::read_value_file;
            let mut reader = aza_pg::runtime::contract::Reader::new(&lookup, &read_file);
            let schedule = Schedule::read(&mut reader);
            if let Err(problems) = reader.finish(()) {
                log::error(&problems.to_string());
                return ExitCode::from(1);
            }
            backup_sidecar::schedule(supervisor, &env, &schedule)
        }
        ["run", kind] | ["run", kind, "--if-none"] => {
            supervisor.release();
            let Some(kind) = BackupType::from_name(kind) else {
                log::error(&format!("aza-backup run '{kind}': use full, diff or incr"));
                return ExitCode::from(2);
            };
            backup_sidecar::run(&env, kind, args.len() == 3)
        }
        ["--help"] | ["-h"] => {
            stdio::print(USAGE);
            ExitCode::SUCCESS
        }
        _ => {
            log::error(&format!(
                "aza-backup {}: not a command (see aza-backup --help)",
                args.join(" ")
            ));
            ExitCode::from(2)
        }
    }
}
