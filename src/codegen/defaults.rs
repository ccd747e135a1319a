//! `src/generated/defaults.rs`: the entrypoint's compiled-in defaults taken from the manifest.

use crate::manifest::Manifest;

use super::generated_notice;

pub fn render_defaults(manifest: &Manifest) -> String {
    let mut out = String::new();
    out.push_str(&format!("// {}\n", generated_notice()));
    out.push_str("//! Defaults derived from the extensions manifest.\n\n");
    out.push_str(
        "/// Libraries preloaded when `POSTGRES_SHARED_PRELOAD_LIBRARIES` is unset: the manifest's\n\
         /// enabled entries with `runtime.default_preload`, by library name, sorted.\n",
    );
    // Skipped by rustfmt so a short list stays one name per line, as rendered.
    out.push_str("#[rustfmt::skip]\n");
    out.push_str("pub const DEFAULT_SHARED_PRELOAD_LIBRARIES: &[&str] = &[\n");
    for library in manifest.default_preload_libraries() {
        out.push_str(&format!("    {library:?},\n"));
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// Every library the manifest lets `shared_preload_libraries` name (enabled entries with\n\
         /// `runtime.shared_preload`), sorted: what the preflight offers when there is no image catalog.\n",
    );
    out.push_str("#[rustfmt::skip]\n");
    out.push_str("pub const PRELOAD_LIBRARIES: &[&str] = &[\n");
    let mut all = manifest.default_preload_libraries();
    all.extend(manifest.optional_preload_libraries());
    all.sort();
    all.dedup();
    for library in all {
        out.push_str(&format!("    {library:?},\n"));
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// Shared memory (MiB) the preloaded libraries reserve at their defaults, for the memory\n\
         /// budget: the manifest's `runtime.shared_memory_mb`, by library name, sorted.\n",
    );
    out.push_str("#[rustfmt::skip]\n");
    out.push_str("pub const PRELOAD_SHARED_MEMORY_MB: &[(&str, u64)] = &[\n");
    let mut sized: Vec<(String, u64)> = manifest
        .enabled()
        .filter_map(|e| {
            e.runtime
                .shared_memory_mb
                .map(|mb| (e.preload_library().to_string(), mb))
        })
        .collect();
    sized.sort();
    for (library, mb) in sized {
        out.push_str(&format!("    ({library:?}, {mb}),\n"));
    }
    out.push_str("];\n");
    out
}
