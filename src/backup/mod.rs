//! Backups with pgBackRest, driven from the environment: the variables that turn them on and ask for
//! a restore (`config`), the configuration file pgBackRest runs with (`conf`), its `info` answer read
//! for what a restore can reach (`info`), the recovery target's time (`time`), the backup sidecar's
//! schedule (`schedule`) and metrics (`metrics`). The processes (stanza creation, restore as a first
//! start, the sidecar and its jobs) are in [`crate::runtime`].
//!
//! pgBackRest's own variables (`PGBACKREST_STANZA`, `PGBACKREST_REPO1_PATH`, ...) are its contract,
//! documented by pgBackRest: the entrypoint checks the ones it relies on and passes all of them on, so
//! `archive_command`, a `docker exec ... pgbackrest` and the backup sidecar read the same settings.

pub mod conf;
pub mod config;
pub mod info;
pub mod metrics;
pub mod recovery;
pub mod schedule;
pub mod time;

pub use config::{BackupSettings, Backups, RestoreRequest};
