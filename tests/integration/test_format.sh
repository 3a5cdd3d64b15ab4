#!/usr/bin/env bash
# House style: every tracked C file is as clang-format (the checked-in .clang-format) writes it.
# The same check as `make format-check`, as one TAP line per pass of the suite.
set -uo pipefail
cd "$(dirname "$0")/../.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
if [[ -z $files ]]; then
    echo "ok 1 - no git checkout: nothing to check # SKIP"
    exit 0
fi
if out=$(clang-format --dry-run --Werror $files 2>&1); then
    echo "ok 1 - clang-format: $(echo "$files" | wc -l) files formatted"
else
    echo "not ok 1 - clang-format: files need formatting (run make format)"
    echo "$out" | grep -E '^[^ ].*error' | cut -d: -f1 | sort -u | sed 's/^/# /'
    exit 1
fi
echo "1..1"
