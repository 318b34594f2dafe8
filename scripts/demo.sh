#!/usr/bin/env bash
# A real conversation through a real vendor CLI, driven by clinvk.
#
#   bash scripts/demo.sh [claude|codex|gemini]     (default: claude)
#
# Installs clinvk (.venv) and the pinned vendor CLIs (scripts/setup.sh), starts the
# project's mock model API on 127.0.0.1, points the vendor CLI at it through a throwaway
# HOME, and runs: a new prompt, two resumes (text, then JSON), `sessions list` and
# `sessions show`. Nothing leaves loopback and no account is needed; the demo's sessions
# live in a temp CLINVK_HOME, removed at the end. With CLINVK_DEMO_REAL=1 it uses your
# own vendor login and your real clinvk store instead of the mock.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="${1:-claude}"
case "$backend" in claude|codex|gemini) ;; *) echo "usage: $0 [claude|codex|gemini]" >&2; exit 2 ;; esac

if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' dim=$'\033[2m' off=$'\033[0m'; else bold="" dim="" off=""; fi
note() { printf '%s%s%s\n' "$dim" "$*" "$off" >&2; }
# Show a command as you would type it (quoted only where needed), then run it.
run() {
  local arg line=""
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./=:@%+-]+$ ]]; then line+=" $arg"
    elif [[ "$arg" != *[\"\$\`\\!]* ]]; then line+=" \"$arg\""
    else line+=" ${arg@Q}"; fi
  done
  printf '\n%s$%s%s\n' "$bold" "$line" "$off" >&2
  "$@"
}

tmp="$(mktemp -d)"
mock_pid=""
cleanup() {
  local status=$?
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  if [ "$status" != 0 ] && [ -s "$tmp/mock.log" ]; then
    echo "demo failed (exit $status); the mock model API's log:" >&2
    tail -n 20 "$tmp/mock.log" >&2
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

note "setting up: clinvk in $root/.venv and the pinned vendor CLIs (the first run takes a minute)..."
if ! vendor_bin="$(bash "$root/scripts/setup.sh" 2>"$tmp/setup.log" | tail -n 1)" || [ -z "$vendor_bin" ]; then
  cat "$tmp/setup.log" >&2
  echo "setup failed (scripts/setup.sh); its output is above" >&2
  exit 1
fi
export PATH="$vendor_bin:$root/.venv/bin:$PATH"
py="$root/.venv/bin/python"

if [ "${CLINVK_DEMO_REAL:-0}" != "1" ]; then
  # Your own clinvk settings must not change the demo (e.g. CLINVK_DEFAULTS_BACKEND).
  while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^CLINVK_' || true)
  "$py" "$root/scripts/mockapi.py" --port 0 --port-file "$tmp/port" 2>"$tmp/mock.log" &
  mock_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  [ -s "$tmp/port" ] || { echo "the mock model API did not start:" >&2; cat "$tmp/mock.log" >&2; exit 1; }
  eval "$("$py" "$root/scripts/vendor_sandbox.py" "$tmp/sandbox" --port "$(cat "$tmp/port")" --format sh)"
  export CLINVK_HOME="$tmp/clinvk-home"
  note "mock model API on http://127.0.0.1:$(cat "$tmp/port"); throwaway HOME and clinvk store in $tmp"
fi
note "vendor CLIs from $vendor_bin"
mkdir -p "$tmp/project" && cd "$tmp/project"

run clinvk backends
run clinvk prompt -b "$backend" "say hi"
run clinvk resume --here "again, from the same conversation"
run clinvk resume --here -o json "once more, as JSON for a script"
run clinvk sessions list --here
id="$(clinvk sessions list --here --json -n 1 | "$py" -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
run clinvk sessions show "${id:0:6}" --turns

if [ "${CLINVK_DEMO_REAL:-0}" != "1" ]; then
  note "done: $backend answered through the mock on 127.0.0.1; the demo's HOME and sessions are removed now."
fi
