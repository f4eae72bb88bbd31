"""Migrations 10–11 on a database from before the workflow (SQLite and PostgreSQL): the
consultation status column is added and filled from the documents, users get a title."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db as t
from hub.db import Database
from tests.hub.conftest import BACKENDS, backend_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_fills_the_consultation_status(backend: str, tmp_path: Path) -> None:
    url = backend_url(backend, tmp_path) or f"sqlite:///{tmp_path / 'hub.db'}"
    db = Database(url)
    db.migrate()
    with db.write() as conn:  # back to the shape before migrations 10 and 11
        conn.exec_driver_sql("ALTER TABLE consultations DROP COLUMN status")
        conn.exec_driver_sql("ALTER TABLE users DROP COLUMN title")
        conn.execute(t.schema_version.delete().where(t.schema_version.c.version.in_([10, 11])))
        for n, (status, deleted) in enumerate(
            (("submitted", False), ("draft", False), ("accepted", True))
        ):
            cid = f"c{n}"
            conn.execute(
                t.documents.insert().values(
                    id=cid,
                    type="consultation",
                    facility_id="f",
                    patient_id="p",
                    rev=1,
                    seq=n + 1,
                    fields={"status": status},
                    deleted=deleted,
                    created_by="u",
                    updated_by="u",
                    updated_at=0,
                )
            )
            conn.exec_driver_sql(
                "INSERT INTO consultations (id, patient_id, requesting_facility_id, "
                f"target_facility_id, department, specialist_id) VALUES ('{cid}', 'p', 'f', '', '', '')"
            )
    db.dispose()
    db = Database(url)
    db.migrate()
    with db.read() as conn:
        rows = conn.execute(
            sa.select(t.consultations.c.id, t.consultations.c.status).order_by(t.consultations.c.id)
        ).all()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
    db.dispose()
    assert [tuple(r) for r in rows] == [("c0", "submitted"), ("c1", "draft"), ("c2", "closed")]
    assert "title" in columns
