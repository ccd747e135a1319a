//! `aza-entrypoint image-catalog --write`: looks at the built image once (as root, at build time) and
//! records what it has, entry by entry.
//!
//! Nothing is guessed. The files an entry needs are derived from the manifest and checked on disk;
//! the build's install steps leave notes saying what they installed (with the package) or could not
//! (with the reason); a note that contradicts the disk fails the build. The decision is the pure
//! [`decide`]: manifest + notes + what exists → catalog. [`inspect`] is the shell that gathers those
//! facts (`pg_config`, the filesystem, `dpkg-query`, `postgres --describe-config`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Entry, ImageCatalog, PackageSource, Status, FORMAT};
use crate::manifest::{Extension, Kind, Manifest};
use crate::pg_config;
use crate::version_info::ManifestSummary;

/// Where the image keeps the manifest (the Dockerfile copies it there).
pub const DEFAULT_MANIFEST: &str = "/etc/postgresql/extensions.manifest.json";
/// Where the build's install steps leave their notes.
pub const DEFAULT_NOTES: &str = "/usr/share/aza-pg/build-notes.tsv";
/// The Dockerfile's build argument, in the environment of its `RUN` steps.
pub const PACKAGE_SOURCE_VARIABLE: &str = "PACKAGE_SOURCE";
/// Output plugins PostgreSQL must be told about in `output_plugin_libraries` (PostgreSQL 18.6 allows
/// only pgoutput and test_decoding otherwise). The manifest has no field for it: wal2json is the one.
pub const LOGICAL_OUTPUT_PLUGINS: &[&str] = &["wal2json"];

/// Why the catalog could not be written. Every line names the file, entry or command at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(pub Vec<String>);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for WriteError {}

fn fail<T>(message: String) -> Result<T, WriteError> {
    Err(WriteError(vec![message]))
}

/// One line of the build notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub name: String,
    /// 1-based, for error messages.
    pub line: usize,
    pub kind: NoteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// `NAME<TAB>installed<TAB>BY`: BY is a Debian package name, or the step's own words for what it
    /// did (`source <commit>`, `github:owner/name`).
    Installed { by: String },
    /// `NAME<TAB>absent<TAB>REASON`.
    Absent { reason: String },
}

/// Parses the build notes: `NAME<TAB>installed<TAB>PACKAGE` or `NAME<TAB>absent<TAB>REASON` per line;
/// blank lines and `#` comments are skipped; anything else is an error naming the file and line.
pub fn parse_notes(text: &str, file: &str) -> Result<Vec<Note>, WriteError> {
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let parsed = match fields.as_slice() {
            [name, status, detail] if is_entry_name(name) && !detail.trim().is_empty() => {
                let detail = detail.trim().to_string();
                let kind = match *status {
                    "installed" => Some(NoteKind::Installed { by: detail }),
                    "absent" => Some(NoteKind::Absent { reason: detail }),
                    _ => None,
                };
                kind.map(|kind| Note {
                    name: name.to_string(),
                    line: index + 1,
                    kind,
                })
            }
            _ => None,
        };
        match parsed {
            Some(note) => notes.push(note),
            None => problems.push(format!(
                "build notes {file} line {}: '{}' is not NAME<TAB>installed<TAB>PACKAGE or \
                 NAME<TAB>absent<TAB>REASON (three fields separated by tabs; a reason holds no tab)",
                index + 1,
                line.escape_debug()
            )),
        }
    }
    if problems.is_empty() {
        Ok(notes)
    } else {
        Err(WriteError(problems))
    }
}

fn is_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// Debian's rule for package names (policy 5.6.1); anything else in a note is not a package.
pub fn is_debian_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(b))
}

/// The server's directories, from `pg_config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub pkglibdir: PathBuf,
    pub sharedir: PathBuf,
}

/// Something an entry needs to be there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    File(PathBuf),
    /// A tool: an executable of that name on `PATH` (pgbackrest, pgbadger), or else a library of
    /// that name (wal2json, an output plugin).
    ProgramOrLibrary {
        program: String,
        library: PathBuf,
    },
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::File(path) => write!(f, "{}", path.display()),
            Requirement::ProgramOrLibrary { program, library } => write!(
                f,
                "an executable {program} on PATH or {}",
                library.display()
            ),
        }
    }
}

/// What an entry needs: its preload library, its control file (unless it is a tool or a module),
/// and for a tool without a preload library, its program or library.
pub fn requirements(entry: &Extension, layout: &Layout) -> Vec<Requirement> {
    let library = |name: &str| layout.pkglibdir.join(format!("{name}.so"));
    let mut needed = Vec::new();
    if entry.runtime.shared_preload {
        needed.push(Requirement::File(library(entry.preload_library())));
    }
    if entry.kind != Kind::Tool && !entry.runtime.preload_only {
        needed.push(Requirement::File(
            layout
                .sharedir
                .join("extension")
                .join(format!("{}.control", entry.name)),
        ));
    }
    if entry.kind == Kind::Tool && !entry.runtime.shared_preload {
        needed.push(Requirement::ProgramOrLibrary {
            program: entry.name.clone(),
            library: library(&entry.name),
        });
    }
    needed
}

