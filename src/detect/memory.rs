//! Memory detection: cgroup v2, cgroup v1, `/proc/meminfo`, then a default.

use std::fmt;
use std::path::Path;

/// Where a memory figure came from. The `as_str` names are part of the log format and the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySource {
    /// `POSTGRES_MEMORY` (set by the config layer, never by detection).
    Manual,
    CgroupV2,
    CgroupV1,
    Meminfo,
    Default,
}

impl MemorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::Manual => "manual",
            MemorySource::CgroupV2 => "cgroup-v2",
            MemorySource::CgroupV1 => "cgroup-v1",
            MemorySource::Meminfo => "meminfo",
            MemorySource::Default => "default",
        }
    }
}

impl fmt::Display for MemorySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The memory this container may use, in MiB ("MB" as PostgreSQL counts), with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedMemory {
    pub mb: u64,
    pub source: MemorySource,
    /// What a person would look at to change it: the file that set the limit (as seen from inside the
    /// container, e.g. `/sys/fs/cgroup/memory.max`), `/proc/meminfo`, or a description for the default.
    pub origin: String,
    /// Human-readable warnings (malformed files, host RAM used, limit clamped to MemTotal, ...).
    pub warnings: Vec<String>,
}

/// Detects the memory limit below `root` (`/` in production).
pub fn detect_memory(root: &Path) -> DetectedMemory {
    let _ = root;
    todo!("implemented on the detect branch")
}
