#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser tests (the distribution's packages: no
# browser download by a test tool), installed only if they are missing; and axe-core, pinned
# in scripts/a11y (npm's registry, installed there, never globally), which the customer's
# pages' test injects into each page through WebDriver. No page ever serves it.
set -euo pipefail
cd "$(dirname "$0")/.."
a11y=scripts/a11y
stamp="$a11y/node_modules/.installed"
if [ ! -f "$stamp" ] || [ "$a11y/package-lock.json" -nt "$stamp" ]; then
  npm ci --prefix "$a11y" --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null ||
  { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null; }
command -v chromedriver >/dev/null
