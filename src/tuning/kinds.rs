//! The workload, storage and WAL-level choices and their per-kind tables.

use std::fmt;
use std::str::FromStr;

/// The kind of traffic the server is tuned for (`POSTGRES_WORKLOAD_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    Web,
    Oltp,
    Dw,
    Mixed,
}

/// The kind of storage under `PGDATA` (`POSTGRES_STORAGE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    Ssd,
    Hdd,
    San,
}

/// `wal_level` (`POSTGRES_WAL_LEVEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WalLevel {
    Minimal,
    Replica,
    Logical,
}

/// A value that is not one of the accepted names; `accepted` lists them for the error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseKindError {
    pub value: String,
    pub accepted: &'static str,
}

impl fmt::Display for ParseKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' is not one of {}", self.value, self.accepted)
    }
}

impl std::error::Error for ParseKindError {}

/// Defines `ALL`, `as_str`, `FromStr` (case-insensitive, surrounding blanks ignored) and `Display`.
macro_rules! named_kind {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl FromStr for $ty {
            type Err = ParseKindError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let wanted = value.trim();
                $(if wanted.eq_ignore_ascii_case($name) { return Ok($ty::$variant); })+
                Err(ParseKindError {
                    value: value.to_string(),
                    accepted: concat!($($name, " "),+).trim_ascii_end(),
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_kind!(Workload { Web => "web", Oltp => "oltp", Dw => "dw", Mixed => "mixed" });
named_kind!(Storage { Ssd => "ssd", Hdd => "hdd", San => "san" });
named_kind!(WalLevel { Minimal => "minimal", Replica => "replica", Logical => "logical" });

impl Workload {
    /// `max_connections` before scaling for small machines.
    pub fn base_connections(self) -> u32 {
        match self {
            Workload::Web => 200,
            Workload::Oltp => 300,
            Workload::Dw => 100,
            Workload::Mixed => 120,
        }
    }

    /// The fewest connections the memory budget leaves. `web`, `oltp` and `mixed` serve many clients
    /// and keep 20. `dw` gives up connections before query memory down to 10 (of which PostgreSQL
    /// reserves 3 for superusers, leaving a pooler's few server connections and the image's helpers:
    /// exporter, backup, pg_cron): on 2 cores a few analytic queries at a time saturate the CPUs, and
    /// one waiting in PgBouncer's queue finishes sooner than one whose sorts and hashes spill.
    pub fn min_connections(self) -> u32 {
        match self {
            Workload::Web | Workload::Oltp | Workload::Mixed => 20,
            Workload::Dw => 10,
        }
    }

    /// `(min_wal_size, max_wal_size)` in MB: write-heavy workloads checkpoint less often.
    pub fn wal_size_mb(self) -> (u64, u64) {
        match self {
            Workload::Web | Workload::Mixed => (1024, 4096),
            Workload::Oltp => (2048, 8192),
            Workload::Dw => (4096, 16384),
        }
    }

    /// JIT compilation costs tens of milliseconds per query: it pays for the long analytical queries of
    /// `dw` and `mixed` and only slows the short ones of `web` and `oltp`.
    pub fn uses_jit(self) -> bool {
        matches!(self, Workload::Dw | Workload::Mixed)
    }

    /// Minutes between timed checkpoints: with the workload's larger `max_wal_size`, checkpoints are
    /// mostly timed; fewer of them mean fewer full-page images, at the price of a longer crash recovery.
    pub fn checkpoint_timeout_min(self) -> u32 {
        match self {
            Workload::Web | Workload::Mixed => 10,
            Workload::Oltp | Workload::Dw => 15,
        }
    }

    /// Analytical queries profit from finer statistics; the rest keep PostgreSQL's default.
    pub fn default_statistics_target(self) -> u32 {
        match self {
            Workload::Dw => 500,
            _ => 100,
        }
    }
}

impl Storage {
    pub fn random_page_cost(self) -> &'static str {
        match self {
            Storage::Ssd | Storage::San => "1.1",
            Storage::Hdd => "4.0",
        }
    }

    pub fn effective_io_concurrency(self) -> u32 {
        match self {
            Storage::Ssd => 200,
            Storage::San => 300,
            Storage::Hdd => 2,
        }
    }

    /// Autovacuum's I/O allowance per round: PostgreSQL's 200 (`vacuum_cost_limit`) was sized for
    /// spinning disks; solid-state storage takes ten times that without hurting queries.
    pub fn autovacuum_vacuum_cost_limit(self) -> u32 {
        match self {
            Storage::Ssd | Storage::San => 2000,
            Storage::Hdd => 400,
        }
    }

    pub fn maintenance_io_concurrency(self) -> u32 {
        match self {
            Storage::Ssd | Storage::San => 20,
            Storage::Hdd => 10,
        }
    }
}
