//! The extensions manifest: any text is either rejected with errors or yields a catalog whose derived
//! figures are consistent and whose creation order terminates and respects dependencies.
#![no_main]

use aza_pg::manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(catalog) = manifest::load_str(text, "fuzz.json") else { return };
    let counts = catalog.counts();
    assert_eq!(counts.enabled + counts.disabled, counts.total);
    let order = catalog.creation_order();
    for (position, extension) in order.iter().enumerate() {
        for dependency in &extension.dependencies {
            let before = order[..position].iter().any(|e| &e.name == dependency);
            assert!(before, "{} is created before its dependency {dependency}", extension.name);
        }
    }
});
