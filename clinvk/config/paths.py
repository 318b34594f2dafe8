"""Where clinvk keeps its state and its settings file.

The platform user data dir (``CLINVK_HOME`` relocates all state) and the platform user
config dir (``CLINVK_CONFIG`` names the file).
"""

from __future__ import annotations

import os
from pathlib import Path

from clinvk.errors import ConfigError


def data_dir() -> Path:
    home = os.environ.get("CLINVK_HOME")
    if home:
        path = Path(home).expanduser().absolute()
        # The nearest part that exists must be a directory, or nothing can be created there.
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            what = "" if probe == path else f" ({probe} is a file)"
            raise ConfigError(f"CLINVK_HOME is not a directory: {path}{what}",
                              hint="point CLINVK_HOME at a directory (it is created if missing)")
        return path
    import platformdirs

    return Path(platformdirs.user_data_dir("clinvk", appauthor=False))


def config_path() -> Path:
    explicit = os.environ.get("CLINVK_CONFIG")
    if explicit:
        return Path(explicit).expanduser().absolute()
    if os.environ.get("CLINVK_HOME"):
        return data_dir() / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("clinvk", appauthor=False)) / "config.toml"
