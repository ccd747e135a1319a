//! `aza-entrypoint`: the container's ENTRYPOINT. Reads as the outline of the container's life; the
//! work is in the library.

use std::process::ExitCode;

use aza_pg::cli::{self, Command};
use aza_pg::environment::{Environment, Uses};
use aza_pg::report;
use aza_pg::runtime::lifecycle::{self, StartError};
use aza_pg::runtime::reaper::Supervisor;
use aza_pg::runtime::replication::Role;
use aza_pg::runtime::{self, log, stdio};

fn main() -> ExitCode {
    // First instruction: the stop signals blocked, so that a `docker stop` in any phase is seen;
    // then the standard descriptors and the one parse of the environment (see `runtime::begin`).
    let (supervisor, env) = match runtime::begin() {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    let command = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(command) => command,
        Err(error) => {
            log::error(&error.to_string());
            return ExitCode::from(1);
        }
    };
    match command {
        Command::Postgres { args } => lifecycle::run(supervisor, &env, &args),
        Command::DryRun {
            format,
            postgres_args,
        } => dry_run(supervisor, &env, format, &postgres_args),
        // The other commands run or become other programs, which expect the usual signals.
        Command::Help => tool(supervisor, || {
            stdio::print(cli::HELP);
            ExitCode::SUCCESS
        }),
        Command::Version => tool(supervisor, || {
            stdio::print(&format!("aza-entrypoint {}\n", env!("CARGO_PKG_VERSION")));
            ExitCode::SUCCESS
        }),
        Command::Healthcheck { timeout } => tool(supervisor, || healthcheck(&env, timeout)),
        Command::VersionInfo { write, dir, json } => {
            tool(supervisor, || runtime::version_info(&env, write, dir, json))
        }
        Command::PgbouncerConfig { args } => tool(supervisor, || {
            runtime::exec::pass_through(
                runtime::exec::companion("aza-pgbouncer").as_os_str(),
                &args,
            )
        }),
        Command::HaBootstrap { datadir } => {
            let mut supervisor = supervisor;
            runtime::patroni::bootstrap(&mut supervisor, &env, &datadir)
        }
        Command::PassThrough { program, args } => {
            tool(supervisor, || runtime::exec::pass_through(&program, &args))
        }
    }
}

/// Runs a command that is a tool rather than the container's life, with the signal mask as it was.
fn tool(supervisor: Supervisor, run: impl FnOnce() -> ExitCode) -> ExitCode {
    supervisor.release();
    run()
}

/// `--dry-run`: the start's own checks, then the plan; exits 1 on what a start would refuse.
fn dry_run(
    mut supervisor: Supervisor,
    env: &Environment,
    format: report::Format,
    args: &[String],
) -> ExitCode {
    let mut checks = match lifecycle::check_everything(&mut supervisor, env, args) {
        Ok(checks) => checks,
        Err(error) => {
            log::error(&error.to_string());
            return ExitCode::from(error.exit_code());
        }
    };
    if let Some(plan) = &mut checks.plan {
        plan.warnings.append(&mut checks.port_in_use);
        let mut out = report::render(plan, format);
        match (&env.role, format) {
            (Role::Ha(ha), report::Format::Table | report::Format::Patroni) => {
                let port = env.pgport.unwrap_or(5432);
                let rendered = runtime::patroni::render(&env.runtime, port, plan, ha, true);
                if format == report::Format::Table {
                    out.push_str("\nPatroni's configuration of this node (passwords redacted)\n");
                }
                out.push_str(&rendered.yaml);
                for warning in rendered.warnings {
                    out.push_str(&format!("warning: {warning}\n"));
                }
            }
            (_, report::Format::Patroni) => checks.problems.push(
                "--format patroni shows Patroni's configuration of an HA node: set POSTGRES_ROLE=ha \
                 (and the AZA_HA_* variables)"
                    .to_string(),
            ),
            (Role::Ha(_), report::Format::Hba) => checks.problems.push(
                "--format hba: an HA node's rules are in Patroni's configuration (--format patroni)"
                    .to_string(),
            ),
            (_, report::Format::Table | report::Format::Hba) => {
                let rules = checks.network_rules.as_deref().unwrap_or_default();
                if format == report::Format::Table {
                    out.push_str("\nNetwork rules (PGDATA/aza-hba.conf)\n");
                }
                out.push_str(rules);
            }
            _ => {}
        }
        stdio::print(&out);
    }
    if checks.problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    log::error(&format!(
        "a start would refuse this: {}",
        StartError::Refused(checks.problems)
    ));
    ExitCode::from(1)
}

fn healthcheck(env: &Environment, timeout: std::time::Duration) -> ExitCode {
    if let Some(refusal) = env.refusal(Uses::Healthcheck) {
        stdio::eprint(&format!("unhealthy: {refusal}\n"));
        return ExitCode::from(1);
    }
    match runtime::health::check(&env.health, timeout) {
        Ok(healthy) => {
            for warning in &healthy.warnings {
                stdio::eprint(&format!("warning: {warning}\n"));
            }
            stdio::print(&format!("healthy: {}\n", healthy.summary));
            ExitCode::SUCCESS
        }
        Err(error) => {
            stdio::eprint(&format!("unhealthy: {error}\n"));
            ExitCode::from(1)
        }
    }
}
