#!/usr/bin/env bash
# Benchmark (not a test): rig against Ansible on the same machine, in the same run.
#   1. `rig render` of the collector template, whole process, against
#      `ansible HOST -m template` (ansible-core 2.19, local connection) on the same case.
#   2. Loading a 1,000-host inventory with group_vars and host_vars: `rig inventory --list`
#      against `ansible-inventory --list`.
# Prints a markdown table (mean ± stddev, ratio) and writes bench/results/render-inventory.json.
# Needs: a release build (cargo build --release), hyperfine, ansible-core in $ANSIBLE_VENV.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RIG=${RIG:-$ROOT/target/release/rig}
VENV=${ANSIBLE_VENV:-/var/tmp/ansible-venv}
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }
[ -x "$RIG" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -x "$VENV/bin/ansible" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'ansible-core<2.20'; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$HERE/results"

# 1,000 hosts in 10 groups under two parents, a group_vars file per group, a host_vars file per host.
inv=$WORK/inv; mkdir -p "$inv/group_vars" "$inv/host_vars"
{
  for g in $(seq 0 9); do
    echo "[g$g]"; for h in $(seq 0 99); do echo "host-$g-$h.example.com ansible_host=10.9.$g.$h"; done; echo
  done
  echo "[even:children]"; for g in 0 2 4 6 8; do echo "g$g"; done; echo
  echo "[odd:children]"; for g in 1 3 5 7 9; do echo "g$g"; done
} > "$inv/hosts.ini"
printf 'env: bench\nntp: [a, b, c]\nretention: 720h\n' > "$inv/group_vars/all.yml"
for g in $(seq 0 9); do printf 'group_id: %s\nsampling: %s\nlimits: {cpu: 2, mem: 4096}\n' "$g" "$((g * 10))" > "$inv/group_vars/g$g.yml"; done
for g in $(seq 0 9); do for h in $(seq 0 99); do
  printf 'rack: r%s\nserial: "%s-%s"\n' "$h" "$g" "$h" > "$inv/host_vars/host-$g-$h.example.com.yml"
done; done

case=$ROOT/tests/conformance/cases/001-otel-defaults
cinv=$ROOT/tests/conformance/inventory.ini
cd "$WORK"
# -N: no shell in between, so the numbers are the processes' own.
hyperfine -N --style basic --warmup 3 --min-runs 30 --output=null --export-json "$WORK/render.json" \
  -n "rig render" "$RIG render $case/template.j2 -i $cinv --host web1 -e @$case/vars.yml" \
  -n "ansible -m template" "$VENV/bin/ansible web1 -i $cinv -m template -a 'src=$case/template.j2 dest=$WORK/out.yml' -e @$case/vars.yml" \
  >/dev/null
hyperfine -N --style basic --warmup 1 --min-runs 5 --output=null --export-json "$WORK/inventory.json" \
  -n "rig inventory --list" "$RIG inventory -i $inv --list" \
  -n "ansible-inventory --list" "$VENV/bin/ansible-inventory -i $inv --list" \
  >/dev/null

python3 - "$WORK/render.json" "$WORK/inventory.json" "$HERE/results/render-inventory.json" <<'PY'
import json, platform, sys, os
rows = []
for path in sys.argv[1:3]:
    r = json.load(open(path))["results"]
    rig, ans = r[0], r[1]
    rows.append((rig["command"], rig["median"], rig["min"], rig["user"] + rig["system"],
                 ans["command"], ans["median"], ans["min"], ans["user"] + ans["system"]))
print("| what | rig: median (min), CPU | Ansible: median (min), CPU | ratio (median) |")
print("|---|---|---|---|")
for rc, rm, rmin, rcpu, ac, am, amin, acpu in rows:
    print(f"| {rc} vs {ac} | {rm*1000:.1f} ms ({rmin*1000:.1f}), {rcpu*1000:.0f} ms | "
          f"{am*1000:.0f} ms ({amin*1000:.0f}), {acpu*1000:.0f} ms | {am/rm:.0f}x |")
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({"machine": {"cpu": cpu, "cores": os.cpu_count()}, "rows": [
    {"rig": r[0], "rig_median_s": r[1], "rig_min_s": r[2], "rig_cpu_s": r[3],
     "ansible": r[4], "ansible_median_s": r[5], "ansible_min_s": r[6], "ansible_cpu_s": r[7],
     "ratio_median": r[5] / r[1]} for r in rows]},
    open(sys.argv[3], "w"), indent=2)
PY
