#!/usr/bin/env bash
# A real conversation through a real vendor CLI, driven by clinvk.
#
#   bash scripts/demo.sh [claude|codex|gemini]     (default: claude)
#
# Installs clinvk (.venv) and the pinned vendor CLIs (scripts/setup.sh), starts the
# project's mock model API on 127.0.0.1, points the vendor CLI at it through a throwaway
# HOME, and runs: a new prompt, a resume, `sessions list` and `sessions show`. Nothing
# leaves loopback and no account is needed; the demo's sessions live in a temp
# CLINVK_HOME, removed at the end. With CLINVK_DEMO_REAL=1 it uses your own vendor
# login and your real clinvk store instead of the mock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="${1:-claude}"
case "$backend" in claude|codex|gemini) ;; *) echo "usage: $0 [claude|codex|gemini]" >&2; exit 2 ;; esac

vendor_bin="$(bash "$root/scripts/setup.sh" | tail -n 1)"
export PATH="$vendor_bin:$root/.venv/bin:$PATH"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

tmp="$(mktemp -d)"
mock_pid=""
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ "${CLINVK_DEMO_REAL:-0}" != "1" ]; then
  "$root/.venv/bin/python" "$root/scripts/mockapi.py" --port 0 --port-file "$tmp/port" 2>"$tmp/mock.log" &
  mock_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  [ -s "$tmp/port" ] || { echo "the mock model API did not start; see $tmp/mock.log" >&2; exit 1; }
  eval "$("$root/.venv/bin/python" "$root/scripts/vendor_sandbox.py" "$tmp/sandbox" --port "$(cat "$tmp/port")" --format sh)"
  export CLINVK_HOME="$tmp/clinvk-home"
  echo "mock model API on http://127.0.0.1:$(cat "$tmp/port"); vendor CLIs in $vendor_bin" >&2
fi
mkdir -p "$tmp/project" && cd "$tmp/project"

say clinvk backends
clinvk backends
say clinvk prompt -b "$backend" "say hi"
clinvk prompt -b "$backend" "say hi"
say clinvk resume --last "again, from the same conversation"
clinvk resume --last "again, from the same conversation"
say clinvk sessions list
clinvk sessions list
id="$(clinvk sessions list --json -n 1 | "$root/.venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
say clinvk sessions show "${id:0:6}" --turns
clinvk sessions show "${id:0:6}" --turns
