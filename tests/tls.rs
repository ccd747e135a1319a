//! TLS for real (issue 17): a PostgreSQL 18 started by the entrypoint with a generated private CA or
//! with mounted certificates, probed by libpq (`sslmode`) and by `openssl s_client`; bad certificate
//! files refused at start, all at once, before anything is written; a replaced certificate served
//! after a SIGHUP; the superuser refused over the network when asked. Certificates for the tests are
//! made with the same OpenSSL tool the image carries.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::pki::{openssl, Pki};
use support::server::{postgres_bin, Instance, PASSWORD};
use support::{describe, entrypoint_command, text, timeout};

fn postgres_ids() -> (u32, u32) {
    let user = nix::unistd::User::from_name("postgres")
        .unwrap()
        .expect("a postgres user on this machine");
    (user.uid.as_raw(), user.gid.as_raw())
}

/// A certificates directory in the instance's temp dir, its files the server user's.
fn pki_for(instance: &Instance) -> Pki {
    Pki::create(&instance.dir.path().join("certs"), postgres_ids())
}

/// Names every server certificate of these tests has.
const LOOPBACK: &str = "DNS:localhost,IP:127.0.0.1";

/// psql over TCP to 127.0.0.1 (or `host`) with extra libpq options, as the superuser.
fn psql_with(pg: &Instance, host: &str, options: &str, sql: &str) -> Result<String, String> {
    let conninfo = format!(
        "host={host} port={} user=postgres dbname=postgres connect_timeout=5 {options}",
        pg.port
    );
    let output = Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", PASSWORD)
        .args([
            "-X",
            "-At",
            "-w",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &conninfo,
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    if output.status.success() {
        Ok(text(&output.stdout).trim_end().to_string())
    } else {
        Err(text(&output.stderr))
    }
}

const OWN_TLS: &str = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// `openssl s_client -starttls postgres` against the server: whether the handshake succeeded, and
/// what it printed (the served certificate among it).
fn s_client(pg: &Instance, options: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(["s_client", "-starttls", "postgres", "-connect"])
        .arg(format!("127.0.0.1:{}", pg.port))
        .args(options)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    (output.status.success(), all)
}

/// The first PEM certificate in `text`.
fn first_certificate(text: &str) -> Option<String> {
    let begin = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[begin..].find("-----END CERTIFICATE-----")? + begin;
    Some(text[begin..end].to_string())
}

fn served_certificate(pg: &Instance) -> String {
    let (ok, out) = s_client(pg, &[]);
    assert!(ok, "s_client failed: {out}");
    first_certificate(&out).unwrap_or_else(|| panic!("no certificate in: {out}"))
}

fn file_certificate(path: &Path) -> String {
    first_certificate(&fs::read_to_string(path).expect("certificate file")).expect("a PEM file")
}

#[test]
fn a_generated_ca_serves_tls_required_and_plaintext_and_old_protocols_are_refused() {
    let mut pg = Instance::new();
    pg.set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_GENERATE", "true")
        .set_env("HOSTNAME", "db-test")
        .set_env("POSTGRES_TLS_HOSTNAMES", "db.example.test");
    pg.start();
    pg.wait_ready();

    // libpq's default (prefer) gets TLS 1.3; plaintext is refused by the network rules.
    assert_eq!(pg.psql(OWN_TLS).unwrap(), "t|TLSv1.3");
    let plain = psql_with(&pg, "127.0.0.1", "sslmode=disable", "SELECT 1").unwrap_err();
    assert!(plain.contains("no encryption"), "{plain}");
    // The client verifies the server against the private CA, by name and by address.
    let ca = pg.pgdata.join("tls/ca.crt");
    let verify = format!("sslmode=verify-full sslrootcert={}", ca.display());
    for host in ["localhost", "127.0.0.1"] {
        assert_eq!(
            psql_with(&pg, host, &verify, "SELECT 1").unwrap(),
            "1",
            "{host}"
        );
    }
    // ... and a CA that did not sign it makes verification fail, so the check above means something.
    let pki = pki_for(&pg);
    pki.ca("stranger");
    let foreign = format!(
        "sslmode=verify-full sslrootcert={}",
        pki.text("stranger.crt")
    );
    let refused = psql_with(&pg, "localhost", &foreign, "SELECT 1").unwrap_err();
    assert!(refused.contains("certificate verify failed"), "{refused}");

    // TLS 1.1 and a TLS 1.2 suite without forward secrecy are refused; TLS 1.2 with a strong suite
    // is accepted (the probe works).
    let (old, out) = s_client(&pg, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert!(!old, "TLS 1.1 was accepted:\n{out}");
    let (weak, out) = s_client(&pg, &["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"]);
    assert!(
        !weak,
        "a TLS 1.2 suite without forward secrecy was accepted:\n{out}"
    );
    let (strong, out) = s_client(&pg, &["-tls1_2"]);
    assert!(strong && out.contains("TLSv1.2"), "TLS 1.2 refused:\n{out}");

    // The files: in PGDATA/tls, the CA's key beside PGDATA (out of backups and replicas), the
    // server's, keys private, nothing printed.
    let (uid, _) = postgres_ids();
    let ca_dir = pg.dir.path().join("pgdata.ca");
    for dir in [pg.pgdata.join("tls"), ca_dir.clone()] {
        let meta = fs::metadata(&dir).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (uid, 0o700),
            "{}",
            dir.display()
        );
    }
    for key in [ca_dir.join("ca.key"), pg.pgdata.join("tls/server.key")] {
        let meta = fs::metadata(&key).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (uid, 0o600),
            "{}",
            key.display()
        );
    }
    assert!(!pg.pgdata.join("tls/ca.key").exists());
    assert!(!pg.log_text().contains("PRIVATE KEY"), "{}", pg.log_tail());
    assert!(pg
        .log_text()
        .contains("generated a server certificate for db-test, localhost, db.example.test"));
    // The rules PostgreSQL loaded come from the included file.
    let types = pg
        .psql(
            "SELECT string_agg(DISTINCT type, ',' ORDER BY type) FROM pg_hba_file_rules \
             WHERE file_name LIKE '%aza-hba.conf'",
        )
        .unwrap();
    assert_eq!(types, "hostnossl,hostssl");

    // A restart keeps both; a new host name makes a new server certificate from the same CA.
    let ca_before = fs::read(&ca).unwrap();
    let cert_before = fs::read(pg.pgdata.join("tls/server.crt")).unwrap();
    pg.stop();
    pg.start();
    pg.wait_ready();
    assert_eq!(
        fs::read(pg.pgdata.join("tls/server.crt")).unwrap(),
        cert_before
    );
    pg.stop();
    pg.set_env("POSTGRES_TLS_HOSTNAMES", "db.example.test,db2.example.test");
    pg.start();
    pg.wait_ready();
    assert_eq!(fs::read(&ca).unwrap(), ca_before, "the CA was replaced");
    let cert = pg.pgdata.join("tls/server.crt");
    assert_ne!(fs::read(&cert).unwrap(), cert_before);
    let names = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        text(&names.stdout).contains("DNS:db2.example.test"),
        "{}",
        describe(&names)
    );
    assert_eq!(
        psql_with(&pg, "localhost", &verify, "SELECT 1").unwrap(),
        "1"
    );
    assert_eq!(served_certificate(&pg), file_certificate(&cert));

    // A start stopped between the key's rename and the certificate's left a pair that does not
    // match: the next start makes the certificate again instead of failing on it for ever.
    pg.stop();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-out",
        pg.pgdata.join("tls/server.key").to_str().unwrap(),
    ]);
    pg.start();
    pg.wait_ready();
    assert!(
        pg.log_text().contains("is not the certificate of its key"),
        "{}",
        pg.log_tail()
    );
    assert_eq!(
        psql_with(&pg, "localhost", &verify, "SELECT 1").unwrap(),
        "1"
    );
}

