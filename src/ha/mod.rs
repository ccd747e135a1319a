//! High availability (`POSTGRES_ROLE=ha`): the node's settings, parsed and checked with the rest of
//! the environment, and Patroni's configuration rendered from them and the plan ([`patroni_config`]).
//! Patroni and etcd do the consensus and the failover; the entrypoint stays PID 1 around Patroni
//! (see `runtime::patroni`).
//!
//! - `AZA_HA_ETCD_HOSTS` (required): the etcd members' client addresses, `host:port,host:port,...`.
//! - `AZA_HA_CLUSTER` (default `aza-pg`): Patroni's scope, the same on every node of one cluster.
//! - `AZA_HA_NODE` (default: `HOSTNAME`, which Docker sets to the container's host name): this node's
//!   name, unique in the cluster.
//! - `AZA_HA_ADVERTISE_HOST` (default: the node's name): the host name or address the other nodes,
//!   the router and etcd's clients reach this node at.
//! - `AZA_HA_API_PORT` (default 8008): Patroni's REST API, whose `/primary` and `/replica` the router
//!   checks.
//! - `AZA_HA_SYNCHRONOUS`: `off` (default), `on` (Patroni's `synchronous_mode`: a commit is
//!   acknowledged once a standby has it, and only such a standby may be promoted), `strict` (also
//!   refuses writes while no standby is there).
//! - `AZA_HA_TTL` (default 20 s, at least 20 as Patroni requires): how long a leader's key lives
//!   without renewal; the loop and the retry timeout are a quarter of it each, which keeps Patroni's
//!   rule `loop_wait + 2 × retry_timeout ≤ ttl`.
//! - The superuser (`POSTGRES_USER`, `POSTGRES_PASSWORD`) and the replication role
//!   (`PG_REPLICATION_USER`, `PG_REPLICATION_PASSWORD`) are the ones every mode uses; both passwords
//!   are required here (replicas clone with the replication role, `pg_rewind` connects as the
//!   superuser).

pub mod patroni_config;

use std::time::Duration;

use crate::runtime::contract::{ContractError, Reader, Secret};

pub const DEFAULT_CLUSTER: &str = "aza-pg";
pub const DEFAULT_API_PORT: u16 = 8008;
pub const DEFAULT_TTL: Duration = Duration::from_secs(20);
/// Patroni refuses a shorter `ttl`.
pub const MIN_TTL_SECONDS: u64 = 20;

/// `AZA_HA_SYNCHRONOUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    Off,
    On,
    Strict,
}

/// One etcd member's client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// What an HA node needs besides the contract every mode shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSetup {
    pub cluster: String,
    pub node: String,
    pub advertise_host: String,
    pub api_port: u16,
    pub etcd: Vec<Endpoint>,
    pub synchronous: Synchronous,
    pub ttl: Duration,
    pub replication_user: String,
    pub replication_password: Secret,
    pub pgbouncer: Option<crate::runtime::replication::PgbouncerLogin>,
    /// `POSTGRES_TLS`, for the rules in Patroni's configuration (set with the rest of TLS).
    pub tls: crate::tls::TlsMode,
    /// `POSTGRES_TLS_CA_FILE`: with it, Patroni's replication and rewind connections verify the
    /// other node's certificate (`verify-ca`).
    pub tls_ca: Option<std::path::PathBuf>,
}

impl HaSetup {
    /// Reads the HA variables; problems are kept in `r`. The replication role's name and password
    /// were read by the caller (every role reads them).
    pub fn read(
        r: &mut Reader<'_>,
        replication_user: String,
        replication_password: Option<Secret>,
        pgbouncer: Option<crate::runtime::replication::PgbouncerLogin>,
    ) -> HaSetup {
        let cluster = match r.get("AZA_HA_CLUSTER") {
            None => DEFAULT_CLUSTER.to_string(),
            Some(name) => checked_name(r, "AZA_HA_CLUSTER", &name),
        };
        let node = match (r.get("AZA_HA_NODE"), r.get("HOSTNAME")) {
            (Some(name), _) => checked_name(r, "AZA_HA_NODE", &name),
            (None, Some(host)) => checked_name(r, "HOSTNAME", &host),
            (None, None) => {
                r.problem(
                    "AZA_HA_NODE",
                    "is not set, and neither is HOSTNAME: set it to this node's name, unique in the \
                     cluster (POSTGRES_ROLE=ha)",
                );
                String::new()
            }
        };
        let advertise_host = match r.get("AZA_HA_ADVERTISE_HOST") {
            None => node.clone(),
            Some(host) => checked_host(r, "AZA_HA_ADVERTISE_HOST", &host),
        };
        let api_port = r.whole_number(
            "AZA_HA_API_PORT",
            1..=65_535,
            DEFAULT_API_PORT.into(),
            "a TCP port",
        ) as u16;
        let etcd = match r.get("AZA_HA_ETCD_HOSTS") {
            None => {
                r.problem(
                    "AZA_HA_ETCD_HOSTS",
                    "is not set, and POSTGRES_ROLE=ha needs it: list the etcd members' client \
                     addresses, e.g. etcd1:2379,etcd2:2379,etcd3:2379",
                );
                Vec::new()
            }
            Some(list) => endpoints(r, &list),
        };
        let synchronous = r.choice(
            "AZA_HA_SYNCHRONOUS",
            &[
                ("off", Synchronous::Off),
                ("on", Synchronous::On),
                ("strict", Synchronous::Strict),
            ],
            Synchronous::Off,
        );
        let ttl = Duration::from_secs(r.whole_number(
            "AZA_HA_TTL",
            MIN_TTL_SECONDS..=3_600,
            DEFAULT_TTL.as_secs(),
            "whole seconds",
        ));
        let replication_password = replication_password.unwrap_or_else(|| {
            r.problem(
                "PG_REPLICATION_PASSWORD",
                format!(
                    "is not set, and POSTGRES_ROLE=ha needs it: the nodes clone and stream from the \
                     leader as {replication_user}; set it (or PG_REPLICATION_PASSWORD_FILE), the same \
                     on every node"
                ),
            );
            Secret::new(String::new())
        });
        HaSetup {
            cluster,
            node,
            advertise_host,
            api_port,
            etcd,
            synchronous,
            ttl,
            replication_user,
            replication_password,
            pgbouncer,
            tls: crate::tls::TlsMode::Off,
            tls_ca: None,
        }
    }

