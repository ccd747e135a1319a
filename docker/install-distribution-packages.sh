#!/usr/bin/env bash
# The local build's package step (PACKAGE_SOURCE=distribution): installs the catalog's entries from
# the base image's own Debian archive, by the distribution's package names in docker/packages.tsv,
# and writes a build note per entry: installed (with the package) or absent (with the reason). Extra
# arguments are packages the image needs besides the catalog (pgbouncer for the stacks).
#
#   install-distribution-packages PACKAGES_TSV NOTES [PACKAGE...]
#   install-distribution-packages - - PACKAGE...     only the extra packages, no notes
#
# Nothing is guessed: an entry is noted as installed only when its package is in the archive and
# was installed; `aza-image-catalog --write` then checks its files are really there.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: install-distribution-packages PACKAGES_TSV NOTES [PACKAGE...]" >&2
    exit 2
fi
list=$1 notes=$2
shift 2
extra=("$@")

# The archive's Release file may be past its Valid-Until date where the local build runs (a frozen
# mirror): only APT_CHECK_VALID_UNTIL=false (scripts/build-image.sh's build argument) turns the check
# off, for this one command, so nothing of it stays in the image and no other build loses it.
case "${APT_CHECK_VALID_UNTIL:-true}" in
    true) apt-get update -qq ;;
    false) apt-get -o Acquire::Check-Valid-Until=false update -qq ;;
    *) echo "APT_CHECK_VALID_UNTIL must be true or false, not '$APT_CHECK_VALID_UNTIL'" >&2; exit 2 ;;
esac

wanted=()
if [ "$list" != "-" ]; then
    : >"$notes.tmp"
    while IFS=$'\t' read -r name method _vendor_package _version package reason; do
        case "$name" in '' | '#'*) continue ;; esac
        if [ "$package" = "-" ]; then
            # A source-built entry with no package is the source stage's to record.
            [ "$method" = "source" ] || printf '%s\tabsent\t%s\n' "$name" "$reason" >>"$notes.tmp"
            continue
        fi
        # The exit status, not a pipe into grep -q: under pipefail, grep closing the pipe early makes
        # apt-cache die of SIGPIPE, and a package the archive has would be recorded as absent.
        if apt-cache show --no-all-versions "$package" >/dev/null 2>&1; then
            wanted+=("$package")
            printf '%s\tinstalled\t%s\n' "$name" "$package" >>"$notes.tmp"
        else
            printf '%s\tabsent\t%s\n' "$name" "the distribution's archive has no package $package" >>"$notes.tmp"
            echo "install-distribution-packages: $name: no package $package in the archive" >&2
        fi
    done <"$list"
fi

# The server stays the base image's: an archive that moved on since the base was made must not
# upgrade it under the extensions (PG_MAJOR and PG_VERSION are the base image's environment).
if [ "${#wanted[@]}" -gt 0 ] && [ -n "${PG_MAJOR:-}" ] && [ -n "${PG_VERSION:-}" ]; then
    wanted+=("postgresql-$PG_MAJOR=$PG_VERSION")
fi
if [ "$((${#wanted[@]} + ${#extra[@]}))" -gt 0 ]; then
    echo "install-distribution-packages: apt-get install ${wanted[*]} ${extra[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${wanted[@]}" "${extra[@]}"
fi
rm -rf /var/lib/apt/lists/*
if [ "$list" != "-" ]; then mv "$notes.tmp" "$notes"; fi
