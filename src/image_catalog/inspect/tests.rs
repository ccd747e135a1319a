use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use super::*;

/// One manifest entry with only what the writer reads; `flags` are the runtime switches set.
fn entry(name: &str, kind: &str, flags: &[&str]) -> Value {
    let flag = |f: &str| flags.contains(&f);
    json!({
        "name": name,
        "kind": kind,
        "category": "test",
        "description": "test entry",
        "enabled": !flag("disabled"),
        "source": {"type": "builtin"},
        "install": {"method": "builtin"},
        "runtime": {
            "shared_preload": flag("shared_preload"),
            "default_preload": flag("default_preload"),
            "default_enable": false,
            "preload_only": flag("preload_only"),
        },
        "docs_url": "https://example.org",
    })
}

/// A small manifest covering every kind of requirement.
fn manifest() -> Manifest {
    let mut pgq = entry("pgq", "extension", &["disabled"]);
    pgq["disabled_reason"] = "too big".into();
    let mut safeupdate = entry("pg_safeupdate", "tool", &["shared_preload"]);
    safeupdate["runtime"]["preload_library"] = "safeupdate".into();
    let doc = json!({
        "postgres": {"version": "18.6", "base_image": "postgres:18@sha256:0"},
        "extensions": [
            entry("auto_explain", "builtin", &["shared_preload", "default_preload", "preload_only"]),
            entry("hll", "extension", &[]),
            entry("pg_cron", "extension", &["shared_preload", "default_preload"]),
            safeupdate,
            entry("pg_stat_monitor", "extension", &["shared_preload", "default_preload"]),
            entry("pg_trgm", "builtin", &[]),
            entry("pgbackrest", "tool", &[]),
            pgq,
            entry("set_user", "extension", &["shared_preload"]),
            entry("wal2json", "tool", &[]),
        ],
    });
    crate::manifest::parse(&doc.to_string(), "test-manifest.json").expect("test manifest parses")
}

/// A server tree under a temp dir: `lib/`, `share/extension/`, `bin/`.
struct Fixture {
    dir: tempfile::TempDir,
    layout: Layout,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            pkglibdir: dir.path().join("lib"),
            sharedir: dir.path().join("share"),
        };
        std::fs::create_dir_all(&layout.pkglibdir).unwrap();
        std::fs::create_dir_all(layout.sharedir.join("extension")).unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        Fixture { dir, layout }
    }

    /// The image of the format's example: everything but hll and pg_stat_monitor.
    fn typical() -> Fixture {
        let f = Fixture::new();
        for library in [
            "auto_explain",
            "pg_cron",
            "safeupdate",
            "set_user",
            "wal2json",
        ] {
            f.library(library);
        }
        for control in ["pg_cron", "pg_trgm", "set_user"] {
            f.control(control);
        }
        f.program("pgbackrest", 0o755);
        f
    }

    fn library(&self, name: &str) {
        std::fs::write(self.layout.pkglibdir.join(format!("{name}.so")), "").unwrap();
    }

    fn control(&self, name: &str) {
        let path = self
            .layout
            .sharedir
            .join(format!("extension/{name}.control"));
        std::fs::write(path, "").unwrap();
    }

    fn remove_library(&self, name: &str) {
        std::fs::remove_file(self.layout.pkglibdir.join(format!("{name}.so"))).unwrap();
    }

    fn program(&self, name: &str, mode: u32) {
        let path = self.bin().join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn found(&self, manifest: &Manifest) -> Found {
        look(manifest, &self.layout, &[self.bin()])
    }
}

const NOTES: &str = "# written by the package step\n\
    pg_cron\tinstalled\tpostgresql-18-cron\n\
    \n\
    pg_stat_monitor\tabsent\tPercona's package percona-pg-stat-monitor18; Debian's archive has none\n\
    set_user\tinstalled\tpostgresql-18-set-user\n\
    wal2json\tinstalled\tpostgresql-18-wal2json\r\n\
    pg_safeupdate\tinstalled\tsource 0123456789abcdef0123456789abcdef01234567\n";

fn versions() -> BTreeMap<String, String> {
    [
        ("postgresql-18-cron", "1.6.8-1"),
        ("postgresql-18-set-user", "4.2.0-1"),
        ("postgresql-18-wal2json", "2.6-3"),
    ]
    .iter()
    .map(|(p, v)| (p.to_string(), v.to_string()))
    .collect()
}

/// Decides with `notes` and `versions` over the fixture.
fn run(
    fixture: &Fixture,
    notes: &str,
    versions: Option<&BTreeMap<String, String>>,
    output_plugin_libraries: bool,
) -> Result<ImageCatalog, WriteError> {
    let manifest = manifest();
    let notes = parse_notes(notes, "notes.tsv")?;
    let found = fixture.found(&manifest);
    decide(&Facts {
        manifest: &manifest,
        layout: &fixture.layout,
        notes: &notes,
        notes_file: "notes.tsv",
        found: &found,
        package_versions: versions,
        package_source: PackageSource::Distribution,
        server_has_output_plugin_libraries: output_plugin_libraries,
    })
}

