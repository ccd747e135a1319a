#!/usr/bin/env bash
# The whole test suite: installs what it needs (idempotently), then runs formatting, lints, the Rust
# tests against a real PostgreSQL 18 (which include the static-binary budget check). Run from anywhere, as root.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"

step() { printf '\n==> %s\n' "$*"; }

step "system packages"
missing=()
for tool in shellcheck unshare nsenter pgbouncer docker-compose; do
    PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
/usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing ${missing[*]} and not root to install them" >&2
        exit 1
    fi
    apt-get update -qq
    # unshare and nsenter come with util-linux; the linter has its own package. pgbouncer is run by
    # tests/pgbouncer.rs; docker-compose (whose `config` normalises the stacks) and
    # python3-yaml by tests/stacks.rs. Installing pgbouncer must not leave Debian's own instance running.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck util-linux pgbouncer docker-compose \
        python3-yaml >/dev/null
fi
python3 -m yamllint --version >/dev/null 2>&1 || python3 -m pip install --quiet yamllint

step "Rust toolchain parts"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
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
shellcheck scripts/*.sh .ci/run

step "yamllint stacks/"
python3 -m yamllint -c stacks/.yamllint.yml --strict stacks/

step "cargo test"
# tests/supervise.rs runs target/debug/examples/supervise; with --all-targets cargo builds examples only in
# test mode and leaves that binary stale (the tests then refuse to run), so build it first.
cargo build --locked --example supervise
cargo test --locked --all-targets 2>&1 | tee "$project_dir/target/test-output.txt"