#[test]
fn a_mounted_certificate_is_offered_and_a_replaced_one_is_served_after_sighup() {
    let mut pg = Instance::new();
    let pki = pki_for(&pg);
    pki.ca("ca");
    pki.server("first", Some("ca"), LOOPBACK, "30");
    pki.give("ca.crt", 0o644);
    let (cert, key) = (pki.path("server.crt"), pki.path("server.key"));
    fs::copy(pki.path("first.crt"), &cert).unwrap();
    fs::copy(pki.path("first.key"), &key).unwrap();
    pki.give("server.crt", 0o644);
    pki.give("server.key", 0o600);
    pg.set_env("POSTGRES_TLS", "on")
        .set_env("POSTGRES_TLS_CERT_FILE", cert.to_str().unwrap())
        .set_env("POSTGRES_TLS_KEY_FILE", key.to_str().unwrap())
        .set_env("POSTGRES_TLS_CA_FILE", &pki.text("ca.crt"));
    pg.start();
    pg.wait_ready();

    // Offered, not required: plaintext still works, TLS verifies against the mounted CA.
    assert_eq!(
        psql_with(&pg, "127.0.0.1", "sslmode=disable", OWN_TLS).unwrap(),
        "f|"
    );
    let verify = format!("sslmode=verify-full sslrootcert={}", pki.text("ca.crt"));
    assert_eq!(
        psql_with(&pg, "localhost", &verify, "SELECT 1").unwrap(),
        "1"
    );
    assert_eq!(
        served_certificate(&pg),
        file_certificate(&pki.path("first.crt"))
    );

    // The files are replaced in place (as a renewed secret is) and the container gets SIGHUP.
    pki.server("second", Some("ca"), LOOPBACK, "30");
    for (from, to) in [("second.crt", &cert), ("second.key", &key)] {
        let staged = pki.path(&format!("{from}.staged"));
        fs::copy(pki.path(from), &staged).unwrap();
        pki.give(&format!("{from}.staged"), 0o600);
        fs::rename(&staged, to).unwrap();
    }
    pg.signal_pid1("HUP");
    let wanted = file_certificate(&pki.path("second.crt"));
    let deadline = Instant::now() + timeout(Duration::from_secs(20));
    while served_certificate(&pg) != wanted {
        assert!(
            Instant::now() < deadline,
            "the replaced certificate is not served after SIGHUP\n{}",
            pg.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        psql_with(&pg, "localhost", &verify, "SELECT 1").unwrap(),
        "1"
    );
}

/// Runs a start that must be refused (killed, and the test failed, if it is not); its output.
fn refused_start(pg: &Instance) -> String {
    let output_path = pg.dir.path().join("refused.log");
    let out = fs::File::create(&output_path).unwrap();
    let mut child = pg
        .entrypoint_command(&[])
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start the entrypoint");
    let deadline = Instant::now() + timeout(Duration::from_secs(30));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the start was not refused:\n{}",
                fs::read_to_string(&output_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = fs::read_to_string(&output_path).unwrap();
    assert_eq!(status.code(), Some(1), "{output}");
    output
}

/// A refused first start: PGDATA was not even created.
fn refused_first_start(pg: &Instance) -> String {
    let output = refused_start(pg);
    assert!(!pg.pgdata.exists(), "PGDATA was created:\n{output}");
    output
}

#[test]
fn bad_mounted_files_are_refused_at_start_all_at_once_before_anything_is_written() {
    let mut pg = Instance::new();
    let pki = pki_for(&pg);
    pki.ca("ca");
    pki.server("good", Some("ca"), LOOPBACK, "30");
    pki.server("other", Some("ca"), LOOPBACK, "30");
    pki.server("expired", Some("ca"), LOOPBACK, "-1");
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-aes256",
        "-pass",
        "pass:secret",
        "-out",
        &pki.text("encrypted.key"),
    ]);
    pki.give("encrypted.key", 0o600);
    fs::write(pki.path("not-a-ca.crt"), "hello\n").unwrap();
    pki.give("not-a-ca.crt", 0o644);
    pg.set_env("POSTGRES_TLS", "required");

    // Missing certificate, encrypted key, a CA that is no certificate: three problems, one refusal.
    pg.set_env("POSTGRES_TLS_CERT_FILE", &pki.text("missing.crt"))
        .set_env("POSTGRES_TLS_KEY_FILE", &pki.text("encrypted.key"))
        .set_env("POSTGRES_TLS_CA_FILE", &pki.text("not-a-ca.crt"));
    let out = refused_first_start(&pg);
    for wanted in [
        format!(
            "POSTGRES_TLS_CERT_FILE={}: no such file",
            pki.text("missing.crt")
        ),
        format!(
            "POSTGRES_TLS_KEY_FILE={}: is not an unencrypted PEM private key",
            pki.text("encrypted.key")
        ),
        format!(
            "POSTGRES_TLS_CA_FILE={}: is not a PEM certificate",
            pki.text("not-a-ca.crt")
        ),
    ] {
        assert!(out.contains(&wanted), "'{wanted}' missing:\n{out}");
    }

    // An expired certificate and a key others can read.
    pki.give("expired.key", 0o644);
    pg.remove_env("POSTGRES_TLS_CA_FILE")
        .set_env("POSTGRES_TLS_CERT_FILE", &pki.text("expired.crt"))
        .set_env("POSTGRES_TLS_KEY_FILE", &pki.text("expired.key"));
    let out = refused_first_start(&pg);
    assert!(
        out.contains(&format!(
            "POSTGRES_TLS_CERT_FILE={}: expired on",
            pki.text("expired.crt")
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "POSTGRES_TLS_KEY_FILE={}: has mode 0644",
            pki.text("expired.key")
        )),
        "{out}"
    );

    // A key that is not the certificate's.
    pg.set_env("POSTGRES_TLS_CERT_FILE", &pki.text("good.crt"))
        .set_env("POSTGRES_TLS_KEY_FILE", &pki.text("other.key"));
    let out = refused_first_start(&pg);
    assert!(
        out.contains(&format!(
            "POSTGRES_TLS_KEY_FILE={} is not the key of POSTGRES_TLS_CERT_FILE={}",
            pki.text("other.key"),
            pki.text("good.crt")
        )),
        "{out}"
    );

    // A key owned by root, 0600: the server's user could not read it.
    let root_key = pki.path("good.key");
    std::os::unix::fs::chown(&root_key, Some(0), Some(0)).unwrap();
    pg.set_env("POSTGRES_TLS_KEY_FILE", &pki.text("good.key"));
    let out = refused_first_start(&pg);
    assert!(
        out.contains(&format!(
            "POSTGRES_TLS_KEY_FILE={}: has mode 0600, owner 0",
            pki.text("good.key")
        )),
        "{out}"
    );
}

