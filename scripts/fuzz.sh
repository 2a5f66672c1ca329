#!/usr/bin/env bash
# Fuzzes the running local stack from openapi.yaml with schemathesis: no 5xx, every response
# conforms to its documented schema, status code and content type. One pass per caller
# (billing support, a registered partner, a licensing specialist), since most routes refuse
# other roles. `fuzz.sh <base url> <examples per operation>`.
#
# Positive mode only: schemathesis' negative mode sends bodies that are not UTF-8, which
# `cargo lambda watch` itself answers with a plain-text 500 before any function runs (API
# Gateway hands such bodies to the function base64-encoded). Our handling of those bodies
# is tested in-process (tests/tests/api/failure_drills.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-http://127.0.0.1:9000}
EXAMPLES=${2:-10}
BS=$(.venv/bin/python scripts/mint_token.py billing_support)
curl -fsS -o /dev/null -X PUT "$BASE/partners/fuzz-partner" -H "Authorization: Bearer $BS" \
  -d '{"name":"Fuzz LSP","contact":{"name":"F","email":"f@fabrikam.com","phone":"1"}}'
mkdir -p .run
status=0
for role in billing_support partner licensing_specialist; do
  args=("$role")
  [ "$role" = partner ] && args+=(--partner-id fuzz-partner)
  token=$(.venv/bin/python scripts/mint_token.py "${args[@]}")
  log=".run/fuzz-$role.log"
  if .venv/bin/schemathesis run openapi.yaml --url "$BASE" -H "Authorization: Bearer $token" \
      -n "$EXAMPLES" -m positive --phases examples,fuzzing --generation-deterministic -w 1 \
      --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
      --no-color >"$log" 2>&1; then
    echo "fuzz as $role: $(grep -E '[0-9]+ generated' "$log" | tr -s ' ')"
  else
    echo "fuzz as $role FAILED (see $log):"; sed -n '/FAILURES/,$p' "$log" | head -60
    status=1
  fi
done
exit $status
