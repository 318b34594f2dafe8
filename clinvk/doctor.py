"""`clinvk sessions doctor`: find what is wrong in a session store, and repair it.

Problems it names:

* ``corrupt``: a session file that cannot be read as a session (bad JSON, wrong schema,
  a newer schema version, an id that differs from its file name, a directory);
* ``temp``: a temp file left by a writer that died between writing and renaming
  (``.<name>.<pid>.<hex>.tmp``, in a shard or in index/);
* ``stray``: anything else under sessions/ that is not a shard of session files;
* ``stale-running``: a record still marked ``running`` whose clinvk process is gone;
* ``out-of-range``: a session file with a number beyond the record's bounds
  (clinvk.model), e.g. 10^20 input tokens written by an older clinvk;
* ``index``: the index disagrees with the files (sessions missing from it, listed but
  gone, or summarized from an older version of the file), its snapshot is unreadable,
  or a session cannot be encoded into it.

The repair moves corrupt, temp and stray files into ``<store>/quarantine/`` (never
deletes them), drops out-of-range numbers from their records (as a turn does when a
vendor reports one), marks stale running sessions as interrupted, and rebuilds the index.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk import ids

if TYPE_CHECKING:
    from clinvk.index import Summary, TurnFact
    from clinvk.model import Session
    from clinvk.store import SessionStore

# A writer keeps its temp file for milliseconds; one older than this is torn even if a
# process with its pid happens to exist.
TEMP_GRACE_S = 600

# A msgspec validation message about a number beyond a bound (clinvk.model), not a
# wrong type or a missing field: only those does --fix repair in place.
_BOUNDS = re.compile(r"Expected `(int|float)` [<>]=|Number out of range")


LABELS = {"corrupt": "unreadable session file", "temp": "leftover temp file",
          "stray": "unexpected file", "stale-running": "stale running session",
          "out-of-range": "number out of range in", "index": "index"}


@dataclass
class Problem:
    kind: str  # corrupt | out-of-range | temp | stray | stale-running | index
    detail: str
    path: Path | None = None
    ident: str | None = None

    def text(self) -> str:
        where = f" {self.path}" if self.path is not None else ""
        return f"{LABELS.get(self.kind, self.kind)}{where}: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path) if self.path else None,
                "id": self.ident, "detail": self.detail}


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    sessions: int = 0


def _temp_problem(path: Path, now: float) -> Problem | None:
    """A leftover temp file, or None while its writer may still be writing it."""
    from clinvk.liveness import pid_alive

    parts = path.name[1:-4].rsplit(".", 2)
    pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return None
    if pid is not None and pid_alive(pid, None) and age < TEMP_GRACE_S:
        return None
    why = f"its writer (pid {pid}) is gone" if pid is not None and not pid_alive(pid, None) \
        else f"left {int(age)}s ago"
    return Problem("temp", f"a write that never completed ({why})", path)


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def check(store: SessionStore, progress: Any = None) -> Findings:
    """Read every file of the store and compare the index with them."""
    from clinvk.errors import ClinvkError, NotFoundError
    from clinvk.index import index_problem
    from clinvk.liveness import pid_alive
    from clinvk.store import disk_bytes, summarize, turn_facts

    found = Findings()
    now = time.time()
    truth: dict[str, tuple[Summary, list[TurnFact]]] = {}
    try:
        top = sorted(os.scandir(store.sessions_dir), key=lambda e: e.name)
    except FileNotFoundError:
        top = []
    for shard in top:
        if not (shard.is_dir(follow_symlinks=False) and len(shard.name) == 2):
            kind = "temp" if _is_temp(shard.name) else "stray"
            found.problems.append(Problem(kind, "not a shard directory of session files",
                                          Path(shard.path)))
            continue
        for entry in sorted(os.scandir(shard.path), key=lambda e: e.name):
            path = Path(entry.path)
            name = entry.name
            if _is_temp(name):
                problem = _temp_problem(path, now)
                if problem is not None:
                    found.problems.append(problem)
                continue
            stem = name[:-5] if name.endswith(".json") else None
            if stem is None or not ids.is_valid_id(stem) or stem[:2] != shard.name:
                found.problems.append(Problem("stray", "not a session file (a session file is "
                                              "<shard>/<8-char id>.json)", path))
                continue
            found.files += 1
            if progress:
                progress(found.files)
            try:
                session = store.read_file(path)
                st = path.stat()
            except NotFoundError:
                continue
            except ClinvkError as exc:
                fixed = _bounded(path)
                if fixed is not None and fixed[1]:
                    found.problems.append(Problem("out-of-range", "; ".join(fixed[1]), path, stem))
                else:
                    found.problems.append(Problem("corrupt", _reason(exc.message, path), path,
                                                  stem))
                continue
            found.sessions += 1
            facts = turn_facts(session)
            truth[stem] = (summarize(session, st.st_mtime_ns, facts, disk_bytes(st)), facts)
            unencodable = index_problem(*truth[stem])
            if unencodable:
                found.problems.append(Problem(
                    "index", f"session {stem} cannot be stored in it ({unencodable}); "
                    "the store reads its file instead", path, stem))
            if session.status == "running" and not pid_alive(session.pid, session.pid_start):
                found.problems.append(Problem(
                    "stale-running",
                    f"marked running, but its clinvk process (pid {session.pid}) is gone",
                    path, stem))
    corrupt = {p.ident for p in found.problems if p.kind in ("corrupt", "out-of-range") and p.ident}
    found.problems.extend(_index_problems(store, truth, corrupt))
    found.problems.extend(_index_temp_files(store, now))
    return found


def _reason(message: str, path: Path) -> str:
    # "session file /x/y.json is corrupt: …" → "corrupt: …" (the path is shown once).
    return message.replace(f"session file {path} ", "").replace(f"{path} ", "")


def _index_temp_files(store: SessionStore, now: float) -> list[Problem]:
    problems = []
    try:
        entries = list(os.scandir(store.index_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        if _is_temp(entry.name):
            problem = _temp_problem(Path(entry.path), now)
            if problem is not None:
                problems.append(problem)
    return problems


def _index_problems(store: SessionStore, truth: dict[str, tuple[Summary, list[TurnFact]]],
                    corrupt: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    unreadable = _snapshot_unreadable(store)
    if unreadable:
        problems.append(Problem("index", unreadable, store.index_dir))
        return problems  # nothing more to compare; --fix rebuilds it from the files
    listed: dict[str, tuple[Summary, list[TurnFact]]] = {}
    for summary, facts in store.index(persist=False).iter_with_facts():
        listed[summary.id] = (summary, facts)
    missing = sorted(set(truth) - set(listed))
    # A corrupt file still listed is reported once, as corrupt.
    gone = sorted(set(listed) - set(truth) - corrupt)
    stale = sorted(i for i in set(truth) & set(listed) if truth[i] != listed[i])
    parts = []
    if missing:
        parts.append(f"{len(missing)} session(s) missing from it ({_some(missing)})")
    if gone:
        parts.append(f"{len(gone)} listed that are gone or unreadable ({_some(gone)})")
    if stale:
        parts.append(f"{len(stale)} summarized from an older version of the file ({_some(stale)})")
    if parts:
        problems.append(Problem("index", "out of date: " + "; ".join(parts), store.index_dir))
    return problems


def _some(idents: list[str]) -> str:
    return ", ".join(idents[:5]) + (f" and {len(idents) - 5} more" if len(idents) > 5 else "")


def _snapshot_unreadable(store: SessionStore) -> str | None:
    """Why the index snapshot named by index/current cannot be used, or None."""
    from clinvk.index import _MAGIC

    pointer = store.index_dir / "current"
    try:
        gen = pointer.read_text().strip()
    except FileNotFoundError:
        return None  # no index yet: readers build one
    except OSError as exc:
        return f"cannot read {pointer}: {exc.strerror}"
    if not gen.isdigit():
        return f"{pointer} does not name a snapshot ({gen[:20]!r})"
    base = store.index_dir / f"base-{gen}.bin"
    try:
        with open(base, "rb") as f:
            head = f.read(len(_MAGIC))
    except FileNotFoundError:
        return f"snapshot {base.name} named by index/current is missing"
    except OSError as exc:
        return f"cannot read snapshot {base.name}: {exc.strerror}"
    if head != _MAGIC:
        return f"snapshot {base.name} is not an index snapshot"
    from clinvk.index import _Base

    try:
        _Base(base.read_bytes(), ids.ID_LENGTH)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means unreadable
        return f"snapshot {base.name} is damaged ({exc})"
    return None


def repair(store: SessionStore, found: Findings) -> list[dict[str, Any]]:
    """Fix what check() found; returns what was done, one entry per action."""
    done: list[dict[str, Any]] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for problem in found.problems:
        if problem.kind in ("corrupt", "temp", "stray") and problem.path is not None:
            target = _quarantine(store, problem.path, stamp)
            if target is not None:
                done.append({"kind": problem.kind, "path": str(problem.path),
                             "action": f"moved {problem.path} to {target}"})
        elif problem.kind == "out-of-range" and problem.ident is not None:
            done.append({"kind": problem.kind, "id": problem.ident,
                         "action": _repair_bounds(store, problem.ident)})
        elif problem.kind == "stale-running" and problem.ident is not None:
            outcome = _mark_interrupted(store, problem.ident)
            done.append({"kind": problem.kind, "id": problem.ident, "action": outcome})
    store.rebuild_index()
    done.append({"kind": "index", "action": "rebuilt the index from the session files"})
    return done


def _quarantine(store: SessionStore, path: Path, stamp: str) -> Path | None:
    quarantine = store.quarantine_dir
    quarantine.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        relative = path.relative_to(store.root)
    except ValueError:
        relative = Path(path.name)
    base = f"{stamp}-" + "-".join(relative.parts)
    target = quarantine / base
    n = 1
    while target.exists() or target.is_symlink():
        n += 1
        target = quarantine / f"{base}.{n}"
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    return target


def _mark_interrupted(store: SessionStore, ident: str) -> str:
    from clinvk.errors import SessionBusyError
    from clinvk.recovery import settle_dead_turn

    def change(session: Session) -> None:
        # Also stops the vendor that clinvk left behind, if it is still running.
        settle_dead_turn(session, "marked by `clinvk sessions doctor --fix`")

    try:
        store.update(ident, change)
    except SessionBusyError:
        return f"left {ident} alone: another clinvk process holds it"
    return f"marked {ident} as interrupted (status error)"


def _bounded(path: Path) -> tuple[Session, list[str]] | None:
    """The record in ``path`` with every out-of-range number dropped (what was dropped),
    or None when something other than a number keeps it from being read."""
    import msgspec

    from clinvk.model import SCHEMA_VERSION, Session, Turn

    try:
        record = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("version", 1), int) \
            or record.get("version", 1) > SCHEMA_VERSION:
        return None
    dropped: list[str] = []
    optional_turn = {f.name for f in msgspec.structs.fields(Turn) if f.default is None}
    optional_session = {f.name for f in msgspec.structs.fields(Session) if f.default is None}
    for _ in range(64):
        try:
            session = msgspec.json.decode(msgspec.json.encode(record), type=Session)
        except msgspec.ValidationError as exc:
            where = _path_of(str(exc))
            if not _BOUNDS.match(str(exc)) or not _drop(record, where, optional_turn,
                                                        optional_session):
                return None
            dropped.append(f"{'.'.join(map(str, where))}: {str(exc).split(' - at ')[0]}")
            continue
        except msgspec.DecodeError:
            return None
        if session.id != path.stem:
            return None
        return session, dropped
    return None


def _path_of(message: str) -> list[str | int]:
    """`$.turns[0].usage.input_tokens` at the end of a msgspec error → ["turns", 0, ...]."""
    found = re.search(r" - at `\$(.*)`$", message)
    if found is None:
        return []
    return [int(p[1:-1]) if p.startswith("[") else p[1:]
            for p in re.findall(r"\.[A-Za-z_]\w*|\[\d+\]", found.group(1))]


def _drop(record: dict[str, Any], where: list[str | int], optional_turn: set[str],
          optional_session: set[str]) -> bool:
    """Null the field ``where`` points into, if it is one a record may leave unknown;
    a turn's dropped figures get the same warning a turn gets for a vendor's."""
    if len(where) >= 3 and where[0] == "turns" and isinstance(where[1], int):
        turns = record.get("turns")
        field = where[2]
        if not isinstance(turns, list) or where[1] >= len(turns) or not isinstance(
                turns[where[1]], dict):
            return False
        turn = turns[where[1]]
        if field == "index":
            turn["index"] = where[1] + 1
        elif field in ("usage", "usage_total", "usage_by_model"):
            turn["usage"] = turn["usage_total"] = turn["usage_by_model"] = None
        elif field == "cost_usd":
            turn.update(cost_usd=None, cost_source="unpriced", price_source=None)
        elif field in optional_turn and field != "warning":
            turn[field] = None
        else:
            return False
        note = f"{field} was out of range and was dropped by `clinvk sessions doctor --fix`"
        turn["warning"] = "; ".join(w for w in (turn.get("warning"), note)
                                    if isinstance(w, str) and w)
        return True
    if len(where) >= 1 and isinstance(where[0], str) and where[0] in optional_session \
            and where[0] != "parent_id":
        record[where[0]] = None
        return True
    return False


def _repair_bounds(store: SessionStore, ident: str) -> str:
    from clinvk.errors import ClinvkError, SessionBusyError

    try:
        with store.lock(ident):
            fixed = _bounded(store.path_for(ident))
            if fixed is None:
                return f"left {ident} alone: it changed and can no longer be repaired"
            store.save(fixed[0])
    except SessionBusyError:
        return f"left {ident} alone: another clinvk process holds it"
    except ClinvkError as exc:
        return f"left {ident} alone: {exc.message}"
    return f"dropped {len(fixed[1])} out-of-range number(s) from {ident}"