/// An address of this machine that is not loopback: a connection to it comes from it, so the rules
/// see a network client.
fn non_loopback_address() -> String {
    let output = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    text(&output.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "this machine has no non-loopback IPv4 address (hostname -I: {:?}); the superuser \
                 rule cannot be tested over the network",
                text(&output.stdout)
            )
        })
}

#[test]
fn the_superuser_can_be_refused_over_the_network_while_others_log_in() {
    let address = non_loopback_address();
    let mut pg = Instance::new();
    pg.set_env("POSTGRES_NETWORK_SUPERUSER", "refuse")
        .set_env("POSTGRES_BIND_IP", &format!("127.0.0.1,{address}"));
    pg.script(
        "01-app.sql",
        format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}';\n").as_bytes(),
        0o644,
    );
    pg.start();
    pg.wait_ready();
    // From loopback (wait_ready's login) the superuser is let in; over the network it is refused.
    let refused = psql_with(&pg, &address, "sslmode=disable", "SELECT 1").unwrap_err();
    assert!(refused.contains("rejects connection"), "{refused}");
    let app = Command::new(postgres_bin().join("psql"))
        .env_clear()
        .env("PGPASSWORD", PASSWORD)
        .args([
            "-X",
            "-At",
            "-w",
            "-h",
            &address,
            "-p",
            &pg.port.to_string(),
        ])
        .args(["-U", "app", "-d", "postgres", "-c", "SELECT current_user"])
        .output()
        .unwrap();
    assert_eq!(text(&app.stdout).trim(), "app", "{}", describe(&app));
}

