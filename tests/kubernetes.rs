//! The Kubernetes manifests, parsed by a real YAML parser (PyYAML) and checked against what the
//! entrypoint actually accepts: downward-API wiring, probes naming real subcommands, the security
//! context the entrypoint supports.

mod support;

use std::path::Path;
use std::process::Command;

use aza_pg::cli::{self, Command as EntrypointCommand};
use serde_json::Value;

/// Every document of a YAML file, as JSON values.
fn load(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("stacks/kubernetes")
        .join(file);
    let script =
        "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect(
            "python3 with PyYAML is needed to parse the manifests (scripts/test.sh installs it)",
        );
    assert!(
        output.status.success(),
        "{} does not parse: {}",
        path.display(),
        support::text(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn statefulset() -> Value {
    let docs = load("statefulset.yaml");
    docs.into_iter()
        .find(|d| d["kind"] == "StatefulSet")
        .expect("a StatefulSet")
}

fn container(set: &Value) -> Value {
    set["spec"]["template"]["spec"]["containers"][0].clone()
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn every_manifest_has_the_required_fields() {
    for file in ["statefulset.yaml", "service.yaml", "secret.example.yaml"] {
        for doc in load(file) {
            for field in ["apiVersion", "kind"] {
                assert!(doc[field].is_string(), "{file}: {field} missing");
            }
            assert!(
                doc["metadata"]["name"].is_string(),
                "{file}: metadata.name missing"
            );
        }
    }
    let set = statefulset();
    let selector = &set["spec"]["selector"]["matchLabels"];
    let labels = &set["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(&labels[key], value, "pod labels must match the selector");
    }
    let services = load("service.yaml");
    assert!(services
        .iter()
        .any(|s| s["metadata"]["name"] == set["spec"]["serviceName"]
            && s["spec"]["clusterIP"] == "None"));
    for service in &services {
        assert_eq!(&service["spec"]["selector"], selector);
    }
}

#[test]
fn memory_and_cpus_come_from_the_limits_through_the_downward_api() {
    let set = statefulset();
    let c = container(&set);
    let memory = &env(&c, "POSTGRES_MEMORY")["valueFrom"]["resourceFieldRef"];
    assert_eq!(memory["resource"], "limits.memory");
    assert_eq!(
        memory["divisor"], "1Mi",
        "a bare POSTGRES_MEMORY number means megabytes"
    );
    assert_eq!(memory["containerName"], c["name"]);
    let cpus = &env(&c, "POSTGRES_CPUS")["valueFrom"]["resourceFieldRef"];
    assert_eq!(cpus["resource"], "limits.cpu");
    assert!(
        c["resources"]["limits"]["memory"].is_string(),
        "the downward API needs a memory limit"
    );

    // What the downward API would hand over is accepted by the real configuration parser.
    let limit = c["resources"]["limits"]["memory"].as_str().unwrap();
    let mebibytes = aza_pg::config::parse_memory_mb(limit).unwrap();
    let config = aza_pg::config::Config::from_lookup(|name| match name {
        "POSTGRES_MEMORY" => Some(mebibytes.to_string()),
        "POSTGRES_CPUS" => Some("2".into()),
        "POSTGRES_BIND_IP" => env(&c, "POSTGRES_BIND_IP")["value"]
            .as_str()
            .map(str::to_string),
        "POSTGRES_WORKLOAD_TYPE" => env(&c, "POSTGRES_WORKLOAD_TYPE")["value"]
            .as_str()
            .map(str::to_string),
        _ => None,
    })
    .unwrap();
    assert_eq!(config.memory_mb, Some(2048));
}

#[test]
fn probes_and_command_use_the_binarys_real_subcommands() {
    let c = container(&statefulset());
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let command: Vec<String> = c[probe]["exec"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(command[0], "/usr/local/bin/aza-entrypoint", "{probe}");
        let parsed = cli::parse(command[1..].iter().map(Into::into).collect()).unwrap();
        assert!(
            matches!(parsed, EntrypointCommand::Healthcheck { .. }),
            "{probe}: {command:?} is not the healthcheck"
        );
    }
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(matches!(
        cli::parse(args.iter().map(Into::into).collect()).unwrap(),
        EntrypointCommand::Postgres { .. }
    ));
}

#[test]
fn runs_as_non_root_with_a_read_only_root_and_writable_scratch_space() {
    let set = statefulset();
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    let c = container(&set);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    let pgdata = env(&c, "PGDATA")["value"].as_str().unwrap();
    assert!(
        mounts.iter().any(|m| pgdata.starts_with(m) && pgdata != *m),
        "PGDATA must be a subdirectory of a volume"
    );
    for needed in [
        "/tmp",
        "/var/run/postgresql",
        "/dev/shm",
        "/etc/pgbackrest/conf.d",
    ] {
        assert!(
            mounts.contains(&needed),
            "{needed} must be writable with a read-only root"
        );
    }
    let secret_file = env(&c, "POSTGRES_PASSWORD_FILE")["value"].as_str().unwrap();
    assert!(
        mounts.iter().any(|m| secret_file.starts_with(m)),
        "the password file must be mounted"
    );
    // The whole shutdown escalation (fast, then immediate, AZA_STOP_TIMEOUT each) must end before
    // Kubernetes' SIGKILL.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let step: u64 = env(&c, "AZA_STOP_TIMEOUT")["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(2 * step < grace, "2 x {step} s does not fit {grace} s");
}
