#!/usr/bin/env bash
# The full test suite: installs everything it needs (scripts/setup.sh), starts a throwaway
# PostgreSQL (scripts/pg-test-cluster.sh), then runs pytest, including the e2e tier that
# drives the real vendor CLIs against the mock model API.
# With no arguments it first runs ruff and mypy --strict. Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -k store` or `bash scripts/test.sh -m "not e2e" tests/core`.
# The tests run in parallel (pytest-xdist), one worker per core; CLINVK_TEST_WORKERS=N sets
# how many (0: in this process, one after another). Tests marked xdist_group share a worker.
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
# A throwaway PostgreSQL cluster for the team-store tests (tests/team), stopped on exit.
pg_dir="$(mktemp -d -t clinvk-pg.XXXXXX)"
trap 'bash scripts/pg-test-cluster.sh stop "$pg_dir"' EXIT
if pg_env="$(bash scripts/pg-test-cluster.sh start "$pg_dir")"; then
  eval "$pg_env"
elif [ -n "${CI:-}" ]; then
  exit 1
else
  echo "test: no PostgreSQL cluster; the tests of tests/team are skipped" >&2
fi
workers="${CLINVK_TEST_WORKERS:-auto}"
if [ "$workers" = "0" ]; then
  .venv/bin/python -m pytest -q "$@"
else
  .venv/bin/python -m pytest -q -n "$workers" --dist loadgroup "$@"
fi
