//! Resolving the memory and CPUs to tune for: the user's explicit values win over detection, the CPU
//! count is clamped, and too little memory is a fatal error that says how to fix it.

use std::fmt;

use crate::config::Config;
use crate::detect::{CpuSource, DetectedCpus, DetectedMemory, MemorySource};
use crate::tuning::{MAX_CPUS, MIN_CPUS, MIN_MEMORY_MB};

/// The resources the tuning is computed for, with where each figure came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub memory_mb: u64,
    pub memory_source: MemorySource,
    /// The file or variable that set the memory figure, for messages.
    pub memory_origin: String,
    pub cpus: u32,
    pub cpu_source: CpuSource,
    /// Size of `/dev/shm` in MiB, when known (filled in by the caller after [`resolve`]).
    pub shm_mb: Option<u64>,
    /// Free space on the volume that holds (or will hold) `pg_wal`, in MiB, when known (filled in by
    /// the caller after [`resolve`]).
    pub wal_free_mb: Option<u64>,
    /// On a standby, what its primary requires (read from `pg_control` by the caller after [`resolve`]).
    pub primary_requires: crate::tuning::PrimaryRequires,
    /// Whether the server's library directory has a JIT provider (`llvmjit.so`); `None` when that
    /// could not be found out (filled in by the caller after [`resolve`]).
    pub jit_provider: Option<bool>,
    pub warnings: Vec<String>,
}

/// Less memory than PostgreSQL can be tuned for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLittleMemory {
    pub memory_mb: u64,
    pub source: MemorySource,
    pub origin: String,
}

impl fmt::Display for TooLittleMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mb, min) = (self.memory_mb, MIN_MEMORY_MB);
        match self.source {
            MemorySource::Manual => write!(
                f,
                "POSTGRES_MEMORY gives {mb}MB of RAM - minimum {min}MB REQUIRED. \
                 Set POSTGRES_MEMORY to {min} or more (e.g. 1g), and give the container at least that much."
            ),
            _ => write!(
                f,
                "Detected {mb}MB RAM ({}, from {}) - minimum {min}MB REQUIRED. Give the container more memory: \
                 docker run -m 1g, compose mem_limit: 1g, or Kubernetes resources.limits.memory: 1Gi; \
                 if the detected limit is wrong, set POSTGRES_MEMORY.",
                self.source, self.origin
            ),
        }
    }
}

impl std::error::Error for TooLittleMemory {}

/// Combines the configuration with detection. Detection runs only for what the user did not set.
pub fn resolve(
    config: &Config,
    detect_memory: impl FnOnce() -> DetectedMemory,
    detect_cpus: impl FnOnce() -> DetectedCpus,
) -> Result<Resources, TooLittleMemory> {
    let mut warnings = Vec::new();
    let memory = match config.memory_mb {
        Some(mb) => DetectedMemory {
            mb,
            source: MemorySource::Manual,
            origin: "POSTGRES_MEMORY".to_string(),
            warnings: Vec::new(),
        },
        None => detect_memory(),
    };
    warnings.extend(memory.warnings);

    let detected_cpus = match config.cpus {
        Some(count) => DetectedCpus {
            count,
            source: CpuSource::Manual,
            warnings: Vec::new(),
        },
        None => detect_cpus(),
    };
    warnings.extend(detected_cpus.warnings);
    let cpus = detected_cpus.count.clamp(MIN_CPUS, MAX_CPUS);
    if detected_cpus.count < MIN_CPUS {
        warnings.push(format!(
            "Detected CPU cores ({}) below minimum - clamping to {MIN_CPUS}",
            detected_cpus.count
        ));
    } else if detected_cpus.count > MAX_CPUS {
        warnings.push(format!(
            "Detected CPU cores ({}) exceeds maximum ({MAX_CPUS}) - clamping to {MAX_CPUS}",
            detected_cpus.count
        ));
    }

    if memory.mb < MIN_MEMORY_MB {
        return Err(TooLittleMemory {
            memory_mb: memory.mb,
            source: memory.source,
            origin: memory.origin,
        });
    }
    Ok(Resources {
        memory_mb: memory.mb,
        memory_source: memory.source,
        memory_origin: memory.origin,
        cpus,
        cpu_source: detected_cpus.source,
        shm_mb: None,
        wal_free_mb: None,
        primary_requires: Default::default(),
        jit_provider: None,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fake_env;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(fake_env(vars)).unwrap()
    }

    fn detected(mb: u64) -> DetectedMemory {
        DetectedMemory {
            mb,
            source: MemorySource::CgroupV1,
            origin: "/sys/fs/cgroup/memory/memory.limit_in_bytes".into(),
            warnings: vec!["from detection".into()],
        }
    }

    fn cpus(count: u32) -> DetectedCpus {
        DetectedCpus {
            count,
            source: CpuSource::CgroupV2,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn manual_values_skip_detection() {
        let r = resolve(
            &config(&[("POSTGRES_MEMORY", "2g"), ("POSTGRES_CPUS", "3")]),
            || panic!("memory detection must not run"),
            || panic!("cpu detection must not run"),
        )
        .unwrap();
        assert_eq!(
            (r.memory_mb, r.memory_source, r.cpus, r.cpu_source),
            (2048, MemorySource::Manual, 3, CpuSource::Manual)
        );
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn detection_fills_in_and_keeps_its_warnings() {
        let r = resolve(&config(&[]), || detected(4096), || cpus(2)).unwrap();
        assert_eq!(
            (r.memory_mb, r.memory_source, r.cpus, r.cpu_source),
            (4096, MemorySource::CgroupV1, 2, CpuSource::CgroupV2)
        );
        assert_eq!(r.warnings, ["from detection"]);
    }

    #[test]
    fn cpu_counts_are_clamped_with_a_warning() {
        let r = resolve(
            &config(&[("POSTGRES_CPUS", "500")]),
            || detected(4096),
            || cpus(1),
        )
        .unwrap();
        assert_eq!(r.cpus, 128);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("(500) exceeds maximum (128)")),
            "{:?}",
            r.warnings
        );
        let r = resolve(&config(&[]), || detected(4096), || cpus(0)).unwrap();
        assert_eq!(r.cpus, 1);
        assert!(r.warnings.iter().any(|w| w.contains("below minimum")));
    }

    #[test]
    fn memory_floor_is_exactly_512mb() {
        assert!(resolve(&config(&[]), || detected(512), || cpus(1)).is_ok());
        let err = resolve(&config(&[]), || detected(511), || cpus(1)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("511MB")
                && message.contains("memory.limit_in_bytes")
                && message.contains("docker run -m"),
            "{message}"
        );
        let err = resolve(
            &config(&[("POSTGRES_MEMORY", "256")]),
            || detected(4096),
            || cpus(1),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("POSTGRES_MEMORY gives 256MB"),
            "{err}"
        );
    }
}
