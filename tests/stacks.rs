//! The compose stacks (`stacks/primary`, `stacks/replica`, `stacks/single`), read the way Compose reads
//! them: `docker-compose config` normalises each stack with its `.env.example` as `.env`, and Debian's
//! python3-yaml turns that into JSON. The invariants below are checked on that parsed structure, never
//! on the text.

mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{describe, entrypoint, text};

const STACKS: [&str; 3] = ["primary", "replica", "single"];
const HEALTHCHECK: [&str; 3] = ["CMD", "/usr/local/bin/aza-entrypoint", "healthcheck"];

fn stack_dir(stack: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("stacks")
        .join(stack)
}

/// YAML text to JSON through python3-yaml (installed with docker-compose by scripts/test.sh).
fn yaml_to_json(yaml: &[u8]) -> Value {
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 (apt-get install python3-yaml; scripts/test.sh does)");
    child.stdin.take().unwrap().write_all(yaml).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The stack's compose file as written (parsed, not normalised).
fn raw(stack: &str) -> Value {
    yaml_to_json(&fs::read(stack_dir(stack).join("compose.yml")).unwrap())
}

/// `docker-compose config` of a copy of the stack whose `.env` is `.env.example` with `edits`
/// (`Some` sets a variable, `None` removes it). Host variables cannot leak in: the environment is empty.
fn normalised(stack: &str, edits: &[(&str, Option<&str>)]) -> Result<Value, String> {
    let work = tempfile::tempdir().unwrap();
    fs::copy(
        stack_dir(stack).join("compose.yml"),
        work.path().join("compose.yml"),
    )
    .unwrap();
    let example = fs::read_to_string(stack_dir(stack).join(".env.example")).unwrap();
    let mut lines: Vec<String> = example
        .lines()
        .filter(|line| {
            !edits
                .iter()
                .any(|(name, _)| line.starts_with(&format!("{name}=")))
        })
        .map(str::to_string)
        .collect();
    for (name, value) in edits {
        if let Some(value) = value {
            lines.push(format!("{name}={value}"));
        }
    }
    fs::write(work.path().join(".env"), lines.join("\n") + "\n").unwrap();
    let output = Command::new("docker-compose")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .current_dir(work.path())
        .args(["-f", "compose.yml", "config"])
        .output()
        .expect("docker-compose (apt-get install docker-compose; scripts/test.sh does)");
    if !output.status.success() {
        return Err(text(&output.stderr));
    }
    Ok(yaml_to_json(&output.stdout))
}

fn config(stack: &str) -> Value {
    normalised(stack, &[]).unwrap_or_else(|e| panic!("{stack}: docker-compose config failed: {e}"))
}

fn services(config: &Value) -> &serde_json::Map<String, Value> {
    config["services"].as_object().expect("services")
}

/// The service that runs the aza-pg entrypoint as PostgreSQL (not the PgBouncer one).
fn postgres_service<'a>(config: &'a Value, stack: &str) -> &'a Value {
    let found: Vec<&Value> = services(config)
        .values()
        .filter(|s| s["healthcheck"]["test"] == serde_json::json!(HEALTHCHECK))
        .collect();
    assert_eq!(found.len(), 1, "{stack}: one postgres service expected");
    found[0]
}

