//! The generated docker/initdb/01-extensions.sql against a real PostgreSQL 18 (contrib only), run by
//! the entrypoint as an init script: what the server has is created, the rest is recorded as missing
//! with a reason (or, with an image catalog, as not in the image with the catalog's reason), and a
//! CREATE EXTENSION error is recorded as failed without aborting init.

mod support;

use std::path::Path;

use aza_pg::manifest;
use support::server::Instance;

/// The extensions of the default set that the contrib-only test server can create.
const IN_CONTRIB: &[&str] = &["pg_stat_statements", "pg_trgm", "plpgsql"];

fn generated_sql() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join("docker/initdb/01-extensions.sql")).expect("generated initdb SQL")
}

fn expected_order() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest::load_file(&root.join(manifest::MANIFEST_PATH)).expect("manifest");
    manifest
        .creation_order()
        .iter()
        .map(|e| e.name.clone())
        .collect()
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `(status, expected, created, missing, failed, details)` of the only status row.
fn status_row(
    instance: &Instance,
) -> (
    String,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    String,
) {
    let rows = instance
        .psql(
            "SELECT status, array_to_string(expected_extensions, ','), \
             array_to_string(created_extensions, ','), array_to_string(missing_extensions, ','), \
             array_to_string(failed_extensions, ','), array_to_string(details, E'\\n'), \
             finished_at IS NOT NULL AND finished_at >= started_at, \
             script_version LIKE current_setting('server_version') || '-%' \
             FROM public.pg_aza_status",
        )
        .expect("pg_aza_status exists");
    let fields: Vec<&str> = rows.split('|').collect();
    assert_eq!(
        fields.len(),
        8,
        "exactly one status row expected, got:\n{rows}"
    );
    assert_eq!(fields[6], "t", "finished_at is set:\n{rows}");
    assert_eq!(
        fields[7], "t",
        "script_version names the server's version:\n{rows}"
    );
    (
        fields[0].to_string(),
        list(fields[1]),
        list(fields[2]),
        list(fields[3]),
        list(fields[4]),
        fields[5].to_string(),
    )
}

fn installed_extensions(instance: &Instance) -> Vec<String> {
    list(
        &instance
            .psql("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension")
            .expect("pg_extension"),
    )
}

#[test]
fn contrib_extensions_are_created_and_the_rest_recorded_as_missing() {
    let mut instance = Instance::new();
    instance.script("01-extensions.sql", &generated_sql(), 0o644);
    instance.start();
    instance.wait_ready();

    let expected = expected_order();
    let (status, recorded_expected, created, missing, failed, details) = status_row(&instance);
    assert_eq!(recorded_expected, expected);
    assert_eq!(created, IN_CONTRIB, "details:\n{details}");
    let not_in_contrib: Vec<String> = expected
        .iter()
        .filter(|name| !IN_CONTRIB.contains(&name.as_str()))
        .cloned()
        .collect();
    assert_eq!(missing, not_in_contrib, "details:\n{details}");
    assert!(failed.is_empty(), "details:\n{details}");
    assert_eq!(status, "partial");
    assert!(
        details.contains(
            "pg_cron: not installed in this server (pg_available_extensions does not list it)"
        ),
        "{details}"
    );
    assert_eq!(installed_extensions(&instance), IN_CONTRIB);
    assert!(
        instance
            .log_text()
            .contains("aza-pg default extensions: 3 of"),
        "the WARNING names what is missing:\n{}",
        instance.log_tail()
    );
    instance.stop();
}

#[test]
fn a_failing_create_is_recorded_as_failed_and_an_unloaded_library_as_missing() {
    let mut instance = Instance::new();
    // pg_stat_statements is installed but not preloaded; a clashing function makes pg_trgm fail.
    instance.set_env("POSTGRES_SHARED_PRELOAD_LIBRARIES", "auto_explain");
    instance.script(
        "00-clash.sql",
        b"CREATE FUNCTION public.similarity(text, text) RETURNS real LANGUAGE sql AS 'SELECT 0::real';\n",
        0o644,
    );
    instance.script("01-extensions.sql", &generated_sql(), 0o644);
    instance.start();
    instance.wait_ready();

    let (status, _, created, missing, failed, details) = status_row(&instance);
    assert_eq!(status, "failed", "details:\n{details}");
    assert_eq!(created, ["plpgsql"], "details:\n{details}");
    assert_eq!(failed, ["pg_trgm"], "details:\n{details}");
    assert!(
        missing.contains(&"pg_stat_statements".to_string()),
        "{details}"
    );
    assert!(
        details.contains(
            "pg_stat_statements: its library pg_stat_statements is not in shared_preload_libraries"
        ),
        "{details}"
    );
    assert!(
        details
            .contains("pg_trgm: CREATE EXTENSION failed: function \"similarity\" already exists"),
        "{details}"
    );
    assert_eq!(installed_extensions(&instance), ["plpgsql"]);
    instance.stop();
}