/// What the shell found on disk: the files that exist and the programs on `PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub files: BTreeSet<PathBuf>,
    pub programs: BTreeSet<String>,
}

impl Found {
    pub fn satisfies(&self, requirement: &Requirement) -> bool {
        match requirement {
            Requirement::File(path) => self.files.contains(path),
            Requirement::ProgramOrLibrary { program, library } => {
                self.programs.contains(program) || self.files.contains(library)
            }
        }
    }
}

/// Everything [`decide`] needs, gathered by the shell.
pub struct Facts<'a> {
    pub manifest: &'a Manifest,
    pub layout: &'a Layout,
    pub notes: &'a [Note],
    /// The notes' path, for error messages.
    pub notes_file: &'a str,
    pub found: &'a Found,
    /// Installed Debian packages and their versions (`dpkg-query`), for every package a note names;
    /// `None` when the image has no `dpkg-query`, so no version is recorded.
    pub package_versions: Option<&'a BTreeMap<String, String>>,
    pub package_source: PackageSource,
    /// Whether the server has the `output_plugin_libraries` setting (PostgreSQL 18.6 and later).
    pub server_has_output_plugin_libraries: bool,
}

/// The catalog, or every contradiction between the notes, the manifest and the disk.
pub fn decide(facts: &Facts<'_>) -> Result<ImageCatalog, WriteError> {
    let Facts {
        manifest,
        layout,
        notes,
        notes_file,
        found,
        package_versions,
        package_source,
        server_has_output_plugin_libraries,
    } = *facts;
    let mut problems = Vec::new();
    for note in notes {
        match manifest.get(&note.name) {
            None => problems.push(format!(
                "build notes {notes_file} line {}: '{}' is not an entry of the manifest; correct the name",
                note.line, note.name
            )),
            Some(entry) if !entry.enabled => problems.push(format!(
                "build notes {notes_file} line {}: '{}' is disabled in the manifest, so no build step \
                 should install it or note it; remove the note or enable the entry",
                note.line, note.name
            )),
            Some(_) => {}
        }
    }

    let mut entries = Vec::with_capacity(manifest.extensions.len());
    for extension in &manifest.extensions {
        if !extension.enabled {
            entries.push(Entry {
                name: extension.name.clone(),
                status: Status::Disabled,
                package: None,
                version: None,
                reason: Some(
                    extension
                        .disabled_reason
                        .clone()
                        .unwrap_or_else(|| "disabled in the manifest".to_string()),
                ),
            });
            continue;
        }
        let own: Vec<&Note> = notes.iter().filter(|n| n.name == extension.name).collect();
        match decide_entry(extension, &own, layout, found, package_versions, notes_file) {
            Ok(entry) => entries.push(entry),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(WriteError(problems));
    }

    let installed = |name: &str| {
        entries
            .iter()
            .any(|e| e.name == name && e.status == Status::Installed)
    };
    let mut preloadable: Vec<String> = manifest
        .enabled()
        .filter(|e| e.runtime.shared_preload && installed(&e.name))
        .map(|e| e.preload_library().to_string())
        .collect();
    preloadable.sort();
    preloadable.dedup();
    let default_preload = manifest
        .default_preload_libraries()
        .into_iter()
        .filter(|library| {
            manifest.enabled().any(|e| {
                e.is_default_preload() && e.preload_library() == library && installed(&e.name)
            })
        })
        .collect();
    let logical_output_plugins = LOGICAL_OUTPUT_PLUGINS
        .iter()
        .filter(|plugin| server_has_output_plugin_libraries && installed(plugin))
        .map(|plugin| plugin.to_string())
        .collect();
    Ok(ImageCatalog {
        format: FORMAT,
        package_source,
        entries,
        default_preload,
        preloadable,
        library_dir: Some(layout.pkglibdir.clone()),
        logical_output_plugins,
        manifest_summary: Some(ManifestSummary::of(manifest)),
    })
}

/// One enabled entry: installed, absent, or a contradiction to fix in the build.
fn decide_entry(
    extension: &Extension,
    notes: &[&Note],
    layout: &Layout,
    found: &Found,
    package_versions: Option<&BTreeMap<String, String>>,
    notes_file: &str,
) -> Result<Entry, String> {
    let name = &extension.name;
    let needed = requirements(extension, layout);
    let missing: Vec<&Requirement> = needed.iter().filter(|r| !found.satisfies(r)).collect();
    let installed_by: Vec<(&str, usize)> = notes
        .iter()
        .filter_map(|n| match &n.kind {
            NoteKind::Installed { by } => Some((by.as_str(), n.line)),
            NoteKind::Absent { .. } => None,
        })
        .collect();
    let mut reasons: Vec<&str> = Vec::new();
    for note in notes {
        if let NoteKind::Absent { reason } = &note.kind {
            if !reasons.contains(&reason.as_str()) {
                reasons.push(reason);
            }
        }
    }
    let listed = |items: &[&Requirement]| {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    };

    // One step installing it is enough, even when another step noted that it could not (the local
    // build installs pgq from a package, and the source stage notes that it built nothing).
    if let Some(&(by, line)) = installed_by.first() {
        if let Some(&(other, other_line)) = installed_by.iter().find(|(b, _)| *b != by) {
            return Err(format!(
                "build notes {notes_file}: lines {line} and {other_line} say {name} was installed by \
                 both '{by}' and '{other}'; one step should install it"
            ));
        }
        if !missing.is_empty() {
            return Err(format!(
                "{name}: build notes {notes_file} line {line} says it is installed ({by}), but {} \
                 missing; the install step must put it where PostgreSQL loads it from",
                match missing.as_slice() {
                    [one] => format!("{one} is"),
                    many => format!("{} are", listed(many)),
                }
            ));
        }
        let version = if is_debian_package_name(by) {
            match package_versions {
                None => None,
                Some(versions) => match versions.get(by) {
                    Some(version) => Some(version.clone()),
                    None => {
                        return Err(format!(
                            "{name}: build notes {notes_file} line {line} says it is installed by the \
                             package {by}, but dpkg-query does not list {by} as installed; correct the note"
                        ))
                    }
                },
            }
        } else {
            None
        };
        return Ok(Entry {
            name: name.clone(),
            status: Status::Installed,
            package: Some(by.to_string()),
            version,
            reason: None,
        });
    }
    if !reasons.is_empty() {
        if !needed.is_empty() && missing.is_empty() {
            let lines: Vec<String> = notes.iter().map(|n| n.line.to_string()).collect();
            return Err(format!(
                "{name}: build notes {notes_file} (line {}) say it is absent ({}), but everything it needs \
                 is there ({}); a step installed it without noting it, so correct the notes",
                lines.join(", "),
                reasons.join("; "),
                listed(&needed.iter().collect::<Vec<_>>())
            ));
        }
        return Ok(absent(name, reasons.join("; ")));
    }
    if needed.is_empty() {
        return Err(format!(
            "{name}: nothing on disk tells whether it is in this image (it has no library, control file \
             or program to check), and no build note says; add a line to {notes_file}"
        ));
    }
    if missing.is_empty() {
        return Ok(Entry {
            name: name.clone(),
            status: Status::Installed,
            package: None,
            version: None,
            reason: None,
        });
    }
    Ok(absent(
        name,
        format!("not in this image: expected {}", listed(&missing)),
    ))
}

fn absent(name: &str, reason: String) -> Entry {
    Entry {
        name: name.to_string(),
        status: Status::Absent,
        package: None,
        version: None,
        reason: Some(reason),
    }
}

/// The writer's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub manifest: PathBuf,
    pub notes: PathBuf,
    pub output: PathBuf,
    /// `--package-source`; else `PACKAGE_SOURCE` from the environment.
    pub package_source: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            manifest: PathBuf::from(DEFAULT_MANIFEST),
            notes: PathBuf::from(DEFAULT_NOTES),
            output: PathBuf::from(super::DEFAULT_PATH),
            package_source: None,
        }
    }
}

