//! `aza-codegen`: renders the Dockerfile, the initdb SQL, docs/EXTENSIONS.md, the README's tuning
//! table and src/generated/defaults.rs from manifest/extensions.json. With `--check` it writes
//! nothing and exits 1 naming every file that differs from what it would generate.

use std::path::PathBuf;
use std::process::ExitCode;

use aza_pg::codegen;

const USAGE: &str = "usage: aza-codegen [--check] [--root DIR]

Renders every generated file from manifest/extensions.json and the templates.
  --check     write nothing; exit 1 and list each file that is not up to date
  --root DIR  the repository root (default: this crate's directory)
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
