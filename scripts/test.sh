#!/usr/bin/env bash
# Lint, then the whole test suite (unit, API, database isolation, sqlsim, Playwright in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -f .env ]]; then set -a; source .env; set +a; fi
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> pytest"
exec .venv/bin/pytest "$@"
