//! Memory detection: cgroup v2, cgroup v1, `/proc/meminfo`, then a default.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cgroup::{parse_u64_strict, quote_content, CgroupLayout, FsView, Hierarchy};

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
    let fs = FsView::new(root);
    let mut warnings = Vec::new();
    let layout = CgroupLayout::load(fs, &mut warnings);

    let cgroup_limit = cgroup_v2_limit(fs, &layout, &mut warnings)
        .map(|limit| (limit, MemorySource::CgroupV2))
        .or_else(|| {
            cgroup_v1_limit(fs, &layout, &mut warnings).map(|limit| (limit, MemorySource::CgroupV1))
        });
    let mem_total_kb = read_mem_total_kb(fs, &mut warnings);

    if let Some((limit, source)) = cgroup_limit {
        let origin = limit.origin.display().to_string();
        let limit_mb = limit.bytes / BYTES_PER_MB;
        // A limit above the machine's RAM cannot be reached: the kernel would swap or OOM first, so tune for
        // the RAM that exists. The source stays the cgroup since that is where the (too large) limit is set.
        if let Some(total_kb) = mem_total_kb.filter(|kb| limit.bytes / 1024 > *kb) {
            let total_mb = total_kb / 1024;
            warnings.push(format!(
                "cgroup memory limit {limit_mb} MB from {origin} exceeds MemTotal {total_mb} MB; using {total_mb} MB"
            ));
            return DetectedMemory {
                mb: total_mb,
                source,
                origin,
                warnings,
            };
        }
        return DetectedMemory {
            mb: limit_mb,
            source,
            origin,
            warnings,
        };
    }

    if let Some(total_kb) = mem_total_kb {
        // These two texts are matched by log scrapers: keep them verbatim.
        warnings.push(
            "Using /proc/meminfo fallback for RAM detection (no cgroup limit or POSTGRES_MEMORY set)"
                .to_string(),
        );
        warnings.push(
            "This may reflect host RAM instead of container allocation - set POSTGRES_MEMORY to override"
                .to_string(),
        );
        return DetectedMemory {
            mb: total_kb / 1024,
            source: MemorySource::Meminfo,
            origin: PROC_MEMINFO.to_string(),
            warnings,
        };
    }

    warnings.push(format!(
        "Could not detect memory (no cgroup limit, no usable {PROC_MEMINFO}); assuming {DEFAULT_MEMORY_MB} MB - set POSTGRES_MEMORY to override"
    ));
    DetectedMemory {
        mb: DEFAULT_MEMORY_MB,
        source: MemorySource::Default,
        origin: format!("built-in default ({DEFAULT_MEMORY_MB} MB)"),
        warnings,
    }
}

const BYTES_PER_MB: u64 = 1_048_576;
const DEFAULT_MEMORY_MB: u64 = 1024;
const PROC_MEMINFO: &str = "/proc/meminfo";
/// cgroup v1 has no "max" keyword: "unlimited" is a huge page-aligned number (9223372036854771712 on
/// x86-64). Anything this large is not a real limit.
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// A byte limit and the file (container path) that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Limit {
    bytes: u64,
    origin: PathBuf,
}

/// Keeps the smaller of `best` and a new candidate; on a tie the earlier (more specific) one stays.
fn keep_smallest(best: &mut Option<Limit>, candidate: Limit) {
    if best.as_ref().is_none_or(|b| candidate.bytes < b.bytes) {
        *best = Some(candidate);
    }
}

/// What a cgroup memory file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemoryValue {
    Unlimited,
    Bytes(u64),
}

/// Parses a cgroup v2 `memory.max`/`memory.high` value: `max` or a byte count.
fn parse_v2_memory_value(content: &str) -> Option<MemoryValue> {
    if content.trim() == "max" {
        return Some(MemoryValue::Unlimited);
    }
    parse_u64_strict(content).map(MemoryValue::Bytes)
}

