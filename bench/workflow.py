"""How fast the consultation workflow moves between a clinic and a specialist.

Two real client profiles (encrypted cache, sync engine on its own thread, hints-only
WebSocket) against the real hub as a child process. Measured, per link:

- submit → worklist: from the clinic's "submit" (a local write) until the request is in the
  specialist's local store (what their worklist shows);
- sign → clinic: from the specialist's signing of the report until the signed report is in
  the clinic's local store.

Links: loopback, and the clinic behind the TCP link emulator (tests/linkemu) at 256 kbit/s and
300 ms RTT (the specialist on the hospital LAN). Requests carry no large attachments (a small
consent scan). The baseline printed beside each figure is one authenticated pull on the same
link (the floor a round trip costs) — and the engines' periodic pull is 60 s, so without the
push-on-write and the hub's hint the figures would be tens of seconds.

Targets: ≤ 3 s on loopback, ≤ 10 s on the emulated link.

    .venv/bin/python bench/workflow.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.consult.reports import sign  # noqa: E402
from app.consult.workflow import take_action  # noqa: E402
from app.protocol.sync import DocType  # noqa: E402
from app.sync.hints import HintListener  # noqa: E402
from tests.linkemu.profile import LinkProfile  # noqa: E402
from tests.linkemu.tcp import LinkEmulator  # noqa: E402
from tests.sync.hub_harness import PASSWORD, Client, HubProcess, make_client  # noqa: E402

TARGETS = {"loopback": 3.0, "256k/300ms": 10.0}


def seed(data: Path) -> None:
    from hub.accounts import add_facility, add_user
    from hub.config import HubConfig
    from hub.db import Database

    data.mkdir(parents=True, exist_ok=True)
    db = Database(HubConfig(data_dir=data).database_url)
    db.migrate()
    add_facility(db, "clinic-a", "青山镇卫生院", "township_clinic")
    add_facility(db, "county", "东川县人民医院", "county_hospital")
    add_user(db, "doc1", "陈志强", "clinic_doctor", "clinic-a", PASSWORD, "全科")
    add_user(db, "rad", "王立华", "specialist", "county", PASSWORD, "放射科", title="主任医师")
    db.engine.dispose()


class Side:
    def __init__(self, folder: Path, hub_url: str, username: str) -> None:
        self.client: Client = make_client(folder, hub_url, username, stall_s=20)
        self.user = self.client.hub.tokens.user  # type: ignore[union-attr]
        self.hints = HintListener(
            hub_url, lambda: self.client.hub.tokens.access_token, self.client.engine
        )

    def start(self) -> None:
        self.client.engine.start()
        self.hints.start()
        if not self.hints.connected.wait(30):
            raise RuntimeError("hint socket did not connect")

    def stop(self) -> None:
        self.hints.stop()
        self.client.close()

    def wait_synced(self, deadline_s: float = 60) -> None:
        end = time.monotonic() + deadline_s
        while self.client.store.outbox_size():
            if time.monotonic() > end:
                raise RuntimeError("outbox did not drain")
            time.sleep(0.02)


def wait_for(predicate, deadline_s: float = 60) -> float:  # noqa: ANN001
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > deadline_s:
            raise RuntimeError("timed out")
        time.sleep(0.005)
    return time.monotonic()


def one_round(clinic: Side, spec: Side, n: int) -> tuple[float, float]:
    store = clinic.client.store
    patient = store.create(DocType.patient, {"name": f"测试患者{n}", "sex": "F"})
    sha = clinic.client.blobs.add_bytes(
        b"\xff\xd8consent-scan" + bytes(8000) + bytes([n]), "image/jpeg"
    )
    consent = {
        "given_by": "patient",
        "signer_name": f"测试患者{n}",
        "signed_at": "2026-11-29T09:00:00+08:00",
        "scan": {"sha256": sha, "name": "consent.jpg", "media_type": "image/jpeg", "size": 8015},
    }
    draft = store.create(
        DocType.consultation,
        {
            "consultation_type": "imaging",
            "target_facility_id": "county",
            "department": "放射科",
            "specialist_id": spec.user.id,
            "purpose": "明确诊断",
            "reason": "咳嗽两月",
            "consent": consent,
        },
        patient_id=patient.id,
    )
    clinic.wait_synced()
    t0 = time.monotonic()
    take_action(store, draft.id, "submit", clinic.user)
    t1 = wait_for(
        lambda: (
            (d := spec.client.store.get(draft.id)) is not None
            and d.fields.get("status") == "submitted"
        )
    )
    take_action(spec.client.store, draft.id, "accept", spec.user)
    spec.wait_synced()
    report = sign({"findings": "未见异常", "opinion": "建议随访"}, spec.user)
    t2 = time.monotonic()
    rid = spec.client.store.create(
        DocType.report, report, patient_id=patient.id, consultation_id=draft.id
    ).id
    t3 = wait_for(
        lambda: (d := store.get(rid)) is not None and d.fields.get("signed") and d.hub_rev > 0
    )
    return t1 - t0, t3 - t2


def pull_floor(client: Client, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.monotonic()
        client.hub.pull(10**12, 1)
        times.append(time.monotonic() - t)
    return statistics.median(times)


def run_link(hub: HubProcess, folder: Path, name: str, runs: int) -> dict:
    emu = None
    clinic_url = hub.url
    if name != "loopback":
        emu = LinkEmulator(
            "127.0.0.1", hub.port, LinkProfile(latency_ms=150, jitter_ms=0, bandwidth_bps=256e3)
        )
        emu.start()
        clinic_url = f"http://127.0.0.1:{emu.port}"
    clinic = Side(folder / f"{name.replace('/', '_')}-clinic", clinic_url, "doc1")
    spec = Side(folder / f"{name.replace('/', '_')}-rad", hub.url, "rad")
    try:
        clinic.start()
        spec.start()
        spec.client.engine.sync_now()
        floor = pull_floor(clinic.client)
        results = [one_round(clinic, spec, n) for n in range(runs)]
    finally:
        clinic.stop()
        spec.stop()
        if emu is not None:
            emu.stop()
    return {"floor": floor, "submit": [r[0] for r in results], "sign": [r[1] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "hub"
        seed(data)
        hub = HubProcess(data).start()
        try:
            print(
                f"{'link':12s} {'pull RTT':>9s}  {'submit→worklist (s)':>28s}  "
                f"{'sign→clinic (s)':>28s}  target"
            )
            for name in ("loopback", "256k/300ms"):
                r = run_link(hub, Path(tmp), name, args.runs)
                fmt = lambda xs: (  # noqa: E731
                    f"median {statistics.median(xs):5.2f} max {max(xs):5.2f}"
                )
                ok = max(r["submit"] + r["sign"]) <= TARGETS[name]
                print(
                    f"{name:12s} {r['floor']:8.3f}s  {fmt(r['submit']):>28s}  "
                    f"{fmt(r['sign']):>28s}  ≤{TARGETS[name]:.0f} s {'met' if ok else 'MISSED'}"
                )
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
