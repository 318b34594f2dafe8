"""Is a recorded process still the one we recorded?

A record names processes by pid (the clinvk running a turn, the vendor's process group)
together with their start time, because pids are reused: a pid whose start time differs
is another process and must never be signalled. Only ``os`` is imported, so the cheap
paths (``sessions list``) can ask.
"""

from __future__ import annotations

import os


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state is the first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; fields follow the last ')'.
    return raw[raw.rfind(b")") + 2 :].split()


def process_start_time(pid: int) -> float | None:
    """When a process started (clock ticks since boot on Linux), to tell a reused pid apart."""
    fields = _stat_fields(pid)
    try:
        return float(fields[19]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start: float | None) -> bool:
    """Whether ``pid`` exists and (when ``start`` is known and can be checked) started then."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is not None:
        actual = process_start_time(pid)
        if actual is not None and actual != start:
            return False
    return True


def running(pid: int | None, start: float | None) -> bool:
    """pid_alive, but a zombie (exited, not yet reaped by its parent) counts as gone."""
    if not pid_alive(pid, start):
        return False
    assert pid is not None
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: trust pid_alive
    return not fields or fields[0] not in (b"Z", b"X")


def effective_status(status: str, pid: int | None, pid_start: float | None) -> str:
    """A `running` record whose runner is gone is shown and treated as `error`."""
    if status == "running" and not pid_alive(pid, pid_start):
        return "error"
    return status


def runner_dead(status: str, pid: int | None, pid_start: float | None) -> bool:
    """A record that says `running` although the clinvk process running it is gone."""
    return status == "running" and not pid_alive(pid, pid_start)


def group_members(pgid: int) -> dict[int, tuple[float, int]]:
    """The live processes of group ``pgid``: pid -> (start time, parent pid)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    found: dict[int, tuple[float, int]] = {}
    wanted = str(pgid).encode()
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or len(fields) < 20 or fields[2] != wanted \
                or fields[0] in (b"Z", b"X"):
            continue
        try:
            found[int(entry)] = (float(fields[19]), int(fields[1]))
        except ValueError:
            continue
    return found


def group_safe_to_signal(pgid: int | None, leader_start: float | None) -> bool:
    """Whether the vendor's process group recorded as ``pgid`` is provably ours.

    Only its leader proves it: the process ``pgid`` still there with the recorded start
    time (a reused pid has another). A group whose leader is gone is never signalled
    as a whole: any program may lead a group of that id by now, or have joined what is
    left of it, and nothing tells its members apart from the vendor's
    (``proven_members`` follows the members seen while the leader proved the group).
    Without a recorded start time nothing can be verified, and nothing is signalled.
    """
    if not pgid or leader_start is None:
        return False
    return process_start_time(pgid) == leader_start


def proven_members(pgid: int, known: dict[int, float]) -> dict[int, float]:
    """The members of group ``pgid`` that are provably the vendor's, given ``known``
    (pid -> start time of members seen while the leader proved the group): those still
    there with the same start time, and those whose parent is one of them (ancestry)."""
    members = group_members(pgid)
    proven = {pid: start for pid, (start, _parent) in members.items()
              if known.get(pid) == start}
    grew = True
    while grew:
        grew = False
        for pid, (start, parent) in members.items():
            if pid not in proven and parent in proven and start >= proven[parent]:
                proven[pid] = start
                grew = True
    return proven
