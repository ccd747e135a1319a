#!/usr/bin/env bash
# Builds the local base image `aza-pg-base:<hash>` without any image registry: a minimal Debian
# bookworm root filesystem from debootstrap (Debian's package mirror is the only network it needs),
# the PostgreSQL 18 tree scripts/install-postgres.sh installs, and the Debian packages the entrypoint
# calls at run time, imported with `docker import`. The layout follows the official postgres image:
#
#   /usr/lib/postgresql/18/{bin,lib,share}  PostgreSQL; bin first on PATH, lib in ld.so.conf.d
#   postgres user and group, uid/gid 999    home /var/lib/postgresql (postgres's, mode 1777, the VOLUME)
#   PGDATA=/var/lib/postgresql/18/docker    created by the entrypoint on first start
#   /var/run/postgresql, mode 3777          the socket directory (Debian's default, made the default
#                                           here through postgresql.conf.sample and PGHOST)
#   /docker-entrypoint-initdb.d             empty; the aza-pg Dockerfile copies its scripts in
#   en_US.UTF-8 (LANG=en_US.utf8)           generated with localedef, as in the official image
#   pgbouncer, libnss-wrapper, gzip, xz-utils, zstd, tzdata and PostgreSQL's shared libraries
#
# Not in it: libpython3 (plpython3u would not load) and every third-party extension; build the aza-pg
# image on it with SKIP_EXTENSIONS=true.
#
# The tag is a hash of this script, the PostgreSQL version and the package list, so a second run with
# the image present does nothing but print its name. Needs root (debootstrap, chroot) and a running
# Docker engine. Prints the image reference on the last line of stdout; progress goes to stderr.
set -euo pipefail

PG_VERSION="${AZA_PG_VERSION:-18.6.0}"
PG_MAJOR="${PG_VERSION%%.*}"
SUITE=bookworm
# The runtime: what the entrypoint, init scripts and the stacks' PgBouncer run, and the shared
# libraries of the PostgreSQL tree (readelf -d: libzstd, liblz4, libxml2, libxslt, libssl, libcrypto,
# libgssapi_krb5, libz, libreadline, libossp-uuid). tzdata: the tree was built with
# --with-system-tzdata=/usr/share/zoneinfo.
PACKAGES=(
    gzip libgssapi-krb5-2 liblz4-1 libnss-wrapper libossp-uuid16 libreadline8 libssl3 libxml2
    libxslt1.1 libzstd1 locales pgbouncer tzdata xz-utils zlib1g zstd
)
PG_PREFIX="/usr/lib/postgresql/$PG_MAJOR"
IMAGE_PATH="$PG_PREFIX/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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
        printf 'postgresql %s\nsuite %s\npackages %s\n' "$PG_VERSION" "$SUITE" "${PACKAGES[*]}"
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
pg_bin="$(AZA_PG_VERSION="$PG_VERSION" bash "$project_dir/scripts/install-postgres.sh" | tail -n 1)"
pg_tree="$(dirname "$pg_bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/aza-pg-base.XXXXXX")"
rootfs="$work/rootfs"
cleanup() {
    if mountpoint -q "$rootfs/proc" 2>/dev/null; then umount "$rootfs/proc"; fi
    rm -rf "$work"
}
trap cleanup EXIT
in_root() { chroot "$rootfs" /usr/bin/env -i PATH="$IMAGE_PATH" DEBIAN_FRONTEND=noninteractive "$@"; }

log "debootstrap --variant=minbase $SUITE (first build only; takes a few minutes)"
debootstrap --variant=minbase "$SUITE" "$rootfs" >"$work/debootstrap.log" 2>&1 ||
    fail "debootstrap failed; its log:"$'\n'"$(tail -n 30 "$work/debootstrap.log")"
log "debootstrap done after $((SECONDS - started)) s"

mount -t proc proc "$rootfs/proc"
# Replaced, never written through: a symlink there would lead out of the root.
rm -f "$rootfs/etc/resolv.conf"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# No service may start inside the chroot (pgbouncer's package would start its own instance).
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"

# The user first, with the official image's ids: postgresql-common (pgbouncer's dependency) would
# otherwise create it with the next free system id.
in_root groupadd --system --gid 999 postgres
in_root useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/bash postgres

log "apt-get install ${PACKAGES[*]}"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$work/apt.log" 2>&1 ||
    fail "apt-get install failed; its log:"$'\n'"$(tail -n 30 "$work/apt.log")"
