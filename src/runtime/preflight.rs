//! Checks made before anything starts: a server that would crash-loop on a missing preload library
//! fails here once, naming what is missing, why the image lacks it, what it can preload instead and
//! the line to paste. `--dry-run` runs the same check, so it refuses exactly what a start refuses.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Origin;
use crate::generated::defaults::PRELOAD_LIBRARIES;
use crate::pg_config;
use crate::plan::{OverrideSource, Plan};

/// The library directory of the PostgreSQL on `PATH` (`pg_config --pkglibdir`), or why it is unknown.
pub fn package_library_dir() -> Result<PathBuf, String> {
    pg_config::directories(["--pkglibdir"]).map(|[dir]| dir)
}

/// The server's library directory: the one a built image recorded in its catalog, else what the
/// server on `PATH` says.
pub fn library_dir(image: &crate::image_catalog::CatalogFile) -> Result<PathBuf, String> {
    image
        .catalog
        .as_ref()
        .and_then(|catalog| catalog.library_dir.clone())
        .map_or_else(package_library_dir, Ok)
}

/// What the preflight did when it did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// Every library in force is in the library directory (or none is preloaded).
    Passed,
    /// The check could not run; the warning says why.
    NotRun { warning: String },
}

/// Runs the preflight for `plan` against the server on `PATH`.
pub fn check(plan: &Plan) -> Result<Preflight, PreloadRefusal> {
    let libraries = plan.preload_libraries_in_force();
    if libraries.is_empty() {
        return Ok(Preflight::Passed);
    }
    match library_dir(&plan.image) {
        Ok(dir) => judge(plan, &libraries, &dir).map(|()| Preflight::Passed),
        Err(why) => Ok(Preflight::NotRun {
            warning: format!(
                "preflight not run: {why}, so shared_preload_libraries ({}) was not checked against \
                 the server's library directory; put the server's bin directory on PATH",
                libraries.join(",")
            ),
        }),
    }
}

/// Who chose the preload list in force: the subject of the refusal and the shape of its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chooser {
    Environment,
    /// The image catalog's default (at this path).
    ImageDefault(String),
    /// The manifest's defaults compiled in, because there is no catalog at this path.
    CompiledDefault(String),
    CommandLine,
    AlterSystem,
    ConfigFile,
}

/// A preload list naming libraries this server does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreloadRefusal {
    pub chooser: Chooser,
    /// Each missing library as named, with why the image does not have it.
    pub missing: Vec<(String, String)>,
    /// What this image can preload.
    pub can_preload: Vec<String>,
    /// The list in force without the missing libraries, in its order.
    pub remaining: Vec<String>,
}

impl fmt::Display for PreloadRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match &self.chooser {
            Chooser::Environment => "POSTGRES_SHARED_PRELOAD_LIBRARIES".to_string(),
            Chooser::ImageDefault(path) => {
                format!("The default shared_preload_libraries of the image catalog {path}")
            }
            Chooser::CompiledDefault(path) => format!(
                "The default shared_preload_libraries (the manifest's, compiled in: there is no image \
                 catalog at {path})"
            ),
            Chooser::CommandLine => "shared_preload_libraries on the command line".to_string(),
            Chooser::AlterSystem => "shared_preload_libraries set by ALTER SYSTEM".to_string(),
            Chooser::ConfigFile => "shared_preload_libraries in postgresql.conf".to_string(),
        };
        let names: Vec<&str> = self.missing.iter().map(|(name, _)| name.as_str()).collect();
        let reasons = match self.missing.as_slice() {
            [(_, why)] => why.clone(),
            many => many
                .iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        };
        let it = if names.len() == 1 { "it" } else { "them" };
        write!(
            f,
            "{subject} names {}, which this image does not have ({reasons}). This image can preload: {}. ",
            names.join(", "),
            if self.can_preload.is_empty() {
                "none of the manifest's preload libraries".to_string()
            } else {
                self.can_preload.join(", ")
            }
        )?;
        let list = self.remaining.join(",");
        match (&self.chooser, self.remaining.is_empty()) {
            (Chooser::CommandLine, _) => {
                write!(f, "To start without {it}: -c shared_preload_libraries={list}")
            }
            (Chooser::ConfigFile, _) => write!(
                f,
                "To start without {it}: -c shared_preload_libraries={list} (the command line wins over \
                 postgresql.conf), then change that line of postgresql.conf"
            ),
            (Chooser::AlterSystem, _) => write!(
                f,
                "To start without {it}: -c shared_preload_libraries={list} (the command line wins over \
                 ALTER SYSTEM), then ALTER SYSTEM SET shared_preload_libraries = '{list}'"
            ),
            // An empty POSTGRES_SHARED_PRELOAD_LIBRARIES means "the default", so no list at all is
            // a server option.
            (_, true) => write!(
                f,
                "To start without {it}: pass -c shared_preload_libraries= to the server (after the \
                 image name); an empty POSTGRES_SHARED_PRELOAD_LIBRARIES means the default"
            ),
            (_, false) => write!(
                f,
                "To start without {it}: -e POSTGRES_SHARED_PRELOAD_LIBRARIES={list}"
            ),
        }
    }
}

