#!/usr/bin/env bash
# `make release-check`: what a deployment needs, offline. Every function the template names
# builds for Lambda with the release profile (`cargo lambda build --release`; x86_64 here: the
# template deploys arm64, which `make release-check-arm64` builds where Rust's aarch64 target
# is installed), and the SAM template, translated to
# CloudFormation by aws-sam-translator, passes cfn-lint (as does the SAM source itself).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target

echo "== cargo lambda build --release"
cargo lambda build --release
.venv/bin/python scripts/check_binaries.py --arch x86_64 target/lambda

echo "== aws-sam-translator: template.yaml → target/template.cfn.json"
.venv/bin/python scripts/sam_translate.py template.yaml target/template.cfn.json

echo "== cfn-lint (SAM source and translated CloudFormation)"
.venv/bin/cfn-lint template.yaml target/template.cfn.json
echo "release check passed"
