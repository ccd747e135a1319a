//! Shared cgroup plumbing: finding this process's cgroup directories from `/proc/self/cgroup` and `mountinfo`.
//!
//! Every path handled here is a *container path* (absolute, as a process inside the container sees it, e.g.
//! `/sys/fs/cgroup/memory.max`). [`FsView`] re-roots those paths under the detection root when it reads, so
//! warnings and origins always name what a person inside the container would look at.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Longest file content quoted verbatim in a warning; longer content is cut so logs stay readable.
const MAX_QUOTED_CONTENT: usize = 64;

/// Read-only view of the filesystem below a detection root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FsView<'a> {
    root: &'a Path,
}

impl<'a> FsView<'a> {
    pub(crate) fn new(root: &'a Path) -> Self {
        FsView { root }
    }

    /// Maps a container path (`/sys/fs/cgroup/x`) to the real path below the root.
    pub(crate) fn host_path(&self, container_path: &Path) -> PathBuf {
        let relative: PathBuf = container_path
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
            .collect();
        self.root.join(relative)
    }

    pub(crate) fn is_dir(&self, container_path: &Path) -> bool {
        self.host_path(container_path).is_dir()
    }

    pub(crate) fn exists(&self, container_path: &Path) -> bool {
        self.host_path(container_path).exists()
    }

    /// Reads a file. A missing file is normal (controllers and limits are optional) and returns `None`
    /// silently; any other failure (permission denied, a directory, invalid UTF-8) returns `None` and
    /// records a warning naming the file.
    pub(crate) fn read(&self, container_path: &Path, warnings: &mut Vec<String>) -> Option<String> {
        match std::fs::read(self.host_path(container_path)) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Some(text),
                Err(_) => {
                    warnings.push(format!(
                        "Cannot read {}: content is not valid UTF-8; ignoring it",
                        container_path.display()
                    ));
                    None
                }
            },
            Err(err) if err.kind() == ErrorKind::NotFound => None,
            Err(err) => {
                warnings.push(format!(
                    "Cannot read {}: {err}; ignoring it",
                    container_path.display()
                ));
                None
            }
        }
    }
}

/// Quotes file content for a warning, trimmed and cut to a readable length.
pub(crate) fn quote_content(content: &str) -> String {
    let trimmed = content.trim();
    if trimmed.chars().count() <= MAX_QUOTED_CONTENT {
        format!("{trimmed:?}")
    } else {
        let head: String = trimmed.chars().take(MAX_QUOTED_CONTENT).collect();
        format!("{head:?}... ({} bytes)", trimmed.len())
    }
}

/// Parses a non-negative decimal integer strictly: surrounding whitespace is allowed, anything else
/// (empty, signs, garbage, values that overflow `u64`) is rejected.
pub(crate) fn parse_u64_strict(content: &str) -> Option<u64> {
    let trimmed = content.trim();
    // `u64::from_str` accepts a leading '+', which no kernel file contains: insist on digits only.
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok()
}

/// One line of `/proc/self/mountinfo`, reduced to what cgroup discovery needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    /// The path inside the mounted filesystem that is visible at `mount_point` (for cgroups: the cgroup
    /// that appears as the mount's top directory).
    pub(crate) root: String,
    pub(crate) mount_point: String,
    pub(crate) fstype: String,
    pub(crate) super_options: Vec<String>,
}

/// Decodes the octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash) the kernel uses
/// for awkward bytes in mountinfo paths. A backslash not followed by three octal digits is kept as is.
pub(crate) fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                // Three octal digits can encode up to 0o777 = 511; only byte values are real escapes.
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line:
/// `id parent major:minor root mount_point options [optional fields...] - fstype source super_options`.
/// Returns `None` for lines that do not have that shape.
pub(crate) fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // The optional fields vary in number; the lone "-" separates them from the filesystem part.
    let separator = fields.iter().position(|f| *f == "-")?;
    // After the separator: fstype, source and super options, all three required.
    if separator < 6 || fields.len() < separator + 4 {
        return None;
    }
    // Sanity-check the fixed numeric fields so arbitrary text with a " - " in it is not taken for a mount.
    let numeric = |f: &str| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit());
    let device_ok = fields[2]
        .split_once(':')
        .is_some_and(|(major, minor)| numeric(major) && numeric(minor));
    if !numeric(fields[0]) || !numeric(fields[1]) || !device_ok {
        return None;
    }
    Some(MountInfo {
        root: unescape_mountinfo(fields[3]),
        mount_point: unescape_mountinfo(fields[4]),
        fstype: fields[separator + 1].to_string(),
        super_options: fields[separator + 3]
            .split(',')
            .map(str::to_string)
            .collect(),
    })
}

