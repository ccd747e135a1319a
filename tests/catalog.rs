//! The extension catalog, exercised in the image users get: for every enabled entry of
//! `manifest/extensions.json` that the image's own record (`/usr/share/aza-pg/image-catalog.json`)
//! says is installed, create it and check one real result; an entry the image does not have prints a
//! loud SKIPPED line with the reason the build recorded. Driven by the manifest, not by a list here: an
//! installed entry without a check fails the suite.
//!
//! One server, started like a user would (the image's default preload list plus TimescaleDB and
//! set_user, which users add), runs every check; the failures are collected and reported together.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aza_pg::manifest::{self, Extension, Kind};
use serde_json::Value;
use support::docker::{docker, engine_or_skip, image, loud, Container};
use support::{describe, text, timeout};

/// What the image recorded about each entry: `installed`, `absent` or `disabled`, and why.
struct ImageEntry {
    status: String,
    reason: String,
}

fn image_catalog() -> (BTreeMap<String, ImageEntry>, Vec<String>) {
    let output = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        &image().reference,
        "/usr/share/aza-pg/image-catalog.json",
    ]);
    assert!(output.status.success(), "{}", describe(&output));
    let catalog = support::json(&output);
    let entries = catalog["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("image-catalog.json has no entries: {catalog}"))
        .iter()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_string();
            (
                field("name"),
                ImageEntry {
                    status: field("status"),
                    reason: field("reason"),
                },
            )
        })
        .collect();
    let default_preload = strings(&catalog["default_preload"]);
    (entries, default_preload)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The server every check talks to, and what a check may need of it.
struct Server {
    container: Container,
}

impl Server {
    fn sql(&self, statement: &str) -> Result<String, String> {
        self.container.psql(statement)
    }

    /// Statements in one session, each in its own transaction; the output of the last one.
    fn steps(&self, statements: &[&str]) -> Result<String, String> {
        self.container.psql_steps(statements)
    }

    /// `docker exec` of a program in the container (as the image's user when `as_postgres`).
    fn exec(&self, as_postgres: bool, program: &[&str]) -> Result<String, String> {
        let mut args = vec!["exec"];
        if as_postgres {
            args.extend(["-u", "postgres"]);
        }
        args.push(&self.container.name);
        args.extend_from_slice(program);
        let output = docker(&args);
        if output.status.success() {
            Ok(format!("{}{}", text(&output.stdout), text(&output.stderr)))
        } else {
            Err(describe(&output))
        }
    }

