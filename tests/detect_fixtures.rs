//! Resource detection over fixture trees: each test builds a fake `/proc` and `/sys/fs/cgroup` in a temp
//! directory and runs the public detection functions against it.

use std::fs;
use std::path::Path;

use aza_pg::detect::{detect_cpus, detect_memory, CpuSource, DetectedMemory, MemorySource};
use tempfile::TempDir;

const MIB: u64 = 1_048_576;
/// The kernel's "unlimited" in cgroup v1 files.
const V1_UNLIMITED: &str = "9223372036854771712\n";
/// 16 GiB of RAM, in `/proc/meminfo` form.
const MEMINFO_16G: &str = "MemTotal:       16777216 kB\nMemFree:         1000000 kB\n";
const MEMINFO_FALLBACK_WARNINGS: [&str; 2] = [
    "Using /proc/meminfo fallback for RAM detection (no cgroup limit or POSTGRES_MEMORY set)",
    "This may reflect host RAM instead of container allocation - set POSTGRES_MEMORY to override",
];
const NPROC_WARNING: &str = "Using nproc fallback for CPU detection (no cgroup quota set)";

/// Mountinfo lines, with realistic optional fields.
const MOUNT_ROOTFS: &str = "1 0 0:50 / / rw,relatime shared:1 - overlay overlay rw,lowerdir=/l";
const MOUNT_V2_ROOT: &str =
    "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate";
const MOUNT_V1_TMPFS: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755";
const MOUNT_V1_MEMORY: &str =
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory";
const MOUNT_V1_CPU: &str =
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct";
const MOUNT_V1_CPUSET: &str =
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset";
const MOUNT_UNIFIED: &str =
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw";

/// A fixture root directory.
struct Tree {
    dir: TempDir,
}

impl Tree {
    fn new() -> Self {
        Tree {
            dir: TempDir::new().expect("temp dir"),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to `relative` (created with its parents).
    fn file(&self, relative: &str, content: &str) -> &Self {
        let path = self.root().join(relative);
        fs::create_dir_all(path.parent().expect("fixture paths have a parent")).expect("mkdir");
        fs::write(path, content).expect("write fixture");
        self
    }

    fn dir(&self, relative: &str) -> &Self {
        fs::create_dir_all(self.root().join(relative)).expect("mkdir");
        self
    }

    fn proc_cgroup(&self, lines: &[&str]) -> &Self {
        self.file("proc/self/cgroup", &format!("{}\n", lines.join("\n")))
    }

    fn mountinfo(&self, lines: &[&str]) -> &Self {
        self.file("proc/self/mountinfo", &format!("{}\n", lines.join("\n")))
    }

    fn meminfo(&self) -> &Self {
        self.file("proc/meminfo", MEMINFO_16G)
    }

    /// A cgroup v2 container seen through a cgroup namespace: `0::/`, the hierarchy mounted at
    /// `/sys/fs/cgroup` with root `/`.
    fn v2_namespaced() -> Self {
        let tree = Tree::new();
        tree.proc_cgroup(&["0::/"])
            .mountinfo(&[MOUNT_ROOTFS, MOUNT_V2_ROOT])
            .file(
                "sys/fs/cgroup/cgroup.controllers",
                "cpuset cpu io memory pids\n",
            )
            .meminfo();
        tree
    }

    /// A cgroup v1 host: memory and cpu,cpuacct hierarchies, own cgroup `/docker/abc` in both.
    fn v1_docker() -> Self {
        let tree = Tree::new();
        tree.proc_cgroup(&[
            "5:cpuset:/docker/abc",
            "4:memory:/docker/abc",
            "3:cpu,cpuacct:/docker/abc",
            "1:name=systemd:/docker/abc",
        ])
        .mountinfo(&[
            MOUNT_ROOTFS,
            MOUNT_V1_TMPFS,
            MOUNT_V1_CPU,
            MOUNT_V1_CPUSET,
            MOUNT_V1_MEMORY,
        ])
        .file("sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED)
        .file(
            "sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
            V1_UNLIMITED,
        )
        .file(
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
            V1_UNLIMITED,
        )
        .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
        .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        .file("sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n")
        .file(
            "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us",
            "100000\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
            "-1\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
            "100000\n",
        )
        .meminfo();
        tree
    }
}

fn bytes(mb: u64) -> String {
    format!("{}\n", mb * MIB)
}

fn assert_memory(detected: &DetectedMemory, mb: u64, source: MemorySource, origin: &str) {
    assert_eq!(
        (detected.mb, detected.source, detected.origin.as_str()),
        (mb, source, origin),
        "full result: {detected:#?}"
    );
}

fn assert_meminfo_fallback(detected: &DetectedMemory) {
    assert_memory(detected, 16384, MemorySource::Meminfo, "/proc/meminfo");
    for warning in MEMINFO_FALLBACK_WARNINGS {
        assert!(
            detected.warnings.iter().any(|w| w == warning),
            "missing {warning:?} in {:#?}",
            detected.warnings
        );
    }
}

/// True if some warning contains every one of `needles`.
fn has_warning(warnings: &[String], needles: &[&str]) -> bool {
    warnings
        .iter()
        .any(|w| needles.iter().all(|n| w.contains(n)))
}

// ---------------------------------------------------------------------------------------------- memory

#[test]
fn v2_namespaced_limit() {
    let tree = Tree::v2_namespaced();
    tree.file("sys/fs/cgroup/memory.max", &bytes(1024));
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        1024,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    assert!(detected.warnings.is_empty(), "{:#?}", detected.warnings);
}

#[test]
fn v2_not_namespaced_uses_own_directory() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/docker/abc"])
        .mountinfo(&[MOUNT_ROOTFS, MOUNT_V2_ROOT])
        .file("sys/fs/cgroup/cgroup.controllers", "memory\n")
        .file("sys/fs/cgroup/docker/abc/memory.max", &bytes(768))
        .file("sys/fs/cgroup/docker/other/memory.max", &bytes(100))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        768,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/docker/abc/memory.max",
    );
}

#[test]
fn v2_bind_mounted_subtree_uses_mount_point() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/docker/abc"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            "30 24 0:26 /docker/abc /sys/fs/cgroup ro,nosuid master:4 - cgroup2 cgroup2 rw",
        ])
        .file("sys/fs/cgroup/memory.max", &bytes(300))
        // A decoy that is only reached if the mount root is not stripped from the cgroup path.
        .file("sys/fs/cgroup/docker/abc/memory.max", &bytes(10))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        300,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
}

