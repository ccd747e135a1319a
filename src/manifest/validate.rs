//! The manifest's semantic rules: what a DBA expects to hold before an image is built from it.
//!
//! Each rule is a small function adding [`ManifestError`]s; all rules run, so one pass reports every
//! problem. Messages name the entry and field, say what is wrong and how to fix it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Extension, Install, Kind, Manifest, ManifestError, ManifestErrors, Source};

/// Checks every rule; `file` names the manifest in the messages.
pub fn validate(manifest: &Manifest, file: &str) -> Result<(), ManifestErrors> {
    let mut problems = Problems {
        file,
        list: Vec::new(),
    };
    check_postgres_release(manifest, &mut problems);
    check_unique_names(manifest, &mut problems);
    let by_name: BTreeMap<&str, &Extension> = manifest
        .extensions
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    for extension in &manifest.extensions {
        check_name(extension, &mut problems);
        check_enabled_reason(extension, &mut problems);
        check_source(extension, &mut problems);
        check_install(extension, &mut problems);
        check_runtime(extension, &mut problems);
        check_dependencies(extension, &by_name, &mut problems);
    }
    check_unique_preload_libraries(manifest, &mut problems);
    check_acyclic(manifest, &by_name, &mut problems);
    if problems.list.is_empty() {
        Ok(())
    } else {
        Err(ManifestErrors(problems.list))
    }
}

struct Problems<'a> {
    file: &'a str,
    list: Vec<ManifestError>,
}

impl Problems<'_> {
    fn add(&mut self, entry: Option<&str>, field: &str, problem: String, fix: &str) {
        self.list.push(ManifestError {
            file: self.file.to_string(),
            entry: entry.map(str::to_string),
            field: Some(field.to_string()),
            problem,
            fix: fix.to_string(),
        });
    }
}

