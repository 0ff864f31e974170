#!/usr/bin/env bash
# Benchmark (not a test): rig against ansible-playbook on the tracing-stack site.yml, in one run,
# on fresh lab hosts (tests/lab), each tool on hosts of its own, at 1, 10 and 50 hosts:
#   first run from fresh hosts, no-op rerun, rerun with one variable changed (--diff), and the
#   synthetic play of 100 no-op tasks. Tools: rig (its defaults), ansible-playbook with its
#   default configuration (forks 5, no pipelining), and tuned (pipelining on, forks = hosts).
# Measured per run: wall time, controller CPU (user+sys of the whole process tree, ssh masters
# included), controller peak RSS (the tool's own process, and the tree's peak sum), rig's round
# trips per task per host (RIG_STATS=1), the load average around the run.
# Prints a markdown table with ratios and writes bench/results/stack-bench.json (details and the
# knobs, PLAN, SHARE_HOSTS and ANSIBLE_TIMEOUT: bench/stack_bench.py). Needs root, the lab base
# (tests/lab/build-base.sh), ansible-core in $ANSIBLE_VENV; honours the lab's LAB_* variables
# (LAB_ID, LAB_DIR, LAB_NET, LAB_BRIDGE, LAB_REPO_PORT: tests/lab/README.md).
#   bash bench/stack-bench.sh                       # the whole matrix (hours with Ansible at 50)
#   PLAN=quick bash bench/stack-bench.sh           # the README's table, ~45 min on a quiet machine
#   PLAN="10:rig:first,noop 10:ansible-tuned:first,noop" bash bench/stack-bench.sh
#   RIG=path/to/rig skips the release build (a copy of the binary, so a rebuild cannot change it mid-run)
#   python3 bench/stack_bench.py --table bench/results/stack-bench.json   # the table again
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export LAB_DIR=${LAB_DIR:-/var/tmp/lab}
VENV=${ANSIBLE_VENV:-/var/tmp/ansible-venv}
[ "$(id -u)" = 0 ] || { echo "stack-bench: needs root (the lab boots systemd-nspawn hosts)" >&2; exit 1; }
[ -x "$VENV/bin/ansible-playbook" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'ansible-core<2.20'; }

if [ -z "${LAB_BENCH_LOCKED:-}" ]; then
    [ -n "${RIG:-}" ] || (cd "$ROOT" && cargo build --release --quiet)
    mkdir -p "$LAB_DIR"
    echo "stack-bench: waiting for the lab lock ($LAB_DIR/.lock)" >&2
    LAB_BENCH_LOCKED=1 exec flock -o "$LAB_DIR/.lock" "$0" "$@"
fi

trap '"$ROOT/tests/lab/down.sh" >/dev/null 2>&1 || true' EXIT
"$ROOT/tests/lab/down.sh" >/dev/null 2>&1 || true
# The stand-ins (otelcol-contrib, grafana, tempo, the Python wheels) and python3-packaging (for
# Ansible's pip module) into the lab's apt repo, as tests/lab_ssh/stack.rs does.
REPO=${LAB_REPO:-$LAB_DIR/repo}
bash "$ROOT/tests/standins/build.sh" "$REPO" >&2
ls "$REPO"/python3-packaging_*.deb >/dev/null 2>&1 || (cd "$REPO" && apt-get download -q python3-packaging >&2)
LAB_REPO=$REPO bash "$ROOT/tests/lab/repo.sh" >&2
mkdir -p "$HERE/results"
RIG=${RIG:-$ROOT/target/release/rig} LAB=$ROOT/tests/lab ANSIBLE_VENV=$VENV \
    python3 "$HERE/stack_bench.py" "${OUT:-$HERE/results/stack-bench.json}"
