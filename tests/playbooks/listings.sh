#!/usr/bin/env bash
# --list-tasks, --list-tags and --syntax-check on every case of the suite (with the case's own
# arguments), recorded from ansible-playbook and compared with a candidate.
#   bash tests/playbooks/listings.sh generate [CASE_NAME_SUBSTRING...]
#   bash tests/playbooks/listings.sh compare [CANDIDATE|""] [CASE_NAME_SUBSTRING...]
# Expected results: cases/NAME/expected/listings/{list-tasks,list-tags,syntax-check}/{rc,stdout};
# compare runs only the recorded ones. Cases whose own args are a listing are left out (compare.sh
# covers them).
# Env: VENV (default /var/tmp/ansible-venv), JOBS (default 2). compare exits 0 only if all match.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
JOBS=${JOBS:-2}
what=${1:?generate or compare}
shift
if [ "$what" = generate ]; then
  VENV=${VENV:-/var/tmp/ansible-venv}
  candidate=("$VENV/bin/ansible-playbook")
elif [ $# -gt 0 ] && [ -n "$1" ]; then
  read -r -a candidate <<<"$1"
  shift
else
  [ $# -gt 0 ] && shift   # "" = the default candidate
  candidate=("$here/../../target/debug/rig" playbook)
fi
if [[ "${candidate[0]}" == */* && "${candidate[0]}" != /* ]]; then
  candidate[0]="$(pwd)/${candidate[0]}"
fi

work=$(mktemp -d /tmp/rig-pb-listings.XXXXXX)
trap 'rm -rf "$work"' EXIT
jobs=()
for d in "$here"/cases/*/; do
  name=$(basename "$d")
  [ -f "$d/playbook.yml" ] || continue
  # cases that are listings already are compared by compare.sh
  if [ -f "$d/args" ] && grep -Eq '^--(list-tasks|list-tags|list-hosts|syntax-check)$' "$d/args"; then
    continue
  fi
  if [ $# -gt 0 ]; then
    keep=0
    for f in "$@"; do case "$name" in *"$f"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  for flag in list-tasks list-tags syntax-check; do
    # compare: only what was recorded (recording every case takes Ansible about 20 minutes)
    if [ "$what" = compare ] && [ ! -f "$d/expected/listings/$flag/rc" ]; then continue; fi
    jobs+=("$name $flag")
  done
done

export LHERE=$here LWORK=$work LCAND="${candidate[*]}"
printf '%s\n' "${jobs[@]}" | xargs -P "$JOBS" -L 1 bash -c '
  read -r -a cand <<<"$LCAND"
  EXTRA_ARG=--$2 bash "$LHERE/run_case.sh" "$LHERE/cases/$1" "$LWORK/$1/$2" "${cand[@]}" >/dev/null 2>&1
' _

pass=0
total=0
for job in "${jobs[@]}"; do
  read -r name flag <<<"$job"
  got="$work/$name/$flag"
  exp="$here/cases/$name/expected/listings/$flag"
  if [ "$what" = generate ]; then
    mkdir -p "$exp"
    cp "$got/rc" "$got/stdout" "$exp/"
    echo "recorded $name $flag rc=$(cat "$exp/rc")"
    continue
  fi
  total=$((total + 1))
  if diff -u "$exp/rc" "$got/rc" >"$work/d" 2>&1 && diff -u "$exp/stdout" "$got/stdout" >>"$work/d" 2>&1; then
    pass=$((pass + 1))
    echo "PASS $name $flag"
  else
    echo "FAIL $name $flag"
    head -n 40 "$work/d"
  fi
done
[ "$what" = generate ] && exit 0
echo "listings: $pass/$total identical"
[ "$pass" = "$total" ]
