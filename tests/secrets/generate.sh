#!/usr/bin/env bash
# Records what real ansible-playbook (ansible-core 2.19, /var/tmp/ansible-venv) prints for the
# no_log fixture (tests/secrets/nolog/), in the modes tests/secrets_nolog.rs runs rig in:
#   nolog/expected/<mode>.txt   stdout, a "----- stderr" line, stderr; then "----- rc N"
# and for the vault fixture (tests/secrets/vault/, tests/secrets_vault_mask.rs), whose values it
# first encrypts with real ansible-vault (password.txt; inline.yml has a `!vault` value,
# encrypted.yml is a whole encrypted vars file):
#   vault/expected/<mode>.txt
# Paths are replaced: the case dir by <CASE>, the scratch dir by <OUT>, controller temp copies of
# templates by <TMP>. The fixtures' values ("NOLOG-SECRET-1", "db-Pa55-w0rd!", "tok-7f3a9c21")
# are test values, not secrets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
V=${ANSIBLE_VENV:-/var/tmp/ansible-venv}/bin
export ANSIBLE_FORKS=1 ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
  ANSIBLE_HOST_KEY_CHECKING=0 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
  ANSIBLE_CONFIG="$here/../playbooks/ansible.cfg" ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 LC_ALL=C.UTF-8 TZ=UTC
umask 022
record() {
case_dir=$1
shift
mkdir -p "$case_dir/expected"
for m in "$@"; do
  name=${m%%|*}
  args=${m#*|}
  scratch=$(mktemp -d /tmp/rig-secrets.XXXXXX)
  mkdir "$scratch/out"
  set +e
  # shellcheck disable=SC2086
  (cd "$case_dir" && "$V/ansible-playbook" -i inventory.ini playbook.yml -e "out=$scratch/out" $args $EXTRA \
     </dev/null >"$scratch/stdout" 2>"$scratch/stderr")
  rc=$?
  set -e
  { cat "$scratch/stdout"; echo "----- stderr"; cat "$scratch/stderr"; echo "----- rc $rc"; } \
    | sed -e "s#$scratch/out#<OUT>#g" -e "s#$case_dir#<CASE>#g" \
          -e "s#[^ \"']*/\.ansible/tmp/[^ \"']*/#<TMP>/#g" >"$case_dir/expected/$name.txt"
  rm -rf "$scratch"
  echo "recorded $(basename "$case_dir")/$name rc=$rc"
done
}

if [ "${1:-all}" != vault ]; then
  EXTRA="" record "$here/nolog" "default|" "v-diff|-v --diff" "vvv-diff|-vvv --diff" \
    "check-diff|--check --diff"
fi

vault_dir="$here/vault"
printf 'rig-secrets-test\n' >"$vault_dir/password.txt"
"$V/ansible-vault" encrypt_string --vault-password-file "$vault_dir/password.txt" \
  'db-Pa55-w0rd!' --name db_password 2>/dev/null >"$vault_dir/inline.yml"
printf 'api_token: tok-7f3a9c21\n' >"$vault_dir/encrypted.yml"
"$V/ansible-vault" encrypt --vault-password-file "$vault_dir/password.txt" "$vault_dir/encrypted.yml"
EXTRA="--vault-password-file password.txt" record "$vault_dir" "check-diff|--check --diff" "diff|--diff -v"
