use super::*;
use crate::config::Config;
use crate::detect::{CpuSource, MemorySource};
use crate::image_catalog::{self, CatalogFile};
use crate::plan::{self, Pgsodium, PlanInputs};
use crate::resources::Resources;
use crate::test_support::fake_env;

/// A library directory holding the Debian build's defaults, without pg_stat_monitor.
fn library_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for library in [
        "auto_explain",
        "pg_cron",
        "pg_stat_statements",
        "pgaudit",
        "set_user",
    ] {
        std::fs::write(dir.path().join(format!("{library}.so")), "").unwrap();
    }
    dir
}

fn catalog() -> CatalogFile {
    let text = r#"{
      "format": 1,
      "package_source": "distribution",
      "entries": [
        {"name": "auto_explain", "status": "installed"},
        {"name": "pg_cron", "status": "installed", "package": "postgresql-18-cron", "version": "1.6.8-1"},
        {"name": "pg_stat_monitor", "status": "absent", "reason": "Percona's package percona-pg-stat-monitor18; Debian's archive has none"},
        {"name": "pg_stat_statements", "status": "installed"},
        {"name": "pgaudit", "status": "installed", "package": "postgresql-18-pgaudit"},
        {"name": "pgsodium", "status": "installed", "package": "source 0123"},
        {"name": "pgq", "status": "disabled", "reason": "too big"}
      ],
      "default_preload": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"],
      "preloadable": ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit", "set_user"],
      "logical_output_plugins": []
    }"#;
    CatalogFile {
        path: "/usr/share/aza-pg/image-catalog.json".into(),
        catalog: Some(image_catalog::parse(text, "test").unwrap()),
    }
}

fn no_catalog() -> CatalogFile {
    CatalogFile::missing("/nonexistent/image-catalog.json")
}

fn plan_for(vars: &[(&str, &str)], args: &[&str], auto_conf: &str, image: &CatalogFile) -> Plan {
    let mut config = Config::from_lookup(fake_env(vars)).unwrap();
    if let Some(catalog) = &image.catalog {
        config = config.with_image_default_preload(&catalog.default_preload);
    }
    let resources = Resources {
        memory_mb: 2048,
        memory_source: MemorySource::Manual,
        memory_origin: "POSTGRES_MEMORY".into(),
        cpus: 2,
        cpu_source: CpuSource::Manual,
        shm_mb: None,
        wal_free_mb: None,
        primary_requires: Default::default(),
        jit_provider: Some(true),
        warnings: Vec::new(),
    };
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    plan::build(&PlanInputs {
        resources: &resources,
        config: &config,
        user_args: &args,
        alter_system: &plan::parse_auto_conf(auto_conf),
        config_file: &[],
        pgsodium: &Pgsodium::NotRequested,
        image,
        delivery: plan::Delivery::CommandLine,
    })
}

fn refusal(plan: &Plan, dir: &Path) -> PreloadRefusal {
    judge(plan, &plan.preload_libraries_in_force(), dir).expect_err("the preflight must refuse")
}

#[test]
fn a_library_the_image_lacks_is_named_with_the_catalogs_reason_and_a_line_to_paste() {
    let dir = library_dir();
    let plan = plan_for(
        &[(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "auto_explain,pg_cron,pg_stat_monitor,pg_stat_statements,pgaudit",
        )],
        &[],
        "",
        &catalog(),
    );
    assert_eq!(
        refusal(&plan, dir.path()).to_string(),
        "POSTGRES_SHARED_PRELOAD_LIBRARIES names pg_stat_monitor, which this image does not have (not in \
         this image: Percona's package percona-pg-stat-monitor18; Debian's archive has none). This image \
         can preload: auto_explain, pg_cron, pg_stat_statements, pgaudit, set_user. To start without it: \
         -e POSTGRES_SHARED_PRELOAD_LIBRARIES=auto_explain,pg_cron,pg_stat_statements,pgaudit"
    );
}

#[test]
fn the_catalogs_default_passes_and_so_does_a_prefixed_name() {
    let dir = library_dir();
    let plan = plan_for(&[], &[], "", &catalog());
    assert_eq!(
        plan.preload_libraries_in_force(),
        ["auto_explain", "pg_cron", "pg_stat_statements", "pgaudit"]
    );
    assert_eq!(
        judge(&plan, &plan.preload_libraries_in_force(), dir.path()),
        Ok(())
    );
    let plan = plan_for(
        &[(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "$libdir/pg_cron,set_user",
        )],
        &[],
        "",
        &catalog(),
    );
    assert_eq!(
        judge(&plan, &plan.preload_libraries_in_force(), dir.path()),
        Ok(())
    );
}

#[test]
fn without_a_catalog_the_compiled_default_is_checked_against_the_library_directory() {
    let dir = library_dir();
    let plan = plan_for(&[], &[], "", &no_catalog());
    let refused = refusal(&plan, dir.path());
    assert_eq!(
        refused.chooser,
        Chooser::CompiledDefault("/nonexistent/image-catalog.json".into())
    );
    let text = refused.to_string();
    assert!(
        text.starts_with(
            "The default shared_preload_libraries (the manifest's, compiled in: there is no image catalog \
             at /nonexistent/image-catalog.json) names pg_stat_monitor, which this image does not have (no "
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}/pg_stat_monitor.so)", dir.path().display())),
        "{text}"
    );
    // What the manifest can preload and the directory has.
    assert!(
        text.contains(
            "This image can preload: auto_explain, pg_cron, pg_stat_statements, pgaudit, set_user."
        ),
        "{text}"
    );
}

