"""The team store's schema on the server, as numbered migrations.

``clinvk team init`` applies the ones a database lacks, in order, in one transaction
under an advisory lock: running it twice, or from several machines at once, is safe.
A database of a newer schema than this clinvk knows is left alone.

Everything lives in the ``clinvk`` schema. Rows are keyed by (member, machine, id).
Row-level security: anyone granted ``clinvk_member`` reads every row but writes only
rows whose member name its database role claimed in ``members`` (the first role to use
a member name claims it; the owner can reassign one). ``clinvk_reader`` reads only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# A constant key for pg_advisory_xact_lock: "clinvk" in ASCII.
LOCK_KEY = 0x636C696E766B

# A member's role may write a row when it claimed the row's member name.
_OWNS = ("EXISTS (SELECT 1 FROM clinvk.members m WHERE m.member = {t}.member "
         "AND m.role = current_user)")


def _policies(table: str) -> str:
    owns = _OWNS.format(t=table)
    return f"""
ALTER TABLE clinvk.{table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON clinvk.{table} FOR SELECT USING (true);
CREATE POLICY insert_own ON clinvk.{table} FOR INSERT WITH CHECK ({owns});
CREATE POLICY update_own ON clinvk.{table} FOR UPDATE USING ({owns}) WITH CHECK ({owns});
CREATE POLICY delete_own ON clinvk.{table} FOR DELETE USING ({owns});
"""


# The sums of some turns (clinvk.stats.Sums, in order), wherever they are kept.
SUM_COLUMNS = ("turns", "duration", "timed", "input_tokens", "output_tokens",
               "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "reported_cost",
               "reported_turns", "computed_cost", "computed_turns", "unpriced_turns",
               "bare_turns", "first_started", "last_started")
SUMS_DDL = """turns integer NOT NULL, duration double precision NOT NULL,
    timed integer NOT NULL, input_tokens numeric NOT NULL, output_tokens numeric NOT NULL,
    cache_read_tokens numeric NOT NULL, cache_write_tokens numeric NOT NULL,
    reasoning_tokens numeric NOT NULL, reported_cost double precision NOT NULL,
    reported_turns integer NOT NULL, computed_cost double precision NOT NULL,
    computed_turns integer NOT NULL, unpriced_turns integer NOT NULL,
    bare_turns integer NOT NULL, first_started double precision NOT NULL,
    last_started double precision NOT NULL"""

_ROLES = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clinvk_member') THEN
        CREATE ROLE clinvk_member NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clinvk_reader') THEN
        CREATE ROLE clinvk_reader NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot create the roles clinvk_member and clinvk_reader: '
                 'create them as a role with CREATEROLE, then run clinvk team init again';
END $$;
"""

_GRANTS = """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'clinvk_member') THEN
        GRANT USAGE ON SCHEMA clinvk TO clinvk_member;
        GRANT SELECT ON ALL TABLES IN SCHEMA clinvk TO clinvk_member;
        GRANT INSERT, UPDATE, DELETE ON clinvk.sessions, clinvk.turns, clinvk.splits,
            clinvk.tool_calls TO clinvk_member;
        GRANT INSERT ON clinvk.members TO clinvk_member;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'clinvk_reader') THEN
        GRANT USAGE ON SCHEMA clinvk TO clinvk_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA clinvk TO clinvk_reader;
    END IF;
END $$;
"""

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, _ROLES + """
CREATE TABLE clinvk.members(
    member text PRIMARY KEY,
    role name NOT NULL DEFAULT current_user,
    since timestamptz NOT NULL DEFAULT now());
ALTER TABLE clinvk.members ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON clinvk.members FOR SELECT USING (true);
CREATE POLICY claim ON clinvk.members FOR INSERT WITH CHECK (role = current_user);

CREATE TABLE clinvk.sessions(
    member text NOT NULL, machine text NOT NULL, id text NOT NULL,
    host text NOT NULL, backend text NOT NULL, status text NOT NULL, origin text NOT NULL,
    created timestamptz NOT NULL, last_used timestamptz NOT NULL, model text,
    title text NOT NULL, workdir text NOT NULL, repo text NOT NULL,
    tags text[] NOT NULL, backend_sid text, tokens numeric, cost double precision,
    """ + SUMS_DDL + """,
    tz text NOT NULL, pushed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member, machine, id));
CREATE INDEX sessions_last_used ON clinvk.sessions(last_used DESC);
CREATE INDEX sessions_id ON clinvk.sessions(id text_pattern_ops);
CREATE INDEX sessions_repo ON clinvk.sessions(repo);

CREATE TABLE clinvk.turns(
    member text NOT NULL, machine text NOT NULL, id text NOT NULL, pos integer NOT NULL,
    started timestamptz NOT NULL, duration double precision, model text,
    status text NOT NULL, input_tokens bigint, output_tokens bigint,
    cache_read_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
    cost double precision, cost_source text NOT NULL,
    day text NOT NULL, week text NOT NULL, month text NOT NULL,
    prompt text, response text,
    PRIMARY KEY (member, machine, id, pos),
    FOREIGN KEY (member, machine, id) REFERENCES clinvk.sessions ON DELETE CASCADE);
CREATE INDEX turns_started ON clinvk.turns(started);

-- The turn sums of each session per model and per local day, ISO week and month of
-- the machine that ran them (as that machine's `sessions stats` counts them).
CREATE TABLE clinvk.splits(
    member text NOT NULL, machine text NOT NULL, id text NOT NULL, kind text NOT NULL,
    key text NOT NULL, status text NOT NULL,
    """ + SUMS_DDL + """,
    PRIMARY KEY (member, machine, id, kind, key),
    FOREIGN KEY (member, machine, id) REFERENCES clinvk.sessions ON DELETE CASCADE);
CREATE INDEX splits_kind ON clinvk.splits(kind, key);

CREATE TABLE clinvk.tool_calls(
    member text NOT NULL, machine text NOT NULL, id text NOT NULL, turn integer NOT NULL,
    idx integer NOT NULL, name text NOT NULL, kind text NOT NULL, status text NOT NULL,
    summary text NOT NULL, paths text[] NOT NULL, output text,
    PRIMARY KEY (member, machine, id, turn, idx),
    FOREIGN KEY (member, machine, id) REFERENCES clinvk.sessions ON DELETE CASCADE);
CREATE INDEX tool_calls_name ON clinvk.tool_calls(name, kind);
CREATE INDEX tool_calls_paths ON clinvk.tool_calls USING gin (paths);
""" + _policies("sessions") + _policies("turns") + _policies("splits")
       + _policies("tool_calls") + _GRANTS),
)