#[test]
fn v2_bind_mounted_subtree_with_child_cgroup() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/docker/abc/init"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            "30 24 0:26 /docker/abc /sys/fs/cgroup rw master:4 - cgroup2 cgroup2 rw",
        ])
        .file("sys/fs/cgroup/init/memory.max", &bytes(200))
        .file("sys/fs/cgroup/memory.max", &bytes(400))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        200,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/init/memory.max",
    );

    // With the child unlimited, the walk goes up to the mount point and stops there (the decoy above the
    // mount point is not a cgroup).
    tree.file("sys/fs/cgroup/init/memory.max", "max\n")
        .file("sys/fs/memory.max", &bytes(5));
    assert_memory(
        &detect_memory(tree.root()),
        400,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
}

#[test]
fn v2_limit_on_parent_only() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/kubepods/pod1/ctr"])
        .mountinfo(&[MOUNT_ROOTFS, MOUNT_V2_ROOT])
        .file("sys/fs/cgroup/cgroup.controllers", "memory\n")
        .file("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n")
        .file("sys/fs/cgroup/kubepods/pod1/ctr/memory.high", "max\n")
        .file("sys/fs/cgroup/kubepods/pod1/memory.max", &bytes(2048))
        .file("sys/fs/cgroup/kubepods/memory.max", &bytes(8192))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        2048,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/kubepods/pod1/memory.max",
    );
}

#[test]
fn v2_memory_high_below_memory_max_wins() {
    let tree = Tree::v2_namespaced();
    tree.file("sys/fs/cgroup/memory.max", &bytes(2048))
        .file("sys/fs/cgroup/memory.high", &bytes(1536));
    assert_memory(
        &detect_memory(tree.root()),
        1536,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.high",
    );
}

#[test]
fn v2_path_outside_mount_root_uses_mount_point() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/somewhere/else"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            "30 24 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw",
        ])
        .file("sys/fs/cgroup/memory.max", &bytes(640))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        640,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
}