#[test]
fn what_the_image_catalog_says_the_image_lacks_is_recorded_with_its_reason() {
    let mut instance = Instance::new();
    let expected = expected_order();
    // An image with PostgreSQL's contrib only, as its catalog says; one entry disabled, for both
    // statuses. No preload list is given: the catalog's default is used, as in a built image.
    let entries: Vec<serde_json::Value> = expected
        .iter()
        .map(|name| match name.as_str() {
            name if IN_CONTRIB.contains(&name) => serde_json::json!({"name": name, "status": "installed"}),
            "pgmq" => serde_json::json!({"name": "pgmq", "status": "disabled", "reason": "left out on purpose"}),
            name => serde_json::json!({"name": name, "status": "absent", "reason": format!("no package of {name}")}),
        })
        .collect();
    let catalog = serde_json::json!({
        "format": 1,
        "package_source": "none",
        "entries": entries,
        "default_preload": ["auto_explain", "pg_stat_statements"],
        "preloadable": ["auto_explain", "pg_stat_statements"],
        "logical_output_plugins": [],
    });
    let path = instance.scratch.join("image-catalog.json");
    std::fs::write(&path, serde_json::to_string_pretty(&catalog).unwrap()).unwrap();
    let path = path.to_str().unwrap().to_string();
    instance
        .remove_env("POSTGRES_SHARED_PRELOAD_LIBRARIES")
        .set_env("AZA_IMAGE_CATALOG", &path);
    instance
        .args
        .extend(["-c".to_string(), format!("aza.image_catalog={path}")]);
    instance.script("01-extensions.sql", &generated_sql(), 0o644);
    instance.start();
    instance.wait_ready();

    let row = instance
        .psql(
            "SELECT status, array_to_string(created_extensions, ','), \
             array_to_string(missing_extensions, ','), array_to_string(failed_extensions, ','), \
             array_to_string(not_in_image_extensions, ','), image_catalog, \
             array_to_string(details, E'\\n') FROM public.pg_aza_status",
        )
        .expect("pg_aza_status exists");
    let fields: Vec<&str> = row.splitn(7, '|').collect();
    assert_eq!(fields.len(), 7, "one status row expected:\n{row}");
    let (status, created, missing, failed, not_in_image, catalog_read, details) = (
        fields[0],
        list(fields[1]),
        list(fields[2]),
        list(fields[3]),
        list(fields[4]),
        fields[5],
        fields[6],
    );
    assert_eq!(
        status, "completed",
        "every extension this image has was created:\n{details}"
    );
    assert_eq!(created, IN_CONTRIB, "{details}");
    assert!(missing.is_empty() && failed.is_empty(), "{details}");
    let lacking: Vec<String> = expected
        .iter()
        .filter(|name| !IN_CONTRIB.contains(&name.as_str()))
        .cloned()
        .collect();
    assert_eq!(not_in_image, lacking, "{details}");
    assert_eq!(catalog_read, path);
    assert!(
        details.contains("pg_cron: not in this image (no package of pg_cron)"),
        "{details}"
    );
    assert!(
        details.contains("pgmq: not in this image (left out on purpose)"),
        "{details}"
    );
    assert_eq!(
        instance.psql("SHOW shared_preload_libraries").unwrap(),
        "auto_explain,pg_stat_statements",
        "the catalog's default preload list is in force"
    );
    assert!(
        instance
            .log_text()
            .contains("created, every one this image has"),
        "a NOTICE, not a WARNING:\n{}",
        instance.log_tail()
    );
    instance.stop();
}
