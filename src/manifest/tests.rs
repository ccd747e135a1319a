//! Manifest tests: the real catalog's derived figures, and one broken manifest per validation rule.

use serde_json::{json, Value};

use super::*;

/// A small valid manifest: a contrib module, a packaged extension, a source-built one depending on it,
/// a tool and a disabled entry.
pub(crate) fn tiny() -> Value {
    json!({
        "postgres": {"version": "18.4", "base_image": format!("postgres:18.4-trixie@sha256:{}", "a".repeat(64))},
        "extensions": [
            {"name": "auto_explain", "kind": "builtin", "category": "observability", "description": "Logs slow plans.",
             "enabled": true, "source": {"type": "builtin"}, "install": {"method": "builtin"},
             "runtime": {"shared_preload": true, "default_preload": true, "default_enable": false, "preload_only": true},
             "docs_url": "https://example.invalid/auto_explain"},
            {"name": "pg_trgm", "kind": "builtin", "category": "search", "description": "Trigrams.",
             "enabled": true, "source": {"type": "builtin"}, "install": {"method": "builtin"},
             "runtime": {"shared_preload": false, "default_preload": false, "default_enable": true, "preload_only": false},
             "docs_url": "https://example.invalid/pg_trgm"},
            {"name": "vector", "kind": "extension", "category": "ai", "description": "Vectors.",
             "enabled": true, "source": {"type": "git", "repository": "https://example.invalid/pgvector.git", "tag": "v0.8.2", "commit": "c".repeat(40)},
             "install": {"method": "pgdg", "package": "postgresql-18-pgvector", "version": "0.8.2-1.pgdg13+1"},
             "runtime": {"shared_preload": false, "default_preload": false, "default_enable": true, "preload_only": false},
             "docs_url": "https://example.invalid/vector"},
            {"name": "vectorscale", "kind": "extension", "category": "ai", "description": "Disk ANN.",
             "enabled": true, "source": {"type": "git", "repository": "https://example.invalid/vs.git", "commit": "d".repeat(40)},
             "install": {"method": "source"}, "build": {"type": "cargo-pgrx", "features": ["pg18"], "no_default_features": true},
             "build_packages": ["clang"],
             "runtime": {"shared_preload": false, "default_preload": false, "default_enable": true, "preload_only": false},
             "dependencies": ["vector"], "docs_url": "https://example.invalid/vectorscale"},
            {"name": "pg_safeupdate", "kind": "tool", "category": "safety", "description": "Refuses unqualified UPDATE; with a 'quote'.",
             "enabled": true, "source": {"type": "git", "repository": "https://example.invalid/su.git", "tag": "1.5", "commit": "e".repeat(40)},
             "install": {"method": "source"}, "build": {"type": "pgxs"},
             "runtime": {"shared_preload": true, "default_preload": false, "default_enable": false, "preload_only": false, "preload_library": "safeupdate"},
             "docs_url": "https://example.invalid/su"},
            {"name": "postgis", "kind": "extension", "category": "gis", "description": "GIS.",
             "enabled": false, "disabled_reason": "Too big.",
             "source": {"type": "git", "repository": "https://example.invalid/postgis.git", "tag": "3.6.3", "commit": "f".repeat(40)},
             "install": {"method": "pgdg", "package": "postgresql-18-postgis-3", "version": "3.6.3+dfsg-1.pgdg13+1"},
             "runtime": {"shared_preload": false, "default_preload": false, "default_enable": false, "preload_only": false},
             "docs_url": "https://example.invalid/postgis"}
        ]
    })
}

pub(crate) fn tiny_manifest() -> Manifest {
    load_str(&tiny().to_string(), "tiny.json").expect("the tiny manifest is valid")
}

fn entry<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["extensions"]
        .as_array_mut()
        .expect("extensions array")
        .iter_mut()
        .find(|e| e["name"] == name)
        .expect("entry in the tiny manifest")
}

/// Loads `doc` and returns the single error it must produce.
fn only_error(doc: Value) -> ManifestError {
    let errors =
        load_str(&doc.to_string(), "broken.json").expect_err("the manifest must be rejected");
    assert_eq!(
        errors.0.len(),
        1,
        "expected exactly one error, got:\n{errors}"
    );
    errors.0.into_iter().next().expect("one error")
}

