#!/usr/bin/env bash
# Builds the release musl `aza-entrypoint` (and its companions in the image: `aza-image-catalog`,
# `aza-backup`, `aza-pgbouncer`) and checks the properties the image relies on:
#   (a) all are statically linked: no program interpreter (PT_INTERP) and no shared-library
#       dependencies (DT_NEEDED), read with `readelf`; `file` must agree when it is installed;
#   (b) the entrypoint is at most 1 MiB (1048576 bytes).
# Exits non-zero with a message naming the failed check. Size is deterministic, so this is a check,
# not a benchmark; `tests/binary_check.rs` runs it as part of `cargo test`.
#
# `ldd` is deliberately not used: for a static-pie binary glibc's ldd prints "statically linked" on
# some versions and "not a dynamic executable" on others, so its wording proves nothing.
#
# Usage: scripts/check-binary.sh [--no-build] [--target TRIPLE]
#   --no-build        check the binary already built
#   --target TRIPLE   x86_64-unknown-linux-musl (the default) or aarch64-unknown-linux-musl (cross-built
#                     with rust-lld, see .cargo/config.toml); the ELF machine must match it too
set -euo pipefail

TARGET="x86_64-unknown-linux-musl"
MAX_BYTES=1048576
project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$project_dir/target}"

fail() {
    echo "check-binary: FAIL: $*" >&2
    exit 1
}

build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --target)
            [[ $# -ge 2 ]] || fail "--target needs a target triple"
            TARGET="$2"
            shift
            ;;
        *) fail "unknown argument '$1' (usage: $0 [--no-build] [--target TRIPLE])" ;;
    esac
    shift
done
case "$TARGET" in
    x86_64-unknown-linux-musl) machine="Advanced Micro Devices X86-64" ;;
    aarch64-unknown-linux-musl) machine="AArch64" ;;
    *) fail "unsupported target '$TARGET' (x86_64-unknown-linux-musl or aarch64-unknown-linux-musl)" ;;
esac
binary="$target_dir/$TARGET/release/aza-entrypoint"
echo "target: $TARGET"

if [[ $build -eq 1 ]]; then
    cargo build --quiet --release --target "$TARGET" --manifest-path "$project_dir/Cargo.toml" \
        --bin aza-entrypoint --bin aza-image-catalog --bin aza-backup --bin aza-pgbouncer ||
        fail "cargo build --release --target $TARGET failed (is the target installed? rustup target add $TARGET)"
fi
# (a) static linking, and the right machine (a stale or mislabelled build is not checked by mistake).
command -v readelf >/dev/null || fail "readelf not found (install binutils)"
check_static() {
    local binary="$1"
    [[ -f "$binary" ]] || fail "$binary does not exist"
    local elf_machine
    elf_machine="$(readelf --file-header "$binary" | sed -n 's/^ *Machine: *//p')"
    [[ "$elf_machine" == "$machine" ]] || fail "$binary is built for '$elf_machine', not $TARGET ($machine)"
    local headers
    headers="$(readelf --program-headers --wide "$binary")" || fail "readelf could not read $binary"
    if grep -q '^ *INTERP ' <<<"$headers"; then
        local interpreter
        interpreter="$(readelf --string-dump=.interp "$binary" 2>/dev/null | grep -o '/[^ ]*' | head -n 1 || true)"
        fail "$binary has a program interpreter (${interpreter:-unknown}): it is dynamically linked"
    fi
    local needed
    needed="$(readelf --dynamic --wide "$binary" | grep '(NEEDED)' || true)"
    if [[ -n "$needed" ]]; then
        fail "$binary depends on shared libraries:"$'\n'"$needed"
    fi
    local linking="no PT_INTERP, no DT_NEEDED"
    if command -v file >/dev/null; then
        local description
        description="$(file --brief "$binary")"
        case "$description" in
            *"static-pie linked"*) linking="$linking; file: static-pie linked" ;;
            *"statically linked"*) linking="$linking; file: statically linked" ;;
            *) fail "file does not call $binary static: $description" ;;
        esac
    fi
    echo "$(basename "$binary"): machine OK ($elf_machine), static OK ($linking)"
}
check_static "$binary"
for companion in aza-image-catalog aza-backup aza-pgbouncer; do
    check_static "$(dirname "$binary")/$companion"
done

# (b) size.
size="$(stat --format=%s "$binary")"
kib="$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1024 }')"
if ((size > MAX_BYTES)); then
    fail "$binary is $size bytes ($kib KiB), over the budget of $MAX_BYTES bytes (1024 KiB) by $((size - MAX_BYTES)) bytes"
fi
echo "size: OK ($size bytes = $kib KiB, budget $MAX_BYTES bytes = 1024 KiB, $((MAX_BYTES - size)) bytes to spare)"
