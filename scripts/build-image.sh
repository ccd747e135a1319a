#!/usr/bin/env bash
# Builds the local aza-pg image without any image registry: the base of scripts/build-base-image.sh
# (Debian unstable with Debian's PostgreSQL 18, cached by content hash), the static musl entrypoint,
# and docker/Dockerfile with the catalog's packages from Debian's archive (PACKAGE_SOURCE=distribution)
# and no source builds (SOURCE_EXTENSIONS=skip: they need GitHub and crates.io). What the image has
# and lacks, entry by entry, is in its /usr/share/aza-pg/image-catalog.json and printed at the end.
#
#   scripts/build-image.sh            → prints the image reference on the last line of stdout
#   AZA_IMAGE=aza-pg:mine scripts/build-image.sh
#
# Needs root (the base image's debootstrap; only on its first build) and a running Docker engine.
# Progress goes to stderr. A second run with nothing changed takes seconds (Docker's layer cache).
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"
image="${AZA_IMAGE:-aza-pg:local}"
target=x86_64-unknown-linux-musl
binary="target/$target/release/aza-entrypoint"

log() { printf 'build-image: %s\n' "$*" >&2; }
fail() {
    log "error: $*"
    exit 1
}
started=$SECONDS

# The base's first build needs debootstrap (Debian's package); installed here, as root, when missing.
if ! command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing debootstrap (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >&2
fi
log "base image (Debian unstable + PostgreSQL 18; a minute or two the first time, then cached)"
base="$(bash scripts/build-base-image.sh | tail -n 1)"
[ -n "$base" ] || fail "scripts/build-base-image.sh printed no image"

log "static entrypoint, image-catalog writer, backup sidecar and PgBouncer entrypoint ($target, release)"
rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target" >&2
cargo build --quiet --release --locked --target "$target" --bin aza-entrypoint --bin aza-image-catalog --bin aza-backup \
    --bin aza-pgbouncer >&2

log "docker build $image on $base (PACKAGE_SOURCE=distribution SOURCE_EXTENSIONS=skip)"
build_log="$(mktemp "${TMPDIR:-/tmp}/aza-build-image.XXXXXX")"
trap 'rm -f "$build_log"' EXIT
# The working tree is what is built: a tree with uncommitted changes says so (-dirty).
vcs_ref="$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)"
# The legacy builder: this engine has no BuildKit. Its step lines are the progress; the rest of its
# output (apt's, mostly) goes to the log, shown when the build fails.
if ! DOCKER_BUILDKIT=0 docker build -f docker/Dockerfile \
    --build-arg BASE_IMAGE="$base" \
    --build-arg ENTRYPOINT_SOURCE=prebuilt \
    --build-arg ENTRYPOINT_BINARY="$binary" \
    --build-arg PACKAGE_SOURCE=distribution \
    --build-arg SOURCE_EXTENSIONS=skip \
    --build-arg APT_CHECK_VALID_UNTIL=false \
    --build-arg AZA_IMAGE_VERSION=local \
    --build-arg AZA_VCS_REF="$vcs_ref" \
    -t "$image" . 2>&1 | tee "$build_log" | grep --line-buffered -E '^Step [0-9]+/[0-9]+ : ' |
    while IFS= read -r line; do log "${line:0:100}"; done; then
    fail "docker build failed; the end of its output:"$'\n'"$(tail -n 40 "$build_log")"
fi
if grep -q -- '---> Using cache' "$build_log" && ! grep -q -- '---> Running in' "$build_log"; then
    log "every step was cached"
fi

# What the build could not have, as the image itself records it.
docker run --rm --entrypoint cat "$image" /usr/share/aza-pg/build-notes.tsv |
    awk -F '\t' '$2 == "absent" { absent++; printf "build-image:   not in this build: %s (%s)\n", $1, $3 } $2 == "installed" { installed++ }
        END { printf "build-image: %d packaged or built entries installed, %d not in this build\n", installed, absent }' >&2
size="$(docker image inspect --format '{{.Size}}' "$image")"
base_size="$(docker image inspect --format '{{.Size}}' "$base")"
log "$image: $((size / 1048576)) MiB (its base $base: $((base_size / 1048576)) MiB), built in $((SECONDS - started)) s"
echo "$image"
