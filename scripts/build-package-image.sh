#!/usr/bin/env bash
# Builds a helper image from Debian's packages on the project's own base (scripts/build-base-image.sh),
# for the tests and stacks that need a real program beside aza-pg and cannot pull one: an SFTP
# repository host (openssh-server), the Prometheus exporters, Prometheus itself.
#
#   scripts/build-package-image.sh [--entrypoint PROGRAM] NAME PACKAGE...
#                                   → prints aza-pg-NAME:<hash> on the last line
#
# --entrypoint makes PROGRAM the image's ENTRYPOINT, so that a compose file's `command:` (flags only)
# works on this image and on the exporter's own published one alike.
#
# The tag is a hash of this script, the base image and the package list, so a second run with the
# image present only prints its name. Progress goes to stderr.
set -euo pipefail

entrypoint=""
if [ "${1:-}" = "--entrypoint" ]; then
    entrypoint="${2:?--entrypoint needs a program}"
    shift 2
fi
[ "$#" -ge 2 ] || {
    echo "usage: $0 [--entrypoint PROGRAM] NAME PACKAGE..." >&2
    exit 2
}
name="$1"
shift
project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'build-package-image: %s\n' "$*" >&2; }

base="$(bash "$project_dir/scripts/build-base-image.sh" | tail -n 1)"
[ -n "$base" ] || {
    log "error: scripts/build-base-image.sh printed no image"
    exit 1
}
hash="$(
    {
        sha256sum <"${BASH_SOURCE[0]}"
        printf 'base %s\npackages %s\nentrypoint %s\n' "$base" "$*" "$entrypoint"
    } | sha256sum | cut -c1-16
)"
image="aza-pg-$name:$hash"

exec 9>"${TMPDIR:-/tmp}/aza-pg-$name-$hash.lock"
flock 9
if docker image inspect "$image" >/dev/null 2>&1; then
    log "$image is present (cached)"
    echo "$image"
    exit 0
fi

log "docker build $image: $* from Debian's archive on $base"
started=$SECONDS
build_log="$(mktemp "${TMPDIR:-/tmp}/aza-pg-$name.XXXXXX")"
trap 'rm -f "$build_log"' EXIT
# Debian's Release files carry a Valid-Until this machine's clock may be past; the option is given
# on apt's command line only. The legacy builder: this engine has no BuildKit.
if ! printf '%s\n' \
    "FROM $base" \
    "RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \\" \
    "    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $* \\" \
    "    && rm -rf /var/lib/apt/lists/*" \
    ${entrypoint:+"ENTRYPOINT [\"$entrypoint\"]"} |
    DOCKER_BUILDKIT=0 docker build -t "$image" - >"$build_log" 2>&1; then
    log "error: docker build failed; the end of its output:"
    tail -n 30 "$build_log" >&2
    exit 1
fi
log "built $image in $((SECONDS - started)) s"
echo "$image"
