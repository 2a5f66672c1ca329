#!/usr/bin/env bash
# Starts or stops the local OpenID provider (oidc-provider-mock, pinned in .venv) on
# 127.0.0.1:9400, for the activation pages' sign-in.
#   oidc.sh up    start it unless something already answers there (then leave that alone)
#   oidc.sh down  stop it, but only if `up` started it
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${OIDC_PORT:-9400}
case "${1:-}" in
  up) PYTHONWARNINGS=ignore exec scripts/service.sh up oidc "$PORT" \
        /.well-known/openid-configuration \
        .venv/bin/oidc-provider-mock -H 127.0.0.1 -p "$PORT" ;;
  down) exec scripts/service.sh down oidc ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
