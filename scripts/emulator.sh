#!/usr/bin/env bash
# Starts or stops the local AWS emulator (moto server behind scripts/emulator_server.py:
# DynamoDB, SES v2) on 127.0.0.1:4566 (EMULATOR_PORT for another one beside it).
#   emulator.sh up    start it unless something already answers there (then leave that alone)
#   emulator.sh down  stop it, but only if `up` started it
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${EMULATOR_PORT:-4566}
NAME=moto
[ "$PORT" = 4566 ] || NAME="moto-$PORT"
case "${1:-}" in
  up) MOTO_PORT="$PORT" exec scripts/service.sh up "$NAME" "$PORT" /moto-api/ \
        .venv/bin/python scripts/emulator_server.py -H 127.0.0.1 -p "$PORT" ;;
  down) exec scripts/service.sh down "$NAME" ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
