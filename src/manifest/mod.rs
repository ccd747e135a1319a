//! The extensions catalog (`manifest/extensions.json`): loading, validation and everything derived
//! from it (counts, the default preload list, the creation order).
//!
//! The manifest is the single source of truth: `aza-codegen` renders the Dockerfile, the initdb SQL,
//! the docs and the entrypoint's default preload list from it. Counts are computed here, never
//! written down, so they cannot drift from the entries.

mod model;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use model::{
    Build, BuildType, Extension, Install, Kind, Manifest, PostgresRelease, Runtime, Source,
};
pub use validate::validate;

/// The manifest's path inside the repository, as error messages and generated headers name it.
pub const MANIFEST_PATH: &str = "manifest/extensions.json";

/// One problem with the manifest: where it is, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    /// The entry's name (or `extensions[i]` when it has none).
    pub entry: Option<String>,
    /// The field, dotted (`runtime.default_preload`).
    pub field: Option<String>,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(entry) = &self.entry {
            write!(f, ": entry '{entry}'")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field '{field}'")?;
        }
        write!(f, ": {}; {}", self.problem, self.fix)
    }
}

/// Every problem found, so one run reports them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ManifestErrors {}

/// The top level, read first so each entry can be parsed on its own and named in errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    postgres: PostgresRelease,
    extensions: Vec<serde_json::Value>,
}

/// Reads and validates the manifest at `path`.
pub fn load_file(path: &Path) -> Result<Manifest, ManifestErrors> {
    let (text, file) = read(path)?;
    load_str(&text, &file)
}

/// Reads the manifest an image was built from, without the semantic checks: `aza-codegen` validated
/// that file when it generated the image's recipe from it (and `--check` keeps the two in step), so
/// the entrypoint only parses it, and the validation code stays out of the 1 MiB binary.
pub fn load_file_as_built(path: &Path) -> Result<Manifest, ManifestErrors> {
    let (text, file) = read(path)?;
    parse(&text, &file)
}

fn read(path: &Path) -> Result<(String, String), ManifestErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        ManifestErrors(vec![ManifestError {
            file: file.clone(),
            entry: None,
            field: None,
            problem: format!("cannot be read ({error})"),
            fix: "run from the repository root or pass the right path".to_string(),
        }])
    })?;
    Ok((text, file))
}

/// Parses and validates manifest text; `file` names it in errors.
pub fn load_str(text: &str, file: &str) -> Result<Manifest, ManifestErrors> {
    let manifest = parse(text, file)?;
    validate(&manifest, file)?;
    Ok(manifest)
}

/// Parses without the semantic checks (tests use it to build broken manifests).
pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestErrors> {
    let raw: RawManifest = serde_json::from_str(text)
        .map_err(|error| ManifestErrors(vec![serde_error(file, None, &error)]))?;
    let mut problems = Vec::new();
    let mut extensions = Vec::with_capacity(raw.extensions.len());
    for (index, value) in raw.extensions.into_iter().enumerate() {
        let entry = value
            .get("name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("extensions[{index}]"));
        match Extension::deserialize(value) {
            Ok(extension) => extensions.push(extension),
            Err(error) => problems.push(serde_error(file, Some(entry), &error)),
        }
    }
    if !problems.is_empty() {
        return Err(ManifestErrors(problems));
    }
    Ok(Manifest {
        postgres: raw.postgres,
        extensions,
    })
}

/// A serde message, with the offending field pulled out of "unknown field `x`" / "missing field `x`".
fn serde_error(file: &str, entry: Option<String>, error: &serde_json::Error) -> ManifestError {
    let message = error.to_string();
    let field = ["unknown field `", "missing field `", "unknown variant `"]
        .iter()
        .find_map(|prefix| {
            let start = message.find(prefix)? + prefix.len();
            let length = message[start..].find('`')?;
            Some(message[start..start + length].to_string())
        });
    let fix = if message.contains("unknown field") {
        "remove it or correct its spelling (src/manifest/model.rs lists every field)"
    } else if message.contains("missing field") {
        "add it (src/manifest/model.rs documents every field)"
    } else {
        "correct the value (src/manifest/model.rs documents every field)"
    };
    ManifestError {
        file: file.to_string(),
        entry,
        field,
        problem: message,
        fix: fix.to_string(),
    }
}

/// Derived figures, for docs and checks. Never stored in the manifest: always computed from the
/// entries (the image catalog carries a copy computed at build time, for version-info; see
/// [`crate::version_info::ManifestSummary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    /// Enabled entries in the default `shared_preload_libraries`.
    pub preloaded: usize,
    /// Enabled entries that may be preloaded but are not by default.
    pub optional_preloads: usize,
    pub tools: usize,
    /// Enabled preload-only modules.
    pub modules: usize,
    /// Enabled entries `CREATE EXTENSION`ed at first initialisation.
    pub auto_created: usize,
    /// Enabled entries a user can `CREATE EXTENSION` (not tools, not modules).
    pub available: usize,
}