/// Parses a cgroup v1 byte count, where values of 2^62 and above mean "unlimited".
fn parse_v1_memory_value(content: &str) -> Option<MemoryValue> {
    parse_u64_strict(content).map(|bytes| {
        if bytes >= V1_UNLIMITED_THRESHOLD {
            MemoryValue::Unlimited
        } else {
            MemoryValue::Bytes(bytes)
        }
    })
}

/// Reads one limit file; missing, unlimited and malformed files (the last with a warning) give `None`.
fn read_limit_file(
    fs: FsView<'_>,
    path: PathBuf,
    parse: fn(&str) -> Option<MemoryValue>,
    warnings: &mut Vec<String>,
) -> Option<Limit> {
    let content = fs.read(&path, warnings)?;
    match parse(&content) {
        Some(MemoryValue::Bytes(bytes)) => Some(Limit {
            bytes,
            origin: path,
        }),
        Some(MemoryValue::Unlimited) => None,
        None => {
            warnings.push(format!(
                "Ignoring {}: expected a byte count, found {}",
                path.display(),
                quote_content(&content)
            ));
            None
        }
    }
}

/// The smallest `memory.max`/`memory.high` over our cgroup v2 directory and its ancestors. `memory.high`
/// counts because the kernel throttles hard and reclaims at it: PostgreSQL must be tuned below it.
fn cgroup_v2_limit(
    fs: FsView<'_>,
    layout: &CgroupLayout,
    warnings: &mut Vec<String>,
) -> Option<Limit> {
    let mut best = None;
    for dir in layout.directories(fs, Hierarchy::V2)? {
        for file in ["memory.max", "memory.high"] {
            if let Some(limit) =
                read_limit_file(fs, dir.join(file), parse_v2_memory_value, warnings)
            {
                keep_smallest(&mut best, limit);
            }
        }
    }
    best
}

/// The smallest `memory.limit_in_bytes` over our cgroup v1 directory and its ancestors, and the
/// `hierarchical_memory_limit` the kernel reports in our own `memory.stat` (it already folds in ancestors we
/// may not be able to see).
fn cgroup_v1_limit(
    fs: FsView<'_>,
    layout: &CgroupLayout,
    warnings: &mut Vec<String>,
) -> Option<Limit> {
    let directories = layout.directories(
        fs,
        Hierarchy::V1 {
            controller: "memory",
        },
    )?;
    let mut best = None;
    for dir in &directories {
        let path = dir.join("memory.limit_in_bytes");
        if let Some(limit) = read_limit_file(fs, path, parse_v1_memory_value, warnings) {
            keep_smallest(&mut best, limit);
        }
    }
    if let Some(own) = directories.first() {
        let stat_path = own.join("memory.stat");
        if let Some(content) = fs.read(&stat_path, warnings) {
            match parse_hierarchical_memory_limit(&content) {
                Ok(Some(MemoryValue::Bytes(bytes))) => keep_smallest(
                    &mut best,
                    Limit {
                        bytes,
                        origin: stat_path,
                    },
                ),
                Ok(_) => {}
                Err(bad) => warnings.push(format!(
                    "Ignoring hierarchical_memory_limit in {}: expected a byte count, found {}",
                    stat_path.display(),
                    quote_content(&bad)
                )),
            }
        }
    }
    best
}

/// Finds `hierarchical_memory_limit` in a v1 `memory.stat`. `Ok(None)` if the key is absent; `Err` with the
/// offending value if it is malformed.
fn parse_hierarchical_memory_limit(stat: &str) -> Result<Option<MemoryValue>, String> {
    for line in stat.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("hierarchical_memory_limit") {
            continue;
        }
        let value = parts.collect::<Vec<_>>().join(" ");
        return parse_v1_memory_value(&value).map(Some).ok_or(value);
    }
    Ok(None)
}

