#!/usr/bin/env bash
# The contract as SDKs see it (SPEC §4.1 10). Tools pinned in scripts/contract (npm packages
# installed into its node_modules, never globally) and in .venv.
#
#   scripts/contract.sh static     lint openapi.yaml (Redocly, the project's rules, every
#                                  example against its schema), derive the SDK input (no
#                                  pages; a 3.0 copy), generate the Python, TypeScript and
#                                  Rust clients and check them, build the reference page
#   scripts/contract.sh run URL    the generated Python and Rust clients walk a running stack
#   scripts/contract.sh reference  the reference page alone (make dev serves it)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=scripts/contract
out=target/contract
mkdir -p "$out"

npm_tools() {
  local stamp="$tools/node_modules/.installed"
  if [ ! -f "$stamp" ] || [ "$tools/package-lock.json" -nt "$stamp" ]; then
    npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
}

static() {
  npm_tools
  echo "-- lint (Redocly, scripts/contract/redocly.yaml)"
  "$tools/node_modules/.bin/redocly" lint openapi.yaml --config "$tools/redocly.yaml" \
    --format=summary 2>&1 | grep -vE '║|╔|╚|^\s*$' || true
  "$tools/node_modules/.bin/redocly" lint openapi.yaml --config "$tools/redocly.yaml" \
    --format=summary >/dev/null 2>&1

  echo "-- the SDK input: the contract without its pages, and a 3.0 copy"
  .venv/bin/python "$tools/sdk_input.py" openapi.yaml "$out"

  echo "-- Python (openapi-python-client)"
  rm -rf "$out/python"
  .venv/bin/openapi-python-client generate --path "$out/sdk.yaml" --output-path "$out/python" \
    --meta setup --config "$tools/python-client.yaml" >"$out/python-generate.log" 2>&1 \
    || { cat "$out/python-generate.log"; exit 1; }
  sed -i '/^Generating /d' "$out/python-generate.log"
  .venv/bin/python "$tools/check_python_client.py" "$out/sdk.yaml" "$out/python" \
    "$out/python-generate.log"
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
    "$out/python"

  echo "-- TypeScript (openapi-typescript, openapi-fetch, tsc --strict)"
  "$tools/node_modules/.bin/openapi-typescript" "$out/sdk.yaml" -o "$out/api.d.ts" --silent
  "$tools/node_modules/.bin/tsc" -p "$tools/tsconfig.json"

  echo "-- Rust (progenitor, from the 3.0 copy; its own workspace and target)"
  (cd "$tools/rust-client" && CARGO_TARGET_DIR="$PWD/../../../$out/rust-target" \
    cargo build --quiet)

  reference
}

# The contract rendered to one self-contained HTML page (Redoc, its scripts inlined).
reference() {
  npm_tools
  echo "-- the reference page (Redoc, offline): $out/reference.html"
  "$tools/node_modules/.bin/redocly" build-docs openapi.yaml -o "$out/reference.html" \
    --inlineBundle --title "Volume licensing service API" >/dev/null 2>&1
}

run() {
  local base=$1
  local walked
  walked=$(.venv/bin/python "$tools/walkthrough.py" "$base")
  echo "$walked" | grep -v '^AGREEMENT='
  local agreement partner
  agreement=$(echo "$walked" | sed -n 's/^AGREEMENT=\([^ ]*\) PARTNER=.*/\1/p')
  partner=$(echo "$walked" | sed -n 's/^AGREEMENT=[^ ]* PARTNER=\(.*\)/\1/p')
  "$out/rust-target/debug/vls-rust-client" "$base" "$agreement" "$partner"
}

case "${1:-}" in
  static) static ;;
  run) run "${2:?a base URL}" ;;
  reference) reference ;;
  *) echo "usage: scripts/contract.sh static | run BASE_URL | reference" >&2; exit 2 ;;
esac
