#!/usr/bin/env python3
"""Create an isolated home in which claude, codex and gemini talk only to the mock API.

    python scripts/vendor_sandbox.py DIR --port PORT [--format json|sh]

Creates DIR/home (one HOME shared by the three CLIs, with their config files)
and DIR/tmp, then prints the environment variables to apply: a JSON object,
or ``export K=V`` lines for ``eval "$(...)"``.

Everything points at http://127.0.0.1:PORT (see scripts/mockapi.py), retries
are off so injected errors fail fast, and telemetry, update checks and other
background traffic are switched off so nothing leaves loopback.

Tests import this file by path and call ``make_sandbox(dir, port)``; it is
stdlib-only so it works before the project's own dependencies exist.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

HOST = "127.0.0.1"

# Variables from the caller's environment that could send a vendor CLI to a
# real endpoint, a real account or through a proxy. sandbox_environ() drops
# them; the sandbox then supplies its own values where one is needed.
UNSET_VARS: tuple[str, ...] = (
    # anthropic / claude
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDECODE",
    # openai / codex
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT",
    "CODEX_API_KEY",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    # google / gemini
    "GOOGLE_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_GCA",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_VERTEX_BASE_URL",
    "GEMINI_MODEL",
    "GEMINI_SANDBOX",
    "GEMINI_CLI_NO_RELAUNCH",
    "SANDBOX",
    # proxies: loopback must be reached directly
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NODE_OPTIONS",
)


def codex_config(port: int) -> str:
    # A custom provider is the only way to aim codex at a mock: the built-in
    # "openai" provider ignores OPENAI_BASE_URL and tries the real endpoint.
    # plugins=false stops the github.com lookups codex does at every start.
    return f"""\
model = "gpt-5.5"
model_provider = "mock"
check_for_update_on_startup = false

[model_providers.mock]
name = "Mock"
base_url = "http://{HOST}:{port}/v1"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false
"""


GEMINI_SETTINGS: dict[str, object] = {
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    # Without an explicit type, GOOGLE_GEMINI_BASE_URL turns the auth type
    # into "gateway", which headless mode rejects (exit 41).
    "security": {"auth": {"selectedType": "gemini-api-key"}},
}


def make_sandbox(dir: str | os.PathLike[str], port: int) -> dict[str, str]:
    """Create the sandbox under ``dir`` and return the env vars to set."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"bad port {port!r}")
    root = Path(dir).resolve()
    home = root / "home"
    tmp = root / "tmp"
    claude_dir = home / ".claude"
    codex_dir = home / ".codex"
    gemini_dir = home / ".gemini"
    # Gemini would otherwise also merge /etc/gemini-cli/{settings,system-defaults}.json,
    # letting a machine-wide config change what tests see. The files are left
    # absent on purpose: gemini skips missing ones silently but rejects
    # existing ones under a world-writable ancestor such as /tmp, with a
    # "Security Warning" on stderr.
    gemini_system = home / ".gemini-system"
    for d in (
        home,
        tmp,
        claude_dir,
        codex_dir,
        gemini_dir,
        gemini_system,
        home / ".config",
        home / ".cache",
        home / ".local" / "share",
        home / ".local" / "state",
    ):
        d.mkdir(parents=True, exist_ok=True)

    (codex_dir / "config.toml").write_text(codex_config(port))
    (gemini_dir / "settings.json").write_text(json.dumps(GEMINI_SETTINGS, indent=2) + "\n")

    base = f"http://{HOST}:{port}"
    return {
        # One HOME for all three; XDG dirs too, so nothing lands in the
        # developer's real config or cache.
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        # claude and gemini drop sockets, probes and error reports in TMPDIR.
        "TMPDIR": str(tmp),
        "NO_PROXY": f"{HOST},localhost",
        "no_proxy": f"{HOST},localhost",
        # claude
        "CLAUDE_CONFIG_DIR": str(claude_dir),
        "ANTHROPIC_BASE_URL": base,
        "ANTHROPIC_API_KEY": "test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        "DISABLE_UPDATES": "1",
        "DISABLE_GROWTHBOOK": "1",
        "DISABLE_INSTALLATION_CHECKS": "1",
        # claude retries 401/5xx ~10 times with backoff (minutes) otherwise.
        "CLAUDE_CODE_MAX_RETRIES": "0",
        # codex (the provider in config.toml reads its key from here)
        "CODEX_HOME": str(codex_dir),
        "MOCK_API_KEY": "test",
        # gemini (http is accepted only for loopback hosts)
        "GEMINI_CLI_HOME": str(home),
        "GEMINI_API_KEY": "test",
        "GOOGLE_GEMINI_BASE_URL": base,
        "GEMINI_TELEMETRY_ENABLED": "false",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(gemini_system / "settings.json"),
        "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(gemini_system / "system-defaults.json"),
    }


def sandbox_environ(
    sandbox: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A full process environment: ``base`` (default os.environ) minus UNSET_VARS, plus ``sandbox``."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in UNSET_VARS}
    env.update(sandbox)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Create a vendor-CLI sandbox aimed at the mock API."
    )
    parser.add_argument("dir", help="directory to create the sandbox in")
    parser.add_argument(
        "--port", type=int, required=True, help="port of scripts/mockapi.py on 127.0.0.1"
    )
    parser.add_argument("--format", choices=("json", "sh"), default="json")
    args = parser.parse_args(argv)
    env = make_sandbox(args.dir, args.port)
    if args.format == "json":
        print(json.dumps(env, indent=2))
    else:
        # Unset first so a stray vendor credential in the shell cannot win.
        print("unset " + " ".join(UNSET_VARS))
        for key, value in env.items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
