#!/usr/bin/env bash
# Builds one extension at a pinned commit and installs it under /opt/ext-out (the image's
# source-extensions stage copies that tree into the final image). Called once per source-built
# manifest entry by the generated docker/Dockerfile:
#
#   build-extension NAME TYPE REPOSITORY COMMIT SUBDIR [BUILD ARGUMENTS...]
#
# TYPE is the manifest's build.type; BUILD ARGUMENTS are cargo feature flags (cargo-pgrx) or
# meson/cmake/configure options. The checked-out commit is verified, so a moved tag cannot slip in.
set -euo pipefail

if [ "$#" -lt 5 ]; then
    echo "usage: build-extension NAME TYPE REPOSITORY COMMIT SUBDIR [BUILD ARGUMENTS...]" >&2
    exit 2
fi
name=$1 type=$2 repository=$3 commit=$4 subdir=$5
shift 5
# SOURCE_EXTENSIONS and PACKAGE_SOURCE are the stage's build arguments, so they are in the
# environment here. The legacy builder runs this stage even when the final image does not need it;
# skipping keeps it off the network. Every outcome is written to the build notes, which
# `aza-image-catalog --write` turns into the image's record of what it has and why not.
notes=/opt/ext-out/usr/share/aza-pg/build-notes.d/source.tsv
mkdir -p "$(dirname "$notes")"
if [ "${PACKAGE_SOURCE:-vendor}" = "distribution" ] && [ -n "${DISTRIBUTION_PACKAGE:-}" ]; then
    echo "build-extension $name: not built; the distribution's $DISTRIBUTION_PACKAGE is installed instead"
    exit 0
fi
if [ "${SOURCE_EXTENSIONS:-build}" = "skip" ]; then
    echo "build-extension $name: skipped (SOURCE_EXTENSIONS=skip)"
    printf '%s\tabsent\t%s\n' "$name" \
        "built from source, and this build skips source builds (SOURCE_EXTENSIONS=skip: they need GitHub and crates.io)" \
        >>"$notes"
    exit 0
fi
out=/opt/ext-out
work="/tmp/build/$name"

git init -q "$work"
git -C "$work" fetch -q --depth 1 "$repository" "$commit"
git -C "$work" checkout -q FETCH_HEAD
actual="$(git -C "$work" rev-parse HEAD)"
if [ "$actual" != "$commit" ]; then
    echo "$name: fetched $actual, expected $commit" >&2
    exit 1
fi
cd "$work/$subdir"

case "$type" in
    pgxs)
        make USE_PGXS=1 -j"$(nproc)"
        make USE_PGXS=1 install DESTDIR="$out"
        ;;
    make)
        make -j"$(nproc)"
        make install DESTDIR="$out"
        ;;
    meson)
        meson setup build --buildtype=release "$@"
        meson compile -C build
        meson install -C build --destdir "$out"
        ;;
    cmake)
        cmake -B build -DCMAKE_BUILD_TYPE=Release "$@"
        cmake --build build -j"$(nproc)"
        DESTDIR="$out" cmake --install build
        ;;
    autotools)
        if [ -x ./autogen.sh ]; then ./autogen.sh; fi
        ./configure "$@"
        make -j"$(nproc)"
        make install DESTDIR="$out"
        ;;
    cargo-pgrx)
        pg_config="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
        cargo pgrx package --pg-config "$pg_config" "$@"
        # pgrx lays the package out as target/release/<crate>-pg<major>/<absolute install paths>.
        for package in target/release/*-pg"${PG_MAJOR}"; do
            cp -a "$package"/. "$out"/
        done
        ;;
    sql-schema)
        mkdir -p "$out/opt/$name"
        cp -a . "$out/opt/$name/"
        rm -rf "$out/opt/$name/.git"
        ;;
    *)
        echo "$name: unknown build type '$type'" >&2
        exit 2
        ;;
esac

# Debug symbols stay in the build stage.
find "$out" -name '*.so' -exec strip --strip-unneeded {} +
rm -rf "$work"
printf '%s\tinstalled\tsource %s\n' "$name" "$commit" >>"$notes"
