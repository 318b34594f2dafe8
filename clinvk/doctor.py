"""`clinvk sessions doctor`: find what is wrong in a session store, and repair it.

Problems it names:

* ``corrupt``: a session file that cannot be read as a session (bad JSON, wrong schema,
  a newer schema version, an id that differs from its file name, a directory);
* ``temp``: a temp file left by a writer that died between writing and renaming
  (``.<name>.<pid>.<hex>.tmp``, in a shard or in index/);
* ``stray``: anything else under sessions/ that is not a shard of session files;
* ``stale-running``: a record still marked ``running`` whose clinvk process is gone;
* ``index``: the index disagrees with the files (sessions missing from it, listed but
  gone, or summarized from an older version of the file), or its snapshot is unreadable.

The repair moves corrupt, temp and stray files into ``<store>/quarantine/`` (never
deletes them), marks stale running sessions as interrupted, and rebuilds the index.
"""

from __future__ import annotations

import os
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


LABELS = {"corrupt": "unreadable session file", "temp": "leftover temp file",
          "stray": "unexpected file", "stale-running": "stale running session",
          "index": "index"}


@dataclass
class Problem:
    kind: str  # corrupt | temp | stray | stale-running | index
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
                found.problems.append(Problem("corrupt", _reason(exc.message, path), path, stem))
                continue
            found.sessions += 1
            facts = turn_facts(session)
            truth[stem] = (summarize(session, st.st_mtime_ns, facts, disk_bytes(st)), facts)
            if session.status == "running" and not pid_alive(session.pid, session.pid_start):
                found.problems.append(Problem(
                    "stale-running",
                    f"marked running, but its clinvk process (pid {session.pid}) is gone",
                    path, stem))
    corrupt = {p.ident for p in found.problems if p.kind == "corrupt" and p.ident}
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
