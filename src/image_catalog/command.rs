//! `aza-image-catalog`: the image build's record of what it installed. Its own program, not a verb of
//! the entrypoint, because it runs once per build and the inspection would otherwise take room in the
//! size-budgeted PID 1 of every container.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use super::inspect;
use crate::runtime::{log, stdio};

pub const HELP: &str = "\
aza-image-catalog: at image build time (as root), record what the image has of the extension
manifest, entry by entry

Usage:
  aza-image-catalog [--write] [--manifest PATH] [--notes PATH] [--output PATH]
                    [--package-source vendor|distribution|none]

Without --write it prints the catalog; with it, it writes --output (default
/usr/share/aza-pg/image-catalog.json), which every start of aza-entrypoint reads. A contradiction
between the build notes and the files installed fails the build.
";

/// What to do: inspect, then print or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub write: bool,
    pub options: inspect::Options,
}

/// A command line this program cannot act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (see aza-image-catalog --help)", self.0)
    }
}

pub fn parse(args: &[OsString]) -> Result<Invocation, UsageError> {
    const ACCEPTED: &str =
        "accepted: --write, --manifest PATH, --notes PATH, --output PATH, --package-source SOURCE";
    let mut rest = args
        .iter()
        .map(|arg| {
            arg.to_str()
                .map(str::to_string)
                .ok_or_else(|| UsageError(format!("the argument {arg:?} is not valid UTF-8")))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let mut write = false;
    let mut options = inspect::Options::default();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        if flag == "--write" && inline.is_none() {
            write = true;
            continue;
        }
        let target = match flag.as_str() {
            "--manifest" | "--notes" | "--output" | "--package-source" => flag.as_str(),
            _ => {
                return Err(UsageError(format!(
                    "aza-image-catalog does not take '{arg}' ({ACCEPTED})"
                )))
            }
        };
        let value = inline
            .or_else(|| rest.next())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| UsageError(format!("aza-image-catalog {target} needs a value")))?;
        match target {
            "--manifest" => options.manifest = PathBuf::from(value),
            "--notes" => options.notes = PathBuf::from(value),
            "--output" => options.output = PathBuf::from(value),
            _ => options.package_source = Some(value),
        }
    }
    Ok(Invocation { write, options })
}

/// `aza-image-catalog [--write]`: works out what this image has of the manifest and prints
/// the catalog, or writes it (at image build time, as root). A contradiction fails the build.
pub fn run(Invocation { write, options }: &Invocation) -> ExitCode {
    let write = *write;
    let catalog = match inspect::inspect(options) {
        Ok(catalog) => catalog,
        Err(errors) => {
            for line in &errors.0 {
                log::error(&format!("image-catalog: {line}"));
            }
            return ExitCode::from(1);
        }
    };
    if !write {
        return match super::to_json(&catalog) {
            Ok(text) => {
                stdio::print(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                log::error(&format!("image-catalog: cannot render the catalog: {e}"));
                ExitCode::from(1)
            }
        };
    }
    match inspect::write(&catalog, &options.output) {
        Ok(()) => {
            let counts = catalog.counts();
            stdio::print(&format!(
                "wrote {}: {} installed, {} absent, {} disabled; default preload: {}\n",
                options.output.display(),
                counts.installed,
                counts.absent,
                counts.disabled,
                catalog.default_preload.join(",")
            ));
            for entry in catalog
                .entries
                .iter()
                .filter(|e| e.status == super::Status::Absent)
            {
                stdio::print(&format!(
                    "  absent: {}: {}\n",
                    entry.name,
                    entry.reason.as_deref().unwrap_or("")
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error(&format!(
                "image-catalog: cannot write {}: {e}",
                options.output.display()
            ));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Invocation, UsageError> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn image_catalog_takes_paths_and_a_package_source() {
        assert_eq!(
            parse_strs(&[]),
            Ok(Invocation {
                write: false,
                options: inspect::Options::default()
            })
        );
        assert_eq!(
            inspect::Options::default(),
            inspect::Options {
                manifest: "/etc/postgresql/extensions.manifest.json".into(),
                notes: "/usr/share/aza-pg/build-notes.tsv".into(),
                output: "/usr/share/aza-pg/image-catalog.json".into(),
                package_source: None,
            }
        );
        assert_eq!(
            parse_strs(&[
                "--write",
                "--manifest",
                "/m.json",
                "--notes=/n.tsv",
                "--output",
                "/o.json",
                "--package-source",
                "distribution"
            ]),
            Ok(Invocation {
                write: true,
                options: inspect::Options {
                    manifest: "/m.json".into(),
                    notes: "/n.tsv".into(),
                    output: "/o.json".into(),
                    package_source: Some("distribution".into()),
                }
            })
        );
        for (args, message) in [
            (
                &["--force"][..],
                "aza-image-catalog does not take '--force'",
            ),
            (&["--notes"], "aza-image-catalog --notes needs a value"),
            (&["--output="], "aza-image-catalog --output needs a value"),
            (
                &["--write=yes"],
                "aza-image-catalog does not take '--write=yes'",
            ),
        ] {
            let err = parse_strs(args).unwrap_err().to_string();
            assert!(err.starts_with(message), "{args:?}: {err}");
        }
    }
}
