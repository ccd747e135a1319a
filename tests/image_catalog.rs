//! `aza-image-catalog` end to end: the built binary inspects a stand-in server tree (a
//! fake `pg_config`, `postgres --describe-config` and `dpkg-query` on `PATH`) with the real manifest
//! and build notes, and writes the catalog a start then reads; a note the disk contradicts fails.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aza_pg::image_catalog::{self, Status};
use aza_pg::manifest;
use support::*;

/// The build-time program, with nothing of the test's environment but `vars`.
fn catalog_command(vars: &[(&str, &str)]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aza-image-catalog"));
    command.env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A server with contrib's auto_explain and pg_stat_statements, pg_cron and wal2json from packages.
fn server(dir: &Path) -> String {
    let server = dir.join("server");
    let libraries: Vec<String> = ["auto_explain", "pg_stat_statements", "pg_cron", "wal2json"]
        .iter()
        .map(|l| format!("{l}.so"))
        .collect();
    fake_server_tree(&server, &libraries);
    for control in ["pg_stat_statements", "pg_cron"] {
        std::fs::write(
            server.join(format!("share/extension/{control}.control")),
            "",
        )
        .unwrap();
    }
    script(
        &server.join("bin/postgres"),
        "[ \"$1\" = --describe-config ] || exit 1\n\
         printf 'output_plugin_libraries\\tsuperuser\\tReplication\\tSTRING\\tpgoutput, test_decoding\\n'",
    );
    script(
        &server.join("bin/dpkg-query"),
        "for package; do :; done\n\
         case \"$package\" in\n\
           postgresql-18-cron) printf 'ii \\t1.6.8-1' ;;\n\
           postgresql-18-wal2json) printf 'ii \\t2.6-3' ;;\n\
           *) echo \"dpkg-query: no packages found matching $package\" >&2; exit 1 ;;\n\
         esac",
    );
    path_with(&server.join("bin"))
}

const NOTES: &str = "# packages\n\
    pg_cron\tinstalled\tpostgresql-18-cron\n\
    wal2json\tinstalled\tpostgresql-18-wal2json\n\
    pg_stat_monitor\tabsent\tonly packaged by Percona (percona-pg-stat-monitor18); the distribution's archive has none\n\
    pgaudit\tabsent\tthe distribution's archive has no package postgresql-18-pgaudit\n";

fn repository_manifest() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(manifest::MANIFEST_PATH)
        .display()
        .to_string()
}