/// Gathers the facts from this system and decides. Reads only.
pub fn inspect(options: &Options) -> Result<ImageCatalog, WriteError> {
    let manifest = crate::manifest::load_file_as_built(&options.manifest).map_err(|errors| {
        WriteError(vec![format!(
            "cannot use the extension manifest {}: {errors}",
            options.manifest.display()
        )])
    })?;
    let package_source = package_source(
        options.package_source.as_deref(),
        std::env::var(PACKAGE_SOURCE_VARIABLE).ok().as_deref(),
    )?;
    let notes_file = options.notes.display().to_string();
    let text = std::fs::read_to_string(&options.notes).or_else(|e| {
        fail(format!(
            "cannot read the build notes {notes_file} ({e}); the image build's install steps write them \
             (an empty file when nothing was installed), or pass --notes PATH"
        ))
    })?;
    let notes = parse_notes(&text, &notes_file)?;
    let (layout, bindir) = pg_config_layout()?;

    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let found = look(&manifest, &layout, &path_dirs);

    let versions = match find_program("dpkg-query", &path_dirs) {
        None => None,
        Some(dpkg_query) => {
            let mut versions = BTreeMap::new();
            for note in &notes {
                if let NoteKind::Installed { by } = &note.kind {
                    if is_debian_package_name(by) && !versions.contains_key(by) {
                        if let Some(version) = installed_version(&dpkg_query, by) {
                            versions.insert(by.clone(), version);
                        }
                    }
                }
            }
            Some(versions)
        }
    };
    let server_has_output_plugin_libraries =
        server_has_setting(&bindir.join("postgres"), "output_plugin_libraries")?;

    decide(&Facts {
        manifest: &manifest,
        layout: &layout,
        notes: &notes,
        notes_file: &notes_file,
        found: &found,
        package_versions: versions.as_ref(),
        package_source,
        server_has_output_plugin_libraries,
    })
}

