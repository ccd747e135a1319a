#!/usr/bin/env bash
# Builds the local base image `aza-pg-base:<hash>` without any image registry: Debian's unstable
# release ("sid") from debootstrap, with Debian's own PostgreSQL 18 and JIT, in the official postgres
# image's layout, imported with `docker import`. It stands in for the official `postgres:18` image
# (Debian + PostgreSQL 18 from PGDG) that the production Dockerfile builds on; the aza-pg Dockerfile
# then installs the extension catalog on it (PACKAGE_SOURCE=distribution: from Debian's archive,
# under the same package names PGDG uses).
#
#   /usr/lib/postgresql/18/{bin,lib}      Debian's postgresql-18 and postgresql-18-jit; bin on PATH
#   postgresql-common                     with create_main_cluster = false: no cluster is made
#   postgres user and group, uid/gid 999  home /var/lib/postgresql (mode 1777, the VOLUME)
#   PGDATA=/var/lib/postgresql/18/docker  created by the entrypoint on first start
#   /var/run/postgresql, mode 3777        the socket directory (Debian's compiled-in default)
#   /docker-entrypoint-initdb.d           empty; the aza-pg Dockerfile copies its scripts in
#   en_US.UTF-8 (LANG=en_US.utf8)         generated with localedef, as in the official image
#   UTC                                   /etc/localtime, as debootstrap leaves it
#   libnss-wrapper, gzip, xz-utils, zstd  what the entrypoint runs (arbitrary UIDs, compressed scripts)
#
# The tag is a hash of this script and the suite, so a second run with the image present does nothing
# but print its name (sid moves on: delete the image to take newer packages). Needs root (debootstrap,
# chroot) and a running Docker engine. Progress goes to stderr; the image reference is the last line
# of stdout.
set -euo pipefail

SUITE="${AZA_BASE_SUITE:-sid}"
PG_MAJOR=18
# postgresql-common first, on its own (see below); then the server and what the entrypoint calls.
PACKAGES=(
    "postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-jit" gzip libnss-wrapper locales tzdata xz-utils zstd
)
PG_PREFIX="/usr/lib/postgresql/$PG_MAJOR"
IMAGE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PG_PREFIX/bin"
# Debian's archive signs its Release files with a Valid-Until date that is past on these machines'
# clocks' view of the mirror; the option is given on apt's command line only, so it stays out of the
# image.
APT_UPDATE=(apt-get -o Acquire::Check-Valid-Until=false update -qq)

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
script="$project_dir/scripts/build-base-image.sh"

log() { printf 'build-base-image: %s\n' "$*" >&2; }
fail() {
    log "error: $*"
    exit 1
}

if ! engine_error="$(docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null)"; then
    fail "the Docker engine is required and 'docker info' failed: ${engine_error:-docker not found}"
fi

hash="$(
    {
        sha256sum <"$script"
        printf 'suite %s\npackages %s\n' "$SUITE" "${PACKAGES[*]}"
    } | sha256sum | cut -c1-16
)"
image="aza-pg-base:$hash"

# One build at a time on this engine: a second caller waits, then finds the image.
exec 9>"${TMPDIR:-/tmp}/aza-pg-base-$hash.lock"
flock 9

if docker image inspect "$image" >/dev/null 2>&1; then
    log "$image is present (cached)"
    echo "$image"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "building $image needs root (debootstrap and chroot)"
