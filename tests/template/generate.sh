#!/usr/bin/env bash
# Regenerates the expected outputs of tests/template_filters.rs with real Ansible.
# Each line of snippets.txt (name<TAB>template) becomes cases/<name>.snip; Ansible's template
# module renders it with vars.yml as extra vars; what it wrote is cases/<name>.expected, and a
# failure is recorded as cases/<name>.error (first line of Ansible's message).
# Needs ansible-playbook (ansible-core 2.19) and passlib: ANSIBLE=/path/to/venv/bin ./generate.sh
set -eu
here=$(dirname "$(readlink -f "$0")"); cd "$here"
bin=${ANSIBLE:-/var/tmp/ansible-venv/bin}
export RIG_TEMPLATE_TEST_ENV=from-env-test ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
rm -f cases/*.snip cases/*.expected cases/*.error
names=()
while IFS=$'\t' read -r name tpl; do
  case "$name" in ''|'#'*) continue;; esac
  printf '%s\n' "$tpl" > "cases/$name.snip"
  names+=("$name")
done < snippets.txt
# whole templates (multi-line, headers, includes) are copied as they are
for t in templates/*.j2; do
  name=$(basename "$t" .j2); cp "$t" "cases/$name.snip"; names+=("$name")
done
out=$(mktemp -d)
json=$(printf '%s\n' "${names[@]}" | "$bin/python" -c 'import json,sys; print(json.dumps({"names": sys.stdin.read().split()}))')
"$bin/ansible-playbook" -i localhost, render.yml -e @vars.yml -e "$json" -e "out_dir=$out" > "$out/log" 2>&1 || { tail -20 "$out/log"; exit 1; }
"$bin/python" - "$out" <<'PY'
import json, os, shutil, sys
out = sys.argv[1]
for r in json.load(open(os.path.join(out, "results.json"))):
    name = r["item"]
    if r.get("failed"):
        msg = r.get("msg", "").strip().splitlines()
        open(f"cases/{name}.error", "w").write((msg[0] if msg else "failed") + "\n")
    else:
        shutil.copyfile(os.path.join(out, name), f"cases/{name}.expected")
PY
"$bin/ansible-playbook" --version > "$out/version"; head -1 "$out/version" > VERSIONS
rm -rf "$out"
echo "generated: $(ls cases/*.expected | wc -l) expected, $(ls cases/*.error 2>/dev/null | wc -l) errors"
