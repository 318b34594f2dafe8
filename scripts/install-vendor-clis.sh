#!/usr/bin/env bash
# Install the pinned vendor coding-agent CLIs (claude, codex, gemini) that the
# e2e tests drive, into a cache directory outside the clone.
#
#   scripts/install-vendor-clis.sh              install (or reuse) and print the bin dir
#   scripts/install-vendor-clis.sh --force      reinstall even if the cache looks fine
#   scripts/install-vendor-clis.sh --print-bin-dir   only print where the bin dir would be
#
# The last stdout line is always the bin dir (.../node_modules/.bin), so callers
# can do: PATH="$(scripts/install-vendor-clis.sh | tail -n1):$PATH".
#
# Location: $CLINVK_VENDOR_DIR, else ${XDG_CACHE_HOME:-~/.cache}/clinvk/vendor-<hash>,
# where <hash> covers the pin list, so bumping a pin gets a fresh directory
# and old checkouts keep working with their own.
#
# Needs Node >= 20 and npm. Claude Code >= 2.1.198 declares engines.node >= 22,
# so npm prints EBADENGINE on Node 20; the CLI is a native binary and runs fine.
# Exact pins matter: an unpinned install on Node 20 silently picks an older claude.
set -euo pipefail

PINS=(
  "@anthropic-ai/claude-code@2.1.330"
  "@openai/codex@0.169.0"
  "@google/gemini-cli@0.61.0"
)

log() { printf 'install-vendor-clis: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
print_only=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-bin-dir) print_only=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

pin_hash() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then sum=sha256sum; else sum="shasum -a 256"; fi
  printf '%s\n' "${PINS[@]}" | $sum | cut -c1-12
}

vendor_dir="${CLINVK_VENDOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clinvk/vendor-$(pin_hash)}"
bin_dir="$vendor_dir/node_modules/.bin"

if [ "$print_only" = 1 ]; then
  printf '%s\n' "$bin_dir"
  exit 0
fi

pinned_version() {  # "@scope/name@1.2.3" -> 1.2.3
  printf '%s' "${1##*@}"
}

# True when $1 holds all three CLIs at the pinned versions. claude and codex
# are native binaries whose postinstall/platform packages can go missing, so
# they are actually run; gemini is a JS bundle whose --version costs ~2 s of
# Node startup, so its package.json is read instead.
installed_ok() {
  local dir="$1/node_modules" out
  local claude_v codex_v gemini_v
  claude_v=$(pinned_version "${PINS[0]}")
  codex_v=$(pinned_version "${PINS[1]}")
  gemini_v=$(pinned_version "${PINS[2]}")
  [ -x "$dir/.bin/claude" ] && [ -x "$dir/.bin/codex" ] && [ -x "$dir/.bin/gemini" ] || return 1
  out=$("$dir/.bin/claude" --version 2>/dev/null) || return 1
  [ "${out%% *}" = "$claude_v" ] || { log "claude reports '$out', want $claude_v"; return 1; }
  out=$("$dir/.bin/codex" --version 2>/dev/null) || return 1
  [ "$out" = "codex-cli $codex_v" ] || { log "codex reports '$out', want $codex_v"; return 1; }
  out=$(node -p 'require(process.argv[1]).version' "$dir/@google/gemini-cli/package.json" 2>/dev/null) || return 1
  [ "$out" = "$gemini_v" ] || { log "gemini package is '$out', want $gemini_v"; return 1; }
}

if [ "$force" = 0 ] && installed_ok "$vendor_dir"; then
  log "reusing $vendor_dir"
  printf '%s\n' "$bin_dir"
  exit 0
fi

command -v node >/dev/null 2>&1 || die "node not found (need Node >= 20)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node $(node --version) is too old (need >= 20)"

# Install into a scratch dir next to the target and move it into place only
# once complete, so an interrupted install never looks like a usable cache and
# a concurrent run never sees half a node_modules.
parent=$(dirname "$vendor_dir")
mkdir -p "$parent"
work=$(mktemp -d "$vendor_dir.partial.XXXXXX")
chmod 755 "$work"  # mktemp makes it 0700; the cache may be shared
trap 'rm -rf "$work"' EXIT

log "installing ${PINS[*]} into $vendor_dir"
printf '{"name":"clinvk-vendor-clis","private":true}\n' >"$work/package.json"
(
  cd "$work"
  npm install \
    --no-audit --no-fund --no-update-notifier --loglevel=error --save-exact \
    "${PINS[@]}" >&2
)
installed_ok "$work" || die "installed CLIs do not report the pinned versions"

if [ -e "$vendor_dir" ]; then
  if [ "$force" = 0 ] && installed_ok "$vendor_dir"; then
    # Another run finished first; keep its copy.
    log "reusing $vendor_dir (installed concurrently)"
    printf '%s\n' "$bin_dir"
    exit 0
  fi
  rm -rf "$vendor_dir"
fi
mv "$work" "$vendor_dir"
trap - EXIT
log "installed into $vendor_dir"
printf '%s\n' "$bin_dir"
