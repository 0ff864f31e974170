#!/bin/sh
# Regenerates tests/inventory/expected/ with real Ansible (ansible-core 2.19).
# Usage: tests/inventory/generate.sh [ANSIBLE_BIN_DIR]   (default /var/tmp/ansible-venv/bin)
set -eu
BIN=${1:-/var/tmp/ansible-venv/bin}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/expected"
ROOT=$(cd "$HERE/../.." && pwd)   # recorded paths are written as <ROOT>
rm -rf "$OUT"
mkdir -p "$OUT"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
unset ANSIBLE_CONFIG ANSIBLE_INVENTORY
grep -v '^#' "$HERE/cases.txt" | grep -v '^$' | while IFS='|' read -r kind name dir a b c; do
    cd "$HERE/$dir"
    set +e
    if [ "$kind" = inventory ]; then
        # shellcheck disable=SC2086 # ARGS are space separated on purpose
        "$BIN/ansible-inventory" $a >"$OUT/$name.out" 2>"$OUT/$name.stderr"
        echo $? >"$OUT/$name.rc"
    elif [ "$kind" = magic ]; then
        "$BIN/ansible" -i "$a" "$b" -m debug -a "var=$c" >"$OUT/$name.out" 2>"$OUT/$name.stderr"
        echo $? >"$OUT/$name.rc"
    else
        if [ -n "$c" ]; then
            "$BIN/ansible" -i "$a" "$b" --list-hosts --limit "$c" >"$OUT/$name.out" 2>"$OUT/$name.stderr"
        else
            "$BIN/ansible" -i "$a" "$b" --list-hosts >"$OUT/$name.out" 2>"$OUT/$name.stderr"
        fi
        echo $? >"$OUT/$name.rc"
    fi
    set -e
    # Keep only the warnings and errors the tests check.
    grep -E '^\[(WARNING|ERROR)\]: (Could not match|You must pass|Pattern must|Unable to parse|No inventory)' \
        "$OUT/$name.stderr" | sed "s#$ROOT#<ROOT>#g" >"$OUT/$name.err" || true
    rm -f "$OUT/$name.stderr"
done
