#!/usr/bin/env bash
# The full test suite: installs everything it needs (scripts/setup.sh), then runs pytest,
# including the e2e tier that drives the real vendor CLIs against the mock model API.
# With no arguments it first runs ruff and mypy --strict. Extra arguments go to pytest, e.g. `bash scripts/test.sh -k store`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
vendor_bin="$(bash scripts/setup.sh | tail -n 1)"
if [ -n "$vendor_bin" ]; then
  export CLINVK_VENDOR_BIN="$vendor_bin"
fi
if [ "$#" -eq 0 ]; then
  # The whole suite also means the linters: both must report nothing.
  .venv/bin/ruff check clinvk tests
  .venv/bin/mypy --strict clinvk
fi
exec .venv/bin/python -m pytest -q "$@"