/// Reads `MemTotal` (kB) from `/proc/meminfo`; a missing file is silent, a file without a usable
/// `MemTotal` gives a warning.
fn read_mem_total_kb(fs: FsView<'_>, warnings: &mut Vec<String>) -> Option<u64> {
    let content = fs.read(Path::new(PROC_MEMINFO), warnings)?;
    let total = parse_mem_total_kb(&content);
    if total.is_none() {
        warnings.push(format!(
            "Ignoring {PROC_MEMINFO}: no valid \"MemTotal: <n> kB\" line"
        ));
    }
    total
}

/// Parses the `MemTotal:  16318000 kB` line of `/proc/meminfo`. A zero total is treated as invalid: no
/// machine runs without RAM, so it can only be a broken file.
fn parse_mem_total_kb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let kb = parse_u64_strict(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) if kb > 0 => Some(kb),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_value_table() {
        let cases: &[(&str, Option<MemoryValue>)] = &[
            ("max\n", Some(MemoryValue::Unlimited)),
            ("536870912\n", Some(MemoryValue::Bytes(536_870_912))),
            ("0", Some(MemoryValue::Bytes(0))),
            ("", None),
            ("MAX", None),
            ("-1", None),
            ("12k", None),
            ("99999999999999999999", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_v2_memory_value(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn v1_value_table() {
        let cases: &[(&str, Option<MemoryValue>)] = &[
            ("9223372036854771712\n", Some(MemoryValue::Unlimited)),
            ("4611686018427387904", Some(MemoryValue::Unlimited)),
            (
                "4611686018427387903",
                Some(MemoryValue::Bytes((1 << 62) - 1)),
            ),
            ("1073741824", Some(MemoryValue::Bytes(1 << 30))),
            ("max", None),
            ("-1", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_v1_memory_value(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn hierarchical_limit_table() {
        let stat =
            "cache 0\nrss 12\nhierarchical_memory_limit 268435456\nhierarchical_memsw_limit 1\n";
        assert_eq!(
            parse_hierarchical_memory_limit(stat),
            Ok(Some(MemoryValue::Bytes(268_435_456)))
        );
        assert_eq!(
            parse_hierarchical_memory_limit("hierarchical_memory_limit 9223372036854771712\n"),
            Ok(Some(MemoryValue::Unlimited))
        );
        assert_eq!(parse_hierarchical_memory_limit("cache 0\n"), Ok(None));
        assert_eq!(parse_hierarchical_memory_limit(""), Ok(None));
        assert_eq!(
            parse_hierarchical_memory_limit("hierarchical_memory_limit lots\n"),
            Err("lots".to_string())
        );
        assert_eq!(
            parse_hierarchical_memory_limit("hierarchical_memory_limit\n"),
            Err(String::new())
        );
    }

    #[test]
    fn meminfo_table() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                "MemTotal:       16318000 kB\nMemFree: 1 kB\n",
                Some(16_318_000),
            ),
            ("MemFree: 1 kB\nMemTotal: 2048 kB\n", Some(2048)),
            ("MemTotal: 2048 kB", Some(2048)),
            ("MemTotal: 0 kB\n", None),
            ("MemTotal: 2048\n", None),
            ("MemTotal: 2048 MB\n", None),
            ("MemTotal: lots kB\n", None),
            ("MemTotal: -5 kB\n", None),
            ("MemTotal:\n", None),
            ("MemFree: 1 kB\n", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_mem_total_kb(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn smallest_limit_wins_and_ties_keep_the_first() {
        let mut best = None;
        keep_smallest(
            &mut best,
            Limit {
                bytes: 10,
                origin: "/a".into(),
            },
        );
        keep_smallest(
            &mut best,
            Limit {
                bytes: 5,
                origin: "/b".into(),
            },
        );
        keep_smallest(
            &mut best,
            Limit {
                bytes: 5,
                origin: "/c".into(),
            },
        );
        keep_smallest(
            &mut best,
            Limit {
                bytes: 7,
                origin: "/d".into(),
            },
        );
        assert_eq!(
            best,
            Some(Limit {
                bytes: 5,
                origin: "/b".into()
            })
        );
    }
}
