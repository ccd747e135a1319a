//! The image catalog and the build notes, both read from files: any text is either rejected with an
//! error or yields a catalog that writes back to itself, and notes that point at real lines.
#![no_main]

use aza_pg::image_catalog::{self, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(catalog) = image_catalog::parse(text, "fuzz.json") {
        let written = image_catalog::to_json(&catalog).expect("a parsed catalog serialises");
        assert_eq!(image_catalog::parse(&written, "again.json").ok(), Some(catalog));
    }
    if let Ok(notes) = inspect::parse_notes(text, "fuzz.tsv") {
        let lines = text.lines().count();
        assert!(notes.iter().all(|note| note.line >= 1 && note.line <= lines));
    }
});
