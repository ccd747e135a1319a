use super::*;
use crate::test_support::fake_env;

/// The example of the format's description, as the build writes it.
pub(crate) const EXAMPLE: &str = r#"{
  "format": 1,
  "package_source": "distribution",
  "entries": [
    {"name": "pg_cron", "status": "installed", "package": "postgresql-18-cron", "version": "1.6.8-1"},
    {"name": "auto_explain", "status": "installed"},
    {"name": "pg_stat_monitor", "status": "absent", "reason": "Percona's package percona-pg-stat-monitor18; Debian's archive has none"},
    {"name": "hll", "status": "absent", "reason": "not in this image: expected /usr/lib/postgresql/18/lib/hll.control"},
    {"name": "pgq", "status": "disabled", "reason": "Disabled by default to reduce image size"}
  ],
  "default_preload": ["auto_explain", "pg_cron"],
  "preloadable": ["auto_explain", "pg_cron", "set_user"],
  "logical_output_plugins": ["wal2json"]
}"#;

fn problem(text: &str) -> String {
    parse(text, "/x/catalog.json").unwrap_err().to_string()
}

fn example_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
    edit(&mut doc);
    doc.to_string()
}

#[test]
fn the_documented_example_is_read() {
    let catalog = parse(EXAMPLE, "example.json").unwrap();
    assert_eq!(catalog.package_source, PackageSource::Distribution);
    assert_eq!(catalog.default_preload, ["auto_explain", "pg_cron"]);
    assert_eq!(
        catalog.counts(),
        StatusCounts {
            installed: 2,
            absent: 2,
            disabled: 1
        }
    );
    let cron = catalog.entry("pg_cron").unwrap();
    assert_eq!(cron.version.as_deref(), Some("1.6.8-1"));
    assert_eq!(catalog.why_not_in_image("pg_cron"), None);
    assert_eq!(catalog.why_not_in_image("nothing_of_the_sort"), None);
    assert_eq!(
        catalog.why_not_in_image("pg_stat_monitor").as_deref(),
        Some("not in this image: Percona's package percona-pg-stat-monitor18; Debian's archive has none")
    );
    // The writer's own reasons are not prefixed twice.
    assert_eq!(
        catalog.why_not_in_image("hll").as_deref(),
        Some("not in this image: expected /usr/lib/postgresql/18/lib/hll.control")
    );
    assert_eq!(
        catalog.why_not_in_image("pgq").as_deref(),
        Some("disabled in the manifest: Disabled by default to reduce image size")
    );
    // Written back, it reads the same.
    let text = to_json(&catalog).unwrap();
    assert!(text.ends_with("}\n"));
    assert_eq!(parse(&text, "again.json").unwrap(), catalog);
    assert!(
        !text.contains("\"package\": null"),
        "optional fields are left out"
    );
}

/// A manifest summary as the writer records it, edited.
fn summary_with(edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut summary = serde_json::json!({
        "postgres_version": "18.6",
        "counts": {"total": 3, "enabled": 2, "disabled": 1, "preloaded": 1, "optional_preloads": 0,
                   "tools": 0, "modules": 1, "auto_created": 1, "available": 1},
        "optional_preloads": [],
        "auto_created": ["pg_cron"],
        "available": [],
        "tools": [],
        "disabled": [{"name": "pgq", "reason": "Disabled by default to reduce image size"}]
    });
    edit(&mut summary);
    summary
}

#[test]
fn the_manifest_summary_is_optional_and_read_back_whole() {
    // The example has none (a catalog written before it existed): read, and nothing is invented.
    assert_eq!(
        parse(EXAMPLE, "example.json").unwrap().manifest_summary,
        None
    );
    let text = example_with(|d| d["manifest_summary"] = summary_with(|_| {}));
    let catalog = parse(&text, "with-summary.json").unwrap();
    let summary = catalog.manifest_summary.as_ref().expect("read");
    assert_eq!(summary.counts.total, 3);
    assert_eq!(summary.disabled[0].name, "pgq");
    assert_eq!(
        parse(&to_json(&catalog).unwrap(), "again.json").unwrap(),
        catalog
    );
}

