//! The TLS files: mounted ones checked before anything is written (exists, readable by the server's
//! user, a key only it can read, certificate and key a pair, not expired), generated ones made on
//! the first start that needs them (a private CA and a server certificate in `PGDATA/tls`, keys
//! 0600), and the network rules file written at every start. OpenSSL's command-line tool does the
//! cryptography: it is in the image, and a TLS library would not fit the static binary's budget.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid};

use super::log;
use crate::tls::{
    ca_key_dir, network_rules, Certificates, TlsSettings, GENERATED_CA, GENERATED_CERT,
    GENERATED_DIR, GENERATED_KEY,
};

/// A generated server certificate is made again this long before it expires (30 days).
const RENEW_BEFORE_SECONDS: u64 = 30 * 24 * 3600;

/// Every problem with the mounted files, each naming the file and what is wrong; `owner` is the
/// user the server will run as (`None`: this process's own).
pub fn check_mounted(tls: &TlsSettings, owner: Option<(Uid, Gid)>) -> Vec<String> {
    let Some(Certificates::Mounted { cert, key, ca }) = &tls.certificates else {
        return Vec::new();
    };
    let mut problems = check_pair(
        ("POSTGRES_TLS_CERT_FILE", cert),
        ("POSTGRES_TLS_KEY_FILE", key),
        owner,
    );
    if let Some(ca) = ca {
        problems.extend(check_ca("POSTGRES_TLS_CA_FILE", ca, owner));
    }
    problems
}

/// A certificate and its key, each `(variable, path)`: readable by `owner`, the key private and
/// unencrypted, the certificate unexpired, the two a pair.
pub fn check_pair(
    (cert_variable, cert): (&str, &Path),
    (key_variable, key): (&str, &Path),
    owner: Option<(Uid, Gid)>,
) -> Vec<String> {
    let (uid, gid) = owner.unwrap_or((Uid::effective(), Gid::effective()));
    let mut problems = Vec::new();
    let mut loaded =
        |variable: &str, path: &Path, secret: bool| match readable_by(path, uid, gid, secret) {
            Ok(()) => true,
            Err(why) => {
                problems.push(format!("{variable}={}: {why}", path.display()));
                false
            }
        };
    let cert_ok = loaded(cert_variable, cert, false);
    let key_ok = loaded(key_variable, key, true);
    let cert_key = cert_ok
        .then(|| certificate(cert, cert_variable))
        .and_then(|r| r.map_err(|why| problems.push(why)).ok());
    let key_public = key_ok
        .then(|| public_key_of(key, key_variable))
        .and_then(|r| r.map_err(|why| problems.push(why)).ok());
    if let (Some(from_cert), Some(from_key)) = (cert_key, key_public) {
        if from_cert != from_key {
            problems.push(format!(
                "{key_variable}={} is not the key of {cert_variable}={}",
                key.display(),
                cert.display()
            ));
        }
    }
    problems
}

/// A CA certificate `owner` can read and OpenSSL can load.
pub fn check_ca(variable: &str, ca: &Path, owner: Option<(Uid, Gid)>) -> Vec<String> {
    let (uid, gid) = owner.unwrap_or((Uid::effective(), Gid::effective()));
    let checked = readable_by(ca, uid, gid, false)
        .map_err(|why| format!("{variable}={}: {why}", ca.display()))
        .and_then(|()| certificate(ca, variable).map(drop));
    checked.err().into_iter().collect()
}