fn only_problem(result: Result<ImageCatalog, WriteError>) -> String {
    let problems = result.expect_err("the writer must refuse").0;
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap()
}

fn assert_words(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "'{word}' not in: {text}");
    }
}

#[test]
fn what_the_image_has_is_recorded_entry_by_entry() {
    let fixture = Fixture::typical();
    let versions = versions();
    let catalog = run(&fixture, NOTES, Some(&versions), true).unwrap();
    assert_eq!(catalog.format, FORMAT);
    assert_eq!(catalog.package_source, PackageSource::Distribution);
    let status: Vec<(&str, Status)> = catalog
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.status))
        .collect();
    assert_eq!(
        status,
        [
            ("auto_explain", Status::Installed),
            ("hll", Status::Absent),
            ("pg_cron", Status::Installed),
            ("pg_safeupdate", Status::Installed),
            ("pg_stat_monitor", Status::Absent),
            ("pg_trgm", Status::Installed),
            ("pgbackrest", Status::Installed),
            ("pgq", Status::Disabled),
            ("set_user", Status::Installed),
            ("wal2json", Status::Installed),
        ]
    );
    let cron = catalog.entry("pg_cron").unwrap();
    assert_eq!(
        (cron.package.as_deref(), cron.version.as_deref()),
        (Some("postgresql-18-cron"), Some("1.6.8-1"))
    );
    // Found on disk without a note: no package to name.
    assert_eq!(catalog.entry("pg_trgm").unwrap().package, None);
    // A note that names no Debian package is recorded in its own words, with no version.
    let safeupdate = catalog.entry("pg_safeupdate").unwrap();
    assert_eq!(
        safeupdate.package.as_deref(),
        Some("source 0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(safeupdate.version, None);
    assert_eq!(
        catalog.entry("pg_stat_monitor").unwrap().reason.as_deref(),
        Some("Percona's package percona-pg-stat-monitor18; Debian's archive has none")
    );
    let hll = catalog.entry("hll").unwrap().reason.clone().unwrap();
    assert_eq!(
        hll,
        format!(
            "not in this image: expected {}",
            fixture
                .layout
                .sharedir
                .join("extension/hll.control")
                .display()
        )
    );
    assert_eq!(
        catalog.entry("pgq").unwrap().reason.as_deref(),
        Some("too big")
    );
    assert_eq!(catalog.default_preload, ["auto_explain", "pg_cron"]);
    assert_eq!(
        catalog.preloadable,
        ["auto_explain", "pg_cron", "safeupdate", "set_user"]
    );
    assert_eq!(catalog.logical_output_plugins, ["wal2json"]);
    // The manifest's summary for version-info, whatever the image has of it.
    let summary = catalog.manifest_summary.clone().expect("recorded");
    assert_eq!(summary, ManifestSummary::of(&manifest()));
    assert_eq!(summary.postgres_version, "18.6");
    assert_eq!(summary.tools, ["pg_safeupdate", "pgbackrest", "wal2json"]);
    assert_eq!(summary.optional_preloads, ["safeupdate", "set_user"]);
    assert_eq!(
        summary.disabled,
        [crate::version_info::DisabledEntry {
            name: "pgq".into(),
            reason: "too big".into()
        }]
    );
    // What the writer decides, the reader accepts, summary included.
    super::super::check(&catalog).unwrap();
    let text = super::super::to_json(&catalog).unwrap();
    assert_eq!(super::super::parse(&text, "written.json").unwrap(), catalog);
}

#[test]
fn wal2json_needs_no_allow_list_on_a_server_without_output_plugin_libraries() {
    let versions = versions();
    let catalog = run(&Fixture::typical(), NOTES, Some(&versions), false).unwrap();
    assert!(catalog.logical_output_plugins.is_empty());
    let fixture = Fixture::typical();
    fixture.remove_library("wal2json");
    let notes = NOTES.replace(
        "wal2json\tinstalled\tpostgresql-18-wal2json",
        "wal2json\tabsent\tnone here",
    );
    let catalog = run(&fixture, &notes, Some(&versions), true).unwrap();
    assert!(catalog.logical_output_plugins.is_empty());
}

#[test]
fn without_dpkg_query_no_version_is_recorded() {
    let catalog = run(&Fixture::typical(), NOTES, None, true).unwrap();
    let cron = catalog.entry("pg_cron").unwrap();
    assert_eq!(cron.package.as_deref(), Some("postgresql-18-cron"));
    assert_eq!(cron.version, None);
}

#[test]
fn a_tool_is_a_program_on_path_or_a_library() {
    let fixture = Fixture::typical();
    // Not executable: not a program.
    fixture.program("pgbackrest", 0o644);
    let versions = versions();
    let catalog = run(&fixture, NOTES, Some(&versions), true).unwrap();
    let pgbackrest = catalog.entry("pgbackrest").unwrap();
    assert_eq!(pgbackrest.status, Status::Absent);
    assert_words(
        pgbackrest.reason.as_deref().unwrap(),
        &[
            "not in this image: expected an executable pgbackrest on PATH or",
            "pgbackrest.so",
        ],
    );
    fixture.library("pgbackrest");
    let catalog = run(&fixture, NOTES, Some(&versions), true).unwrap();
    assert_eq!(
        catalog.entry("pgbackrest").unwrap().status,
        Status::Installed
    );
}

#[test]
fn an_installed_note_with_a_file_missing_fails_the_build() {
    let fixture = Fixture::typical();
    fixture.remove_library("pg_cron");
    let versions = versions();
    let problem = only_problem(run(&fixture, NOTES, Some(&versions), true));
    assert_words(
        &problem,
        &[
            "pg_cron: build notes notes.tsv line 2 says it is installed (postgresql-18-cron)",
            &format!(
                "{} is missing",
                fixture.layout.pkglibdir.join("pg_cron.so").display()
            ),
        ],
    );
}

#[test]
fn an_installed_package_dpkg_does_not_know_fails_the_build() {
    let mut versions = versions();
    versions.remove("postgresql-18-set-user");
    let problem = only_problem(run(&Fixture::typical(), NOTES, Some(&versions), true));
    assert_words(
        &problem,
        &[
            "set_user",
            "line 5",
            "dpkg-query does not list postgresql-18-set-user as installed",
        ],
    );
}

#[test]
fn notes_that_contradict_the_manifest_or_the_disk_fail_the_build() {
    let versions = versions();
    let cases: &[(&str, &[&str])] = &[
        (
            "pg_crn\tinstalled\tpostgresql-18-cron\n",
            &["line 1: 'pg_crn' is not an entry of the manifest"],
        ),
        (
            "pgq\tinstalled\tpostgresql-18-pgq3\n",
            &["line 1: 'pgq' is disabled in the manifest"],
        ),
        (
            "pg_trgm\tabsent\tnot wanted\n",
            &["pg_trgm: build notes notes.tsv (line 1) say it is absent (not wanted)", "pg_trgm.control"],
        ),
        (
            "pg_cron\tinstalled\tpostgresql-18-cron\npg_cron\tinstalled\tpg-cron-other\n",
            &["lines 1 and 2 say pg_cron was installed by both 'postgresql-18-cron' and 'pg-cron-other'"],
        ),
    ];
    for (notes, words) in cases {
        let problem = only_problem(run(&Fixture::typical(), notes, Some(&versions), true));
        assert_words(&problem, words);
    }
}

#[test]
fn one_step_installing_an_entry_outweighs_another_that_could_not() {
    let notes = "wal2json\tabsent\tthe source stage built nothing\nwal2json\tinstalled\tpostgresql-18-wal2json\n";
    let versions = versions();
    let catalog = run(&Fixture::typical(), notes, Some(&versions), true).unwrap();
    assert_eq!(catalog.entry("wal2json").unwrap().status, Status::Installed);
    // Two steps that could not: both reasons, once each.
    let fixture = Fixture::typical();
    fixture.remove_library("set_user");
    let notes = "set_user\tabsent\tno package\nset_user\tabsent\tno source build\nset_user\tabsent\tno package\n";
    let catalog = run(&fixture, notes, Some(&versions), true).unwrap();
    assert_eq!(
        catalog.entry("set_user").unwrap().reason.as_deref(),
        Some("no package; no source build")
    );
    assert!(!catalog.preloadable.contains(&"set_user".to_string()));
}

#[test]
fn an_entry_with_nothing_to_check_needs_a_note() {
    let doc = json!({
        "postgres": {"version": "18.6", "base_image": "postgres:18@sha256:0"},
        "extensions": [entry("pgflow", "extension", &["preload_only"])],
    });
    let manifest = crate::manifest::parse(&doc.to_string(), "m.json").unwrap();
    let fixture = Fixture::new();
    let decide_with = |notes: &str| {
        let notes = parse_notes(notes, "notes.tsv").unwrap();
        decide(&Facts {
            manifest: &manifest,
            layout: &fixture.layout,
            notes: &notes,
            notes_file: "notes.tsv",
            found: &Found::default(),
            package_versions: None,
            package_source: PackageSource::Vendor,
            server_has_output_plugin_libraries: true,
        })
    };
    let problem = only_problem(decide_with(""));
    assert_words(
        &problem,
        &["pgflow: nothing on disk tells", "add a line to notes.tsv"],
    );
    let catalog = decide_with("pgflow\tinstalled\tinit script\n").unwrap();
    assert_eq!(catalog.entries[0].status, Status::Installed);
    let catalog = decide_with("pgflow\tabsent\tnot shipped\n").unwrap();
    assert_eq!(catalog.entries[0].status, Status::Absent);
}

#[test]
fn every_contradiction_is_reported_at_once() {
    let fixture = Fixture::typical();
    fixture.remove_library("pg_cron");
    let notes = format!("{NOTES}nope\tabsent\tx\n");
    let problems = run(&fixture, &notes, Some(&BTreeMap::new()), true)
        .unwrap_err()
        .0;
    // The unknown name, pg_cron's missing library, and the two packages dpkg does not know.
    assert_eq!(problems.len(), 4, "{problems:#?}");
}

#[test]
fn malformed_note_lines_are_errors_naming_file_and_line() {
    let text = "ok\tinstalled\tpkg\n\
        two\tfields\n\
        four\tabsent\ta\tb\n\
        bad\tmaybe\tx\n\
        empty\tabsent\t \n\
        \tinstalled\tpkg\n\
        has space\tinstalled\tpkg\n\
        # fine\n\
           \n";
    let problems = parse_notes(text, "/usr/share/aza-pg/build-notes.tsv")
        .unwrap_err()
        .0;
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| {
            p.strip_prefix("build notes /usr/share/aza-pg/build-notes.tsv line ")
                .unwrap_or_else(|| panic!("{p}"))
                .split(':')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, ["2", "3", "4", "5", "6", "7"]);
    assert_words(
        &problems[0],
        &["'two\\tfields' is not NAME<TAB>installed<TAB>PACKAGE"],
    );
    let notes = parse_notes("# only a comment\n\n", "n").unwrap();
    assert!(notes.is_empty());
    let notes = parse_notes(NOTES, "n").unwrap();
    assert_eq!(notes.len(), 5);
    assert_eq!(
        notes[3],
        Note {
            name: "wal2json".into(),
            line: 6,
            kind: NoteKind::Installed {
                by: "postgresql-18-wal2json".into()
            }
        }
    );
}

#[test]
fn debian_package_names_follow_policy() {
    for good in [
        "postgresql-18-cron",
        "pgbackrest",
        "libc6",
        "g++",
        "postgresql-18-postgis-3",
    ] {
        assert!(is_debian_package_name(good), "{good}");
    }
    for bad in [
        "source 0123",
        "github:timescale/pgvectorscale",
        "Pg",
        "a",
        "-x",
        "pg_cron",
    ] {
        assert!(!is_debian_package_name(bad), "{bad}");
    }
}

#[test]
fn the_package_source_comes_from_the_option_or_the_build_argument() {
    assert_eq!(
        package_source(Some("vendor"), Some("distribution")),
        Ok(PackageSource::Vendor)
    );
    assert_eq!(
        package_source(None, Some("distribution")),
        Ok(PackageSource::Distribution)
    );
    assert_eq!(package_source(None, Some("none")), Ok(PackageSource::None));
    let unknown = package_source(None, None).unwrap_err().to_string();
    assert_words(
        &unknown,
        &[
            "--package-source",
            "PACKAGE_SOURCE",
            "vendor, distribution, none",
        ],
    );
    let unknown = package_source(None, Some("")).unwrap_err().to_string();
    assert_words(&unknown, &["the package source is unknown"]);
    let bad = package_source(Some("pgdg"), None).unwrap_err().to_string();
    assert_words(&bad, &["--package-source 'pgdg' is not a package source"]);
    let bad = package_source(None, Some("apt")).unwrap_err().to_string();
    assert_words(&bad, &["PACKAGE_SOURCE 'apt' is not a package source"]);
}

#[test]
fn describe_config_is_read_by_setting_name() {
    let text = "output_plugin_libraries\tsuperuser\tReplication\tSTRING\tpgoutput, test_decoding\t\t\tLists...\n\
        wal_level\tpostmaster\tWAL\tENUM\treplica\n";
    assert!(describes_setting(text, "output_plugin_libraries"));
    assert!(describes_setting(text, "wal_level"));
    assert!(!describes_setting(text, "output_plugin"));
    assert!(!describes_setting("", "wal_level"));
}

#[test]
fn the_file_is_written_whole_and_reads_back() {
    let versions = versions();
    let catalog = run(&Fixture::typical(), NOTES, Some(&versions), true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("usr/share/aza-pg/image-catalog.json");
    write(&catalog, &output).unwrap();
    let read = super::super::load(&output).unwrap();
    assert_eq!(read.catalog.as_ref(), Some(&catalog));
    let left: Vec<_> = std::fs::read_dir(output.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        ["image-catalog.json"],
        "no temporary file left behind"
    );
}
