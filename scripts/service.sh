#!/usr/bin/env bash
# Starts or stops one local service of the stack on 127.0.0.1 (scripts/emulator.sh and
# scripts/oidc.sh name theirs).
#   service.sh up NAME PORT HEALTH_PATH COMMAND…   start it unless something already answers
#                                                  at HEALTH_PATH (then leave that alone)
#   service.sh down NAME                           stop it, but only if `up` started it
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=.run
mkdir -p "$RUN"
action=${1:-}
name=${2:-}

case "$action" in
  up)
    port=$3 health=$4
    shift 4
    alive() { curl -fsS -o /dev/null "http://127.0.0.1:$port$health" 2>/dev/null; }
    if alive; then
      echo "$name: already running on 127.0.0.1:$port (left as is)"
      exit 0
    fi
    nohup "$@" >"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    for _ in $(seq 1 100); do
      if alive; then echo "$name: started on 127.0.0.1:$port (pid $(cat "$RUN/$name.pid"))"; exit 0; fi
      sleep 0.2
    done
    echo "$name: did not come up; see $RUN/$name.log" >&2
    exit 1
    ;;
  down)
    if [ -f "$RUN/$name.pid" ]; then
      kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true
      rm -f "$RUN/$name.pid"
      echo "$name: stopped"
    fi
    ;;
  *)
    echo "usage: $0 up NAME PORT HEALTH_PATH COMMAND… | down NAME" >&2
    exit 2
    ;;
esac