/// A regular file the server's user can read; a key also readable by nobody else, by PostgreSQL's
/// own rule (owned by that user with no group or other access, or by root with at most group read
/// for that user's group).
fn readable_by(path: &Path, uid: Uid, gid: Gid, secret: bool) -> Result<(), String> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file (is it mounted?)".to_string(),
        _ => format!("cannot be read ({e})"),
    })?;
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    let mode = meta.mode() & 0o7777;
    let (owner, group) = (meta.uid(), meta.gid());
    if secret {
        let private = if owner == uid.as_raw() {
            mode & 0o077 == 0
        } else {
            owner == 0 && mode & 0o037 == 0 && group == gid.as_raw() && mode & 0o040 != 0
        };
        if !private {
            return Err(format!(
                "has mode {mode:04o}, owner {owner}, group {group}: a key must be 0600 and the \
                 server user's ({}), or 0640 and root's with group {} (PostgreSQL's rule)",
                uid.as_raw(),
                gid.as_raw()
            ));
        }
    }
    let readable = (owner == uid.as_raw() && mode & 0o400 != 0)
        || (group == gid.as_raw() && mode & 0o040 != 0)
        || mode & 0o004 != 0
        || uid.is_root();
    if !readable {
        return Err(format!(
            "has mode {mode:04o}, owner {owner}, group {group}: the server's user ({}) cannot read it",
            uid.as_raw()
        ));
    }
    Ok(())
}

/// Runs `openssl` with `args`; its standard output, or the first line it printed as an error.
fn openssl(args: &[&str]) -> Result<String, String> {
    let output = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run openssl ({e}): the TLS checks need OpenSSL's tool"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no reason given");
    Err(line.to_string())
}

/// The certificate's public key, once it loaded and has not expired.
fn certificate(path: &Path, variable: &str) -> Result<String, String> {
    let file = path.to_string_lossy();
    let at = format!("{variable}={file}");
    let out = openssl(&["x509", "-in", &file, "-noout", "-enddate", "-pubkey"])
        .map_err(|why| format!("{at}: is not a PEM certificate ({why})"))?;
    let end = out
        .lines()
        .find_map(|l| l.strip_prefix("notAfter="))
        .unwrap_or("?")
        .to_string();
    if openssl(&["x509", "-in", &file, "-noout", "-checkend", "0"]).is_err() {
        return Err(format!(
            "{at}: expired on {end}: renew it (clients refuse an expired certificate)"
        ));
    }
    Ok(pem_block(&out, "PUBLIC KEY"))
}

