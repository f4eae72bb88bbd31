"""Change numbers: how stored revisions are ordered, and up to where a pull may safely read.

Every stored revision carries two numbers (columns of ``documents``):

- ``seq``: unique and increasing, the revision's own number (``Document.seq``);
- ``txn``: the key of the transaction that wrote it. Pulls go in ``(txn, seq)`` order and only
  below the *horizon*: a ``txn`` under which every writing transaction has finished, so no
  change can still commit below a cursor a client already holds (the gap problem).

PostgreSQL (several hub processes): ``seq`` comes from a SEQUENCE (``nextval`` takes no row
lock and is not rolled back) and ``txn`` is the writer's 64-bit transaction id (xid8). Xids
are handed out in increasing order, so the horizon is the smallest xid of a transaction of
this database still running (read from the server's process array), or the next xid to be
given out when none is. Writers no longer wait for each other; the horizon waits for them.

SQLite (one process, one writer at a time): one counter row (``counters.seq``) hands out
blocks of ``seq`` under the write lock; ``txn`` is the first number of the block, and the
committed counter + 1 is the horizon.

See docs/hub.md, "Sequence cursor".
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import db as t

SEQUENCE = "documents_seq"
_OFFSET = "SELECT value FROM counters WHERE name = 'txn_offset'"
RESTORE_GAP = 2**40
"""How far keys jump when the database turns up on another cluster (see follow_cluster)."""
_LOCK_CLASS = 730013  # advisory-lock namespace of "one patient's records are being written"


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


class ChangeNumbers:
    """The numbers one write transaction stamps on the revisions it stores."""

    def __init__(self, conn: Connection, expected: int = 1) -> None:
        self.conn = conn
        self._free: list[int] = []
        if _pg(conn):
            self.txn = int(
                conn.exec_driver_sql(
                    f"SELECT pg_current_xact_id()::text::bigint + ({_OFFSET})"
                ).scalar_one()
            )
        else:
            self._free = _allocate_block(conn, max(expected, 1))
            self.txn = self._free[0]

    def take(self, n: int = 1) -> list[int]:
        """``n`` fresh ``seq`` numbers, increasing."""
        while len(self._free) < n:
            self._free.extend(self._allocate(max(n - len(self._free), 1)))
        out, self._free = self._free[:n], self._free[n:]
        return out

    def next(self) -> int:
        return self.take(1)[0]

    def _allocate(self, n: int) -> list[int]:
        if _pg(self.conn):
            return list(
                self.conn.exec_driver_sql(
                    f"SELECT nextval('{SEQUENCE}') FROM generate_series(1, {int(n)})"
                ).scalars()
            )
        return _allocate_block(self.conn, n)


def _allocate_block(conn: Connection, n: int) -> list[int]:
    first = t.allocate_seq(conn, n)
    return list(range(first, first + n))


def lock_patients(conn: Connection, patient_ids: set[str]) -> None:
    """Serialise writers per patient (PostgreSQL; SQLite has one writer anyway).

    The write rules read other records of the same patient (the consultation's participants,
    a signed report, the patient's facility); holding this lock for the transaction keeps
    those reads true until commit, as the single counter lock did for all pushes. Taken in
    sorted order, all at the start, so two pushes never deadlock.
    """
    if not _pg(conn):
        return
    for key in sorted({_lock_key(p) for p in patient_ids}):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, {key})")


def _lock_key(patient_id: str) -> int:
    return int.from_bytes(hashlib.sha256(patient_id.encode()).digest()[:4], "big", signed=True)


def horizon(conn: Connection) -> int:
    """A ``txn`` below which every writer has finished: read it, then read the documents in
    a later statement (READ COMMITTED: a newer snapshot), which then shows all of them."""
    if not _pg(conn):
        return (
            int(
                conn.execute(
                    sa.select(t.counters.c.value).where(t.counters.c.name == "seq")
                ).scalar_one()
            )
            + 1
        )
    # First the next xid to be given out; then the xids of this database's transactions
    # still running (read after it: a writer that got its xid before and has finished by
    # now is visible to the documents query that follows). Other databases of the cluster
    # do not hold our pulls back.
    nxt, offset = conn.exec_driver_sql(
        f"SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, ({_OFFSET})"
    ).one()
    # (Each transaction holds the exclusive lock on its own xid; pg_locks shows every role's,
    # where pg_stat_activity.backend_xid hides other roles'.)
    busy = conn.exec_driver_sql(
        "SELECT l.transactionid::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted "
        "AND a.datname = current_database()"
    ).scalars()
    return min([nxt, *(_full_xid(int(x), nxt) for x in busy)]) + int(offset)


def follow_cluster(conn: Connection) -> None:
    """Keep keys increasing when the database moves to another PostgreSQL cluster (a
    restore from pg_dump onto a new server), whose transaction ids may be far below the old
    ones: clients hold cursors up to the old ids, and new writes must come after them.

    Keys are xid + an offset kept in ``counters``; on a cluster other than the one recorded,
    the offset jumps so the next key is ``RESTORE_GAP`` past every stored one (more xids than
    a hub spends in centuries between its last record and a dump). Runs at every start
    (``Database.migrate``); the same cluster (a restart, a promoted replica, a restore into
    the same server) changes nothing."""
    if not _pg(conn):
        return
    cluster = int(
        conn.exec_driver_sql("SELECT system_identifier FROM pg_control_system()").scalar_one()
    )
    known = dict(
        conn.execute(
            sa.select(t.counters.c.name, t.counters.c.value).where(
                t.counters.c.name.in_(["cluster", "txn_offset"])
            )
        ).all()
    )
    if known.get("cluster") == cluster:
        return
    nxt = int(
        conn.exec_driver_sql("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").scalar_one()
    )
    offset = int(known.get("txn_offset", 0))
    if "cluster" in known:  # moved: jump past everything stored
        top = conn.execute(sa.select(sa.func.max(t.documents.c.txn))).scalar() or 0
        offset = max(offset, int(top) + RESTORE_GAP - nxt)
    for name, value in (("cluster", cluster), ("txn_offset", offset)):
        if name in known:
            conn.execute(t.counters.update().where(t.counters.c.name == name).values(value=value))
        else:
            conn.execute(t.counters.insert().values(name=name, value=value))


def _full_xid(xid32: int, reference: int) -> int:
    """A 32-bit xid of a running transaction as xid8, given a later xid8 ``reference``."""
    epoch, low = reference >> 32, reference & 0xFFFFFFFF
    return ((epoch if xid32 <= low else epoch - 1) << 32) | xid32
