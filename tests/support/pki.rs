//! Test certificates, made with OpenSSL's command-line tool (the one the image carries) apart from
//! the entrypoint's own code, so a test checks the entrypoint against certificates it did not make:
//! CAs, server certificates signed by one (or self-signed), owned by the user a server runs as.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::describe;

/// Runs `openssl` and asserts that it worked.
pub fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        describe(&output)
    );
}

/// A directory of certificates (0755, so the server's user reaches it) and the user and group that
/// get the files a server reads.
pub struct Pki {
    pub dir: PathBuf,
    owner: (u32, u32),
}

impl Pki {
    /// Creates `dir`; files given with [`Pki::give`] go to `owner` (user ID, group ID).
    pub fn create(dir: &Path, owner: (u32, u32)) -> Pki {
        fs::create_dir_all(dir).expect("certificates directory");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod certificates");
        Pki {
            dir: dir.to_path_buf(),
            owner,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn text(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 path").to_string()
    }

    /// `NAME.crt` and `NAME.key`: a CA (EC P-256, 30 days), left as root's.
    pub fn ca(&self, name: &str) {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &self.text(&format!("{name}.key")),
            "-out",
            &self.text(&format!("{name}.crt")),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ]);
    }

    /// `NAME.crt` and `NAME.key`: a certificate for `alt_names` (`DNS:localhost,IP:127.0.0.1`),
    /// signed by the CA `ca` (`None`: self-signed), valid for `days` (-1: expired yesterday); given to
    /// the owner, the key 0600.
    pub fn server(&self, name: &str, ca: Option<&str>, alt_names: &str, days: &str) {
        let (key, crt) = (
            self.text(&format!("{name}.key")),
            self.text(&format!("{name}.crt")),
        );
        let subject = format!("/CN={name}");
        match ca {
            None => openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &crt,
                "-days",
                days,
                "-subj",
                &subject,
                "-addext",
                &format!("subjectAltName={alt_names}"),
            ]),
            Some(ca) => {
                let csr = self.text(&format!("{name}.csr"));
                let ext = self.text(&format!("{name}.ext"));
                fs::write(&ext, format!("subjectAltName={alt_names}\n")).expect("extensions");
                openssl(&[
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &subject,
                ]);
                openssl(&[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &self.text(&format!("{ca}.crt")),
                    "-CAkey",
                    &self.text(&format!("{ca}.key")),
                    "-days",
                    days,
                    "-out",
                    &crt,
                    "-extfile",
                    &ext,
                ]);
            }
        }
        self.give(&format!("{name}.key"), 0o600);
        self.give(&format!("{name}.crt"), 0o644);
    }

    /// Gives the file to the owner with `mode`.
    pub fn give(&self, name: &str, mode: u32) {
        let path = self.path(name);
        std::os::unix::fs::chown(&path, Some(self.owner.0), Some(self.owner.1)).expect("chown");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    }
}