#[test]
fn the_writer_records_what_the_image_has_and_a_start_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = server(dir.path());
    let notes = dir.path().join("build-notes.tsv");
    std::fs::write(&notes, NOTES).unwrap();
    let output = dir.path().join("usr/share/aza-pg/image-catalog.json");
    let manifest_path = repository_manifest();
    let run = catalog_command(&[("PATH", &path), ("PACKAGE_SOURCE", "distribution")])
        .args(["--write", "--manifest", &manifest_path])
        .arg("--notes")
        .arg(&notes)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", describe(&run));
    let stdout = text(&run.stdout);
    assert!(
        stdout.starts_with(&format!("wrote {}: ", output.display()))
            && stdout.contains("default preload: auto_explain,pg_cron,pg_stat_statements"),
        "{stdout}"
    );

    let file = image_catalog::load(&output).unwrap();
    let catalog = file.catalog.expect("written");
    let manifest = manifest::load_file(Path::new(&manifest_path)).unwrap();
    assert_eq!(catalog.entries.len(), manifest.extensions.len());
    let cron = catalog.entry("pg_cron").unwrap();
    assert_eq!(
        (
            cron.status,
            cron.package.as_deref(),
            cron.version.as_deref()
        ),
        (
            Status::Installed,
            Some("postgresql-18-cron"),
            Some("1.6.8-1")
        )
    );
    assert_eq!(
        catalog.entry("pg_stat_statements").unwrap().status,
        Status::Installed
    );
    let monitor = catalog.entry("pg_stat_monitor").unwrap();
    assert_eq!(monitor.status, Status::Absent);
    assert!(monitor
        .reason
        .as_deref()
        .unwrap()
        .starts_with("only packaged by Percona"));
    let hll = catalog.entry("hll").unwrap();
    assert_eq!(hll.status, Status::Absent);
    assert!(
        hll.reason
            .as_deref()
            .unwrap()
            .starts_with("not in this image: expected ")
            && hll
                .reason
                .as_deref()
                .unwrap()
                .ends_with("/share/extension/hll.control"),
        "{hll:?}"
    );
    for disabled in manifest.extensions.iter().filter(|e| !e.enabled) {
        assert_eq!(
            catalog.entry(&disabled.name).unwrap().status,
            Status::Disabled
        );
    }
    let expected_default: Vec<String> = manifest
        .default_preload_libraries()
        .into_iter()
        .filter(|l| ["auto_explain", "pg_cron", "pg_stat_statements"].contains(&l.as_str()))
        .collect();
    assert_eq!(catalog.default_preload, expected_default);
    assert_eq!(catalog.logical_output_plugins, ["wal2json"]);
    assert_eq!(
        catalog.manifest_summary.as_ref(),
        Some(&aza_pg::version_info::ManifestSummary::of(&manifest)),
        "the manifest's summary for version-info is recorded"
    );

    // Without --write, the same catalog on stdout and nothing written.
    let printed = catalog_command(&[("PATH", &path)])
        .args([
            "--package-source",
            "distribution",
            "--manifest",
            &manifest_path,
        ])
        .arg("--notes")
        .arg(&notes)
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", describe(&printed));
    assert_eq!(
        text(&printed.stdout),
        std::fs::read_to_string(&output).unwrap()
    );

    // A start in this image reads it: the default preload list and the output plugins follow it.
    let dry_run = entrypoint_command(&[
        ("PATH", &path),
        ("AZA_IMAGE_CATALOG", output.to_str().unwrap()),
        ("POSTGRES_MEMORY", "1g"),
    ])
    .args(["--dry-run", "--format", "json"])
    .output()
    .unwrap();
    assert!(dry_run.status.success(), "{}", describe(&dry_run));
    let doc = json(&dry_run);
    assert_eq!(
        doc["settings"]["shared_preload_libraries"],
        expected_default.join(",")
    );
    assert_eq!(
        doc["settings"]["output_plugin_libraries"],
        "pgoutput,test_decoding,wal2json"
    );

    // So does version-info, the extension counts included, without the manifest.
    let version_info = entrypoint_command(&[
        ("PATH", &path),
        ("AZA_IMAGE_CATALOG", output.to_str().unwrap()),
    ])
    .args(["version-info", "--format", "json"])
    .output()
    .unwrap();
    assert!(version_info.status.success(), "{}", describe(&version_info));
    let doc = json(&version_info);
    let counts = manifest.counts();
    assert_eq!(doc["extensions"]["total"], counts.total);
    assert_eq!(doc["extensions"]["disabled"], counts.disabled);
    assert_eq!(
        doc["manifest_postgres_version"],
        manifest.postgres.version.as_str()
    );
    assert_eq!(
        doc["preloaded_modules"],
        serde_json::json!(expected_default)
    );
}

#[test]
fn a_note_the_disk_contradicts_fails_the_build_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = server(dir.path());
    std::fs::remove_file(dir.path().join("server/lib/pg_cron.so")).unwrap();
    let notes = dir.path().join("build-notes.tsv");
    std::fs::write(&notes, NOTES).unwrap();
    let output = dir.path().join("image-catalog.json");
    let run = catalog_command(&[("PATH", &path), ("PACKAGE_SOURCE", "distribution")])
        .args(["--write", "--manifest", &repository_manifest()])
        .arg("--notes")
        .arg(&notes)
        .arg("--output")
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "image-catalog: pg_cron: build notes {} line 2 says it is installed (postgresql-18-cron), but {} is missing",
            notes.display(),
            dir.path().join("server/lib/pg_cron.so").display()
        )),
        "{stderr}"
    );
    assert!(!output.exists());

    // No notes file, no package source: each is an error that says what to do.
    let run = catalog_command(&[("PATH", &path), ("PACKAGE_SOURCE", "distribution")])
        .args([
            "--manifest",
            &repository_manifest(),
            "--notes",
            "/nonexistent/notes.tsv",
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains("cannot read the build notes /nonexistent/notes.tsv"),
        "{}",
        describe(&run)
    );
    let run = catalog_command(&[("PATH", &path)])
        .args(["--manifest", &repository_manifest()])
        .arg("--notes")
        .arg(&notes)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", describe(&run));
    assert!(
        text(&run.stderr).contains("the package source is unknown"),
        "{}",
        describe(&run)
    );
}