#[test]
fn v2_mount_point_with_escaped_space() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            "30 24 0:26 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw",
        ])
        .file("mnt/my cgroup/memory.max", &bytes(900))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        900,
        MemorySource::CgroupV2,
        "/mnt/my cgroup/memory.max",
    );
}

#[test]
fn v1_only_limit() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
        &bytes(512),
    );
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        512,
        MemorySource::CgroupV1,
        "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
    );
    assert!(detected.warnings.is_empty(), "{:#?}", detected.warnings);
}

#[test]
fn v1_limit_on_parent_only() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
        &bytes(3072),
    );
    assert_memory(
        &detect_memory(tree.root()),
        3072,
        MemorySource::CgroupV1,
        "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
    );
}

#[test]
fn v1_hierarchical_memory_limit_from_memory_stat() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
        &bytes(4096),
    )
    .file(
        "sys/fs/cgroup/memory/docker/abc/memory.stat",
        &format!(
            "cache 0\nrss 4096\nhierarchical_memory_limit {}\n",
            1000 * MIB
        ),
    );
    assert_memory(
        &detect_memory(tree.root()),
        1000,
        MemorySource::CgroupV1,
        "/sys/fs/cgroup/memory/docker/abc/memory.stat",
    );
}

#[test]
fn v1_unlimited_everywhere_falls_back_to_meminfo() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/memory/docker/abc/memory.stat",
        &format!("hierarchical_memory_limit {V1_UNLIMITED}"),
    );
    assert_meminfo_fallback(&detect_memory(tree.root()));
}

#[test]
fn hybrid_host_ignores_controllerless_unified_and_uses_v1() {
    let tree = Tree::new();
    tree.proc_cgroup(&["4:memory:/process_api/abc", "1:cpu:/", "0::/"])
        .mountinfo(&[MOUNT_ROOTFS, MOUNT_V1_TMPFS, MOUNT_V1_MEMORY, MOUNT_UNIFIED])
        .file("sys/fs/cgroup/unified/cgroup.controllers", "")
        .file("sys/fs/cgroup/unified/cgroup.procs", "1\n")
        .file("sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED)
        .file(
            "sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
            &bytes(256),
        )
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        256,
        MemorySource::CgroupV1,
        "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
    );
}

#[test]
fn fixture_bind_mount_fallback_v2_ext4_and_tmpfs() {
    for fstype in ["ext4 /dev/sda1 rw", "tmpfs tmpfs rw"] {
        let tree = Tree::new();
        tree.proc_cgroup(&["0::/user.slice/session-1.scope"])
            .mountinfo(&[
                MOUNT_ROOTFS,
                &format!("60 1 8:1 /fixtures/cg /sys/fs/cgroup rw,relatime - {fstype}"),
            ])
            .file("sys/fs/cgroup/cgroup.controllers", "memory\n")
            .file("sys/fs/cgroup/memory.max", &bytes(700))
            .meminfo();
        let detected = detect_memory(tree.root());
        assert_memory(
            &detected,
            700,
            MemorySource::CgroupV2,
            "/sys/fs/cgroup/memory.max",
        );
        assert!(
            detected.warnings.is_empty(),
            "{fstype}: {:#?}",
            detected.warnings
        );
    }
}

/// On a hybrid host, a directory bind-mounted over `/sys/fs/cgroup` hides the host's v1 and unified
/// mounts, which mountinfo still lists: the fixture's v2 files must win.
#[test]
fn bind_mount_over_a_hybrid_host_hides_the_host_mounts() {
    let tree = Tree::new();
    tree.proc_cgroup(&["4:memory:/process_api/abc", "1:cpu:/", "0::/"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            MOUNT_V1_TMPFS,
            MOUNT_V1_CPU,
            MOUNT_V1_MEMORY,
            MOUNT_UNIFIED,
            "66 31 254:0 /tmp/fixture /sys/fs/cgroup rw,relatime - ext4 /dev/vda rw",
        ])
        .file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
        .file("sys/fs/cgroup/memory.max", &bytes(1500))
        .file("sys/fs/cgroup/cpu.max", "200000 100000\n")
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        1500,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    let cpus = detect_cpus(tree.root(), Some(8));
    assert_eq!((cpus.count, cpus.source), (2, CpuSource::CgroupV2));
}