/// The `-c name=value` settings of a service's command.
fn command_setting(service: &Value, name: &str) -> Option<String> {
    let command: Vec<&str> = service["command"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    command
        .windows(2)
        .filter(|w| w[0] == "-c")
        .filter_map(|w| w[1].split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// A volume's mount point, in the short (`source:target[:mode]`, docker-compose 1.29) or long form.
fn mount_target(volume: &Value) -> String {
    match volume.as_str() {
        Some(short) => short.split(':').nth(1).unwrap_or("").to_string(),
        None => volume["target"].as_str().unwrap_or("").to_string(),
    }
}

/// A port's host address and container port, in the short (`ip:published:target/proto`) or long form.
fn port_mapping(port: &Value) -> (String, String) {
    match port.as_str() {
        Some(short) => {
            let parts: Vec<&str> = short.split(':').collect();
            let target = parts.last().unwrap_or(&"").split('/').next().unwrap_or("");
            let host_ip = if parts.len() == 3 { parts[0] } else { "" };
            (host_ip.to_string(), target.to_string())
        }
        None => (
            port["host_ip"].as_str().unwrap_or("").to_string(),
            port["target"].to_string(),
        ),
    }
}

#[test]
fn every_stack_normalises_and_runs_the_aza_pg_image_with_its_health_check() {
    for stack in STACKS {
        let config = config(stack);
        let postgres = postgres_service(&config, stack);
        assert_eq!(postgres["image"], "aza-pg:18", "{stack}");
        let health = &postgres["healthcheck"];
        assert_eq!(
            (&health["interval"], &health["timeout"], &health["retries"]),
            (&Value::from("10s"), &Value::from("5s"), &Value::from(3)),
            "{stack}"
        );
        // docker-compose 1.29 normalises 120s to 2m.
        assert!(
            ["120s", "2m"].contains(&health["start_period"].as_str().unwrap_or("")),
            "{stack}: {health}"
        );
        let volumes = postgres["volumes"].as_array().unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| mount_target(v) == "/var/lib/postgresql"),
            "{stack}: {volumes:?}"
        );
        // Inside the container PostgreSQL listens on the stack network; the host side is the mapping's.
        assert_eq!(
            postgres["environment"]["POSTGRES_BIND_IP"], "0.0.0.0",
            "{stack}"
        );
        let ports = postgres["ports"].as_array().unwrap();
        assert!(
            ports.iter().all(|p| {
                let (host_ip, target) = port_mapping(p);
                host_ip == "127.0.0.1" && target == "5432"
            }),
            "{stack}: {ports:?}"
        );
    }
}

#[test]
fn health_check_sql_is_one_complete_statement_per_dash_c() {
    let mut checked = 0;
    for stack in STACKS {
        let config = config(stack);
        for (name, service) in services(&config) {
            let Some(test) = service["healthcheck"]["test"].as_array() else {
                continue;
            };
            assert_eq!(test[0], "CMD", "{stack}/{name}: exec form, no shell");
            let words: Vec<&str> = test.iter().filter_map(Value::as_str).collect();
            for pair in words.windows(2).filter(|w| w[0] == "-c") {
                let sql = pair[1].trim();
                let statement = sql.strip_suffix(';').unwrap_or(sql).trim();
                assert!(
                    !statement.is_empty() && !statement.contains(';'),
                    "{stack}/{name}: '-c {sql}' must be exactly one statement"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no -c SQL found; the check would be vacuous");
}

#[test]
fn primary_and_replica_agree_on_slot_limits_and_standby_settings() {
    let primary = config("primary");
    let replica = config("replica");
    let p = postgres_service(&primary, "primary");
    let r = postgres_service(&replica, "replica");
    assert_eq!(r["environment"]["POSTGRES_ROLE"], "replica");
    assert_eq!(p["environment"]["POSTGRES_ROLE"], "primary");
    for name in ["REPLICATION_SLOT_NAME", "PG_REPLICATION_USER"] {
        assert_eq!(p["environment"][name], r["environment"][name], "{name}");
    }
    assert_eq!(r["environment"]["REPLICATION_SLOT_NAME"], "replica_slot_1");

    // Same CPU and memory: the entrypoint derives max_connections and max_worker_processes from them,
    // and a standby needs at least the primary's values.
    let limits = |s: &Value| s["deploy"]["resources"]["limits"].clone();
    assert!(limits(p)["cpus"].is_number(), "{}", limits(p));
    assert_eq!(limits(p)["cpus"], limits(r)["cpus"]);
    assert_eq!(limits(p)["memory"], limits(r)["memory"]);
    let senders = |s: &Value| -> u32 {
        command_setting(s, "max_wal_senders")
            .expect("max_wal_senders set")
            .parse()
            .unwrap()
    };
    assert!(senders(r) >= senders(p));
    assert_eq!(command_setting(r, "hot_standby").as_deref(), Some("on"));
    assert_eq!(p["command"][0], "postgres");
    assert_eq!(r["environment"]["POSTGRES_WAL_LEVEL"], "replica");

    // The slot name reaches the replica through `environment:` itself, not only through env_file.
    let written = raw("replica");
    let replica_name = services(&replica)
        .iter()
        .find(|(_, s)| s["environment"]["POSTGRES_ROLE"] == "replica")
        .map(|(n, _)| n.clone())
        .unwrap();
    let environment = &written["services"][&replica_name]["environment"];
    for name in [
        "REPLICATION_SLOT_NAME",
        "PRIMARY_HOST",
        "PRIMARY_PORT",
        "PG_REPLICATION_USER",
        "PG_REPLICATION_PASSWORD",
    ] {
        assert!(
            environment.get(name).is_some(),
            "{name} not under environment:"
        );
    }
    let without = normalised("replica", &[("REPLICATION_SLOT_NAME", None)]).unwrap();
    assert_eq!(
        postgres_service(&without, "replica")["environment"]["REPLICATION_SLOT_NAME"],
        "replica_slot_1"
    );
    let custom = normalised("replica", &[("REPLICATION_SLOT_NAME", Some("standby_2"))]).unwrap();
    assert_eq!(
        postgres_service(&custom, "replica")["environment"]["REPLICATION_SLOT_NAME"],
        "standby_2"
    );
}

#[test]
fn required_secrets_stop_compose_with_a_message() {
    for (stack, variable) in [
        ("primary", "POSTGRES_PASSWORD"),
        ("primary", "PG_REPLICATION_PASSWORD"),
        ("primary", "PGBOUNCER_AUTH_PASS"),
        ("replica", "PRIMARY_HOST"),
        ("replica", "PG_REPLICATION_PASSWORD"),
        ("single", "POSTGRES_PASSWORD"),
    ] {
        let error = normalised(stack, &[(variable, None)]).unwrap_err();
        assert!(
            error.contains(&format!("set {variable} in .env")),
            "{stack}/{variable}: {error}"
        );
    }
}

#[test]
fn the_pgbouncer_service_renders_an_auth_query_without_connection_parameters() {
    let primary = config("primary");
    let (_, bouncer) = services(&primary)
        .iter()
        .find(|(_, s)| s["entrypoint"][0] == "/usr/local/bin/aza-pgbouncer")
        .expect("a pgbouncer service running aza-pgbouncer");
    assert_eq!(
        bouncer["user"], "postgres",
        "pgbouncer refuses to run as root"
    );
    assert_eq!(
        bouncer["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    let command: Vec<&str> = bouncer["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let split = command
        .iter()
        .position(|w| *w == "--")
        .expect("-- pgbouncer ...");
    assert_eq!(command[split + 1], "pgbouncer");
    assert_eq!(command[0], "--output-dir");
    assert_eq!(command[split + 2], format!("{}/pgbouncer.ini", command[1]));

    // Render with the service's own environment, into a temporary directory.
    let out = tempfile::tempdir().unwrap();
    let mut render = Command::new(env!("CARGO_BIN_EXE_aza-pgbouncer"));
    render.env_clear();
    for (name, value) in bouncer["environment"].as_object().unwrap() {
        render.env(name, value.as_str().unwrap());
    }
    let output = render.arg("--output-dir").arg(out.path()).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let ini = fs::read_to_string(out.path().join("pgbouncer.ini")).unwrap();
    let setting = |name: &str| -> String {
        ini.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("{name} missing:\n{ini}"))
    };
    let auth_query = setting("auth_query");
    assert_eq!(auth_query, "SELECT * FROM public.pgbouncer_lookup($1)");
    for parameter in ["host=", "port=", "dbname=", "user=", "password="] {
        assert!(!auth_query.contains(parameter), "{auth_query}");
    }
    assert_eq!(setting("pool_mode"), "transaction");
    assert_eq!(setting("auth_type"), "scram-sha-256");
    assert_eq!(setting("listen_addr"), "0.0.0.0");
    // The [databases] entry points at the postgres service of this stack.
    let host = setting("*");
    assert!(
        host.starts_with("host=postgres port=5432 ") && services(&primary).contains_key("postgres"),
        "{host}"
    );
    // The health check logs in through the .pgpass aza-pgbouncer writes.
    assert_eq!(
        bouncer["environment"]["PGPASSFILE"],
        format!("{}/.pgpass", command[1])
    );
}

#[test]
fn the_single_stack_has_minimal_wal_and_no_replication_or_pgbouncer() {
    let single = config("single");
    let postgres = postgres_service(&single, "single");
    assert_eq!(postgres["environment"]["POSTGRES_WAL_LEVEL"], "minimal");
    for name in [
        "PG_REPLICATION_PASSWORD",
        "PGBOUNCER_AUTH_PASS",
        "REPLICATION_SLOT_NAME",
    ] {
        assert!(postgres["environment"].get(name).is_none(), "{name}");
    }
    assert!(services(&single)
        .values()
        .all(|s| s["entrypoint"][0] != "/usr/local/bin/aza-pgbouncer"
            && s["command"][0] != "pgbouncer-config"));
    // The entrypoint accepts the stack's environment as a primary with wal_level=minimal.
    let env = postgres["environment"].as_object().unwrap();
    let mut dry_run = Command::new(entrypoint());
    // In an image whose libraries are all there, so the preflight judges the stack's own list.
    dry_run
        .env_clear()
        .env("PATH", support::fake_image_path())
        .env("AZA_IMAGE_CATALOG", support::NO_IMAGE_CATALOG);
    for (name, value) in env {
        dry_run.env(name, value.as_str().unwrap());
    }
    let output = dry_run
        .args(["--dry-run", "--format", "json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let plan = support::json(&output);
    assert_eq!(plan["settings"]["wal_level"], "minimal", "{plan}");
    assert_eq!(plan["settings"]["max_wal_senders"], "0", "{plan}");
}

#[test]
fn services_on_images_from_a_registry_are_optional_behind_the_exporters_profile() {
    // A plain `up` must work with nothing but the aza-pg image (tests/container.rs brings the stacks up
    // where no registry is reachable).
    let mut optional = 0;
    for stack in STACKS {
        let config = config(stack);
        for (name, service) in services(&config) {
            if service["image"] == "aza-pg:18" {
                assert!(service.get("profiles").is_none(), "{stack}/{name}");
            } else {
                assert_eq!(
                    service["profiles"],
                    serde_json::json!(["exporters"]),
                    "{stack}/{name} runs {} and must not start by default",
                    service["image"]
                );
                optional += 1;
            }
        }
    }
    assert_eq!(
        optional, 6,
        "the four exporters, the backup metrics' node exporter and Prometheus"
    );
}

#[test]
fn the_primary_stack_archives_wal_and_its_backup_service_shares_the_servers_volumes() {
    let config = config("primary");
    let postgres = postgres_service(&config, "primary");
    let backup = &services(&config)["backup"];
    assert_eq!(backup["image"], postgres["image"]);
    assert_eq!(
        backup["entrypoint"],
        serde_json::json!(["/usr/local/bin/aza-backup"])
    );
    assert_eq!(backup["command"], serde_json::json!(["schedule"]));
    let mounts = |service: &Value| -> Vec<(String, String)> {
        service["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["source"].as_str().unwrap_or("").to_string(),
                    mount_target(v),
                )
            })
            .collect()
    };
    let server_mounts = mounts(postgres);
    // pgBackRest checks that pg1-path is the server's data_directory and reaches it on its socket:
    // the sidecar sees the same volumes at the same paths.
    for target in [
        "/var/lib/postgresql",
        "/var/run/postgresql",
        "/var/lib/pgbackrest",
    ] {
        let server = server_mounts.iter().find(|(_, t)| t == target);
        assert!(server.is_some(), "postgres has no volume at {target}");
        assert!(
            mounts(backup).contains(server.unwrap()),
            "backup does not share {target}: {:?}",
            mounts(backup)
        );
    }
    // Backups are on in the example: the stanza reaches both through env_file.
    let example = std::fs::read_to_string(stack_dir("primary").join(".env.example")).unwrap();
    assert!(example.lines().any(|l| l == "PGBACKREST_STANZA=main"));
    assert_eq!(postgres["env_file"], backup["env_file"]);
}

/// `stacks/ha` (brought up and broken on purpose in tests/ha.rs): three nodes in HA mode named by
/// their host names, every node told every etcd member, the router checking exactly those nodes.
#[test]
fn the_ha_stack_names_every_node_and_etcd_member_in_one_place_each() {
    let config = config("ha");
    let services = services(&config);
    let nodes: Vec<(&String, &Value)> = services
        .iter()
        .filter(|(_, s)| s["environment"]["POSTGRES_ROLE"] == "ha")
        .collect();
    assert_eq!(nodes.len(), 3, "three HA nodes");
    let etcd: Vec<&String> = services
        .iter()
        .filter(|(_, s)| s["environment"]["ETCD_NAME"].is_string())
        .map(|(name, _)| name)
        .collect();
    assert_eq!(etcd.len(), 3, "three etcd members");
    let haproxy = fs::read_to_string(stack_dir("ha").join("haproxy.cfg")).unwrap();
    for (name, node) in &nodes {
        assert_eq!(
            node["hostname"],
            name.as_str(),
            "{name}: AZA_HA_NODE comes from HOSTNAME"
        );
        assert_eq!(node["healthcheck"]["test"], serde_json::json!(HEALTHCHECK));
        assert_eq!(node["stop_grace_period"], "60s", "{name}");
        let hosts = node["environment"]["AZA_HA_ETCD_HOSTS"].as_str().unwrap();
        let expected: Vec<String> = etcd.iter().map(|e| format!("{e}:2379")).collect();
        assert_eq!(hosts, expected.join(","), "{name}");
        assert_eq!(
            haproxy
                .lines()
                .filter(|l| l
                    .trim_start()
                    .starts_with(&format!("server {name} {name}:5432 ")))
                .count(),
            2,
            "{name} in the read-write and the read-only backend"
        );
    }
    for (stack, variable) in [
        ("ha", "POSTGRES_PASSWORD"),
        ("ha", "PG_REPLICATION_PASSWORD"),
        ("ha", "PGBOUNCER_AUTH_PASS"),
    ] {
        let error = normalised(stack, &[(variable, None)]).unwrap_err();
        assert!(
            error.contains(&format!("set {variable} in .env")),
            "{stack}/{variable}: {error}"
        );
    }
}
