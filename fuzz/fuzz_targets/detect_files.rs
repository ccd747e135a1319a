//! Detection over a fixture tree whose files come from the input (NUL-separated): /proc/self/cgroup,
//! /proc/self/mountinfo, /proc/meminfo, and cgroup v2 and v1 limit files. Whatever they hold,
//! detection must not panic and must report a usable figure with a source.
#![no_main]

use std::fs;
use std::path::Path;

use aza_pg::detect::{detect_cpus, detect_memory};
use libfuzzer_sys::fuzz_target;

const FILES: &[&str] = &[
    "proc/self/cgroup",
    "proc/self/mountinfo",
    "proc/meminfo",
    "sys/fs/cgroup/memory.max",
    "sys/fs/cgroup/memory.high",
    "sys/fs/cgroup/cpu.max",
    "sys/fs/cgroup/memory/memory.limit_in_bytes",
    "sys/fs/cgroup/memory/memory.stat",
    "sys/fs/cgroup/cpu/cpu.cfs_quota_us",
];

fuzz_target!(|data: &[u8]| {
    let Ok(root) = tempfile::tempdir() else { return };
    let mut parts = data.split(|b| *b == 0);
    for relative in FILES {
        let Some(content) = parts.next() else { break };
        let path = root.path().join(relative);
        if let Some(parent) = path.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = fs::write(&path, content);
    }
    let _ = fs::write(root.path().join("sys/fs/cgroup/cgroup.controllers"), "cpu memory\n");
    let memory = detect_memory(root.path());
    assert!(!memory.origin.is_empty());
    let cpus = detect_cpus(root.path(), Some(4));
    assert!(cpus.count >= 1 && cpus.count <= 4, "{cpus:?}");
    // Nothing outside the fixture root may have been read as a limit: only paths below it exist.
    assert!(Path::new(&memory.origin).is_absolute() || memory.origin.starts_with("built-in"));
});
