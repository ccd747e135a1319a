#!/usr/bin/env bash
# Smoke test of a built aza-pg image, as the release workflows run it (one step) and as anyone can run
# it against a local image:
#   1. `--dry-run --format json` inside a container limited to --memory=1g --cpus=1 sees 1024 MB and
#      1 CPU;
#   2. a server started with the same limits reports the dry run's shared_buffers and
#      max_connections (SHOW);
#   3. `docker stop` ends it with exit code 0, and a committed row is still there after `docker start`;
#   4. a failing init script makes the container exit non-zero, naming the script.
#
# Usage: scripts/smoke-test-image.sh IMAGE
#   SMOKE_PLATFORM  run the image for this platform (linux/arm64 runs under QEMU; default: the host's)
#   SMOKE_TIMEOUT   seconds to wait for a start or an exit (default 300; emulation is slow)
#   POSTGRES_SHARED_PRELOAD_LIBRARIES  passed to every container when set (unset, the image
#                   preloads its own defaults: the manifest's that its catalog says it has)
# Needs docker and jq. Containers are named aza-smoke-<pid>-* and removed (with their volumes) on exit.
set -euo pipefail

fail() {
    echo "smoke-test: FAIL: $*" >&2
    exit 1
}
say() { printf 'smoke-test: %s\n' "$*"; }

[[ $# -eq 1 && -n "$1" ]] || fail "usage: $0 IMAGE"
image="$1"
timeout_s="${SMOKE_TIMEOUT:-300}"
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || fail "SMOKE_TIMEOUT '$timeout_s' is not a number of seconds"
command -v docker >/dev/null || fail "docker not found"
command -v jq >/dev/null || fail "jq not found (apt-get install jq)"

run_args=(--memory=1g --cpus=1 --env POSTGRES_SHARED_PRELOAD_LIBRARIES)
pull_args=()
if [[ -n "${SMOKE_PLATFORM:-}" ]]; then
    run_args+=(--platform "$SMOKE_PLATFORM")
    pull_args+=(--platform "$SMOKE_PLATFORM")
fi
# The password goes to the containers by name (`--env NAME`), never on a command line or in the log.
POSTGRES_PASSWORD="smoke-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export POSTGRES_PASSWORD

prefix="aza-smoke-$$"
server="$prefix-server"
failing="$prefix-failing-init"
scratch="$(mktemp -d)"
cleanup() {
    docker rm --force --volumes "$server" "$failing" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# "256MB", "1GB", "8kB", "4096" (bytes) -> bytes, for comparing what SHOW and the dry run print.
to_bytes() {
    local value="$1" number unit
    [[ "$value" =~ ^([0-9]+)(B|kB|MB|GB|TB)?$ ]] || fail "'$value' is not a memory size"
    number="${BASH_REMATCH[1]}"
    unit="${BASH_REMATCH[2]:-B}"
    case "$unit" in
        B) echo "$number" ;;
        kB) echo $((number * 1024)) ;;
        MB) echo $((number * 1024 * 1024)) ;;
        GB) echo $((number * 1024 * 1024 * 1024)) ;;
        TB) echo $((number * 1024 * 1024 * 1024 * 1024)) ;;
    esac
}

psql_in() {
    docker exec "$1" psql -X -q -A -t -v ON_ERROR_STOP=1 -U postgres -d postgres -c "$2"
}

# Waits until the server in container $1 answers a query; fails if the container exits first.
wait_ready() {
    local container="$1" deadline=$((SECONDS + timeout_s))
    while ((SECONDS < deadline)); do
        if [[ "$(docker inspect --format '{{.State.Running}}' "$container")" != "true" ]]; then
            docker logs --tail 40 "$container" >&2 || true
            fail "$container exited ($(docker inspect --format '{{.State.ExitCode}}' "$container")) before it was ready"
        fi
        if [[ "$(psql_in "$container" 'SELECT 1' 2>/dev/null || true)" == "1" ]]; then
            return 0
        fi
        sleep 1
    done
    docker logs --tail 40 "$container" >&2 || true
    fail "$container was not ready after $timeout_s s"
}

# Waits until container $1 has exited and prints its exit code.
wait_exit() {
    local container="$1" code
    code="$(timeout "$timeout_s" docker wait "$container")" ||
        fail "$container had not exited after $timeout_s s"
    echo "$code"
}

