"""`clinvk config …`: where the settings file lives, what is in effect, and safe edits.

Edits are clinvk.config.edit's: comments and ordering survive, and every edit is
checked against the schema before a byte is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from cyclopts import App, Parameter

from clinvk import completion
from clinvk.errors import ConfigError, NotFoundError

if TYPE_CHECKING:

    from clinvk.config import KeyInfo, LoadedConfig

app = App(
    name="config",
    help="""Show, read and edit the settings file (config.toml).

A setting comes from, highest first: a command-line flag, the environment
(CLINVK_SECTION_KEY, e.g. CLINVK_SESSION_RETENTION_DAYS), the config file, the built-in
default. docs/config.md describes every key.

Example: clinvk config set session.retention_days 90
""",
)

# A dotted key; TAB offers every key the schema has (clinvk.completion).
ConfigKey = Annotated[str, Parameter(completer=completion.config_keys)]


@app.command
def path() -> int:
    """Print the path of the config file (whether or not it exists yet).

    CLINVK_CONFIG names the file; otherwise it is config.toml in CLINVK_HOME, or in the
    platform's user config directory.

    Example: clinvk config path
    """
    from clinvk.config import config_path
    from clinvk.output import out

    out(str(config_path()))
    return 0


@app.command
def show(*, json: bool = False) -> int:
    """Print every setting with its effective value and where that value came from.

    The source is "default", "file PATH" or "env VARIABLE". Backend and pricing tables
    are listed key by key, as the file sets them.

    Example: clinvk config show --json

    Parameters
    ----------
    json
        Print {"path": P, "exists": B, "settings": [{"key", "value", "source", "origin"}]};
        source is default, file or env, origin the file path or variable name (or null).
    """
    from clinvk.config import load
    from clinvk.passwords import redact

    loaded = load()
    rows = [(key, redact(value) if isinstance(value, str) else value, source)
            for key, value, source in settings(loaded)]
    if json:
        from clinvk.output import print_json

        print_json({
            "path": str(loaded.path),
            "exists": loaded.path.is_file(),
            "settings": [
                {"key": key, "value": value, "source": source.partition(" ")[0],
                 "origin": source.partition(" ")[2] or None}
                for key, value, source in rows
            ],
        })
        return 0
    from clinvk.config.edit import toml_literal
    from clinvk.output import out, table

    out(table(["KEY", "VALUE", "SOURCE"], [[k, toml_literal(v), s] for k, v, s in rows]))
    return 0


@app.command
def get(key: ConfigKey, *, json: bool = False) -> int:
    """Print the effective value of one setting (after env overrides).

    KEY is dotted: section.key, backends.NAME.key, backends.NAME.env.VAR,
    pricing.MODEL.key (quote a part with dots only if it is ambiguous). Strings print
    bare, lists and tables as JSON. A key that is not set and has no default is exit 1.

    Example: clinvk config get backends.codex.model

    Parameters
    ----------
    key
        The dotted key, e.g. session.retention_days.
    json
        Print the value as JSON (strings quoted, null when unset).
    """
    from clinvk.config import key_info, load

    info = key_info(key)
    value = effective_value(load(), info)
    if json:
        from clinvk.output import print_json

        print_json(value)
        return 0
    from clinvk.output import out

    out(plain(value))
    return 0


@app.command(name="set")
def set_(key: ConfigKey, value: Annotated[str, Parameter(allow_leading_hyphen=True)]) -> int:
    """Set KEY to VALUE in the config file, keeping its comments and ordering.

    VALUE is read by the key's type: a number, true/false, a string, a list as a
    TOML/JSON array ('["--flag", "x"]'), a table as an inline table
    ('{input = 3, output = 15}'). The whole file is checked before it is written; on
    any error it is left as it was. The file (and its directory) is created if missing.

    Example: clinvk config set backends.codex.env.OPENAI_BASE_URL http://127.0.0.1:8080

    Parameters
    ----------
    key
        The dotted key, e.g. session.retention_days or backends.codex.model.
    value
        The new value.
    """
    from clinvk.config import key_info

    info = key_info(key)
    if len(info.parts) < 2:
        raise ConfigError(f"{info.name} is a section; set one of its keys, e.g. "
                          f"{_example_key(info)}")
    from clinvk.config.edit import edit, parse_value

    _report(edit(info.parts, parse_value(info, value), remove=False), info.name)
    return 0


@app.command
def unset(key: ConfigKey) -> int:
    """Remove KEY from the config file, so the environment or the default applies.

    Removing a table (backends.NAME, pricing.MODEL) removes all its keys. A key that
    the file does not set is not an error. A key the schema does not know can still
    be removed if the file has it, to repair a file that no longer loads.

    Example: clinvk config unset backends.codex.model

    Parameters
    ----------
    key
        The dotted key, e.g. session.retention_days.
    """
    from clinvk.config import UnknownKeyError, format_key, key_info, split_key
    from clinvk.config.edit import edit, file_has

    try:
        parts: tuple[str, ...] = key_info(key).parts
    except UnknownKeyError:
        # Let a stray key that makes the file invalid be removed by name.
        parts = tuple(split_key(key))
        if not file_has(parts):
            raise
    _report(edit(parts, None, remove=True), format_key(parts))
    return 0


def _report(done: str, name: str) -> None:
    import os

    from clinvk.config import SCALAR_KEYS, env_var_for
    from clinvk.output import err, warn

    err(done)
    if name in SCALAR_KEYS and os.environ.get(env_var_for(name)):
        warn(f"{env_var_for(name)} is set and overrides the file")


# ---------------------------------------------------------------------------------------
# Reading values


def settings(loaded: LoadedConfig) -> list[tuple[str, Any, str]]:
    """(dotted key, effective value, source) for every scalar setting and every key
    the file sets under backends and pricing."""
    import msgspec

    from clinvk.config import SCALAR_KEYS, format_key, read_file

    effective = msgspec.to_builtins(loaded.config)
    rows: list[tuple[str, Any, str]] = []
    for key in SCALAR_KEYS:
        section, name = key.split(".")
        rows.append((key, effective[section][name], loaded.sources[key]))
    raw = read_file(loaded.path)
    source = f"file {loaded.path}"
    for table in ("backends", "pricing"):
        for name, entry in raw.get(table, {}).items():
            for field in entry:
                value = effective[table][name][field]
                if isinstance(value, dict) and value:
                    for var in value:
                        rows.append((format_key([table, name, field, var]), value[var], source))
                else:
                    rows.append((format_key([table, name, field]), value, source))
    return rows


def effective_value(loaded: LoadedConfig, info: KeyInfo) -> Any:
    import msgspec

    from clinvk.config import key_info

    node: Any = msgspec.to_builtins(loaded.config)
    for depth, part in enumerate(info.parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
            continue
        default = key_info(info.parts[: depth + 1]).default
        if default is msgspec.NODEFAULT:
            raise NotFoundError(f"{info.name} is not set")
        node = default
    return node


def plain(value: Any) -> str:
    """How `get` prints a value: strings bare, so scripts can use them as they are."""
    import json

    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _example_key(info: KeyInfo) -> str:
    from msgspec import inspect as mi

    if isinstance(info.type, mi.StructType):
        return f"{info.name}.{info.type.fields[0].name}"
    return f"{info.name}.NAME.KEY"
