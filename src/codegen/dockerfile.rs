//! `docker/Dockerfile` from `docker/Dockerfile.template`: the pinned package installs, the
//! source-build steps and the library checks, all taken from the manifest.

use std::collections::BTreeSet;

use crate::manifest::{Extension, Install, Manifest, Source};

use super::{fill_template, generated_notice, CodegenError, DOCKERFILE_TEMPLATE};

/// `    item \` lines: continuation lines of a RUN step.
fn continued(lines: &[String], indent: &str) -> String {
    lines
        .iter()
        .map(|line| format!("{indent}{line} \\"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn build_packages(manifest: &Manifest) -> Vec<String> {
    let packages: BTreeSet<&str> = source_built(manifest)
        .flat_map(|e| e.build_packages.iter().map(String::as_str))
        .collect();
    packages.into_iter().map(str::to_string).collect()
}

fn source_built(manifest: &Manifest) -> impl Iterator<Item = &Extension> {
    manifest
        .enabled()
        .filter(|e| matches!(e.install, Install::Source { .. }))
}

/// `package=version` for every enabled apt install, plus the Debian runtime libraries of source
/// builds (from the base image's release, so unpinned), sorted by package.
fn apt_packages(manifest: &Manifest) -> Vec<String> {
    let mut pins: Vec<String> = manifest
        .enabled()
        .filter_map(|e| e.install.apt_package())
        .map(|(package, version)| match version {
            Some(version) => format!("{package}={version}"),
            None => package.to_string(),
        })
        .chain(source_built(manifest).flat_map(|e| e.runtime_packages.iter().cloned()))
        .collect();
    pins.sort();
    pins.dedup();
    pins
}

fn github_release_steps(manifest: &Manifest) -> Vec<String> {
    let mut steps = Vec::new();
    for extension in manifest.enabled() {
        if let Install::GithubRelease {
            repository,
            tag,
            asset,
            ..
        } = &extension.install
        {
            let asset = asset
                .replace("{version}", tag)
                .replace("{pg_major}", manifest.postgres.major())
                .replace("{arch}", "$(dpkg --print-architecture)");
            let name = &extension.name;
            steps.push(format!(
                "&& curl -fsSLo /tmp/{name}.zip \"https://github.com/{repository}/releases/download/{tag}/{asset}\""
            ));
            steps.push(format!("&& unzip -q -d /tmp/{name} /tmp/{name}.zip"));
            steps.push(format!(
                "&& apt-get install -y --no-install-recommends /tmp/{name}/*.deb"
            ));
        }
    }
    steps
}

/// Libraries the packaged installs must provide: declared library files and the preload libraries
/// of packaged entries (what `shared_preload_libraries` may name).
fn library_files(manifest: &Manifest) -> Vec<String> {
    let mut files = BTreeSet::new();
    for extension in manifest.enabled() {
        match &extension.install {
            Install::Percona { library_file, .. }
            | Install::Timescale { library_file, .. }
            | Install::GithubRelease { library_file, .. } => {
                files.insert(library_file.clone());
            }
            Install::Pgdg { .. } if extension.runtime.shared_preload => {
                files.insert(format!("{}.so", extension.preload_library()));
            }
            _ => {}
        }
    }
    files.into_iter().collect()
}

fn build_arguments(extension: &Extension) -> Vec<String> {
    let Some(build) = &extension.build else {
        return Vec::new();
    };
    let mut arguments = Vec::new();
    if build.no_default_features {
        arguments.push("--no-default-features".to_string());
    }
    if !build.features.is_empty() {
        arguments.push(format!("--features {}", build.features.join(",")));
    }
    arguments.extend(build.meson_options.iter().cloned());
    arguments
}

/// The source builds: a comment block naming each (and the disabled ones), and the continuation
/// lines of the stage's RUN step, one `&& build-extension ...` per entry, the last without a
/// trailing backslash.
fn source_builds(manifest: &Manifest) -> (String, String) {
    let mut comments = vec!["# Built from source:".to_string()];
    let mut steps = Vec::new();
    let mut extensions: Vec<&Extension> = source_built(manifest).collect();
    extensions.sort_by(|a, b| a.name.cmp(&b.name));
    for extension in extensions {
        let (
            Source::Git {
                repository,
                tag,
                commit,
            },
            Some(build),
        ) = (&extension.source, &extension.build)
        else {
            // Validation guarantees a git source and a build for source installs.
            continue;
        };
        comments.push(format!(
            "#   {} {} ({})",
            extension.name,
            tag.as_deref().unwrap_or("untagged commit"),
            build.build_type.as_str()
        ));
        // Under PACKAGE_SOURCE=distribution an entry the distribution packages is installed from
        // there instead; build-extension reads the name from its environment.
        let prefix = match &extension.install {
            Install::Source {
                distribution_package: Some(package),
            } => format!("DISTRIBUTION_PACKAGE={package} "),
            _ => String::new(),
        };
        let mut step = format!(
            "    && {prefix}build-extension {} {} {repository} {commit} {}",
            extension.name,
            build.build_type.as_str(),
            build.subdir.as_deref().unwrap_or(".")
        );
        for argument in build_arguments(extension) {
            step.push(' ');
            step.push_str(&argument);
        }
        steps.push(step);
    }
    let disabled: Vec<&str> = manifest
        .extensions
        .iter()
        .filter(|e| !e.enabled && matches!(e.install, Install::Source { .. }))
        .map(|e| e.name.as_str())
        .collect();
    if !disabled.is_empty() {
        comments.push(format!(
            "# Disabled in the manifest, not built: {}",
            disabled.join(", ")
        ));
    }
    if steps.is_empty() {
        steps.push("    && true".to_string());
    }
    (comments.join("\n"), steps.join(" \\\n"))
}

pub fn render_dockerfile(manifest: &Manifest, template: &str) -> Result<String, CodegenError> {
    let notice = generated_notice();
    let (source_list, source_steps) = source_builds(manifest);
    fill_template(
        DOCKERFILE_TEMPLATE,
        template,
        &[
            ("NOTICE", format!("# {notice}")),
            ("PG_VERSION", manifest.postgres.version.clone()),
            ("PG_MAJOR", manifest.postgres.major().to_string()),
            ("BASE_IMAGE", manifest.postgres.base_image.clone()),
            (
                "BUILD_PACKAGES",
                continued(&build_packages(manifest), "            "),
            ),
            ("SOURCE_BUILD_LIST", source_list),
            ("SOURCE_BUILDS", source_steps),
            (
                "APT_PACKAGES",
                continued(&apt_packages(manifest), "        "),
            ),
            (
                "GITHUB_RELEASES",
                continued(&github_release_steps(manifest), "    "),
            ),
            ("LIBRARY_FILES", library_files(manifest).join(" ")),
        ],
    )
}
