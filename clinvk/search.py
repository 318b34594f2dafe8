"""Text search over titles, prompts and answers, fast on huge stores.

Reading every session file for each `sessions list -q` costs seconds at 100,000
sessions, so the searchable text is cached per shard directory in
``index/search/<shard>.txt``: each session as ``\\0<id>\\1<lowercased title, prompts and
answers>``. A shard's cache records the directory's modification time it was built
from; any write to the shard (clinvk's atomic renames, files added or removed by hand)
changes that time, and the next search rebuilds just that shard. The cache is derived
data: it is written atomically without locks (two searches rebuilding one shard
write the same thing) and can be deleted at any time.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec

_HEADER = b"clinvk-search 1 "
# Shard directories from which a search splits its scan over two processes.
PARALLEL_FROM = 128


class _TurnText(msgspec.Struct):
    prompt: str = ""
    response: str = ""


class _SessionText(msgspec.Struct):
    id: str = ""
    title: str = ""
    turns: list[_TurnText] = []


_decoder = msgspec.json.Decoder(_SessionText)


def searchable(title: str, turns: Iterator[tuple[str, str]]) -> str:
    parts = [title]
    for prompt, response in turns:
        parts.append(prompt)
        parts.append(response)
    # The separators cannot occur in the text, so a match never spans two sessions.
    return "\n".join(parts).replace("\0", " ").replace("\1", " ").lower()


class SearchCache:
    def __init__(self, sessions_dir: Path, cache_dir: Path):
        self.sessions_dir = sessions_dir
        self.cache_dir = cache_dir

    def _build(self, shard: str, mtime_ns: int) -> bytes:
        directory = self.sessions_dir / shard
        chunks = [_HEADER + str(mtime_ns).encode() + b"\n"]
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            names = []
        for name in names:
            if not name.endswith(".json") or len(name) != 13:
                continue
            try:
                with open(directory / name, "rb") as f:
                    view = _decoder.decode(f.read())
            except (OSError, msgspec.DecodeError):
                continue  # unreadable files are reported by list itself
            text = searchable(view.title, ((t.prompt, t.response) for t in view.turns))
            chunks.append(b"\0" + name[:8].encode("ascii") + b"\1" + text.encode("utf-8", "replace"))
        data = b"".join(chunks)
        try:
            self.cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{shard}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, self.cache_dir / f"{shard}.txt")
        except OSError:
            pass  # a read-only store still searches, just without keeping the cache
        return data

    def _shard_text(self, shard: str, mtime_ns: int) -> bytes | mmap.mmap:
        try:
            with open(self.cache_dir / f"{shard}.txt", "rb") as f:
                # Mapped, not read: searching the page cache in place skips a copy of
                # every byte of text in the store.
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return self._build(shard, mtime_ns)
        first = data.find(b"\n")
        if data[:first] != _HEADER + str(mtime_ns).encode():
            data.close()
            return self._build(shard, mtime_ns)
        return data

    def matching_ids(self, needle: str, *, parallel_from: int = PARALLEL_FROM) -> set[str]:
        """Ids of the sessions whose title, prompts or answers contain ``needle`` (any case)."""
        from clinvk.index import shard_mtimes

        wanted = needle.lower().encode("utf-8", "replace")
        if not wanted:
            return set()
        shards = sorted(shard_mtimes(self.sessions_dir).items())
        if len(shards) < parallel_from or not hasattr(os, "fork"):
            return self._scan(shards, wanted)
        return self._scan_in_two(shards, wanted)

    def _scan_in_two(self, shards: list[tuple[str, int]], wanted: bytes) -> set[str]:
        """Scan half the shards in a forked child: the scan is pure CPU over the page
        cache, and a second core halves it on a big store."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: scan the odd shards, send ids back, exit at once
            status = 0
            try:
                os.close(read_end)
                payload = "\n".join(sorted(self._scan(shards[1::2], wanted))).encode()
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_end, view):]
            except BaseException:  # noqa: BLE001 - the parent notices and scans these itself
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        found = self._scan(shards[0::2], wanted)
        chunks = []
        with os.fdopen(read_end, "rb") as pipe:
            while chunk := pipe.read(1 << 16):
                chunks.append(chunk)
        _pid, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return found | self._scan(shards[1::2], wanted)
        found.update(x for x in b"".join(chunks).decode("ascii").split("\n") if x)
        return found

    def _scan(self, shards: list[tuple[str, int]], wanted: bytes) -> set[str]:
        found: set[str] = set()
        for shard, mtime_ns in shards:
            data = self._shard_text(shard, mtime_ns)
            at = data.find(wanted)
            while at >= 0:
                start = data.rfind(b"\0", 0, at)
                if start >= 0:
                    found.add(data[start + 1 : start + 9].decode("ascii", "replace"))
                following = data.find(b"\0", at)
                if following < 0:
                    break
                at = data.find(wanted, following)
        return found