LATEST = MIGRATIONS[-1][0]


def current(conn: psycopg.Connection[Any]) -> int:
    """The schema version of the database (0: none yet)."""
    row = conn.execute("SELECT to_regclass('clinvk.schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    got = conn.execute("SELECT coalesce(max(version), 0) FROM clinvk.schema_version").fetchone()
    return int(got[0]) if got else 0


def migrate(conn: psycopg.Connection[Any]) -> tuple[int, list[int]]:
    """Bring the database to LATEST: (the version found, the versions applied)."""
    from clinvk.team.connect import TeamError

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS clinvk")
        conn.execute("CREATE TABLE IF NOT EXISTS clinvk.schema_version("
                     "version integer PRIMARY KEY, applied_at timestamptz NOT NULL "
                     "DEFAULT now())")
        found = current(conn)
        if found > LATEST:
            raise TeamError(f"the team store's schema is version {found}, newer than this "
                            f"clinvk knows ({LATEST})", hint="upgrade clinvk")
        applied = []
        for version, sql in MIGRATIONS:
            if version <= found:
                continue
            conn.execute(sql.encode())
            conn.execute("INSERT INTO clinvk.schema_version(version) VALUES (%s)", (version,))
            applied.append(version)
        conn.execute(_GRANTS.encode())
    return found, applied


def check(conn: psycopg.Connection[Any]) -> None:
    """TeamError unless the database has this clinvk's schema."""
    from clinvk.team.connect import TeamError

    found = current(conn)
    if found == 0:
        raise TeamError("the team store has no clinvk tables yet",
                        hint="run `clinvk team init` once (as the database's owner)")
    if found < LATEST:
        raise TeamError(f"the team store's schema is version {found}; this clinvk needs "
                        f"{LATEST}", hint="run `clinvk team init` to migrate it")
    if found > LATEST:
        raise TeamError(f"the team store's schema is version {found}, newer than this "
                        f"clinvk knows ({LATEST})", hint="upgrade clinvk")
