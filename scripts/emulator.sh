#!/usr/bin/env bash
# Starts or stops the local AWS emulator (moto server: DynamoDB, SES v2) on 127.0.0.1:4566.
#   emulator.sh up    start it unless something already answers there (then leave that alone)
#   emulator.sh down  stop it, but only if `up` started it
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
PORT=${EMULATOR_PORT:-4566}
RUN=.run
mkdir -p "$RUN"

alive() { curl -fsS -o /dev/null "http://$HOST:$PORT/moto-api/" 2>/dev/null; }

case "${1:-}" in
  up)
    if alive; then
      echo "emulator: already running on $HOST:$PORT (left as is)"
      exit 0
    fi
    MOTO_PORT="$PORT" nohup .venv/bin/python scripts/emulator_server.py -H "$HOST" -p "$PORT" >"$RUN/moto.log" 2>&1 &
    echo $! >"$RUN/moto.pid"
    for _ in $(seq 1 100); do
      if alive; then echo "emulator: started on $HOST:$PORT (pid $(cat "$RUN/moto.pid"))"; exit 0; fi
      sleep 0.2
    done
    echo "emulator: did not come up; see $RUN/moto.log" >&2
    exit 1
    ;;
  down)
    if [ -f "$RUN/moto.pid" ]; then
      kill "$(cat "$RUN/moto.pid")" 2>/dev/null || true
      rm -f "$RUN/moto.pid"
      echo "emulator: stopped"
    fi
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
