"""Safe edits of the config file: one key set or removed, comments and ordering kept.

Every edit is checked against the schema (the same checks ``load`` makes) before a byte
is written, and the rendered file must read back as exactly the intended settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from clinvk.config import KeyInfo

# Written at the top of a config file that `clinvk config set` creates.
NEW_FILE_HEADER = (
    "# clinvk settings. `clinvk config show` lists every key and where its value comes from;\n"
    "# docs/config.md explains them.\n"
)



def toml_literal(value: Any) -> str:
    """How `show` prints a value: as it would be written in the file."""
    import json

    if isinstance(value, dict):
        from clinvk.config import format_key

        return "{" + ", ".join(f"{format_key([k])} = {toml_literal(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------------------
# Parsing a VALUE from the command line


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_value(info: KeyInfo, raw: str) -> Any:
    """Read VALUE as the key's type; ConfigError naming the key and what it accepts."""
    import math
    import re

    from msgspec import inspect as mi

    kind = info.type
    if isinstance(kind, mi.UnionType):
        kind = next(t for t in kind.types if not isinstance(t, mi.NoneType))
    bad = ConfigError(f"{info.name}: {raw!r} is not valid; expected {info.accepts}")
    if isinstance(kind, mi.LiteralType):
        if raw not in kind.values:
            raise bad
        return raw
    if isinstance(kind, mi.StrType):
        return raw
    if isinstance(kind, mi.BoolType):
        lowered = raw.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise bad
    if isinstance(kind, mi.IntType):
        if not re.fullmatch(r"\s*[+-]?\d+\s*", raw):
            raise bad
        return int(raw)
    if isinstance(kind, mi.FloatType):
        try:
            number = float(raw)
        except ValueError:
            raise bad from None
        if not math.isfinite(number):
            raise bad
        return number
    literal = _literal(raw)
    if isinstance(kind, mi.ListType):
        if not isinstance(literal, list) or not all(isinstance(x, str) for x in literal):
            raise bad
        return literal
    if not isinstance(literal, dict):
        raise bad
    return literal


def _literal(raw: str) -> Any:
    """A TOML value (array, inline table) or, failing that, JSON."""
    import json
    import tomllib

    try:
        doc = tomllib.loads(f"v = {raw}")
        if list(doc) == ["v"]:
            return doc["v"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# Editing the file


def file_has(parts: tuple[str, ...]) -> bool:
    from clinvk.config import config_path, read_file

    node: Any = read_file(config_path())
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def edit(parts: tuple[str, ...], value: Any, *, remove: bool) -> str:
    """Set or remove one key, validating the whole resulting file before writing it;
    returns what was done, for the user."""
    import copy
    import tomllib

    from clinvk.config import (
        check_backend_name,
        check_semantics,
        config_path,
        format_key,
        parse_toml,
        read_text,
        validate,
    )
    name = format_key(parts)
    path = config_path()
    text = read_text(path)
    old = {} if text is None else parse_toml(text, path)
    new = copy.deepcopy(old)
    if not _apply(new, parts, value, remove=remove, path=path):
        return (f"{name} is not set in {path}; nothing to do" if remove
                else f"{name} is already {toml_literal(value)} in {path}")
    verb = "unset" if remove else "set"
    try:
        config = validate(new, f"cannot {verb} {name}")
    except ConfigError as exc:
        if "missing required key" in exc.message and parts[0] == "pricing":
            exc.hint = (f"set the whole table at once, e.g. clinvk config set "
                        f"{format_key(parts[:2])} '{{input = 3, output = 15}}'")
        raise
    try:
        check_semantics(config)
        if name == "defaults.backend" and not remove:
            check_backend_name(config)
    except ConfigError as exc:
        if exc.message.startswith(f"{name} "):
            raise
        raise ConfigError(f"cannot {verb} {name}: {exc.message}") from None
    new_text = None
    # The careful edit keeps new keys next to their neighbours; the plain one is tomlkit's
    # own. Whichever is used, the result must read back as exactly the intended settings.
    for careful in (True, False):
        try:
            candidate = _render(text, parts, value, remove=remove, careful=careful)
            if _pruned(tomllib.loads(candidate)) == _pruned(new):
                new_text = candidate
                break
        except Exception:  # noqa: BLE001, S112 - tomlkit's corners; the plain edit or the error below
            continue
    if new_text is None:
        raise ConfigError(f"cannot {verb} {name}: could not edit {path} without disturbing "
                          "other settings; edit it by hand")
    _write_atomic(path, new_text)
    return (f"{'removed' if remove else 'set'} {name}"
            f"{'' if remove else ' = ' + toml_literal(value)} in {path}")


def _pruned(data: Any) -> Any:
    # An emptied [backends] vanishes from TOML while an emptied [session] header stays;
    # to the schema both mean "not set".
    if isinstance(data, dict):
        kept = {k: _pruned(v) for k, v in data.items()}
        return {k: v for k, v in kept.items() if v != {}}
    return data


def _apply(data: dict[str, Any], parts: tuple[str, ...], value: Any, *, remove: bool,
           path: Path) -> bool:
    """The edit on plain data; False if it changes nothing."""
    from clinvk.config import format_key

    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            if remove:
                return False
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"{format_key(parts[: depth + 1])} in {path} is not a table; "
                              "fix it by hand or unset it")
        node = child
    leaf = parts[-1]
    if remove:
        if leaf not in node:
            return False
        del node[leaf]
        return True
    if leaf in node and type(node[leaf]) is type(value) and node[leaf] == value:
        return False
    node[leaf] = value
    return True


