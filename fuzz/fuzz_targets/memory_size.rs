//! Every environment value the entrypoint parses, fed the same bytes: parsing must never panic, and
//! an accepted memory size must lie in 1 MB..1 TiB.
#![no_main]

use aza_pg::config::{parse_memory_mb, Config};
use aza_pg::tuning::MAX_MEMORY_MB;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(mb) = parse_memory_mb(text) {
        assert!((1..=MAX_MEMORY_MB).contains(&mb), "{text:?} gave {mb}");
    }
    let _ = Config::from_lookup(|_| Some(text.to_string()));
});
