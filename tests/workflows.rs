//! The GitHub Actions workflows (`.github/workflows/`): properties actionlint and zizmor (run by
//! scripts/test.sh) do not enforce on their own, checked on the files as committed.
//!
//! - every third-party action is pinned to a full 40-hex commit SHA with a `# vX.Y.Z` comment (the
//!   values themselves need checking against upstream; this checks their form);
//! - least privilege: `permissions: {}` at the top, a `permissions:` block on every job, `id-token:
//!   write` only on jobs that sign;
//! - `persist-credentials: false` on every checkout; no `${{ }}` inside `run:` scripts;
//! - the testing repository gets only dev- tags; publish promotes by digest, with tags from
//!   `aza-codegen image-tags`, and signs and attests by digest.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows")
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workflows_dir())
        .expect("read .github/workflows")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "ci, build-image and publish workflows: {files:?}"
    );
    files
}

fn text(name: &str) -> String {
    std::fs::read_to_string(workflows_dir().join(name)).expect("read workflow")
}

/// The workflow as JSON, through PyYAML (as tests/kubernetes.rs reads its manifests).
fn load(path: &Path) -> Value {
    let script = "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect(
            "python3 with PyYAML is needed to parse the workflows (scripts/test.sh installs it)",
        );
    assert!(
        output.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from PyYAML")
}

fn jobs(workflow: &Value) -> &serde_json::Map<String, Value> {
    workflow["jobs"].as_object().expect("jobs")
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_array()
        .map(|steps| steps.iter().collect())
        .unwrap_or_default()
}