#[test]
fn fixture_bind_mount_fallback_v1() {
    let tree = Tree::new();
    tree.proc_cgroup(&["4:memory:/docker/zzz"])
        .mountinfo(&[
            MOUNT_ROOTFS,
            "60 1 8:1 /fixtures/cg /sys/fs/cgroup rw - ext4 /dev/sda1 rw",
        ])
        .file("sys/fs/cgroup/memory/memory.limit_in_bytes", &bytes(1200))
        .meminfo();
    assert_memory(
        &detect_memory(tree.root()),
        1200,
        MemorySource::CgroupV1,
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    );
}

#[test]
fn limit_above_memtotal_is_clamped_keeping_cgroup_source() {
    let tree = Tree::v2_namespaced();
    tree.file("sys/fs/cgroup/memory.max", &bytes(65536));
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        16384,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    assert!(
        has_warning(&detected.warnings, &["65536 MB", "MemTotal", "16384 MB"]),
        "{:#?}",
        detected.warnings
    );
}

#[test]
fn limit_equal_to_memtotal_is_not_a_clamp() {
    let tree = Tree::v2_namespaced();
    tree.file("sys/fs/cgroup/memory.max", &bytes(16384));
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        16384,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    assert!(detected.warnings.is_empty(), "{:#?}", detected.warnings);
}

#[test]
fn no_cgroup_falls_back_to_meminfo() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/"])
        .mountinfo(&[MOUNT_ROOTFS])
        .meminfo();
    let detected = detect_memory(tree.root());
    assert_meminfo_fallback(&detected);
    assert_eq!(detected.warnings.len(), 2, "{:#?}", detected.warnings);
}

#[test]
fn no_meminfo_gives_default_with_warning() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/"]).mountinfo(&[MOUNT_ROOTFS]);
    let detected = detect_memory(tree.root());
    assert_eq!(
        (detected.mb, detected.source),
        (1024, MemorySource::Default)
    );
    assert!(
        has_warning(&detected.warnings, &["1024 MB", "POSTGRES_MEMORY"]),
        "{detected:#?}"
    );
}

#[test]
fn garbage_meminfo_gives_default_with_warnings() {
    let tree = Tree::new();
    tree.file("proc/meminfo", "MemTotal: lots\n");
    let detected = detect_memory(tree.root());
    assert_eq!(
        (detected.mb, detected.source),
        (1024, MemorySource::Default)
    );
    assert!(
        has_warning(&detected.warnings, &["/proc/meminfo", "MemTotal"]),
        "{detected:#?}"
    );
}

#[test]
fn empty_root_gives_default_without_panicking() {
    let tree = Tree::new();
    let detected = detect_memory(tree.root());
    assert_eq!(
        (detected.mb, detected.source),
        (1024, MemorySource::Default)
    );
    let cpus = detect_cpus(tree.root(), Some(3));
    assert_eq!((cpus.count, cpus.source), (3, CpuSource::Nproc));
}

#[test]
fn malformed_memory_max_values_warn_and_fall_back() {
    let long_garbage = "z".repeat(500);
    let cases: &[(&str, &str)] = &[
        ("", "\"\""),
        ("\n", "\"\""),
        ("lots of memory\n", "lots of memory"),
        ("-1\n", "\"-1\""),
        ("-536870912\n", "-536870912"),
        ("99999999999999999999\n", "99999999999999999999"),
        ("12.5\n", "12.5"),
        ("512M\n", "512M"),
        (&long_garbage, "zzzz"),
    ];
    for (content, quoted) in cases {
        let tree = Tree::v2_namespaced();
        tree.file("sys/fs/cgroup/memory.max", content);
        let detected = detect_memory(tree.root());
        assert_meminfo_fallback(&detected);
        assert!(
            has_warning(&detected.warnings, &["/sys/fs/cgroup/memory.max", quoted]),
            "content {content:?}: {:#?}",
            detected.warnings
        );
        // Long content is cut so one broken file cannot flood the log.
        assert!(
            detected.warnings.iter().all(|w| w.len() < 300),
            "{:#?}",
            detected.warnings
        );
    }
}

#[test]
fn memory_max_literal_max_and_missing_are_silent() {
    for content in [Some("max\n"), None] {
        let tree = Tree::v2_namespaced();
        if let Some(content) = content {
            tree.file("sys/fs/cgroup/memory.max", content);
        }
        let detected = detect_memory(tree.root());
        assert_meminfo_fallback(&detected);
        assert_eq!(
            detected.warnings.len(),
            2,
            "{content:?}: {:#?}",
            detected.warnings
        );
    }
}

