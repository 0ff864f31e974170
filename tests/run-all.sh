#!/usr/bin/env bash
# Runs every test of rig: formatting, lints, unit and integration tests, the template
# conformance corpus, and the SSH tests against real lab hosts (booted by the tests themselves).
# Installs what it needs (Debian packages for the lab, the lab's base image) on a fresh machine.
# Run as root from anywhere: bash tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# Snapshot tests (insta) never write snapshots here: a changed output fails the run.
export INSTA_UPDATE=no

# The lab tests (tests/lab_ssh/) boot lab hosts and tear them down themselves, even when a test
# fails; this is the safety net if the test process itself dies. down.sh stops only what up.sh
# recorded, so it is harmless when no lab is running.
if [ "$(id -u)" = 0 ]; then
    # Under the lab lock that the tests take, so another worktree's running lab is left alone.
    lab_lock=${LAB_DIR:-/var/tmp/lab}/.lock
    trap 'mkdir -p "${lab_lock%/*}"; flock "$lab_lock" bash tests/lab/down.sh >/dev/null 2>&1 || true' EXIT
    echo "== lab prerequisites (installs debootstrap/systemd-container and builds the base image if missing)"
    bash tests/lab/setup-host.sh
    bash tests/lab/build-base.sh
fi

# Real Ansible, for the tests that compare rig with it live (facts, the lab's same-state checks).
# The recorded corpora (templates, playbooks, inventories) need no Ansible.
ANSIBLE_VENV=${ANSIBLE_VENV:-/var/tmp/ansible-venv}
if [ ! -x "$ANSIBLE_VENV/bin/ansible-playbook" ]; then
    echo "== ansible-core 2.19 in $ANSIBLE_VENV (for comparisons)"
    python3 -m venv "$ANSIBLE_VENV"
    "$ANSIBLE_VENV/bin/pip" install -q 'ansible-core<2.20' passlib
fi

echo "== fmt and clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

echo "== tests"
cargo test --all-targets --no-fail-fast 2>&1 | tee /tmp/rig-test.log
