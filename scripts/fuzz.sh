#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed number of executions from the committed seed corpus.
# Zero crashes is the bar: any crash stops the script with a non-zero exit, and the crashing input
# (in fuzz/artifacts/<target>/) becomes a regression test. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of scripts/test.sh: it takes minutes, not seconds.
#
#   scripts/fuzz.sh [RUNS]     # default 200000 executions per target
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"
runs="${1:-200000}"

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

for target in $(cargo +nightly fuzz list); do
    echo "==> $target ($runs runs)"
    # A scratch copy of the seeds: new inputs the fuzzer finds are not committed by accident.
    work="$(mktemp -d)"
    cp -r "fuzz/corpus/$target/." "$work/"
    cargo +nightly fuzz run "$target" "$work" -- -runs="$runs" -max_len=4096 2>&1 | tail -n 3
    rm -rf "$work"
done
echo "all fuzz targets ran $runs executions without a crash"
