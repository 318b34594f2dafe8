"""The session index: a cache of one summary per session, so `sessions list` need not
open 100,000 files.

The session files are the truth; this is rebuilt from them whenever it is missing or
stale. It has two parts under ``<store>/index/``:

* ``base-<gen>.bin``: a snapshot, newest first — a small header, a table of offsets and
  one msgpack record per session, so a default ``list`` decodes only the rows it shows.
* ``log-<gen>.jsonl``: what writers did since the snapshot, one JSON line per event.
  Writers append under the store lock: ``begin`` before touching a session file, then
  ``put`` (with the new summary) or ``del``. A ``begin`` with no later line means the
  writer died mid-write: the reader re-reads that one file.

``base.ptr`` names the current generation. Compaction writes a new snapshot under a new
generation and starts an empty log, so a reader never pairs a snapshot with a log that
was truncated under it.

Files added or removed behind clinvk's back are found through the modification time
of each shard directory (``sessions/<first two chars of the id>/``): every log line
carries the shard's mtime before and after the write, and the reader rescans any shard
whose mtime differs from the last one the index accounted for.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

LOG_COMPACT_LINES = 256
# Bump when Summary or the layout changes: an older snapshot is then rebuilt from the files.
_MAGIC = b"CLXI3\n"


class Summary(msgspec.Struct, array_like=True, gc=False):
    """What `sessions list` needs of one session."""

    id: str
    backend: str
    status: str
    created: float  # epoch seconds, UTC
    last_used: float
    model: str | None
    tags: list[str]
    title: str
    workdir: str
    tokens: int | None
    turns: int
    pid: int | None = None
    pid_start: float | None = None
    cost: float | None = None
    # The session file's mtime when summarized: a row whose file changed since is re-read.
    mtime_ns: int = 0
    # clinvk.stats.session_sums of the session's turns, so `sessions stats` need not
    # decode a million turn facts to add them up.
    sums: tuple[int | float, ...] | None = None
    # Bytes the session file takes on disk (allocated blocks), for `sessions storage`.
    disk: int = 0


class TurnFact(msgspec.Struct, array_like=True, gc=False):
    """What `sessions stats` needs of one turn."""

    started: float
    duration: float | None
    model: str | None
    status: str
    usage: tuple[int, int, int, int, int] | None  # input, output, cache read, cache write, reasoning
    cost: float | None
    cost_source: str


class _Header(msgspec.Struct):
    count: int
    # shard name → directory mtime_ns the snapshot accounts for
    shards: dict[str, int]
    ids: bytes  # count × id length, same order as the records
    # Files that could not be read when the snapshot was taken: path → reason.
    bad: dict[str, str] = {}


class _LogLine(msgspec.Struct, omit_defaults=True):
    op: str  # begin | put | del
    id: str
    shard: str = ""
    m0: int | None = None
    m1: int | None = None
    s: Summary | None = None
    f: list[TurnFact] | None = None


_facts_decoder = msgspec.msgpack.Decoder(list[TurnFact])
_summary_decoder = msgspec.msgpack.Decoder(Summary)
_header_decoder = msgspec.msgpack.Decoder(_Header)
_log_decoder = msgspec.json.Decoder(_LogLine)
_log_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


def shard_of(session_id: str) -> str:
    return session_id[:2]


@dataclass
class IndexState:
    """The index as a reader sees it: snapshot plus log plus any repairs."""

    base: _Base
    overrides: dict[str, Summary | None] = field(default_factory=dict)
    facts: dict[str, list[TurnFact]] = field(default_factory=dict)
    # Shards rescanned from disk: the ids their directory really holds.
    rescanned: dict[str, set[str]] = field(default_factory=dict)
    needs_persist: bool = False
    log_lines: int = 0
    shard_mtimes: dict[str, int] = field(default_factory=dict)

    def _base_visible(self, ident: str) -> bool:
        if ident in self.overrides:
            return False
        present = self.rescanned.get(shard_of(ident))
        return present is None or ident in present

    def count(self) -> int:
        if not self.overrides and not self.rescanned:
            return self.base.header.count
        total = 0
        for ident in self.base.iter_ids():
            if self._base_visible(ident):
                total += 1
        return total + sum(1 for s in self.overrides.values() if s is not None)

    def iter_newest(self) -> Iterator[Summary]:
        """Every summary, newest last use first, decoding the snapshot lazily."""
        for summary, _i in self._iter_positions():
            yield summary

    def iter_with_facts(self) -> Iterator[tuple[Summary, list[TurnFact]]]:
        """Every summary with its turns' facts, newest first."""
        for summary, i in self._iter_positions():
            if i is None:
                yield summary, self.facts.get(summary.id, [])
            else:
                yield summary, self.base.facts(i)

    def iter_raw(self) -> Iterator[tuple[str, bytes | memoryview, bytes | memoryview]]:
        """(id, summary msgpack, turn facts msgpack), newest first: what encode_base would
        encode, with the snapshot's own bytes reused for every entry it already holds."""
        encode = _msgpack_encoder.encode
        for summary, i in self._iter_positions():
            if i is None:
                yield summary.id, encode(summary), encode(self.facts.get(summary.id, []))
            else:
                yield summary.id, self.base.record_bytes(i), self.base.facts_bytes(i)

    def iter_lazy(self) -> Iterator[tuple[Summary, int | None]]:
        """(summary, handle for facts_of) newest first: turn facts decoded only on demand."""
        return self._iter_positions()

    def facts_of(self, summary: Summary, handle: int | None) -> list[TurnFact]:
        if handle is None:
            return self.facts.get(summary.id, [])
        return self.base.facts(handle)

    def iter_newest_of(self, wanted: set[str]) -> Iterator[Summary]:
        """Like iter_newest, but only these ids, decoding only their rows."""
        for summary, _i in self._iter_positions(wanted):
            yield summary

    def _iter_positions(self, only: set[str] | None = None
                        ) -> Iterator[tuple[Summary, int | None]]:
        extra = sorted(
            (s for s in self.overrides.values()
             if s is not None and (only is None or s.id in only)),
            key=lambda s: s.last_used,
            reverse=True,
        )
        pos = 0
        for i, ident in enumerate(self.base.iter_ids()):
            if only is not None and ident not in only:
                continue
            if not self._base_visible(ident):
                continue
            record = self.base.record(i)
            while pos < len(extra) and extra[pos].last_used > record.last_used:
                yield extra[pos], None
                pos += 1
            yield record, i
        for summary in extra[pos:]:
            yield summary, None

    def all_ids(self) -> list[str]:
        ids = [i for i in self.base.iter_ids() if self._base_visible(i)]
        ids.extend(k for k, v in self.overrides.items() if v is not None)
        return ids