/// One line of `/proc/self/cgroup`: `hierarchy-id:controller-list:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMembership {
    pub(crate) hierarchy_id: u32,
    /// Empty for the cgroup v2 line (`0::/path`).
    pub(crate) controllers: Vec<String>,
    pub(crate) path: String,
}

/// Parses one `/proc/self/cgroup` line; `None` if it does not have that shape.
pub(crate) fn parse_cgroup_line(line: &str) -> Option<CgroupMembership> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (id, rest) = line.split_once(':')?;
    // The path may itself contain ':', so split only twice.
    let (controllers, path) = rest.split_once(':')?;
    if !path.starts_with('/') {
        return None;
    }
    let hierarchy_id = parse_u64_strict(id).and_then(|v| u32::try_from(v).ok())?;
    Some(CgroupMembership {
        hierarchy_id,
        controllers: controllers
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        path: path.to_string(),
    })
}

/// Which cgroup hierarchy to locate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// The unified (v2) hierarchy.
    V2,
    /// A v1 hierarchy carrying `controller` (`"memory"` or `"cpu"`).
    V1 { controller: &'static str },
}

impl Hierarchy {
    /// Where the hierarchy conventionally lives, and a file whose presence proves it does. Used when
    /// mountinfo does not show the mount with its cgroup fstype, which happens when a fixture directory is
    /// bind-mounted over `/sys/fs/cgroup` (mountinfo then shows ext4, tmpfs, overlay, ...).
    fn conventional_mount(self) -> (&'static str, &'static str) {
        match self {
            Hierarchy::V2 => ("/sys/fs/cgroup", "cgroup.controllers"),
            Hierarchy::V1 {
                controller: "memory",
            } => ("/sys/fs/cgroup/memory", "memory.limit_in_bytes"),
            Hierarchy::V1 { .. } => ("/sys/fs/cgroup/cpu", "cpu.cfs_quota_us"),
        }
    }

    fn matches_mount(self, mount: &MountInfo) -> bool {
        match self {
            Hierarchy::V2 => mount.fstype == "cgroup2",
            Hierarchy::V1 { controller } => {
                mount.fstype == "cgroup" && mount.super_options.iter().any(|o| o == controller)
            }
        }
    }

    fn matches_membership(self, membership: &CgroupMembership) -> bool {
        match self {
            Hierarchy::V2 => membership.hierarchy_id == 0 && membership.controllers.is_empty(),
            Hierarchy::V1 { controller } => membership.controllers.iter().any(|c| c == controller),
        }
    }
}

/// This process's cgroup memberships and the cgroup mounts it can see, read once per detection.
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupLayout {
    memberships: Vec<CgroupMembership>,
    mounts: Vec<MountInfo>,
}

const PROC_SELF_CGROUP: &str = "/proc/self/cgroup";
const PROC_SELF_MOUNTINFO: &str = "/proc/self/mountinfo";

impl CgroupLayout {
    /// Reads `/proc/self/cgroup` and `/proc/self/mountinfo`; malformed lines are skipped with one warning
    /// per file.
    pub(crate) fn load(fs: FsView<'_>, warnings: &mut Vec<String>) -> Self {
        let memberships = parse_lines(fs, PROC_SELF_CGROUP, parse_cgroup_line, warnings);
        // Every line is parsed (so corruption is reported), but only visible cgroup mounts are kept.
        let all_mounts = parse_lines(fs, PROC_SELF_MOUNTINFO, parse_mountinfo_line, warnings);
        let mounts = visible_mounts(all_mounts)
            .into_iter()
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
            .collect();
        CgroupLayout {
            memberships,
            mounts,
        }
    }

    /// The cgroup directories (container paths) whose limits apply to this process in `hierarchy`: its own
    /// cgroup first, then each ancestor up to and including the mount point. `None` if the hierarchy is not
    /// mounted.
    pub(crate) fn directories(&self, fs: FsView<'_>, hierarchy: Hierarchy) -> Option<Vec<PathBuf>> {
        let own_path = self
            .memberships
            .iter()
            .find(|m| hierarchy.matches_membership(m))
            .map(|m| m.path.as_str());

        let candidates: Vec<&MountInfo> = self
            .mounts
            .iter()
            .filter(|m| hierarchy.matches_mount(m))
            .collect();
        // The same hierarchy can be mounted more than once; prefer a mount that contains our cgroup.
        let chosen = candidates
            .iter()
            .find(|m| own_path.is_some_and(|p| relative_to_mount_root(p, &m.root).is_some()))
            .or_else(|| candidates.first());

        let (mount_point, mount_root) = match chosen {
            Some(mount) => (PathBuf::from(&mount.mount_point), mount.root.clone()),
            None => {
                let (dir, probe) = hierarchy.conventional_mount();
                let dir = PathBuf::from(dir);
                if !fs.exists(&dir.join(probe)) {
                    return None;
                }
                (dir, "/".to_string())
            }
        };

        let relative = own_path
            .and_then(|p| relative_to_mount_root(p, &mount_root))
            .unwrap_or_default();
        // Without a namespace-aware view (e.g. the fixture fallback) the own path may not exist under the
        // mount: the mount point itself is then the best cgroup we can see.
        let relative = if fs.is_dir(&mount_point.join(&relative)) {
            relative
        } else {
            PathBuf::new()
        };

        let mut directories = Vec::new();
        let mut current = mount_point.join(&relative);
        directories.push(current.clone());
        while current != mount_point && current.pop() {
            directories.push(current.clone());
        }
        Some(directories)
    }
}

