//! aza-pg: a PostgreSQL 18 container entrypoint that tunes the server to the container's real limits.
//!
//! The crate follows "functional core, imperative shell":
//! - [`detect`] reads the container's limits from files under a root path (fixtures stand in for tests);
//! - [`config`] parses and validates the environment, touching nothing else;
//! - [`tuning`] is pure arithmetic from [`tuning::Inputs`] to [`tuning::Tuning`];
//! - [`plan`] turns the tuning, the user's arguments and `ALTER SYSTEM` overrides into the exact
//!   PostgreSQL argv, again without I/O;
//! - [`report`] renders a plan for `--dry-run` and for the start-up log;
//! - [`manifest`] is the extensions catalog, and [`codegen`] renders the image, SQL, docs and
//!   [`generated`] Rust defaults from it (`aza-codegen`);
//! - [`image_catalog`] is what a built image really has of that catalog, written once at build time
//!   and read at every start;
//! - [`backup`] is pgBackRest's side of the environment: archiving, the stanza and restores;
//! - [`release`] names published images (`aza-codegen image-tags`).

pub mod audit;
pub mod backup;
pub mod cli;
pub mod codegen;
pub mod config;
pub mod detect;
pub mod entrypoint;
pub mod environment;
pub mod generated;
pub mod ha;
pub mod image_catalog;
pub mod manifest;
pub mod pg_config;
pub mod pgbouncer;
pub mod plan;
pub mod release;
pub mod report;
pub mod resources;
pub mod runtime;
pub mod tls;
pub mod tuning;
pub mod version_info;

#[cfg(test)]
mod test_support;
