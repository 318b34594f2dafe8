"""`clinvk mcp` without the optional SDK: exit 1 with the line that installs it.

The SDK stays installed; the clinvk process is started with `mcp` blocked from import
(a None entry in sys.modules makes every `import mcp…` fail as if it were absent).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

BLOCKED = ("import sys; sys.modules['mcp'] = None; from clinvk.app import main; "
           "sys.exit(main())")


def test_mcp_without_the_sdk_says_how_to_install_it() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", BLOCKED, "mcp"], check=False,
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    first = proc.stderr.splitlines()[0]
    assert first == ("clinvk: error: the MCP server needs the mcp package: "
                     "pip install 'clinvk[server]'")
    assert "Traceback" not in proc.stderr