fn assert_names(error: &ManifestError, entry: Option<&str>, field: &str, words: &str) {
    let text = error.to_string();
    assert!(text.starts_with("broken.json"), "{text}");
    assert_eq!(error.entry.as_deref(), entry, "{text}");
    assert_eq!(error.field.as_deref(), Some(field), "{text}");
    assert!(text.contains(words), "'{words}' not in: {text}");
}

fn real() -> Manifest {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST_PATH);
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_real_manifest_is_valid_and_its_counts_are_derived() {
    let manifest = real();
    let counts = manifest.counts();
    assert_eq!(counts.total, 40);
    assert_eq!(counts.enabled + counts.disabled, 40);
    let kinds = |kind| {
        manifest
            .extensions
            .iter()
            .filter(|e| e.kind == kind)
            .count()
    };
    assert_eq!(
        (
            kinds(Kind::Extension),
            kinds(Kind::Tool),
            kinds(Kind::Builtin)
        ),
        (29, 5, 6)
    );
    assert_eq!(counts.preloaded, 5);
    assert_eq!(counts.auto_created, manifest.creation_order().len());
}

#[test]
fn the_default_preload_set_is_exactly_the_five_agreed_libraries() {
    assert_eq!(
        real().default_preload_libraries(),
        [
            "auto_explain",
            "pg_cron",
            "pg_stat_monitor",
            "pg_stat_statements",
            "pgaudit"
        ]
    );
}

#[test]
fn optional_preloads_use_their_library_names() {
    assert_eq!(
        real().optional_preload_libraries(),
        [
            "pg_net",
            "pg_partman_bgw",
            "pgsodium",
            "safeupdate",
            "set_user",
            "supautils",
            "timescaledb"
        ]
    );
}

#[test]
fn the_entrypoint_default_preload_list_is_the_manifest_one() {
    let generated: Vec<String> = crate::config::DEFAULT_SHARED_PRELOAD_LIBRARIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(generated, real().default_preload_libraries());
}

#[test]
fn creation_order_puts_dependencies_first_and_is_otherwise_by_name() {
    let order: Vec<String> = tiny_manifest()
        .creation_order()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(order, ["pg_trgm", "vector", "vectorscale"]);
    let real = real();
    let order: Vec<&str> = real
        .creation_order()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let position = |name| order.iter().position(|n| *n == name).expect(name);
    assert!(position("vector") < position("vectorscale"));
}

#[test]
fn tiny_counts() {
    let counts = tiny_manifest().counts();
    assert_eq!(
        counts,
        Counts {
            total: 6,
            enabled: 5,
            disabled: 1,
            preloaded: 1,
            optional_preloads: 1,
            tools: 1,
            modules: 1,
            auto_created: 3,
            available: 3,
        }
    );
}

#[test]
fn unknown_field_names_the_file_entry_and_field() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["default_preloads"] = json!(true);
    let error = only_error(doc);
    assert_names(&error, Some("vector"), "default_preloads", "unknown field");
}

#[test]
fn unknown_nested_field_names_the_entry_and_field() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["runtime"]["preload"] = json!(true);
    let error = only_error(doc);
    assert_names(&error, Some("vector"), "preload", "unknown field");
}

#[test]
fn unknown_top_level_field_is_rejected() {
    let mut doc = tiny();
    doc["generated_at"] = json!("today");
    let error = only_error(doc);
    assert_names(&error, None, "generated_at", "unknown field");
}

#[test]
fn missing_dependency_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vectorscale")["dependencies"] = json!(["pgvector"]);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vectorscale"),
        "dependencies",
        "'pgvector', which is not in the manifest",
    );
}

#[test]
fn disabled_dependency_of_an_enabled_entry_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vectorscale")["runtime"]["default_enable"] = json!(false);
    entry(&mut doc, "vectorscale")["dependencies"] = json!(["postgis"]);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vectorscale"),
        "dependencies",
        "'postgis', which is disabled",
    );
}

#[test]
fn auto_created_entry_needs_auto_created_dependencies() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["runtime"]["default_enable"] = json!(false);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vectorscale"),
        "dependencies",
        "not created at init",
    );
}

#[test]
fn dependency_cycle_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["dependencies"] = json!(["vectorscale"]);
    let errors = load_str(&doc.to_string(), "broken.json").expect_err("cycle");
    let text = errors.to_string();
    assert!(
        text.contains("cycle: vector -> vectorscale -> vector"),
        "{text}"
    );
}

