"""Safe edits of the config file: one key set or removed, comments and ordering kept.

Every edit is checked against the schema (the same checks ``load`` makes) before a byte
is written, and the rendered file must read back as exactly the intended settings.
Only tomlkit's public API is used (parse, table, inline_table, item, nl, append, item
assignment and deletion); where tomlkit would put a new key after the comments that open
the next table, the rendered text is corrected line-wise (``_hoist``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.config.keys import format_key
from clinvk.config.load import parse_toml, read_file, read_text, validate
from clinvk.config.paths import config_path
from clinvk.config.schema import check_backend_name, check_semantics
from clinvk.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from clinvk.config.schema import KeyInfo

# Written at the top of a config file that `clinvk config set` creates.
NEW_FILE_HEADER = (
    "# clinvk settings. `clinvk config show` lists every key and where its value comes from;\n"
    "# docs/config.md explains them.\n"
)


def toml_literal(value: Any) -> str:
    """How `show` prints a value: as it would be written in the file."""
    import json

    if isinstance(value, dict):
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
    node = data
    chain = [data]
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
        chain.append(node)
    leaf = parts[-1]
    if remove:
        if leaf not in node:
            return False
        del node[leaf]
        # A table left without keys goes too (as _render drops it from the text).
        for depth in reversed(range(len(parts) - 1)):
            if chain[depth + 1]:
                break
            del chain[depth][parts[depth]]
        return True
    if leaf in node and type(node[leaf]) is type(value) and node[leaf] == value:
        return False
    node[leaf] = value
    return True


def _render(text: str | None, parts: tuple[str, ...], value: Any, *, remove: bool,
            careful: bool) -> str:
    """The file's text with one key set or removed, through tomlkit's public API.

    Careful: a new key line is moved up to follow its table's last key (see _hoist), and
    a table this edit creates ends with a blank line.
    """
    import tomlkit
    from tomlkit.items import InlineTable

    original = NEW_FILE_HEADER if text is None else text
    doc = tomlkit.parse(original)
    node: Any = doc
    parent: Any = None
    chain: list[Any] = [doc]
    # Tables this edit adds get a closing blank line once filled, so the next header
    # does not stick to them.
    created: list[Any] = []
    for depth, part in enumerate(parts[:-1]):
        parent = node
        if part in node:
            node = node[part]
            chain.append(node)
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
        node.append(part, child)
        node = node[part]
        if depth == 1:
            created.append(node)
    leaf = parts[-1]
    if remove:
        del node[leaf]
        # No empty [session] or [backends.codex] header left behind (nor its super
        # table); a table that still holds a comment of the user's stays.
        for depth in reversed(range(len(parts) - 1)):
            if not _empty(chain[depth + 1]):
                break
            del chain[depth][parts[depth]]
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
            node.append(leaf, item)
            if isinstance(value, dict) and len(parts) == 2:
                created.append(item)
    if careful:
        for table in created:
            table.add(tomlkit.nl())
    rendered = tomlkit.dumps(doc)
    if careful:
        rendered = _hoist(original, rendered)
    if not original.endswith("\n\n") and rendered.endswith("\n\n"):
        rendered = rendered.rstrip("\n") + "\n"
    if "\r\n" in original:
        # tomlkit writes new lines as \n; a Windows-edited file keeps its line endings.
        rendered = rendered.replace("\r\n", "\n").replace("\n", "\r\n")
    return rendered


def _empty(table: Any) -> bool:
    """A tomlkit table without keys and without comments."""
    from tomlkit.items import Comment

    if len(table):
        return False
    body = getattr(getattr(table, "value", None), "body", [])
    return not any(isinstance(item, Comment) for _key, item in body)


def _hoist(original: str, rendered: str) -> str:
    """Where the edit added one key line to an existing table, move that line up past the
    blank and comment lines that end the table.

    tomlkit appends a key after them, but they open whatever follows (usually the next
    table's header), so the key belongs right after its table's last key. Any other
    edit (a changed line, a new table) is returned as it is.
    """
    old = original.splitlines()
    lines = rendered.splitlines(keepends=True)
    new = [line.rstrip("\r\n") for line in lines]
    if len(new) != len(old) + 1:
        return rendered
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
    added = new[at].lstrip()
    if old[at:] != new[at + 1:] or added.startswith(("[", "#")) or "=" not in added:
        return rendered
    top = at
    while top > 0 and (not new[top - 1].strip() or new[top - 1].lstrip().startswith("#")):
        top -= 1
    if top == at:
        return rendered
    lines.insert(top, lines.pop(at))
    # The moved line may have been the last, written without a newline.
    return "".join(line if line.endswith("\n") or i == len(lines) - 1 else line + "\n"
                   for i, line in enumerate(lines))


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