#[test]
fn several_missing_libraries_each_get_their_reason() {
    let dir = library_dir();
    let plan = plan_for(
        &[(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "pg_stat_monitor,pgq,pgsodium,custom,pg_cron",
        )],
        &[],
        "",
        &catalog(),
    );
    let refused = refusal(&plan, dir.path());
    let shown = dir.path().display();
    assert_eq!(
        refused.missing,
        [
            (
                "pg_stat_monitor".to_string(),
                "not in this image: Percona's package percona-pg-stat-monitor18; Debian's archive has none"
                    .to_string()
            ),
            ("pgq".to_string(), "disabled in the manifest: too big".to_string()),
            (
                "pgsodium".to_string(),
                format!("the image catalog lists pgsodium as installed, but {shown}/pgsodium.so is missing")
            ),
            ("custom".to_string(), format!("no {shown}/custom.so")),
        ]
    );
    let text = refused.to_string();
    assert!(
        text.contains("names pg_stat_monitor, pgq, pgsodium, custom, which this image does not have (pg_stat_monitor: not in this image"),
        "{text}"
    );
    assert!(
        text.ends_with("To start without them: -e POSTGRES_SHARED_PRELOAD_LIBRARIES=pg_cron"),
        "{text}"
    );
}

#[test]
fn the_fix_follows_whoever_set_the_list() {
    let dir = library_dir();
    let by_command_line = plan_for(
        &[],
        &["-c", "shared_preload_libraries=pg_cron,pg_stat_monitor"],
        "",
        &catalog(),
    );
    let refused = refusal(&by_command_line, dir.path());
    assert_eq!(refused.chooser, Chooser::CommandLine);
    assert!(
        refused
            .to_string()
            .ends_with("To start without it: -c shared_preload_libraries=pg_cron"),
        "{refused}"
    );
    let by_alter_system = plan_for(
        &[],
        &[],
        "shared_preload_libraries = 'pg_stat_monitor,pgaudit'\n",
        &catalog(),
    );
    let refused = refusal(&by_alter_system, dir.path()).to_string();
    assert!(
        refused.starts_with("shared_preload_libraries set by ALTER SYSTEM names pg_stat_monitor"),
        "{refused}"
    );
    assert!(
        refused.ends_with(
            "-c shared_preload_libraries=pgaudit (the command line wins over ALTER SYSTEM), then ALTER \
             SYSTEM SET shared_preload_libraries = 'pgaudit'"
        ),
        "{refused}"
    );
    // Nothing left: an empty variable would mean the default, so the fix is a server option.
    let nothing_left = plan_for(
        &[("POSTGRES_SHARED_PRELOAD_LIBRARIES", "pg_stat_monitor")],
        &[],
        "",
        &catalog(),
    );
    let refused = refusal(&nothing_left, dir.path()).to_string();
    assert!(
        refused.contains("pass -c shared_preload_libraries= to the server"),
        "{refused}"
    );
}

#[test]
fn a_broken_image_default_is_refused_naming_the_catalog() {
    let dir = library_dir();
    std::fs::remove_file(dir.path().join("pgaudit.so")).unwrap();
    let plan = plan_for(&[], &[], "", &catalog());
    let refused = refusal(&plan, dir.path());
    assert_eq!(
        refused.chooser,
        Chooser::ImageDefault("/usr/share/aza-pg/image-catalog.json".into())
    );
    assert!(
        refused
            .to_string()
            .starts_with("The default shared_preload_libraries of the image catalog /usr/share/aza-pg/image-catalog.json names pgaudit"),
        "{refused}"
    );
}

#[test]
fn missing_libraries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("auto_explain.so"), "").unwrap();
    std::fs::write(dir.path().join("plain"), "").unwrap();
    let libs: Vec<String> = [
        "auto_explain",
        "$libdir/auto_explain",
        "plain",
        "pg_cron",
        "$libdir/pgaudit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        missing_libraries(&libs, dir.path()),
        ["pg_cron", "$libdir/pgaudit"]
    );
    let absolute = format!("{}/auto_explain", dir.path().display());
    assert!(missing_libraries(&[absolute], Path::new("/nonexistent")).is_empty());
    assert_eq!(
        library_file("$libdir/x.so", Path::new("/l")),
        PathBuf::from("/l/x.so")
    );
    assert_eq!(
        library_file("/abs/y", Path::new("/l")),
        PathBuf::from("/abs/y.so")
    );
    assert_eq!(bare_name("$libdir/pg_cron.so"), "pg_cron");
}

#[test]
fn a_catalog_with_its_library_dir_is_checked_there_without_pg_config() {
    let dir = library_dir();
    let mut image = catalog();
    if let Some(catalog) = image.catalog.as_mut() {
        catalog.library_dir = Some(dir.path().to_path_buf());
    }
    // The recorded directory has the defaults: passed, whatever pg_config on PATH would say.
    let plan = plan_for(&[], &[], "", &image);
    assert_eq!(check(&plan), Ok(Preflight::Passed));
    // And a library missing there is refused by the same check a start runs.
    let plan = plan_for(
        &[(
            "POSTGRES_SHARED_PRELOAD_LIBRARIES",
            "auto_explain,pg_stat_monitor",
        )],
        &[],
        "",
        &image,
    );
    let refused = check(&plan).expect_err("pg_stat_monitor is not in the recorded directory");
    assert_eq!(refused.missing[0].0, "pg_stat_monitor");
}
