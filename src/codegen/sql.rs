//! `docker/initdb/01-extensions.sql`: creates the default extensions at first initialisation and
//! records what happened in `public.pg_aza_status`.
//!
//! Each auto-created extension is attempted in dependency order, only when the server can create
//! it: listed in `pg_available_extensions`, its library preloaded, in the database its
//! `database_setting` names, dependencies created. An extension the image catalog says this image
//! does not have is *not in image*, with the catalog's reason; otherwise one the server cannot
//! create is *missing* with the reason; an error from `CREATE EXTENSION` itself is *failed*.
//! Initialisation is not aborted: the status row says what is missing or broken, and the
//! healthcheck reads it.

use crate::image_catalog;
use crate::manifest::{Extension, Manifest};

use super::generated_notice;

/// A fingerprint of the expected list: changes whenever the set or order changes. The script
/// records `<the server's version>-<fingerprint>`, the version read from the server it runs on
/// (`server_version`), not the manifest's, which names the release the catalog was written for.
pub fn script_version(manifest: &Manifest) -> String {
    let names: Vec<&str> = manifest
        .creation_order()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    format!("{:08x}", fnv1a32(names.join(",").as_bytes()))
}

/// FNV-1a (32 bit): a stable content fingerprint, not a security measure.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

/// A SQL string literal. Manifest names are validated identifiers; quoting keeps that from mattering.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn optional_literal(text: Option<&str>) -> String {
    text.map_or_else(|| "NULL".to_string(), literal)
}

fn array_literal(items: &[String]) -> String {
    if items.is_empty() {
        "ARRAY[]::text[]".to_string()
    } else {
        let quoted: Vec<String> = items.iter().map(|item| literal(item)).collect();
        format!("ARRAY[{}]", quoted.join(", "))
    }
}

fn row(position: usize, extension: &Extension) -> String {
    let library = extension
        .runtime
        .shared_preload
        .then(|| extension.preload_library());
    format!(
        "({position}, {}, {}, {}, {})",
        literal(&extension.name),
        optional_literal(library),
        array_literal(&extension.dependencies),
        optional_literal(extension.runtime.database_setting.as_deref()),
    )
}

pub fn render_initdb_sql(manifest: &Manifest) -> String {
    let order = manifest.creation_order();
    let names: Vec<String> = order.iter().map(|e| e.name.clone()).collect();
    let rows: Vec<String> = order
        .iter()
        .enumerate()
        .map(|(index, extension)| format!("            {}", row(index + 1, extension)))
        .collect();
    let rows = if rows.is_empty() {
        // An empty VALUES list is not SQL; a row that never matches keeps the loop valid.
        "            (0, NULL::text, NULL::text, ARRAY[]::text[], NULL::text)".to_string()
    } else {
        rows.join(",\n")
    };
    TEMPLATE
        .replace("{{NOTICE}}", &generated_notice())
        .replace(
            "{{SCRIPT_VERSION}}",
            &format!(
                "current_setting('server_version') || {}",
                literal(&format!("-{}", script_version(manifest)))
            ),
        )
        .replace("{{EXPECTED}}", &array_literal(&names))
        .replace("{{CATALOG_PATH}}", &literal(image_catalog::DEFAULT_PATH))
        .replace("{{ROWS}}", &rows)
}

const TEMPLATE: &str = r#"-- {{NOTICE}}
--
-- Creates aza-pg's default extensions at first initialisation, in dependency order, and records the
-- outcome in public.pg_aza_status (one row per run):
--   created_extensions  CREATE EXTENSION succeeded (or the extension already existed);
--   missing_extensions  not attempted because this server cannot create it: not installed
--                       (pg_available_extensions does not list it), its library is not in
--                       shared_preload_libraries, it belongs in another database (pg_cron:
--                       cron.database_name), or a dependency was not created;
--   failed_extensions   CREATE EXTENSION raised an error;
--   not_in_image_extensions
--                       not attempted because the image does not have it: the image catalog
--                       (written at build time by aza-image-catalog --write) lists it as
--                       absent or disabled;
--   details             one "name: reason" line per extension not created;
--   image_catalog       the catalog file read, or NULL when there is none (not a built image).
-- status is 'completed' when everything expected that the image has was created, 'partial' when some
-- are missing but none failed, 'failed' when any failed ('in_progress' only while this script runs).
-- Initialisation is not aborted on a missing or failed extension: a WARNING lists them in the log,
-- and the healthcheck reads this table. The catalog is /usr/share/aza-pg/image-catalog.json unless
-- the setting aza.image_catalog names another file (e.g. -c aza.image_catalog=/path for a test).

CREATE TABLE IF NOT EXISTS public.pg_aza_status (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    script_version      text        NOT NULL,
    expected_extensions text[]      NOT NULL,
    created_extensions  text[]      NOT NULL DEFAULT '{}',
    missing_extensions  text[]      NOT NULL DEFAULT '{}',
    failed_extensions   text[]      NOT NULL DEFAULT '{}',
    details             text[]      NOT NULL DEFAULT '{}',
    status              text        NOT NULL
        CHECK (status IN ('in_progress', 'completed', 'failed', 'partial')),
    started_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at         timestamptz,
    not_in_image_extensions text[]  NOT NULL DEFAULT '{}',
    image_catalog       text
);
-- A table made by an earlier version of this script gets the newer columns.
ALTER TABLE public.pg_aza_status
    ADD COLUMN IF NOT EXISTS not_in_image_extensions text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS image_catalog text;
