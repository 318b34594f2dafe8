"""`clinvk sessions browse` without Textual: exit 1 with the line that installs it.

Textual stays installed; the clinvk process is started with `textual` blocked from
import (a None entry in sys.modules makes every `import textual…` fail as if it were
absent), as tests/test_mcp_missing.py does for the server extra.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

BLOCKED = ("import sys; sys.modules['textual'] = None; from clinvk.app import main; "
           "sys.exit(main())")


def test_browse_without_textual_says_how_to_install_it() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", BLOCKED, "sessions", "browse"], check=False,
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    first = proc.stderr.splitlines()[0]
    assert first == ("clinvk: error: the terminal browser needs Textual: "
                     "pip install 'clinvk[tui]'")
    assert "Traceback" not in proc.stderr
