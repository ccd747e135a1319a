//! The image catalog: what the image the entrypoint runs in really contains, entry by entry.
//!
//! The manifest says what an image *should* have; a build (the local one from Debian's archive, a
//! build that skips source extensions) may end up with less. `aza-image-catalog --write`
//! ([`inspect`], [`command`]) looks at the built image once and writes `/usr/share/aza-pg/image-catalog.json`;
//! every start reads it back ([`load`]) to choose the default `shared_preload_libraries`, explain a
//! missing library and allow the logical output plugins the image has. No file means "not running in
//! a built image" (a host run, the tests): the defaults compiled from the manifest apply, and the
//! plan says so. A file that is there but cannot be used is an error, never ignored.

pub mod command;
pub mod inspect;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the image build writes the catalog.
pub const DEFAULT_PATH: &str = "/usr/share/aza-pg/image-catalog.json";
/// The variable that points the entrypoint at another catalog file.
pub const PATH_VARIABLE: &str = "AZA_IMAGE_CATALOG";
/// The format this entrypoint writes and reads.
pub const FORMAT: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCatalog {
    /// Always [`FORMAT`]; another value is refused rather than half understood.
    pub format: u32,
    /// Where the build took its packages from (the Dockerfile's `PACKAGE_SOURCE`).
    pub package_source: PackageSource,
    /// One per manifest entry, in the manifest's order.
    pub entries: Vec<Entry>,
    /// The manifest's default preload libraries that this image has, sorted.
    pub default_preload: Vec<String>,
    /// Every preload library this image has, sorted.
    pub preloadable: Vec<String>,
    /// The server's library directory (`pg_config --pkglibdir`) as the build found it: the
    /// preflight checks the libraries there at every start without running `pg_config`, whose fork
    /// and exec would cost more than the rest of the dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library_dir: Option<PathBuf>,
    /// Output plugins the server must allow with `output_plugin_libraries` (PostgreSQL 18.6 refuses
    /// a logical slot for any other plugin than pgoutput and test_decoding).
    pub logical_output_plugins: Vec<String>,
    /// The manifest's counts and names for version-info, computed by the build so the entrypoint
    /// need not parse the manifest. Optional within format 1, like `library_dir`: a catalog written
    /// before it existed still starts a container (version-info then says the summary is missing),
    /// and the catalogs the tests and the README write by hand need not carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_summary: Option<crate::version_info::ManifestSummary>,
}

/// The Dockerfile's `PACKAGE_SOURCE` build argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageSource {
    /// Pinned packages from PGDG, Percona, Timescale and GitHub releases.
    Vendor,
    /// The same entries by name from the base image's own Debian archive (the local build).
    Distribution,
    /// No packaged extensions: PostgreSQL's own modules (and source builds) only.
    None,
}

impl PackageSource {
    pub const ACCEPTED: &'static str = "vendor, distribution, none";

    pub fn as_str(self) -> &'static str {
        match self {
            PackageSource::Vendor => "vendor",
            PackageSource::Distribution => "distribution",
            PackageSource::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<PackageSource> {
        match text {
            "vendor" => Some(PackageSource::Vendor),
            "distribution" => Some(PackageSource::Distribution),
            "none" => Some(PackageSource::None),
            _ => None,
        }
    }
}

/// One manifest entry as this image has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub status: Status,
    /// What installed it: a Debian package, or the build note's own words (`source <commit>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The installed package's version, from `dpkg-query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why the image does not have it; required for `absent` and `disabled`, refused for `installed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Installed,
    /// Enabled in the manifest, but this build could not provide it.
    Absent,
    /// Disabled in the manifest.
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Installed => "installed",
            Status::Absent => "absent",
            Status::Disabled => "disabled",
        }
    }
}

/// How many entries have each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusCounts {
    pub installed: usize,
    pub absent: usize,
    pub disabled: usize,
}

impl ImageCatalog {
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn counts(&self) -> StatusCounts {
        let count = |status| self.entries.iter().filter(|e| e.status == status).count();
        StatusCounts {
            installed: count(Status::Installed),
            absent: count(Status::Absent),
            disabled: count(Status::Disabled),
        }
    }