#[test]
fn short_commit_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["source"]["commit"] = json!("cab9da72");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vector"),
        "source.commit",
        "not a 40-character hex commit id",
    );
}

#[test]
fn duplicate_name_is_rejected() {
    let mut doc = tiny();
    let copy = entry(&mut doc, "pg_trgm").clone();
    doc["extensions"].as_array_mut().expect("array").push(copy);
    let error = only_error(doc);
    assert_names(&error, Some("pg_trgm"), "name", "more than once");
}

#[test]
fn disabled_default_preload_is_rejected() {
    let mut doc = tiny();
    let e = entry(&mut doc, "auto_explain");
    e["enabled"] = json!(false);
    e["disabled_reason"] = json!("testing");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("auto_explain"),
        "runtime.default_preload",
        "disabled entry",
    );
}

#[test]
fn default_preload_without_shared_preload_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "pg_trgm")["runtime"]["default_preload"] = json!(true);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("pg_trgm"),
        "runtime.default_preload",
        "shared_preload is false",
    );
}

#[test]
fn created_at_init_but_not_preloaded_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["runtime"]["shared_preload"] = json!(true);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vector"),
        "runtime.default_enable",
        "not preloaded by default",
    );
}

#[test]
fn invalid_preload_library_name_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "pg_safeupdate")["runtime"]["preload_library"] = json!("safe,update");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("pg_safeupdate"),
        "runtime.preload_library",
        "not a library name",
    );
}

#[test]
fn shared_preload_library_claimed_twice_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "pg_safeupdate")["runtime"]["preload_library"] = json!("auto_explain");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("pg_safeupdate"),
        "runtime.preload_library",
        "also the preload library of 'auto_explain'",
    );
}

#[test]
fn tool_created_at_init_is_rejected() {
    let mut doc = tiny();
    let e = entry(&mut doc, "pg_safeupdate");
    e["runtime"]["default_enable"] = json!(true);
    e["runtime"]["default_preload"] = json!(true);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("pg_safeupdate"),
        "runtime.default_enable",
        "on a tool",
    );
}

#[test]
fn module_created_at_init_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "auto_explain")["runtime"]["default_enable"] = json!(true);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("auto_explain"),
        "runtime.default_enable",
        "preload-only module",
    );
}

#[test]
fn disabled_without_reason_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "postgis")
        .as_object_mut()
        .expect("object")
        .remove("disabled_reason");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("postgis"),
        "disabled_reason",
        "missing for a disabled entry",
    );
}

#[test]
fn unpinned_package_without_reason_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["install"]
        .as_object_mut()
        .expect("object")
        .remove("version");
    let error = only_error(doc);
    assert_names(&error, Some("vector"), "install.version", "not pinned");
}

#[test]
fn source_install_without_build_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vectorscale")
        .as_object_mut()
        .expect("object")
        .remove("build");
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vectorscale"),
        "build",
        "missing for a source install",
    );
}

#[test]
fn builtin_kind_with_package_install_is_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "pg_trgm")["install"] =
        json!({"method": "pgdg", "package": "x", "version": "1"});
    let error = only_error(doc);
    assert_names(&error, Some("pg_trgm"), "install.method", "kind is builtin");
}

#[test]
fn base_image_without_digest_is_rejected() {
    let mut doc = tiny();
    doc["postgres"]["base_image"] = json!("postgres:18.4-trixie");
    let error = only_error(doc);
    assert_names(&error, None, "postgres.base_image", "not pinned by digest");
}

#[test]
fn base_image_of_another_release_is_rejected() {
    let mut doc = tiny();
    doc["postgres"]["version"] = json!("18.5");
    let error = only_error(doc);
    assert_names(
        &error,
        None,
        "postgres.base_image",
        "is not PostgreSQL 18.5",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["source"]["commit"] = json!("short");
    entry(&mut doc, "pg_trgm")["runtime"]["default_preload"] = json!(true);
    let errors = load_str(&doc.to_string(), "broken.json").expect_err("two problems");
    assert_eq!(errors.0.len(), 2, "{errors}");
}

#[test]
fn runtime_packages_on_a_package_install_are_rejected() {
    let mut doc = tiny();
    entry(&mut doc, "vector")["runtime_packages"] = json!(["libfoo1"]);
    let error = only_error(doc);
    assert_names(
        &error,
        Some("vector"),
        "runtime_packages",
        "install method is pgdg",
    );
}