#[test]
fn the_dry_run_shows_the_network_rules_and_refuses_what_cannot_be() {
    let output = entrypoint_command(&[
        ("POSTGRES_TLS", "required"),
        ("POSTGRES_TLS_GENERATE", "true"),
        ("POSTGRES_NETWORK_SUPERUSER", "refuse"),
        ("PG_REPLICATION_PASSWORD", "r"),
    ])
    .args(["--dry-run", "--format", "hba"])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let rules: Vec<String> = text(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert_eq!(rules[0], "hostnossl all all all reject");
    assert!(
        rules.contains(&"host all \"postgres\" all reject".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"hostssl replication \"replicator\" 10.0.0.0/8 scram-sha-256".to_string()),
        "{rules:?}"
    );
    assert_eq!(rules.last().unwrap(), "hostssl all all all scram-sha-256");
    // The table shows them too, after the settings, which include the TLS ones.
    let table = entrypoint_command(&[("POSTGRES_TLS", "on"), ("POSTGRES_TLS_GENERATE", "true")])
        .arg("--dry-run")
        .output()
        .unwrap();
    let shown = text(&table.stdout);
    assert!(
        shown.contains("Network rules (PGDATA/aza-hba.conf"),
        "{shown}"
    );
    assert!(shown.contains("ssl_min_protocol_version"), "{shown}");

    // Every problem at once: the mode, a relative path, a half pair for PgBouncer, a replica that
    // would verify without a CA.
    let bad = entrypoint_command(&[
        ("POSTGRES_TLS", "maybe"),
        ("POSTGRES_TLS_CERT_FILE", "server.crt"),
        ("PGBOUNCER_TLS", "on"),
        ("PGBOUNCER_TLS_CERT_FILE", "/c.crt"),
        ("POSTGRES_ROLE", "replica"),
        ("PRIMARY_HOST", "db"),
        ("PG_REPLICATION_PASSWORD", "r"),
        ("PG_REPLICATION_SSLMODE", "verify-full"),
    ])
    .arg("--dry-run")
    .output()
    .unwrap();
    let errors = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    for wanted in [
        "POSTGRES_TLS='maybe'",
        "POSTGRES_TLS_CERT_FILE='server.crt'",
        "PGBOUNCER_TLS_KEY_FILE is not set",
        "PG_REPLICATION_SSLROOTCERT is not set",
    ] {
        assert!(errors.contains(wanted), "'{wanted}' missing:\n{errors}");
    }
}

#[test]
fn a_cluster_whose_pg_hba_lacks_the_include_is_refused_when_tls_is_required() {
    let mut pg = Instance::new();
    pg.start();
    pg.wait_ready();
    pg.stop();
    // As a cluster from before the entrypoint wrote its rules: pg_hba.conf without the include.
    let hba = pg.pgdata.join("pg_hba.conf");
    let own: String = fs::read_to_string(&hba)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("include"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&hba, own).unwrap();
    pg.set_env("POSTGRES_TLS", "required")
        .set_env("POSTGRES_TLS_GENERATE", "true");
    let out = refused_start(&pg);
    assert!(
        out.contains("does not include") && out.contains("add the line 'include /"),
        "{out}"
    );
    assert!(
        !pg.pgdata.join("tls").exists(),
        "files were generated:\n{out}"
    );

    // The include appended below the old catch-all rule: that rule would admit plaintext first.
    let mut appended = fs::read_to_string(&hba).unwrap();
    appended.push_str("host all all all scram-sha-256\ninclude aza-hba.conf\n");
    fs::write(&hba, appended).unwrap();
    let out = refused_start(&pg);
    assert!(
        out.contains("has 'host all all 127.0.0.1/32 scram-sha-256' above the include"),
        "{out}"
    );
}

/// Unmounts the tmpfs at its path when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn with_pgdata_a_volume_of_its_own_the_cas_key_stays_inside_with_a_warning() {
    let mut pg = Instance::new();
    fs::create_dir(&pg.pgdata).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&pg.pgdata)
        .output()
        .unwrap();
    assert!(
        mounted.status.success(),
        "mount a tmpfs: {}",
        describe(&mounted)
    );
    let _mount = Mounted(pg.pgdata.clone());
    pg.set_env("POSTGRES_TLS", "on")
        .set_env("POSTGRES_TLS_GENERATE", "true");
    pg.start();
    pg.wait_ready();
    assert!(pg.pgdata.join("tls/ca.key").is_file());
    assert!(!pg.dir.path().join("pgdata.ca").exists());
    assert!(
        pg.log_text().contains("the private CA's key is kept in")
            && pg.log_text().contains("PGDATA is a file system of its own"),
        "{}",
        pg.log_tail()
    );
    pg.stop();
}