/// The certificate's subject common name, as PostgreSQL's `cert` method reads it (the first CN
/// in the certificate's own order, which RFC 2253 prints last); `None` when it has none or cannot be
/// read.
pub fn common_name(path: &Path) -> Option<String> {
    let file = path.to_string_lossy();
    let out = openssl(&[
        "x509", "-in", &file, "-noout", "-subject", "-nameopt", "RFC2253",
    ])
    .ok()?;
    let subject = out.trim().strip_prefix("subject=")?;
    // RFC 2253 escapes a comma inside a value with a backslash.
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in subject.chars() {
        match (escaped, c) {
            (false, '\\') => escaped = true,
            (false, ',' | '+') => parts.push(std::mem::take(&mut current)),
            (_, c) => {
                current.push(c);
                escaped = false;
            }
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .rev()
        .find_map(|part| part.strip_prefix("CN=").map(str::to_string))
}

/// The public key of a private key file (an encrypted key is refused: nobody can type its
/// passphrase in a container).
fn public_key_of(path: &Path, variable: &str) -> Result<String, String> {
    let file = path.to_string_lossy();
    openssl(&["pkey", "-in", &file, "-passin", "pass:", "-pubout"])
        .map(|out| pem_block(&out, "PUBLIC KEY"))
        .map_err(|why| {
            format!(
                "{variable}={file}: is not an unencrypted PEM private key ({why}); nobody can \
                 type a passphrase in a container"
            )
        })
}

fn pem_block(text: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if b > a => text[a..b + end.len()].to_string(),
        _ => String::new(),
    }
}

/// Makes the generated files in `pgdata` when they are missing, expire within 30 days or do not
/// name every host name; runs as the server's user. The CA is kept (clients that trust
/// `tls/ca.crt` go on trusting a renewed server certificate).
pub fn ensure_generated(tls: &TlsSettings, pgdata: &Path) -> Result<(), String> {
    let Some(Certificates::Generated { hostnames }) = &tls.certificates else {
        return Ok(());
    };
    let dir = pgdata.join(GENERATED_DIR);
    let path = |name: &str| pgdata.join(name).to_string_lossy().into_owned();
    let fail = |what: &str, why: String| format!("cannot {what} in {}: {why}", dir.display());
    fs::create_dir_all(&dir).map_err(|e| fail("create the TLS directory", e.to_string()))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| fail("make the TLS directory private", e.to_string()))?;
    let ca_key = ca_key_path(pgdata).to_string_lossy().into_owned();
    let in_pgdata = path(GENERATED_CA_KEY_IN_PGDATA);
    if ca_key == in_pgdata {
        log::warning(&format!(
            "[TLS] the private CA's key is kept in {in_pgdata}, so backups and replicas carry it: \
             PGDATA is a file system of its own; mount the volume at its parent, or mount \
             certificates"
        ));
    } else if Path::new(&in_pgdata).is_file() {
        rename(&in_pgdata, &ca_key)?;
    }
    let have_ca = match (
        pgdata.join(GENERATED_CA).is_file(),
        Path::new(&ca_key).is_file(),
    ) {
        (true, true) => true,
        (true, false) => {
            log::warning(&format!(
                "[TLS] the private CA's key is not at {ca_key}: making a new CA; clients must trust \
                 the new {}",
                pgdata.join(GENERATED_CA).display()
            ));
            false
        }
        (false, _) => false,
    };
    if have_ca && pgdata.join(GENERATED_KEY).is_file() {
        if let Some(why) = renewal_reason(pgdata, hostnames) {
            log::info(&format!("[TLS] making a new server certificate: {why}"));
        } else {
            return Ok(());
        }
    }
    if !have_ca {
        let key = format!("{ca_key}.new");
        let crt = path(&format!("{GENERATED_CA}.new"));
        new_key_request(
            &key,
            &crt,
            "/CN=aza-pg private CA",
            &[
                "-x509",
                "-days",
                "3650",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )
        .map_err(|why| fail("make a private CA", why))?;
        rename(&key, &ca_key)?;
        rename(&crt, &path(GENERATED_CA))?;
    }
    let alt_names: Vec<String> = hostnames
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(_) => format!("IP:{name}"),
            Err(_) => format!("DNS:{name}"),
        })
        .chain(["IP:127.0.0.1".to_string(), "IP:::1".to_string()])
        .collect();
    let extensions = path(&format!("{GENERATED_DIR}/server.ext"));
    let mut file =
        fs::File::create(&extensions).map_err(|e| fail("write the extensions", e.to_string()))?;
    write!(
        file,
        "subjectAltName={}\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        alt_names.join(",")
    )
    .map_err(|e| fail("write the extensions", e.to_string()))?;
    let key = path(&format!("{GENERATED_KEY}.new"));
    let csr = path(&format!("{GENERATED_DIR}/server.csr"));
    let crt = path(&format!("{GENERATED_CERT}.new"));
    let subject = format!("/CN={}", hostnames.first().map_or("localhost", |n| n));
    new_key_request(&key, &csr, &subject, &["-new"])
        .map_err(|why| fail("make the server's key", why))?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &path(GENERATED_CA),
        "-CAkey",
        &ca_key,
        "-days",
        "397",
        "-out",
        &crt,
        "-extfile",
        &extensions,
    ])
    .map_err(|why| fail("sign the server certificate", why))?;
    let _ = fs::remove_file(&csr);
    let _ = fs::remove_file(&extensions);
    rename(&key, &path(GENERATED_KEY))?;
    rename(&crt, &path(GENERATED_CERT))?;
    log::info(&format!(
        "[TLS] generated a server certificate for {}; clients verify it with {}",
        hostnames.join(", "),
        pgdata.join(GENERATED_CA).display()
    ));
    Ok(())
}

