//! Resource detection: how much memory and how many CPUs this container may really use.
//!
//! Every function reads files below a `root` path (`/` in production) so tests can point it at a fixture
//! tree. Detection never fails: a malformed or unreadable file becomes a warning and the next source is
//! tried, so the caller always gets a value together with the source it came from.

mod cgroup;
mod cpu;
mod memory;

pub use cpu::{affinity_cpu_count, detect_cpus, CpuSource, DetectedCpus};
pub use memory::{detect_memory, DetectedMemory, MemorySource};
