//! `aza-pgbouncer`: PgBouncer's container entrypoint, in the same image as the server (see
//! `aza_pg::pgbouncer`). A program of its own, so that the entrypoint that is every server's PID 1
//! carries none of it.

use std::process::ExitCode;

use aza_pg::pgbouncer;
use aza_pg::runtime::{log, stdio};

fn main() -> ExitCode {
    // The environment is parsed once, as for the server's entrypoint; PgBouncer, which this
    // program becomes, expects the usual signals.
    let (supervisor, env) = match aza_pg::runtime::begin() {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    supervisor.release();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "--help") {
        stdio::print(pgbouncer::USAGE);
        return ExitCode::SUCCESS;
    }
    match pgbouncer::parse_args(&args) {
        Ok((output_dir, then)) => pgbouncer::run(&env, &output_dir, &then),
        Err(error) => {
            log::error(&error);
            ExitCode::from(2)
        }
    }
}