impl Manifest {
    pub fn enabled(&self) -> impl Iterator<Item = &Extension> {
        self.extensions.iter().filter(|e| e.enabled)
    }

    pub fn get(&self, name: &str) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.name == name)
    }

    pub fn counts(&self) -> Counts {
        let enabled: Vec<&Extension> = self.enabled().collect();
        Counts {
            total: self.extensions.len(),
            enabled: enabled.len(),
            disabled: self.extensions.len() - enabled.len(),
            preloaded: enabled.iter().filter(|e| e.is_default_preload()).count(),
            optional_preloads: enabled
                .iter()
                .filter(|e| e.runtime.shared_preload && !e.runtime.default_preload)
                .count(),
            tools: enabled.iter().filter(|e| e.kind == Kind::Tool).count(),
            modules: enabled.iter().filter(|e| e.is_module()).count(),
            auto_created: enabled.iter().filter(|e| e.is_auto_created()).count(),
            available: enabled
                .iter()
                .filter(|e| e.kind != Kind::Tool && !e.is_module())
                .count(),
        }
    }

    /// The default `shared_preload_libraries`, sorted by byte order (deterministic, and the order the
    /// entrypoint has always used).
    pub fn default_preload_libraries(&self) -> Vec<String> {
        let mut libraries: Vec<String> = self
            .enabled()
            .filter(|e| e.is_default_preload())
            .map(|e| e.preload_library().to_string())
            .collect();
        libraries.sort();
        libraries
    }

    /// Libraries that may be added to `shared_preload_libraries` but are not there by default.
    pub fn optional_preload_libraries(&self) -> Vec<String> {
        let mut libraries: Vec<String> = self
            .enabled()
            .filter(|e| e.runtime.shared_preload && !e.runtime.default_preload)
            .map(|e| e.preload_library().to_string())
            .collect();
        libraries.sort();
        libraries
    }

    /// The auto-created extensions, dependencies first; ties broken by name so the order is stable.
    /// Validation guarantees the dependencies are acyclic and auto-created themselves.
    pub fn creation_order(&self) -> Vec<&Extension> {
        let wanted: BTreeMap<&str, &Extension> = self
            .enabled()
            .filter(|e| e.is_auto_created())
            .map(|e| (e.name.as_str(), e))
            .collect();
        let mut order: Vec<&Extension> = Vec::with_capacity(wanted.len());
        let mut placed = std::collections::BTreeSet::new();
        // Repeatedly take the first (by name) entry whose dependencies are all placed: O(n²) on a
        // few dozen entries, and obviously deterministic.
        while order.len() < wanted.len() {
            let next = wanted.values().find(|e| {
                !placed.contains(e.name.as_str())
                    && e.dependencies
                        .iter()
                        .all(|d| placed.contains(d.as_str()) || !wanted.contains_key(d.as_str()))
            });
            match next {
                Some(extension) => {
                    placed.insert(extension.name.as_str());
                    order.push(extension);
                }
                // A cycle (which validation rejects): stop rather than loop forever.
                None => break,
            }
        }
        order
    }
}

#[cfg(test)]
pub(crate) mod tests;
