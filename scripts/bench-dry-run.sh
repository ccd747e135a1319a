#!/usr/bin/env bash
# Times the whole process `aza-entrypoint --dry-run --format json` against a do-nothing baseline.
#
# Budget: the dry-run's median wall time (spawn, exec, detect, plan, render, exit, reap) <= 2 ms.
#
# Baseline: `fn main() {}` built by the same rustc for the same musl target with the release
# profile's codegen flags (opt-level=s, panic=abort, stripped, static-pie). It pays exactly the floor
# the entrypoint cannot avoid - fork/exec, mapping a static-pie image, musl and Rust std start-up,
# exit - so `subject - baseline` is the entrypoint's own work. A static C program would be the
# smaller floor, but it would also count Rust's runtime start-up as the entrypoint's cost, and
# `gcc -static` links glibc, not musl.
#
# Method: a small Python harness (posix_spawn + waitpid, perf_counter_ns) runs baseline and subject
# alternately in one loop, so drift in machine load hits both equally; stdout goes to /dev/null,
# POSTGRES_MEMORY=4g avoids the host-RAM fallback warning, POSTGRES_PASSWORD the first-start refusal. hyperfine, when installed, gives a
# cross-check (it runs all of one command, then all of the other, so it does not alternate).
#
# Usage: scripts/bench-dry-run.sh [--runs N] [--strict]
#   --runs N   runs of each binary (default 300)
#   --strict   exit 1 when the verdict is OVER (default: report only, exit 0)
set -euo pipefail

TARGET="x86_64-unknown-linux-musl"
BUDGET_MS="2.0"
runs=300
strict=0
while (($#)); do
    case "$1" in
        --runs)
            [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "--runs needs a positive number" >&2; exit 2; }
            runs="$2"
            shift 2
            ;;
        --strict) strict=1; shift ;;
        *) echo "usage: $0 [--runs N] [--strict]" >&2; exit 2 ;;
    esac
done

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$project_dir/target}"
subject="$target_dir/$TARGET/release/aza-entrypoint"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
baseline="$work/noop"

echo "building $subject" >&2
cargo build --quiet --release --target "$TARGET" --manifest-path "$project_dir/Cargo.toml" \
    --bin aza-entrypoint
echo "building baseline $baseline (fn main() {})" >&2
echo 'fn main() {}' >"$work/noop.rs"
rustc --edition 2021 --target "$TARGET" -C opt-level=s -C panic=abort -C strip=symbols \
    -C codegen-units=1 -o "$baseline" "$work/noop.rs"

export POSTGRES_MEMORY=4g
# The dry run checks what a first start needs, a password included.
export POSTGRES_PASSWORD=bench-only
# The dry run runs the start's preflight. In the image it checks the library directory the image
# catalog recorded at build time, without running pg_config: measure that case, with a catalog whose
# library directory is PostgreSQL 18's own (contrib modules, which every server has).
pg_bin="$(bash "$project_dir/scripts/install-postgres.sh" | tail -n 1)"
pg_lib="$(cd "$pg_bin/../lib" && pwd)"
[ -f "$pg_lib/postgresql/auto_explain.so" ] && pg_lib="$pg_lib/postgresql"
cat >"$work/image-catalog.json" <<JSON
{"format": 1, "package_source": "distribution",
 "entries": [], "default_preload": ["auto_explain", "pg_stat_statements"],
 "preloadable": ["auto_explain", "pg_stat_statements"], "library_dir": "$pg_lib",
 "logical_output_plugins": []}
JSON
export AZA_IMAGE_CATALOG="$work/image-catalog.json"
# The subject must work before it is timed.
"$subject" --dry-run --format json | python3 -c 'import json, sys; json.load(sys.stdin)' ||
    { echo "aza-entrypoint --dry-run --format json failed or printed invalid JSON" >&2; exit 1; }

echo "binaries: subject $(stat --format=%s "$subject") bytes, baseline $(stat --format=%s "$baseline") bytes" >&2
echo "timing $runs runs of each, alternating" >&2
verdict="$(python3 - "$runs" "$BUDGET_MS" "$baseline" "$subject" <<'PY'
import os, statistics, sys, time

runs, budget_ms, baseline, subject = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
argv = {"baseline": [baseline], "subject": [subject, "--dry-run", "--format", "json"]}
devnull = os.open(os.devnull, os.O_WRONLY)
actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]

def once(name):
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[name][0], argv[name], os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter_ns() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{name} exited with status {os.waitstatus_to_exitcode(status)}")
    return elapsed / 1e6

for _ in range(20):  # warm-up: page cache, CPU frequency
    once("baseline"); once("subject")
times = {"baseline": [], "subject": []}
for i in range(runs):
    order = ("baseline", "subject") if i % 2 == 0 else ("subject", "baseline")
    for name in order:
        times[name].append(once(name))

def q(values, p):
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]

for name in ("baseline", "subject"):
    v = times[name]
    print(f"{name:>8}: median {statistics.median(v):.3f} ms  (p10 {q(v, 10):.3f}, p90 {q(v, 90):.3f}, "
          f"min {min(v):.3f}, mean {statistics.fmean(v):.3f})", file=sys.stderr)
b, s = statistics.median(times["baseline"]), statistics.median(times["subject"])
paired = statistics.median(x - y for x, y in zip(times["subject"], times["baseline"]))
print(f"dry-run's own cost: {s - b:.3f} ms (difference of medians; median of paired differences "
      f"{paired:.3f} ms)", file=sys.stderr)
print(f"ratio subject/baseline: {s / b:.2f}x", file=sys.stderr)
verdict = "OK" if s <= budget_ms else "OVER"
print(f"verdict: aza-entrypoint --dry-run median {s:.3f} ms (budget {budget_ms:.1f} ms): {verdict}",
      file=sys.stderr)
print(verdict)
PY
)"

if command -v hyperfine >/dev/null; then
    echo "cross-check with hyperfine (not alternating):" >&2
    hyperfine --shell=none --warmup 20 --runs "$runs" --style basic --time-unit millisecond \
        --export-json "$work/hyperfine.json" \
        --command-name baseline "$baseline" \
        --command-name subject "$subject --dry-run --format json" >/dev/null 2>"$work/hyperfine.err" ||
        { cat "$work/hyperfine.err" >&2; echo "hyperfine failed" >&2; exit 1; }
    python3 - "$work/hyperfine.json" <<'PY' >&2
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"  hyperfine {r['command']:>8}: median {r['median'] * 1e3:.3f} ms, mean {r['mean'] * 1e3:.3f} ms "
          f"+- {r['stddev'] * 1e3:.3f}")
PY
fi

if [[ $strict -eq 1 && "$verdict" != "OK" ]]; then
    exit 1
fi
exit 0
