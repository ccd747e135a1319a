//! The manifest's data model: what `manifest/extensions.json` may contain, field by field.
//!
//! Every struct rejects unknown fields, so a typo (`default_preloads`) is an error instead of a flag
//! silently left at its default. Optional fields default to "off"/empty; nothing here is derived.

use serde::{Deserialize, Serialize};

/// The whole catalog: the PostgreSQL release the image is built on and every extension, tool and
/// contrib module it knows about (enabled or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub postgres: PostgresRelease,
    pub extensions: Vec<Extension>,
}

/// The PostgreSQL release and the official base image, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresRelease {
    /// `major.minor`, e.g. `18.4`.
    pub version: String,
    /// `name:tag@sha256:<64 hex>`; the Dockerfile's `BASE_IMAGE` default.
    pub base_image: String,
}

impl PostgresRelease {
    /// The major version (`18` of `18.4`); validation guarantees the form.
    pub fn major(&self) -> &str {
        self.version.split('.').next().unwrap_or(&self.version)
    }
}

/// What an entry is to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Installed into the server's extension directory; has a catalog entry (`CREATE EXTENSION`)
    /// unless it is a preload-only module.
    Extension,
    /// A program or output plugin with no catalog entry (pgbackrest, pgbadger, wal2json, …).
    Tool,
    /// Shipped with PostgreSQL itself (contrib or core).
    Builtin,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Extension => "extension",
            Kind::Tool => "tool",
            Kind::Builtin => "builtin",
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// The extension name as `CREATE EXTENSION` takes it (or the tool's name).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub kind: Kind,
    pub category: String,
    pub description: String,
    /// Whether the image ships it. A disabled entry stays in the catalog with its reason.
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub source: Source,
    pub install: Install,
    /// How a source install is built; absent for builtins and package installs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Debian packages the build needs (build stage only, never in the final image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub build_packages: Vec<String>,
    /// Debian packages a source-built library needs at run time (installed in the final image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_packages: Vec<String>,
    pub runtime: Runtime,
    /// Other entries that must be installed (and, at init, created) first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    pub docs_url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Extension {
    /// The name that goes into `shared_preload_libraries`.
    pub fn preload_library(&self) -> &str {
        self.runtime
            .preload_library
            .as_deref()
            .unwrap_or(&self.name)
    }

    /// Created with `CREATE EXTENSION` at first initialisation.
    pub fn is_auto_created(&self) -> bool {
        self.enabled && self.runtime.default_enable
    }

    /// In the default `shared_preload_libraries`.
    pub fn is_default_preload(&self) -> bool {
        self.enabled && self.runtime.shared_preload && self.runtime.default_preload
    }

    /// A preload-only module: loaded as a library, never `CREATE EXTENSION`ed.
    pub fn is_module(&self) -> bool {
        self.runtime.preload_only
    }
}

/// Where the code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// Part of PostgreSQL.
    Builtin,
    /// A git repository pinned to a commit; `tag` names the release the commit is (absent for an
    /// untagged commit).
    Git {
        repository: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        /// 40 hex characters: the exact commit built or packaged.
        commit: String,
    },
}

/// How the image gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Install {
    /// Already in the base image.
    Builtin,
    /// An apt package from apt.postgresql.org.
    Pgdg {
        package: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Why `version` is absent; required when it is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unpinned_reason: Option<String>,
    },
    /// An apt package from Percona's ppg repository.
    Percona {
        package: String,
        version: String,
        /// The shared library the package must install (checked in the image build).
        library_file: String,
        /// The same software in the distribution's own archive under another name, for the local
        /// build (`PACKAGE_SOURCE=distribution`); absent when the archive has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distribution_package: Option<String>,
    },
    /// An apt package from Timescale's repository.
    Timescale {
        package: String,
        version: String,
        library_file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distribution_package: Option<String>,
    },
    /// A `.deb` inside a GitHub release asset.
    GithubRelease {
        /// `owner/name`.
        repository: String,
        tag: String,
        /// Asset file name; `{version}`, `{pg_major}` and `{arch}` are substituted.
        asset: String,
        library_file: String,
    },
    /// Built from `source` at its pinned commit, as `build` says.
    Source {
        /// The distribution's package of the same software, for the local build.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        distribution_package: Option<String>,
    },
}

