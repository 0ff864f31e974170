#!/usr/bin/env bash
# Runs a candidate over every case of the playbook suite and compares it with expected/.
#   bash tests/playbooks/compare.sh [CANDIDATE] [CASE_NAME_SUBSTRING...]
# CANDIDATE is a command line split on spaces (default: target/debug/rig playbook if built,
# else rig playbook). Proving the harness: compare.sh /var/tmp/ansible-venv/bin/ansible-playbook
# Env: JOBS (parallel cases, default 2). Exit status 0 only if every case is identical.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
JOBS=${JOBS:-2}
if [ $# -gt 0 ]; then
  read -r -a candidate <<<"$1"
  shift
elif [ -x "$here/../../target/debug/rig" ]; then
  candidate=("$here/../../target/debug/rig" playbook)
else
  candidate=(rig playbook)
fi
# a candidate given as a relative path is resolved before run_case.sh changes directory
if [[ "${candidate[0]}" == */* && "${candidate[0]}" != /* ]]; then
  candidate[0]="$(pwd)/${candidate[0]}"
fi

work=$(mktemp -d /tmp/rig-pb-compare.XXXXXX)
trap 'rm -rf "$work"' EXIT

cases=()
for d in "$here"/cases/*/; do
  name=$(basename "$d")
  if [ $# -gt 0 ]; then
    keep=0
    for f in "$@"; do case "$name" in *"$f"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  cases+=("$name")
done

printf '%s\n' "${cases[@]}" | xargs -P "$JOBS" -I{} bash -c '
  bash "$0/run_case.sh" "$0/cases/{}" "$1/{}" "${@:2}"
' "$here" "$work" "${candidate[@]}"

pass=0
total=0
for name in "${cases[@]}"; do
  total=$((total + 1))
  if diff -r -u -x raw.txt -x listings "$here/cases/$name/expected" "$work/$name" >"$work/$name.diff" 2>&1; then
    pass=$((pass + 1))
    echo "PASS $name"
  else
    echo "FAIL $name"
    head -n 60 "$work/$name.diff"
  fi
done
echo "playbooks: $pass/$total cases identical"
[ "$pass" = "$total" ]
