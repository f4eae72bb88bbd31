"""One PostgreSQL database per pytest-xdist worker.

The hub tests empty the ``public`` schema of ``YIQIAO_TEST_PG_DSN`` before each use, so
two workers on one database would wipe each other's tables. Each worker therefore works in
``<database>_<worker id>``, created on first use (the test role has CREATEDB; ``.ci/run``
grants it). Without xdist, or without the variable, nothing changes.
"""

from __future__ import annotations

import os

PG_ENV = "YIQIAO_TEST_PG_DSN"


def use_database_of_this_worker() -> None:
    """Point ``YIQIAO_TEST_PG_DSN`` at this worker's own database (creating it)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    dsn = os.environ.get(PG_ENV)
    if not worker or not dsn or "/" not in dsn.split("://", 1)[-1]:
        return
    base, _, name = dsn.rpartition("/")
    name, _, query = name.partition("?")
    own = f"{name}_{worker}"
    try:
        import sqlalchemy as sa

        from hub.db import normalize_url

        engine = sa.create_engine(normalize_url(dsn), connect_args={"connect_timeout": 3})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{own}"'))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - the PostgreSQL tests then skip, naming the database
        print(f"PostgreSQL: worker {worker} could not create {own}: {exc}")
    os.environ[PG_ENV] = f"{base}/{own}" + (f"?{query}" if query else "")
