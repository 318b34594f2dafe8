#!/usr/bin/env bash
# Installs what clinvk's demo and tests need, from the project's own files:
#   .venv/ with clinvk (editable), its test dependencies and the server, tui and team extras, and
#   the pinned vendor CLIs (claude, codex, gemini) from npm into a cache outside the clone, and
#   the distribution's PostgreSQL server when none is installed (for tests/team).
# Prints the vendor CLIs' bin dir as its last line. Idempotent; CLINVK_FRESH_VENV=1 recreates .venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

if [ "${CLINVK_FRESH_VENV:-0}" = "1" ]; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv >&2
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,server,tui,team]" >&2

# The team-store tests need a PostgreSQL server (initdb, pg_ctl): the distribution's.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 || {
      apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
    }
  else
    echo "setup: no PostgreSQL server found: install the postgresql package for the team-store tests" >&2
  fi
fi

if [ "${CLINVK_SKIP_VENDOR:-0}" != "1" ]; then
  bash scripts/install-vendor-clis.sh | tail -n 1
fi
