//! `postgresql.auto.conf` parsing: arbitrary text never panics and names come out normalised.
#![no_main]

use aza_pg::plan::parse_auto_conf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (name, _) in parse_auto_conf(&text) {
        assert!(!name.is_empty());
        assert!(!name.chars().any(|c| c.is_ascii_uppercase() || c == '-'), "{name:?}");
    }
});