#[test]
fn a_missing_file_means_no_catalog_and_any_other_problem_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("image-catalog.json");
    let file = load(&missing).unwrap();
    assert_eq!(file.catalog, None);
    assert!(
        file.describe()
            .contains("does not exist: not running in a built image"),
        "{}",
        file.describe()
    );

    std::fs::write(&missing, EXAMPLE).unwrap();
    let file = load(&missing).unwrap();
    assert!(file.catalog.is_some());
    assert_eq!(
        file.describe(),
        format!("image catalog {}", missing.display())
    );

    std::fs::write(&missing, "{\"format\": 1").unwrap();
    let error = load(&missing).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "image catalog {}: is not a valid catalog",
            missing.display()
        )),
        "{error}"
    );
    assert!(
        error.contains("aza-entrypoint image-catalog --write") && error.contains(PATH_VARIABLE),
        "the error says how to fix it: {error}"
    );

    let directory = dir.path().join("a-directory");
    std::fs::create_dir(&directory).unwrap();
    let error = load(&directory).unwrap_err().to_string();
    assert!(error.contains("cannot be read"), "{error}");
}

#[test]
fn every_rule_of_the_format_is_checked() {
    let cases: Vec<(String, &str)> = vec![
        (
            example_with(|d| d["format"] = 2.into()),
            "has format 2, and this entrypoint reads format 1 only",
        ),
        (
            example_with(|d| d["extra"] = true.into()),
            "unknown field `extra`",
        ),
        (
            example_with(|d| d["entries"][0]["size"] = 1.into()),
            "unknown field `size`",
        ),
        (
            example_with(|d| d["package_source"] = "ppa".into()),
            "unknown variant `ppa`",
        ),
        (
            example_with(|d| d["entries"][0]["status"] = "maybe".into()),
            "unknown variant `maybe`",
        ),
        (
            example_with(|d| {
                d["entries"][2].as_object_mut().unwrap().remove("reason");
            }),
            "entry 'pg_stat_monitor' is absent without a reason",
        ),
        (
            example_with(|d| d["entries"][4]["reason"] = " ".into()),
            "entry 'pgq' is disabled without a reason",
        ),
        (
            example_with(|d| d["entries"][1]["reason"] = "because".into()),
            "entry 'auto_explain' is installed but has a reason",
        ),
        (
            example_with(|d| d["entries"][1]["name"] = "pg_cron".into()),
            "lists the entry 'pg_cron' twice",
        ),
        (
            example_with(|d| d["entries"][1]["name"] = "".into()),
            "entries[1] has an empty name",
        ),
        (
            example_with(|d| d["default_preload"] = serde_json::json!(["pg_stat_monitor"])),
            "default_preload names 'pg_stat_monitor', which preloadable does not list",
        ),
        (
            example_with(|d| {
                d.as_object_mut().unwrap().remove("preloadable");
            }),
            "missing field `preloadable`",
        ),
        (
            example_with(|d| d["manifest_summary"] = summary_with(|s| s["size"] = 1.into())),
            "unknown field `size`",
        ),
        (
            example_with(|d| {
                d["manifest_summary"] = summary_with(|s| {
                    s["counts"].as_object_mut().unwrap().remove("modules");
                })
            }),
            "missing field `modules`",
        ),
    ];
    for (text, expected) in cases {
        let message = problem(&text);
        assert!(
            message.starts_with("image catalog /x/catalog.json: "),
            "{message}"
        );
        assert!(message.contains(expected), "'{expected}' not in: {message}");
    }
}

#[test]
fn the_path_comes_from_the_environment_or_the_default() {
    assert_eq!(path_from_lookup(fake_env(&[])), PathBuf::from(DEFAULT_PATH));
    assert_eq!(
        path_from_lookup(fake_env(&[(PATH_VARIABLE, "")])),
        PathBuf::from(DEFAULT_PATH)
    );
    assert_eq!(
        path_from_lookup(fake_env(&[(PATH_VARIABLE, "/tmp/c.json")])),
        PathBuf::from("/tmp/c.json")
    );
}
