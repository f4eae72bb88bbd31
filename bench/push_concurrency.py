"""Pushes from many clinics at once on PostgreSQL, without HTTP: does the database let them
run side by side, or do they queue on one lock?

``--workers`` processes (think: request threads of several hub processes) each push, for
``--seconds``, a new patient plus a note as one push (the shape of bench/hub_load.py's clinic
loop), each worker for its own clinic. The same code with 1 worker is the baseline in the
same run: with pushes serialised on one row, N workers give about the 1-worker rate; with
independent pushes, more (until CPU or the disk's commits are the limit). Prints pushes/s
and p50/p99 latency per worker count, and the load average.

    YIQIAO_TEST_PG_DSN=postgresql://yiqiao:yiqiao@127.0.0.1:5432/yiqiao_scale_bench \\
        .venv/bin/python bench/push_concurrency.py [--workers 1 8] [--seconds 10]

Run from a checkout of the version to measure (it imports ``hub`` from the current
directory first). The database's ``public`` schema is emptied first.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.getcwd())

import sqlalchemy as sa  # noqa: E402

from app.protocol.sync import Change  # noqa: E402
from hub import accounts, records  # noqa: E402
from hub.auth import load_user  # noqa: E402
from hub.db import Database, normalize_url  # noqa: E402


def fresh(dsn: str) -> Database:
    eng = sa.create_engine(normalize_url(dsn))
    with eng.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    eng.dispose()
    db = Database(dsn)
    db.migrate()
    return db


def one_push(facility: str) -> list[Change]:
    pid = str(uuid.uuid4())
    return [
        Change.model_validate(c)
        for c in (
            {
                "change_id": str(uuid.uuid4()),
                "id": pid,
                "type": "patient",
                "fields": {"name": "王秀英", "sex": "F"},
            },
            {
                "change_id": str(uuid.uuid4()),
                "id": str(uuid.uuid4()),
                "type": "note",
                "patient_id": pid,
                "fields": {"text": "血压偏高，建议复查"},
            },
        )
    ]


def _worker(dsn: str, user_json: str, seconds: float, ready, go, out) -> None:  # noqa: ANN001
    """One worker process (as one hub process's request thread would be): imports, connects
    and pushes once before the clock starts, so start-up is not measured."""
    from app.protocol.auth import UserInfo

    db = Database(dsn)
    user = UserInfo.model_validate_json(user_json)
    records.push(db, user, one_push(user.facility_id), "127.0.0.1")
    ready.put(1)
    go.wait()
    stop_at = time.monotonic() + seconds
    latencies = []
    while time.monotonic() < stop_at:
        batch = one_push(user.facility_id)
        t0 = time.perf_counter()
        results = records.push(db, user, batch, "127.0.0.1")
        latencies.append(time.perf_counter() - t0)
        assert all(r.status == "applied" for r in results), results
    db.dispose()
    out.put(latencies)


def run(dsn: str, users: list, seconds: float) -> tuple[int, list[float]]:
    ctx = multiprocessing.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_worker, args=(dsn, u.model_dump_json(), seconds, ready, go, out))
        for u in users
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    go.set()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get(timeout=seconds + 120)
    for p in procs:
        p.join(30)
    return len(latencies), latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    dsn = os.environ.get("YIQIAO_BENCH_PG_DSN") or os.environ.get("YIQIAO_TEST_PG_DSN")
    if not dsn:
        sys.exit("set YIQIAO_TEST_PG_DSN to a PostgreSQL database this bench may empty")
    db = fresh(dsn)
    most = max(args.workers)
    users = []
    for i in range(most):
        fid = f"clinic-{i}"
        accounts.add_facility(db, fid, f"卫生院{i}", "township_clinic")
        uid = accounts.add_user(
            db, f"doc{i}", f"医生{i}", "clinic_doctor", fid, "x" * 12, "全科", password_hash="x"
        )
        with db.read() as conn:
            users.append(load_user(conn, uid))
    print(f"code: {os.getcwd()}  load average before: {os.getloadavg()}")
    print(f"{'workers':>7} {'pushes':>7} {'pushes/s':>9} {'p50 ms':>8} {'p99 ms':>8}  load (1 min)")
    for n in args.workers:
        count, lat = run(dsn, users[:n], args.seconds)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
        print(
            f"{n:>7} {count:>7} {count / args.seconds:>9.1f} "
            f"{statistics.median(lat) * 1000 if lat else 0:>8.1f} {p99 * 1000:>8.1f}"
            f"  {os.getloadavg()[0]:.1f}"
        )
    db.dispose()


if __name__ == "__main__":
    main()
