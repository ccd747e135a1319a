//! Patroni's configuration for one node, as YAML text (pure): the settings that must match on every
//! node go to the cluster's dynamic configuration at its first bootstrap (Patroni passes those to
//! PostgreSQL on the command line and takes them from etcd only); the node-local, memory-sized ones
//! stay in the node's own tuning file, which `postgresql.base.conf` includes first, so
//! `patronictl edit-config`, `ALTER SYSTEM` and Patroni's own parameters all rank above them.

use std::fmt::Write;

use super::{HaSetup, Synchronous};
use crate::plan::{self, Plan};
use crate::runtime::contract::Secret;

/// The parameters Patroni takes from the dynamic configuration only and puts on the command line
/// (its `CMDLINE_OPTIONS`), except those it decides itself (`listen_addresses`, `port`,
/// `cluster_name`, `hot_standby`), with the minimum Patroni accepts (below it Patroni would fall
/// back to its own default).
pub const CLUSTER_WIDE: [(&str, u64); 10] = [
    ("max_connections", 25),
    ("max_locks_per_transaction", 32),
    ("max_worker_processes", 2),
    ("max_prepared_transactions", 0),
    ("max_wal_senders", 3),
    ("max_replication_slots", 4),
    ("wal_keep_size", 0),
    ("wal_level", 0),
    ("track_commit_timestamp", 0),
    ("wal_log_hints", 0),
];

/// Where the node's files are, and who the superuser is.
pub struct Node<'a> {
    pub ha: &'a HaSetup,
    pub plan: &'a Plan,
    pub pgdata: &'a str,
    pub port: u16,
    pub superuser: &'a str,
    pub superuser_password: &'a Secret,
    /// The command Patroni runs to bootstrap a new cluster (this binary's `ha-bootstrap`).
    pub bootstrap_command: &'a str,
    /// Patroni's password file for its own connections.
    pub pgpass: &'a str,
    /// `POSTGRES_HOST_AUTH_METHOD`: the method of the TCP rules, as on any first start.
    pub host_auth_method: &'a str,
}

