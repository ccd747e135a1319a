//! `aza-image-catalog`: run once by the image build to write what the image has of the manifest
//! (`aza_pg::image_catalog::command`).

use std::process::ExitCode;

use aza_pg::image_catalog::command;
use aza_pg::runtime::{log, stdio};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "--help") {
        stdio::print(command::HELP);
        return ExitCode::SUCCESS;
    }
    match command::parse(&args) {
        Ok(invocation) => command::run(&invocation),
        Err(error) => {
            log::error(&error.to_string());
            ExitCode::from(1)
        }
    }
}
