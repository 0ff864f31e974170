#!/usr/bin/env bash
# Benchmark (not a test): rig against ansible-playbook on real lab hosts (tests/lab), same
# machine, same run, same inventory.
#   - rig (default settings: forks 64 (32 before 2026-11-26), one SSH master + persistent remote shell per host);
#   - ansible-playbook with its default configuration (forks 5, no pipelining, ControlPersist);
#   - ansible-playbook tuned: pipelining on, forks = number of hosts.
# Cases (bench/lab_bench.py has the details):
#   noop20 / noop100: a play of 20 / 100 tasks that change nothing (file state=directory on an
#     existing dir, template and copy with unchanged content, command with creates:) on 10 hosts,
#     gather_facts: false; each tool converges once into its own directory, then the no-op rerun
#     is timed REPS times (tools interleaved, medians reported).
#   scale50: noop20 on 50 hosts (rig REPS times, tuned Ansible REPS50 times, default 1).
# Measured per run: wall time, controller CPU (user+sys of the whole process tree, including the
# daemonized ssh masters, which the harness adopts as a child subreaper), controller peak RSS
# (largest single process, and the peak sum over the tree sampled every 50 ms), rig's round
# trips (RIG_STATS=1), and the load average around the run.
# Prints a markdown table and writes bench/results/lab-bench.json.
# Holds the machine-wide lab lock ($LAB_DIR/.lock, as tests/common/lab.rs) for the whole run and
# runs tests/lab/down.sh at the end in every case. Needs root, the lab base
# (tests/lab/build-base.sh), ansible-core in $ANSIBLE_VENV.
#   REPS=3 REPS100=1 REPS50=0 CASES="noop20 noop100 scale50" OUT=bench/results/x.json bash bench/lab-bench.sh
# (the README's table: REPS=3 REPS100=1 REPS50=0; Ansible at 100 tasks takes 5-7 min per run here).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/lab}
VENV=${ANSIBLE_VENV:-/var/tmp/ansible-venv}
[ "$(id -u)" = 0 ] || { echo "lab-bench: needs root (the lab boots systemd-nspawn hosts)" >&2; exit 1; }
[ -x "$VENV/bin/ansible-playbook" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'ansible-core<2.20'; }

if [ -z "${LAB_BENCH_LOCKED:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    mkdir -p "$LAB_DIR"
    echo "lab-bench: waiting for the lab lock ($LAB_DIR/.lock)" >&2
    LAB_BENCH_LOCKED=1 exec flock -o "$LAB_DIR/.lock" "$0" "$@"
fi

# From here on we own the lab: start from nothing, and always leave nothing.
trap '"$ROOT/tests/lab/down.sh" >/dev/null 2>&1 || true' EXIT
"$ROOT/tests/lab/down.sh" >/dev/null 2>&1 || true
mkdir -p "$HERE/results"
RIG=${RIG:-$ROOT/target/release/rig} LAB=$ROOT/tests/lab ANSIBLE_VENV=$VENV \
    python3 "$HERE/lab_bench.py" "${OUT:-$HERE/results/lab-bench.json}"
