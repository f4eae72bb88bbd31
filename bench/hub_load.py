"""Load on a province hub: 1 process vs N processes behind nginx (TLS) on PostgreSQL.

    YIQIAO_TEST_PG_DSN=postgresql://yiqiao:yiqiao@127.0.0.1/yiqiao_bench \
        .venv/bin/python bench/hub_load.py [--procs 1 3] [--sockets 1000] [--clinics 200] \
        [--uploads 10] [--upload-mb 20] [--seconds 30] [--call-every 2] [--kill]

For each process count: a fresh database, the demo network plus ``--clinics`` clinics with a
doctor each, hub processes started with ``python -m hub serve``, Debian's nginx in front with
deploy/nginx/yiqiao-hub.conf. Then, at once and for ``--seconds``:
- ``--sockets`` signaling WebSockets through nginx holding presence (idle; memory measured);
- every clinic pushes a patient + note and pulls on a schedule (every 5 s, staggered);
- ``--uploads`` concurrent tus uploads of ``--upload-mb`` MB through nginx (4 MB chunks),
  bytes checked after;
- a call every ``--call-every`` s between a doctor and a specialist whose sockets are on
  different processes (direct to two process ports): invite → incoming → accept → accepted,
  four SDP-sized signals each way (one over NOTIFY's 8 kB limit), hang-up → ended. Every
  frame that should arrive is counted; "lost" is what did not within 10 s.
``--kill`` SIGKILLs one process (not a call's) halfway; clients reconnect through nginx.
All traffic on loopback; every loop bounded in count and time. Prints one table per run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import os
import ssl
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import sqlalchemy as sa
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.protocol import signaling as sig  # noqa: E402
from hub import accounts  # noqa: E402
from hub.db import Database  # noqa: E402
from tests.cluster.conftest import start_cluster, stop_cluster  # noqa: E402
from tests.hub.conftest import PASSWORD, PASSWORD_HASH  # noqa: E402

PROD_TIMERS = {  # the shipped defaults, not the tests' short ones
    "YIQIAO_SIGNAL_HEARTBEAT": "3",
    "YIQIAO_SIGNAL_DEAD_AFTER": "20",
    "YIQIAO_SIGNAL_TICK": "0.5",
    "YIQIAO_SESSION_CHECK": "5",
    "YIQIAO_UPLOAD_LEASE": "30",
}


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.expected = 0
        self.received = 0
        self.setup: list[float] = []
        self.accept: list[float] = []
        self.data_errors = 0
        self.dropped = 0
        self.overdue: list[tuple[object, object]] = []  # (socket, predicate) not in 10 s
        self.late = 0  # of those, arrived later (an overloaded machine's queueing)

    def add(self, name: str, seconds: float, ok: bool) -> None:
        self.lat[name].append(seconds)
        if not ok:
            self.errors[name] += 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def proc_usage(pids: list[int]) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) summed over ``pids`` from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return cpu, rss


def seed_clinics(db_url: str, n: int) -> list[str]:
    db = Database(db_url)
    names = []
    for i in range(n):
        fid = f"bench-clinic-{i}"
        accounts.add_facility(db, fid, f"卫生院{i}", "township_clinic")
        name = f"bdoc{i}"
        accounts.add_user(
            db,
            name,
            f"医生{i}",
            "clinic_doctor",
            fid,
            PASSWORD,
            "全科",
            password_hash=PASSWORD_HASH,
        )
        names.append(name)
    db.dispose()
    return names


async def login(c: httpx.AsyncClient, username: str, password: str) -> str:
    for _ in range(20):
        r = await c.post("/api/v1/auth/login", json={"username": username, "password": password})
        if r.status_code == 200:
            return r.json()["access_token"]
        await asyncio.sleep(0.5)
    raise RuntimeError(f"login {username}: {r.status_code} {r.text[:200]}")


async def timed(stats: Stats, name: str, coro) -> httpx.Response | None:  # noqa: ANN001
    t0 = time.perf_counter()
    try:
        r = await coro
        stats.add(name, time.perf_counter() - t0, r.status_code < 400)
        return r
    except httpx.HTTPError:
        stats.add(name, time.perf_counter() - t0, False)
        return None


async def clinic_loop(url, ctx, token, stats, stop_at, offset_s, pushed) -> None:  # noqa: ANN001
    await asyncio.sleep(offset_s)
    headers = {"Authorization": f"Bearer {token}"}
    cursor = 0
    async with httpx.AsyncClient(base_url=url, verify=ctx, headers=headers, timeout=30) as c:
        for _ in range(1000):
            if time.monotonic() > stop_at:
                return
            pid, nid = str(uuid.uuid4()), str(uuid.uuid4())
            changes = [
                {"change_id": str(uuid.uuid4()), "id": pid, "type": "patient", "base_rev": 0,
                 "fields": {"name": "王秀英", "sex": "F"}},
                {"change_id": str(uuid.uuid4()), "id": nid, "type": "note", "base_rev": 0,
                 "patient_id": pid, "fields": {"text": "复诊，血压平稳。" * 20}},
            ]  # fmt: skip
            r = await timed(
                stats, "POST /sync/push", c.post("/api/v1/sync/push", json={"changes": changes})
            )
            if r is not None and r.status_code == 200:
                pushed.update((pid, nid))
            r = await timed(
                stats,
                "GET /sync/pull",
                c.get("/api/v1/sync/pull", params={"since": cursor, "limit": 500}),
            )
            if r is not None and r.status_code == 200:
                cursor = r.json()["next_cursor"]
            await asyncio.sleep(5.0)  # each clinic syncs every 5 s


async def upload_one(url, ctx, token, size, stats, stop_at) -> None:  # noqa: ANN001
    data = os.urandom(size)
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = "filename " + base64.b64encode(b"study.dcm").decode()
    async with httpx.AsyncClient(base_url=url, verify=ctx, headers=headers, timeout=120) as c:
        r = await timed(
            stats,
            "POST /blobs/uploads",
            c.post(
                "/api/v1/blobs/uploads",
                headers={"Upload-Length": str(size), "Upload-Metadata": meta},
            ),
        )
        if r is None or r.status_code != 201:
            stats.data_errors += 1
            return
        loc, offset, step, sha = r.headers["Location"], 0, 4 * 1024 * 1024, ""
        for _ in range(1000):
            if offset >= size or time.monotonic() > stop_at + 120:
                break
            r = await timed(
                stats,
                "PATCH /blobs/uploads/{id}",
                c.patch(loc, content=data[offset : offset + step], headers={
                    "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)}),
            )  # fmt: skip
            if r is not None and r.status_code == 204:
                offset = int(r.headers["Upload-Offset"])
                sha = r.headers.get("X-Blob-Sha256", sha)
            else:  # a killed process: ask where to resume
                await asyncio.sleep(0.5)
                h = await c.head(loc)
                if h.status_code == 200:
                    offset = int(h.headers["Upload-Offset"])
        for _ in range(3):  # a download cut by a killed process is fetched again
            got = await timed(stats, "GET /blobs/{sha}", c.get(f"/api/v1/blobs/{sha}"))
            if got is not None and got.status_code == 200:
                break
        if got is None or got.content != data or sha != hashlib.sha256(data).hexdigest():
            stats.data_errors += 1


class Sock:
    """A signaling socket that records every frame it gets."""

    def __init__(self, ws) -> None:  # noqa: ANN001
        self.ws = ws
        self.frames: list[tuple[float, object]] = []
        self.closed = False  # dropped (e.g. a ping unanswered by this starved client)
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append((time.perf_counter(), sig.parse_server_message(raw)))
        except Exception:  # noqa: BLE001
            pass
        self.closed = True

    async def wait(self, pred, timeout: float = 10.0):  # noqa: ANN001, ANN201
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, m in self.frames:
                if pred(m):
                    return at, m
            await asyncio.sleep(0.005)
        return None


async def open_socket(url: str, token: str, ctx: ssl.SSLContext | None) -> Sock:
    ws_url = url.replace("https://", "wss://").replace("http://", "ws://") + "/api/v1/ws"
    ws = await connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, ssl=ctx if ws_url.startswith("wss") else None,
        open_timeout=60, max_size=1 << 20, ping_interval=15, ping_timeout=60,
    )  # fmt: skip
    return Sock(ws)


async def call_loop(a_url, b_url, tokens, cid, stats, stop_at, every) -> None:  # noqa: ANN001
    caller = await open_socket(a_url, tokens["doctor"], None)
    callee = await open_socket(b_url, tokens["specialist2"], None)
    await asyncio.sleep(0.5)
    sdp_small, sdp_big = "v=0\r\n" + "a=x\r\n" * 600, "v=0\r\n" + "a=candidate\r\n" * 900
    for _ in range(10_000):
        if time.monotonic() > stop_at:
            break
        call_id = uuid.uuid4().hex
        t0 = time.perf_counter()
        await caller.ws.send(sig.Invite(call_id=call_id, consultation_id=cid).model_dump_json())
        stats.expected += 2  # incoming, ringing
        inc = await expect(
            stats, callee, lambda m, c=call_id: isinstance(m, sig.Incoming) and m.call_id == c
        )
        await expect(
            stats, caller, lambda m, c=call_id: isinstance(m, sig.Ringing) and m.call_id == c
        )
        if inc is None:
            refusal = [
                m for _, m in caller.frames if isinstance(m, (sig.Error, sig.Unavailable, sig.Busy))
            ]
            print(f"call not rung in 10 s: {refusal[-1:]}; cancelled", file=sys.stderr)
            await caller.ws.send(sig.Cancel(call_id=call_id).model_dump_json())
            continue
        stats.setup.append(inc[0] - t0)
        t1 = time.perf_counter()
        await callee.ws.send(sig.Accept(call_id=call_id).model_dump_json())
        stats.expected += 1
        acc = await expect(
            stats, caller, lambda m, c=call_id: isinstance(m, sig.Accepted) and m.call_id == c
        )
        if acc:
            stats.accept.append(acc[0] - t1)
        for session in range(1, 5):
            sdp = sdp_big if session == 4 else sdp_small
            for src, dst in ((caller, callee), (callee, caller)):
                kind = "offer" if src is caller else "answer"
                await src.ws.send(
                    sig.Signal(
                        call_id=call_id, session=session, kind=kind, sdp=sdp
                    ).model_dump_json()
                )
                stats.expected += 1
                await expect(
                    stats,
                    dst,
                    lambda m, c=call_id, s=session, k=kind: (
                        isinstance(m, sig.Signal)
                        and m.call_id == c
                        and m.session == s
                        and m.kind == k
                    ),
                )
        await caller.ws.send(sig.Hangup(call_id=call_id).model_dump_json())
        stats.expected += 1
        await expect(
            stats, callee, lambda m, c=call_id: isinstance(m, sig.Ended) and m.call_id == c
        )
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - t0)))
    await settle_overdue(stats)
    for s in (caller, callee):
        await s.ws.close()


async def expect(stats: Stats, sock: Sock, pred):  # noqa: ANN001, ANN201
    """Wait 10 s for a frame; one that does not come is overdue (checked again at the end)."""
    got = await sock.wait(pred)
    if got is None:
        stats.overdue.append((sock, pred))
    else:
        stats.received += 1
    return got


async def settle_overdue(stats: Stats, grace_s: float = 20.0) -> None:
    """Overdue frames that arrive within ``grace_s`` more are late; the rest are lost."""
    deadline = time.perf_counter() + grace_s
    while stats.overdue and time.perf_counter() < deadline:
        still = []
        for sock, pred in stats.overdue:
            if any(pred(m) for _, m in sock.frames):
                stats.late += 1
                stats.received += 1
            else:
                still.append((sock, pred))
        stats.overdue = still
        await asyncio.sleep(0.2)


async def run_load(cluster, args, kill: bool) -> dict:  # noqa: ANN001, C901
    ctx = cluster.ssl_context
    stats = Stats()
    clinics = seed_clinics(cluster.db_url, args.clinics)
    pids = [p.proc.pid for p in cluster.procs]
    async with httpx.AsyncClient(base_url=cluster.url, verify=ctx, timeout=60) as c:
        from hub.demo import DEMO_PASSWORD

        tokens = {
            u: await login(c, u, DEMO_PASSWORD) for u in ("doctor", "specialist2", "specialist")
        }
        sem = asyncio.Semaphore(8)

        async def one(name: str) -> str:
            async with sem:
                return await login(c, name, PASSWORD)

        clinic_tokens = await asyncio.gather(*(one(n) for n in clinics))
    # Idle sockets holding presence: memory per socket from the processes' RSS.
    cpu0, rss0 = proc_usage(pids)
    holders: list[Sock] = []
    pool = [t for t in clinic_tokens] or [tokens["specialist"]]
    t_open = time.perf_counter()
    for i in range(0, args.sockets, 50):
        batch = [
            open_socket(cluster.url, pool[(i + j) % len(pool)], ctx)
            for j in range(min(50, args.sockets - i))
        ]
        holders += [
            s for s in await asyncio.gather(*batch, return_exceptions=True) if isinstance(s, Sock)
        ]
    open_s = time.perf_counter() - t_open
    await asyncio.sleep(2)
    cpu1, rss1 = proc_usage(pids)
    # Presence: every socket's user asks for one specialist; every socket must hear its answer.
    from app.protocol.signaling import PresenceQuery

    spec_id = None
    async with httpx.AsyncClient(base_url=cluster.url, verify=ctx, timeout=30) as c:
        me = await c.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['specialist2']}"})
        spec_id = me.json()["id"]
    for s in holders:
        await s.ws.send(PresenceQuery(user_ids=[spec_id]).model_dump_json())
    stop_at = time.monotonic() + args.seconds
    cid = _consultation_id()
    procs_ports = [p.port for p in cluster.procs]
    a_url = f"http://127.0.0.1:{procs_ports[0]}"
    b_url = f"http://127.0.0.1:{procs_ports[-1]}"
    pushed: set[str] = set()
    tasks = [
        clinic_loop(cluster.url, ctx, tok, stats, stop_at, (i % 50) * 0.1, pushed)
        for i, tok in enumerate(clinic_tokens)
    ]
    tasks += [
        upload_one(
            cluster.url,
            ctx,
            clinic_tokens[i % len(clinic_tokens)],
            args.upload_mb << 20,
            stats,
            stop_at,
        )
        for i in range(args.uploads)
    ]
    tasks.append(call_loop(a_url, b_url, tokens, cid, stats, stop_at, args.call_every))

    async def killer() -> None:
        if kill and len(cluster.procs) > 2:
            await asyncio.sleep(args.seconds / 2)
            victim = cluster.procs[1]  # neither call socket's process
            victim.proc.kill()

    loads: list[float] = []

    async def sample_load() -> None:  # the machine's load beside every figure of this run
        while time.monotonic() < stop_at:
            loads.append(os.getloadavg()[0])
            await asyncio.sleep(2)

    cpu_a, _ = proc_usage(pids)
    me_a = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*tasks, killer(), sample_load())
    wall = time.perf_counter() - t0
    cpu_b, rss_b = proc_usage(pids)
    me_b = time.process_time()
    presence_answers = sum(
        any(isinstance(m, sig.Presence) and m.user_id == spec_id for _, m in s.frames)
        for s in holders
    )
    stats.expected += len(holders)
    stats.received += presence_answers
    for s in holders:
        with contextlib.suppress(Exception):
            await s.ws.close()
    # Every record a push acknowledged is on the hub.
    db = Database(cluster.db_url)
    with db.read() as conn:
        present = set(conn.execute(sa.text("SELECT id FROM documents")).scalars())
    db.dispose()
    stats.data_errors += len(pushed - present)
    requests = sum(len(v) for v in stats.lat.values())
    return {
        "stats": stats,
        "wall": wall,
        "sockets": len(holders),
        "open_s": open_s,
        "mem_per_socket": (rss1 - rss0) / max(1, len(holders)),
        "rss_end": rss_b,
        "cpu_per_1000": (cpu_b - cpu_a) / max(1, requests) * 1000,
        "cpu_idle_sockets": cpu1 - cpu0,
        "requests": requests,
        "pushed": len(pushed),
        "hub_cores": (cpu_b - cpu_a) / wall,
        "client_cores": (me_b - me_a) / wall,
        "load": (min(loads), max(loads)) if loads else (float("nan"), float("nan")),
    }


def _consultation_id() -> str:
    from hub.demo import _id

    return str(_id("c-li"))


def report(label: str, r: dict) -> None:
    s: Stats = r["stats"]
    print(f"\n=== {label}: {r['wall']:.0f} s of load, {r['requests']} HTTP requests ===")
    print(f"{'endpoint':28s} {'n':>6s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}")
    for name in sorted(s.lat):
        v = s.lat[name]
        print(
            f"{name:28s} {len(v):6d} {len(v) / r['wall']:7.1f} {pct(v, 0.5) * 1000:8.1f} "
            f"{pct(v, 0.99) * 1000:8.1f} {s.errors[name]:6d}"
        )
    print(
        f"signaling frames expected {s.expected}, received {s.received} "
        f"({s.late} of them after more than 10 s), lost {s.expected - s.received}"
    )
    print(
        f"calls {len(s.setup)}: cross-process set-up (invite→incoming) p50 {pct(s.setup, 0.5) * 1000:.0f} ms "
        f"p99 {pct(s.setup, 0.99) * 1000:.0f} ms; accept→accepted p50 {pct(s.accept, 0.5) * 1000:.0f} ms "
        f"p99 {pct(s.accept, 0.99) * 1000:.0f} ms"
    )
    print(
        f"idle sockets {r['sockets']} (opened in {r['open_s']:.1f} s): {r['mem_per_socket'] / 1024:.1f} KiB RSS each; "
        f"hub RSS at end {r['rss_end'] / 2**20:.0f} MiB"
    )
    print(f"CPU during the load: hub processes {r['hub_cores']:.2f} cores, this load generator "
          f"{r['client_cores']:.2f} cores; 1-min load average {r['load'][0]:.1f}–{r['load'][1]:.1f}")  # fmt: skip
    print(f"hub CPU per 1000 HTTP requests {r['cpu_per_1000']:.2f} s; data errors {s.data_errors} "
          f"(records pushed {r['pushed']}, uploads checked byte for byte)")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--procs", type=int, nargs="+", default=[1, 3])
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--clinics", type=int, default=200)
    p.add_argument("--uploads", type=int, default=10)
    p.add_argument("--upload-mb", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--call-every", type=float, default=2)
    p.add_argument(
        "--kill", action="store_true", help="also a run with one process SIGKILLed halfway"
    )
    p.add_argument("--kill-only", action="store_true", help="only the run with a SIGKILL")
    args = p.parse_args()
    if not os.environ.get("YIQIAO_TEST_PG_DSN"):
        print("set YIQIAO_TEST_PG_DSN=postgresql://... (a database this may empty)")
        return 2
    print(f"load before: {os.getloadavg()}  (2-core machine shared with other jobs)")
    runs = [] if args.kill_only else [(n, False) for n in args.procs]
    if args.kill or args.kill_only:
        runs.append((max(args.procs), True))
    for n, kill in runs:
        with tempfile.TemporaryDirectory() as tmp:
            cluster = start_cluster(Path(tmp), n=n, extra_env=PROD_TIMERS)
            try:
                result = asyncio.run(run_load(cluster, args, kill))
            finally:
                stop_cluster(cluster)
        report(
            f"{n} hub process{'es' if n > 1 else ''} behind nginx{' (one SIGKILLed halfway)' if kill else ''}",
            result,
        )
        print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