fn is_hex(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Names go into SQL, apt lines and Dockerfile steps unquoted: keep them plain identifiers.
fn is_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_postgres_release(manifest: &Manifest, problems: &mut Problems) {
    let release = &manifest.postgres;
    let parts: Vec<&str> = release.version.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 2 || !parts.iter().all(numeric) {
        problems.add(
            None,
            "postgres.version",
            format!("'{}' is not a major.minor version", release.version),
            "write it like 18.4",
        );
    }
    let digest_ok = release
        .base_image
        .split_once("@sha256:")
        .is_some_and(|(_, digest)| is_hex(digest, 64));
    if !digest_ok {
        problems.add(
            None,
            "postgres.base_image",
            format!("'{}' is not pinned by digest", release.base_image),
            "write it as name:tag@sha256:<64 hex characters> (docker buildx imagetools inspect shows the digest)",
        );
    }
    let tag = release
        .base_image
        .split('@')
        .next()
        .and_then(|image| image.rsplit_once(':'))
        .map(|(_, tag)| tag);
    let tag_matches = tag.is_some_and(|tag| {
        tag == release.version || tag.starts_with(&format!("{}-", release.version))
    });
    if !tag_matches {
        problems.add(
            None,
            "postgres.base_image",
            format!(
                "the tag of '{}' is not PostgreSQL {}",
                release.base_image, release.version
            ),
            "pin the base image of the same PostgreSQL release as postgres.version",
        );
    }
}

fn check_unique_names(manifest: &Manifest, problems: &mut Problems) {
    let mut seen = BTreeSet::new();
    for extension in &manifest.extensions {
        if !seen.insert(extension.name.as_str()) {
            problems.add(
                Some(&extension.name),
                "name",
                "appears more than once".to_string(),
                "keep one entry per name",
            );
        }
    }
}

fn check_name(extension: &Extension, problems: &mut Problems) {
    if !is_identifier(&extension.name) {
        problems.add(
            Some(&extension.name),
            "name",
            "is not a plain lower-case identifier".to_string(),
            "use lower-case letters, digits and underscores, starting with a letter",
        );
    }
}

fn check_enabled_reason(extension: &Extension, problems: &mut Problems) {
    let name = Some(extension.name.as_str());
    match (extension.enabled, &extension.disabled_reason) {
        (false, None) => problems.add(
            name,
            "disabled_reason",
            "is missing for a disabled entry".to_string(),
            "say why it is disabled and what would re-enable it",
        ),
        (true, Some(_)) => problems.add(
            name,
            "disabled_reason",
            "is set on an enabled entry".to_string(),
            "remove it, or set enabled to false",
        ),
        _ => {}
    }
}

fn check_source(extension: &Extension, problems: &mut Problems) {
    let name = Some(extension.name.as_str());
    match &extension.source {
        Source::Builtin => {
            if extension.kind != Kind::Builtin {
                problems.add(
                    name,
                    "source",
                    format!("is builtin but kind is {}", extension.kind.as_str()),
                    "pin a git source (repository, tag, commit) or set kind to builtin",
                );
            }
        }
        Source::Git {
            repository, commit, ..
        } => {
            if extension.kind == Kind::Builtin {
                problems.add(
                    name,
                    "source",
                    "is a git repository but kind is builtin".to_string(),
                    "use {\"type\": \"builtin\"} for PostgreSQL's own modules",
                );
            }
            if !is_hex(commit, 40) {
                problems.add(
                    name,
                    "source.commit",
                    format!("'{commit}' is not a 40-character hex commit id"),
                    "pin the full commit (git ls-remote <repository> <tag>^{} prints it)",
                );
            }
            if !repository.starts_with("https://") {
                problems.add(
                    name,
                    "source.repository",
                    format!("'{repository}' is not an https URL"),
                    "use the repository's https clone URL",
                );
            }
        }
    }
}

fn check_install(extension: &Extension, problems: &mut Problems) {
    let name = Some(extension.name.as_str());
    let builtin_kind = extension.kind == Kind::Builtin;
    let builtin_install = matches!(extension.install, Install::Builtin);
    if builtin_kind != builtin_install {
        problems.add(
            name,
            "install.method",
            format!(
                "is {} but kind is {}",
                extension.install.method(),
                extension.kind.as_str()
            ),
            "builtin entries (and only they) use install method builtin",
        );
    }
    if let Install::Pgdg {
        version,
        unpinned_reason,
        ..
    } = &extension.install
    {
        match (version, unpinned_reason) {
            (None, None) => problems.add(
                name,
                "install.version",
                "is missing, so the apt package is not pinned".to_string(),
                "pin the package version (apt-cache policy <package>), or give unpinned_reason",
            ),
            (Some(_), Some(_)) => problems.add(
                name,
                "install.unpinned_reason",
                "is set although a version is pinned".to_string(),
                "remove unpinned_reason",
            ),
            _ => {}
        }
    }
    if let Some((package, version)) = extension.install.apt_package() {
        let bad = |text: &str| text.is_empty() || text.contains(char::is_whitespace);
        if bad(package) || version.is_some_and(bad) {
            problems.add(
                name,
                "install.package",
                format!(
                    "'{package}={}' is not an apt package pin",
                    version.unwrap_or("")
                ),
                "give the package name and version without spaces",
            );
        }
    }
    let is_source = matches!(extension.install, Install::Source { .. });
    match (&extension.build, is_source) {
        (None, true) => problems.add(
            name,
            "build",
            "is missing for a source install".to_string(),
            "add build.type (pgxs, cargo-pgrx, meson, cmake, autotools, make or sql-schema)",
        ),
        (Some(_), false) => problems.add(
            name,
            "build",
            format!(
                "is set but the install method is {}",
                extension.install.method()
            ),
            "remove build (only source installs are built)",
        ),
        _ => {}
    }
    if !is_source && !extension.runtime_packages.is_empty() {
        problems.add(
            name,
            "runtime_packages",
            format!(
                "is set but the install method is {}, whose package brings its own dependencies",
                extension.install.method()
            ),
            "remove runtime_packages (only source builds need them listed)",
        );
    }
    if is_source && matches!(extension.source, Source::Builtin) {
        problems.add(
            name,
            "source",
            "is builtin but the install method is source".to_string(),
            "pin a git source to build from",
        );
    }
}

fn check_runtime(extension: &Extension, problems: &mut Problems) {
    let name = Some(extension.name.as_str());
    let runtime = &extension.runtime;
    if runtime.default_preload && !runtime.shared_preload {
        problems.add(
            name,
            "runtime.default_preload",
            "is true but shared_preload is false".to_string(),
            "set shared_preload to true, or default_preload to false",
        );
    }
    if runtime.default_preload && !extension.enabled {
        problems.add(
            name,
            "runtime.default_preload",
            "is true on a disabled entry: the server would refuse to start without its library"
                .to_string(),
            "enable the entry, or set default_preload to false",
        );
    }
    if runtime.default_enable && !extension.enabled {
        problems.add(
            name,
            "runtime.default_enable",
            "is true on a disabled entry".to_string(),
            "enable the entry, or set default_enable to false",
        );
    }
    if runtime.default_enable && extension.kind == Kind::Tool {
        problems.add(
            name,
            "runtime.default_enable",
            "is true on a tool, which has no CREATE EXTENSION".to_string(),
            "set default_enable to false",
        );
    }
    if runtime.default_enable && runtime.preload_only {
        problems.add(
            name,
            "runtime.default_enable",
            "is true on a preload-only module, which has no CREATE EXTENSION".to_string(),
            "set default_enable to false (use default_preload to load it by default)",
        );
    }
    if runtime.default_enable && runtime.shared_preload && !runtime.default_preload {
        problems.add(
            name,
            "runtime.default_enable",
            "is true but its library is not preloaded by default, so CREATE EXTENSION at init would \
             fail or leave it inert"
                .to_string(),
            "set default_preload to true, or default_enable to false",
        );
    }
    if runtime.shared_memory_mb.is_some() && !runtime.shared_preload {
        problems.add(
            name,
            "runtime.shared_memory_mb",
            "is set but shared_preload is false: only a preloaded library reserves shared memory"
                .to_string(),
            "remove it, or set shared_preload to true",
        );
    }
    if let Some(library) = &runtime.preload_library {
        if !runtime.shared_preload {
            problems.add(
                name,
                "runtime.preload_library",
                "is set but shared_preload is false".to_string(),
                "remove it, or set shared_preload to true",
            );
        }
        // shared_preload_libraries is a comma-separated list of file names: no separators, quotes,
        // spaces or paths.
        let valid = !library.is_empty()
            && library
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            problems.add(
                name,
                "runtime.preload_library",
                format!("'{library}' is not a library name"),
                "give the shared library's file name without directory or .so (letters, digits, _ and -)",
            );
        }
    }
    if let Some(setting) = &runtime.database_setting {
        let valid = setting.split('.').count() == 2 && setting.split('.').all(is_identifier);
        if !valid {
            problems.add(
                name,
                "runtime.database_setting",
                format!("'{setting}' is not a custom setting name"),
                "name the extension's setting, like cron.database_name",
            );
        }
    }
}