/// The YAML, and what the rendering had to change.
pub struct Rendered {
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// Renders the node's configuration; with `redact`, the passwords are replaced by `<redacted>` (the
/// dry run shows that form).
pub fn render(node: &Node<'_>, redact: bool) -> Rendered {
    let Node { ha, plan, .. } = *node;
    let mut warnings = Vec::new();
    let secret = |s: &Secret| {
        if redact {
            "<redacted>".to_string()
        } else {
            quote(s.expose())
        }
    };
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Patroni's configuration of node {}, written by aza-entrypoint at every start\n\
         # (POSTGRES_ROLE=ha). The memory-sized settings are in the node's tuning file, which\n\
         # postgresql.base.conf includes first; the cluster-wide ones below reach etcd at the\n\
         # cluster's first bootstrap, and change afterwards with `patronictl edit-config`.",
        ha.node
    );
    let _ = writeln!(
        y,
        "scope: {}\nname: {}",
        quote(&ha.cluster),
        quote(&ha.node)
    );
    let _ = writeln!(
        y,
        "restapi:\n  listen: {}\n  connect_address: {}",
        quote(&format!("0.0.0.0:{}", ha.api_port)),
        quote(&format!("{}:{}", ha.advertise_host, ha.api_port))
    );
    y.push_str("etcd3:\n  hosts:\n");
    for member in &ha.etcd {
        let _ = writeln!(
            y,
            "  - {}",
            quote(&format!("{}:{}", member.host, member.port))
        );
    }
    let (synchronous, strict) = match ha.synchronous {
        Synchronous::Off => (false, false),
        Synchronous::On => (true, false),
        Synchronous::Strict => (true, true),
    };
    let _ = writeln!(
        y,
        "bootstrap:\n  dcs:\n    ttl: {}\n    loop_wait: {}\n    retry_timeout: {}\n    \
         maximum_lag_on_failover: 1048576\n    synchronous_mode: {synchronous}\n    \
         synchronous_mode_strict: {strict}\n    failsafe_mode: false\n    postgresql:\n      \
         use_pg_rewind: true\n      use_slots: true\n      parameters:",
        ha.ttl.as_secs(),
        ha.loop_wait(),
        ha.retry_timeout()
    );
    for (name, value, why) in cluster_wide(plan, &mut warnings) {
        let _ = writeln!(y, "        {name}: {:<24} # {why}", quote(&value));
    }
    let _ = writeln!(
        y,
        "  method: aza\n  aza:\n    command: {}",
        quote(node.bootstrap_command)
    );
    let _ = write!(
        y,
        "postgresql:\n  listen: {}\n  connect_address: {}\n  data_dir: {}\n  pgpass: {}\n  \
         use_unix_socket: true\n  authentication:\n    superuser:\n      username: {}\n      \
         password: {}\n{verify}    replication:\n      username: {}\n      password: {}\n{verify}",
        quote(&format!("{}:{}", listen_addresses(plan), node.port)),
        quote(&format!("{}:{}", ha.advertise_host, node.port)),
        quote(node.pgdata),
        quote(node.pgpass),
        quote(node.superuser),
        secret(node.superuser_password),
        quote(&ha.replication_user),
        secret(&ha.replication_password),
        verify = verify_lines(ha),
    );
    // The same rules on every node, written by Patroni at each start: a clone made while the first
    // leader still had Patroni's temporary bootstrap rules must not keep them.
    y.push_str("  pg_hba:\n");
    for rule in hba_rules(ha, node.host_auth_method) {
        let _ = writeln!(y, "  - {}", quote(&rule));
    }
    y.push_str("  parameters:\n");
    if !plan.socket_dir.is_empty() {
        // Patroni connects through the socket, and finds it only from its own parameters.
        let _ = writeln!(
            y,
            "    unix_socket_directories: {:<16} # where Patroni connects",
            quote(&plan.socket_dir)
        );
    }
    for (name, value) in node_local_from_command_line(plan) {
        let _ = writeln!(
            y,
            "    {name}: {:<24} # from the command line",
            quote(&value)
        );
    }
    y.push_str(
        "  basebackup:\n  - checkpoint: 'fast'\n  \
         remove_data_directory_on_rewind_failure: true\n  \
         remove_data_directory_on_diverged_timelines: true\n\
         watchdog:\n  mode: 'off'\n\
         tags:\n  nofailover: false\n  noloadbalance: false\n  clonefrom: false\n  nosync: false\n",
    );
    Rendered { yaml: y, warnings }
}

/// With TLS and a mounted CA, the lines that make a connection to another node (replication from
/// the leader, `pg_rewind` against it) verify that node's certificate against the CA; the nodes'
/// names need not be in it (`verify-ca`, not `verify-full`).
fn verify_lines(ha: &HaSetup) -> String {
    match (&ha.tls_ca, ha.tls) {
        (Some(ca), crate::tls::TlsMode::On | crate::tls::TlsMode::Required) => format!(
            "      sslmode: verify-ca\n      sslrootcert: {}\n",
            quote(&ca.display().to_string())
        ),
        _ => String::new(),
    }
}

/// A first start's `pg_hba.conf`: initdb's socket lines, loopback replication with `method`, then
/// the rules of a single server (`tls::network_rules`: plaintext refused when `POSTGRES_TLS=required`,
/// replication and PgBouncer from the private ranges, TCP from anywhere with `method`), one a line.
pub fn hba_rules(ha: &HaSetup, method: &str) -> Vec<String> {
    use crate::tls::network_rules::{render, NetworkInputs};
    let host = if ha.tls == crate::tls::TlsMode::Required {
        "hostssl"
    } else {
        "host"
    };
    let mut rules = vec![
        "local all all trust".to_string(),
        "local replication all trust".to_string(),
    ];
    for network in ["127.0.0.1/32", "::1/128"] {
        rules.push(format!("{host} replication all {network} {method}"));
    }
    let shared = render(&NetworkInputs {
        tls: ha.tls,
        method,
        refused_superuser: None,
        replication_user: Some(&ha.replication_user),
        pgbouncer: ha.pgbouncer.as_ref(),
    });
    rules.extend(
        shared
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string),
    );
    rules
}

