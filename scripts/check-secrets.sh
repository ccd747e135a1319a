#!/usr/bin/env bash
# Searches everything a test run printed or logged for the passwords the tests use: the cargo test
# output and the log of every PostgreSQL instance the tests started (kept in target/test-logs).
# A password anywhere there means a secret leaked into a log line, an error message or --dry-run.
set -euo pipefail

project_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$project_dir"

files=(target/test-output.txt)
if [ -d target/test-logs ]; then
    mapfile -t -O 1 files < <(find target/test-logs -type f -name '*.log')
    files=(target/test-output.txt "${files[@]}")
fi
if [ "${#files[@]}" -lt 2 ]; then
    echo "error: no instance logs in target/test-logs; run the tests first" >&2
    exit 1
fi

leaks=0
while IFS= read -r secret; do
    [ -z "$secret" ] && continue
    if grep -rlF -- "$secret" "${files[@]}"; then
        echo "error: a test password appears in the files above" >&2
        leaks=1
    fi
done < tests/secrets.txt
[ "$leaks" -eq 0 ] || exit 1
echo "no test password in $(( ${#files[@]} )) files of test output"
