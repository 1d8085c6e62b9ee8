#!/usr/bin/env bash
# Runs a command in a private network namespace with only loopback (`unshare --net`) when the
# machine allows it (root, as in CI): a cheap guarantee that no packet of a real client's defaults
# leaves this machine. Elsewhere it runs the command as is (the tests bind to loopback anyway).
set -euo pipefail
if [ "${BITSWARM_NO_UNSHARE:-}" != "1" ] && unshare --net true 2>/dev/null; then
  exec unshare --net bash -c 'ip link set lo up 2>/dev/null || true; exec "$@"' bash "$@"
fi
exec "$@"