COMMENT ON TABLE public.pg_aza_status IS
    'aza-pg: default extensions expected, created, missing, failed and not in the image at first initialisation';

DO $aza$
DECLARE
    expected  constant text[] := {{EXPECTED}};
    status_id bigint;
    item      record;
    reason    text;
    created_list text[] := '{}';
    missing_list text[] := '{}';
    failed_list  text[] := '{}';
    not_in_image_list text[] := '{}';
    detail_lines text[] := '{}';
    catalog_path constant text :=
        coalesce(nullif(current_setting('aza.image_catalog', true), ''), {{CATALOG_PATH}});
    catalog      jsonb;
    image_status text;
    image_reason text;
    -- shared_preload_libraries as loaded, without blanks or a $libdir/ prefix.
    preloaded constant text[] := ARRAY(
        SELECT regexp_replace(btrim(library), '^\$libdir/', '')
        FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ',')) AS library);
BEGIN
    INSERT INTO public.pg_aza_status (script_version, expected_extensions, status)
    VALUES ({{SCRIPT_VERSION}}, expected, 'in_progress')
    RETURNING id INTO status_id;

    -- What the image has; no file means this is not a built image, and the server is asked instead.
    -- (A field, not the row: a row IS NOT NULL only when every field is, and creation is NULL on Linux.)
    IF (pg_stat_file(catalog_path, true)).size IS NOT NULL THEN
        catalog := pg_read_file(catalog_path)::jsonb;
        UPDATE public.pg_aza_status SET image_catalog = catalog_path WHERE id = status_id;
    END IF;

    FOR item IN
        SELECT * FROM (VALUES
{{ROWS}}
        ) AS wanted(ordinal, name, preload_library, dependencies, database_setting)
        WHERE name IS NOT NULL
        ORDER BY ordinal
    LOOP
        SELECT entry->>'status', entry->>'reason' INTO image_status, image_reason
        FROM jsonb_array_elements(coalesce(catalog->'entries', '[]'::jsonb)) AS entry
        WHERE entry->>'name' = item.name;
        IF image_status IN ('absent', 'disabled') THEN
            not_in_image_list := not_in_image_list || item.name;
            detail_lines := detail_lines
                || format('%s: not in this image (%s)', item.name, coalesce(image_reason, 'no reason recorded'));
            CONTINUE;
        END IF;
        reason := CASE
            WHEN NOT EXISTS (SELECT 1 FROM pg_available_extensions AS a WHERE a.name = item.name)
                THEN 'not installed in this server (pg_available_extensions does not list it)'
            WHEN item.preload_library IS NOT NULL AND NOT item.preload_library = ANY (preloaded)
                THEN format('its library %s is not in shared_preload_libraries', item.preload_library)
            WHEN item.database_setting IS NOT NULL
                 AND current_setting(item.database_setting, true) IS DISTINCT FROM current_database()
                THEN format('it can only be created in the database %s names (%s), not in %s',
                            item.database_setting,
                            coalesce(current_setting(item.database_setting, true), 'unset'),
                            current_database())
            WHEN NOT item.dependencies <@ created_list
                THEN format('needs %s, which were not created',
                            array_to_string(ARRAY(SELECT unnest(item.dependencies)
                                                  EXCEPT SELECT unnest(created_list)), ', '))
        END;
        IF reason IS NOT NULL THEN
            missing_list := missing_list || item.name;
            detail_lines := detail_lines || format('%s: %s', item.name, reason);
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I', item.name);
            created_list := created_list || item.name;
        EXCEPTION WHEN OTHERS THEN
            failed_list := failed_list || item.name;
            detail_lines := detail_lines || format('%s: CREATE EXTENSION failed: %s', item.name, SQLERRM);
        END;
    END LOOP;

    UPDATE public.pg_aza_status
    SET created_extensions = created_list,
        missing_extensions = missing_list,
        failed_extensions  = failed_list,
        not_in_image_extensions = not_in_image_list,
        details            = detail_lines,
        status             = CASE
                                 WHEN cardinality(failed_list) > 0 THEN 'failed'
                                 WHEN cardinality(missing_list) > 0 THEN 'partial'
                                 ELSE 'completed'
                             END,
        finished_at        = clock_timestamp()
    WHERE id = status_id;

    IF cardinality(missing_list) + cardinality(failed_list) > 0 THEN
        RAISE WARNING 'aza-pg default extensions: % of % created; %',
            cardinality(created_list), cardinality(expected), array_to_string(detail_lines, '; ');
    ELSIF cardinality(not_in_image_list) > 0 THEN
        RAISE NOTICE 'aza-pg default extensions: % of % created, every one this image has; %',
            cardinality(created_list), cardinality(expected), array_to_string(detail_lines, '; ');
    END IF;
END
$aza$;
"#;
