//! `version-info.txt` and `version-info.json`: what is in the image and how it is tuned right now.
//!
//! Written at image build time (`aza-entrypoint version-info --write`) and refreshed at every start
//! when the directory is writable (a read-only filesystem is a warning, not a failure). Contents: the
//! PostgreSQL version reported by the server binary, image build metadata, the extension catalog
//! summary (every count derived from the manifest, at image build time: [`ManifestSummary`], kept in
//! the image catalog), what the image really has of it (the image catalog: each entry installed,
//! absent or disabled, and why), the preload list in force with its source, and the active tuning.
//! Never a secret: only the fields built here go in, and none of them comes from a password variable.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::Origin;
use crate::image_catalog::{CatalogFile, Status};
use crate::manifest::{Counts, Extension, Kind, Manifest};
use crate::plan::{self, Plan};

pub mod role;

pub use role::RoleInfo;

pub const DEFAULT_DIR: &str = "/etc/postgresql";
const RULE: &str =
    "===============================================================================";

/// Where the image build records its metadata (`KEY=value` lines for the three variables below).
pub const BUILD_INFO_FILE: &str = "/usr/share/aza-pg/build-info";

/// Image build metadata: `AZA_IMAGE_VERSION`, `AZA_VCS_REF` and `AZA_BUILD_DATE` from
/// [`BUILD_INFO_FILE`], which the Dockerfile writes from its build arguments, else the environment. (A file, not
/// `ENV`: under the legacy builder every instruction after the package layer costs seconds.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    pub image_version: Option<String>,
    pub vcs_ref: Option<String>,
    pub build_date: Option<String>,
}

impl BuildInfo {
    pub fn from_env() -> BuildInfo {
        let recorded = std::fs::read_to_string(BUILD_INFO_FILE).unwrap_or_default();
        BuildInfo::from_sources(|name| std::env::var(name).ok(), &recorded)
    }

    /// The image's record wins: it is a fact about the build, which a container's `-e` cannot
    /// change; the environment fills in what the file lacks (a host run has no file). Empty values
    /// count as unset. The file's lines are `KEY=value`; other lines are not build metadata.
    pub fn from_sources(env: impl Fn(&str) -> Option<String>, recorded: &str) -> BuildInfo {
        let get = |name: &str| {
            recorded
                .lines()
                .find_map(|line| {
                    line.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('='))
                        .map(|value| value.trim().to_string())
                })
                .filter(|v| !v.is_empty())
                .or_else(|| env(name).filter(|v| !v.trim().is_empty()))
        };
        BuildInfo {
            image_version: get("AZA_IMAGE_VERSION"),
            vcs_ref: get("AZA_VCS_REF"),
            build_date: get("AZA_BUILD_DATE"),
        }
    }
}

/// What version-info shows of the extension manifest: plain data, computed from the manifest by
/// the image build (`aza-image-catalog --write` stores it in the image catalog), so the entrypoint,
/// which reads the catalog at every start anyway, does not carry the manifest's parser and its
/// serde code (82,624 bytes of the 1 MiB binary when they left) to print counts and names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSummary {
    /// The PostgreSQL release the manifest was written for (`postgres.version`).
    pub postgres_version: String,
    pub counts: Counts,
    /// Preload libraries that may be added to `POSTGRES_SHARED_PRELOAD_LIBRARIES`, sorted.
    pub optional_preloads: Vec<String>,
    /// Enabled entries created at first initialisation, sorted.
    pub auto_created: Vec<String>,
    /// Enabled entries a user may `CREATE EXTENSION` (neither tools, modules nor auto-created), sorted.
    pub available: Vec<String>,
    /// Enabled tools, sorted.
    pub tools: Vec<String>,
    /// Disabled entries with the manifest's reason, in the manifest's order.
    pub disabled: Vec<DisabledEntry>,
}

/// A disabled manifest entry and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisabledEntry {
    pub name: String,
    pub reason: String,
}

