"""Hub throughput on loopback: push and pull of 10,000 documents, tus blob upload MB/s,
for SQLite and PostgreSQL. Each figure is printed next to an in-process baseline measured
in the same run (the same push code without HTTP; hashing+writing the same bytes to disk),
so the cost of the HTTP layer is visible.

PostgreSQL: set YIQIAO_BENCH_PG_DSN (or YIQIAO_TEST_PG_DSN); the bench works in a fresh,
temporary schema and drops it afterwards. Without a DSN that part is skipped with a reason.

    .venv/bin/python bench/hub_throughput.py [--docs 10000] [--blob-mb 64]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.protocol.auth import UserInfo  # noqa: E402
from app.protocol.sync import Change  # noqa: E402
from hub import accounts, records  # noqa: E402
from hub.db import Database, normalize_url  # noqa: E402

PASSWORD = "bench-password-1"
BATCH = 500


def changes(n: int, facility: str) -> list[dict]:
    """n documents: one patient per 10, the rest vitals and notes of that patient."""
    out = []
    pid = None
    for i in range(n):
        if i % 10 == 0:
            pid = str(uuid.uuid4())
            out.append(
                {
                    "change_id": str(uuid.uuid4()),
                    "id": pid,
                    "type": "patient",
                    "fields": {"name": f"患者{i}", "sex": "F", "birth_date": "1960-01-01"},
                }
            )
        elif i % 2:
            out.append(
                {
                    "change_id": str(uuid.uuid4()),
                    "id": str(uuid.uuid4()),
                    "type": "vitals",
                    "patient_id": pid,
                    "fields": {"pulse": 60 + i % 40, "bp_systolic": 120, "spo2": 97},
                }
            )
        else:
            out.append(
                {
                    "change_id": str(uuid.uuid4()),
                    "id": str(uuid.uuid4()),
                    "type": "note",
                    "patient_id": pid,
                    "fields": {"text": "复诊，血压控制可。" * 3},
                }
            )
    return out


def start_hub(data: Path, db_url: str) -> tuple[subprocess.Popen, str]:
    port_file = data / "port"
    cmd = [
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--data",
        str(data),
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--log-level",
        "warning",
        "--max-blob-size",
        str(4 * 1024**3),
    ]
    if db_url:
        cmd += ["--db", db_url]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if port_file.exists():
            url = f"http://127.0.0.1:{port_file.read_text()}"
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
        if proc.poll() is not None:
            raise SystemExit(proc.stderr.read().decode()[-2000:])
        time.sleep(0.05)
    raise SystemExit("hub did not start")


def bench_backend(label: str, db_url: str, n_docs: int, blob_mb: int) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="hubbench-"))
    db = Database(db_url or f"sqlite:///{data}/hub.db")
    db.migrate()
    accounts.add_facility(db, "bench", "基准卫生院", "township_clinic", quota_bytes=0)
    accounts.add_user(db, "bench", "Bench", "clinic_doctor", "bench", PASSWORD)
    accounts.add_user(db, "baseline", "Baseline", "clinic_doctor", "bench", PASSWORD)
    proc, url = start_hub(data, db_url)
    out: dict[str, float] = {}
    try:
        token = httpx.post(
            url + "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ).json()["access_token"]
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        docs = changes(n_docs, "bench")
        t0 = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            r = c.post("/api/v1/sync/push", json={"changes": docs[i : i + BATCH]})
            assert r.status_code == 200 and all(
                x["status"] == "applied" for x in r.json()["results"]
            ), r.text[:300]
        out["push docs/s"] = len(docs) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        got, cursor = 0, 0
        while True:
            body = c.get("/api/v1/sync/pull", params={"since": cursor, "limit": 1000}).json()
            got += len(body["changes"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        assert got == len(docs), (got, len(docs))
        out["pull docs/s"] = got / (time.perf_counter() - t0)

        # Baseline: the same push logic in-process (no HTTP, no JSON), another user's documents.
        with db.read() as conn:
            from hub.auth import load_user

            uid = conn.execute(
                sa.text("SELECT id FROM users WHERE username='baseline'")
            ).scalar_one()
            user: UserInfo = load_user(conn, uid)
        base_docs = [Change.model_validate(d) for d in changes(n_docs, "bench")]
        t0 = time.perf_counter()
        for i in range(0, len(base_docs), BATCH):
            records.push(db, user, base_docs[i : i + BATCH], "127.0.0.1")
        out["baseline push docs/s (in-process)"] = len(base_docs) / (time.perf_counter() - t0)

        size = blob_mb * 1024 * 1024
        payload = secrets.token_bytes(8 * 1024 * 1024)
        tus = {"Tus-Resumable": "1.0.0"}
        t0 = time.perf_counter()
        loc = c.post("/api/v1/blobs/uploads", headers={**tus, "Upload-Length": str(size)}).headers[
            "Location"
        ]
        offset = 0
        while offset < size:
            chunk = payload[: min(len(payload), size - offset)]
            r = c.patch(
                loc,
                content=chunk,
                headers={
                    **tus,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Checksum": "sha256 " + _b64(hashlib.sha256(chunk).digest()),
                },
            )
            assert r.status_code == 204, r.text
            offset = int(r.headers["Upload-Offset"])
        sha = r.headers["X-Blob-Sha256"]
        out["upload MB/s (tus, 8 MiB chunks, sha256)"] = blob_mb / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = 0
        with c.stream("GET", f"/api/v1/blobs/{sha}") as resp:
            for block in resp.iter_bytes():
                n += len(block)
        assert n == size
        out["download MB/s"] = blob_mb / (time.perf_counter() - t0)
        # Baseline: hash the chunks and write the same bytes to disk in-process.
        t0 = time.perf_counter()
        with open(data / "baseline.bin", "wb") as f:
            h = hashlib.sha256()
            for _ in range(blob_mb // 8):
                hashlib.sha256(payload).digest()
                h.update(payload)
                f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        out["baseline MB/s (hash+write to disk)"] = blob_mb / (time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(30)
        db.dispose()
    return out


def _b64(b: bytes) -> str:
    import base64

    return base64.b64encode(b).decode()


def pg_schema_url(dsn: str) -> tuple[str, str]:
    schema = "bench_" + secrets.token_hex(4)
    eng = sa.create_engine(normalize_url(dsn))
    with eng.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    sep = "&" if "?" in dsn else "?"
    return schema, dsn + sep + "options=" + quote(f"-csearch_path={schema}")


def drop_schema(dsn: str, schema: str) -> None:
    eng = sa.create_engine(normalize_url(dsn))
    with eng.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    eng.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--blob-mb", type=int, default=64)
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    print(
        f"hub throughput on loopback: {args.docs} documents (push batches of {BATCH}, pull pages of 1000), "
        f"{args.blob_mb} MiB blob"
    )
    results["SQLite"] = bench_backend("SQLite", "", args.docs, args.blob_mb)
    dsn = os.environ.get("YIQIAO_BENCH_PG_DSN") or os.environ.get("YIQIAO_TEST_PG_DSN")
    if dsn:
        schema, url = pg_schema_url(dsn)
        try:
            results["PostgreSQL"] = bench_backend("PostgreSQL", url, args.docs, args.blob_mb)
        finally:
            drop_schema(dsn, schema)
    else:
        print("PostgreSQL: skipped (set YIQIAO_BENCH_PG_DSN=postgresql://user:pass@127.0.0.1/db)")
    metrics = list(next(iter(results.values())))
    print(f"{'':42s}" + "".join(f"{k:>14s}" for k in results))
    for m in metrics:
        print(f"{m:42s}" + "".join(f"{results[k][m]:14.0f}" for k in results))


if __name__ == "__main__":
    main()