command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/aza-pg-base.XXXXXX")"
rootfs="$work/rootfs"
# The step running in the background (see with_progress): stopped and waited for before the root is
# removed, so an interrupted build leaves no debootstrap or apt writing into a deleted tree.
step_pid=""
cleanup() {
    if [ -n "$step_pid" ] && kill -0 "$step_pid" 2>/dev/null; then
        kill "$step_pid" 2>/dev/null || true
        wait "$step_pid" 2>/dev/null || true
    fi
    for mount in "$rootfs/proc" "$rootfs/sys" "$rootfs/dev/pts" "$rootfs/dev"; do
        if mountpoint -q "$mount" 2>/dev/null; then umount -l "$mount"; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
in_root() { chroot "$rootfs" /usr/bin/env -i PATH="$IMAGE_PATH" DEBIAN_FRONTEND=noninteractive "$@"; }
# A long step prints a line every 15 s, so nobody watches a silent terminal.
with_progress() {
    local what="$1" logfile="$2" rc=0 waited=0
    shift 2
    "$@" >"$logfile" 2>&1 &
    step_pid=$!
    while kill -0 "$step_pid" 2>/dev/null; do
        sleep 1
        waited=$((waited + 1))
        if [ $((waited % 15)) -eq 0 ]; then log "$what: still running after ${waited} s"; fi
    done
    wait "$step_pid" || rc=$?
    step_pid=""
    [ "$rc" -eq 0 ] || fail "$what failed (exit $rc); the end of its log:"$'\n'"$(tail -n 30 "$logfile")"
}

log "debootstrap --variant=minbase $SUITE (about a minute)"
with_progress "debootstrap" "$work/debootstrap.log" debootstrap --variant=minbase "$SUITE" "$rootfs"
log "debootstrap done after $((SECONDS - started)) s"

mount -t proc proc "$rootfs/proc"
# Replaced, never written through: a symlink there would lead out of the root.
rm -f "$rootfs/etc/resolv.conf"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

# The user first, with the official image's ids: postgresql-common would otherwise create it with
# the next free system id.
in_root groupadd --system --gid 999 postgres
in_root useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres

log "apt-get install postgresql-common (create_main_cluster = false), then ${PACKAGES[*]}"
in_root "${APT_UPDATE[@]}"
with_progress "apt-get install postgresql-common" "$work/apt.log" \
    in_root apt-get install -y -qq --no-install-recommends postgresql-common
# As the official image does: installing the server must not create a cluster of its own.
sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
    "$rootfs/etc/postgresql-common/createcluster.conf"
grep -qx 'create_main_cluster = false' "$rootfs/etc/postgresql-common/createcluster.conf" ||
    fail "could not set create_main_cluster = false in /etc/postgresql-common/createcluster.conf"
with_progress "apt-get install ${PACKAGES[*]}" "$work/apt.log" \
    in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
# sid's locales has no /usr/share/locale/locale.alias, so no -A.
in_root localedef -i en_US -c -f UTF-8 en_US.UTF-8
in_root apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs/usr/sbin/policy-rc.d"
# Docker bind-mounts its own resolv.conf over this one.
rm -f "$rootfs/etc/resolv.conf"
: >"$rootfs/etc/resolv.conf"

# postgresql-common already made some of these with other modes: set them, as the official image does
# (1777 and 3777 let an arbitrary --user create PGDATA and its socket). /var/run is the image's
# symlink to /run, which is absolute: seen from here it leads to the host's /run, so use /run itself.
for dir in /var/lib/postgresql /run/postgresql /docker-entrypoint-initdb.d; do
    [ ! -L "$rootfs$dir" ] || fail "$rootfs$dir is a symlink; refusing to follow it out of the root"
    mkdir -p "$rootfs$dir"
done
chown 999:999 "$rootfs/var/lib/postgresql" "$rootfs/run/postgresql"
chmod 1777 "$rootfs/var/lib/postgresql"
chmod 3777 "$rootfs/run/postgresql"
chmod 0755 "$rootfs/docker-entrypoint-initdb.d"

# What the image must do, checked inside it before it is imported.
# The server programs are only in $PG_PREFIX/bin; the clients also have postgresql-common's wrappers in
# /usr/bin, first on PATH as in the official image, which run the newest installed version's client.
for program in postgres pg_ctl initdb; do
    [ "$(in_root sh -c "command -v $program")" = "$PG_PREFIX/bin/$program" ] ||
        fail "$program on PATH is not $PG_PREFIX/bin/$program"
done
for program in psql pg_isready pg_basebackup pg_dump; do
    in_root "$program" --version | grep -q "(PostgreSQL) $PG_MAJOR\." ||
        fail "$program on PATH is not PostgreSQL $PG_MAJOR's"
done
[ -f "$rootfs$PG_PREFIX/lib/llvmjit.so" ] || fail "postgresql-$PG_MAJOR-jit did not install llvmjit.so"
[ "$(in_root pg_config --pkglibdir)" = "$PG_PREFIX/lib" ] || fail "pg_config --pkglibdir is not $PG_PREFIX/lib"
[ -z "$(find "$rootfs/etc/postgresql" -mindepth 2 -maxdepth 2 -type d 2>/dev/null)" ] ||
    fail "a cluster was created under /etc/postgresql despite create_main_cluster = false"
[ "$(readlink "$rootfs/etc/localtime")" = /usr/share/zoneinfo/Etc/UTC ] || fail "/etc/localtime is not UTC"
in_root postgres --version >&2
in_root sh -c 'locale -a' | grep -qx 'en_US.utf8' || fail "locale en_US.utf8 was not generated"
# shellcheck disable=SC2016 # ${Version} is dpkg-query's field, not a shell expansion
pg_version="$(in_root dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR")"

umount "$rootfs/proc"
log "docker import $image"
# /dev, /proc and /sys are the runtime's; device nodes would not import on every storage driver.
tar --numeric-owner --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -C "$rootfs" -c . |
    docker import \
        --message "aza-pg base: Debian $SUITE minbase, Debian's postgresql-$PG_MAJOR $pg_version ($hash)" \
        --change "ENV PATH=$IMAGE_PATH" \
        --change "ENV PG_MAJOR=$PG_MAJOR" \
        --change "ENV PG_VERSION=$pg_version" \
        --change "ENV PGDATA=/var/lib/postgresql/$PG_MAJOR/docker" \
        --change "ENV LANG=en_US.utf8" \
        --change "VOLUME /var/lib/postgresql" \
        --change 'CMD ["bash"]' \
        - "$image" >/dev/null
log "built $image in $((SECONDS - started)) s"
echo "$image"