impl ManifestSummary {
    /// The summary of `manifest` (at image build time; the entrypoint never parses the manifest).
    pub fn of(manifest: &Manifest) -> ManifestSummary {
        let names = |keep: &dyn Fn(&Extension) -> bool| {
            let mut names: Vec<String> = manifest
                .enabled()
                .filter(|e| keep(e))
                .map(|e| e.name.clone())
                .collect();
            names.sort_unstable();
            names
        };
        ManifestSummary {
            postgres_version: manifest.postgres.version.clone(),
            counts: manifest.counts(),
            optional_preloads: manifest.optional_preload_libraries(),
            auto_created: names(&|e| e.is_auto_created()),
            available: names(&|e| e.kind != Kind::Tool && !e.is_module() && !e.is_auto_created()),
            tools: names(&|e| e.kind == Kind::Tool),
            disabled: manifest
                .extensions
                .iter()
                .filter(|e| !e.enabled)
                .map(|e| DisabledEntry {
                    name: e.name.clone(),
                    reason: e.disabled_reason.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// Everything the files say.
pub struct VersionInfo<'a> {
    /// `18.6` from `postgres --version`, if the binary answered.
    pub postgres_version: Option<String>,
    pub build: BuildInfo,
    /// The image catalog (or that there is none); the plan's when there is a plan. The extension
    /// summary comes from it.
    pub image: Option<&'a CatalogFile>,
    /// The tuning in force; absent at image build time, when there is no container to tune for.
    pub plan: Option<&'a Plan>,
    /// The configured role and, printed in a running container, the role now; absent at image
    /// build time.
    pub role: Option<RoleInfo>,
    /// Printed in a running container: the `tuning` object the last start wrote, and the file it
    /// came from (the plan is the start's, so a print reads it back rather than recomputing it).
    pub last_start: Option<(PathBuf, Value)>,
}

impl VersionInfo<'_> {
    /// The preload list in force and where it came from: the plan's when there is one, else the
    /// default a start would use (the image catalog's, else the one compiled from the manifest).
    pub fn preload(&self) -> Option<(Vec<String>, String)> {
        if let Some(plan) = self.plan {
            return Some((
                plan.preload_libraries_in_force(),
                plan.preload_libraries_source(),
            ));
        }
        let file = self.image?;
        Some(match &file.catalog {
            Some(catalog) => (
                catalog.default_preload.clone(),
                plan::preload_source(Origin::Image, file),
            ),
            None => (
                crate::config::default_preload_libraries(),
                plan::preload_source(Origin::Default, file),
            ),
        })
    }

    fn image_file(&self) -> Option<&CatalogFile> {
        self.image.or(self.plan.map(|p| &p.image))
    }

    fn catalog_file(&self) -> Option<&CatalogFile> {
        self.image_file().filter(|file| file.catalog.is_some())
    }

    /// The image build's summary of the manifest, else why there is none (said in both files, so
    /// a missing summary is never silent).
    pub fn summary(&self) -> Result<&ManifestSummary, String> {
        let Some(file) = self.image_file() else {
            return Err("no image catalog was read".to_string());
        };
        match &file.catalog {
            None => Err(format!(
                "{}; the image build records the summary there",
                file.describe()
            )),
            Some(catalog) => catalog.manifest_summary.as_ref().ok_or_else(|| {
                format!(
                    "the image catalog {} has no manifest_summary (an aza-image-catalog older than \
                     this entrypoint wrote it); rebuild the image",
                    file.path.display()
                )
            }),
        }
    }
}

/// `installed (postgresql-18-cron 1.6.8-1)`, `absent: why`, `disabled: why`.
fn entry_line(entry: &crate::image_catalog::Entry) -> String {
    let detail = match entry.status {
        Status::Installed => match (&entry.package, &entry.version) {
            (Some(package), Some(version)) => format!(" ({package} {version})"),
            (Some(package), None) => format!(" ({package})"),
            _ => String::new(),
        },
        Status::Absent | Status::Disabled => {
            format!(": {}", entry.reason.as_deref().unwrap_or(""))
        }
    };
    format!("{}: {}{detail}", entry.name, entry.status.as_str())
}

/// The version the `postgres` on `PATH` reports (`postgres (PostgreSQL) 18.6` → `18.6`).
pub fn postgres_version() -> Option<String> {
    let output = Command::new("postgres")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_postgres_version(&String::from_utf8_lossy(&output.stdout))
}

pub fn parse_postgres_version(text: &str) -> Option<String> {
    // Debian's builds (the official image's) add a suffix: `postgres (PostgreSQL) 18.1 (Debian
    // 18.1-1.pgdg13+2)`; the version is the word after `(PostgreSQL)`.
    let text = text.trim();
    let version = match text.split_once("(PostgreSQL)") {
        Some((_, rest)) => rest.split_whitespace().next()?,
        None => text.rsplit(' ').next()?,
    };
    // `18.6`, `18beta1`, `19devel`: a version starts with the major number.
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_string())
}

/// The JSON document.
pub fn to_json(info: &VersionInfo<'_>) -> Value {
    let mut document = Map::new();
    document.insert(
        "postgres_version".into(),
        info.postgres_version
            .clone()
            .map_or(Value::Null, Value::String),
    );
    document.insert(
        "build".into(),
        json!({
            "image_version": info.build.image_version,
            "vcs_ref": info.build.vcs_ref,
            "build_date": info.build.build_date,
        }),
    );
    if let Some(role) = &info.role {
        document.insert("role".into(), role.to_json());
    }
    match info.summary() {
        Ok(summary) => {
            let counts = &summary.counts;
            document.insert(
                "manifest_postgres_version".into(),
                Value::String(summary.postgres_version.clone()),
            );
            document.insert(
                "extensions".into(),
                json!({
                    "total": counts.total,
                    "enabled": counts.enabled,
                    "disabled": counts.disabled,
                    "preloaded": counts.preloaded,
                    "optional_preloads": counts.optional_preloads,
                    "auto_created": counts.auto_created,
                    "available": counts.available,
                    "tools": counts.tools,
                    "modules": counts.modules,
                }),
            );
            document.insert("optional_preloads".into(), json!(summary.optional_preloads));
            document.insert("auto_created".into(), json!(summary.auto_created));
            document.insert("available".into(), json!(summary.available));
            document.insert("tools".into(), json!(summary.tools));
            document.insert("disabled_extensions".into(), json!(summary.disabled));
        }
        Err(why) => {
            document.insert("extensions".into(), Value::Null);
            document.insert("extensions_unknown".into(), Value::String(why));
        }
    }
    if let Some((libraries, source)) = info.preload() {
        document.insert("preloaded_modules".into(), json!(libraries));
        document.insert("preloaded_modules_source".into(), Value::String(source));
    }
    if let Some(file) = info.catalog_file() {
        if let Some(catalog) = &file.catalog {
            let counts = catalog.counts();
            document.insert(
                "image_catalog".into(),
                json!({
                    "path": file.path.display().to_string(),
                    "package_source": catalog.package_source.as_str(),
                    "counts": {
                        "installed": counts.installed,
                        "absent": counts.absent,
                        "disabled": counts.disabled,
                    },
                    "entries": catalog.entries,
                    "default_preload": catalog.default_preload,
                    "preloadable": catalog.preloadable,
                    "logical_output_plugins": catalog.logical_output_plugins,
                }),
            );
        }
    }
    if let Some(plan) = info.plan {
        let r = &plan.resources;
        let settings: Map<String, Value> = plan
            .applied()
            .map(|s| (s.name.to_string(), Value::String(s.value.clone())))
            .collect();
        let overridden: Map<String, Value> = plan
            .overridden()
            .filter_map(|s| {
                Some((
                    s.name.to_string(),
                    Value::String(s.overridden_by.as_ref()?.source.as_str().to_string()),
                ))
            })
            .collect();
        document.insert(
            "tuning".into(),
            json!({
                "memory_mb": r.memory_mb,
                "memory_source": r.memory_source.as_str(),
                "cpus": r.cpus,
                "cpu_source": r.cpu_source.as_str(),
                "workload": plan.workload.0.as_str(),
                "storage": plan.storage.0.as_str(),
                "settings": settings,
                "overridden_by": overridden,
            }),
        );
    } else if let Some((path, tuning)) = &info.last_start {
        let mut tuning = tuning.clone();
        if let Some(object) = tuning.as_object_mut() {
            object.insert("from".into(), Value::String(path.display().to_string()));
        }
        document.insert("tuning".into(), tuning);
    }
    Value::Object(document)
}

/// The text document, for people (`cat /etc/postgresql/version-info.txt`).
pub fn to_text(info: &VersionInfo<'_>) -> String {
    let mut out = format!(
        "{RULE}\naza-pg - PostgreSQL 18 with extensions, tuned to its container\n{RULE}\n\n"
    );
    let unknown = "unknown".to_string();
    out.push_str(&format!(
        "PostgreSQL:     {}\n",
        info.postgres_version.as_ref().unwrap_or(&unknown)
    ));
    out.push_str(&format!(
        "Image version:  {}\n",
        info.build.image_version.as_ref().unwrap_or(&unknown)
    ));
    out.push_str(&format!(
        "VCS ref:        {}\n",
        info.build.vcs_ref.as_ref().unwrap_or(&unknown)
    ));
    out.push_str(&format!(
        "Build date:     {}\n",
        info.build.build_date.as_ref().unwrap_or(&unknown)
    ));
    if let Some(role) = &info.role {
        out.push_str(&role.to_text());
    }

    match info.summary() {
        Ok(summary) => {
            let counts = &summary.counts;
            let section = |out: &mut String, title: &str, items: &[String]| {
                out.push_str(&format!("\n{title} ({})\n", items.len()));
                for item in items {
                    out.push_str(&format!("  {item}\n"));
                }
            };
            section(
                &mut out,
                "OPTIONAL PRELOADS (POSTGRES_SHARED_PRELOAD_LIBRARIES)",
                &summary.optional_preloads,
            );
            section(&mut out, "AUTO-CREATED EXTENSIONS", &summary.auto_created);
            section(
                &mut out,
                "AVAILABLE EXTENSIONS (CREATE EXTENSION <name>)",
                &summary.available,
            );
            section(&mut out, "TOOLS", &summary.tools);
            let disabled: Vec<String> = summary
                .disabled
                .iter()
                .map(|e| format!("{}: {}", e.name, e.reason))
                .collect();
            section(&mut out, "DISABLED", &disabled);
            out.push_str(&format!(
                "\nSUMMARY\n  Total catalog: {}\n  Enabled: {}\n  Disabled: {}\n  Preloaded: {}\n  Auto-created: {}\n  \
                 Available: {}\n  Tools: {}\n  Modules: {}\n",
                counts.total,
                counts.enabled,
                counts.disabled,
                counts.preloaded,
                counts.auto_created,
                counts.available,
                counts.tools,
                counts.modules
            ));
        }
        Err(why) => out.push_str(&format!("\nEXTENSIONS\n  unknown: {why}\n")),
    }
    if let Some((libraries, source)) = info.preload() {
        out.push_str(&format!(
            "\nPRELOADED MODULES ({}; {source})\n",
            libraries.len()
        ));
        for library in libraries {
            out.push_str(&format!("  {library}\n"));
        }
    }
    if let Some(file) = info.catalog_file() {
        if let Some(catalog) = &file.catalog {
            let counts = catalog.counts();
            out.push_str(&format!(
                "\nIMAGE CATALOG ({}, packages: {})\n  Installed: {}, Absent: {}, Disabled: {}\n",
                file.path.display(),
                catalog.package_source.as_str(),
                counts.installed,
                counts.absent,
                counts.disabled
            ));
            for entry in &catalog.entries {
                out.push_str(&format!("  {}\n", entry_line(entry)));
            }
        }
    }
    if let Some(plan) = info.plan {
        out.push_str(&format!(
            "\nTUNING\n  {}\n",
            plan.summary_line()
                .trim_start_matches("[POSTGRES] [AUTO-CONFIG] ")
        ));
        for setting in plan.applied() {
            out.push_str(&format!("  {} = {}\n", setting.name, setting.value));
        }
        for setting in plan.overridden() {
            if let Some(by) = &setting.overridden_by {
                out.push_str(&format!(
                    "  {} set by {}\n",
                    setting.name,
                    by.source.as_str()
                ));
            }
        }
    } else if let Some((path, tuning)) = &info.last_start {
        out.push_str(&last_start_text(path, tuning));
    }
    out.push_str(&format!("\n{RULE}\n"));
    out
}

/// The tuning section of a print in a running container, from the JSON the last start wrote.
fn last_start_text(path: &Path, tuning: &Value) -> String {
    let field = |key: &str| match &tuning[key] {
        Value::String(text) => text.clone(),
        Value::Null => "?".to_string(),
        other => other.to_string(),
    };
    let mut out = format!(
        "\nTUNING (of the last start, from {})\n  {} MB of memory ({}), {} CPUs ({}), workload {}, \
         storage {}\n",
        path.display(),
        field("memory_mb"),
        field("memory_source"),
        field("cpus"),
        field("cpu_source"),
        field("workload"),
        field("storage")
    );
    for (key, line) in [("settings", " = "), ("overridden_by", " set by ")] {
        if let Some(map) = tuning[key].as_object() {
            for (name, value) in map {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                out.push_str(&format!("  {name}{line}{value}\n"));
            }
        }
    }
    out
}

/// The `tuning` object of the version-info JSON in `dir`, if a start wrote one there.
pub fn read_last_start(dir: &Path) -> Option<(PathBuf, Value)> {
    let path = dir.join("version-info.json");
    let document: Value = serde_json::from_str(&fs::read_to_string(&path).ok()?).ok()?;
    let tuning = document.get("tuning").filter(|t| t.is_object())?.clone();
    Some((path, tuning))
}

/// Writes both files into `dir`, each through a temporary file and a rename, so a reader never sees
/// half a file. Returns the paths written.
pub fn write(dir: &Path, info: &VersionInfo<'_>) -> io::Result<Vec<PathBuf>> {
    let json = serde_json::to_string_pretty(&to_json(info)).map_err(io::Error::other)? + "\n";
    let mut written = Vec::new();
    for (name, contents) in [
        ("version-info.json", json),
        ("version-info.txt", to_text(info)),
    ] {
        let path = dir.join(name);
        let temporary = dir.join(format!(".{name}.tmp"));
        fs::write(&temporary, contents)?;
        fs::rename(&temporary, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// The directory from `AZA_VERSION_INFO_DIR`, else `/etc/postgresql`.
pub fn dir_from_env() -> PathBuf {
    std::env::var_os("AZA_VERSION_INFO_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn build_info_comes_from_the_image_file_else_from_the_environment() {
        let recorded = "AZA_IMAGE_VERSION=local\nAZA_VCS_REF=abc123\nAZA_BUILD_DATE=\n# other\n";
        let none = |_: &str| None;
        assert_eq!(
            BuildInfo::from_sources(none, recorded),
            BuildInfo {
                image_version: Some("local".into()),
                vcs_ref: Some("abc123".into()),
                build_date: None,
            }
        );
        let env = |name: &str| Some(format!("env-{name}"));
        let both = BuildInfo::from_sources(env, recorded);
        assert_eq!(
            both.vcs_ref.as_deref(),
            Some("abc123"),
            "the image's record wins"
        );
        assert_eq!(
            both.build_date.as_deref(),
            Some("env-AZA_BUILD_DATE"),
            "the environment fills a gap"
        );
        assert_eq!(BuildInfo::from_sources(none, ""), BuildInfo::default());
    }

    use super::*;

    fn manifest() -> Manifest {
        crate::manifest::load_file(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/manifest/extensions.json"
        )))
        .unwrap()
    }

    #[test]
    fn postgres_version_is_read_from_the_binary_output() {
        assert_eq!(
            parse_postgres_version("postgres (PostgreSQL) 18.6\n").as_deref(),
            Some("18.6")
        );
        assert_eq!(
            parse_postgres_version("postgres (PostgreSQL) 18beta1").as_deref(),
            Some("18beta1")
        );
        assert_eq!(
            parse_postgres_version("postgres (PostgreSQL) 18.1 (Debian 18.1-1.pgdg13+2)\n")
                .as_deref(),
            Some("18.1")
        );
        assert_eq!(parse_postgres_version(""), None);
        assert_eq!(parse_postgres_version("command not found"), None);
    }

    /// The documented example catalog, with the repository manifest's summary when `summary`.
    fn image(summary: bool) -> CatalogFile {
        let mut catalog =
            crate::image_catalog::parse(crate::image_catalog::tests::EXAMPLE, "example").unwrap();
        if summary {
            catalog.manifest_summary = Some(ManifestSummary::of(&manifest()));
        }
        CatalogFile {
            path: "/usr/share/aza-pg/image-catalog.json".into(),
            catalog: Some(catalog),
        }
    }

    #[test]
    fn the_summary_is_the_manifests_counts_and_names() {
        let manifest = manifest();
        let summary = ManifestSummary::of(&manifest);
        let counts = manifest.counts();
        assert_eq!(summary.counts, counts);
        assert_eq!(summary.postgres_version, manifest.postgres.version);
        assert_eq!(
            summary.optional_preloads,
            manifest.optional_preload_libraries()
        );
        assert_eq!(summary.auto_created.len(), counts.auto_created);
        assert_eq!(summary.tools.len(), counts.tools);
        assert_eq!(
            summary.available.len() + summary.auto_created.len(),
            counts.available,
            "the counted available entries include the auto-created ones, the list does not"
        );
        for list in [&summary.auto_created, &summary.available, &summary.tools] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?} is sorted");
        }
        let disabled: Vec<&Extension> = manifest.extensions.iter().filter(|e| !e.enabled).collect();
        assert_eq!(summary.disabled.len(), disabled.len());
        for (entry, extension) in summary.disabled.iter().zip(disabled) {
            assert_eq!(entry.name, extension.name);
            assert_eq!(
                Some(&entry.reason),
                extension.disabled_reason.as_ref(),
                "{}",
                entry.name
            );
        }
    }

    #[test]
    fn counts_and_lists_come_from_the_image_catalogs_summary() {
        let manifest = manifest();
        let image = image(true);
        let info = VersionInfo {
            postgres_version: Some("18.6".into()),
            build: BuildInfo::default(),
            image: Some(&image),
            plan: None,
            role: None,
            last_start: None,
        };
        let doc = to_json(&info);
        let counts = manifest.counts();
        assert_eq!(doc["manifest_postgres_version"], manifest.postgres.version);
        assert_eq!(doc["extensions"]["total"], counts.total);
        assert_eq!(doc["extensions"]["enabled"], counts.enabled);
        assert_eq!(doc["extensions"]["disabled"], counts.disabled);
        assert_eq!(
            doc["disabled_extensions"].as_array().unwrap().len(),
            counts.disabled
        );
        assert_eq!(
            doc["disabled_extensions"][0].as_object().unwrap().len(),
            2,
            "name and reason: {}",
            doc["disabled_extensions"][0]
        );
        assert_eq!(
            doc["auto_created"].as_array().unwrap().len(),
            counts.auto_created
        );
        assert!(doc.get("extensions_unknown").is_none());
        assert!(doc.get("tuning").is_none());
        let text = to_text(&info);
        assert!(text.contains(&format!("Total catalog: {}", counts.total)));
        assert!(
            text.contains(&format!("\nTOOLS ({})\n", counts.tools)),
            "{text}"
        );
        assert!(text.contains("PostgreSQL:     18.6"));
        assert!(text.contains("Image version:  unknown"));
    }

    #[test]
    fn the_image_catalog_and_the_default_preload_list_are_shown() {
        let image = image(true);
        let info = VersionInfo {
            postgres_version: Some("18.6".into()),
            build: BuildInfo::default(),
            image: Some(&image),
            plan: None,
            role: None,
            last_start: None,
        };
        let doc = to_json(&info);
        assert_eq!(doc["preloaded_modules"], json!(["auto_explain", "pg_cron"]));
        assert_eq!(
            doc["preloaded_modules_source"],
            "default of the image catalog /usr/share/aza-pg/image-catalog.json"
        );
        let catalog = &doc["image_catalog"];
        assert_eq!(catalog["package_source"], "distribution");
        assert_eq!(
            catalog["counts"],
            json!({"installed": 2, "absent": 2, "disabled": 1})
        );
        assert_eq!(
            catalog["entries"][0],
            json!({"name": "pg_cron", "status": "installed", "package": "postgresql-18-cron", "version": "1.6.8-1"})
        );
        assert_eq!(
            catalog["entries"][2]["reason"],
            "Percona's package percona-pg-stat-monitor18; Debian's archive has none"
        );
        let text = to_text(&info);
        for line in [
            "PRELOADED MODULES (2; default of the image catalog /usr/share/aza-pg/image-catalog.json)",
            "IMAGE CATALOG (/usr/share/aza-pg/image-catalog.json, packages: distribution)",
            "  Installed: 2, Absent: 2, Disabled: 1",
            "  pg_cron: installed (postgresql-18-cron 1.6.8-1)",
            "  auto_explain: installed\n",
            "  pg_stat_monitor: absent: Percona's package percona-pg-stat-monitor18; Debian's archive has none",
            "  pgq: disabled: Disabled by default to reduce image size",
        ] {
            assert!(text.contains(line), "'{line}' not in:\n{text}");
        }

        // A catalog written before the summary existed: the rest as before, and the files say
        // what is missing and how to get it.
        let older = self::image(false);
        let info = VersionInfo {
            image: Some(&older),
            ..info
        };
        let doc = to_json(&info);
        assert_eq!(doc["extensions"], Value::Null);
        let why = "the image catalog /usr/share/aza-pg/image-catalog.json has no manifest_summary";
        assert!(
            doc["extensions_unknown"].as_str().unwrap().starts_with(why)
                && doc["extensions_unknown"]
                    .as_str()
                    .unwrap()
                    .ends_with("rebuild the image"),
            "{doc}"
        );
        assert_eq!(doc["preloaded_modules"], json!(["auto_explain", "pg_cron"]));
        assert_eq!(doc["image_catalog"]["counts"]["installed"], 2);
        let text = to_text(&info);
        assert!(
            text.contains(&format!("\nEXTENSIONS\n  unknown: {why}")),
            "{text}"
        );
        assert!(!text.contains("Total catalog"), "{text}");

        // No catalog (a host run): no summary, said so, and the default a start would use, which
        // is compiled from the manifest.
        let missing = CatalogFile::missing("/nonexistent/catalog.json");
        let info = VersionInfo {
            image: Some(&missing),
            ..info
        };
        let doc = to_json(&info);
        assert!(doc.get("image_catalog").is_none());
        assert_eq!(
            doc["preloaded_modules"],
            json!(manifest().default_preload_libraries())
        );
        assert!(
            doc["preloaded_modules_source"]
                .as_str()
                .unwrap()
                .starts_with("default compiled from the manifest; no image catalog"),
            "{doc}"
        );
        assert_eq!(
            doc["extensions_unknown"],
            "no image catalog (/nonexistent/catalog.json does not exist: not running in a built \
             image); the image build records the summary there"
        );
        let text = to_text(&info);
        assert!(!text.contains("IMAGE CATALOG"));
        assert!(
            text.contains("\nEXTENSIONS\n  unknown: no image catalog (/nonexistent/catalog.json"),
            "{text}"
        );
    }

    #[test]
    fn a_print_in_a_container_shows_the_role_and_the_last_starts_tuning() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_last_start(dir.path()),
            None,
            "no start wrote the files yet"
        );
        let written = json!({"postgres_version": "18.6", "tuning": {
            "memory_mb": 1024, "memory_source": "cgroup-v2", "cpus": 2, "cpu_source": "cgroup-v2",
            "workload": "mixed", "storage": "ssd",
            "settings": {"shared_buffers": "256MB", "work_mem": "4MB"},
            "overridden_by": {"max_connections": "command line"}}});
        fs::write(dir.path().join("version-info.json"), written.to_string()).unwrap();
        let last_start = read_last_start(dir.path());
        let image = self::image(true);
        let info = VersionInfo {
            postgres_version: Some("18.6".into()),
            build: BuildInfo::default(),
            image: Some(&image),
            plan: None,
            role: Some(RoleInfo {
                configured: role::Configured::Ha,
                now: role::Now::Answered {
                    in_recovery: true,
                    patroni: None,
                },
            }),
            last_start,
        };
        let text = to_text(&info);
        assert!(text.contains("\nROLE\n  Configured: ha"), "{text}");
        assert!(text.contains("Now:        replica"), "{text}");
        assert!(
            text.contains(&format!(
                "TUNING (of the last start, from {}/version-info.json)\n  1024 MB of memory \
                 (cgroup-v2), 2 CPUs (cgroup-v2), workload mixed, storage ssd\n  \
                 shared_buffers = 256MB\n  work_mem = 4MB\n  max_connections set by command line\n",
                dir.path().display()
            )),
            "{text}"
        );
        let doc = to_json(&info);
        assert_eq!(doc["role"]["now"], "replica");
        assert_eq!(doc["tuning"]["settings"]["work_mem"], "4MB");
        assert!(doc["tuning"]["from"]
            .as_str()
            .unwrap()
            .ends_with("version-info.json"));
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let info = VersionInfo {
            postgres_version: None,
            build: BuildInfo::default(),
            image: None,
            plan: None,
            role: None,
            last_start: None,
        };
        let written = write(dir.path(), &info).unwrap();
        assert_eq!(written.len(), 2);
        let doc: Value = serde_json::from_str(&fs::read_to_string(&written[0]).unwrap()).unwrap();
        assert_eq!(doc["postgres_version"], Value::Null);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left behind"
        );
    }
}
