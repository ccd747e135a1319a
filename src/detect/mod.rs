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

/// The size of the filesystem at `root/dev/shm` in MiB (`statvfs`: blocks x fragment size), or `None`
/// when there is none or it cannot be read. PostgreSQL's parallel queries keep their shared state there.
pub fn detect_shm_mb(root: &std::path::Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(&root.join("dev/shm")).ok()?;
    // `fsblkcnt_t` and `c_ulong` are u64 on 64-bit Linux but narrower on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let bytes = u64::from(stat.blocks()).saturating_mul(u64::from(stat.fragment_size()));
    (bytes > 0).then_some(bytes / (1024 * 1024))
}

/// The free space (for an unprivileged user: `statvfs`'s available blocks) in MiB on the filesystem
/// that holds `path`, or on that of its nearest existing ancestor when `path` does not exist yet
/// (a first start's `PGDATA`); `None` when it cannot be read.
pub fn filesystem_free_mb(path: &std::path::Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let stat = nix::sys::statvfs::statvfs(existing).ok()?;
    #[allow(clippy::useless_conversion)]
    let bytes = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Some(bytes / (1024 * 1024))
}

#[cfg(test)]
mod shm_tests {
    use super::detect_shm_mb;

    #[test]
    fn dev_shm_size_comes_from_statvfs_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            detect_shm_mb(root.path()),
            None,
            "no dev/shm under the root"
        );
        std::fs::create_dir_all(root.path().join("dev/shm")).unwrap();
        // A plain directory reports the size of the filesystem holding it: some positive figure.
        assert!(detect_shm_mb(root.path()).is_some_and(|mb| mb > 0));
    }
}