/// The cluster-wide parameters with their reasons: the plan's value (or the user's, from the command
/// line), raised to Patroni's minimum where needed.
fn cluster_wide(plan: &Plan, warnings: &mut Vec<String>) -> Vec<(&'static str, String, String)> {
    let from_command_line = plan::command_line_settings(&plan.user_args);
    let mut out = Vec::new();
    for (name, minimum) in CLUSTER_WIDE {
        let user = from_command_line
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        let computed = plan.settings.iter().find(|s| s.name == name);
        let (value, why) = match (user, computed) {
            (Some(value), _) => (value, "from the command line".to_string()),
            (None, Some(s)) => (s.value.clone(), s.reason.clone()),
            // pg_rewind needs it (PostgreSQL 18 has checksums by default; this also covers a
            // cluster without them).
            (None, None) if name == "wal_log_hints" => ("on".into(), "for pg_rewind".into()),
            (None, None) => continue,
        };
        let raised = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|number| *number < minimum);
        if raised.is_some() {
            warnings.push(format!(
                "{name} = {value} is below what Patroni accepts; the cluster gets {minimum}"
            ));
            out.push((
                name,
                minimum.to_string(),
                format!("Patroni's minimum ({why})"),
            ));
        } else {
            out.push((name, value, why));
        }
    }
    out
}

/// The user's own command-line settings that are not cluster-wide: Patroni starts PostgreSQL
/// itself, so they reach it as the node's parameters.
fn node_local_from_command_line(plan: &Plan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in plan::command_line_settings(&plan.user_args) {
        let decided_by_patroni = matches!(
            name.as_str(),
            "listen_addresses" | "port" | "cluster_name" | "hot_standby" | "data_directory"
        );
        if decided_by_patroni || CLUSTER_WIDE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        out.retain(|(n, _)| *n != name);
        out.push((name, value));
    }
    out
}

/// The addresses to listen on: the plan's (`*` by default in the image).
fn listen_addresses(plan: &Plan) -> String {
    plan.settings
        .iter()
        .find(|s| s.name == "listen_addresses")
        .map(|s| match &s.overridden_by {
            Some(o) => o.value.trim_matches('\'').to_string(),
            None => s.value.clone(),
        })
        .unwrap_or_else(|| "*".to_string())
}