#[test]
fn unreadable_memory_max_warns_and_falls_back() {
    let tree = Tree::v2_namespaced();
    // Tests run as root, where chmod 000 does not stop reads; a directory gives EISDIR instead.
    tree.dir("sys/fs/cgroup/memory.max");
    let detected = detect_memory(tree.root());
    assert_meminfo_fallback(&detected);
    assert!(
        has_warning(
            &detected.warnings,
            &["Cannot read /sys/fs/cgroup/memory.max"]
        ),
        "{:#?}",
        detected.warnings
    );
}

#[test]
fn malformed_own_limit_does_not_hide_parent_limit() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/a"])
        .mountinfo(&[MOUNT_V2_ROOT])
        .file("sys/fs/cgroup/a/memory.max", "garbage\n")
        .file("sys/fs/cgroup/memory.max", &bytes(800))
        .meminfo();
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        800,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    assert!(
        has_warning(
            &detected.warnings,
            &["/sys/fs/cgroup/a/memory.max", "garbage"]
        ),
        "{:#?}",
        detected.warnings
    );
}

#[test]
fn malformed_v1_limit_warns() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
        "-1\n",
    );
    let detected = detect_memory(tree.root());
    assert_meminfo_fallback(&detected);
    assert!(
        has_warning(
            &detected.warnings,
            &[
                "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "-1"
            ]
        ),
        "{:#?}",
        detected.warnings
    );
}

#[test]
fn garbage_proc_files_are_reported_and_survived() {
    let tree = Tree::new();
    tree.proc_cgroup(&["this is not a cgroup line", "0::/"])
        .mountinfo(&["complete garbage", MOUNT_V2_ROOT, "1 2 3"])
        .file("sys/fs/cgroup/memory.max", &bytes(333))
        .meminfo();
    let detected = detect_memory(tree.root());
    assert_memory(
        &detected,
        333,
        MemorySource::CgroupV2,
        "/sys/fs/cgroup/memory.max",
    );
    assert!(
        has_warning(
            &detected.warnings,
            &["2 malformed line(s)", "/proc/self/mountinfo"]
        ),
        "{:#?}",
        detected.warnings
    );
    assert!(
        has_warning(
            &detected.warnings,
            &["1 malformed line(s)", "/proc/self/cgroup"]
        ),
        "{:#?}",
        detected.warnings
    );
}

// ------------------------------------------------------------------------------------------------- cpu

#[test]
fn cpu_v2_quota() {
    for (cpu_max, expected) in [
        ("150000 100000\n", 2),
        ("50000 100000\n", 1),
        ("250000 50000\n", 5),
    ] {
        let tree = Tree::v2_namespaced();
        tree.file("sys/fs/cgroup/cpu.max", cpu_max);
        let detected = detect_cpus(tree.root(), Some(64));
        assert_eq!(
            (detected.count, detected.source),
            (expected, CpuSource::CgroupV2),
            "{cpu_max:?}: {detected:#?}"
        );
        assert!(detected.warnings.is_empty(), "{:#?}", detected.warnings);
    }
}

#[test]
fn cpu_v1_quota_on_cpu_cpuacct_mount() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
        "250000\n",
    )
    .file(
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
        "50000\n",
    );
    let detected = detect_cpus(tree.root(), Some(64));
    assert_eq!(
        (detected.count, detected.source),
        (5, CpuSource::CgroupV1),
        "{detected:#?}"
    );
}

#[test]
fn cpu_v2_parent_quota() {
    let tree = Tree::new();
    tree.proc_cgroup(&["0::/pod/ctr"])
        .mountinfo(&[MOUNT_V2_ROOT])
        .file("sys/fs/cgroup/pod/ctr/cpu.max", "max 100000\n")
        .file("sys/fs/cgroup/pod/cpu.max", "300000 100000\n")
        .file("sys/fs/cgroup/cpu.max", "800000 100000\n");
    let detected = detect_cpus(tree.root(), Some(64));
    assert_eq!(
        (detected.count, detected.source),
        (3, CpuSource::CgroupV2),
        "{detected:#?}"
    );
}

