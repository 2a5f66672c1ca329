#!/usr/bin/env bash
# `make dev` after the stack is up: builds every function, then serves them all on one base
# URL with `cargo lambda watch`, and drives the activation mailer (scripts/mailer-loop.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${DEV_PORT:-9000}
mkdir -p .run
cargo build --workspace --bins
scripts/mailer-loop.sh "$PORT" &
loop=$!
trap 'kill $loop 2>/dev/null || true' EXIT INT TERM
echo "serving every function on http://127.0.0.1:$PORT (activation mail is swept every second)"
cargo lambda watch -A 127.0.0.1 -P "$PORT"