/// A YAML single-quoted scalar: nothing inside is special but the quote, which is doubled.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::detect::{CpuSource, MemorySource};
    use crate::ha::Endpoint;
    use crate::image_catalog::CatalogFile;
    use crate::plan::{Delivery, Pgsodium, PlanInputs};
    use crate::resources::Resources;
    use crate::test_support::fake_env;

    fn plan(memory_mb: u64, args: &[&str]) -> Plan {
        let resources = Resources {
            memory_mb,
            memory_source: MemorySource::CgroupV2,
            memory_origin: "/sys/fs/cgroup/memory.max".into(),
            cpus: 2,
            cpu_source: CpuSource::CgroupV2,
            shm_mb: None,
            wal_free_mb: None,
            primary_requires: Default::default(),
            jit_provider: Some(true),
            warnings: Vec::new(),
        };
        let config = Config::from_lookup(fake_env(&[])).unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        crate::plan::build(&PlanInputs {
            resources: &resources,
            config: &config,
            user_args: &args,
            alter_system: &[],
            config_file: &[],
            pgsodium: &Pgsodium::NotRequested,
            image: &CatalogFile::missing("/nonexistent"),
            delivery: Delivery::File,
        })
    }

    fn setup() -> HaSetup {
        HaSetup {
            cluster: "aza-pg".into(),
            node: "pg1".into(),
            advertise_host: "pg1.internal".into(),
            api_port: 8008,
            etcd: vec![Endpoint {
                host: "etcd1".into(),
                port: 2379,
            }],
            synchronous: Synchronous::On,
            ttl: std::time::Duration::from_secs(20),
            replication_user: "replicator".into(),
            replication_password: Secret::new("it's-repl".into()),
            pgbouncer: Some(crate::runtime::replication::PgbouncerLogin::Password(
                Secret::new("b".into()),
            )),
            tls: crate::tls::TlsMode::Off,
            tls_ca: None,
        }
    }

    fn render_for(plan: &Plan, redact: bool) -> Rendered {
        render_with(&setup(), plan, redact)
    }

    fn render_with(ha: &HaSetup, plan: &Plan, redact: bool) -> Rendered {
        let password = Secret::new("super'secret".into());
        render(
            &Node {
                ha,
                plan,
                pgdata: "/var/lib/postgresql/18/docker",
                port: 5432,
                superuser: "postgres",
                superuser_password: &password,
                bootstrap_command: "/usr/local/bin/aza-entrypoint ha-bootstrap",
                pgpass: "/etc/patroni/pgpass",
                host_auth_method: "scram-sha-256",
            },
            redact,
        )
    }

    #[test]
    fn cluster_wide_settings_go_to_the_dcs_and_the_users_flags_to_the_node() {
        let plan = plan(
            4096,
            &["-c", "log_statement=ddl", "-c", "max_connections=300"],
        );
        let rendered = render_for(&plan, false);
        let y = &rendered.yaml;
        let dcs = y.find("  dcs:").unwrap();
        let local = y.find("\npostgresql:").unwrap();
        let at = |needle: &str| y.find(needle).unwrap_or_else(|| panic!("{needle} in\n{y}"));
        assert!((dcs..local).contains(&at("        max_connections: '300'")));
        assert!((dcs..local).contains(&at("        wal_log_hints: 'on'")));
        assert!(at("    log_statement: 'ddl'") > local);
        assert!(y.contains("    synchronous_mode: true\n    synchronous_mode_strict: false\n"));
        assert!(y.contains("  connect_address: 'pg1.internal:5432'"));
        assert!(y.contains("      password: 'super''secret'"), "{y}");
        assert!(y.contains("  - 'host replication \"replicator\" 10.0.0.0/8 scram-sha-256'"));
        assert!(y.contains("  - 'host all pgbouncer_auth 172.16.0.0/12 scram-sha-256'"));
        assert!(y.ends_with("  nosync: false\n"));
        assert!(rendered.warnings.is_empty(), "{:?}", rendered.warnings);
    }

    #[test]
    fn with_a_mounted_ca_connections_to_other_nodes_verify_them() {
        let plan = plan(4096, &[]);
        let plain = render_for(&plan, false).yaml;
        assert!(!plain.contains("sslmode"), "{plain}");
        let ha = HaSetup {
            tls: crate::tls::TlsMode::Required,
            tls_ca: Some("/etc/aza-pg/tls/ca.crt".into()),
            ..setup()
        };
        let y = render_with(&ha, &plan, false).yaml;
        let verify = "      sslmode: verify-ca\n      sslrootcert: '/etc/aza-pg/tls/ca.crt'\n";
        // Under the superuser (pg_rewind) and under replication, and nowhere else.
        assert_eq!(y.matches(verify).count(), 2, "{y}");
        assert!(
            y.contains(&format!(
                "      password: 'it''s-repl'\n{verify}  pg_hba:\n"
            )),
            "{y}"
        );
    }

    #[test]
    fn tls_required_refuses_plaintext_before_any_rule_admits_it() {
        let ha = HaSetup {
            tls: crate::tls::TlsMode::Required,
            ..setup()
        };
        let rules = hba_rules(&ha, "scram-sha-256");
        assert!(rules.contains(&"hostnossl all all all reject".to_string()));
        assert!(rules.contains(&"hostnossl replication all all reject".to_string()));
        let admitting: Vec<&String> = rules
            .iter()
            .filter(|r| r.starts_with("host") && !r.ends_with(" reject"))
            .collect();
        assert!(
            admitting.iter().all(|r| r.starts_with("hostssl ")),
            "{rules:?}"
        );
        let offered = hba_rules(&setup(), "scram-sha-256");
        assert!(
            offered.iter().all(|r| !r.starts_with("hostssl")),
            "{offered:?}"
        );
    }

    #[test]
    fn redaction_hides_both_passwords_and_a_small_budget_is_raised_with_a_warning() {
        let plan = plan(1024, &["-c", "max_connections=20"]);
        let rendered = render_for(&plan, true);
        assert!(!rendered.yaml.contains("secret"), "{}", rendered.yaml);
        assert!(!rendered.yaml.contains("it's-repl"));
        assert_eq!(rendered.yaml.matches("password: <redacted>").count(), 2);
        assert!(rendered.yaml.contains("        max_connections: '25'"));
        assert_eq!(
            rendered.warnings,
            ["max_connections = 20 is below what Patroni accepts; the cluster gets 25"]
        );
    }
}