impl Install {
    pub fn method(&self) -> &'static str {
        match self {
            Install::Builtin => "builtin",
            Install::Pgdg { .. } => "pgdg",
            Install::Percona { .. } => "percona",
            Install::Timescale { .. } => "timescale",
            Install::GithubRelease { .. } => "github-release",
            Install::Source { .. } => "source",
        }
    }

    /// The package the local build installs from the distribution's archive
    /// (`PACKAGE_SOURCE=distribution`): PGDG's names are Debian's own, Percona's and Timescale's are
    /// mapped by `distribution_package`. `Err` says why that build cannot have the entry.
    pub fn distribution_package(&self) -> Result<&str, String> {
        match self {
            Install::Builtin => Err("part of PostgreSQL itself".to_string()),
            Install::Pgdg { package, .. } => Ok(package),
            Install::Percona {
                package,
                distribution_package,
                ..
            } => distribution_package.as_deref().ok_or_else(|| {
                format!("only packaged by Percona ({package}); the distribution's archive has none")
            }),
            Install::Timescale {
                package,
                distribution_package,
                ..
            } => distribution_package.as_deref().ok_or_else(|| {
                format!("only packaged by Timescale ({package}); the distribution's archive has none")
            }),
            Install::GithubRelease { repository, .. } => Err(format!(
                "a release asset of {repository} on GitHub, which the distribution build does not download"
            )),
            Install::Source {
                distribution_package,
            } => distribution_package.as_deref().ok_or_else(|| {
                "built from source (git and crates.io); the distribution's archive has no package of it"
                    .to_string()
            }),
        }
    }

    /// `(package, pinned version)` for apt installs.
    pub fn apt_package(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Install::Pgdg {
                package, version, ..
            } => Some((package, version.as_deref())),
            Install::Percona {
                package, version, ..
            }
            | Install::Timescale {
                package, version, ..
            } => Some((package, Some(version))),
            _ => None,
        }
    }
}

/// The build system of a source install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildType {
    Pgxs,
    CargoPgrx,
    Meson,
    Cmake,
    Autotools,
    Make,
    /// Plain SQL files, nothing compiled.
    SqlSchema,
}

impl BuildType {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildType::Pgxs => "pgxs",
            BuildType::CargoPgrx => "cargo-pgrx",
            BuildType::Meson => "meson",
            BuildType::Cmake => "cmake",
            BuildType::Autotools => "autotools",
            BuildType::Make => "make",
            BuildType::SqlSchema => "sql-schema",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    #[serde(rename = "type")]
    pub build_type: BuildType,
    /// Directory inside the repository holding the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<String>,
    /// Cargo features (cargo-pgrx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_default_features: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meson_options: Vec<String>,
}

/// How the server uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Its library can be (and for it to work, must be) in `shared_preload_libraries`.
    pub shared_preload: bool,
    /// In the entrypoint's default `shared_preload_libraries`.
    pub default_preload: bool,
    /// `CREATE EXTENSION` at first initialisation (docker/initdb/01-extensions.sql).
    pub default_enable: bool,
    /// A module: loaded as a library or installed by a script, never `CREATE EXTENSION`ed.
    pub preload_only: bool,
    /// The library name when it differs from `name` (`safeupdate` for pg_safeupdate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preload_library: Option<String>,
    /// A setting naming the only database it can be created in (`cron.database_name` for pg_cron).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_setting: Option<String>,
    /// Shared memory the library reserves at its default settings, in MiB, when it is large enough to
    /// matter: the memory budget counts it whenever the library is preloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_memory_mb: Option<u64>,
}
