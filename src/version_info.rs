//! `version-info.txt` and `version-info.json`: what is in the image and how it is tuned right now.
//!
//! Written at image build time (`aza-entrypoint version-info --write`) and refreshed at every start
//! when the directory is writable (a read-only filesystem is a warning, not a failure). Contents: the
//! PostgreSQL version reported by the server binary, image build metadata, the extension catalog
//! summary (every count derived from the manifest), what the image really has of it (the image
//! catalog: each entry installed, absent or disabled, and why), the preload list in force with its
//! source, and the active tuning. Never a secret: only the
//! fields built here go in, and none of them comes from a password variable.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use crate::image_catalog::{CatalogFile, Status};
use crate::manifest::{Kind, Manifest};
use crate::plan::Plan;

pub const DEFAULT_DIR: &str = "/etc/postgresql";
pub const DEFAULT_MANIFEST: &str = "/etc/postgresql/extensions.manifest.json";
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

/// Everything the files say.
pub struct VersionInfo<'a> {
    /// `18.6` from `postgres --version`, if the binary answered.
    pub postgres_version: Option<String>,
    pub build: BuildInfo,
    pub manifest: Option<&'a Manifest>,
    /// The image catalog (or that there is none); the plan's when there is a plan.
    pub image: Option<&'a CatalogFile>,
    /// The tuning in force; absent at image build time, when there is no container to tune for.
    pub plan: Option<&'a Plan>,
}

