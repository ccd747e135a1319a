//! CPU detection: cgroup quotas (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), bounded by the affinity mask.

use std::fmt;
use std::path::Path;

use nix::sched::{sched_getaffinity, CpuSet};
use nix::unistd::Pid;

use super::cgroup::{parse_u64_strict, quote_content, CgroupLayout, FsView, Hierarchy};

/// Where a CPU count came from. The `as_str` names are part of the log format and the JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    /// `POSTGRES_CPUS` (set by the config layer, never by detection).
    Manual,
    CgroupV2,
    CgroupV1,
    /// The scheduler affinity mask (what `nproc` prints).
    Nproc,
}

impl CpuSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CpuSource::Manual => "manual",
            CpuSource::CgroupV2 => "cgroup-v2",
            CpuSource::CgroupV1 => "cgroup-v1",
            CpuSource::Nproc => "nproc",
        }
    }
}

impl fmt::Display for CpuSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The number of CPUs this container may use (before the 1..128 clamp, which the config layer applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedCpus {
    pub count: u32,
    pub source: CpuSource,
    pub warnings: Vec<String>,
}

/// Detects the CPU limit below `root`; `affinity` is the size of the affinity mask (see
/// [`affinity_cpu_count`]), passed in so tests control it.
pub fn detect_cpus(root: &Path, affinity: Option<u32>) -> DetectedCpus {
    let fs = FsView::new(root);
    let mut warnings = Vec::new();
    let layout = CgroupLayout::load(fs, &mut warnings);

    let quota = cgroup_v2_quota(fs, &layout, &mut warnings)
        .map(|cores| (cores, CpuSource::CgroupV2))
        .or_else(|| {
            cgroup_v1_quota(fs, &layout, &mut warnings).map(|cores| (cores, CpuSource::CgroupV1))
        });

    match (quota, affinity) {
        // A quota is a time budget; the affinity mask is the set of CPUs we may run on. Parallelism is
        // bounded by both.
        (Some((cores, source)), affinity) => DetectedCpus {
            count: affinity.map_or(cores, |a| cores.min(a)),
            source,
            warnings,
        },
        (None, Some(count)) => {
            warnings
                .push("Using nproc fallback for CPU detection (no cgroup quota set)".to_string());
            DetectedCpus {
                count,
                source: CpuSource::Nproc,
                warnings,
            }
        }
        (None, None) => {
            warnings
                .push("Using nproc fallback for CPU detection (no cgroup quota set)".to_string());
            warnings.push(
                "Could not read the CPU affinity mask; assuming 1 CPU - set POSTGRES_CPUS to override"
                    .to_string(),
            );
            DetectedCpus {
                count: 1,
                source: CpuSource::Nproc,
                warnings,
            }
        }
    }
}

/// The number of CPUs in this process's scheduler affinity mask (`sched_getaffinity`).
pub fn affinity_cpu_count() -> Option<u32> {
    // Pid 0 means the calling thread.
    let set = sched_getaffinity(Pid::from_raw(0)).ok()?;
    // `is_set` only fails for an index beyond `CpuSet::count()`, which this range never produces.
    let count = (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .count();
    u32::try_from(count).ok().filter(|&c| c > 0)
}

/// The CFS period the kernel uses when `cpu.max` gives only a quota.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// Whole CPUs a quota allows: ceil(quota / period), at least 1 (a fractional CPU still runs one backend at
/// a time), saturating at `u32::MAX`. `period` must be non-zero.
fn cores_for_quota(quota_us: u64, period_us: u64) -> u32 {
    let cores = quota_us.div_ceil(period_us).max(1);
    u32::try_from(cores).unwrap_or(u32::MAX)
}

/// What a cgroup CPU bandwidth setting says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quota {
    Unlimited,
    Limited { quota_us: u64, period_us: u64 },
}

/// Parses cgroup v2 `cpu.max`: `"max [period]"` or `"quota [period]"`, period defaulting to 100000.
/// `None` if malformed (garbage, extra fields, period 0).
fn parse_cpu_max(content: &str) -> Option<Quota> {
    let mut fields = content.split_whitespace();
    let quota = fields.next()?;
    let period_us = match fields.next() {
        Some(period) => parse_u64_strict(period).filter(|&p| p > 0)?,
        None => DEFAULT_PERIOD_US,
    };
    if fields.next().is_some() {
        return None;
    }
    if quota == "max" {
        return Some(Quota::Unlimited);
    }
    let quota_us = parse_u64_strict(quota)?;
    Some(Quota::Limited {
        quota_us,
        period_us,
    })
}

/// Parses v1 `cpu.cfs_quota_us`: `-1` means no quota, otherwise microseconds. `None` if malformed.
fn parse_cfs_quota(content: &str) -> Option<Option<u64>> {
    if content.trim() == "-1" {
        return Some(None);
    }
    parse_u64_strict(content).map(Some)
}

/// Keeps the smaller core count.
fn keep_smallest(best: &mut Option<u32>, cores: u32) {
    *best = Some(best.map_or(cores, |b| b.min(cores)));
}

fn warn_malformed(warnings: &mut Vec<String>, path: &Path, expected: &str, content: &str) {
    warnings.push(format!(
        "Ignoring {}: expected {expected}, found {}",
        path.display(),
        quote_content(content)
    ));
}

/// The smallest `cpu.max` quota over our cgroup v2 directory and its ancestors.
fn cgroup_v2_quota(
    fs: FsView<'_>,
    layout: &CgroupLayout,
    warnings: &mut Vec<String>,
) -> Option<u32> {
    let mut best = None;
    for dir in layout.directories(fs, Hierarchy::V2)? {
        let path = dir.join("cpu.max");
        let Some(content) = fs.read(&path, warnings) else {
            continue;
        };
        match parse_cpu_max(&content) {
            Some(Quota::Limited {
                quota_us,
                period_us,
            }) => keep_smallest(&mut best, cores_for_quota(quota_us, period_us)),
            Some(Quota::Unlimited) => {}
            None => warn_malformed(
                warnings,
                &path,
                "\"<quota|max> [<period>]\" with a non-zero period",
                &content,
            ),
        }
    }
    best
}

/// The smallest `cpu.cfs_quota_us / cpu.cfs_period_us` over our cgroup v1 `cpu` directory and its
/// ancestors.
fn cgroup_v1_quota(
    fs: FsView<'_>,
    layout: &CgroupLayout,
    warnings: &mut Vec<String>,
) -> Option<u32> {
    let mut best = None;
    for dir in layout.directories(fs, Hierarchy::V1 { controller: "cpu" })? {
        if let Some(cores) = v1_level_cores(fs, &dir, warnings) {
            keep_smallest(&mut best, cores);
        }
    }
    best
}

/// The core count one v1 cgroup directory allows, if it sets a valid quota.
fn v1_level_cores(fs: FsView<'_>, dir: &Path, warnings: &mut Vec<String>) -> Option<u32> {
    let quota_path = dir.join("cpu.cfs_quota_us");
    let content = fs.read(&quota_path, warnings)?;
    let Some(quota) = parse_cfs_quota(&content) else {
        warn_malformed(warnings, &quota_path, "microseconds or -1", &content);
        return None;
    };
    let quota_us = quota?;

    let period_path = dir.join("cpu.cfs_period_us");
    // The kernel always provides the period next to the quota; if a tree lacks it, use the kernel default.
    let period_us = match fs.read(&period_path, warnings) {
        Some(content) => match parse_u64_strict(&content).filter(|&p| p > 0) {
            Some(period) => period,
            None => {
                warn_malformed(
                    warnings,
                    &period_path,
                    "a non-zero number of microseconds",
                    &content,
                );
                return None;
            }
        },
        None => DEFAULT_PERIOD_US,
    };
    Some(cores_for_quota(quota_us, period_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_table() {
        let limited = |quota_us, period_us| {
            Some(Quota::Limited {
                quota_us,
                period_us,
            })
        };
        let cases: &[(&str, Option<Quota>)] = &[
            ("max 100000\n", Some(Quota::Unlimited)),
            ("max\n", Some(Quota::Unlimited)),
            ("150000 100000\n", limited(150_000, 100_000)),
            ("50000", limited(50_000, 100_000)),
            ("250000 50000", limited(250_000, 50_000)),
            ("100000 0", None),
            ("", None),
            ("lots 100000", None),
            ("-1 100000", None),
            ("100000 -5", None),
            ("100000 100000 7", None),
            ("max 0", None),
            ("99999999999999999999 100000", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_cpu_max(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn cfs_quota_table() {
        let cases: &[(&str, Option<Option<u64>>)] = &[
            ("-1\n", Some(None)),
            ("200000\n", Some(Some(200_000))),
            ("-2", None),
            ("", None),
            ("max", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_cfs_quota(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn cores_table() {
        let cases: &[(u64, u64, u32)] = &[
            (150_000, 100_000, 2),
            (50_000, 100_000, 1),
            (250_000, 50_000, 5),
            (100_000, 100_000, 1),
            (100_001, 100_000, 2),
            (0, 100_000, 1),
            (u64::MAX, 1, u32::MAX),
        ];
        for (quota, period, expected) in cases {
            assert_eq!(
                cores_for_quota(*quota, *period),
                *expected,
                "{quota}/{period}"
            );
        }
    }

    #[test]
    fn affinity_count_is_positive_on_this_machine() {
        let count = affinity_cpu_count().expect("sched_getaffinity works in tests");
        assert!(count >= 1);
    }
}