impl std::error::Error for PreloadRefusal {}

/// The refusal, if any library in `libraries` is not in `library_dir`.
pub fn judge(plan: &Plan, libraries: &[String], library_dir: &Path) -> Result<(), PreloadRefusal> {
    let missing = missing_libraries(libraries, library_dir);
    if missing.is_empty() {
        return Ok(());
    }
    let catalog = plan.image.catalog.as_ref();
    let reasons = missing
        .iter()
        .map(|library| {
            let bare = bare_name(library);
            let why = match catalog {
                Some(catalog) => match catalog.why_not_in_image(bare) {
                    Some(why) => why,
                    None if catalog.entry(bare).is_some() => format!(
                        "the image catalog lists {bare} as installed, but {} is missing",
                        library_file(library, library_dir).display()
                    ),
                    None => format!("no {}", library_file(library, library_dir).display()),
                },
                None => format!("no {}", library_file(library, library_dir).display()),
            };
            (library.clone(), why)
        })
        .collect();
    let can_preload = match catalog {
        Some(catalog) => catalog.preloadable.clone(),
        None => PRELOAD_LIBRARIES
            .iter()
            .filter(|library| library_dir.join(format!("{library}.so")).is_file())
            .map(|library| library.to_string())
            .collect(),
    };
    let overridden = plan.preload_override().map(|o| o.source);
    let path = plan.image.path.display().to_string();
    let chooser = match (overridden, plan.preload_origin) {
        (Some(OverrideSource::CommandLine), _) => Chooser::CommandLine,
        (Some(OverrideSource::AlterSystem), _) => Chooser::AlterSystem,
        (Some(OverrideSource::ConfigFile), _) => Chooser::ConfigFile,
        (None, Origin::Environment) => Chooser::Environment,
        (None, Origin::Image) => Chooser::ImageDefault(path),
        (None, Origin::Default) => Chooser::CompiledDefault(path),
    };
    Err(PreloadRefusal {
        chooser,
        missing: reasons,
        can_preload,
        remaining: libraries
            .iter()
            .filter(|library| !missing.contains(library))
            .cloned()
            .collect(),
    })
}

/// `$libdir/pg_cron.so` → `pg_cron`: the entry name a library most likely belongs to.
fn bare_name(library: &str) -> &str {
    let name = library.rsplit('/').next().unwrap_or(library);
    name.strip_suffix(".so").unwrap_or(name)
}

/// Where `library` resolves: `$libdir/` and bare names in `library_dir`, absolute paths as they are.
fn library_base(library: &str, library_dir: &Path) -> PathBuf {
    let relative = library.strip_prefix("$libdir/").unwrap_or(library);
    if relative.starts_with('/') {
        PathBuf::from(relative)
    } else {
        library_dir.join(relative)
    }
}

fn with_so_suffix(base: &Path) -> PathBuf {
    PathBuf::from(format!("{}.so", base.display()))
}

/// The file PostgreSQL would load for `library` (with `.so` added, as it tries).
fn library_file(library: &str, library_dir: &Path) -> PathBuf {
    let base = library_base(library, library_dir);
    if base.extension().is_some_and(|e| e == "so") {
        base
    } else {
        with_so_suffix(&base)
    }
}

/// The libraries that PostgreSQL would fail to load, as named in the setting: neither the name
/// nor the name with `.so` is a file.
pub fn missing_libraries(libraries: &[String], library_dir: &Path) -> Vec<String> {
    libraries
        .iter()
        .filter(|name| {
            let base = library_base(name, library_dir);
            !base.is_file() && !with_so_suffix(&base).is_file()
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