    /// Patroni's main loop: a quarter of the `ttl`.
    pub fn loop_wait(&self) -> u64 {
        self.ttl.as_secs() / 4
    }

    /// How long Patroni retries etcd and PostgreSQL before it gives up on a loop: a quarter of the
    /// `ttl`, so `loop_wait + 2 × retry_timeout` stays below it.
    pub fn retry_timeout(&self) -> u64 {
        self.ttl.as_secs() / 4
    }
}

/// A cluster or node name: Patroni puts it in etcd keys and `application_name`, so letters, digits,
/// `-`, `_` and `.` only.
fn checked_name(r: &mut Reader<'_>, variable: &str, name: &str) -> String {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        r.problem(
            variable,
            format!(
                "='{name}' is not accepted: use letters, digits, '-', '_' and '.', at most 63 characters"
            ),
        );
    }
    name.to_string()
}

/// One host name or address (IPv6 without brackets).
fn checked_host(r: &mut Reader<'_>, variable: &str, host: &str) -> String {
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !valid {
        r.problem(
            variable,
            format!("='{host}' is not accepted: use one host name or IP address"),
        );
    }
    host.to_string()
}

/// `host:port,host:port`: every member checked, every problem kept.
fn endpoints(r: &mut Reader<'_>, list: &str) -> Vec<Endpoint> {
    let mut found = Vec::new();
    for item in list.split(',').map(str::trim) {
        let parsed = item.rsplit_once(':').and_then(|(host, port)| {
            let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
            let host_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            host_ok.then(|| Endpoint {
                host: host.to_string(),
                port,
            })
        });
        match parsed {
            Some(endpoint) => found.push(endpoint),
            None => r.keep(ContractError {
                variable: "AZA_HA_ETCD_HOSTS".into(),
                problem: format!(
                    "='{list}' is not accepted: '{item}' is not host:port; list the etcd members' \
                     client addresses separated by commas, e.g. etcd1:2379,etcd2:2379"
                ),
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fake_env, fake_files};

    fn read(vars: &[(&str, &str)]) -> Result<HaSetup, Vec<String>> {
        let lookup = fake_env(vars);
        let files = fake_files(&[]);
        let mut r = Reader::new(&lookup, &files);
        let password = r.get("PG_REPLICATION_PASSWORD").map(Secret::new);
        let setup = HaSetup::read(&mut r, "replicator".into(), password, None);
        r.finish(setup)
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn defaults_come_from_the_host_name() {
        let setup = read(&[
            ("HOSTNAME", "pg-1"),
            ("AZA_HA_ETCD_HOSTS", "etcd1:2379, etcd2:2379"),
            ("PG_REPLICATION_PASSWORD", "r"),
        ])
        .unwrap();
        assert_eq!(
            (setup.cluster.as_str(), setup.node.as_str()),
            ("aza-pg", "pg-1")
        );
        assert_eq!(setup.advertise_host, "pg-1");
        assert_eq!(setup.etcd.len(), 2);
        assert_eq!(setup.etcd[1].host, "etcd2");
        assert_eq!((setup.loop_wait(), setup.retry_timeout()), (5, 5));
        assert_eq!(setup.synchronous, Synchronous::Off);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = read(&[
            ("AZA_HA_NODE", "node one"),
            ("AZA_HA_ETCD_HOSTS", "etcd1:2379,etcd2,etcd3:99999"),
            ("AZA_HA_SYNCHRONOUS", "quorum"),
            ("AZA_HA_TTL", "10"),
        ])
        .unwrap_err();
        let all = problems.join("\n");
        for expected in [
            "AZA_HA_NODE='node one' is not accepted",
            "'etcd2' is not host:port",
            "'etcd3:99999' is not host:port",
            "AZA_HA_SYNCHRONOUS='quorum' is not accepted: use off, on, strict",
            "AZA_HA_TTL='10' is not accepted: use whole seconds, 20 to 3600",
            "PG_REPLICATION_PASSWORD is not set, and POSTGRES_ROLE=ha needs it",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
        assert_eq!(problems.len(), 6, "{all}");
        let missing = read(&[("PG_REPLICATION_PASSWORD", "r")]).unwrap_err();
        assert!(
            missing[0].starts_with("AZA_HA_NODE is not set"),
            "{missing:?}"
        );
        assert!(missing[1].starts_with("AZA_HA_ETCD_HOSTS is not set"));
    }
}