say "image $image${SMOKE_PLATFORM:+ ($SMOKE_PLATFORM)}"
docker image inspect "$image" >/dev/null 2>&1 || docker pull --quiet "${pull_args[@]}" "$image" >/dev/null ||
    fail "$image is neither present nor pullable"

# 1. The dry run inside the same limits.
dry_run="$(docker run --rm "${run_args[@]}" "$image" --dry-run --format json)" ||
    fail "--dry-run failed in the container"
memory_mb="$(jq -r '.inputs.memory_mb' <<<"$dry_run")"
memory_source="$(jq -r '.inputs.memory_source' <<<"$dry_run")"
cpus="$(jq -r '.inputs.cpus' <<<"$dry_run")"
cpu_source="$(jq -r '.inputs.cpu_source' <<<"$dry_run")"
dry_shared_buffers="$(jq -r '.settings.shared_buffers' <<<"$dry_run")"
dry_max_connections="$(jq -r '.settings.max_connections' <<<"$dry_run")"
say "dry run: ${memory_mb} MB ($memory_source), $cpus CPU ($cpu_source) -> shared_buffers=$dry_shared_buffers max_connections=$dry_max_connections"
[[ "$memory_mb" == 1024 ]] || fail "the dry run saw $memory_mb MB ($memory_source) in a --memory=1g container"
[[ "$cpus" == 1 ]] || fail "the dry run saw $cpus CPUs ($cpu_source) in a --cpus=1 container"

# 2. A real start with the same limits uses what the dry run computed.
docker run --detach --name "$server" "${run_args[@]}" --env POSTGRES_PASSWORD "$image" >/dev/null
wait_ready "$server"
shown_shared_buffers="$(psql_in "$server" 'SHOW shared_buffers')"
shown_max_connections="$(psql_in "$server" 'SHOW max_connections')"
say "server: shared_buffers=$shown_shared_buffers max_connections=$shown_max_connections"
[[ "$(to_bytes "$shown_shared_buffers")" == "$(to_bytes "$dry_shared_buffers")" ]] ||
    fail "SHOW shared_buffers is $shown_shared_buffers, the dry run said $dry_shared_buffers"
[[ "$shown_max_connections" == "$dry_max_connections" ]] ||
    fail "SHOW max_connections is $shown_max_connections, the dry run said $dry_max_connections"

# 3. docker stop is a clean shutdown, and committed data survives a restart.
psql_in "$server" "CREATE TABLE aza_smoke (note text); INSERT INTO aza_smoke VALUES ('committed')" >/dev/null
docker stop --time 60 "$server" >/dev/null
code="$(docker inspect --format '{{.State.ExitCode}}' "$server")"
[[ "$code" == 0 ]] || {
    docker logs --tail 40 "$server" >&2 || true
    fail "docker stop: exit code $code, expected 0"
}
say "docker stop: exit code 0"
docker start "$server" >/dev/null
wait_ready "$server"
note="$(psql_in "$server" 'SELECT note FROM aza_smoke')"
[[ "$note" == committed ]] || fail "after docker start the committed row reads '$note'"
docker stop --time 60 "$server" >/dev/null
code="$(docker inspect --format '{{.State.ExitCode}}' "$server")"
[[ "$code" == 0 ]] || fail "second docker stop: exit code $code, expected 0"
say "docker start: committed data intact; stopped again with exit code 0"

# 4. A failing init script fails the container.
mkdir "$scratch/initdb"
printf 'SELECT 1/0; -- aza-pg smoke test: this script must fail the initialisation\n' \
    >"$scratch/initdb/99-smoke-fails.sql"
chmod 0755 "$scratch/initdb"
chmod 0644 "$scratch/initdb/99-smoke-fails.sql"
docker create --name "$failing" "${run_args[@]}" --env POSTGRES_PASSWORD "$image" >/dev/null
docker cp "$scratch/initdb/99-smoke-fails.sql" "$failing:/docker-entrypoint-initdb.d/99-smoke-fails.sql"
docker start "$failing" >/dev/null
code="$(wait_exit "$failing")"
logs="$(docker logs "$failing" 2>&1)"
if [[ "$code" == 0 ]]; then
    tail -n 40 <<<"$logs" >&2
    fail "a failing init script: the container exited 0"
fi
grep -q '99-smoke-fails.sql' <<<"$logs" || {
    tail -n 40 <<<"$logs" >&2
    fail "a failing init script: exit code $code, but the log does not name the script"
}
say "failing init script: exit code $code, script named in the log"
say "OK"
