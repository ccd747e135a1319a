//! Rust source rendered by `aza-codegen` from `manifest/extensions.json`. Do not edit the files
//! here; `cargo run --bin aza-codegen -- --check` (run by scripts/test.sh) fails when they drift.

pub mod defaults;