fn check_dependencies(
    extension: &Extension,
    by_name: &BTreeMap<&str, &Extension>,
    problems: &mut Problems,
) {
    let name = Some(extension.name.as_str());
    for dependency in &extension.dependencies {
        let Some(target) = by_name.get(dependency.as_str()) else {
            problems.add(
                name,
                "dependencies",
                format!("names '{dependency}', which is not in the manifest"),
                "add that entry or correct the name",
            );
            continue;
        };
        if dependency == &extension.name {
            problems.add(
                name,
                "dependencies",
                "names the entry itself".to_string(),
                "remove it",
            );
        }
        if extension.enabled && !target.enabled {
            problems.add(
                name,
                "dependencies",
                format!("needs '{dependency}', which is disabled"),
                &format!("enable '{dependency}' or disable this entry"),
            );
        }
        if extension.is_auto_created() && !target.is_auto_created() {
            problems.add(
                name,
                "dependencies",
                format!(
                    "needs '{dependency}', which is not created at init although this entry is"
                ),
                &format!("set runtime.default_enable on '{dependency}' too, or turn it off here"),
            );
        }
    }
}

fn check_unique_preload_libraries(manifest: &Manifest, problems: &mut Problems) {
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for extension in manifest.enabled().filter(|e| e.runtime.shared_preload) {
        let library = extension.preload_library();
        if let Some(first) = owners.insert(library, &extension.name) {
            problems.add(
                Some(&extension.name),
                "runtime.preload_library",
                format!("'{library}' is also the preload library of '{first}'"),
                "give each entry its own library name",
            );
        }
    }
}

fn check_acyclic(
    manifest: &Manifest,
    by_name: &BTreeMap<&str, &Extension>,
    problems: &mut Problems,
) {
    // Depth-first search from each entry; a name met again on the current path closes a cycle.
    fn visit<'a>(
        name: &'a str,
        by_name: &BTreeMap<&str, &'a Extension>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(start) = path.iter().position(|n| *n == name) {
            let mut cycle = path[start..].to_vec();
            cycle.push(name);
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        path.push(name);
        if let Some(extension) = by_name.get(name) {
            for dependency in &extension.dependencies {
                if let Some(cycle) = visit(dependency, by_name, path, done) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        done.insert(name);
        None
    }
    let mut done = BTreeSet::new();
    for extension in &manifest.extensions {
        let mut path = Vec::new();
        if let Some(cycle) = visit(&extension.name, by_name, &mut path, &mut done) {
            problems.add(
                Some(&extension.name),
                "dependencies",
                format!("form a cycle: {}", cycle.join(" -> ")),
                "break the cycle; dependencies must be installable one after another",
            );
            return;
        }
    }
}