    /// Why this image lacks the entry `name`, when the catalog says it does; `None` when the entry is
    /// installed or not in the catalog at all.
    pub fn why_not_in_image(&self, name: &str) -> Option<String> {
        let entry = self.entry(name)?;
        let reason = entry.reason.as_deref().unwrap_or("no reason recorded");
        match entry.status {
            Status::Installed => None,
            // The writer's own reasons already start so; a build note's do not.
            Status::Absent if reason.starts_with("not in this image") => Some(reason.to_string()),
            Status::Absent => Some(format!("not in this image: {reason}")),
            Status::Disabled => Some(format!("disabled in the manifest: {reason}")),
        }
    }
}

/// The catalog file the entrypoint looked for, and what it found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    pub path: PathBuf,
    /// `None`: there is no file at `path`, so this is not a built image.
    pub catalog: Option<ImageCatalog>,
}

impl CatalogFile {
    /// No catalog at `path` (a host run, the tests, an image built before catalogs existed).
    pub fn missing(path: impl Into<PathBuf>) -> CatalogFile {
        CatalogFile {
            path: path.into(),
            catalog: None,
        }
    }

    /// `image catalog /usr/share/aza-pg/image-catalog.json`, or why there is none.
    pub fn describe(&self) -> String {
        match self.catalog {
            Some(_) => format!("image catalog {}", self.path.display()),
            None => format!(
                "no image catalog ({} does not exist: not running in a built image)",
                self.path.display()
            ),
        }
    }
}

/// A catalog file that exists but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "image catalog {}: {}; the image build writes it with `aza-entrypoint image-catalog --write`: \
             rebuild the image, or point {PATH_VARIABLE} at a valid catalog",
            self.path, self.problem
        )
    }
}

impl std::error::Error for CatalogError {}

/// `AZA_IMAGE_CATALOG` (through `lookup`), else [`DEFAULT_PATH`]. Empty counts as unset.
pub fn path_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> PathBuf {
    lookup(PATH_VARIABLE)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
}

/// Reads the catalog the process environment points at.
pub fn load_from_env() -> Result<CatalogFile, CatalogError> {
    load(&path_from_lookup(|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }))
}

/// Reads `path`: a missing file is "no catalog"; anything else that goes wrong is an error.
pub fn load(path: &Path) -> Result<CatalogFile, CatalogError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(CatalogFile {
            path: path.to_path_buf(),
            catalog: Some(parse(&text, &shown)?),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CatalogFile::missing(path)),
        Err(e) => Err(CatalogError {
            path: shown,
            problem: format!("cannot be read ({e})"),
        }),
    }
}

/// Parses and checks catalog text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<ImageCatalog, CatalogError> {
    let error = |problem: String| CatalogError {
        path: path.to_string(),
        problem,
    };
    let catalog: ImageCatalog =
        serde_json::from_str(text).map_err(|e| error(format!("is not a valid catalog ({e})")))?;
    check(&catalog).map_err(error)?;
    Ok(catalog)
}

/// The rules serde cannot express.
pub fn check(catalog: &ImageCatalog) -> Result<(), String> {
    if catalog.format != FORMAT {
        return Err(format!(
            "has format {}, and this entrypoint reads format {FORMAT} only",
            catalog.format
        ));
    }
    for (index, entry) in catalog.entries.iter().enumerate() {
        if entry.name.trim().is_empty() {
            return Err(format!("entries[{index}] has an empty name"));
        }
        if catalog.entries[..index]
            .iter()
            .any(|e| e.name == entry.name)
        {
            return Err(format!("lists the entry '{}' twice", entry.name));
        }
        let has_reason = entry
            .reason
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty());
        match (entry.status, has_reason) {
            (Status::Installed, true) => {
                return Err(format!(
                    "entry '{}' is installed but has a reason (only absent and disabled entries have one)",
                    entry.name
                ))
            }
            (Status::Absent | Status::Disabled, false) => {
                return Err(format!(
                    "entry '{}' is {} without a reason (absent and disabled entries need one)",
                    entry.name,
                    entry.status.as_str()
                ))
            }
            _ => {}
        }
    }
    if let Some(library) = catalog
        .default_preload
        .iter()
        .find(|library| !catalog.preloadable.contains(library))
    {
        return Err(format!(
            "default_preload names '{library}', which preloadable does not list"
        ));
    }
    Ok(())
}

/// The catalog as the file holds it: pretty JSON and a final newline.
pub fn to_json(catalog: &ImageCatalog) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string_pretty(catalog)? + "\n")
}

#[cfg(test)]
pub(crate) mod tests;