class _Base:
    """A snapshot file, decoded lazily."""

    def __init__(self, data: bytes | None, id_length: int):
        self.id_length = id_length
        if not data:
            self.header = _Header(count=0, shards={}, ids=b"", bad={})
            self.data = b""
            self.offsets: list[int] = [0]
            self.fact_offsets: list[int] = [0]
            self.records_start = 0
            self.facts_start = 0
            return
        if data[: len(_MAGIC)] != _MAGIC:
            raise ValueError("not an index snapshot")
        pos = len(_MAGIC)
        (header_len,) = struct.unpack_from("<I", data, pos)
        pos += 4
        self.header = _header_decoder.decode(data[pos : pos + header_len])
        pos += header_len
        count = self.header.count
        table = memoryview(data)[pos : pos + 8 * (count + 1)].cast("I")
        self.offsets = table[: count + 1]  # type: ignore[assignment]
        self.fact_offsets = table[count + 1 :]  # type: ignore[assignment]
        pos += 8 * (count + 1)
        self.records_start = pos
        self.facts_start = pos + self.offsets[-1]
        self.data = data
        if (len(self.header.ids) != count * id_length
                or self.facts_start + self.fact_offsets[-1] != len(data)):
            raise ValueError("index snapshot is truncated")

    def iter_ids(self) -> Iterator[str]:
        ids = self.header.ids
        n = self.id_length
        for i in range(self.header.count):
            yield ids[i * n : (i + 1) * n].decode("ascii")

    def record(self, i: int) -> Summary:
        start = self.records_start + self.offsets[i]
        end = self.records_start + self.offsets[i + 1]
        return _summary_decoder.decode(memoryview(self.data)[start:end])

    def record_bytes(self, i: int) -> memoryview:
        return memoryview(self.data)[self.records_start + self.offsets[i]:
                                     self.records_start + self.offsets[i + 1]]

    def facts_bytes(self, i: int) -> memoryview:
        return memoryview(self.data)[self.facts_start + self.fact_offsets[i]:
                                     self.facts_start + self.fact_offsets[i + 1]]

    def facts(self, i: int) -> list[TurnFact]:
        start = self.facts_start + self.fact_offsets[i]
        end = self.facts_start + self.fact_offsets[i + 1]
        return _facts_decoder.decode(memoryview(self.data)[start:end])

    def contains(self, ident: str) -> bool:
        needle = ident.encode("ascii")
        ids = self.header.ids
        start = 0
        while True:
            at = ids.find(needle, start)
            if at < 0:
                return False
            if at % self.id_length == 0:
                return True
            start = at + 1