#[test]
fn cpu_v1_parent_quota() {
    let tree = Tree::v1_docker();
    tree.file(
        "sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us",
        "150000\n",
    );
    let detected = detect_cpus(tree.root(), Some(64));
    assert_eq!(
        (detected.count, detected.source),
        (2, CpuSource::CgroupV1),
        "{detected:#?}"
    );
}

#[test]
fn cpu_quota_bounded_by_affinity() {
    let tree = Tree::v2_namespaced();
    tree.file("sys/fs/cgroup/cpu.max", "400000 100000\n");
    let detected = detect_cpus(tree.root(), Some(2));
    assert_eq!(
        (detected.count, detected.source),
        (2, CpuSource::CgroupV2),
        "{detected:#?}"
    );
    let unbounded = detect_cpus(tree.root(), None);
    assert_eq!(unbounded.count, 4, "{unbounded:#?}");
}

#[test]
fn cpu_no_quota_uses_affinity() {
    for tree in [Tree::v2_namespaced(), Tree::v1_docker()] {
        let detected = detect_cpus(tree.root(), Some(6));
        assert_eq!(
            (detected.count, detected.source),
            (6, CpuSource::Nproc),
            "{detected:#?}"
        );
        assert_eq!(detected.warnings, vec![NPROC_WARNING.to_string()]);
    }
}

#[test]
fn cpu_no_quota_no_affinity_gives_one_with_warnings() {
    let tree = Tree::v2_namespaced();
    let detected = detect_cpus(tree.root(), None);
    assert_eq!(
        (detected.count, detected.source),
        (1, CpuSource::Nproc),
        "{detected:#?}"
    );
    assert!(detected.warnings.iter().any(|w| w == NPROC_WARNING));
    assert!(detected.warnings.len() >= 2, "{:#?}", detected.warnings);
}

#[test]
fn cpu_hybrid_uses_v1() {
    let tree = Tree::new();
    tree.proc_cgroup(&["2:cpu:/", "0::/"])
        .mountinfo(&[
            MOUNT_V1_TMPFS,
            "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
            "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct",
            MOUNT_UNIFIED,
        ])
        .file("sys/fs/cgroup/unified/cgroup.controllers", "")
        .file("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "200000\n")
        .file("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    let detected = detect_cpus(tree.root(), Some(8));
    assert_eq!(
        (detected.count, detected.source),
        (2, CpuSource::CgroupV1),
        "{detected:#?}"
    );
}

#[test]
fn cpu_malformed_files_warn_and_are_ignored() {
    for cpu_max in ["", "lots\n", "100000 0\n", "-5 100000\n", "1 2 3\n"] {
        let tree = Tree::v2_namespaced();
        tree.file("sys/fs/cgroup/cpu.max", cpu_max);
        let detected = detect_cpus(tree.root(), Some(4));
        assert_eq!(
            (detected.count, detected.source),
            (4, CpuSource::Nproc),
            "{cpu_max:?}"
        );
        assert!(
            has_warning(&detected.warnings, &["/sys/fs/cgroup/cpu.max"]),
            "{cpu_max:?}: {:#?}",
            detected.warnings
        );
    }

    for (quota, period, bad_file) in [
        ("abc\n", "100000\n", "cpu.cfs_quota_us"),
        ("200000\n", "0\n", "cpu.cfs_period_us"),
        ("200000\n", "garbage\n", "cpu.cfs_period_us"),
    ] {
        let tree = Tree::v1_docker();
        tree.file(
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us",
            quota,
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us",
            period,
        );
        let detected = detect_cpus(tree.root(), Some(4));
        assert_eq!(
            (detected.count, detected.source),
            (4, CpuSource::Nproc),
            "{quota:?}/{period:?}"
        );
        let expected_path = format!("/sys/fs/cgroup/cpu,cpuacct/docker/abc/{bad_file}");
        assert!(
            has_warning(&detected.warnings, &[&expected_path]),
            "{quota:?}/{period:?}: {:#?}",
            detected.warnings
        );
    }
}

#[test]
fn cpu_unreadable_cpu_max_warns() {
    let tree = Tree::v2_namespaced();
    tree.dir("sys/fs/cgroup/cpu.max");
    let detected = detect_cpus(tree.root(), Some(4));
    assert_eq!((detected.count, detected.source), (4, CpuSource::Nproc));
    assert!(has_warning(
        &detected.warnings,
        &["Cannot read /sys/fs/cgroup/cpu.max"]
    ));
}