def _render(text: str | None, parts: tuple[str, ...], value: Any, *, remove: bool,
            careful: bool) -> str:
    import tomlkit
    from tomlkit.items import InlineTable

    original = NEW_FILE_HEADER if text is None else text
    doc = tomlkit.parse(original)
    node: Any = doc
    parent: Any = None
    # Tables this edit adds get a closing blank line once filled, so the next header
    # does not stick to them.
    created: list[Any] = []
    for depth, part in enumerate(parts[:-1]):
        parent = node
        if part in node:
            node = node[part]
            continue
        if remove:
            return text or ""
        child: Any
        if depth == 0:
            # [backends] and [pricing] hold only sub-tables: no bare [backends] header.
            child = tomlkit.table(is_super_table=part in ("backends", "pricing"))
        elif depth == 1:
            child = tomlkit.table()
        else:
            child = tomlkit.inline_table()
        _add(node, part, child, careful=careful)
        node = node[part]
        if depth == 1:
            created.append(node)
    leaf = parts[-1]
    if remove:
        del node[leaf]
    elif isinstance(node, InlineTable) and leaf not in node:
        # Rebuilt rather than appended to: tomlkit would write {A = "1",B = "2"}.
        rebuilt = tomlkit.inline_table()
        for k in node:
            rebuilt.append(k, node[k])
        rebuilt.append(leaf, _item(value, depth=len(parts) - 1))
        parent[parts[-2]] = rebuilt
    else:
        item = _item(value, depth=len(parts) - 1)
        if leaf in node:
            node[leaf] = item
        else:
            _add(node, leaf, item, careful=careful)
            if isinstance(value, dict) and len(parts) == 2:
                created.append(item)
    if careful:
        for table in created:
            table.add(tomlkit.nl())
    rendered = tomlkit.dumps(doc)
    if not original.endswith("\n\n") and rendered.endswith("\n\n"):
        rendered = rendered.rstrip("\n") + "\n"
    if "\r\n" in original:
        # tomlkit writes new lines as \n; a Windows-edited file keeps its line endings.
        rendered = rendered.replace("\r\n", "\n").replace("\n", "\r\n")
    return rendered


def _item(value: Any, *, depth: int) -> Any:
    """A tomlkit item for a value; a table under backends/pricing gets its own header."""
    import tomlkit

    if isinstance(value, dict):
        if depth == 1:
            table = tomlkit.table()
            for k, v in value.items():
                table.append(k, _item(v, depth=depth + 1))
            return table
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline
    return tomlkit.item(value)


def _add(node: Any, key: str, item: Any, *, careful: bool) -> None:
    """Add a new key or table. Careful: a key goes right after the table's last key, not
    after the comments that open the next table (where tomlkit's append puts it)."""
    from tomlkit.items import AoT, Comment, Table, Whitespace

    if not careful:
        node[key] = item
        return
    if isinstance(item, Table):
        node.append(key, item)
        return
    container = node.value
    last = None
    for k, v in container.body:
        if k is not None and not isinstance(v, (Table, AoT, Whitespace, Comment)):
            last = (k, v)
    if last is None or last[0].is_dotted():
        node.append(key, item)
        return
    item.trivia.indent = last[1].trivia.indent
    container._insert_after(last[0], key, item)
    # The table is also a dict of its items; keep that view in step with the body.
    dict.__setitem__(node, key, item)


def _write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half (clinvk.atomic)."""
    import os

    from clinvk.atomic import atomic_write, mkdir_private

    # A symlinked config (dotfiles) stays a symlink: write through to its target.
    target = path.resolve() if path.is_symlink() else path
    try:
        mkdir_private(target.parent)
        try:
            mode = os.stat(target).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
        atomic_write(target, text.encode("utf-8"), mode=mode)
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror or exc}") from None