def encode_base(
    entries: list[tuple[Summary, list[TurnFact]]],
    shards: dict[str, int],
    id_length: int,
    bad: dict[str, str],
) -> bytes:
    entries = sorted(entries, key=lambda e: e[0].last_used, reverse=True)
    summaries = [e[0] for e in entries]
    blobs = [_msgpack_encoder.encode(s) for s in summaries]
    fact_blobs = [_msgpack_encoder.encode(e[1]) for e in entries]
    offsets = [0]
    for blob in blobs:
        offsets.append(offsets[-1] + len(blob))
    fact_offsets = [0]
    for blob in fact_blobs:
        fact_offsets.append(fact_offsets[-1] + len(blob))
    header = _msgpack_encoder.encode(
        _Header(
            count=len(summaries),
            shards=shards,
            ids=b"".join(s.id.encode("ascii") for s in summaries),
            bad=bad,
        )
    )
    table = struct.pack(f"<{2 * len(offsets)}I", *offsets, *fact_offsets)
    return b"".join(
        [_MAGIC, struct.pack("<I", len(header)), header, table, *blobs, *fact_blobs]
    )


def encode_base_raw(
    items: list[tuple[str, bytes | memoryview, bytes | memoryview]],
    shards: dict[str, int],
    bad: dict[str, str],
) -> list[bytes | memoryview]:
    """encode_base for entries already in order and already encoded: the same bytes, as
    a list of chunks to write (no 100 MB join)."""
    offsets = [0]
    fact_offsets = [0]
    for _ident, record, facts in items:
        offsets.append(offsets[-1] + len(record))
        fact_offsets.append(fact_offsets[-1] + len(facts))
    header = _msgpack_encoder.encode(
        _Header(count=len(items), shards=shards,
                ids=b"".join(ident.encode("ascii") for ident, _r, _f in items), bad=bad)
    )
    table = struct.pack(f"<{2 * len(offsets)}I", *offsets, *fact_offsets)
    return [_MAGIC, struct.pack("<I", len(header)), header, table,
            *(r for _i, r, _f in items), *(f for _i, _r, f in items)]


def index_problem(summary: Summary, facts: list[TurnFact]) -> str | None:
    """Why this entry cannot go into a snapshot, or None."""
    try:
        _msgpack_encoder.encode(summary)
        _msgpack_encoder.encode(facts)
    except (OverflowError, TypeError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def encode_log_line(line: _LogLine) -> bytes:
    return _log_encoder.encode(line) + b"\n"


def read_log(path: Path) -> list[_LogLine] | None:
    """The log's lines; None when the file is gone (a compaction replaced it)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    lines: list[_LogLine] = []
    for chunk in raw.split(b"\n"):
        if not chunk:
            continue
        try:
            lines.append(_log_decoder.decode(chunk))
        except msgspec.DecodeError:
            # A torn last line from a writer killed mid-append: its begin line (or the
            # shard mtime check) already makes the reader look at the file itself.
            continue
    return lines


def shard_mtimes(sessions_dir: Path) -> dict[str, int]:
    result: dict[str, int] = {}
    try:
        entries = os.scandir(sessions_dir)
    except FileNotFoundError:
        return result
    with entries:
        for entry in entries:
            if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
                result[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
    return result


def read_base_file(path: Path) -> bytes | None:
    import mmap

    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return b""
            # Mapped, not read: a default list touches a few pages of a 100 MB snapshot
            # (records and turn facts of every session), not all of them.
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # type: ignore[return-value]
    except FileNotFoundError:
        return None


def write_log_line(log_path: Path, line: _LogLine) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, encode_log_line(line))
    finally:
        os.close(fd)


def apply_log(
    lines: list[_LogLine], recorded: dict[str, int], facts: dict[str, list[TurnFact]]
) -> tuple[dict[str, Summary | None], set[str], set[str]]:
    """Replay log lines: (overrides, pending ids, shards whose mtime the log could not vouch for).

    ``facts`` receives the turn facts of every put.
    """
    overrides: dict[str, Summary | None] = {}
    pending: set[str] = set()
    unsure: set[str] = set()
    for line in lines:
        if line.op == "begin":
            pending.add(line.id)
            continue
        pending.discard(line.id)
        if line.op == "put" and line.s is not None:
            overrides[line.id] = line.s
            facts[line.id] = line.f or []
        elif line.op == "del":
            overrides[line.id] = None
        if line.shard:
            # m0 is None when this write created the shard directory: all of it is ours.
            if recorded.get(line.shard) == line.m0:
                if line.m1 is not None:
                    recorded[line.shard] = line.m1
                else:
                    unsure.add(line.shard)
            else:
                # The shard changed between what the index knew and this write: someone
                # else touched it, so only a rescan can vouch for it.
                unsure.add(line.shard)
                if line.m1 is not None:
                    recorded[line.shard] = line.m1
    return overrides, pending, unsure
