#!/usr/bin/env bash
# Runs one case of the playbook suite with a candidate command and writes its normalized result.
#   run_case.sh CASE_DIR RESULT_DIR CANDIDATE...
# RESULT_DIR gets: rc, events (or stdout for --list-*/--syntax-check cases), files.txt, files/,
# and raw.txt (stdout then stderr, paths replaced; for humans, never compared).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case_dir=$(cd "$1" && pwd)
result=$2
shift 2
candidate=("$@")

export ANSIBLE_FORKS=1 ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
  ANSIBLE_HOST_KEY_CHECKING=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
  ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 LC_ALL=C.UTF-8 TZ=UTC
umask 022

scratch=$(mktemp -d /tmp/rig-pb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
out="$scratch/out"
mkdir -p "$out"

inv=()
if [ -e "$case_dir/inventory.ini" ]; then inv=(-i inventory.ini)
elif [ -d "$case_dir/inventory" ]; then inv=(-i inventory)
else inv=(-i "$here/inventory.ini"); fi

args=()
mode=events
if [ -f "$case_dir/args" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    args+=("$line")
    case "$line" in --list-tasks|--list-hosts|--list-tags|--syntax-check) mode=stdout ;; esac
  done < "$case_dir/args"
fi

# strategy: free anywhere in the playbook: results are compared per host (normalize.py per_host)
per_host=()
if grep -Eq '^[[:space:]-]*strategy:[[:space:]]*["'"'"']?(ansible\.builtin\.)?free' "$case_dir/playbook.yml" 2>/dev/null; then
  per_host=(--per-host)
fi

# EXTRA_ARG (used by listings.sh): one more option after the case's own, e.g. --list-tasks
if [ -n "${EXTRA_ARG:-}" ]; then
  args+=("$EXTRA_ARG")
  case "$EXTRA_ARG" in --list-tasks|--list-hosts|--list-tags|--syntax-check) mode=stdout ;; esac
fi

rm -rf "$result"
mkdir -p "$result"
(cd "$case_dir" && timeout 300 "${candidate[@]}" "${inv[@]}" playbook.yml -e "out=$out" "${args[@]}" \
  </dev/null >"$scratch/stdout" 2>"$scratch/stderr")
echo $? > "$result/rc"
python3 "$here/normalize.py" "$mode" "${per_host[@]}" --out "$out" --case "$case_dir" <"$scratch/stdout" >"$result/$mode"
{ cat "$scratch/stdout"; echo "----- stderr"; cat "$scratch/stderr"; } \
  | python3 "$here/normalize.py" stdout --out "$out" --case "$case_dir" >"$result/raw.txt"
python3 "$here/normalize.py" files "$out" "$result"
