//! The network rules the entrypoint owns: `aza-hba.conf` in the data directory, rewritten at every
//! start from the environment (so a change of `POSTGRES_TLS` or of the superuser rule takes effect
//! on the next start) and included by the `pg_hba.conf` a first start writes. Rules of the user's
//! own go in `pg_hba.conf` above the include line: the first rule that matches decides.

use std::path::Path;

use super::TlsMode;
use crate::runtime::replication::{
    quote_ident, PgbouncerLogin, PGBOUNCER_AUTH_USER, TRUSTED_NETWORKS,
};

/// The file, in the data directory.
pub const FILE: &str = "aza-hba.conf";
/// The line of `pg_hba.conf` that brings the rules in (relative: resolved next to pg_hba.conf);
/// `include`, not `include_if_exists`: without the file the server refuses to start (and a reload
/// keeps the rules it had) instead of running without the rules.
pub const INCLUDE_LINE: &str = "include aza-hba.conf";

/// What the rules depend on.
#[derive(Debug, Clone, Copy)]
pub struct NetworkInputs<'a> {
    pub tls: TlsMode,
    /// `POSTGRES_HOST_AUTH_METHOD` (scram-sha-256 unless the user chose otherwise).
    pub method: &'a str,
    /// `POSTGRES_NETWORK_SUPERUSER=refuse`: the superuser's name, refused over TCP except from
    /// loopback.
    pub refused_superuser: Option<&'a str>,
    /// The streaming replication role, on a primary that has one.
    pub replication_user: Option<&'a str>,
    /// How PgBouncer's auth_query role logs in, when it exists (`PGBOUNCER_AUTH`).
    pub pgbouncer: Option<&'a PgbouncerLogin>,
}

/// The rules, commented, in the order PostgreSQL reads them.
pub fn render(i: &NetworkInputs<'_>) -> String {
    let host = match i.tls {
        TlsMode::Required => "hostssl",
        TlsMode::Off | TlsMode::On => "host",
    };
    let mut out = String::from(
        "# Written by aza-entrypoint at every start from the environment; pg_hba.conf includes it\n",
    );
    if i.tls == TlsMode::Required {
        out.push_str(
            "# POSTGRES_TLS=required: a TCP connection without TLS is refused\n\
             hostnossl all all all reject\n\
             hostnossl replication all all reject\n",
        );
    }
    if let Some(superuser) = i.refused_superuser {
        let user = quote_ident(superuser);
        out.push_str(
            "# POSTGRES_NETWORK_SUPERUSER=refuse: the superuser only from inside the container\n",
        );
        for network in ["127.0.0.1/32", "::1/128"] {
            out.push_str(&format!("{host} all {user} {network} {}\n", i.method));
        }
        out.push_str(&format!("host all {user} all reject\n"));
    }
    if let Some(user) = i.replication_user {
        out.push_str("# Streaming replication (PG_REPLICATION_PASSWORD)\n");
        for network in TRUSTED_NETWORKS {
            out.push_str(&format!(
                "{host} replication {} {network} scram-sha-256\n",
                quote_ident(user)
            ));
        }
    }
    if let Some(login) = i.pgbouncer {
        let (host, method) = login.hba_rule(host);
        out.push_str("# PgBouncer's auth_query (PGBOUNCER_AUTH)\n");
        for network in TRUSTED_NETWORKS {
            out.push_str(&format!(
                "{host} all {PGBOUNCER_AUTH_USER} {network} {method}\n"
            ));
        }
        // Not from anywhere else, which the last rule would allow.
        out.push_str(&format!("host all {PGBOUNCER_AUTH_USER} all reject\n"));
    }
    if i.method == "trust" {
        out.push_str(
            "# WARNING: POSTGRES_HOST_AUTH_METHOD=trust lets anyone connect without a password\n",
        );
    } else {
        out.push_str("# Everyone else, with a password (POSTGRES_HOST_AUTH_METHOD)\n");
    }
    out.push_str(&format!("{host} all all all {}\n", i.method));
    out
}

/// Why a `pg_hba.conf` does not leave the decision to [`FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inclusion {
    /// No `include` or `include_if_exists` line names it.
    Missing,
    /// This rule, above the include, admits what the rules file would refuse: plaintext TCP (when
    /// `required`) or the superuser over TCP (when `refused_superuser`).
    AdmittedBefore(String),
}