impl VersionInfo<'_> {
    /// The preload list in force and where it came from: the plan's when there is one, else the
    /// default a start would use (the image catalog's, else the manifest's).
    pub fn preload(&self) -> Option<(Vec<String>, String)> {
        if let Some(plan) = self.plan {
            return Some((
                plan.preload_libraries_in_force(),
                plan.preload_libraries_source(),
            ));
        }
        let image = self.image;
        if let Some(file) = image {
            if let Some(catalog) = &file.catalog {
                return Some((
                    catalog.default_preload.clone(),
                    format!("default of the {}", file.describe()),
                ));
            }
        }
        let manifest = self.manifest?;
        let source = match image {
            Some(file) => format!("default of the manifest; {}", file.describe()),
            None => "default of the manifest".to_string(),
        };
        Some((manifest.default_preload_libraries(), source))
    }

    fn catalog_file(&self) -> Option<&CatalogFile> {
        self.image
            .or(self.plan.map(|p| &p.image))
            .filter(|file| file.catalog.is_some())
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

fn names(manifest: &Manifest, keep: impl Fn(&crate::manifest::Extension) -> bool) -> Vec<&str> {
    let mut names: Vec<&str> = manifest
        .enabled()
        .filter(|e| keep(e))
        .map(|e| e.name.as_str())
        .collect();
    names.sort_unstable();
    names
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
    if let Some(manifest) = info.manifest {
        let counts = manifest.counts();
        document.insert(
            "manifest_postgres_version".into(),
            Value::String(manifest.postgres.version.clone()),
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
        document.insert(
            "optional_preloads".into(),
            json!(manifest.optional_preload_libraries()),
        );
        document.insert(
            "auto_created".into(),
            json!(names(manifest, |e| e.is_auto_created())),
        );
        document.insert(
            "available".into(),
            json!(names(manifest, |e| e.kind != Kind::Tool
                && !e.is_module()
                && !e.is_auto_created())),
        );
        document.insert(
            "tools".into(),
            json!(names(manifest, |e| e.kind == Kind::Tool)),
        );
        let disabled: Vec<Value> = manifest
            .extensions
            .iter()
            .filter(|e| !e.enabled)
            .map(|e| json!({"name": e.name, "reason": e.disabled_reason.clone().unwrap_or_default()}))
            .collect();
        document.insert("disabled_extensions".into(), Value::Array(disabled));
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

    if let Some(manifest) = info.manifest {
        let counts = manifest.counts();
        let section = |out: &mut String, title: &str, items: Vec<String>| {
            out.push_str(&format!("\n{title} ({})\n", items.len()));
            for item in items {
                out.push_str(&format!("  {item}\n"));
            }
        };
        section(
            &mut out,
            "OPTIONAL PRELOADS (POSTGRES_SHARED_PRELOAD_LIBRARIES)",
            manifest.optional_preload_libraries(),
        );
        let strings = |v: Vec<&str>| v.into_iter().map(str::to_string).collect::<Vec<_>>();
        section(
            &mut out,
            "AUTO-CREATED EXTENSIONS",
            strings(names(manifest, |e| e.is_auto_created())),
        );
        section(
            &mut out,
            "AVAILABLE EXTENSIONS (CREATE EXTENSION <name>)",
            strings(names(manifest, |e| {
                e.kind != Kind::Tool && !e.is_module() && !e.is_auto_created()
            })),
        );
        section(
            &mut out,
            "TOOLS",
            strings(names(manifest, |e| e.kind == Kind::Tool)),
        );
        let disabled = manifest
            .extensions
            .iter()
            .filter(|e| !e.enabled)
            .map(|e| {
                format!(
                    "{}: {}",
                    e.name,
                    e.disabled_reason.clone().unwrap_or_default()
                )
            })
            .collect();
        section(&mut out, "DISABLED", disabled);
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
    }
    out.push_str(&format!("\n{RULE}\n"));
    out
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

/// The manifest from `AZA_MANIFEST`, else the image's copy.
pub fn manifest_path_from_env() -> PathBuf {
    std::env::var_os("AZA_MANIFEST")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_MANIFEST), PathBuf::from)
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

    #[test]
    fn counts_and_lists_come_from_the_manifest() {
        let manifest = manifest();
        let info = VersionInfo {
            postgres_version: Some("18.6".into()),
            build: BuildInfo::default(),
            manifest: Some(&manifest),
            image: None,
            plan: None,
        };
        let doc = to_json(&info);
        let counts = manifest.counts();
        assert_eq!(doc["extensions"]["total"], counts.total);
        assert_eq!(doc["extensions"]["enabled"], counts.enabled);
        assert_eq!(doc["extensions"]["disabled"], counts.disabled);
        assert_eq!(
            doc["preloaded_modules"],
            json!(manifest.default_preload_libraries())
        );
        assert_eq!(
            doc["disabled_extensions"].as_array().unwrap().len(),
            counts.disabled
        );
        assert_eq!(
            doc["auto_created"].as_array().unwrap().len(),
            counts.auto_created
        );
        assert!(doc.get("tuning").is_none());
        let text = to_text(&info);
        assert!(text.contains(&format!("Total catalog: {}", counts.total)));
        assert!(text.contains("PostgreSQL:     18.6"));
        assert!(text.contains("Image version:  unknown"));
    }

    #[test]
    fn the_image_catalog_and_the_default_preload_list_are_shown() {
        let manifest = manifest();
        let image = CatalogFile {
            path: "/usr/share/aza-pg/image-catalog.json".into(),
            catalog: Some(
                crate::image_catalog::parse(crate::image_catalog::tests::EXAMPLE, "example")
                    .unwrap(),
            ),
        };
        let info = VersionInfo {
            postgres_version: Some("18.6".into()),
            build: BuildInfo::default(),
            manifest: Some(&manifest),
            image: Some(&image),
            plan: None,
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

        // No catalog: manifest-only output, and the manifest's default list says where it is from.
        let missing = CatalogFile::missing("/nonexistent/catalog.json");
        let info = VersionInfo {
            image: Some(&missing),
            ..info
        };
        let doc = to_json(&info);
        assert!(doc.get("image_catalog").is_none());
        assert_eq!(
            doc["preloaded_modules"],
            json!(manifest.default_preload_libraries())
        );
        assert!(
            doc["preloaded_modules_source"]
                .as_str()
                .unwrap()
                .starts_with("default of the manifest; no image catalog"),
            "{doc}"
        );
        assert!(!to_text(&info).contains("IMAGE CATALOG"));
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let info = VersionInfo {
            postgres_version: None,
            build: BuildInfo::default(),
            manifest: None,
            image: None,
            plan: None,
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