/// Checks on disk everything the enabled entries need: files, and programs in `path_dirs`.
pub fn look(manifest: &Manifest, layout: &Layout, path_dirs: &[PathBuf]) -> Found {
    let mut found = Found::default();
    for extension in manifest.enabled() {
        for requirement in requirements(extension, layout) {
            match requirement {
                Requirement::File(path) => {
                    if path.is_file() {
                        found.files.insert(path);
                    }
                }
                Requirement::ProgramOrLibrary { program, library } => {
                    if find_program(&program, path_dirs).is_some() {
                        found.programs.insert(program);
                    }
                    if library.is_file() {
                        found.files.insert(library);
                    }
                }
            }
        }
    }
    found
}

/// `--package-source` wins over `PACKAGE_SOURCE`; one of them must say which.
pub fn package_source(
    option: Option<&str>,
    environment: Option<&str>,
) -> Result<PackageSource, WriteError> {
    let (value, from) = match (option, environment.filter(|v| !v.is_empty())) {
        (Some(value), _) => (value, "--package-source"),
        (None, Some(value)) => (value, PACKAGE_SOURCE_VARIABLE),
        (None, None) => {
            return fail(format!(
                "the package source is unknown: pass --package-source ({}) or set {PACKAGE_SOURCE_VARIABLE} \
                 (the Dockerfile's build argument, which its RUN steps see)",
                PackageSource::ACCEPTED
            ))
        }
    };
    PackageSource::parse(value).map_or_else(
        || {
            fail(format!(
                "{from} '{value}' is not a package source: use one of {}",
                PackageSource::ACCEPTED
            ))
        },
        Ok,
    )
}

/// `pg_config --pkglibdir --sharedir --bindir`: the server's directories.
fn pg_config_layout() -> Result<(Layout, PathBuf), WriteError> {
    match pg_config::directories(["--pkglibdir", "--sharedir", "--bindir"]) {
        Ok([pkglibdir, sharedir, bindir]) => Ok((
            Layout {
                pkglibdir,
                sharedir,
            },
            bindir,
        )),
        Err(why) => fail(format!(
            "{why}; the server's bin directory must come first on PATH (is PATH's pg_config the \
             server's?)"
        )),
    }
}

/// An executable file called `name` in one of `dirs`.
pub fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter().map(|dir| dir.join(name)).find(|path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The version of an installed (`ii`) package; `None` when dpkg does not have it installed.
fn installed_version(dpkg_query: &Path, package: &str) -> Option<String> {
    let output = Command::new(dpkg_query)
        .args(["-W", "-f=${db:Status-Abbrev}\t${Version}", package])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let (status, version) = text.split_once('\t')?;
    (output.status.success() && status.trim() == "ii" && !version.trim().is_empty())
        .then(|| version.trim().to_string())
}

/// Whether `postgres --describe-config` lists `setting` (it runs as root, unlike the server).
fn server_has_setting(postgres: &Path, setting: &str) -> Result<bool, WriteError> {
    let output = Command::new(postgres)
        .arg("--describe-config")
        .stderr(Stdio::inherit())
        .output()
        .or_else(|e| {
            fail(format!(
                "cannot run {} --describe-config ({e})",
                postgres.display()
            ))
        })?;
    if !output.status.success() {
        return fail(format!(
            "{} --describe-config failed ({}), so its settings are unknown",
            postgres.display(),
            output.status
        ));
    }
    Ok(describes_setting(
        &String::from_utf8_lossy(&output.stdout),
        setting,
    ))
}

/// `--describe-config` prints one tab-separated line per setting, the name first.
pub fn describes_setting(describe_config: &str, setting: &str) -> bool {
    describe_config
        .lines()
        .any(|line| line.split('\t').next() == Some(setting))
}

/// Writes the catalog through a temporary file and a rename, so a reader never sees half of it.
pub fn write(catalog: &ImageCatalog, output: &Path) -> std::io::Result<()> {
    let text = super::to_json(catalog).map_err(std::io::Error::other)?;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image-catalog.json".to_string());
    let temporary = parent.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, output)
}

#[cfg(test)]
mod tests;
