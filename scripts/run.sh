#!/usr/bin/env bash
# The main job: a tuned PostgreSQL 18 in the foreground, started through aza-entrypoint exactly as the
# image starts it (supervised, privileges dropped to `postgres` when run as root). Ctrl-C stops it
# cleanly (fast shutdown). Data lives in .data/pgdata (git-ignored) and survives restarts.
#
# Settings come from the same environment as in the container (POSTGRES_MEMORY, POSTGRES_WORKLOAD_TYPE,
# ...); extra arguments go to postgres. Defaults for a local run:
#   PORT=5432, POSTGRES_PASSWORD=postgres (only used on first start), listening on 127.0.0.1.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"

pg_bin="$(bash scripts/install-postgres.sh | tail -n 1)"
cargo build --release --locked --quiet --bin aza-entrypoint

data_root="$project_dir/.data"
mkdir -p "$data_root"
# The server runs as `postgres` when started as root: it must be able to reach its data directory.
chmod 755 "$data_root"

export PATH="$pg_bin:$PATH"
export PGDATA="${PGDATA:-$data_root/pgdata}"
export POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-postgres}"
# The PostgreSQL 18 build used here has the contrib modules only; the image's default list also
# names pg_cron, pg_stat_monitor and pgaudit.
export POSTGRES_SHARED_PRELOAD_LIBRARIES="${POSTGRES_SHARED_PRELOAD_LIBRARIES:-auto_explain,pg_stat_statements}"
export AZA_PROCESS_MODE="${AZA_PROCESS_MODE:-supervise}"
# The image keeps these in /etc/postgresql; a local run keeps them beside its data.
export AZA_MANIFEST="${AZA_MANIFEST:-$project_dir/manifest/extensions.json}"
export AZA_VERSION_INFO_DIR="${AZA_VERSION_INFO_DIR:-$data_root}"

echo "aza-pg: PostgreSQL 18 on 127.0.0.1:${PORT:-5432}, data in $PGDATA (Ctrl-C stops it)" >&2
exec "$project_dir/target/release/aza-entrypoint" postgres -p "${PORT:-5432}" -k /tmp "$@"
