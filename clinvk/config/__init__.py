"""Where clinvk keeps its state, and its settings.

One module per idea: ``paths`` (the data dir and the config file), ``keys`` (dotted key
syntax), ``schema`` (the Config structs, their bounds, what each key means), ``load``
(file + environment → a checked Config) and ``edit`` (`clinvk config set/unset`:
tomlkit edits that keep comments and ordering; import it from clinvk.config.edit).

Settings come from, in order of precedence: a command-line flag > ``CLINVK_<SECTION>_<KEY>``
> the config file > the default. Nothing here imports tomlkit at import time.
"""

from clinvk.backends.settings import BackendConfig
from clinvk.config.keys import format_key, split_key
from clinvk.config.load import (
    LoadedConfig,
    load,
    locate,
    parse_toml,
    read_file,
    read_text,
    validate,
)
from clinvk.config.paths import config_path, data_dir
from clinvk.config.schema import (
    MAX_LIST_LIMIT,
    MAX_RETENTION_DAYS,
    MAX_TIMEOUT,
    SCALAR_KEYS,
    Config,
    DefaultsConfig,
    KeyInfo,
    PriceConfig,
    SessionConfig,
    SettingError,
    SyncConfig,
    UnknownKeyError,
    check_backend_name,
    check_semantics,
    env_var_for,
    key_info,
)

__all__ = [
    "MAX_LIST_LIMIT",
    "MAX_RETENTION_DAYS",
    "MAX_TIMEOUT",
    "SCALAR_KEYS",
    "BackendConfig",
    "Config",
    "DefaultsConfig",
    "KeyInfo",
    "LoadedConfig",
    "PriceConfig",
    "SessionConfig",
    "SettingError",
    "SyncConfig",
    "UnknownKeyError",
    "check_backend_name",
    "check_semantics",
    "config_path",
    "data_dir",
    "env_var_for",
    "format_key",
    "key_info",
    "load",
    "locate",
    "parse_toml",
    "read_file",
    "read_text",
    "split_key",
    "validate",
]
