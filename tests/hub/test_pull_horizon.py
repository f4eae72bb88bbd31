"""Pushes no longer queue on one counter row (PostgreSQL): a change may commit after another
with a larger number. A puller must still never skip it (the gap problem), and the cursor
of a hub before that change keeps working."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.protocol.auth import Role, UserInfo
from app.protocol.sync import CURSOR_TXN_BASE, txn_cursor
from hub import db as t
from hub import records
from hub.change_numbers import ChangeNumbers
from hub.db import Database
from tests.hub.conftest import (
    BACKENDS,
    LiveHub,
    backend_url,
    change,
    make_hub,
    make_patient,
    new_id,
    pull_all,
    push,
    seed_network,
)
from tests.support.wait import wait_until


@pytest.fixture
def pg_hub(tmp_path: Path) -> Iterator[LiveHub]:
    hub = make_hub(tmp_path, "postgresql")
    try:
        seed_network(hub)
        yield hub
    finally:
        hub.stop()


def _vitals_row(doc_id: str, patient_id: str, seq: int, txn: int, user_id: str) -> dict:
    return dict(
        id=doc_id,
        type="vitals",
        facility_id="clinic-a",
        patient_id=patient_id,
        consultation_id=None,
        rev=1,
        seq=seq,
        txn=txn,
        fields={"pulse": 70},
        deleted=False,
        conflict=None,
        created_by=user_id,
        updated_by=user_id,
        updated_at=time.time(),
    )


@pytest.mark.postgres
def test_a_change_committing_after_a_larger_number_is_not_skipped(pg_hub: LiveHub) -> None:
    c = pg_hub.client("doc_a")
    pid = make_patient(c)
    _, cursor = pull_all(c, 0)
    db = pg_hub.state.db
    slow_id = new_id()
    with db.write() as conn:
        # A writer that has taken its number and not committed yet (as a push on another
        # hub process would be, between its first statement and its commit).
        numbers = ChangeNumbers(conn)
        slow_seq = numbers.next()
        conn.execute(
            t.documents.insert().values(
                **_vitals_row(slow_id, pid, slow_seq, numbers.txn, pg_hub.users["doc_a"])
            )
        )
        # Meanwhile a push with a larger number commits, and the clinic pulls.
        (fast,) = push(c, change(new_id(), "vitals", {"pulse": 80}, patient_id=pid))
        assert fast["status"] == "applied" and fast["seq"] > slow_seq
        during, cursor = pull_all(c, cursor)
    after, cursor = pull_all(c, cursor)
    got = {d["id"] for d in during + after}
    assert slow_id in got, "the pull skipped a change that committed after a larger one"
    assert fast["id"] in got
    assert pull_all(c, cursor)[0] == []


@pytest.mark.postgres
def test_concurrent_pushers_and_a_puller_lose_nothing(pg_hub: LiveHub) -> None:
    """Four clinics' doctors push at once while a fifth client pulls in a loop: every
    acknowledged record reaches the puller exactly as stored, none twice in one page run."""
    pushers, each = 4, 8
    doctor = pg_hub.client("doc_a")
    patients = [make_patient(doctor) for _ in range(pushers)]
    reader = pg_hub.client("doc_a")
    _, cursor = pull_all(reader, 0)
    pushed: set[str] = set()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def pusher(pid: str) -> None:
        try:
            with pg_hub.client("doc_a") as cl:
                for i in range(each):
                    (res,) = push(cl, change(new_id(), "vitals", {"pulse": 60 + i}, patient_id=pid))
                    assert res["status"] == "applied", res
                    with lock:
                        pushed.add(res["id"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=pusher, args=(p,)) for p in patients]
    for th in threads:
        th.start()
    seen: set[str] = set()
    while any(th.is_alive() for th in threads):
        docs, cursor = pull_all(reader, cursor)
        seen |= {d["id"] for d in docs}
    for th in threads:
        th.join(60)
    assert not errors, errors

    def caught_up() -> bool:
        nonlocal cursor
        docs, cursor = pull_all(reader, cursor)
        seen.update(d["id"] for d in docs)
        return pushed <= seen

    wait_until(caught_up, timeout=30, what="the puller has every acknowledged record")
    assert len(pushed) == pushers * each


def _doc(n: int) -> str:
    return str(uuid.UUID(int=n))


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_keeps_documents_in_order_and_old_cursors_working(
    backend: str, tmp_path: Path
) -> None:
    """Migration 31 on a database of the counter era: the revisions keep their order and
    numbers, a client's old (seq) cursor still gets exactly what came after it, and new
    pushes come after all of them."""
    url = backend_url(backend, tmp_path) or f"sqlite:///{tmp_path / 'hub.db'}"
    db = Database(url)
    db.migrate()
    with db.write() as conn:  # back to the shape before migration 31, with five revisions
        conn.exec_driver_sql("DROP INDEX IF EXISTS documents_txn_seq")
        conn.exec_driver_sql("ALTER TABLE documents DROP COLUMN txn")
        conn.execute(t.schema_version.delete().where(t.schema_version.c.version == 31))
        if not db.is_sqlite:
            conn.exec_driver_sql("DROP SEQUENCE documents_seq")
        for n in range(1, 6):
            conn.exec_driver_sql(
                "INSERT INTO documents (id, type, facility_id, patient_id, rev, seq, fields, "
                "deleted, created_by, updated_by, updated_at) VALUES "
                f"('{_doc(n)}', 'patient', 'f', '{_doc(n)}', 1, {n * 10}, '{{}}', false, 'u', 'u', 0)"
            )
        conn.execute(t.counters.update().values(value=50))
    db.dispose()
    db = Database(url)
    db.migrate()
    with db.write() as conn:
        numbers = ChangeNumbers(conn)
        seq = numbers.next()
        row = _vitals_row(_doc(6), _doc(1), seq, numbers.txn, "u") | {"facility_id": "f"}
        conn.execute(t.documents.insert().values(**row))
    clinic = UserInfo(
        id="u",
        username="u",
        display_name="U",
        role=Role.clinic_doctor,
        facility_id="f",
        facility_name="F",
    )
    page = records.pull(db, clinic, 30, 100, "127.0.0.1")  # an old client's seq cursor
    assert [str(d.id) for d in page.changes] == [_doc(4), _doc(5), _doc(6)]
    assert not page.has_more
    assert (
        page.next_cursor > 50 and records.pull(db, clinic, page.next_cursor, 100, "").changes == []
    )
    with db.read() as conn:
        order = conn.execute(
            sa.select(t.documents.c.id, t.documents.c.seq).order_by(
                t.documents.c.txn, t.documents.c.seq
            )
        ).all()
    db.dispose()
    assert [r.id for r in order] == [_doc(n) for n in range(1, 7)]
    assert seq > 50, "new numbers continue after the old counter"
    assert numbers.txn + CURSOR_TXN_BASE > 50


@pytest.mark.postgres
def test_a_database_restored_on_another_server_keeps_new_writes_after_old_cursors(
    pg_hub: LiveHub,
) -> None:
    """pg_dump restored onto a new PostgreSQL server: its transaction ids start far below the
    old server's, which the clients' cursors came from. New records must still come after
    those cursors, or every client would miss them."""
    c = pg_hub.client("doc_a")
    make_patient(c)
    db = pg_hub.state.db
    with db.write() as conn:  # what the dump carries from an old server 2³⁵ xids ahead
        conn.execute(t.documents.update().values(txn=t.documents.c.txn + 2**35))
        conn.execute(t.counters.update().where(t.counters.c.name == "cluster").values(value=1))
        top = conn.execute(sa.select(sa.func.max(t.documents.c.txn))).scalar_one()
    cursor = txn_cursor(top + 1000)  # a client up to date with the old server
    db.migrate()  # the hub starting on the restored database
    pid = make_patient(c, "还原后")
    docs, _ = pull_all(c, cursor)
    assert [d["id"] for d in docs] == [pid]
