#!/usr/bin/env bash
# Runs every test of rig: formatting, lints, unit and integration tests, the template
# conformance corpus, and the SSH tests against real lab hosts (booted by the tests themselves).
# Installs what it needs (Debian packages for the lab, the lab's base image) on a fresh machine.
# Run as root from anywhere: bash tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

echo "== fmt and clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

echo "== tests"
cargo test --all-targets 2>&1 | tee /tmp/rig-test.log
