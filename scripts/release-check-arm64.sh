#!/usr/bin/env bash
# `make release-check-arm64`: builds what the template deploys — every function for Lambda on
# arm64 (Graviton), with cargo-lambda and its Zig — and checks that each `bootstrap` is an
# aarch64 ELF. Needs Rust's aarch64 standard library (`rustup target add
# aarch64-unknown-linux-gnu`); where it is not installed this says so and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "aarch64 target missing: rustup target add $target (then run this again)" >&2
  exit 2
fi
echo "== cargo lambda build --release --arm64"
cargo lambda build --release --arm64
.venv/bin/python scripts/check_binaries.py --arch aarch64 target/lambda
echo "arm64 release check passed"
