#!/usr/bin/env bash
# Runs one bad-input case with a candidate command (ansible-playbook or `rig playbook`).
#   run_case.sh CASE_DIR RESULT_DIR CANDIDATE...
# The case is copied to a scratch directory first (its first task touches `marker` there).
# RESULT_DIR gets: rc, output (stdout then stderr, the scratch path replaced by <case>),
# marker ("yes" when the first task ran, i.e. a host was touched, else "no").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
case_dir=$(cd "$1" && pwd)
result=$2
shift 2
candidate=("$@")

export ANSIBLE_FORKS=1 ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
  ANSIBLE_HOST_KEY_CHECKING=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
  ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 LC_ALL=C.UTF-8 TZ=UTC \
  COLUMNS=100
umask 022

scratch=$(mktemp -d /tmp/rig-bad.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cp -r "$case_dir/." "$scratch/"
rm -rf "$scratch/expected"

args=()
if [ -f "$case_dir/args" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    args+=("$line")
  done < "$case_dir/args"
fi
inv=(-i "$here/inventory.ini")
for a in "${args[@]}"; do [ "$a" = -i ] && inv=(); done

rm -rf "$result"
mkdir -p "$result"
(cd "$scratch" && timeout 120 "${candidate[@]}" "${inv[@]}" "${args[@]}" playbook.yml \
  </dev/null >"$scratch/.stdout" 2>"$scratch/.stderr")
echo $? > "$result/rc"
if [ -e "$scratch/marker" ]; then echo yes; else echo no; fi > "$result/marker"
cat "$scratch/.stdout" "$scratch/.stderr" | sed -e "s#$scratch#<case>#g" -e "s#$here#<here>#g" > "$result/output"
