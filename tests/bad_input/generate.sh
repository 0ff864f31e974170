#!/usr/bin/env bash
# Records what real ansible-playbook does with each bad-input case: exit code, error text,
# whether the first task ran (cases/NAME/expected/{rc,output,marker}).
#   bash tests/bad_input/generate.sh [CASE_NAME_SUBSTRING...]
# Env: VENV (default /var/tmp/ansible-venv, created if missing).
# tests/bad_input.rs runs rig on the same cases and compares with these recordings.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-/var/tmp/ansible-venv}
if [ ! -x "$VENV/bin/ansible-playbook" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install 'ansible-core<2.20'
fi
"$VENV/bin/ansible-playbook" --version | sed -n 1p > "$here/VERSIONS"
cat "$here/VERSIONS"
for d in "$here"/cases/*/; do
  name=$(basename "$d")
  if [ $# -gt 0 ]; then
    keep=0
    for f in "$@"; do case "$name" in *"$f"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  bash "$here/run_case.sh" "$d" "$d/expected" "$VENV/bin/ansible-playbook"
  echo "recorded $name rc=$(cat "$d/expected/rc") marker=$(cat "$d/expected/marker")"
done