in_root localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8
in_root apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs/usr/sbin/policy-rc.d"
# Docker bind-mounts its own resolv.conf over this one.
rm -f "$rootfs/etc/resolv.conf"
: >"$rootfs/etc/resolv.conf"

log "PostgreSQL $PG_VERSION from $pg_tree into $PG_PREFIX"
mkdir -p "$rootfs$PG_PREFIX"
cp -a "$pg_tree/bin" "$pg_tree/lib" "$pg_tree/share" "$rootfs$PG_PREFIX/"
chown -R root:root "$rootfs$PG_PREFIX"
# The binaries find lib/ through RUNPATH $ORIGIN/../lib, but libpqwalreceiver.so (loaded by a
# standby's walreceiver) has RUNPATH /opt/postgresql/lib, which does not exist here: without this entry
# it would take any system libpq, or none.
echo "$PG_PREFIX/lib" >"$rootfs/etc/ld.so.conf.d/00-postgresql.conf"
in_root ldconfig
# Debian builds PostgreSQL with /var/run/postgresql as the socket directory; this tree has upstream's
# /tmp, which initdb writes into every postgresql.conf (it rewrites the sample's own line). The image's
# health check and users' `psql` expect Debian's, so the sample ends with an include that initdb leaves
# alone, and libpq gets the directory from PGHOST. A command-line -k or -c still wins (the
# entrypoint's temporary init server uses its own socket that way).
base_conf="$PG_PREFIX/share/aza-base-image.conf"
printf '%s\n' "# aza-pg base image: Debian's socket directory (scripts/build-base-image.sh)" \
    "unix_socket_directories = '/var/run/postgresql'" >"$rootfs$base_conf"
printf '\n%s\n%s\n' "# aza-pg base image (scripts/build-base-image.sh): Debian's socket directory" \
    "include_if_exists = '$base_conf'" >>"$rootfs$PG_PREFIX/share/postgresql.conf.sample"

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
walreceiver_libpq="$(in_root ldd "$PG_PREFIX/lib/libpqwalreceiver.so" | awk '$1 == "libpq.so.5" { print $3 }')"
[ "$walreceiver_libpq" = "$PG_PREFIX/lib/libpq.so.5" ] ||
    fail "libpqwalreceiver.so resolves libpq.so.5 to '${walreceiver_libpq:-nothing}', not $PG_PREFIX/lib/libpq.so.5"
for program in postgres psql pg_ctl initdb pg_config pg_isready pg_basebackup; do
    [ "$(in_root sh -c "command -v $program")" = "$PG_PREFIX/bin/$program" ] ||
        fail "$program on PATH is not $PG_PREFIX/bin/$program"
done
unresolved="$(
    for file in "$rootfs$PG_PREFIX"/bin/* "$rootfs$PG_PREFIX"/lib/*.so*; do
        in_root ldd "${file#"$rootfs"}" 2>/dev/null | grep 'not found' | sed "s|^|${file#"$rootfs"}: |"
    done | grep -v 'libpython3' || true
)"
[ -z "$unresolved" ] || fail "unresolved shared libraries:"$'\n'"$unresolved"
in_root postgres --version >&2
in_root pgbouncer --version | head -n 1 >&2
in_root sh -c 'locale -a' | grep -qx 'en_US.utf8' || fail "locale en_US.utf8 was not generated"

umount "$rootfs/proc"
log "docker import $image"
# /dev, /proc and /sys are the runtime's; device nodes would not import on every storage driver.
tar --numeric-owner --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -C "$rootfs" -c . |
    docker import \
        --message "aza-pg base: Debian $SUITE minbase, PostgreSQL $PG_VERSION ($hash)" \
        --change "ENV PATH=$IMAGE_PATH" \
        --change "ENV PG_MAJOR=$PG_MAJOR" \
        --change "ENV PG_VERSION=$PG_VERSION" \
        --change "ENV PGDATA=/var/lib/postgresql/$PG_MAJOR/docker" \
        --change "ENV LANG=en_US.utf8" \
        --change "ENV PGHOST=/var/run/postgresql" \
        --change "VOLUME /var/lib/postgresql" \
        --change 'CMD ["bash"]' \
        - "$image" >/dev/null
log "built $image in $((SECONDS - started)) s"
echo "$image"
