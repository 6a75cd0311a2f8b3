"""Sessions on the target that a migration would queue behind (PostgreSQL).

A DDL statement waits for every lock on its table that conflicts with its own; while it waits,
every new query on the table waits behind it. A session that has held such a lock for long (an
idle transaction, a long report) or a queue already waiting on the table would turn the deploy into
an outage: the gate names them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sql.locks import PG_LOCKS_NAMES, conflict
from .result import FAIL, PASS, SKIP, GateCheck
from .target import QueryFailed, Target

SESSIONS_SQL = """
SELECT a.pid, c.relname, l.mode, l.granted, a.state,
       EXTRACT(EPOCH FROM clock_timestamp() - a.xact_start)::float8,
       a.query_start::text, left(a.query, 200)
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND c.relname = ANY(%s)
  AND n.nspname = ANY(current_schemas(false)) AND l.pid <> pg_backend_pid()
ORDER BY a.xact_start NULLS LAST, a.pid
"""


@dataclass
class Session:
    pid: int
    table: str
    mode: str
    granted: bool
    state: str
    transaction_seconds: float | None
    query_start: str | None
    query: str

    def describe(self) -> str:
        age = (
            f", transaction open {self.transaction_seconds:.0f}s"
            if self.transaction_seconds is not None
            else ""
        )
        return (
            f"pid {self.pid} ({self.state or 'unknown state'}{age}, query started "
            f"{self.query_start or 'unknown'}: {self.query.strip()[:80]!r})"
        )


def lock_hazards(target: Target, planned: dict[str, str], long_seconds: float) -> GateCheck:
    """One check: the sessions that would make the plan's locks (``table -> mode``) queue."""
    if target.vendor != "postgresql":
        return GateCheck(
            "live-locks",
            SKIP,
            f"Not checked on {target.vendor}: sessions and their locks are read from PostgreSQL's "
            "pg_locks and pg_stat_activity.",
        )
    if not planned:
        return GateCheck("live-locks", PASS, "The plan locks no existing table.")
    try:
        rows = target.query(SESSIONS_SQL, [sorted(planned)])
    except QueryFailed as error:
        return GateCheck("live-locks", FAIL, f"Could not read the sessions' locks: {error}.")
    sessions = [
        Session(pid, table, PG_LOCKS_NAMES.get(mode, mode), granted, state, seconds, start, query)
        for pid, table, mode, granted, state, seconds, start, query in rows
    ]
    blocking = []
    for session in sessions:
        mine = planned[session.table]
        if not session.granted:
            blocking.append(
                f"{session.describe()} is waiting for {session.mode} on {session.table}: a lock "
                "queue exists already, and the migration would join it"
            )
        elif (
            session.mode in PG_LOCKS_NAMES.values()
            and conflict(mine, session.mode)
            and (session.transaction_seconds or 0) >= long_seconds
        ):
            blocking.append(
                f"{session.describe()} holds {session.mode} on {session.table}, which conflicts "
                f"with the {mine} the plan takes: the migration would wait for it, and every "
                f"query on {session.table} behind the migration"
            )
    details = {
        "sessions": [vars(s) for s in sessions],
        "tables": dict(sorted(planned.items())),
        "long_transaction_seconds": long_seconds,
    }
    if blocking:
        return GateCheck("live-locks", FAIL, "; ".join(blocking) + ".", details=details)
    return GateCheck(
        "live-locks",
        PASS,
        f"No session holds a conflicting lock for {long_seconds:g}s or more, nor waits, on the "
        f"{len(planned)} table(s) the plan locks.",
        details=details,
    )
