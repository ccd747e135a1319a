//! `docs/EXTENSIONS.md`: the catalog as a table, with the derived counts and preload lists.

use crate::manifest::{Extension, Install, Kind, Manifest, Source};

use super::{fill_template, generated_notice, CodegenError, EXTENSIONS_DOC_TEMPLATE};

/// Table cells cannot hold `|` or newlines.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(|item| format!("`{item}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn install_cell(extension: &Extension) -> String {
    match &extension.install {
        Install::Builtin => "PostgreSQL".to_string(),
        Install::Pgdg {
            package, version, ..
        } => format!(
            "PGDG `{package}`{}",
            version
                .as_ref()
                .map_or(" (unpinned)".to_string(), |v| format!(" `{v}`"))
        ),
        Install::Percona {
            package, version, ..
        } => format!("Percona `{package}` `{version}`"),
        Install::Timescale {
            package, version, ..
        } => format!("Timescale `{package}` `{version}`"),
        Install::GithubRelease {
            repository, tag, ..
        } => format!("GitHub release `{repository}` `{tag}`"),
        Install::Source { .. } => match &extension.build {
            Some(build) => format!("source ({})", build.build_type.as_str()),
            None => "source".to_string(),
        },
    }
}

/// What the local build (`PACKAGE_SOURCE=distribution`, `SOURCE_EXTENSIONS=skip`) installs for the
/// entry, or why it cannot; the built image's own record is `/usr/share/aza-pg/image-catalog.json`.
fn local_build_cell(extension: &Extension) -> String {
    if !extension.enabled {
        return "–".to_string();
    }
    match (&extension.install, extension.install.distribution_package()) {
        (Install::Builtin, _) => "PostgreSQL".to_string(),
        (_, Ok(package)) => format!("Debian `{package}`"),
        (_, Err(why)) => format!("not in it: {}", cell(&why)),
    }
}

fn source_cell(extension: &Extension) -> String {
    match &extension.source {
        Source::Builtin => "–".to_string(),
        Source::Git {
            repository,
            tag,
            commit,
        } => {
            let short = &commit[..commit.len().min(12)];
            let url = repository.trim_end_matches(".git");
            match tag {
                Some(tag) => format!("[{tag}]({url}) `{short}`"),
                None => format!("[commit]({url}) `{short}`"),
            }
        }
    }
}

fn preload_cell(extension: &Extension) -> String {
    let runtime = &extension.runtime;
    if !runtime.shared_preload {
        return "–".to_string();
    }
    let library = extension.preload_library();
    if runtime.default_preload {
        format!("default (`{library}`)")
    } else {
        format!("optional (`{library}`)")
    }
}

fn row(extension: &Extension) -> String {
    let name = match &extension.display_name {
        Some(display) if display != &extension.name => {
            format!(
                "[`{}`]({}) ({})",
                extension.name,
                extension.docs_url,
                cell(display)
            )
        }
        _ => format!("[`{}`]({})", extension.name, extension.docs_url),
    };
    let kind = if extension.is_module() {
        format!("{} (module)", extension.kind.as_str())
    } else {
        extension.kind.as_str().to_string()
    };
    let enabled = if extension.enabled { "yes" } else { "**no**" };
    let created = if extension.is_auto_created() {
        "yes"
    } else {
        "–"
    };
    format!(
        "| {name} | {kind} | {enabled} | {} | {} | {} | {} | {created} | {} | {} |",
        install_cell(extension),
        local_build_cell(extension),
        source_cell(extension),
        preload_cell(extension),
        if extension.dependencies.is_empty() {
            "–".to_string()
        } else {
            code_list(&extension.dependencies)
        },
        cell(&extension.description),
    )
}

pub fn render_extensions_doc(manifest: &Manifest, template: &str) -> Result<String, CodegenError> {
    let counts = manifest.counts();
    let kind_count = |kind| manifest.enabled().filter(|e| e.kind == kind).count();
    let summary = format!(
        "- {} entries: {} enabled ({} extensions, {} tools, {} builtin), {} disabled.\n\
         - {} preloaded by default, {} optional preloads, {} preload-only modules.\n\
         - {} created at first initialisation; {} can be created with `CREATE EXTENSION`.",
        counts.total,
        counts.enabled,
        kind_count(Kind::Extension),
        counts.tools,
        kind_count(Kind::Builtin),
        counts.disabled,
        counts.preloaded,
        counts.optional_preloads,
        counts.modules,
        counts.auto_created,
        counts.available,
    );
    let created: Vec<String> = manifest
        .creation_order()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let mut table = String::from(
        "| Name | Kind | Enabled | Installed from | Local build | Source pin | Preload | Created at init | Depends on | Description |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for extension in &manifest.extensions {
        table.push_str(&row(extension));
        table.push('\n');
    }
    let disabled: Vec<String> = manifest
        .extensions
        .iter()
        .filter(|e| !e.enabled)
        .map(|e| {
            format!(
                "- `{}`: {}",
                e.name,
                cell(e.disabled_reason.as_deref().unwrap_or(""))
            )
        })
        .collect();
    fill_template(
        EXTENSIONS_DOC_TEMPLATE,
        template,
        &[
            ("NOTICE", format!("<!-- {} -->", generated_notice())),
            ("PG_VERSION", manifest.postgres.version.clone()),
            ("BASE_IMAGE", manifest.postgres.base_image.clone()),
            ("SUMMARY", summary),
            (
                "DEFAULT_PRELOAD",
                code_list(&manifest.default_preload_libraries()),
            ),
            (
                "OPTIONAL_PRELOAD",
                code_list(&manifest.optional_preload_libraries()),
            ),
            ("CREATED_AT_INIT", code_list(&created)),
            ("TABLE", table.trim_end().to_string()),
            ("DISABLED", disabled.join("\n")),
        ],
    )
}