/// The generated CA's key in `PGDATA.ca/` (see [`ca_key_dir`]) when that directory exists (made with
/// `PGDATA` when both are on one file system), else in `PGDATA/tls/`.
fn ca_key_path(pgdata: &Path) -> PathBuf {
    let beside = ca_key_dir(pgdata);
    if beside.is_dir() {
        beside.join("ca.key")
    } else {
        pgdata.join(GENERATED_CA_KEY_IN_PGDATA)
    }
}

/// Where the CA's key directory goes: beside `PGDATA` when its parent is on the same file system
/// (the volume holds the parent, as in the image's layout), else nowhere: a volume mounted at
/// `PGDATA` itself keeps nothing beside it.
pub fn ca_key_dir_to_make(tls: &TlsSettings, pgdata: &Path) -> Option<PathBuf> {
    let Some(Certificates::Generated { .. }) = tls.certificates else {
        return None;
    };
    let device = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    let parent = pgdata.parent()?;
    (device(pgdata)? == device(parent)?).then(|| ca_key_dir(pgdata))
}

/// The CA key's place when `PGDATA` is a file system of its own.
const GENERATED_CA_KEY_IN_PGDATA: &str = "tls/ca.key";

/// `openssl req` with a new EC P-256 key at `key` (made private) for `subject`, writing `out`: a
/// self-signed certificate or a request, as `kind` says.
fn new_key_request(key: &str, out: &str, subject: &str, kind: &[&str]) -> Result<(), String> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let files = ["-keyout", key, "-out", out, "-subj", subject];
    openssl(&[&["req"][..], kind, &ec, &files].concat())?;
    private(key)
}

/// Why the generated certificate must be made again, if it must (a start stopped between the key's
/// rename and the certificate's leaves a pair that does not match: made again too).
fn renewal_reason(pgdata: &Path, hostnames: &[String]) -> Option<String> {
    let cert = &*pgdata.join(GENERATED_CERT).to_string_lossy().into_owned();
    let seconds = RENEW_BEFORE_SECONDS.to_string();
    // One look at the certificate: its public key, its names, and whether it lasts 30 more days.
    let out = match openssl(&[
        "x509",
        "-in",
        cert,
        "-noout",
        "-pubkey",
        "-ext",
        "subjectAltName",
        "-checkend",
        &seconds,
    ]) {
        Ok(out) => out,
        Err(why) => {
            return Some(format!(
                "{cert} expires within 30 days or cannot be read ({why})"
            ))
        }
    };
    match public_key_of(&pgdata.join(GENERATED_KEY), "key") {
        Err(why) => return Some(why),
        Ok(key) if key != pem_block(&out, "PUBLIC KEY") => {
            return Some(format!("{cert} is not the certificate of its key"))
        }
        Ok(_) => {}
    }
    let named: Vec<&str> = out
        .split([',', '\n'])
        .filter_map(|part| {
            let part = part.trim();
            part.strip_prefix("DNS:")
                .or_else(|| part.strip_prefix("IP Address:"))
        })
        .collect();
    let missing: Vec<&str> = hostnames
        .iter()
        .map(String::as_str)
        .filter(|name| {
            !named
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name) || same_ip(n, name))
        })
        .collect();
    (!missing.is_empty()).then(|| format!("{cert} does not name {}", missing.join(", ")))
}

fn same_ip(a: &str, b: &str) -> bool {
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
}

fn private(path: &str) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot make {path} private: {e}"))
}

fn rename(from: &str, to: &str) -> Result<(), String> {
    fs::rename(from, to).map_err(|e| format!("cannot move {from} to {to}: {e}"))
}

/// Writes the network rules into `pgdata` (atomically, 0600), as the server's user.
pub fn write_network_rules(pgdata: &Path, rules: &str) -> Result<PathBuf, String> {
    let path = pgdata.join(network_rules::FILE);
    super::settings_file::replace(&path, rules.as_bytes(), 0o600)
        .map_err(|e| format!("cannot write the network rules {}: {e}", path.display()))?;
    Ok(path)
}