fn is_hex40(text: &str) -> bool {
    text.len() == 40
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `v4.2.2`, `v0.18.0`: a `v` and three dot-separated numbers.
fn is_version_comment(text: &str) -> bool {
    text.strip_prefix('v').is_some_and(|numbers| {
        let parts: Vec<&str> = numbers.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Why a `uses:` value (with its trailing comment) is not an acceptable pin, if it is not.
fn pin_problem(line: &str) -> Option<String> {
    let (reference, comment) = match line.split_once('#') {
        Some((reference, comment)) => (reference.trim(), Some(comment.trim())),
        None => (line.trim(), None),
    };
    if reference.starts_with("./") {
        // A workflow of this repository, at this commit.
        return None;
    }
    let Some((action, sha)) = reference.split_once('@') else {
        return Some(format!("'{reference}' has no @ref"));
    };
    if action.split('/').count() < 2 || action.split('/').any(str::is_empty) {
        return Some(format!("'{action}' is not owner/repo[/path]"));
    }
    if !is_hex40(sha) {
        return Some(format!(
            "'{reference}' is not pinned to a full 40-hex commit SHA"
        ));
    }
    let version = comment.and_then(|c| c.split_whitespace().next());
    if !version.is_some_and(is_version_comment) {
        return Some(format!(
            "'{reference}' lacks a '# vX.Y.Z' comment naming the release"
        ));
    }
    None
}

#[test]
fn pin_check_accepts_only_full_shas_with_a_version_comment() {
    let sha = "11bd71901bbe5b1630ceea73d27597364c9af683";
    assert_eq!(
        pin_problem(&format!("actions/checkout@{sha}  # v4.2.2")),
        None
    );
    assert_eq!(
        pin_problem(&format!("o/r/path@{sha} # v0.18.0  # pin: verify")),
        None
    );
    assert_eq!(pin_problem("./.github/workflows/build-image.yml"), None);
    for bad in [
        "actions/checkout@v4".to_string(),
        format!("actions/checkout@{}", &sha[..39]),
        format!("actions/checkout@{}", sha.to_uppercase()),
        format!("actions/checkout@{sha}"),
        format!("actions/checkout@{sha} # v4"),
        format!("actions/checkout@{sha} # 4.2.2"),
        format!("checkout@{sha} # v4.2.2"),
        "actions/checkout".to_string(),
    ] {
        assert!(pin_problem(&bad).is_some(), "{bad} must be refused");
    }
}

#[test]
fn every_action_is_pinned_to_a_commit_sha_with_a_version_comment() {
    let mut count = 0;
    for path in workflow_files() {
        let text = std::fs::read_to_string(&path).expect("read workflow");
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start().trim_start_matches("- ");
            let Some(value) = trimmed.strip_prefix("uses:") else {
                continue;
            };
            count += 1;
            if let Some(problem) = pin_problem(value) {
                panic!("{}:{}: {problem}", path.display(), number + 1);
            }
        }
    }
    assert!(count >= 10, "only {count} uses: lines found");
}

#[test]
fn permissions_are_empty_at_the_top_and_granted_per_job() {
    for path in workflow_files() {
        let workflow = load(&path);
        let name = path.display();
        let top = &workflow["permissions"];
        let top_ok = top.as_object().is_some_and(|p| p.is_empty())
            || top.as_object().is_some_and(|p| {
                p.len() == 1 && p.get("contents").and_then(Value::as_str) == Some("read")
            });
        assert!(
            top_ok,
            "{name}: top-level permissions must be {{}} or contents: read, not {top}"
        );
        for (job_name, job) in jobs(&workflow) {
            let permissions = job["permissions"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}: job {job_name} has no permissions: block"));
            for (scope, level) in permissions {
                assert!(
                    matches!(level.as_str(), Some("read" | "write" | "none")),
                    "{name}: {job_name}: {scope}: {level}"
                );
            }
            if permissions.get("id-token").and_then(Value::as_str) == Some("write") {
                let signs = steps(job).iter().any(|step| {
                    step["run"]
                        .as_str()
                        .is_some_and(|run| run.contains("cosign "))
                });
                assert!(
                    signs,
                    "{name}: {job_name} has id-token: write but signs nothing"
                );
            }
        }
    }
}

#[test]
fn checkouts_do_not_persist_credentials_and_run_scripts_take_no_expressions() {
    let mut checkouts = 0;
    for path in workflow_files() {
        let workflow = load(&path);
        let name = path.display();
        for (job_name, job) in jobs(&workflow) {
            for step in steps(job) {
                if step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with("actions/checkout@"))
                {
                    checkouts += 1;
                    assert_eq!(
                        step["with"]["persist-credentials"],
                        Value::Bool(false),
                        "{name}: {job_name}: checkout without persist-credentials: false"
                    );
                }
                if let Some(run) = step["run"].as_str() {
                    assert!(
                        !run.contains("${{"),
                        "{name}: {job_name}: a run: script contains an expression (pass it through env:):\n{run}"
                    );
                }
            }
        }
    }
    assert!(checkouts >= 4, "{checkouts} checkouts");
}

#[test]
fn ci_runs_the_readme_test_command_and_cross_builds_arm64() {
    let ci = text("ci.yml");
    assert!(ci.contains("bash .ci/run"), "{ci}");
    assert!(ci.contains("--target aarch64-unknown-linux-musl"), "{ci}");
    assert!(
        ci.contains("scripts/check-binary.sh --no-build --target aarch64-unknown-linux-musl"),
        "{ci}"
    );
    let ci_run = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run"))
        .expect("read .ci/run");
    assert!(ci_run.contains("scripts/test.sh"), "{ci_run}");
}

#[test]
fn build_image_pushes_only_dev_tags_to_the_testing_repository_and_smoke_tests_both_platforms() {
    let build = text("build-image.yml");
    let workflow = load(&workflows_dir().join("build-image.yml"));
    assert!(!build.contains("latest"), "never a latest tag:\n{build}");
    assert!(build.contains("aza-pg-testing"), "{build}");
    assert!(build.contains("dev-$SHA"), "{build}");
    let build_job = &jobs(&workflow)["build"];
    let push = steps(build_job)
        .into_iter()
        .find(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("docker/build-push-action@"))
        })
        .expect("a build-push step");
    assert_eq!(push["with"]["platforms"], "linux/amd64,linux/arm64");
    assert_eq!(push["with"]["file"], "docker/Dockerfile");
    let tags = push["with"]["tags"].as_str().expect("tags");
    assert_eq!(
        tags,
        "${{ steps.names.outputs.testing-image }}:${{ steps.names.outputs.dev-tag }}"
    );
    let smoke = &jobs(&workflow)["smoke"];
    let platforms: Vec<&str> = smoke["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|entry| entry["platform"].as_str().expect("platform"))
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert!(steps(smoke).iter().any(|step| step["run"]
        .as_str()
        .is_some_and(|run| run.contains("scripts/smoke-test-image.sh"))));
}

#[test]
fn publish_promotes_the_tested_digest_with_computed_tags_then_signs_and_attests() {
    let publish = text("publish.yml");
    for expected in [
        "uses: ./.github/workflows/build-image.yml",
        "--entrypoint postgres \"$TESTING_IMAGE@$DIGEST\" --version",
        "aza-codegen -- image-tags",
        "--format github-output",
        "docker buildx imagetools create \"${tag_args[@]}\" \"$TESTING_IMAGE@$DIGEST\"",
        "cosign sign --yes \"$PRODUCTION_IMAGE@$DIGEST\"",
        "cosign attest --yes --type spdxjson",
        "scripts/delete-testing-image.sh",
    ] {
        assert!(publish.contains(expected), "publish.yml lacks {expected}");
    }
    let workflow = load(&workflows_dir().join("publish.yml"));
    // YAML 1.1 reads the `on` key as true.
    let on = workflow.get("on").or_else(|| workflow.get("true"));
    assert_eq!(
        on.expect("on:")["push"]["branches"],
        serde_json::json!(["release"])
    );
}
