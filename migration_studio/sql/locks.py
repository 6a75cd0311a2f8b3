"""PostgreSQL's table lock modes, weakest to strongest, and which of them block reads or writes.

See PostgreSQL's "Explicit Locking" chapter; which statement takes which mode is
:mod:`.reader`'s business.
"""

from __future__ import annotations

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
EXCLUSIVE = "EXCLUSIVE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
SHARE = "SHARE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"
ROW_SHARE = "ROW SHARE"
ACCESS_SHARE = "ACCESS SHARE"

#: Weakest to strongest.
LOCK_ORDER = (
    ACCESS_SHARE,
    ROW_SHARE,
    ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    EXCLUSIVE,
    ACCESS_EXCLUSIVE,
)
#: Lock modes that conflict with plain reads (SELECT) and with writes (INSERT/UPDATE/DELETE).
BLOCKS_READS = {ACCESS_EXCLUSIVE}
BLOCKS_WRITES = {SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE}


def stronger(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if LOCK_ORDER.index(a) >= LOCK_ORDER.index(b) else b


#: Which modes each mode conflicts with (PostgreSQL's "Conflicting Lock Modes" table).
CONFLICTS = {
    ACCESS_SHARE: {ACCESS_EXCLUSIVE},
    ROW_SHARE: {EXCLUSIVE, ACCESS_EXCLUSIVE},
    ROW_EXCLUSIVE: {SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE},
    SHARE_UPDATE_EXCLUSIVE: {
        SHARE_UPDATE_EXCLUSIVE,
        SHARE,
        SHARE_ROW_EXCLUSIVE,
        EXCLUSIVE,
        ACCESS_EXCLUSIVE,
    },
    SHARE: {
        ROW_EXCLUSIVE,
        SHARE_UPDATE_EXCLUSIVE,
        SHARE_ROW_EXCLUSIVE,
        EXCLUSIVE,
        ACCESS_EXCLUSIVE,
    },
    SHARE_ROW_EXCLUSIVE: {
        ROW_EXCLUSIVE,
        SHARE_UPDATE_EXCLUSIVE,
        SHARE,
        SHARE_ROW_EXCLUSIVE,
        EXCLUSIVE,
        ACCESS_EXCLUSIVE,
    },
    EXCLUSIVE: set(LOCK_ORDER) - {ACCESS_SHARE},
    ACCESS_EXCLUSIVE: set(LOCK_ORDER),
}

#: ``pg_locks.mode`` names ("AccessShareLock") -> the modes above.
PG_LOCKS_NAMES = {mode.title().replace(" ", "") + "Lock": mode for mode in LOCK_ORDER}


def conflict(a: str, b: str) -> bool:
    return b in CONFLICTS[a]