/// Drops mounts hidden by a later mount on the same path or on one of its ancestors. mountinfo lists
/// mounts in the order they were made, so when a directory is bind-mounted over `/sys/fs/cgroup` the
/// host's cgroup mounts below it are still listed but no longer reachable.
fn visible_mounts(mounts: Vec<MountInfo>) -> Vec<MountInfo> {
    let shadowed = |index: usize, mount: &MountInfo| {
        mounts[index + 1..]
            .iter()
            .any(|later| Path::new(&mount.mount_point).starts_with(&later.mount_point))
    };
    let keep: Vec<bool> = mounts
        .iter()
        .enumerate()
        .map(|(index, mount)| !shadowed(index, mount))
        .collect();
    mounts
        .into_iter()
        .zip(keep)
        .filter_map(|(mount, visible)| visible.then_some(mount))
        .collect()
}

/// The part of `cgroup_path` below `mount_root`, made only of normal components. `None` if the path is not
/// under the root, or contains `..` (a process outside its cgroup namespace root sees such paths).
fn relative_to_mount_root(cgroup_path: &str, mount_root: &str) -> Option<PathBuf> {
    let relative = Path::new(cgroup_path).strip_prefix(mount_root).ok()?;
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| relative.to_path_buf())
}

/// Reads `path` and parses each non-empty line with `parse`, warning once if some lines were malformed.
fn parse_lines<T>(
    fs: FsView<'_>,
    path: &str,
    parse: impl Fn(&str) -> Option<T>,
    warnings: &mut Vec<String>,
) -> Vec<T> {
    let Some(content) = fs.read(Path::new(path), warnings) else {
        return Vec::new();
    };
    let mut parsed = Vec::new();
    let mut malformed = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        match parse(line) {
            Some(value) => parsed.push(value),
            None => malformed.push(line),
        }
    }
    if let Some(first) = malformed.first() {
        warnings.push(format!(
            "Ignoring {} malformed line(s) in {path}, first: {}",
            malformed.len(),
            quote_content(first)
        ));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_u64_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("536870912\n", Some(536_870_912)),
            ("  42  ", Some(42)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("99999999999999999999", None),
            ("", None),
            ("\n", None),
            ("-1", None),
            ("+5", None),
            ("12abc", None),
            ("1 2", None),
            ("max", None),
            ("1.5", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_u64_strict(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn unescape_table() {
        let cases: &[(&str, &str)] = &[
            ("/plain", "/plain"),
            ("/with\\040space", "/with space"),
            ("/tab\\011x", "/tab\tx"),
            ("/nl\\012x", "/nl\nx"),
            ("/back\\134slash", "/back\\slash"),
            ("/trailing\\04", "/trailing\\04"),
            ("/notoctal\\089", "/notoctal\\089"),
            ("/end\\", "/end\\"),
            ("/toolarge\\777", "/toolarge\\777"),
        ];
        for (input, expected) in cases {
            assert_eq!(unescape_mountinfo(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn mountinfo_table() {
        let v1 = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory";
        let m = parse_mountinfo_line(v1).expect("v1 line parses");
        assert_eq!(m.root, "/");
        assert_eq!(m.mount_point, "/sys/fs/cgroup/memory");
        assert_eq!(m.fstype, "cgroup");
        assert_eq!(m.super_options, vec!["rw", "memory"]);

        // Several optional fields before the separator.
        let v2 = "30 24 0:26 /docker/abc /sys/fs/cgroup rw,nosuid shared:4 master:1 propagate_from:2 - cgroup2 cgroup2 rw,nsdelegate";
        let m = parse_mountinfo_line(v2).expect("v2 line parses");
        assert_eq!(m.root, "/docker/abc");
        assert_eq!(m.mount_point, "/sys/fs/cgroup");
        assert_eq!(m.fstype, "cgroup2");

        // No optional fields at all.
        let bare = "1 0 8:1 / / rw - ext4 /dev/sda1 rw";
        assert_eq!(
            parse_mountinfo_line(bare).map(|m| m.fstype),
            Some("ext4".into())
        );

        // Escaped spaces in root and mount point.
        let escaped =
            "40 31 0:37 /a\\040b /mnt/my\\040cg rw shared:9 - cgroup cgroup rw,cpu,cpuacct";
        let m = parse_mountinfo_line(escaped).expect("escaped line parses");
        assert_eq!(m.root, "/a b");
        assert_eq!(m.mount_point, "/mnt/my cg");
        assert_eq!(m.super_options, vec!["rw", "cpu", "cpuacct"]);

        for garbage in [
            "",
            "garbage",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime cgroup cgroup rw,memory",
            "35 31 0:32 / /x rw - cgroup",
            "x 31 0:32 / /x rw - cgroup cgroup rw",
            "35 31 032 / /x rw - cgroup cgroup rw",
            "35 31 0:32 / - cgroup cgroup rw",
        ] {
            assert_eq!(parse_mountinfo_line(garbage), None, "garbage {garbage:?}");
        }
    }

    #[test]
    fn cgroup_line_table() {
        let m = parse_cgroup_line("0::/").expect("v2 root");
        assert_eq!(
            (m.hierarchy_id, m.controllers.len(), m.path.as_str()),
            (0, 0, "/")
        );

        let m = parse_cgroup_line("4:memory:/process_api/ffbe").expect("v1 memory");
        assert_eq!(m.controllers, vec!["memory"]);
        assert_eq!(m.path, "/process_api/ffbe");

        let m = parse_cgroup_line("3:cpu,cpuacct:/docker/abc\n").expect("v1 cpu");
        assert_eq!(m.controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m.path, "/docker/abc");

        let m = parse_cgroup_line("9:name=systemd:/a:b").expect("path with colon");
        assert_eq!(m.path, "/a:b");

        let m = parse_cgroup_line("0::/../../outside").expect("path outside namespace");
        assert_eq!(m.path, "/../../outside");

        for garbage in [
            "",
            "garbage",
            "0:/",
            "x::/",
            "-1::/",
            "0::relative",
            "4:memory",
        ] {
            assert_eq!(parse_cgroup_line(garbage), None, "garbage {garbage:?}");
        }
    }

    /// Regression: found by the `detect_files` fuzz target (a line ending after the source field
    /// indexed past the end).
    #[test]
    fn mountinfo_line_without_super_options_is_rejected() {
        assert_eq!(
            parse_mountinfo_line("31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs"),
            None
        );
    }

    #[test]
    fn mounts_hidden_by_a_later_mount_are_dropped() {
        let mount = |point: &str, fstype: &str| MountInfo {
            root: "/".into(),
            mount_point: point.into(),
            fstype: fstype.into(),
            super_options: vec![],
        };
        let mounts = vec![
            mount("/sys/fs/cgroup", "tmpfs"),
            mount("/sys/fs/cgroup/memory", "cgroup"),
            mount("/sys/fs/cgroup/unified", "cgroup2"),
            mount("/sys/fs/cgroupfoo", "cgroup2"),
            mount("/sys/fs/cgroup", "ext4"),
        ];
        let visible: Vec<String> = visible_mounts(mounts)
            .into_iter()
            .map(|m| format!("{} {}", m.mount_point, m.fstype))
            .collect();
        assert_eq!(
            visible,
            ["/sys/fs/cgroupfoo cgroup2", "/sys/fs/cgroup ext4"]
        );
    }

    #[test]
    fn relative_path_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("/docker/abc", "/", Some("docker/abc")),
            ("/", "/", Some("")),
            ("/docker/abc", "/docker/abc", Some("")),
            ("/docker/abc/sub", "/docker/abc", Some("sub")),
            ("/docker/abcdef", "/docker/abc", None),
            ("/other", "/docker/abc", None),
            ("/../..", "/", None),
        ];
        for (path, root, expected) in cases {
            assert_eq!(
                relative_to_mount_root(path, root),
                expected.map(PathBuf::from),
                "path {path:?} root {root:?}"
            );
        }
    }

    #[test]
    fn quote_truncates_long_content() {
        assert_eq!(quote_content(" abc \n"), "\"abc\"");
        let long = "x".repeat(200);
        let quoted = quote_content(&long);
        assert!(quoted.len() < 100, "{quoted}");
        assert!(quoted.ends_with("(200 bytes)"), "{quoted}");
    }
}
