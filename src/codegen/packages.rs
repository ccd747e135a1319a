//! `docker/packages.tsv`: the one package list both image builds read, one line per enabled entry
//! that PostgreSQL itself does not ship.
//!
//! Columns (tab-separated, `-` for none): entry, install method, vendor package, pinned version,
//! the distribution's package, and why the distribution build cannot have the entry. The vendor build
//! (`PACKAGE_SOURCE=vendor`) installs the vendor packages at their pins (listed again, inline, in the
//! generated Dockerfile); the local build (`PACKAGE_SOURCE=distribution`) installs the distribution's
//! packages with `docker/install-distribution-packages.sh`, which records what it could not install.

use crate::manifest::{Install, Manifest};

use super::generated_notice;

/// A field that must stay on its line and in its column.
fn field(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

pub fn render_packages(manifest: &Manifest) -> String {
    let mut out = format!(
        "# {}\n# entry\tmethod\tvendor package\tversion\tdistribution package\twhy the distribution build has none\n",
        generated_notice()
    );
    let mut entries: Vec<_> = manifest
        .enabled()
        .filter(|e| !matches!(e.install, Install::Builtin))
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for extension in entries {
        let (vendor_package, version) = match &extension.install {
            Install::GithubRelease {
                repository, tag, ..
            } => (format!("github:{repository}"), tag.clone()),
            install => install.apt_package().map_or_else(
                || ("-".to_string(), "-".to_string()),
                |(package, version)| (package.to_string(), version.unwrap_or("-").to_string()),
            ),
        };
        let (distribution, reason) = match extension.install.distribution_package() {
            Ok(package) => (package.to_string(), "-".to_string()),
            Err(reason) => ("-".to_string(), reason),
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            field(&extension.name),
            extension.install.method(),
            field(&vendor_package),
            field(&version),
            field(&distribution),
            field(&reason)
        ));
    }
    out
}
