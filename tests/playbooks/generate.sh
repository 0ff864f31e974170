#!/usr/bin/env bash
# Records the expected results of the playbook suite from real ansible-playbook.
#   bash tests/playbooks/generate.sh [CASE_NAME_SUBSTRING...]
# Env: VENV (default /var/tmp/ansible-venv, created if missing), JOBS (parallel cases, default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-/var/tmp/ansible-venv}
JOBS=${JOBS:-2}
if [ ! -x "$VENV/bin/ansible-playbook" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install 'ansible-core<2.20'
fi
"$VENV/bin/ansible-playbook" --version | sed -n 1p

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
  bash "$0/run_case.sh" "$0/cases/{}" "$0/cases/{}/expected" "$1/bin/ansible-playbook" && echo "recorded {} rc=$(cat "$0/cases/{}/expected/rc")"
' "$here" "$VENV"
