//! `aza-codegen`: renders the Dockerfile, the initdb SQL, docs/EXTENSIONS.md, the README's tuning
//! table and src/generated/defaults.rs from manifest/extensions.json. With `--check` it writes
//! nothing and exits 1 naming every file that differs from what it would generate.
//!
//! `aza-codegen image-tags` prints the tags a published image gets (see `aza_pg::release`).

use std::path::PathBuf;
use std::process::ExitCode;

use aza_pg::{codegen, release};

const USAGE: &str = "usage: aza-codegen [--check] [--root DIR]
       aza-codegen image-tags --pg-version VERSION --timestamp TIME [--format lines|github-output]

Renders every generated file from manifest/extensions.json and the templates.
  --check     write nothing; exit 1 and list each file that is not up to date
  --root DIR  the repository root (default: this crate's directory)

image-tags: the tags of a published image, immutable tag first.
  --pg-version VERSION  18.6, 18.10, 18beta2, ... or a whole `postgres --version` line
  --timestamp TIME      the build time in UTC, 2026-11-27T12:34:00Z
  --format lines        one tag per line (the default)
  --format github-output
                        version=, major=, release=, versioned-tag= and tags= (space-separated)
                        lines for $GITHUB_OUTPUT
";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("aza-codegen: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    if std::env::args().nth(1).as_deref() == Some("image-tags") {
        return image_tags(std::env::args().skip(2));
    }
    let mut check = false;
    let mut root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--root" => {
                root = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--root needs a directory")?
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let inputs = codegen::read_inputs(&root).map_err(|e| e.to_string())?;
    let files = codegen::render_all(&inputs).map_err(|e| e.to_string())?;
    let stale = codegen::stale_files(&root, &files);
    if check {
        if stale.is_empty() {
            println!(
                "aza-codegen: {} generated files are up to date",
                files.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for path in &stale {
            eprintln!("aza-codegen: {path} differs from what the manifest and templates generate");
        }
        eprintln!("aza-codegen: run `cargo run --bin aza-codegen` and commit the result");
        return Ok(ExitCode::from(1));
    }
    for file in files.iter().filter(|f| stale.contains(&f.path)) {
        let path = root.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create ({e})", parent.display()))?;
        }
        std::fs::write(&path, &file.contents)
            .map_err(|e| format!("{}: cannot write ({e})", path.display()))?;
        println!("aza-codegen: wrote {}", file.path);
    }
    if stale.is_empty() {
        println!("aza-codegen: nothing to do");
    }
    Ok(ExitCode::SUCCESS)
}

fn image_tags(mut args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    let mut pg_version = None;
    let mut timestamp = None;
    let mut github_output = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--pg-version" => pg_version = Some(value("--pg-version")?),
            "--timestamp" => timestamp = Some(value("--timestamp")?),
            "--format" => {
                github_output = match value("--format")?.as_str() {
                    "lines" => false,
                    "github-output" => true,
                    other => {
                        return Err(format!(
                            "--format '{other}' is not one of: lines, github-output"
                        ))
                    }
                }
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("image-tags: unknown argument '{other}'\n{USAGE}")),
        }
    }
    let pg_version = pg_version.ok_or(format!("image-tags needs --pg-version\n{USAGE}"))?;
    let timestamp = timestamp.ok_or(format!("image-tags needs --timestamp\n{USAGE}"))?;
    let (version, tags) =
        release::image_tags_from_strings(&pg_version, &timestamp).map_err(|e| e.to_string())?;
    if github_output {
        print!("{}", release::github_output(&version, &tags));
    } else {
        for tag in &tags {
            println!("{tag}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
