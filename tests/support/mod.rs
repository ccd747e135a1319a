//! Helpers shared by the integration tests: running the built binary with a controlled environment,
//! and refusing loudly when a test needs something this machine does not give it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub fn entrypoint() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aza-entrypoint"))
}

/// A command for the entrypoint with an empty environment except `vars`, a `PATH` whose `pg_config`
/// is [`fake_image`]'s and no image catalog, so neither the developer's own `POSTGRES_*` variables
/// nor this machine's PostgreSQL can change what a test sees. A first start needs a password, and
/// `--dry-run` checks that too, so [`DRY_RUN_PASSWORD`] is set unless `vars` say how to authenticate.
pub fn entrypoint_command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(entrypoint());
    command
        .env_clear()
        .env("PATH", fake_image_path())
        .env("AZA_IMAGE_CATALOG", NO_IMAGE_CATALOG);
    let chooses_authentication = vars.iter().any(|(name, _)| {
        name.starts_with("POSTGRES_PASSWORD") || *name == "POSTGRES_HOST_AUTH_METHOD"
    });
    if !chooses_authentication {
        command.env("POSTGRES_PASSWORD", DRY_RUN_PASSWORD);
    }
    // The start's checks (and the dry run's warnings) include whether the port is free; 5432 may be
    // anyone's on this machine (a container test publishing it, say).
    if !vars.iter().any(|(name, _)| *name == "PGPORT") {
        command.env("PGPORT", server::free_port().to_string());
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// The password [`entrypoint_command`] sets; listed in tests/secrets.txt like every test password.
pub const DRY_RUN_PASSWORD: &str = "dry-run-only-p4ss";

/// A dry run's warnings, without the one about the WAL volume's free space: that is this machine's
/// disk, not something the test chose (the WAL sizes themselves are tested on a tmpfs of known size).
pub fn warnings_apart_from_the_disk(doc: &serde_json::Value) -> Vec<String> {
    doc["warnings"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|w| w.as_str())
                .filter(|w| !w.starts_with("the WAL volume has"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A catalog path that does not exist: "not running in a built image".
pub const NO_IMAGE_CATALOG: &str = "/nonexistent/aza-pg/image-catalog.json";

/// Writes at `path` the image catalog of a host run that still carries what version-info shows of
/// the extensions: the repository manifest's summary, computed by the library as the image build
/// computes it (the entrypoint itself no longer parses the manifest). No entries (nothing was
/// inspected), no packaged extensions, `preloadable` as given, and no library directory, so the
/// start asks `pg_config` as it would without a catalog.
pub fn write_host_image_catalog(path: &Path, preloadable: &[&str]) {
    use aza_pg::image_catalog::{self, ImageCatalog, PackageSource};
    let manifest = aza_pg::manifest::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(aza_pg::manifest::MANIFEST_PATH),
    )
    .expect("the repository manifest loads");
    let catalog = ImageCatalog {
        format: image_catalog::FORMAT,
        package_source: PackageSource::None,
        entries: Vec::new(),
        default_preload: Vec::new(),
        preloadable: preloadable.iter().map(|l| l.to_string()).collect(),
        library_dir: None,
        logical_output_plugins: Vec::new(),
        manifest_summary: Some(aza_pg::version_info::ManifestSummary::of(&manifest)),
    };
    image_catalog::inspect::write(&catalog, path).expect("write the host's image catalog");
}

/// A stand-in server tree: `bin/pg_config` answering `--pkglibdir`, `--sharedir` and `--bindir`
/// with `lib/`, `share/` and `bin/`, and `lib/` holding an empty `.so` for every preload library
/// the manifest knows, so the preflight passes whatever default the manifest has.
pub fn fake_image() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-image");
        let libraries: Vec<String> = aza_pg::generated::defaults::PRELOAD_LIBRARIES
            .iter()
            .map(|l| format!("{l}.so"))
            .collect();
        fake_server_tree(&dir, &libraries);
        dir
    })
}

/// Writes a stand-in server tree at `dir` (see [`fake_image`]) with these files in `lib/`. Every file
/// goes through a rename, so test binaries running at once never see half of one.
pub fn fake_server_tree(dir: &Path, libraries: &[String]) {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["bin", "lib", "share/extension"] {
        std::fs::create_dir_all(dir.join(sub)).expect("fake server dirs");
    }
    let place = |relative: &str, contents: &str, mode: u32| {
        let path = dir.join(relative);
        let temporary = dir.join(format!("{relative}.{}.tmp", std::process::id()));
        std::fs::write(&temporary, contents).expect("write fake server file");
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))
            .expect("chmod fake server file");
        std::fs::rename(&temporary, &path).expect("place fake server file");
    };
    let shown = dir.display();
    place(
        "bin/pg_config",
        &format!(
            "#!/bin/sh\n# A test's stand-in for the server's pg_config.\nfor arg; do\n  case \"$arg\" in\n    \
             --pkglibdir) echo '{shown}/lib' ;;\n    --sharedir) echo '{shown}/share' ;;\n    \
             --bindir) echo '{shown}/bin' ;;\n    *) echo \"fake pg_config: $arg\" >&2; exit 1 ;;\n  esac\ndone\n"
        ),
        0o755,
    );
    for library in libraries {
        place(&format!("lib/{library}"), "", 0o644);
    }
}

/// `PATH` with [`fake_image`]'s `bin/` first.
pub fn fake_image_path() -> String {
    path_with(&fake_image().join("bin"))
}

/// `PATH` with `dir` first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    )
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(output)))
}

/// These tests exercise real namespaces and cgroups, which need root (the project's CI runs as root).
/// Not being root is a failure with a reason, never a silent pass.
pub fn require_root(what: &str) {
    if !nix::unistd::Uid::effective().is_root() {
        panic!("{what} needs root (real PID/mount namespaces and cgroups); run the suite as root, as CI does");
    }
}

/// Writes `contents` to `root/relative`, creating parent directories.
pub fn write_file(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("fixture paths have a parent"))
        .expect("create fixture dir");
    std::fs::write(&path, contents).expect("write fixture file");
}

/// `base` scaled by `AZA_TEST_TIMEOUT_MULTIPLIER` (a positive float, default 1), so slow or loaded
/// machines can stretch every wait at once. A value that does not parse is a failure, not a silent 1.
pub fn timeout(base: Duration) -> Duration {
    const VAR: &str = "AZA_TEST_TIMEOUT_MULTIPLIER";
    let multiplier = match std::env::var(VAR) {
        Err(std::env::VarError::NotPresent) => 1.0,
        Err(error) => panic!("{VAR}: {error}"),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 => value,
            _ => panic!("{VAR}={text:?} is not a positive number (e.g. 2 or 1.5)"),
        },
    };
    base.mul_f64(multiplier)
}
pub mod docker;
pub mod pki;
pub mod server;
