#!/usr/bin/env bash
# `make release-check`: what a deployment needs, offline. Every function the template names
# builds for Lambda with the release profile (`cargo lambda build --release`; x86_64 here, the
# template deploys arm64, which the deploy pipeline builds), and the SAM template, translated to
# CloudFormation by aws-sam-translator, passes cfn-lint (as does the SAM source itself).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

echo "== cargo lambda build --release"
cargo lambda build --release
missing=0
for bin in $(.venv/bin/python - <<'PY'
import re
text = open("template.yaml", encoding="utf-8").read()
print(" ".join(re.findall(r"^\s+Binary:\s*(\S+)\s*$", text, re.M)))
PY
); do
  f="target/lambda/$bin/bootstrap"
  if [ -x "$f" ]; then
    printf '  %-20s %10s bytes\n' "$bin" "$(stat -c %s "$f")"
  else
    echo "  $bin: $f was not built"; missing=1
  fi
done
[ "$missing" = 0 ]

echo "== aws-sam-translator: template.yaml → target/template.cfn.json"
.venv/bin/python scripts/sam_translate.py template.yaml target/template.cfn.json

echo "== cfn-lint (SAM source and translated CloudFormation)"
.venv/bin/cfn-lint template.yaml target/template.cfn.json
echo "release check passed"
