"""Generate a realistic clinvk session store for benchmarks.

    python benchmarks/gen_store.py DIR --sessions N [--turns-min 1 --turns-max 20] [--seed S]

DIR becomes a store as ``CLINVK_HOME=DIR`` sees it: ``sessions/<2 chars>/<id>.json``
written with the very bytes ``SessionStore.save`` would write (``encode_session``,
mode 0600, directories 0700), then the catalog built from the files by the catalog's
own rebuild (``Catalog.rebuild``), timed: that is the "rebuild from scratch" figure.
``--check`` then runs ``sessions doctor``'s check and stops if the catalog and the
files disagree.

A marker file (``DIR/.bench-store.json``) records the parameters; when it matches and
the catalog is sound, the store is reused as it is.

The data: 1–20 turns per session (uniform), backends claude/codex/gemini with their
models, statuses active/completed/error/paused plus a few ``running`` with dead pids,
ages over a year (more recent ones more frequent), tags, a pool of working
directories, prompts of 20–400 and answers of 100–2000 characters drawn from a
Zipf-weighted vocabulary (so a text search hits some sessions, not all or none),
usage per turn, costs (claude "reported", others "computed", a few "unpriced").

Stdlib and the project's own dependencies only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


from clinvk import ids  # noqa: E402
from clinvk.catalog import Catalog, catalog_path  # noqa: E402
from clinvk.model import SCHEMA_VERSION, Session, Turn, Usage, make_title  # noqa: E402
from clinvk.store import SessionStore, encode_session  # noqa: E402

# Bump when the generated data changes shape, so cached stores are regenerated.
GENERATOR_VERSION = 1
MARKER = ".bench-store.json"
CHUNK = 1000

BACKENDS = (("claude", 0.5), ("codex", 0.3), ("gemini", 0.2))
MODELS = {
    "claude": (("claude-sonnet-4-5", 0.6), ("claude-opus-4-1", 0.25), ("claude-haiku-4-5", 0.15)),
    "codex": (("gpt-5-codex", 0.6), ("gpt-5", 0.3), ("o4-mini", 0.1)),
    "gemini": (("gemini-2.5-pro", 0.6), ("gemini-2.5-flash", 0.4)),
}
# USD per million tokens: input, output, cache read, cache write.
PRICES = {
    "claude-sonnet-4-5": (3.0, 15.0, 0.3, 3.75),
    "claude-opus-4-1": (15.0, 75.0, 1.5, 18.75),
    "claude-haiku-4-5": (1.0, 5.0, 0.1, 1.25),
    "gpt-5-codex": (1.25, 10.0, 0.125, 0.0),
    "gpt-5": (1.25, 10.0, 0.125, 0.0),
    "o4-mini": (1.1, 4.4, 0.275, 0.0),
    "gemini-2.5-pro": (1.25, 10.0, 0.31, 0.0),
    "gemini-2.5-flash": (0.3, 2.5, 0.075, 0.0),
}
STATUSES = (("active", 0.40), ("completed", 0.34), ("error", 0.12), ("paused", 0.135),
            ("running", 0.005))
TAGS = ("review", "bugfix", "refactor", "docs", "ci", "spike", "perf", "infra", "frontend",
        "backend", "experiment", "release-2.3", "security", "tests", "migration", "oncall",
        "ticket:4411", "ticket:5120", "team/payments", "team/search")
PROJECTS = ("api-gateway", "billing", "web-app", "mobile", "infra", "data-pipeline", "auth",
            "search", "notifications", "design-system", "cli", "docs-site", "ml-serving",
            "etl", "payments", "analytics", "scheduler", "monorepo", "dotfiles", "sandbox")
SUBDIRS = ("", "", "", "/backend", "/frontend", "/services/core", "/packages/ui", "/tools")
USERS = ("alice", "bob", "carol", "dev")

CODE_WORDS = (
    "function class module parser cache index session thread request response handler "
    "config test fixture mock import export build deploy pipeline query schema migration "
    "table column row field struct interface type generic async await promise future "
    "lock mutex channel queue worker pool retry timeout backoff error exception panic "
    "trace log metric span latency throughput memory leak allocation buffer stream "
    "socket http json yaml toml regex token lexer grammar ast visitor compiler linker "
    "binary release version tag branch merge rebase commit diff patch review lint format "
    "coverage benchmark profile flame graph database postgres redis sqlite kafka docker "
    "kubernetes helm terraform lambda bucket endpoint route middleware auth oauth jwt "
    "cookie header payload serializer validator decorator closure iterator generator "
    "callback listener event emitter reducer store selector component hook render prop "
    "state context provider layout grid flex style theme icon button modal dialog form "
    "input select checkbox upload download pagination cursor offset limit filter sort "
    "search rank score vector embedding model prompt agent tool shell script cron job"
).split()
STARTERS = ("Fix", "Explain", "Refactor", "Add tests for", "Why does", "Optimize",
            "Review", "Document", "Rename", "Port", "Debug", "Implement", "Remove",
            "Split", "Migrate", "Profile", "Simplify", "Summarize", "Find the bug in",
            "Write a script that checks")
EXTENSIONS = ("py", "ts", "go", "rs", "tsx", "java", "sql", "yaml", "md", "sh")


def _make_vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    """Real coding words first (most frequent under Zipf), then made-up ones."""
    syllables = ("ka lo mi ran tes vor pel qua zin dor ble fis gra hun jex lim mor nop "
                 "pra sul tri vex wan yor zel bar cet dim eko fal gon hep").split()
    words = list(dict.fromkeys(CODE_WORDS + "the a of to and in is it that for on with as "
                               "this be are not by from or an at".split()))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class TextMaker:
    """Prompts and answers from a pool of sentences over a Zipf-weighted vocabulary."""

    def __init__(self, seed: int, pool: int = 20000):
        rng = random.Random(seed)
        self.words = _make_vocabulary(random.Random(12345))
        weights = [1.0 / (rank + 1) ** 1.07 for rank in range(len(self.words))]
        cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            cum.append(total)
        self.cum = cum
        self.sentences = [self._sentence(rng) for _ in range(pool)]

    def _sentence(self, rng: random.Random) -> str:
        words = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(5, 20))
        if rng.random() < 0.25:
            words.insert(rng.randrange(len(words)), f"`{rng.choice(self.words)}_{rng.choice(self.words)}()`")
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", ":"))

    def path(self, rng: random.Random) -> str:
        return (f"src/{rng.choice(self.words[:400])}/{rng.choice(self.words)}_"
                f"{rng.randrange(10000)}.{rng.choice(EXTENSIONS)}")

    def prompt(self, rng: random.Random) -> str:
        target = rng.randint(20, 400)
        parts = [rng.choice(STARTERS), self.path(rng) + ":"]
        text = " ".join(parts)
        while len(text) < target:
            text += " " + rng.choice(self.sentences)
        return text[:target].rstrip() or text[:target]

    def answer(self, rng: random.Random) -> str:
        target = rng.randint(100, 2000)
        chunks: list[str] = []
        length = 0
        while length < target:
            r = rng.random()
            if r < 0.06:
                piece = f"\n\n```\n{rng.choice(self.words)}({rng.choice(self.words)}) -> {self.path(rng)}\n```\n\n"
            elif r < 0.16:
                piece = "\n\n"
            else:
                piece = rng.choice(self.sentences) + " "
            chunks.append(piece)
            length += len(piece)
        return "".join(chunks)[:target].strip() or "ok"


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def make_session(ident: str, rng: random.Random, text: TextMaker, now: datetime,
                 turns_min: int, turns_max: int, dead_pid_base: int,
                 earlier: list[str]) -> Session:
    backend = _pick(rng, BACKENDS)
    model = _pick(rng, MODELS[backend])
    status = _pick(rng, STATUSES)
    # Ages over ~a year, recent sessions more frequent.
    n_turns = rng.randint(turns_min, turns_max)
    # Follow-ups minutes apart, sometimes days later; each turn takes seconds to minutes.
    gaps = [0.0] + [rng.expovariate(1 / 600) if rng.random() < 0.9 else rng.uniform(3600, 86400 * 3)
                    for _ in range(n_turns - 1)]
    durations = [round(rng.lognormvariate(3.0, 0.9), 3) for _ in range(n_turns)]
    span = sum(gaps) + sum(durations)
    # Ages over ~a year, recent sessions more frequent; the last turn ends before now.
    age = 365 * 86400 * rng.random() ** 1.6
    created = now - timedelta(seconds=max(age, span + rng.uniform(1, 3600)))
    project = rng.choice(PROJECTS)
    workdir = f"/home/{rng.choice(USERS)}/src/{project}{rng.choice(SUBDIRS)}"
    turns: list[Turn] = []
    at = created
    cumulative = Usage()
    unpriced_session = backend != "claude" and rng.random() < 0.04
    for i in range(n_turns):
        at = at + timedelta(seconds=gaps[i])
        duration = durations[i]
        inp = rng.randint(500, 60000)
        out = rng.randint(50, 4000)
        cache_read = rng.randint(0, inp * 3) if backend != "gemini" or rng.random() < 0.5 else 0
        cache_write = rng.randint(0, inp) if backend == "claude" else 0
        reasoning = rng.randint(0, out) if backend == "codex" else 0
        usage = Usage(inp, out, cache_read, cache_write, reasoning)
        p = PRICES[model]
        price = (inp * p[0] + out * p[1] + cache_read * p[2] + cache_write * p[3]) / 1e6
        last = i == n_turns - 1
        turn = Turn(index=i + 1, prompt=text.prompt(rng), started_at=at,
                    response=text.answer(rng), duration_s=duration, exit_code=0, status="ok",
                    backend_session_id=None, model=model, usage=usage)
        if backend == "claude":
            turn.cost_usd, turn.cost_source = round(price, 6), "reported"
        elif unpriced_session or rng.random() < 0.02:
            turn.cost_usd, turn.cost_source = None, "unpriced"
        else:
            turn.cost_usd, turn.cost_source = round(price, 6), "computed"
            turn.price_source = "builtin 2026-11-01"
        if backend == "codex":
            cumulative = cumulative + usage
            turn.usage_total = cumulative
        if last and status == "error":
            turn.status = rng.choice(("error", "error", "timeout", "interrupted"))
            turn.exit_code = {"error": 1, "timeout": 124, "interrupted": 130}[turn.status]
            turn.error = rng.choice(("API Error: 529 overloaded", "rate limit exceeded",
                                     "timed out after 600s", "interrupted by the user",
                                     "model returned an invalid tool call"))
            if turn.status == "timeout":
                turn.error = "timed out after 600s"
            turn.response = turn.response[: rng.randint(0, len(turn.response))]
        if last and status == "running":
            turn.status, turn.exit_code, turn.duration_s = "running", None, None
            turn.usage, turn.cost_usd, turn.cost_source, turn.price_source = None, None, "unpriced", None
            turn.usage_total = None
            turn.response = turn.response[: rng.randint(0, 200)]
        turns.append(turn)
        at = at + timedelta(seconds=duration)
    backend_session_id = _uuid(rng) if backend != "codex" else f"0199{rng.getrandbits(112):028x}"
    for t in turns:
        t.backend_session_id = backend_session_id
    last_used = turns[-1].started_at + timedelta(seconds=durations[-1])
    tags = rng.sample(TAGS, k=rng.choice((0, 0, 0, 1, 1, 2, 3)))
    session = Session(
        id=ident, backend=backend, workdir=workdir, created_at=created,
        last_used_at=last_used, title=make_title(turns[0].prompt),
        backend_session_id=backend_session_id, model=model, status=status,  # type: ignore[arg-type]
        tags=tags, turns=turns,
    )
    parents = [e for e in earlier if e != ident]
    if parents and rng.random() < 0.02:
        session.parent_id = rng.choice(parents)
    if status == "error":
        session.reason = turns[-1].status
    if status == "running":
        # A runner that died: a pid above pid_max can never be alive.
        session.pid = dead_pid_base + rng.randrange(1000)
        session.pid_start = float(rng.randrange(10**6, 10**8))
        session.pgid = session.pid
    return session


_TEXT: TextMaker | None = None


def _write_chunk(task: tuple[str, int, list[str], dict[str, int]]) -> tuple[bytes, int]:
    """Write one batch of sessions; return how many turns and bytes they hold."""
    global _TEXT
    root, chunk_seed, chunk_ids, params = task
    if _TEXT is None:
        _TEXT = TextMaker(params["seed"])
    rng = random.Random(chunk_seed)
    now = datetime.fromtimestamp(params["now"], timezone.utc)
    sessions_dir = Path(root) / "sessions"
    turns = written = 0
    for ident in chunk_ids:
        session = make_session(ident, rng, _TEXT, now, params["turns_min"], params["turns_max"],
                               params["dead_pid_base"], chunk_ids[:8])
        data = encode_session(session)
        path = sessions_dir / ident[:2] / f"{ident}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        written += len(data)
        turns += len(session.turns)
    return turns, written


def _dead_pid_base() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    except (OSError, ValueError):
        return 4_194_305  # the Linux maximum, + 1


def _make_ids(n: int, rng: random.Random) -> list[str]:
    result: set[str] = set()
    alphabet = ids.ALPHABET
    while len(result) < n:
        result.add("".join(rng.choices(alphabet, k=ids.ID_LENGTH)))
    out = sorted(result)
    rng.shuffle(out)
    return out


def _dir_size(path: Path) -> tuple[int, int]:
    total = files = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def _params(sessions: int, turns_min: int, turns_max: int, seed: int) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "schema": SCHEMA_VERSION, "sessions": sessions,
            "turns_min": turns_min, "turns_max": turns_max, "seed": seed}


def _reusable(root: Path, params: dict[str, int], log=print) -> bool:
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker.get("params") != params:
        return False
    catalog = Catalog.open(SessionStore(root))  # builds it if missing or of another schema
    try:
        return catalog.rows(limit=0).total == params["sessions"]
    finally:
        catalog.close()


def ensure_store(root: Path, sessions: int, *, turns_min: int = 1, turns_max: int = 20,
                 seed: int = 1, workers: int | None = None, force: bool = False,
                 check: bool = False, log=print) -> dict[str, float]:
    """Build (or reuse) a store of ``sessions`` sessions under ``root``; return figures."""
    root = root.expanduser().absolute()
    params = _params(sessions, turns_min, turns_max, seed)
    if not force and _reusable(root, params, log):
        size, files = _dir_size(root)
        log(f"gen_store: reusing {root} ({sessions} sessions, {size / 1e6:.1f} MB)")
        return {"reused": 1, "seconds": 0.0, "bytes": size, "files": files}
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists() and not force:
            raise SystemExit(f"gen_store: {root} is not empty and holds no generated store; "
                             "pick another DIR (or --force to wipe it)")
        for name in ("sessions", "index", "locks", "quarantine", MARKER, "catalog.db",
                     "catalog.db-wal", "catalog.db-shm"):
            p = root / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    t0 = time.perf_counter()
    store = SessionStore(root)
    store._ensure_dirs()
    rng = random.Random(seed)
    all_ids = _make_ids(sessions, rng)
    for shard in sorted({i[:2] for i in all_ids}):
        (store.sessions_dir / shard).mkdir(mode=0o700, exist_ok=True)
    base = {"seed": seed, "turns_min": turns_min, "turns_max": turns_max,
            "dead_pid_base": _dead_pid_base(), "now": int(time.time())}
    tasks = [(str(root), seed * 1_000_003 + k, all_ids[k:k + CHUNK], base)
             for k in range(0, sessions, CHUNK)]
    turns = written = 0
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(tasks) > 1:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ctx.Pool(min(workers, len(tasks))) as pool:
            for n_turns, n in pool.imap_unordered(_write_chunk, tasks):
                turns += n_turns
                written += n
    else:
        for task in tasks:
            n_turns, n = _write_chunk(task)
            turns += n_turns
            written += n
    t_files = time.perf_counter() - t0
    catalog = Catalog(store, None)
    catalog.rebuild()  # what the first command on a store without catalog.db does
    t_all = time.perf_counter() - t0
    listed = catalog.rows(limit=0).total
    if listed != sessions:
        raise SystemExit(f"gen_store: BUG: the catalog lists {listed} sessions, not {sessions}")
    catalog.close()
    if check:
        from clinvk.doctor import check as doctor_check

        problems = doctor_check(store).problems
        log(f"gen_store: check: {len(problems)} problem(s) between the catalog and the files")
        if problems:
            raise SystemExit(f"gen_store: {problems[0].text()}")
    (root / MARKER).write_text(json.dumps({"params": params, "created": base["now"],
                                           "seconds": round(t_all, 1)}, indent=2) + "\n")
    size, files = _dir_size(root)
    log(f"gen_store: {sessions} sessions, {turns} turns -> {root}")
    log(f"gen_store: files written in {t_files:.1f} s ({workers} workers, "
        f"{written / 1e6:.1f} MB of JSON), catalog built in {t_all - t_files:.1f} s "
        f"({catalog_path(root).stat().st_size / 1e6:.1f} MB), total {t_all:.1f} s; "
        f"store size {size / 1e6:.1f} MB in {files} files")
    return {"reused": 0, "seconds": t_all, "bytes": size, "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="the store root (use it as CLINVK_HOME)")
    parser.add_argument("--sessions", "-n", type=int, required=True)
    parser.add_argument("--turns-min", type=int, default=1)
    parser.add_argument("--turns-max", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="default: CPU count")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    parser.add_argument("--check", action="store_true",
                        help="also check the catalog against the files (sessions doctor)")
    args = parser.parse_args(argv)
    if args.sessions < 0 or not 1 <= args.turns_min <= args.turns_max:
        parser.error("need --sessions >= 0 and 1 <= --turns-min <= --turns-max")
    ensure_store(args.dir, args.sessions, turns_min=args.turns_min, turns_max=args.turns_max,
                 seed=args.seed, workers=args.workers, force=args.force, check=args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