/// Whether `hba` (a `pg_hba.conf` in `hba_dir`) includes `rules_file` with nothing above the
/// include that lets in what the rules refuse. PostgreSQL resolves a relative include against the
/// including file's directory; the first rule that matches decides.
pub fn check_inclusion(
    hba: &str,
    hba_dir: &Path,
    rules_file: &Path,
    required: bool,
    refused_superuser: Option<&str>,
) -> Result<(), Inclusion> {
    let mut admitted = None;
    for line in hba.lines() {
        let words: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        match words.as_slice() {
            ["include" | "include_if_exists", path, ..]
                if hba_dir.join(path.trim_matches(|c| c == '"' || c == '\'')) == rules_file =>
            {
                return admitted.map_or(Ok(()), |line| Err(Inclusion::AdmittedBefore(line)));
            }
            [kind, _, users, .., method] if kind.starts_with("host") && *method != "reject" => {
                let plaintext = required && *kind != "hostssl";
                let superuser = refused_superuser.is_some_and(|su| {
                    users
                        .split(',')
                        .any(|u| u == "all" || u.trim_matches('"') == su)
                });
                if (plaintext || superuser) && admitted.is_none() {
                    admitted = Some(words.join(" "));
                }
            }
            _ => {}
        }
    }
    Err(Inclusion::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::contract::Secret;

    static BY_PASSWORD: PgbouncerLogin = PgbouncerLogin::Password(Secret::new(String::new()));

    fn inputs(tls: TlsMode) -> NetworkInputs<'static> {
        NetworkInputs {
            tls,
            method: "scram-sha-256",
            refused_superuser: None,
            replication_user: Some("replicator"),
            pgbouncer: Some(&BY_PASSWORD),
        }
    }

    #[test]
    fn pgbouncer_by_certificate_is_admitted_only_with_tls_and_its_certificate() {
        for mode in [TlsMode::On, TlsMode::Required] {
            let text = render(&NetworkInputs {
                pgbouncer: Some(&PgbouncerLogin::Certificate),
                ..inputs(mode)
            });
            let rules = rules(&text);
            let own: Vec<&&str> = rules
                .iter()
                .filter(|r| r.contains(" pgbouncer_auth "))
                .collect();
            assert_eq!(own.len(), TRUSTED_NETWORKS.len() + 1, "{text}");
            assert!(own[..TRUSTED_NETWORKS.len()]
                .iter()
                .all(|r| r.starts_with("hostssl all pgbouncer_auth ") && r.ends_with(" cert")));
            assert_eq!(**own.last().unwrap(), "host all pgbouncer_auth all reject");
            assert!(!text.contains("pgbouncer_auth 10.0.0.0/8 scram"), "{text}");
        }
    }

    fn rules(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn tls_required_refuses_plaintext_first_and_admits_only_hostssl() {
        let text = render(&inputs(TlsMode::Required));
        let rules = rules(&text);
        assert_eq!(rules[0], "hostnossl all all all reject");
        assert_eq!(rules[1], "hostnossl replication all all reject");
        assert!(
            rules[2..]
                .iter()
                .all(|r| r.starts_with("hostssl ") || r.ends_with(" reject")),
            "{text}"
        );
        // PgBouncer's role only from the private ranges, before the catch-all could admit it.
        let at = |rule: &str| rules.iter().position(|r| *r == rule).expect(rule);
        assert!(at("host all pgbouncer_auth all reject") < at("hostssl all all all scram-sha-256"));
        assert_eq!(*rules.last().unwrap(), "hostssl all all all scram-sha-256");
        let offered = render(&inputs(TlsMode::On));
        assert!(
            rules_of(&offered).iter().all(|r| r.starts_with("host ")),
            "{offered}"
        );
    }

    fn rules_of(text: &str) -> Vec<String> {
        rules(text).into_iter().map(str::to_string).collect()
    }

    #[test]
    fn the_superuser_can_be_refused_over_the_network_but_not_from_loopback() {
        let text = render(&NetworkInputs {
            refused_superuser: Some("admin"),
            ..inputs(TlsMode::Off)
        });
        let rules = rules(&text);
        assert_eq!(
            &rules[..3],
            &[
                "host all \"admin\" 127.0.0.1/32 scram-sha-256",
                "host all \"admin\" ::1/128 scram-sha-256",
                "host all \"admin\" all reject",
            ]
        );
        // Before every rule that would admit it.
        assert!(rules[3..].iter().all(|r| !r.contains("admin")));
    }

    #[test]
    fn every_network_rule_asks_for_a_password_unless_trust_is_chosen_loudly() {
        let text = render(&inputs(TlsMode::Off));
        assert!(rules(&text)
            .iter()
            .all(|r| r.ends_with("scram-sha-256") || r.ends_with("reject")));
        let trusting = render(&NetworkInputs {
            method: "trust",
            ..inputs(TlsMode::Off)
        });
        assert!(trusting.contains("# WARNING: POSTGRES_HOST_AUTH_METHOD=trust"));
        assert!(trusting.ends_with("host all all all trust\n"));
    }

    #[test]
    fn the_include_must_name_the_file_and_come_before_what_it_would_refuse() {
        let dir = Path::new("/data");
        let file = Path::new("/data/aza-hba.conf");
        let check = |hba: &str, required: bool, su: Option<&str>| {
            check_inclusion(hba, dir, file, required, su)
        };
        let ours =
            "local all all trust\ninclude aza-hba.conf\nhost all all 127.0.0.1/32 scram-sha-256\n";
        assert_eq!(check(ours, true, Some("postgres")), Ok(()));
        assert_eq!(check("include '/data/aza-hba.conf'", true, None), Ok(()));
        // Commented out, another file, or relative to another directory: not the rules.
        assert_eq!(
            check("# include aza-hba.conf", false, None),
            Err(Inclusion::Missing)
        );
        assert_eq!(
            check("include_if_exists other.conf", false, None),
            Err(Inclusion::Missing)
        );
        assert_eq!(
            check_inclusion(
                "include aza-hba.conf",
                Path::new("/etc/postgresql"),
                file,
                false,
                None
            ),
            Err(Inclusion::Missing)
        );
        // A rule above the include that admits plaintext or the superuser.
        let old = "host all all all scram-sha-256\ninclude aza-hba.conf\n";
        assert_eq!(
            check(old, true, None),
            Err(Inclusion::AdmittedBefore(
                "host all all all scram-sha-256".into()
            ))
        );
        assert_eq!(check(old, false, None), Ok(()));
        let theirs = "hostssl app app 10.0.0.0/8 scram-sha-256\nhost all \"postgres\" 10.1.1.1/32 md5\ninclude aza-hba.conf";
        assert_eq!(
            check(theirs, true, None),
            Err(Inclusion::AdmittedBefore(
                "host all \"postgres\" 10.1.1.1/32 md5".into()
            ))
        );
        assert_eq!(
            check(
                "hostssl app app all scram-sha-256\ninclude aza-hba.conf",
                true,
                Some("postgres")
            ),
            Ok(())
        );
    }
}
