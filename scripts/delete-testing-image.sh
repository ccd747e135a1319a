#!/usr/bin/env bash
# Deletes one image from a GitHub Container Registry package: the package version of the image index
# DIGEST and those of the platform manifests it lists (GHCR keeps each as its own, untagged, version).
# publish.yml runs it on the testing repository once the tested digest has been promoted, so the
# dev-<sha> tag and everything under it go away; the production repository keeps its own copy.
#
# Usage: scripts/delete-testing-image.sh OWNER PACKAGE DIGEST
#   OWNER    the user or organisation owning the package (any case)
#   PACKAGE  the container package, e.g. aza-pg-testing
#   DIGEST   sha256:... of the image index
# Needs gh (authenticated by GH_TOKEN, with packages: write; a workflow's GITHUB_TOKEN also needs the
# repository to have the Admin role on the package), docker logged in to ghcr.io (to read the index)
# and jq. Fails if no version of the package has DIGEST.
set -euo pipefail

fail() {
    echo "delete-testing-image: FAIL: $*" >&2
    exit 1
}

[[ $# -eq 3 ]] || fail "usage: $0 OWNER PACKAGE DIGEST"
owner="$1"
package="$2"
digest="$3"
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "'$digest' is not a sha256 digest"
[[ "$package" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || fail "'$package' is not a container package name"
for tool in gh docker jq; do
    command -v "$tool" >/dev/null || fail "$tool not found"
done

case "$(gh api "/users/$owner" --jq .type)" in
    Organization) base="/orgs/$owner/packages/container/$package" ;;
    User) base="/users/$owner/packages/container/$package" ;;
    *) fail "cannot tell whether '$owner' is a user or an organisation" ;;
esac

image="ghcr.io/${owner,,}/$package@$digest"
mapfile -t wanted < <(
    echo "$digest"
    docker buildx imagetools inspect "$image" --raw | jq -r '.manifests[]?.digest'
)
echo "deleting $image and its ${#wanted[@]} manifest(s) from $base"

deleted=0
while read -r id name; do
    for want in "${wanted[@]}"; do
        if [[ "$name" == "$want" ]]; then
            gh api --method DELETE "$base/versions/$id" >/dev/null
            echo "deleted version $id ($name)"
            deleted=$((deleted + 1))
        fi
    done
done < <(gh api --paginate "$base/versions" --jq '.[] | "\(.id) \(.name)"')

((deleted > 0)) || fail "no version of $package has $digest"
if ((deleted < ${#wanted[@]})); then
    echo "warning: ${#wanted[@]} manifests listed, $deleted versions deleted (the rest were already gone)" >&2
fi
