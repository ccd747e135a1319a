//! The user's `postgres` argument list (NUL-separated in the input): the command-line parser, the
//! override detection and the whole planning must never panic, and the user's arguments always come
//! first in the argv, untouched.
#![no_main]

use std::ffi::OsString;

use aza_pg::config::Config;
use aza_pg::detect::{CpuSource, MemorySource};
use aza_pg::image_catalog::CatalogFile;
use aza_pg::plan::{self, Pgsodium, PlanInputs};
use aza_pg::resources::Resources;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    let _ = aza_pg::cli::parse(args.iter().map(OsString::from).collect());
    let _ = plan::command_line_data_directory(&args);
    let Ok(config) = Config::from_lookup(|_| None) else { return };
    let resources = Resources {
        memory_mb: 2048,
        memory_source: MemorySource::Manual,
        memory_origin: "POSTGRES_MEMORY".into(),
        cpus: 2,
        cpu_source: CpuSource::Manual,
        shm_mb: None,
        warnings: Vec::new(),
    };
    let alter_system = plan::parse_auto_conf(text);
    let built = plan::build(&PlanInputs {
        resources: &resources,
        config: &config,
        user_args: &args,
        alter_system: &alter_system,
        pgsodium: &Pgsodium::NotRequested,
        image: &CatalogFile::missing("/nonexistent/image-catalog.json"),
    });
    assert_eq!(&built.args[..args.len()], &args[..]);
});