    /// Polls until `probe` succeeds; its last error past the limit.
    fn eventually(
        &self,
        limit: Duration,
        mut probe: impl FnMut() -> Result<String, String>,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout(limit);
        loop {
            match probe() {
                Ok(found) => return Ok(found),
                Err(last) if Instant::now() > deadline => {
                    return Err(format!("not within {limit:?}: {last}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    fn log_contains(&self, needles: &[&str]) -> Result<String, String> {
        self.eventually(Duration::from_secs(10), || {
            let log = self.container.logs();
            match needles.iter().find(|needle| !log.contains(**needle)) {
                None => Ok(format!("log has {needles:?}")),
                Some(missing) => Err(format!("the server log has no {missing:?}")),
            }
        })
    }
}

fn expect(what: &str, found: String, ok: impl Fn(&str) -> bool) -> Result<String, String> {
    if ok(&found) {
        Ok(format!("{what}: {}", found.replace('\n', " | ")))
    } else {
        Err(format!("{what}: got {found:?}"))
    }
}

/// The last line: psql prints every statement's result, and a check wants the final one.
fn last(text: &str) -> &str {
    text.lines().last().unwrap_or_default().trim()
}

fn number(text: &str) -> f64 {
    last(text).parse().unwrap_or(f64::NAN)
}

/// One real result per catalog entry; `None` for an entry this suite has no check for.
fn check(name: &str, server: &Server) -> Option<Result<String, String>> {
    let s = |sql: &str| server.sql(sql);
    let result = match name {
        "auto_explain" => s("SELECT count(*) /* aza auto_explain probe */ FROM pg_class").and_then(
            |_| server.log_contains(&["plan:", "Query Text: SELECT count(*) /* aza auto_explain probe */"]),
        ),
        "btree_gin" => s("CREATE EXTENSION IF NOT EXISTS btree_gin; \
             CREATE TABLE t_gin AS SELECT g AS a FROM generate_series(1, 5000) g; \
             CREATE INDEX t_gin_a ON t_gin USING gin (a); ANALYZE t_gin; SET enable_seqscan = off; \
             EXPLAIN SELECT * FROM t_gin WHERE a = 42")
        .and_then(|plan| expect("GIN index on an integer", plan, |p| p.contains("t_gin_a"))),
        "btree_gist" => s("CREATE EXTENSION IF NOT EXISTS btree_gist; \
             CREATE TABLE t_gist (room int, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&)); \
             INSERT INTO t_gist VALUES (1, '[2026-01-01 10:00, 2026-01-01 11:00)')")
        .and_then(|_| {
            match s("INSERT INTO t_gist VALUES (1, '[2026-01-01 10:30, 2026-01-01 12:00)')") {
                Err(error) if error.contains("conflicting key value violates exclusion constraint") => {
                    Ok("an overlapping booking is refused by the exclusion constraint".to_string())
                }
                other => Err(format!("overlapping booking: {other:?}")),
            }
        }),
        "hll" => s("CREATE EXTENSION IF NOT EXISTS hll; \
             SELECT hll_cardinality(hll_add_agg(hll_hash_integer(g))) FROM generate_series(1, 10000) g")
        .and_then(|n| expect("estimate of 10000 distinct", n, |n| (number(n) - 10000.0).abs() < 300.0)),
        "http" => check_http(server),
        // auto_explain with log_min_duration=0 (as this suite runs it) explains the EXPLAIN itself and
        // fails on the hypothetical index ("cache lookup failed for index"): off for this session.
        "hypopg" => server
            .steps(&[
                "CREATE EXTENSION IF NOT EXISTS hypopg",
                "CREATE TABLE t_hypo AS SELECT g AS id FROM generate_series(1, 100000) g",
                "ANALYZE t_hypo",
                "SET auto_explain.log_min_duration = -1",
                "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON t_hypo (id)')",
                "EXPLAIN SELECT * FROM t_hypo WHERE id = 5",
            ])
            .and_then(|plan| {
                expect("hypothetical index in EXPLAIN", plan, |p| {
                    p.contains("Index Only Scan using \"<") && p.contains(">btree_t_hypo_id\"")
                })
            }),
        "pg_cron" => check_cron(server),
        "pg_partman" => s("CREATE SCHEMA IF NOT EXISTS partman; \
             CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman; \
             CREATE TABLE public.t_part (id bigint, created timestamptz NOT NULL) PARTITION BY RANGE (created); \
             SELECT partman.create_parent('public.t_part', 'created', '1 day'); \
             SELECT partman.run_maintenance(); \
             SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.t_part'::regclass")
        .and_then(|n| expect("partitions made by create_parent + run_maintenance", n, |n| number(n) >= 2.0)),
        "pg_repack" => check_repack(server),
        // A statement of its own table: the query id ignores column aliases and constants, so
        // `SELECT 4242 AS probe` would be counted under pg_cron's `SELECT 1`.
        "pg_stat_statements" => s("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
             CREATE TABLE t_pss_probe (a int)")
            .and_then(|_| s("SELECT count(*) FROM t_pss_probe"))
            .and_then(|_| s("SELECT count(*) FROM t_pss_probe"))
            .and_then(|_| s("SELECT count(*) FROM t_pss_probe"))
            .and_then(|_| {
                s("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements \
                   WHERE query = 'SELECT count(*) FROM t_pss_probe'")
            })
            .and_then(|n| expect("calls counted", n, |n| number(n) >= 3.0)),
        "pg_trgm" => s("CREATE EXTENSION IF NOT EXISTS pg_trgm; SELECT similarity('postgresql', 'postgres')")
            .and_then(|n| expect("trigram similarity", n, |n| number(n) > 0.5)),
        "pgaudit" => s("CREATE TABLE aza_audit_probe (a int)")
            .and_then(|_| server.log_contains(&["AUDIT: SESSION,", "CREATE TABLE aza_audit_probe"])),
        "pgbackrest" => check_pgbackrest(server),
        "pgbadger" => check_pgbadger(server),
        "pgq" => s("CREATE EXTENSION IF NOT EXISTS pgq; SELECT pgq.create_queue('aza_queue')")
            .and_then(|_| s("SELECT pgq.insert_event('aza_queue', 'probe', 'payload')"))
            .and_then(|_| s("SELECT pgq.ticker('aza_queue')"))
            .and_then(|tick| expect("tick id from pgq.ticker", tick, |t| number(t) >= 1.0)),
        "pgrouting" => s("CREATE EXTENSION IF NOT EXISTS pgrouting CASCADE; \
             CREATE TABLE t_edges (id int, source int, target int, cost float8); \
             INSERT INTO t_edges VALUES (1, 1, 2, 1), (2, 2, 3, 1), (3, 1, 3, 5); \
             SELECT max(agg_cost + cost) FROM pgr_dijkstra('SELECT id, source, target, cost FROM t_edges', 1, 3)")
        .and_then(|cost| expect("shortest path 1→3 costs 2 (via 2, not the direct 5)", cost, |c| number(c) == 2.0)),
        "plpgsql" => s("CREATE FUNCTION aza_answer() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN 41 + 1; END$$; \
             SELECT aza_answer()")
        .and_then(|n| expect("a PL/pgSQL function", n, |n| n == "42")),
        "plpgsql_check" => s("CREATE EXTENSION IF NOT EXISTS plpgsql_check; CREATE TABLE t_chk (a int); \
             CREATE FUNCTION aza_broken() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN (SELECT nonexistent FROM t_chk); END$$; \
             SELECT * FROM plpgsql_check_function('aza_broken()')")
        .and_then(|report| expect("the wrong column reported", report, |r| r.contains("nonexistent"))),
        "postgis" => s("CREATE EXTENSION IF NOT EXISTS postgis; \
             SELECT round(ST_Distance('SRID=4326;POINT(0 0)'::geography, 'SRID=4326;POINT(0 1)'::geography))")
        .and_then(|m| expect("one degree of latitude in metres", m, |m| (110_000.0..111_500.0).contains(&number(m)))),
        "rum" => s("CREATE EXTENSION IF NOT EXISTS rum; CREATE TABLE t_rum (t text, v tsvector); \
             INSERT INTO t_rum SELECT t, to_tsvector('english', t) FROM (VALUES ('a cat sat on a dog'), \
               ('cat cat cat, said the cat'), ('only dogs here')) AS rows (t); \
             CREATE INDEX t_rum_v ON t_rum USING rum (v rum_tsvector_ops); SET enable_seqscan = off; \
             SELECT t FROM t_rum WHERE v @@ to_tsquery('english', 'cat') \
               ORDER BY v <=> to_tsquery('english', 'cat') LIMIT 1")
        .and_then(|top| expect("the best-ranked match first", top, |t| t == "cat cat cat, said the cat")),
        "set_user" => server
            .steps(&[
                "CREATE EXTENSION IF NOT EXISTS set_user",
                "CREATE ROLE aza_su_target NOLOGIN",
                "SELECT set_user('aza_su_target')",
                "SELECT current_user",
            ])
            .and_then(|who| expect("current_user after set_user", who, |w| last(w) == "aza_su_target")),
        "timescaledb" => s("CREATE EXTENSION IF NOT EXISTS timescaledb; \
             CREATE TABLE t_metrics (time timestamptz NOT NULL, v float8); \
             SELECT create_hypertable('t_metrics', by_range('time', INTERVAL '1 day')); \
             INSERT INTO t_metrics SELECT t, 1 FROM generate_series(timestamptz '2026-01-01', '2026-01-06', '1 hour') t; \
             SELECT (SELECT count(*) FROM show_chunks('t_metrics')) || ' ' || \
               (SELECT count(DISTINCT time_bucket('1 day', time)) FROM t_metrics)")
        .and_then(|n| expect("chunks and day buckets", n, |n| last(n) == "6 6")),
        "vector" => s("CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE t_items (id int, e vector(3)); \
             INSERT INTO t_items SELECT g, ARRAY[g, g * 2, g * 3]::vector FROM generate_series(1, 5000) g; \
             CREATE INDEX t_items_hnsw ON t_items USING hnsw (e vector_l2_ops); ANALYZE t_items; \
             EXPLAIN SELECT id FROM t_items ORDER BY e <-> '[1,2,3]' LIMIT 5")
        .and_then(|plan| expect("HNSW index used", plan, |p| p.contains("Index Scan using t_items_hnsw")))
        .and_then(|plan| {
            s("SELECT string_agg(id::text, ',') FROM (SELECT id FROM t_items ORDER BY e <-> '[1,2,3]' LIMIT 3) nearest")
                .and_then(|ids| expect("nearest neighbours", ids, |i| i == "1,2,3"))
                .map(|ids| format!("{plan}; {ids}"))
        }),
        "wal2json" => check_wal2json(server),
        _ => return None,
    };
    Some(result)
}

/// A one-request-at-a-time HTTP server on the container's loopback (Perl is in the image for
/// pgbadger), then `http_get` against it.
fn check_http(server: &Server) -> Result<String, String> {
    let script = "use IO::Socket::INET; \
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1:18080', Listen => 5, ReuseAddr => 1) or die $!; \
        while (my $c = $s->accept) { while (<$c>) { last if /^\\r?\\n$/ } \
        print $c \"HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 11\\r\\n\\r\\naza-pg-http\"; close $c }";
    let output = docker(&["exec", "-d", &server.container.name, "perl", "-e", script]);
    if !output.status.success() {
        return Err(format!("starting the HTTP server: {}", describe(&output)));
    }
    server.sql("CREATE EXTENSION IF NOT EXISTS http")?;
    server.eventually(Duration::from_secs(10), || {
        server
            .sql("SELECT status || ' ' || content FROM http_get('http://127.0.0.1:18080/')")
            .and_then(|answer| expect("GET over loopback", answer, |a| a == "200 aza-pg-http"))
    })
}

fn check_cron(server: &Server) -> Result<String, String> {
    server.sql(
        "CREATE EXTENSION IF NOT EXISTS pg_cron; \
         SELECT cron.schedule('aza-probe', '1 seconds', 'SELECT 1')",
    )?;
    let outcome = server.eventually(Duration::from_secs(30), || {
        let runs = server.sql(
            "SELECT status || ': ' || coalesce(return_message, '') FROM cron.job_run_details \
             WHERE status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1",
        )?;
        if runs.is_empty() {
            Err("no finished run yet".to_string())
        } else {
            Ok(runs)
        }
    });
    let _ = server.sql("SELECT cron.unschedule('aza-probe')");
    expect("the job's first run", outcome?, |run| {
        run.starts_with("succeeded")
    })
}

fn check_repack(server: &Server) -> Result<String, String> {
    let before = server.sql(
        "CREATE EXTENSION IF NOT EXISTS pg_repack; \
         CREATE TABLE t_repack (id int PRIMARY KEY, pad text); \
         INSERT INTO t_repack SELECT g, repeat('x', 100) FROM generate_series(1, 10000) g; \
         DELETE FROM t_repack WHERE id % 2 = 0; \
         SELECT pg_relation_filenode('t_repack')",
    )?;
    server.exec(
        true,
        &[
            "pg_repack",
            "-h",
            "/var/run/postgresql",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-t",
            "public.t_repack",
        ],
    )?;
    let after =
        server.sql("SELECT pg_relation_filenode('t_repack') || ' ' || count(*) FROM t_repack")?;
    expect("new file node after pg_repack, rows kept", after, |a| {
        a.ends_with(" 5000") && !a.starts_with(&format!("{before} "))
    })
}

fn check_pgbackrest(server: &Server) -> Result<String, String> {
    let common = [
        "--stanza=aza-probe",
        "--pg1-path=/var/lib/postgresql/18/docker",
        "--pg1-socket-path=/var/run/postgresql",
        "--repo1-path=/tmp/pgbackrest-repo",
        "--log-path=/tmp",
        "--lock-path=/tmp",
        "--log-level-console=warn",
    ];
    let version = server.exec(true, &["pgbackrest", "version"])?;
    let mut create = vec!["pgbackrest"];
    create.extend(common);
    create.push("stanza-create");
    server.exec(true, &create)?;
    let mut info = vec!["pgbackrest"];
    // `info` reads the repository only: the pg options are not valid for it.
    info.extend(common.iter().filter(|option| !option.starts_with("--pg1-")));
    info.push("info");
    let info = server.exec(true, &info)?;
    expect(
        &format!("{} stanza-create + info", version.trim()),
        info,
        |i| i.contains("stanza: aza-probe"),
    )
}

/// pgbadger on the server's own log (its stderr, which `docker logs` has), counting the queries: no
/// `--prefix`, since the image's `log_line_prefix` is the one pgbadger recognises by itself.
fn check_pgbadger(server: &Server) -> Result<String, String> {
    for _ in 0..5 {
        server.sql("SELECT 'aza pgbadger probe'")?;
    }
    let log = server.container.logs();
    let mut child = std::process::Command::new("docker")
        .args([
            "exec",
            "-i",
            &server.container.name,
            "sh",
            "-c",
            "cat > /tmp/server.log",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("docker exec: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(log.as_bytes())
            .map_err(|e| format!("writing the log: {e}"))?;
    }
    child.wait().map_err(|e| format!("docker exec: {e}"))?;
    server.exec(
        false,
        &[
            "pgbadger",
            "--quiet",
            "--format",
            "stderr",
            "--outfile",
            "/tmp/report.txt",
            "/tmp/server.log",
        ],
    )?;
    let report = server.exec(false, &["cat", "/tmp/report.txt"])?;
    let queries = report
        .lines()
        .find(|line| line.trim_start().starts_with("Number of queries:"))
        .unwrap_or_default()
        .to_string();
    expect("pgbadger's report", queries, |line| {
        line.rsplit(':')
            .next()
            .map(|n| number(&n.replace(',', "")) >= 5.0)
            .unwrap_or(false)
    })
}

fn check_wal2json(server: &Server) -> Result<String, String> {
    server.sql("CREATE TABLE t_w2j (a int)")?;
    server.sql("SELECT 'made' FROM pg_create_logical_replication_slot('aza_w2j', 'wal2json')")?;
    let changes = server.sql("INSERT INTO t_w2j VALUES (7)").and_then(|_| {
        server.sql(
            "SELECT string_agg(data, '') FROM pg_logical_slot_get_changes('aza_w2j', NULL, NULL)",
        )
    });
    let _ = server.sql("SELECT pg_drop_replication_slot('aza_w2j')");
    expect("the insert decoded as JSON", changes?, |c| {
        c.contains("\"table\":\"t_w2j\"") && c.contains("[7]")
    })
}

fn is_checked_in_catalog(extension: &Extension) -> bool {
    // Every enabled entry: extensions, tools and PostgreSQL's own modules alike.
    matches!(extension.kind, Kind::Extension | Kind::Tool | Kind::Builtin)
}

#[test]
fn every_catalog_entry_the_image_has_works_out_of_the_box() {
    if !engine_or_skip("every_catalog_entry_the_image_has_works_out_of_the_box") {
        return;
    }
    let manifest = manifest::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest::MANIFEST_PATH),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let (recorded, default_preload) = image_catalog();

    // The defaults users get, plus the two preloads users add most, as a user would add them.
    let mut preload = default_preload.clone();
    for extra in ["timescaledb", "set_user"] {
        if recorded.get(extra).is_some_and(|e| e.status == "installed") {
            preload.push(extra.to_string());
        }
    }
    let preload_env = format!("POSTGRES_SHARED_PRELOAD_LIBRARIES={}", preload.join(","));
    let container = Container::start(
        "catalog",
        &["--health-interval=1s", "-e", &preload_env],
        &[
            "-c",
            "pgaudit.log=ddl",
            "-c",
            "auto_explain.log_min_duration=0",
            "-c",
            "log_min_duration_statement=0",
        ],
    );
    container.wait_healthy(Duration::from_secs(120));
    let server = Server { container };
    let shown = server
        .sql("SHOW shared_preload_libraries")
        .unwrap_or_default();
    assert_eq!(
        shown.replace(' ', ""),
        preload.join(","),
        "the preload list in force\n{}",
        server.container.context()
    );

    let (mut tested, mut skipped, mut failures) = (0, 0, Vec::new());
    let installed = manifest
        .enabled()
        .filter(|e| is_checked_in_catalog(e))
        .collect::<Vec<_>>();
    for extension in &installed {
        let name = extension.name.as_str();
        let Some(entry) = recorded.get(name) else {
            failures.push(format!(
                "{name}: not in the image's image-catalog.json at all"
            ));
            continue;
        };
        if entry.status != "installed" {
            skipped += 1;
            loud(&format!(
                "SKIPPED catalog entry {name}: {} in this image ({})",
                entry.status, entry.reason
            ));
            continue;
        }
        match check(name, &server) {
            None => failures.push(format!(
                "{name}: installed in the image, but tests/catalog.rs has no check for it"
            )),
            Some(Ok(evidence)) => {
                tested += 1;
                loud(&format!("catalog entry {name}: ok ({evidence})"));
            }
            Some(Err(problem)) => failures.push(format!("{name}: {problem}")),
        }
    }
    let installed_count = installed.len() - skipped;
    loud(&format!(
        "catalog: {} enabled entries; installed {installed_count}, tested {tested}, skipped {skipped}, failed {}",
        installed.len(),
        failures.len()
    ));
    assert!(
        failures.is_empty(),
        "catalog entries that do not work:\n  {}\n{}",
        failures.join("\n  "),
        server.container.context()
    );
    assert!(tested > 0, "no catalog entry was tested");
}
