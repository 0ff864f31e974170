#!/usr/bin/env bash
# Makes the vault fixtures with real ansible-vault (ansible-core 2.19 in /var/tmp/ansible-venv):
#   vars-encrypted.yml  a whole vars file encrypted (format 1.1)
#   inline.yml          a vars file with a `!vault |` value (encrypt_string)
#   labelled.yml        a value encrypted with vault id `prod` (format 1.2)
# The passwords are test fixtures, not secrets.
set -euo pipefail
cd "$(dirname "$0")"
V=${ANSIBLE_VENV:-/var/tmp/ansible-venv}/bin
printf 'rig-test-password\n' > password.txt
printf 'prod-password\n' > prod-password.txt
printf 'db_password: correct horse battery staple\nport: 5432\n' > vars-plain.yml
cp vars-plain.yml vars-encrypted.yml
"$V/ansible-vault" encrypt --vault-password-file password.txt vars-encrypted.yml
{
  echo "plain_value: visible"
  "$V/ansible-vault" encrypt_string --vault-password-file password.txt 's3cr3t-api-token' --name api_token 2>/dev/null
} > inline.yml
"$V/ansible-vault" encrypt_string --vault-id prod@prod-password.txt 'prod-only' --name prod_token 2>/dev/null > labelled.yml
