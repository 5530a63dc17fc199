#!/bin/sh
# The container's entrypoint (the test suite runs it outside Docker: tests/test_entrypoint.py).
#   1. check the settings and the writable folders; make the keys when absent (exit 2 if not)
#   2. IDENTITY_MIGRATE=1 (default): apply the migrations; with IDENTITY_APP_ROLE set
#      (PostgreSQL), give that role the service's privileges
#   3. IDENTITY_ACTIVATE_POLICY=<file, label or version>: activate it for IDENTITY_ACTIVATE_TENANT
#      (default: IDENTITY_DEFAULT_TENANT); already active is a no-op, and replacing another
#      active policy goes through `identity policy activate`'s checks (it may refuse)
#   4. exec the command given (the service by default), which takes this process's place
# Replicas of the service set IDENTITY_MIGRATE=0 and leave the first three to a one-shot job.
set -eu

python="${IDENTITY_PYTHON:-python}"
identity="${IDENTITY_CLI:-identity}"

"$python" -m identity.cli.preflight

if [ "${IDENTITY_MIGRATE:-1}" = "1" ]; then
  "$identity" db upgrade
  if [ -n "${IDENTITY_APP_ROLE:-}" ]; then
    "$identity" db grant-app-role "$IDENTITY_APP_ROLE"
  fi
fi

if [ -n "${IDENTITY_ACTIVATE_POLICY:-}" ]; then
  "$identity" policy activate "$IDENTITY_ACTIVATE_POLICY" \
    --tenant "${IDENTITY_ACTIVATE_TENANT:-${IDENTITY_DEFAULT_TENANT:-sample-payer}}"
fi

if [ "$#" -eq 0 ]; then
  echo "identity: no command to run" >&2
  exit 2
fi
exec "$@"
