//! `aza-entrypoint`: the container's ENTRYPOINT. Reads the lifecycle top to bottom; the work is in the
//! library.

use std::process::ExitCode;

use aza_pg::cli::{self, Command};
use aza_pg::entrypoint::{self, PlanError};
use aza_pg::{pgbouncer, report, runtime};

fn main() -> ExitCode {
    if let Err(message) = runtime::log::configure_from_env() {
        runtime::log::error(&message);
        return ExitCode::from(1);
    }
    match run() {
        Ok(code) => code,
        Err(error) => {
            runtime::log::error(&error.to_string());
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<ExitCode, PlanError> {
    match cli::parse(std::env::args_os().skip(1).collect())? {
        Command::Help => {
            print!("{}", cli::HELP);
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("aza-entrypoint {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { timeout } => match runtime::health::check(timeout) {
            Ok(healthy) => {
                for warning in &healthy.warnings {
                    eprintln!("warning: {warning}");
                }
                println!("healthy: {}", healthy.summary);
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("unhealthy: {error}");
                Ok(ExitCode::from(1))
            }
        },
        Command::VersionInfo { write, dir, json } => Ok(runtime::version_info(write, dir, json)),
        Command::ImageCatalog { write, options } => Ok(runtime::image_catalog(write, &options)),
        Command::PgbouncerConfig { output_dir, then } => Ok(pgbouncer::run(&output_dir, &then)),
        Command::PassThrough { program, args } => Ok(runtime::exec::pass_through(&program, &args)),
        Command::DryRun {
            format,
            postgres_args,
        } => {
            let mut plan = entrypoint::prepare(&postgres_args)?;
            // The start's own preflight, so the preview refuses exactly what a start would.
            let refusal = match runtime::preflight::check(&plan) {
                Ok(runtime::preflight::Preflight::Passed) => None,
                Ok(runtime::preflight::Preflight::NotRun { warning }) => {
                    plan.warnings.push(warning);
                    None
                }
                Err(refusal) => Some(refusal),
            };
            print!("{}", report::render(&plan, format));
            match refusal {
                None => Ok(ExitCode::SUCCESS),
                Some(refusal) => {
                    runtime::log::error(&format!("a start would refuse this: {refusal}"));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Postgres { args } => {
            let plan = entrypoint::prepare(&args)?;
            match runtime::start::start(&plan, &args) {
                Ok(code) => Ok(code),
                Err(error) => {
                    runtime::log::error(&error.to_string());
                    Ok(ExitCode::from(error.exit_code()))
                }
            }
        }
    }
}
