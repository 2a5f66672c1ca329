#!/usr/bin/env bash
# Starts or stops the local OpenID provider (oidc-provider-mock, pinned in .venv) on
# 127.0.0.1:9400, for the activation pages' sign-in.
#   oidc.sh up    start it unless something already answers there (then leave that alone)
#   oidc.sh down  stop it, but only if `up` started it
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
PORT=${OIDC_PORT:-9400}
RUN=.run
mkdir -p "$RUN"

alive() { curl -fsS -o /dev/null "http://$HOST:$PORT/.well-known/openid-configuration" 2>/dev/null; }

case "${1:-}" in
  up)
    if alive; then
      echo "identity provider: already running on $HOST:$PORT (left as is)"
      exit 0
    fi
    PYTHONWARNINGS=ignore nohup .venv/bin/oidc-provider-mock -H "$HOST" -p "$PORT" \
      >"$RUN/oidc.log" 2>&1 &
    echo $! >"$RUN/oidc.pid"
    for _ in $(seq 1 100); do
      if alive; then echo "identity provider: started on $HOST:$PORT (pid $(cat "$RUN/oidc.pid"))"; exit 0; fi
      sleep 0.2
    done
    echo "identity provider: did not come up; see $RUN/oidc.log" >&2
    exit 1
    ;;
  down)
    if [ -f "$RUN/oidc.pid" ]; then
      kill "$(cat "$RUN/oidc.pid")" 2>/dev/null || true
      rm -f "$RUN/oidc.pid"
      echo "identity provider: stopped"
    fi
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
